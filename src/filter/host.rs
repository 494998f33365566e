//! Every hostcall jwt-gate makes, in one place, with host statuses turned into our own values.
//! Header values are read and written as bytes: non-UTF-8 input must never reach a `String`
//! getter (the SDK would panic and take the VM down).

use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};

use crate::authenticator::{Decision, Denial, HeaderOp, Outcome};
use crate::error::AuthError;
use crate::time::UnixTime;

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

/// The host's clock, in whole seconds.
pub fn now() -> UnixTime {
    let seconds = hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_secs());
    UnixTime(seconds)
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
        headers.push(("content-type", "text/plain"));
    }
    let _ = hostcalls::send_http_response(u32::from(denial.status), headers, body);
}

pub fn send_internal_error() {
    log(LogLevel::Error, "jwt-gate: cannot read the request headers");
    let _ = hostcalls::send_http_response(500, Vec::new(), None);
}

/// The filter's counters: jwt_authn's names under `jwt_gate.` (plus the configured stat_prefix),
/// and one `denied_by_reason.<reason>` counter per failure kind.
pub struct Metrics {
    allowed: Option<u32>,
    denied: Option<u32>,
    cors_preflight_bypassed: Option<u32>,
    by_reason: Vec<(&'static str, Option<u32>)>,
}

impl Metrics {
    pub fn define(stat_prefix: &str) -> Self {
        let prefix = if stat_prefix.is_empty() {
            "jwt_gate.".to_owned()
        } else {
            format!("jwt_gate.{stat_prefix}.")
        };
        let counter = |name: &str| {
            hostcalls::define_metric(MetricType::Counter, &format!("{prefix}{name}")).ok()
        };
        // Defined now so they show (as 0) before the first fetch exists.
        let _ = counter("jwks_fetch_success");
        let _ = counter("jwks_fetch_failed");
        Self {
            allowed: counter("allowed"),
            denied: counter("denied"),
            cors_preflight_bypassed: counter("cors_preflight_bypassed"),
            by_reason: AuthError::REASONS
                .iter()
                .map(|reason| (*reason, counter(&format!("denied_by_reason.{reason}"))))
                .collect(),
        }
    }

    pub fn count(&self, outcome: &Outcome) {
        let increment = |id: Option<u32>| {
            if let Some(id) = id {
                let _ = hostcalls::increment_metric(id, 1);
            }
        };
        if outcome.cors_preflight_bypassed {
            increment(self.cors_preflight_bypassed);
        }
        match &outcome.decision {
            Decision::Allow { .. } => increment(self.allowed),
            Decision::Deny(denial) => {
                increment(self.denied);
                let reason = denial.error.reason();
                if let Some((_, id)) = self.by_reason.iter().find(|(r, _)| *r == reason) {
                    increment(*id);
                }
            }
        }
    }
}
