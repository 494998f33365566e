//! What the two host adapters say alike: counter names and which counters an outcome bumps, the
//! log lines of a configuration at load, the DPoP replay-cache warning.

use std::time::Duration;

use crate::authenticator::binding::BindingError;
use crate::authenticator::error::AuthError;
use crate::authenticator::{Decision, Outcome};
use crate::config::{Config, KeySource};
use crate::time::Time;

/// The per-request counters, by index into [`counter_names`]; `denied_by_reason.<reason>`
/// follow in [`AuthError::REASONS`] order from [`BY_REASON`].
pub const ALLOWED: usize = 0;
pub const DENIED: usize = 1;
pub const CORS_PREFLIGHT_BYPASSED: usize = 2;
pub const TOKEN_CACHE_HIT: usize = 3;
pub const TOKEN_CACHE_MISS: usize = 4;
pub const AUTHZ_DENIED: usize = 5;
pub const JWKS_FETCH_SUCCESS: usize = 6;
pub const JWKS_FETCH_FAILED: usize = 7;
pub const BY_REASON: usize = 8;

/// Where every counter of a configuration lives: `<namespace>.[<stat_prefix>.]`. The .wasm's
/// namespace is `jwt_gate` (its names are whole); the native module's is Envoy's (the
/// `metrics_namespace` of its `dynamic_module_config`, which jwt-gate's examples set to
/// `jwt_gate`), so its names start after it (`namespace` empty).
pub fn stat_root(namespace: &str, stat_prefix: &str) -> String {
    [namespace, stat_prefix]
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| format!("{part}."))
        .collect()
}

/// The counters' full names, by index (jwt_authn's names where it has them).
pub fn counter_names(namespace: &str, stat_prefix: &str) -> Vec<String> {
    let root = stat_root(namespace, stat_prefix);
    [
        "allowed",
        "denied",
        "cors_preflight_bypassed",
        "token_cache_hit",
        "token_cache_miss",
        "authz_denied",
        "jwks_fetch_success",
        "jwks_fetch_failed",
    ]
    .iter()
    .map(|name| format!("{root}{name}"))
    .chain(
        AuthError::REASONS
            .iter()
            .map(|reason| format!("{root}denied_by_reason.{reason}")),
    )
    .collect()
}

/// A provider's fetch counters and key gauges: `[jwks_fetch_success, jwks_fetch_failed]`
/// (counters), `[jwks_keys, jwks_age_seconds]` (gauges).
pub fn provider_metric_names(
    namespace: &str,
    stat_prefix: &str,
    provider: &str,
) -> ([String; 2], [String; 2]) {
    let clean: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = |suffix: &str| {
        format!(
            "{}provider.{clean}.{suffix}",
            stat_root(namespace, stat_prefix)
        )
    };
    (
        [name("jwks_fetch_success"), name("jwks_fetch_failed")],
        [name("jwks_keys"), name("jwks_age_seconds")],
    )
}

/// The counters (by index) one decided request bumps by one.
pub fn counted(outcome: &Outcome) -> impl Iterator<Item = usize> {
    let cors = outcome
        .cors_preflight_bypassed
        .then_some(CORS_PREFLIGHT_BYPASSED);
    let (decision, authz, reason) = match &outcome.decision {
        Decision::Allow { .. } => (Some(ALLOWED), None, None),
        Decision::Wait(_) => (None, None, None),
        Decision::Deny(denial) => (
            Some(DENIED),
            matches!(denial.error, AuthError::ConditionNotMet(_)).then_some(AUTHZ_DENIED),
            AuthError::REASONS
                .iter()
                .position(|reason| *reason == denial.error.reason())
                .map(|position| BY_REASON + position),
        ),
    };
    [cors, decision, authz, reason].into_iter().flatten()
}

/// Random bytes from the operating system (WASI's `random_get` in the .wasm): the fetch lease's
/// owner id, the token cache's hash keys. If there are none, the clock: unpredictable enough to
/// tell instances apart, and the cache still holds (only its slots become guessable).
pub fn random<const N: usize>(now: Time) -> [u8; N] {
    let mut bytes = [0u8; N];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        for (byte, clock) in bytes
            .iter_mut()
            .zip(now.millis().to_le_bytes().iter().cycle())
        {
            *byte = *clock;
        }
    }
    bytes
}

/// How much a load-time line matters.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Level {
    Info,
    Warn,
}

