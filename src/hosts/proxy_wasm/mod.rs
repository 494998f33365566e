//! The host adapter: the only code that talks to Envoy (proxy-wasm ABI 0.2.1). It reads the
//! plugin configuration, hands each request's headers to the core and carries out the core's
//! decision, and lends the core's key fetcher its hostcalls (shared data, HTTP calls, metrics)
//! on every tick and fetch response, resuming the held requests the fetcher releases. Nothing
//! here decides anything about tokens or keys.

mod host;
mod http;
mod keys;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::authenticator::key_fetcher;
use crate::authenticator::token_cache::TokenCache;
use crate::config::{Config, KeySource, VerifierChoice};
use crate::hosts::common::{self, Level};
use crate::keys::held::Released;
use crate::keys::host::FetchId;
use crate::verify::{known_answer_test, HostAssisted, RingVerifier, SignatureVerifier};
use host::Metrics;
use http::{decide, Flow, Shared};
use keys::SharedData;

/// How often each VM looks at the shared key state (and starts due fetches).
const TICK: Duration = Duration::from_millis(200);

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(Root { context_id, shared: None })
    });
}}

/// One per plugin configuration per VM (Envoy runs a VM per worker thread, and one on the main
/// thread).
struct Root {
    context_id: u32,
    shared: Option<Rc<Shared>>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let response = host::http_response(num_headers, body_size, &shared.config.limits);
        let released = shared.keys.borrow_mut().on_fetch_response(
            &mut shared.key_host(),
            FetchId(u64::from(token_id)),
            response,
            host::now(),
        );
        self.resume(&shared, released);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = host::plugin_configuration();
        let config = match Config::from_json(&bytes) {
            Ok(config) => config,
            Err(error) => {
                host::log(
                    LogLevel::Critical,
                    &format!("jwt-gate: configuration rejected: {error}"),
                );
                return false;
            }
        };
        let metrics = Metrics::define(&config.stat_prefix);
        let provider_metrics = config
            .providers
            .iter()
            .map(|p| {
                matches!(p.keys, KeySource::Remote(_))
                    .then(|| host::provider_metrics(&config.stat_prefix, &p.name))
            })
            .collect();
        let verifier = choose_verifier(config.signature_verifier);
        let keys = key_fetcher(&config, &bytes, u64::from_le_bytes(host::random()));
        if keys.has_remote() {
            host::set_tick_period(TICK);
        }
        for (level, line) in common::load_messages(&config) {
            let level = match level {
                Level::Info => LogLevel::Info,
                Level::Warn => LogLevel::Warn,
            };
            host::log(level, &line);
        }
        let cache = TokenCache::new(
            config.token_cache_size,
            config.token_cache_max_token_bytes,
            host::random(),
        );
        if config
            .providers
            .iter()
            .any(|provider| provider.dpop.is_some())
        {
            // Before this VM serves a request (the canary VM configures first of all).
            config.replay_cache.prepare(&SharedData);
        }
        self.shared = Some(Rc::new(Shared {
            config,
            verifier,
            cache: RefCell::new(cache),
            metrics,
            provider_metrics,
            keys: RefCell::new(keys),
            replay_logged: Cell::new(None),
        }));
        true
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let released = shared
            .keys
            .borrow_mut()
            .tick(&mut shared.key_host(), host::now());
        self.resume(&shared, released);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        Some(Box::new(http::Filter::new(shared, context_id)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Envoy's `verify_signature` for RS*/ES* if it passes the known-answer self-test, else ring.
fn choose_verifier(choice: VerifierChoice) -> Box<dyn SignatureVerifier> {
    if choice == VerifierChoice::Auto {
        let host = HostAssisted::new(host::verify_signature);
        if host::has_verify_signature() && known_answer_test(&host) {
            host::log(
                LogLevel::Info,
                "jwt-gate: signatures: RS*/ES* by the host's verify_signature (BoringSSL), others by ring",
            );
            return Box::new(host);
        }
        host::log(
            LogLevel::Info,
            "jwt-gate: signatures: ring (the host's verify_signature is unavailable or failed its self-test)",
        );
    } else {
        host::log(
            LogLevel::Info,
            "jwt-gate: signatures: ring (signature_verifier: ring)",
        );
    }
    Box::new(RingVerifier)
}

impl Root {
    /// Decides again the held requests the key fetcher released, in their own contexts, and
    /// lets through those it allows.
    fn resume(&self, shared: &Shared, released: Vec<Released>) {
        if released.is_empty() {
            return;
        }
        for Released {
            request,
            held_until,
        } in released
        {
            let Ok(context_id) = u32::try_from(request.0) else {
                continue;
            };
            if host::switch_to(context_id)
                && decide(shared, context_id, Some(held_until)) == Flow::Continue
            {
                host::resume_request();
            }
        }
        host::switch_to(self.context_id);
    }
}
