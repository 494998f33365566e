//! The remote key set cache: one fetch per provider per refresh for the whole Envoy process.
//!
//! Envoy runs one VM per worker thread (plus the main thread), and the only thing they share is a
//! key-value store ("shared data") with compare-and-swap. Each provider has two entries there: a
//! small [`FetchState`] every VM reads on each tick, and a [`KeyRecord`] (the fetched body and its
//! version) a VM reads only when the version changed, parsing each version once. A VM that finds a
//! fetch due takes a short lease in the state (by CAS) and fetches; the others wait for the new
//! version. This module only decides (pure functions of the state and `now`); the host adapter
//! reads and writes shared data and performs the fetches.

use std::fmt::Write as _;

use crate::remote::RemoteJwks;
use crate::time::UnixTime;

/// What every VM knows about one provider's fetches, stored in shared data.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct FetchState {
    /// Version of the stored [`KeyRecord`]; 0: no keys yet.
    pub version: u64,
    /// When the stored keys were fetched (seconds).
    pub fetched_at: u64,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    /// No attempt before this time (milliseconds), after failures.
    pub next_attempt_ms: u64,
    /// The VM holding the fetch lease (0: none).
    pub lease_owner: u64,
    /// The lease ends at this time (milliseconds).
    pub lease_until_ms: u64,
    /// A request saw an unknown `kid` at this time (seconds) and asked for a refetch (0: none).
    pub refetch_requested_at: u64,
    /// The last time a refetch for an unknown `kid` was granted (seconds): the rate limit.
    pub last_kid_refetch_at: u64,
    /// The last failure, for logs.
    pub last_error: String,
}

/// The fetched key set document and its version, stored in shared data.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyRecord {
    /// Increases with every successful fetch.
    pub version: u64,
    /// When it was fetched (seconds).
    pub fetched_at: u64,
    /// The body as the issuer served it.
    pub body: Vec<u8>,
}

/// Whether a request can be checked with a provider's remote keys now.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Availability {
    /// Keys are here; `kid_refetch_allowed` says whether a request with an unknown `kid` may
    /// wait for a refetch (one may start now, or one is already on its way).
    Ready {
        /// A request with an unknown `kid` may wait for a refetch.
        kid_refetch_allowed: bool,
    },
    /// No keys yet, and no failure yet: a fetch is due or under way. Worth waiting for.
    Pending,
    /// No usable keys: the last fetch failed, or the keys are older than the staleness limit.
    Failed,
}

/// Why a VM should fetch now.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum FetchReason {
    /// There are no keys yet.
    Initial,
    /// The keys reach the end of their cache duration.
    Refresh,
    /// A token carried an unknown `kid`.
    UnknownKid,
}

impl FetchState {
    /// Why a fetch should start at `now_ms`, if one should and no lease is held.
    pub fn fetch_due(&self, now_ms: u64, policy: &RemoteJwks) -> Option<FetchReason> {
        if self.lease_until_ms > now_ms || now_ms < self.next_attempt_ms {
            return None;
        }
        let now = now_ms / 1000;
        if self.version == 0 {
            return Some(FetchReason::Initial);
        }
        if self.refetch_requested_at > 0 {
            return Some(FetchReason::UnknownKid);
        }
        // Refresh before expiry: a tenth of the cache duration early, at most 30 s early.
        let margin = (policy.cache_duration_seconds / 10).min(30);
        let refresh_at = self
            .fetched_at
            .saturating_add(policy.cache_duration_seconds)
            .saturating_sub(margin);
        (now >= refresh_at).then_some(FetchReason::Refresh)
    }

    /// The state after `owner` took the lease at `now_ms`. The lease outlives the fetch's timeout
    /// (two requests when discovering) so that a VM that vanished mid-fetch is replaced.
    pub fn with_lease(&self, owner: u64, now_ms: u64, policy: &RemoteJwks) -> Self {
        let mut next = self.clone();
        next.lease_owner = owner;
        next.lease_until_ms = now_ms
            .saturating_add(policy.timeout_ms.saturating_mul(2))
            .saturating_add(1_000);
        if next.refetch_requested_at > 0 {
            next.last_kid_refetch_at = now_ms / 1000;
            next.refetch_requested_at = 0;
        }
        next
    }

