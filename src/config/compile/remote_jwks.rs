//! `remote_jwks` compiled into [`RemoteJwks`]: jwt_authn's fields, and jwt-gate's extensions
//! (`http_uri.uri` may be omitted to use OpenID discovery; `format`; `kid_refetch_interval`;
//! `max_stale`). Durations keep jwt_authn's millisecond precision.

use std::time::Duration;

use super::super::model;
use super::super::walk::join;
use super::super::{ConfigError, ConfigWarning};
use crate::keys::remote::{discovery_uri, HttpUri, RemoteJwks};
use crate::keys::KeySetFormat;

/// The `remote_jwks` at `at` of a provider with `issuer`.
pub(super) fn compile(
    remote: &model::RemoteJwks,
    issuer: Option<&str>,
    at: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<RemoteJwks, ConfigError> {
    let http_uri = remote.http_uri.as_ref().ok_or_else(|| {
        ConfigError::required(at, "http_uri is required (with at least a cluster)")
    })?;
    let http_at = join(at, "http_uri");
    if http_uri.cluster.is_empty() {
        return Err(ConfigError::required(
            http_at,
            "cluster is required: the Envoy cluster that reaches the issuer",
        ));
    }
    let (jwks_uri, discovery_uri) = uris(&http_uri.uri, issuer, &http_at)?;
    let timeout = timeout(http_uri.timeout, &join(&http_at, "timeout"), warnings);
    let (backoff_base, backoff_max) = backoff(remote, at)?;
    if let Some(async_fetch) = &remote.async_fetch {
        fast_listener(async_fetch, &join(at, "async_fetch"), warnings);
    }
    if let Some(policy) = &remote.retry_policy {
        retries(policy, &join(at, "retry_policy"), warnings);
    }
    Ok(RemoteJwks {
        jwks_uri,
        discovery_uri,
        cluster: http_uri.cluster.clone(),
        format: match remote.format {
            None | Some(model::KeySetFormat::Jwks) => KeySetFormat::Jwks,
            Some(model::KeySetFormat::Pem) => KeySetFormat::Pem,
        },
        timeout,
        cache_duration: match remote.cache_duration {
            Some(duration) => at_least_a_millisecond(duration, &join(at, "cache_duration"))?,
            None => RemoteJwks::DEFAULT_CACHE_DURATION,
        },
        backoff_base,
        backoff_max: backoff_max.max(backoff_base),
        // Never back to back: at least one second between refetches for unknown kids.
        kid_refetch_interval: remote
            .kid_refetch_interval
            .unwrap_or(RemoteJwks::DEFAULT_KID_REFETCH_INTERVAL)
            .max(Duration::from_secs(1)),
        max_stale: remote.max_stale.unwrap_or(RemoteJwks::DEFAULT_MAX_STALE),
    })
}

/// The JWKS URI as given, or else the issuer's OpenID discovery URI.
fn uris(
    uri: &str,
    issuer: Option<&str>,
    http_at: &str,
) -> Result<(Option<HttpUri>, Option<HttpUri>), ConfigError> {
    if !uri.is_empty() {
        let jwks_uri =
            HttpUri::parse(uri).map_err(|why| ConfigError::invalid(join(http_at, "uri"), why))?;
        return Ok((Some(jwks_uri), None));
    }
    let Some(issuer) = issuer else {
        return Err(ConfigError::required(
            http_at,
            "uri is required when the provider has no issuer to discover it from",
        ));
    };
    let discovery = discovery_uri(issuer).map_err(|why| {
        ConfigError::invalid(http_at, format!("cannot discover keys: issuer {why}"))
    })?;
    Ok((None, Some(discovery)))
}

/// A held request waits a bounded multiple of the timeout: at most 60 s. jwt_authn's 0 means
/// no timeout at all: 60 s, with a warning.
fn timeout(given: Option<Duration>, at: &str, warnings: &mut Vec<ConfigWarning>) -> Duration {
    let Some(timeout) = given else {
        return RemoteJwks::DEFAULT_TIMEOUT;
    };
    let longest = RemoteJwks::MAX_TIMEOUT;
    if timeout.is_zero() || timeout > longest {
        let given = if timeout.is_zero() {
            "0s (no timeout)"
        } else {
            "over 60s"
        };
        warnings.push(ConfigWarning::new(
            at,
            format!("{given}: jwt-gate waits at most 60s for a key fetch, and uses 60s"),
        ));
        return longest;
    }
    timeout.max(Duration::from_millis(1))
}

/// The retry back-off (base, max): `async_fetch.failed_refetch_duration`, then
/// `retry_policy.retry_back_off` (which wins).
fn backoff(remote: &model::RemoteJwks, at: &str) -> Result<(Duration, Duration), ConfigError> {
    let mut base = RemoteJwks::DEFAULT_BACKOFF_BASE;
    let mut max = RemoteJwks::DEFAULT_BACKOFF_MAX;
    if let Some(retry) = remote
        .async_fetch
        .as_ref()
        .and_then(|fetch| fetch.failed_refetch_duration)
    {
        base = at_least_a_millisecond(retry, &join(at, "async_fetch.failed_refetch_duration"))?;
    }
    let back_off = remote
        .retry_policy
        .as_ref()
        .and_then(|policy| policy.retry_back_off.as_ref());
    if let Some(back_off) = back_off {
        let at = join(at, "retry_policy.retry_back_off");
        if let Some(interval) = back_off.base_interval {
            base = at_least_a_millisecond(interval, &join(&at, "base_interval"))?;
        }
        if let Some(interval) = back_off.max_interval {
            max = at_least_a_millisecond(interval, &join(&at, "max_interval"))?;
        }
    }
    Ok((base, max))
}

/// jwt-gate always fetches in the background. A proxy-wasm filter cannot keep Envoy's listener
/// closed until the first fetch (jwt_authn's `fast_listener: false`, the default): say what
/// happens instead.
fn fast_listener(async_fetch: &model::JwksAsyncFetch, at: &str, warnings: &mut Vec<ConfigWarning>) {
    if async_fetch.fast_listener != Some(true) {
        warnings.push(ConfigWarning::new(
            join(at, "fast_listener"),
            "false: jwt-gate cannot hold Envoy's listener closed until the first key fetch; \
             requests that need these keys wait for them instead (up to twice the fetch \
             timeout plus 1.5 s), then get 401 Jwks remote fetch is failed",
        ));
    }
}

/// Envoy's `num_retries` and `retry_on` limit the retries of one fetch; jwt-gate makes one
/// attempt per fetch and tries again after the back-off whatever went wrong, with no limit: say
/// so where they are given.
fn retries(policy: &model::RetryPolicy, at: &str, warnings: &mut Vec<ConfigWarning>) {
    if let Some(count) = policy.num_retries {
        warnings.push(ConfigWarning::new(
            join(at, "num_retries"),
            format!(
                "{count}: not used: jwt-gate makes one attempt per key fetch and, after a failed \
                 one, tries again after the back-off (retry_back_off), as many times as it takes"
            ),
        ));
    }
    if !policy.retry_on.is_empty() {
        warnings.push(ConfigWarning::new(
            join(at, "retry_on"),
            format!(
                "{:?}: not used: jwt-gate retries after every failed key fetch (no answer, a \
                 status other than 200, a document it cannot use), after the back-off \
                 (retry_back_off)",
                policy.retry_on
            ),
        ));
    }
}

/// jwt_authn's bound for a cache duration and a retry delay: at least 1 ms.
fn at_least_a_millisecond(duration: Duration, at: &str) -> Result<Duration, ConfigError> {
    if duration < Duration::from_millis(1) {
        return Err(ConfigError::invalid(at, "must be at least 1ms"));
    }
    Ok(duration)
}
