//! Every hostcall jwt-gate makes, in one place, with host statuses turned into our own values.
//! Header values are read and written as bytes: non-UTF-8 input must never reach a `String`
//! getter (the SDK would panic and take the VM down).

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status};

use crate::authenticator::token_cache::Counts;
use crate::authenticator::{Denial, HeaderOp, Outcome};
use crate::hosts::common;
use crate::keys::host::{Cas, StoreError, Stored};
use crate::keys::remote::{check_response, FetchError, HttpUri, FETCH_ACCEPT, FETCH_USER_AGENT};
use crate::limits::Limits;
use crate::time::Time;

/// The plugin configuration bytes (empty if there are none).
pub fn plugin_configuration() -> Vec<u8> {
    hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// One reading of the host's clock. If it cannot be read, the end of time: every token with an
/// `exp` is then expired and every key set stale (fail closed, never the reverse).
pub fn now() -> Time {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(Time::END, Time::from_since_epoch)
}

/// Every request header, pseudo-headers included, as bytes.
pub fn request_headers() -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let headers = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).ok()?;
    Some(
        headers
            .into_iter()
            .map(|(name, value)| (name.into_bytes(), value))
            .collect(),
    )
}

/// Applies the core's header changes in order, then the new `:path`.
pub fn apply(ops: &[HeaderOp], path: Option<&[u8]>) {
    for op in ops {
        let _ = match op {
            HeaderOp::Remove(name) => {
                hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)
            }
            HeaderOp::Add(name, value) => {
                hostcalls::add_map_value_bytes(MapType::HttpRequestHeaders, name, value)
            }
            HeaderOp::Set(name, value) => {
                hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, name, Some(value))
            }
        };
    }
    if let Some(path) = path {
        let _ = hostcalls::set_map_value_bytes(MapType::HttpRequestHeaders, ":path", Some(path));
    }
}

pub fn send_denial(denial: &Denial) {
    let mut headers = Vec::new();
    if let Some(value) = &denial.www_authenticate {
        headers.push(("www-authenticate", value.as_str()));
    }
    let body = (!denial.body.is_empty()).then_some(denial.body.as_bytes());
    if body.is_some() {
        headers.push(("content-type", denial.content_type));
    }
    let _ = hostcalls::send_http_response(u32::from(denial.status), headers, body);
}

pub fn send_internal_error() {
    log(LogLevel::Error, "jwt-gate: cannot read the request headers");
    let _ = hostcalls::send_http_response(500, Vec::new(), None);
}

/// The filter's counters, by `common::counter_names` index: jwt_authn's names under
/// `jwt_gate.` (plus the configured stat_prefix), one `denied_by_reason.<reason>` counter per
/// failure kind, and `authz_denied` for the requests a rule's `when` denied.
pub struct Metrics {
    counters: Vec<Option<u32>>,
}

impl Metrics {
    pub fn define(stat_prefix: &str) -> Self {
        Self {
            counters: common::counter_names(WASM_NAMESPACE, stat_prefix)
                .iter()
                .map(|name| hostcalls::define_metric(MetricType::Counter, name).ok())
                .collect(),
        }
    }

    /// Counter `index` (a `common` constant).
    pub fn counter(&self, index: usize) -> Option<u32> {
        self.counters.get(index).copied().flatten()
    }

    /// Token cache lookups (only those that happened: most requests make one).
    pub fn count_cache(&self, counts: Counts) {
        add(self.counter(common::TOKEN_CACHE_HIT), counts.hits);
        add(self.counter(common::TOKEN_CACHE_MISS), counts.misses);
    }

    pub fn count(&self, outcome: &Outcome) {
        for index in common::counted(outcome) {
            increment(self.counter(index));
        }
    }
}

/// The .wasm names its metrics whole (proxy-wasm adds no namespace).
const WASM_NAMESPACE: &str = "jwt_gate";

/// Random bytes (see `common::random`).
pub fn random<const N: usize>() -> [u8; N] {
    common::random(now())
}

/// A shared-data value (none for an absent or emptied key) and its CAS token (none for an absent
/// key).
pub fn shared_data(key: &str) -> Stored {
    let (value, cas) = hostcalls::get_shared_data(key).unwrap_or((None, None));
    Stored {
        value,
        cas: cas.map(Cas),
    }
}