    /// The state after a successful fetch stored as `version`.
    pub fn succeeded(&self, version: u64, now: UnixTime) -> Self {
        Self {
            version,
            fetched_at: now.seconds(),
            last_kid_refetch_at: self.last_kid_refetch_at,
            ..Self::default()
        }
    }

    /// The state after `owner`'s fetch failed: back off exponentially from the policy's base
    /// delay. Only the lease's owner releases it.
    pub fn failed(&self, owner: u64, error: &str, now_ms: u64, policy: &RemoteJwks) -> Self {
        let failures = self.failures.saturating_add(1);
        let exponent = failures.saturating_sub(1).min(20);
        let delay = policy
            .backoff_base_ms
            .saturating_mul(1u64 << exponent)
            .min(policy.backoff_max_ms);
        let (lease_owner, lease_until_ms) = if self.lease_owner == owner {
            (0, 0)
        } else {
            (self.lease_owner, self.lease_until_ms)
        };
        Self {
            failures,
            next_attempt_ms: now_ms.saturating_add(delay),
            lease_owner,
            lease_until_ms,
            last_error: error.to_owned(),
            ..self.clone()
        }
    }

    /// The state with a refetch requested for an unknown `kid`, if the rate limit allows one.
    pub fn with_refetch_request(&self, now: UnixTime, policy: &RemoteJwks) -> Option<Self> {
        self.kid_refetch_allowed(now, policy).then(|| Self {
            refetch_requested_at: now.seconds().max(1),
            ..self.clone()
        })
    }

    fn kid_refetch_allowed(&self, now: UnixTime, policy: &RemoteJwks) -> bool {
        self.refetch_requested_at == 0
            && (self.last_kid_refetch_at == 0
                || now.seconds()
                    >= self
                        .last_kid_refetch_at
                        .saturating_add(policy.kid_refetch_interval_seconds))
    }

    /// The state after a successful fetch by a VM whose keys were `local_version`: the next
    /// version is computed from the state read in the same compare-and-swap, so two VMs never
    /// publish one version with different bodies.
    pub fn published(&self, local_version: u64, now: UnixTime) -> Self {
        self.succeeded(self.version.max(local_version).saturating_add(1), now)
    }

    /// Whether a VM holding keys of `local_version` (0: none) fetched at `fetched_at` can check
    /// requests now.
    pub fn availability(
        &self,
        local_version: u64,
        fetched_at: u64,
        now: UnixTime,
        policy: &RemoteJwks,
    ) -> Availability {
        if local_version > 0 {
            let usable_until = fetched_at
                .saturating_add(policy.cache_duration_seconds)
                .saturating_add(policy.max_stale_seconds);
            if now.seconds() <= usable_until {
                // An unknown kid may wait when a refetch may start now, or when one is already
                // asked for, under way, or done but not yet loaded here: a rotated-in key
                // reaches every request that arrives while it is being fetched.
                let refetch_under_way = self.refetch_requested_at > 0
                    || self.lease_until_ms > now.seconds().saturating_mul(1000)
                    || self.version > local_version;
                return Availability::Ready {
                    kid_refetch_allowed: refetch_under_way || self.kid_refetch_allowed(now, policy),
                };
            }
            return Availability::Failed;
        }
        if self.failures > 0 {
            Availability::Failed
        } else {
            Availability::Pending
        }
    }

    /// Text form for shared data: `key=value` lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        let _ = write!(
            out,
            "version={}\nfetched_at={}\nfailures={}\nnext_attempt_ms={}\nlease_owner={}\nlease_until_ms={}\nrefetch_requested_at={}\nlast_kid_refetch_at={}\nlast_error={}\n",
            self.version,
            self.fetched_at,
            self.failures,
            self.next_attempt_ms,
            self.lease_owner,
            self.lease_until_ms,
            self.refetch_requested_at,
            self.last_kid_refetch_at,
            self.last_error.replace('\n', " "),
        );
        out.into_bytes()
    }

    /// Parses [`Self::encode`]'s form; unknown or malformed lines are ignored (an empty state).
    pub fn decode(bytes: &[u8]) -> Self {
        let mut state = Self::default();
        for line in String::from_utf8_lossy(bytes).lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let number = || value.parse::<u64>().unwrap_or(0);
            match key {
                "version" => state.version = number(),
                "fetched_at" => state.fetched_at = number(),
                "failures" => state.failures = u32::try_from(number()).unwrap_or(u32::MAX),
                "next_attempt_ms" => state.next_attempt_ms = number(),
                "lease_owner" => state.lease_owner = number(),
                "lease_until_ms" => state.lease_until_ms = number(),
                "refetch_requested_at" => state.refetch_requested_at = number(),
                "last_kid_refetch_at" => state.last_kid_refetch_at = number(),
                "last_error" => state.last_error = value.to_owned(),
                _ => {}
            }
        }
        state
    }
}