/// What a configuration says when it loads: its warnings, the local keys it skipped, and a
/// summary line.
pub fn load_messages(config: &Config) -> Vec<(Level, String)> {
    let mut lines: Vec<(Level, String)> = config
        .warnings
        .iter()
        .map(|warning| (Level::Warn, format!("jwt-gate: {warning}")))
        .collect();
    for provider in &config.providers {
        if let KeySource::Local(keys) = &provider.keys {
            if keys.over_limit > 0 {
                lines.push((
                    Level::Warn,
                    format!(
                        "jwt-gate: providers.{}: {} key(s) beyond the limit of {} ignored",
                        provider.name, keys.over_limit, config.limits.max_keys
                    ),
                ));
            }
            for (kid, reason) in &keys.skipped {
                lines.push((
                    Level::Warn,
                    format!(
                        "jwt-gate: providers.{}: key {} skipped: {reason}",
                        provider.name,
                        kid.as_deref().unwrap_or("(no kid)")
                    ),
                ));
            }
        }
    }
    lines.push((
        Level::Info,
        format!(
            "jwt-gate: configured {} provider(s), {} rule(s)",
            config.providers.len(),
            config.rules.len()
        ),
    ));
    lines
}

/// How often an instance says, at most, that the replay cache refused proofs.
const REPLAY_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The warning for a denial the DPoP replay cache caused (full, or its store failed), if it is
/// due (once a minute per instance: the counters count every refusal). Updates `last_logged`.
pub fn replay_cache_warning(
    config: &Config,
    error: &AuthError,
    now: Time,
    last_logged: &mut Option<Time>,
) -> Option<String> {
    let why = match error {
        AuthError::Binding(BindingError::ReplayCacheFull) => format!(
            "the DPoP replay cache is full ({} proofs, dpop_replay_cache_size): new proofs are refused with 503 until entries expire",
            config.replay_cache.capacity()
        ),
        AuthError::Binding(BindingError::ReplayCacheUnavailable) => {
            "the DPoP replay cache's shared data refused a write: proofs are refused with 503"
                .to_owned()
        }
        _ => return None,
    };
    let due = last_logged.is_none_or(|last| now.since(last) >= REPLAY_LOG_INTERVAL);
    due.then(|| {
        *last_logged = Some(now);
        format!("jwt-gate: {why}")
    })
}

/// The debug line for a denial (its detail, for the log only: never in the answer).
pub fn denial_detail(outcome: &Outcome) -> Option<String> {
    let Decision::Deny(denial) = &outcome.decision else {
        return None;
    };
    let detail = denial.error.detail()?;
    Some(format!(
        "jwt-gate: {} {}: {detail}",
        denial.status, denial.body
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticator::Denial;
    use std::borrow::Cow;

    fn names(indices: impl Iterator<Item = usize>) -> Vec<String> {
        let all = counter_names("jwt_gate", "");
        indices.filter_map(|i| all.get(i).cloned()).collect()
    }

    fn denied(error: AuthError) -> Outcome {
        Outcome {
            decision: Decision::Deny(Denial {
                error,
                status: 401,
                body: Cow::Borrowed("Jwt is missing"),
                content_type: "text/plain",
                www_authenticate: None,
            }),
            cors_preflight_bypassed: false,
        }
    }

    #[test]
    fn both_hosts_name_counters_alike() {
        // The .wasm names them whole; the native module's names follow Envoy's
        // metrics_namespace (`jwt_gate` in every example), giving the same full names.
        let wasm = counter_names("jwt_gate", "api");
        let native: Vec<String> = counter_names("", "api")
            .iter()
            .map(|name| format!("jwt_gate.{name}"))
            .collect();
        assert_eq!(wasm, native);
        assert_eq!(
            wasm.first().map(String::as_str),
            Some("jwt_gate.api.allowed")
        );
        assert_eq!(wasm.len(), BY_REASON + AuthError::REASONS.len());
        assert_eq!(
            provider_metric_names("jwt_gate", "", "okta idp").1,
            [
                "jwt_gate.provider.okta_idp.jwks_keys".to_owned(),
                "jwt_gate.provider.okta_idp.jwks_age_seconds".to_owned()
            ]
        );
    }

    #[test]
    fn an_outcome_bumps_its_counters() {
        let allowed = Outcome {
            decision: Decision::Allow {
                header_ops: crate::authenticator::HeaderOps::new(),
                path: None,
            },
            cors_preflight_bypassed: true,
        };
        assert_eq!(
            names(counted(&allowed)),
            ["jwt_gate.cors_preflight_bypassed", "jwt_gate.allowed"]
        );
        assert_eq!(
            names(counted(&denied(AuthError::Missing))),
            ["jwt_gate.denied", "jwt_gate.denied_by_reason.jwt_missing"]
        );
    }
}