/// Writes a shared-data value (`None`: empties it), checked against `cas` if the key exists.
/// Envoy frees an emptied value; the key stays (proxy-wasm ABI 0.2.1 has no delete:
/// `proxy_set_shared_data` with no value stores an empty one).
pub fn set_shared_data(
    key: &str,
    value: Option<&[u8]>,
    cas: Option<Cas>,
) -> Result<(), StoreError> {
    match hostcalls::set_shared_data(key, value, cas.map(|Cas(cas)| cas)) {
        Ok(()) => Ok(()),
        Err(Status::CasMismatch) => Err(StoreError::CasMismatch),
        Err(_) => Err(StoreError::Refused),
    }
}

/// `GET uri` through `cluster`; the token identifies the response callback.
pub fn http_get(cluster: &str, uri: &HttpUri, timeout: Duration) -> Result<u32, String> {
    let headers = vec![
        (":method", "GET"),
        (":path", uri.path.as_str()),
        (":authority", uri.authority.as_str()),
        ("accept", FETCH_ACCEPT),
        ("user-agent", FETCH_USER_AGENT),
    ];
    hostcalls::dispatch_http_call(cluster, headers, None, Vec::new(), timeout).map_err(|status| {
        match status {
            Status::BadArgument => format!(
                "Envoy refused the call (BadArgument): is there a cluster named {cluster:?}?"
            ),
            // Envoy's async client failed the request before sending it (Envoy 1.40,
            // wasm Context::httpCall): in practice the router's own 503 "no healthy upstream",
            // seen with a cluster whose DNS name does not resolve and with one without endpoints.
            Status::InternalFailure => format!(
                "Envoy failed the call before sending it (InternalFailure): cluster {cluster:?} has no healthy host to send it to. Check that its address resolves in DNS from Envoy, that it has endpoints, and its health checks and circuit breakers (cluster.{cluster}.upstream_cx_none_healthy counts these); TLS problems show as HTTP status 503 instead"
            ),
            other => format!("Envoy refused the call ({other:?})"),
        }
    })
}

/// The response to an `http_get`, read inside `on_http_call_response`: the body, if the core
/// finds it worth reading (`check_response`). No headers at all is Envoy's "no response".
pub fn http_response(
    num_headers: usize,
    body_size: usize,
    limits: &Limits,
) -> Result<Vec<u8>, FetchError> {
    if num_headers == 0 {
        return Err(FetchError::NoResponse);
    }
    let headers = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
        .map_err(|_| FetchError::NoResponse)?;
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .and_then(|(_, value)| std::str::from_utf8(value).ok()?.parse::<u32>().ok());
    check_response(status, body_size, limits)?;
    Ok(
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default(),
    )
}

/// A property of the current request or its connection (`["connection", "tls_version"]`), if
/// the host has it.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

/// Makes `context_id` the target of the following hostcalls (a held request); false if the
/// request is gone.
pub fn switch_to(context_id: u32) -> bool {
    hostcalls::set_effective_context(context_id).is_ok()
}

/// Lets a held request continue.
pub fn resume_request() {
    let _ = hostcalls::resume_http_request();
}

pub fn set_tick_period(period: Duration) {
    let _ = hostcalls::set_tick_period(period);
}

/// Per-provider fetch counters and key gauges.
pub type ProviderMetrics = common::ProviderMetrics<u32>;

/// Defines `provider`'s fetch counters and key gauges.
pub fn provider_metrics(stat_prefix: &str, provider: &str) -> ProviderMetrics {
    ProviderMetrics::define(
        WASM_NAMESPACE,
        stat_prefix,
        provider,
        |name| hostcalls::define_metric(MetricType::Counter, name).ok(),
        |name| hostcalls::define_metric(MetricType::Gauge, name).ok(),
    )
}

pub fn increment(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// Adds `count` to a counter; nothing (no hostcall) for 0.
pub fn add(id: Option<u32>, count: u64) {
    if let (Some(id), Ok(count @ 1..)) = (id, i64::try_from(count)) {
        let _ = hostcalls::increment_metric(id, count);
    }
}

pub fn record(id: Option<u32>, value: u64) {
    if let Some(id) = id {
        let _ = hostcalls::record_metric(id, value);
    }
}

/// Calls Envoy's `verify_signature` foreign function; `None` if the host refused the call.
pub fn verify_signature(arguments: &[u8]) -> Option<Vec<u8>> {
    hostcalls::call_foreign_function(
        crate::verify::host_assisted::VERIFY_SIGNATURE,
        Some(arguments),
    )
    .ok()
    .flatten()
}

/// Whether the host has a `verify_signature` foreign function at all (an empty call answers
/// `BadArgument` where it exists, `NotFound` where it does not).
pub fn has_verify_signature() -> bool {
    !matches!(
        hostcalls::call_foreign_function(crate::verify::host_assisted::VERIFY_SIGNATURE, Some(&[])),
        Err(Status::NotFound)
    )
}
