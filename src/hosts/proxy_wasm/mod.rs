//! The host adapter: the only code that talks to Envoy (proxy-wasm ABI 0.2.1). It reads the
//! plugin configuration, hands each request's headers to the core, carries out the core's
//! decision, and moves remote keys between the issuer, shared data and the core. Nothing here
//! decides anything about tokens.

mod host;
mod http;
mod keys;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::authenticator::token_cache::TokenCache;
use crate::config::{Config, KeySource, VerifierChoice};
use crate::time::Time;
use crate::verify::{known_answer_test, HostAssisted, RingVerifier, SignatureVerifier};
use host::{Metrics, ProviderMetrics};
use http::{decide, Shared, Step};
use keys::{Change, KeyCache};

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
        let response = host::http_response(
            num_headers,
            body_size,
            shared.config.limits.max_key_set_bytes,
        );
        let change = shared
            .keys
            .borrow_mut()
            .on_response(token_id, response, host::now());
        if let Some((provider, change)) = change {
            self.after_changes(&shared, &[(provider, change)]);
        }
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
        for warning in &config.warnings {
            host::log(LogLevel::Warn, &format!("jwt-gate: {warning}"));
        }
        let metrics = Metrics::define(&config.stat_prefix);
        let provider_metrics = config
            .providers
            .iter()
            .map(|p| {
                matches!(p.keys, KeySource::Remote(_))
                    .then(|| ProviderMetrics::define(&config.stat_prefix, &p.name))
            })
            .collect();
        for provider in &config.providers {
            if let KeySource::Local(keys) = &provider.keys {
                if keys.over_limit > 0 {
                    host::log(
                        LogLevel::Warn,
                        &format!(
                            "jwt-gate: providers.{}: {} key(s) beyond the limit of {} ignored",
                            provider.name, keys.over_limit, config.limits.max_keys
                        ),
                    );
                }
                for (kid, reason) in &keys.skipped {
                    host::log(
                        LogLevel::Warn,
                        &format!(
                            "jwt-gate: providers.{}: key {} skipped: {reason}",
                            provider.name,
                            kid.as_deref().unwrap_or("(no kid)")
                        ),
                    );
                }
            }
        }
        let verifier = choose_verifier(config.signature_verifier);
        let keys = KeyCache::new(&config, &bytes);
        if keys.has_remote() {
            host::set_tick_period(TICK);
        }
        host::log(
            LogLevel::Info,
            &format!(
                "jwt-gate: configured {} provider(s), {} rule(s)",
                config.providers.len(),
                config.rules.len()
            ),
        );
        let cache = TokenCache::new(
            config.token_cache_size,
            config.token_cache_max_token_bytes,
            host::random(),
        );
        self.shared = Some(Rc::new(Shared {
            config,
            verifier,
            cache: RefCell::new(cache),
            metrics,
            provider_metrics,
            keys: RefCell::new(keys),
            held: RefCell::new(Vec::new()),
        }));
        true
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let changes = shared.keys.borrow_mut().tick(host::now());
        self.after_changes(&shared, &changes);
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
    /// Counts this VM's fetches, updates the gauges, and finishes held requests whose provider
    /// changed or whose deadline passed.
    fn after_changes(&self, shared: &Shared, changes: &[(usize, Change)]) {
        let mut keys = shared.keys.borrow_mut();
        for (provider, succeeded) in keys.take_fetch_results() {
            let metrics = shared
                .provider_metrics
                .get(provider)
                .and_then(Option::as_ref);
            if succeeded {
                host::increment(shared.metrics.jwks_fetch_success);
                host::increment(metrics.and_then(|m| m.fetch_success));
            } else {
                host::increment(shared.metrics.jwks_fetch_failed);
                host::increment(metrics.and_then(|m| m.fetch_failed));
            }
        }
        for (provider, count, age) in keys.gauges(host::now()) {
            if let Some(metrics) = shared
                .provider_metrics
                .get(provider)
                .and_then(Option::as_ref)
            {
                host::record(metrics.keys, u64::try_from(count).unwrap_or(u64::MAX));
                host::record(metrics.age_seconds, age);
            }
        }
        drop(keys);

        let now = host::now();
        let due: Vec<(u32, Time)> = {
            let mut held = shared.held.borrow_mut();
            let (due, waiting): (Vec<_>, Vec<_>) = held.drain(..).partition(|h| {
                h.deadline <= now
                    || changes
                        .iter()
                        .any(|(p, c)| *p == h.provider() && (c.keys || c.failure))
            });
            *held = waiting;
            due.into_iter()
                .map(|h| (h.context_id, h.deadline))
                .collect()
        };
        if due.is_empty() {
            return;
        }
        for (context_id, deadline) in due {
            if host::switch_to(context_id)
                && decide(shared, context_id, Some(deadline)) == Step::Continue
            {
                host::resume_request();
            }
        }
        host::switch_to(self.context_id);
    }
}
