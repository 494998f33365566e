//! What the two host adapters say alike: counter names and which counters an outcome bumps, the
//! log lines of a configuration at load, the DPoP replay-cache warning.

use std::time::Duration;

use crate::authenticator::binding::BindingError;
use crate::authenticator::error::AuthError;
use crate::authenticator::{Decision, Outcome};
use crate::config::{Config, KeySource};
use crate::keys::host::KeyStat;
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

/// A remote provider's fetch counters and key gauges, as the host's metric ids (`Id`).
pub struct ProviderMetrics<Id> {
    pub fetch_success: Option<Id>,
    pub fetch_failed: Option<Id>,
    pub keys: Option<Id>,
    pub age_seconds: Option<Id>,
}

impl<Id: Copy> ProviderMetrics<Id> {
    /// Defines `provider`'s metrics ([`provider_metric_names`]) with the host's `counter` and
    /// `gauge` calls (`None`: the host refused one).
    pub fn define(
        namespace: &str,
        stat_prefix: &str,
        provider: &str,
        counter: impl Fn(&str) -> Option<Id>,
        gauge: impl Fn(&str) -> Option<Id>,
    ) -> Self {
        let ([success, failed], [keys, age]) =
            provider_metric_names(namespace, stat_prefix, provider);
        Self {
            fetch_success: counter(&success),
            fetch_failed: counter(&failed),
            keys: gauge(&keys),
            age_seconds: gauge(&age),
        }
    }
}

/// What one key-fetcher stat changes, for both hosts: the `totals` (`jwks_fetch_success`,
/// `jwks_fetch_failed`) and the provider's own counters get `add(id, 1)`, its gauges `set`.
pub fn record_key_stat<Id: Copy>(
    stat: KeyStat,
    totals: [Option<Id>; 2],
    providers: &[Option<ProviderMetrics<Id>>],
    mut add: impl FnMut(Option<Id>, u64),
    mut set: impl FnMut(Option<Id>, u64),
) {
    let provider = |index: usize| providers.get(index).and_then(Option::as_ref);
    let [success, failed] = totals;
    match stat {
        KeyStat::FetchSucceeded(index) => {
            add(success, 1);
            add(provider(index).and_then(|m| m.fetch_success), 1);
        }
        KeyStat::FetchFailed(index) => {
            add(failed, 1);
            add(provider(index).and_then(|m| m.fetch_failed), 1);
        }
        KeyStat::KeySet {
            provider: index,
            keys,
            age_seconds,
        } => {
            if let Some(metrics) = provider(index) {
                set(metrics.keys, u64::try_from(keys).unwrap_or(u64::MAX));
                set(metrics.age_seconds, age_seconds);
            }
        }
    }
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

    #[test]
    fn a_key_stat_moves_the_totals_and_its_providers_metrics_only() {
        let metrics = |base: u32| ProviderMetrics {
            fetch_success: Some(base),
            fetch_failed: Some(base + 1),
            keys: Some(base + 2),
            age_seconds: Some(base + 3),
        };
        let providers = [Some(metrics(10)), None, Some(metrics(20))];
        let run = |stat| {
            let (mut added, mut set) = (Vec::new(), Vec::new());
            record_key_stat(
                stat,
                [Some(1), Some(2)],
                &providers,
                |id, n| added.push((id, n)),
                |id, v| set.push((id, v)),
            );
            (added, set)
        };
        assert_eq!(
            run(KeyStat::FetchSucceeded(2)),
            (vec![(Some(1), 1), (Some(20), 1)], vec![])
        );
        assert_eq!(
            run(KeyStat::FetchFailed(0)),
            (vec![(Some(2), 1), (Some(11), 1)], vec![])
        );
        assert_eq!(
            run(KeyStat::FetchFailed(1)),
            (vec![(Some(2), 1), (None, 1)], vec![])
        );
        assert_eq!(
            run(KeyStat::KeySet {
                provider: 2,
                keys: 3,
                age_seconds: 40
            }),
            (vec![], vec![(Some(22), 3), (Some(23), 40)])
        );
        assert_eq!(
            run(KeyStat::KeySet {
                provider: 1,
                keys: 3,
                age_seconds: 40
            }),
            (vec![], vec![])
        );
    }

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
