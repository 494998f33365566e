//! The host adapter: the only code that talks to Envoy (proxy-wasm ABI 0.2.1). It reads the
//! plugin configuration, hands each request's headers to the core, and carries out the core's
//! decision. Nothing here decides anything about tokens.

mod host;
mod http;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::config::Config;
use host::Metrics;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// One per plugin configuration per VM (Envoy runs a VM per worker thread).
#[derive(Default)]
struct Root {
    state: Option<Rc<http::Shared>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = host::plugin_configuration();
        match Config::from_json(&bytes) {
            Ok(config) => {
                let metrics = Metrics::define(&config.stat_prefix);
                host::log(
                    LogLevel::Info,
                    &format!(
                        "jwt-gate: configured {} provider(s), {} rule(s)",
                        config.providers.len(),
                        config.rules.len()
                    ),
                );
                for provider in &config.providers {
                    for (kid, reason) in &provider.keys.skipped {
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
                self.state = Some(Rc::new(http::Shared { config, metrics }));
                true
            }
            Err(error) => {
                host::log(
                    LogLevel::Critical,
                    &format!("jwt-gate: configuration rejected: {error}"),
                );
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.state.clone()?;
        Some(Box::new(http::Filter::new(shared)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