impl KeyRecord {
    /// `version\nfetched_at\n` then the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{}\n{}\n", self.version, self.fetched_at).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses [`Self::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut parts = bytes.splitn(3, |&b| b == b'\n');
        let number = |part: Option<&[u8]>| std::str::from_utf8(part?).ok()?.parse::<u64>().ok();
        let version = number(parts.next())?;
        let fetched_at = number(parts.next())?;
        let body = parts.next()?.to_vec();
        Some(Self {
            version,
            fetched_at,
            body,
        })
    }
}

/// Until when a request may wait for a provider's keys: discovery plus the key set, each within
/// the timeout, plus a tick or two for another VM's fetch to be seen.
pub fn hold_deadline_ms(policy: &RemoteJwks, now_ms: u64) -> u64 {
    now_ms
        .saturating_add(policy.timeout_ms.saturating_mul(2))
        .saturating_add(1_500)
}

/// Whether a fetch sent at `started_ms` has outlived any response Envoy could still deliver.
pub fn fetch_lost(policy: &RemoteJwks, started_ms: u64, now_ms: u64) -> bool {
    now_ms
        > started_ms
            .saturating_add(policy.timeout_ms)
            .saturating_add(5_000)
}

/// The shared-data key prefix for a provider of one plugin configuration: configurations never
/// share (or overwrite) each other's keys, and a changed configuration starts afresh.
pub fn namespace(configuration: &[u8], provider: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, configuration);
    let mut hex = String::new();
    for byte in digest.as_ref().iter().take(8) {
        let _ = write!(hex, "{byte:02x}");
    }
    format!("jwt_gate/{hex}/{provider}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RemoteJwks {
        RemoteJwks {
            jwks_uri: None,
            discovery_uri: None,
            cluster: "idp".into(),
            timeout_ms: 1_000,
            cache_duration_seconds: 300,
            backoff_base_ms: 1_000,
            backoff_max_ms: 8_000,
            kid_refetch_interval_seconds: 30,
            max_stale_seconds: 3_600,
        }
    }

    const T0: u64 = 1_000_000;

    #[test]
    fn first_fetch_then_refresh_before_expiry() {
        let p = policy();
        let empty = FetchState::default();
        assert_eq!(empty.fetch_due(T0 * 1000, &p), Some(FetchReason::Initial));
        let leased = empty.with_lease(7, T0 * 1000, &p);
        assert_eq!(leased.fetch_due(T0 * 1000 + 500, &p), None, "lease held");
        assert_eq!(
            leased.fetch_due(T0 * 1000 + 3_001, &p),
            Some(FetchReason::Initial),
            "lease expired"
        );
        let ok = leased.succeeded(1, UnixTime(T0));
        assert_eq!(ok.lease_owner, 0);
        assert_eq!(ok.fetch_due((T0 + 269) * 1000, &p), None);
        assert_eq!(
            ok.fetch_due((T0 + 270) * 1000, &p),
            Some(FetchReason::Refresh)
        );
    }

    #[test]
    fn failures_back_off_and_keep_old_keys() {
        let p = policy();
        let ok = FetchState::default().succeeded(3, UnixTime(T0));
        let mut state = ok.clone();
        let mut delays = Vec::new();
        for _ in 0..5 {
            let now_ms = (T0 + 300) * 1000;
            state = state
                .with_lease(1, now_ms, &p)
                .failed(1, "HTTP status 500", now_ms, &p);
            delays.push(state.next_attempt_ms - now_ms);
        }
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 8_000]);
        assert_eq!(state.version, 3, "the last good keys stay");
        let ready = Availability::Ready {
            kid_refetch_allowed: true,
        };
        assert_eq!(
            state.availability(3, T0, UnixTime(T0 + 300 + 3_600), &p),
            ready
        );
        assert_eq!(
            state.availability(3, T0, UnixTime(T0 + 300 + 3_601), &p),
            Availability::Failed
        );
    }

    #[test]
    fn no_keys_is_pending_until_a_failure() {
        let p = policy();
        let empty = FetchState::default();
        assert_eq!(
            empty.availability(0, 0, UnixTime(T0), &p),
            Availability::Pending
        );
        let failed = empty.failed(1, "no response", T0 * 1000, &p);
        assert_eq!(
            failed.availability(0, 0, UnixTime(T0), &p),
            Availability::Failed
        );
    }

    #[test]
    fn unknown_kid_refetches_are_rate_limited() {
        let p = policy();
        let ok = FetchState::default().succeeded(1, UnixTime(T0));
        let asked = ok.with_refetch_request(UnixTime(T0 + 1), &p).unwrap();
        assert!(
            asked.with_refetch_request(UnixTime(T0 + 2), &p).is_none(),
            "one request at a time"
        );
        assert_eq!(
            asked.fetch_due((T0 + 1) * 1000, &p),
            Some(FetchReason::UnknownKid)
        );
        let fetching = asked.with_lease(1, (T0 + 1) * 1000, &p);
        // While that refetch is under way, other unknown kids wait for it rather than fail.
        let waiting = Availability::Ready {
            kid_refetch_allowed: true,
        };
        assert_eq!(asked.availability(1, T0, UnixTime(T0 + 1), &p), waiting);
        assert_eq!(fetching.availability(1, T0, UnixTime(T0 + 1), &p), waiting);
        let done = fetching.succeeded(2, UnixTime(T0 + 2));
        assert_eq!(
            done.availability(1, T0, UnixTime(T0 + 2), &p),
            waiting,
            "version 2 not loaded here yet"
        );
        let limited = Availability::Ready {
            kid_refetch_allowed: false,
        };
        assert_eq!(done.availability(2, T0 + 2, UnixTime(T0 + 3), &p), limited);
        assert!(
            done.with_refetch_request(UnixTime(T0 + 30), &p).is_none(),
            "within 30 s"
        );
        assert!(done.with_refetch_request(UnixTime(T0 + 31), &p).is_some());
        assert_eq!(done.fetch_due((T0 + 10) * 1000, &p), None);
    }

    #[test]
    fn only_the_owner_releases_the_lease_and_versions_only_grow() {
        let p = policy();
        let mine = FetchState::default().with_lease(1, T0 * 1000, &p);
        let theirs = mine.failed(2, "late failure of a lost lease", T0 * 1000, &p);
        assert_eq!(theirs.lease_owner, 1);
        assert_eq!(mine.failed(1, "x", T0 * 1000, &p).lease_owner, 0);
        let state = FetchState {
            version: 5,
            ..FetchState::default()
        };
        assert_eq!(state.published(3, UnixTime(T0)).version, 6);
        assert_eq!(state.published(9, UnixTime(T0)).version, 10);
        assert!(hold_deadline_ms(&p, 0) >= 2 * p.timeout_ms);
        assert!(!fetch_lost(&p, 0, p.timeout_ms) && fetch_lost(&p, 0, p.timeout_ms + 5_001));
    }

    #[test]
    fn records_round_trip() {
        let state = FetchState {
            version: 4,
            failures: 2,
            last_error: "HTTP status 503\nx".into(),
            ..FetchState::default()
        };
        let decoded = FetchState::decode(&state.encode());
        assert_eq!(decoded.version, 4);
        assert_eq!(decoded.failures, 2);
        assert_eq!(decoded.last_error, "HTTP status 503 x");
        assert_eq!(FetchState::decode(b"garbage\n\xff"), FetchState::default());
        let record = KeyRecord {
            version: 9,
            fetched_at: 5,
            body: b"{\"keys\":[]}\n".to_vec(),
        };
        assert_eq!(KeyRecord::decode(&record.encode()), Some(record));
        assert_eq!(KeyRecord::decode(b"x"), None);
        assert_ne!(namespace(b"a", "p"), namespace(b"b", "p"));
    }
}
