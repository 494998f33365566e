//! The key fetcher's host in a wasm VM: shared data as the shared store, `dispatch_http_call`
//! for fetches, Envoy's log, and the fetch counters and key gauges. Wiring only: every decision
//! is the fetcher's (`keys::fetcher`).

use std::time::Duration;

use proxy_wasm::types::LogLevel as WasmLogLevel;

use super::host::{self, Metrics, ProviderMetrics};
use crate::hosts::common;
use crate::keys::host::{
    Cas, FetchId, KeyHost, KeyStat, LogLevel, SharedStore, StoreError, Stored,
};
use crate::keys::remote::HttpUri;

/// This VM's hostcalls, lent to the fetcher for one callback.
pub(super) struct KeyHostCalls<'a> {
    pub metrics: &'a Metrics,
    pub provider_metrics: &'a [Option<ProviderMetrics>],
}

/// Envoy's shared data, for this VM id (the key fetcher's records and the DPoP replay cache).
pub(super) struct SharedData;

impl KeyHost for KeyHostCalls<'_> {
    fn store(&self) -> &dyn SharedStore {
        &SharedData
    }

    fn start_fetch(
        &mut self,
        cluster: &str,
        uri: &HttpUri,
        timeout: Duration,
    ) -> Result<FetchId, String> {
        host::http_get(cluster, uri, timeout).map(|token| FetchId(u64::from(token)))
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => WasmLogLevel::Debug,
            LogLevel::Info => WasmLogLevel::Info,
            LogLevel::Warn => WasmLogLevel::Warn,
        };
        host::log(level, message);
    }

    fn record(&mut self, stat: KeyStat) {
        common::record_key_stat(
            stat,
            [
                self.metrics.counter(common::JWKS_FETCH_SUCCESS),
                self.metrics.counter(common::JWKS_FETCH_FAILED),
            ],
            self.provider_metrics,
            |id, _| host::increment(id),
            host::record,
        );
    }
}

impl SharedStore for SharedData {
    fn get(&self, key: &str) -> Stored {
        host::shared_data(key)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<Cas>,
    ) -> Result<(), StoreError> {
        host::set_shared_data(key, Some(value), cas)
    }

    fn empty(&self, key: &str, cas: Cas) -> Result<(), StoreError> {
        host::set_shared_data(key, None, Some(cas))
    }
}
