//! The remote key set cache: one fetch per provider per refresh for the whole Envoy process,
//! and the shared-data records behind it.
//!
//! Envoy runs one VM per worker thread (plus the main thread), and the only thing they share is a
//! key-value store ("shared data") with compare-and-swap. Each remote provider of a plugin
//! configuration has two records there: a small [`FetchState`] every VM reads on each tick, and a
//! [`KeyRecord`] (the fetched body and its version) a VM reads only when the version changed,
//! parsing each version once. A VM that finds a fetch due takes a short lease in the state (by
//! CAS) and fetches; the others wait for the new version. The [`Registry`] lists the
//! configurations that have records and when a VM last vouched that each is still in use; the
//! records of a configuration nobody vouched for in [`RETIRED_AFTER`] are emptied. This module
//! only decides (pure functions of the records and `now`); the fetcher
//! ([`crate::keys::fetcher`]) reads and writes the records through its host and starts the
//! fetches.

use std::fmt::Write as _;
use std::time::Duration;

use crate::keys::remote::RemoteJwks;
use crate::limits::Limits;
use crate::time::Time;

/// What every VM knows about one provider's fetches, stored in shared data. A time of
/// `Time::from_millis(0)` means "never".
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct FetchState {
    /// Version of the stored [`KeyRecord`]; 0: no keys yet.
    pub version: u64,
    /// When the stored keys were fetched.
    pub fetched_at: Time,
    /// Consecutive failed attempts since the last success.
    pub failures: u32,
    /// No attempt before this time, after failures.
    pub next_attempt: Time,
    /// The VM holding the fetch lease (0: none).
    pub lease_owner: u64,
    /// The lease ends at this time.
    pub lease_until: Time,
    /// A request saw an unknown `kid` at this time and asked for a refetch.
    pub refetch_requested_at: Time,
    /// The last time a refetch for an unknown `kid` was granted: the rate limit.
    pub last_kid_refetch_at: Time,
    /// The last failure, for logs.
    pub last_error: String,
}

/// The fetched key set document and its version, stored in shared data.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KeyRecord {
    /// Increases with every successful fetch.
    pub version: u64,
    /// When it was fetched.
    pub fetched_at: Time,
    /// The body as the issuer served it.
    pub body: Vec<u8>,
}

/// Whether a request can be checked with a provider's remote keys now.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Availability {
    /// Keys are here; `kid_refetch_allowed` says whether a request with an unknown `kid` may
    /// wait for a refetch (one will answer before the request's hold deadline).
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

const NEVER: Time = Time::from_millis(0);

impl FetchState {
    /// Why a fetch should start at `now`, if one should and no lease is held.
    pub fn fetch_due(&self, now: Time, policy: &RemoteJwks) -> Option<FetchReason> {
        if self.lease_until > now || now < self.next_attempt {
            return None;
        }
        if self.version == 0 {
            return Some(FetchReason::Initial);
        }
        if self.refetch_requested_at != NEVER {
            return Some(FetchReason::UnknownKid);
        }
        // Refresh before expiry: a tenth of the cache duration early, at most 30 s early.
        let margin = (policy.cache_duration / 10).min(Duration::from_secs(30));
        let refresh_at = self
            .fetched_at
            .saturating_add(policy.cache_duration)
            .saturating_sub(margin);
        (now >= refresh_at).then_some(FetchReason::Refresh)
    }

    /// The state after `owner` took the lease at `now`. The lease outlives the fetch's timeout
    /// (two requests when discovering) so that a VM that vanished mid-fetch is replaced.
    pub fn with_lease(&self, owner: u64, now: Time, policy: &RemoteJwks) -> Self {
        let mut next = self.clone();
        next.lease_owner = owner;
        next.lease_until = now
            .saturating_add(policy.timeout.saturating_mul(2))
            .saturating_add(Duration::from_secs(1));
        if next.refetch_requested_at != NEVER {
            next.last_kid_refetch_at = now;
            next.refetch_requested_at = NEVER;
        }
        next
    }

    /// The state after a successful fetch stored as `version`.
    pub fn succeeded(&self, version: u64, now: Time) -> Self {
        Self {
            version,
            fetched_at: now,
            last_kid_refetch_at: self.last_kid_refetch_at,
            ..Self::default()
        }
    }

    /// The state after `owner`'s fetch failed: back off exponentially from the policy's base
    /// delay. Only the lease's owner releases it.
    pub fn failed(&self, owner: u64, error: &str, now: Time, policy: &RemoteJwks) -> Self {
        let failures = self.failures.saturating_add(1);
        let exponent = failures.saturating_sub(1).min(20);
        let delay = policy
            .backoff_base
            .saturating_mul(1u32 << exponent)
            .min(policy.backoff_max);
        let (lease_owner, lease_until) = if self.lease_owner == owner {
            (0, NEVER)
        } else {
            (self.lease_owner, self.lease_until)
        };
        Self {
            failures,
            next_attempt: now.saturating_add(delay),
            lease_owner,
            lease_until,
            last_error: error.to_owned(),
            ..self.clone()
        }
    }

    /// The state with a refetch requested for an unknown `kid`, if the rate limit allows one
    /// and it would answer before the requests that wait for it give up.
    pub fn with_refetch_request(&self, now: Time, policy: &RemoteJwks) -> Option<Self> {
        (self.kid_refetch_allowed(now, policy) && self.refetch_answers_in_time(now, policy)).then(
            || Self {
                refetch_requested_at: now.max(Time::from_millis(1)),
                ..self.clone()
            },
        )
    }

    fn kid_refetch_allowed(&self, now: Time, policy: &RemoteJwks) -> bool {
        self.refetch_requested_at == NEVER
            && (self.last_kid_refetch_at == NEVER
                || now
                    >= self
                        .last_kid_refetch_at
                        .saturating_add(policy.kid_refetch_interval))
    }

    /// Whether a fetch allowed to start at the earliest at `next_attempt` (after failures)
    /// answers before the hold deadline of a request arriving at `now`. While fetches back off
    /// during an outage, a request with an unknown `kid` is answered at once rather than held
    /// for a refetch that cannot come in time.
    fn refetch_answers_in_time(&self, now: Time, policy: &RemoteJwks) -> bool {
        self.next_attempt <= hold_deadline(policy, now).saturating_sub(policy.longest_fetch())
    }

    /// The state after a successful fetch by a VM whose keys were `local_version`: the next
    /// version is computed from the state read in the same compare-and-swap, so two VMs never
    /// publish one version with different bodies.
    pub fn published(&self, local_version: u64, now: Time) -> Self {
        self.succeeded(self.version.max(local_version).saturating_add(1), now)
    }

    /// Whether a VM holding keys of `local_version` (0: none) fetched at `fetched_at` can check
    /// requests now.
    pub fn availability(
        &self,
        local_version: u64,
        fetched_at: Time,
        now: Time,
        policy: &RemoteJwks,
    ) -> Availability {
        if local_version > 0 {
            let usable_until = fetched_at
                .saturating_add(policy.cache_duration)
                .saturating_add(policy.max_stale);
            if now <= usable_until {
                // An unknown kid may wait for a refetch that is done but not yet loaded here,
                // under way, or asked for (or that it may ask for) and able to start in time: a
                // rotated-in key reaches every request that arrives while it is being fetched.
                let loaded_elsewhere = self.version > local_version;
                let under_way = self.lease_until > now;
                let coming = self.refetch_answers_in_time(now, policy)
                    && (self.refetch_requested_at != NEVER
                        || self.kid_refetch_allowed(now, policy));
                return Availability::Ready {
                    kid_refetch_allowed: loaded_elsewhere || under_way || coming,
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
            "version={}\nfetched_at_ms={}\nfailures={}\nnext_attempt_ms={}\nlease_owner={}\nlease_until_ms={}\nrefetch_requested_at_ms={}\nlast_kid_refetch_at_ms={}\nlast_error={}\n",
            self.version,
            self.fetched_at.millis(),
            self.failures,
            self.next_attempt.millis(),
            self.lease_owner,
            self.lease_until.millis(),
            self.refetch_requested_at.millis(),
            self.last_kid_refetch_at.millis(),
            self.last_error.replace('\n', " "),
        );
        out.into_bytes()
    }

    /// Parses [`Self::encode`]'s form; unknown or malformed lines are ignored (an empty value
    /// is an empty state).
    pub fn decode(bytes: &[u8]) -> Self {
        let mut state = Self::default();
        for line in String::from_utf8_lossy(bytes).lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let number = || value.parse::<u64>().unwrap_or(0);
            let time = || Time::from_millis(number());
            match key {
                "version" => state.version = number(),
                "fetched_at_ms" => state.fetched_at = time(),
                "failures" => state.failures = u32::try_from(number()).unwrap_or(u32::MAX),
                "next_attempt_ms" => state.next_attempt = time(),
                "lease_owner" => state.lease_owner = number(),
                "lease_until_ms" => state.lease_until = time(),
                "refetch_requested_at_ms" => state.refetch_requested_at = time(),
                "last_kid_refetch_at_ms" => state.last_kid_refetch_at = time(),
                "last_error" => state.last_error = value.to_owned(),
                _ => {}
            }
        }
        state
    }
}

impl KeyRecord {
    /// `version\nfetched_at_ms\n` then the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{}\n{}\n", self.version, self.fetched_at.millis()).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses [`Self::encode`]'s form (`None` for an emptied record).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut parts = bytes.splitn(3, |&b| b == b'\n');
        let number = |part: Option<&[u8]>| std::str::from_utf8(part?).ok()?.parse::<u64>().ok();
        let version = number(parts.next())?;
        let fetched_at = Time::from_millis(number(parts.next())?);
        let body = parts.next()?.to_vec();
        Some(Self {
            version,
            fetched_at,
            body,
        })
    }
}

/// Until when a request arriving at `now` may wait for a provider's keys: discovery plus the
/// key set, each within the timeout, plus a tick or two for another VM's fetch to be seen.
pub fn hold_deadline(policy: &RemoteJwks, now: Time) -> Time {
    now.saturating_add(policy.timeout.saturating_mul(2))
        .saturating_add(Duration::from_millis(1_500))
}

/// Whether a fetch sent at `started` has outlived any response Envoy could still deliver.
pub fn fetch_lost(policy: &RemoteJwks, started: Time, now: Time) -> bool {
    now > started
        .saturating_add(policy.timeout)
        .saturating_add(Duration::from_secs(5))
}

// --- Where the records are, and reclaiming them ---------------------------------------------------

/// The shared-data prefix of one plugin configuration's records: `jwt_gate/2/` and the first 16
/// hex digits of the configuration's SHA-256. Configurations never share (or overwrite) each
/// other's keys, and a changed configuration starts afresh; the `2` keeps these records apart
/// from the whole-second ones of earlier builds that may share the VM id during an upgrade.
pub fn namespace(configuration: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, configuration);
    let mut hex = String::new();
    for byte in digest.as_ref().iter().take(8) {
        let _ = write!(hex, "{byte:02x}");
    }
    format!("jwt_gate/2/{hex}")
}

/// The shared-data keys of the remote provider in `slot` (its rank among the configuration's
/// remote providers) of configuration `namespace`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RecordKeys {
    /// The [`FetchState`].
    pub state: String,
    /// The [`KeyRecord`].
    pub keys: String,
}

impl RecordKeys {
    /// The keys of `slot` in `namespace` (short, fixed-length keys: Envoy never frees a key, see
    /// [`Registry`]).
    pub fn new(namespace: &str, slot: usize) -> Self {
        Self {
            state: format!("{namespace}/{slot}/s"),
            keys: format!("{namespace}/{slot}/k"),
        }
    }
}

/// The shared-data key of the [`Registry`].
pub const REGISTRY_KEY: &str = "jwt_gate/2/registry";
/// How often each VM vouches for its configuration in the registry.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Records of a configuration nobody vouched for this long are emptied. Every VM of a live
/// configuration vouches for it (the main thread's too, traffic or not), so this is five
/// heartbeats of every VM missed; if it ever happens to a live configuration, its VMs register
/// again and fetch its keys once more.
pub const RETIRED_AFTER: Duration = Duration::from_secs(10);

/// A VM retires others' records only when its own previous check-in is at most this old (two
/// heartbeats). Registry times are wall-clock times, so after a longer gap (the clock stepped
/// forward, the host was suspended, or the VM stalled) every entry looks as old as the gap,
/// live ones included, until their VMs vouch again: that check-in only vouches, and every live
/// VM does the same within a tick, long before this one's next check-in may retire.
pub const LONGEST_CHECK_IN_GAP: Duration = HEARTBEAT.saturating_mul(2);

/// The plugin configurations whose records are in shared data, and when a VM last vouched
/// for each. Envoy 1.40's shared data cannot delete a key: ABI 0.2.1 has no delete, and
/// `proxy_set_shared_data` with no value stores an empty one (proxy-wasm-cpp-host's
/// `exports.cc` hands every set to `SharedData::set`; its `SharedData::remove` has no hostcall;
/// proxy-wasm-rust-sdk#301: Envoy only removes the key's value). So a retired
/// configuration's records are emptied: their values (the key sets) are freed, their keys (a few
/// dozen bytes each) stay until the last VM of the VM id goes away.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Registry {
    /// The configurations, in the order they were first registered.
    pub entries: Vec<RegistryEntry>,
}

/// One configuration in the [`Registry`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RegistryEntry {
    /// Its [`namespace`].
    pub namespace: String,
    /// How many remote providers (record slots) it has.
    pub slots: usize,
    /// When a VM last vouched for it.
    pub seen: Time,
}

/// What a VM's check-in changes.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct CheckIn {
    /// The registry to write back (compare-and-swap); `None`: nothing to write.
    pub registry: Option<Registry>,
    /// Configurations taken off it, whose records are to be emptied once the write succeeded.
    pub retired: Vec<RegistryEntry>,
    /// The registry is full and does not list this configuration.
    pub unlisted: bool,
}

impl Registry {
    /// A VM of configuration `namespace` (with `slots` remote providers) vouches for it at
    /// `now`: its entry is refreshed once it is a heartbeat old (added if missing, while there
    /// is room: `limits.max_registered_configurations`; a configuration beyond it keeps its records
    /// until Envoy stops), and up to `limits.max_retired_per_check_in` configurations (each costs
    /// two hostcalls per remote provider) nobody vouched for in
    /// [`RETIRED_AFTER`] are taken off, if this VM's own `previous` check-in is at most
    /// [`LONGEST_CHECK_IN_GAP`] before `now` (not on its first, nor after a clock jump).
    pub fn check_in(
        &self,
        namespace: &str,
        slots: usize,
        now: Time,
        previous: Option<Time>,
        limits: &Limits,
    ) -> CheckIn {
        let may_retire = previous
            .is_some_and(|previous| previous <= now && now.since(previous) <= LONGEST_CHECK_IN_GAP);
        let retire_before = now.saturating_sub(RETIRED_AFTER);
        let mut entries = Vec::with_capacity(self.entries.len().saturating_add(1));
        let mut retired = Vec::new();
        for entry in &self.entries {
            let stale = may_retire && entry.namespace != namespace && entry.seen < retire_before;
            if stale && retired.len() < limits.max_retired_per_check_in {
                retired.push(entry.clone());
            } else {
                entries.push(entry.clone());
            }
        }
        let mut changed = !retired.is_empty();
        let mut unlisted = false;
        let room = entries.len() < limits.max_registered_configurations;
        match entries
            .iter_mut()
            .find(|entry| entry.namespace == namespace)
        {
            Some(own) if own.seen.saturating_add(HEARTBEAT) <= now || own.slots != slots => {
                own.seen = now;
                own.slots = slots;
                changed = true;
            }
            Some(_) => {}
            None if room => {
                entries.push(RegistryEntry {
                    namespace: namespace.to_owned(),
                    slots,
                    seen: now,
                });
                changed = true;
            }
            None => unlisted = true,
        }
        CheckIn {
            registry: changed.then_some(Self { entries }),
            retired,
            unlisted,
        }
    }

    /// Text form for shared data: `<namespace> <slots> <seen_ms>` lines.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        for entry in &self.entries {
            let _ = writeln!(
                out,
                "{} {} {}",
                entry.namespace,
                entry.slots,
                entry.seen.millis()
            );
        }
        out.into_bytes()
    }

    /// Parses [`Self::encode`]'s form; malformed lines are dropped, and lines beyond
    /// `limits.max_registered_configurations` ignored.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Self {
        let entries = String::from_utf8_lossy(bytes)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let namespace = fields.next().filter(|n| n.starts_with("jwt_gate/"))?;
                let slots = fields.next()?.parse().ok()?;
                let seen = Time::from_millis(fields.next()?.parse().ok()?);
                Some(RegistryEntry {
                    namespace: namespace.to_owned(),
                    slots,
                    seen,
                })
            })
            .take(limits.max_registered_configurations)
            .collect();
        Self { entries }
    }
}

impl RegistryEntry {
    /// The shared-data keys of every record of this configuration.
    pub fn record_keys(&self) -> impl Iterator<Item = RecordKeys> + '_ {
        (0..self.slots).map(|slot| RecordKeys::new(&self.namespace, slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySetFormat;

    fn policy() -> RemoteJwks {
        RemoteJwks {
            jwks_uri: crate::keys::remote::HttpUri::parse("https://idp.test/keys").ok(),
            discovery_uri: None,
            cluster: "idp".into(),
            format: KeySetFormat::Jwks,
            timeout: Duration::from_secs(1),
            cache_duration: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
            kid_refetch_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(3_600),
        }
    }

    /// `T0 + seconds`.
    fn at(seconds: u64) -> Time {
        Time::from_millis((1_000_000 + seconds) * 1000)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn first_fetch_then_refresh_before_expiry() {
        let p = policy();
        let empty = FetchState::default();
        assert_eq!(empty.fetch_due(at(0), &p), Some(FetchReason::Initial));
        let leased = empty.with_lease(7, at(0), &p);
        assert_eq!(
            leased.fetch_due(at(0).saturating_add(ms(500)), &p),
            None,
            "lease held"
        );
        assert_eq!(
            leased.fetch_due(at(3).saturating_add(ms(1)), &p),
            Some(FetchReason::Initial),
            "lease expired"
        );
        let ok = leased.succeeded(1, at(0));
        assert_eq!(ok.lease_owner, 0);
        assert_eq!(ok.fetch_due(at(269), &p), None);
        assert_eq!(ok.fetch_due(at(270), &p), Some(FetchReason::Refresh));
    }

    #[test]
    fn durations_below_a_second_are_kept() {
        let p = RemoteJwks {
            cache_duration: ms(500),
            backoff_base: ms(10),
            backoff_max: ms(35),
            ..policy()
        };
        let ok = FetchState::default().succeeded(1, at(0));
        assert_eq!(ok.fetch_due(at(0).saturating_add(ms(449)), &p), None);
        assert_eq!(
            ok.fetch_due(at(0).saturating_add(ms(450)), &p),
            Some(FetchReason::Refresh),
            "a tenth of 500 ms early"
        );
        let mut state = ok;
        let mut delays = Vec::new();
        for _ in 0..4 {
            state = state
                .with_lease(1, at(1), &p)
                .failed(1, "HTTP status 500", at(1), &p);
            delays.push(state.next_attempt.since(at(1)));
        }
        assert_eq!(delays, [ms(10), ms(20), ms(35), ms(35)]);
    }

    #[test]
    fn failures_back_off_and_keep_old_keys() {
        let p = policy();
        let mut state = FetchState::default().succeeded(3, at(0));
        let mut delays = Vec::new();
        for _ in 0..5 {
            let now = at(300);
            state = state
                .with_lease(1, now, &p)
                .failed(1, "HTTP status 500", now, &p);
            delays.push(state.next_attempt.since(now));
        }
        let seconds = Duration::from_secs;
        assert_eq!(
            delays,
            [seconds(1), seconds(2), seconds(4), seconds(8), seconds(8)]
        );
        assert_eq!(state.version, 3, "the last good keys stay");
        let fetched = at(0);
        assert!(matches!(
            state.availability(3, fetched, at(300 + 3_600), &p),
            Availability::Ready { .. }
        ));
        assert_eq!(
            state.availability(3, fetched, at(300 + 3_600).saturating_add(ms(1)), &p),
            Availability::Failed
        );
    }

    #[test]
    fn no_keys_is_pending_until_a_failure() {
        let p = policy();
        let empty = FetchState::default();
        assert_eq!(
            empty.availability(0, NEVER, at(0), &p),
            Availability::Pending
        );
        let failed = empty.failed(1, "no response", at(0), &p);
        assert_eq!(
            failed.availability(0, NEVER, at(0), &p),
            Availability::Failed
        );
    }

    #[test]
    fn unknown_kid_refetches_are_rate_limited() {
        let p = policy();
        let ok = FetchState::default().succeeded(1, at(0));
        let asked = ok.with_refetch_request(at(1), &p).unwrap();
        assert!(
            asked.with_refetch_request(at(2), &p).is_none(),
            "one request at a time"
        );
        assert_eq!(asked.fetch_due(at(1), &p), Some(FetchReason::UnknownKid));
        let fetching = asked.with_lease(1, at(1), &p);
        // While that refetch is under way, other unknown kids wait for it rather than fail.
        let waiting = Availability::Ready {
            kid_refetch_allowed: true,
        };
        assert_eq!(asked.availability(1, at(0), at(1), &p), waiting);
        assert_eq!(fetching.availability(1, at(0), at(1), &p), waiting);
        let done = fetching.succeeded(2, at(2));
        assert_eq!(
            done.availability(1, at(0), at(2), &p),
            waiting,
            "version 2 not loaded here yet"
        );
        let limited = Availability::Ready {
            kid_refetch_allowed: false,
        };
        assert_eq!(done.availability(2, at(2), at(3), &p), limited);
        assert!(
            done.with_refetch_request(at(30), &p).is_none(),
            "within 30 s"
        );
        assert!(done.with_refetch_request(at(31), &p).is_some());
        assert_eq!(done.fetch_due(at(10), &p), None);
    }

    /// Issue 13 item 9: while fetches back off during an outage, an unknown `kid` is answered at
    /// once unless an attempt can start early enough to answer before the hold deadline.
    #[test]
    fn no_wait_for_a_refetch_that_cannot_come_in_time() {
        let p = policy(); // timeout 1 s: hold deadline now + 3.5 s, latest useful start now + 2.5 s
        let backing_off = FetchState::default()
            .succeeded(1, at(0))
            .with_lease(1, at(100), &p)
            .failed(1, "HTTP status 503", at(100), &p);
        let mut far = backing_off.clone();
        far.next_attempt = at(110);
        let limited = Availability::Ready {
            kid_refetch_allowed: false,
        };
        assert_eq!(far.availability(1, at(0), at(101), &p), limited);
        assert!(far.with_refetch_request(at(101), &p).is_none());
        let soon = Time::from_millis(at(101).millis() + 2_500);
        far.next_attempt = soon;
        assert_eq!(
            far.availability(1, at(0), at(101), &p),
            Availability::Ready {
                kid_refetch_allowed: true
            },
            "an attempt 2.5 s away answers within the bound"
        );
        far.next_attempt = soon.saturating_add(ms(1));
        assert_eq!(far.availability(1, at(0), at(101), &p), limited);
        // Discovery takes two requests: the attempt must start 1 s earlier.
        let discovering = RemoteJwks {
            jwks_uri: None,
            ..policy()
        };
        far.next_attempt = soon;
        assert_eq!(far.availability(1, at(0), at(101), &discovering), limited);
        // A refetch already asked for, but stuck behind the backoff: no wait either.
        let mut asked = backing_off;
        asked.refetch_requested_at = at(100);
        asked.next_attempt = at(110);
        assert_eq!(asked.availability(1, at(0), at(101), &p), limited);
    }

    #[test]
    fn only_the_owner_releases_the_lease_and_versions_only_grow() {
        let p = policy();
        let mine = FetchState::default().with_lease(1, at(0), &p);
        let theirs = mine.failed(2, "late failure of a lost lease", at(0), &p);
        assert_eq!(theirs.lease_owner, 1);
        assert_eq!(mine.failed(1, "x", at(0), &p).lease_owner, 0);
        let state = FetchState {
            version: 5,
            ..FetchState::default()
        };
        assert_eq!(state.published(3, at(0)).version, 6);
        assert_eq!(state.published(9, at(0)).version, 10);
        assert!(hold_deadline(&p, at(0)).since(at(0)) >= p.timeout * 2);
        let lost = |after: u64| fetch_lost(&p, at(0), at(0).saturating_add(ms(after)));
        assert!(!lost(6_000) && lost(6_001));
    }

    #[test]
    fn records_round_trip() {
        let state = FetchState {
            version: 4,
            failures: 2,
            fetched_at: Time::from_millis(1_733_000_000_123),
            last_error: "HTTP status 503\nx".into(),
            ..FetchState::default()
        };
        let decoded = FetchState::decode(&state.encode());
        assert_eq!(decoded.version, 4);
        assert_eq!(decoded.failures, 2);
        assert_eq!(decoded.fetched_at, Time::from_millis(1_733_000_000_123));
        assert_eq!(decoded.last_error, "HTTP status 503 x");
        assert_eq!(FetchState::decode(b"garbage\n\xff"), FetchState::default());
        assert_eq!(
            FetchState::decode(b""),
            FetchState::default(),
            "an emptied record"
        );
        let record = KeyRecord {
            version: 9,
            fetched_at: Time::from_millis(5_001),
            body: b"{\"keys\":[]}\n".to_vec(),
        };
        assert_eq!(KeyRecord::decode(&record.encode()), Some(record));
        assert_eq!(KeyRecord::decode(b"x"), None);
        assert_eq!(KeyRecord::decode(b""), None);
        assert_ne!(namespace(b"a"), namespace(b"b"));
        assert_eq!(namespace(b"a").len(), "jwt_gate/2/".len() + 16);
        let keys = RecordKeys::new(&namespace(b"a"), 3);
        assert!(keys.state.ends_with("/3/s") && keys.keys.ends_with("/3/k"));
    }

    #[test]
    fn live_configurations_stay_listed_retired_ones_go() {
        let (live, dead) = ("jwt_gate/2/live", "jwt_gate/2/dead");
        let check_in = Registry::default().check_in(dead, 2, at(0), None, &Limits::DEFAULT);
        let registry = check_in.registry.unwrap();
        assert_eq!(registry.entries.len(), 1);
        // Within a heartbeat nothing needs writing; after one, the entry is refreshed.
        assert_eq!(
            registry
                .check_in(dead, 2, at(1), Some(at(0)), &Limits::DEFAULT)
                .registry,
            None
        );
        let registry = Registry::decode(&registry.encode(), &Limits::DEFAULT);
        let registry = registry
            .check_in(live, 1, at(2), None, &Limits::DEFAULT)
            .registry
            .unwrap();
        // `dead` is not vouched for again: 10 s after it last was, the next check-in retires it.
        let mut registry = registry;
        for second in [4, 6, 8, 10] {
            let check_in =
                registry.check_in(live, 1, at(second), Some(at(second - 2)), &Limits::DEFAULT);
            assert!(check_in.retired.is_empty(), "at {second}");
            registry = check_in.registry.unwrap_or(registry);
        }
        let check_in = registry.check_in(
            live,
            1,
            Time::from_millis(at(10).millis() + 1),
            Some(at(8)),
            &Limits::DEFAULT,
        );
        assert_eq!(check_in.retired.len(), 1);
        let retired = &check_in.retired[0];
        assert_eq!(retired.namespace, dead);
        let keys: Vec<_> = retired.record_keys().map(|k| k.keys).collect();
        assert_eq!(keys, ["jwt_gate/2/dead/0/k", "jwt_gate/2/dead/1/k"]);
        let registry = check_in.registry.unwrap();
        assert_eq!(registry.entries.len(), 1);
        assert_eq!(registry.entries[0].namespace, live);
    }

    #[test]
    fn the_registry_and_each_check_in_are_bounded() {
        let full = Registry {
            entries: (0..Limits::DEFAULT.max_registered_configurations)
                .map(|n| RegistryEntry {
                    namespace: format!("jwt_gate/2/{n:016x}"),
                    slots: 1,
                    seen: at(0),
                })
                .collect(),
        };
        let check_in = full.check_in("jwt_gate/2/new", 1, at(1), None, &Limits::DEFAULT);
        assert!(check_in.unlisted && check_in.registry.is_none());
        let check_in = full.check_in("jwt_gate/2/new", 1, at(60), Some(at(58)), &Limits::DEFAULT);
        assert_eq!(
            check_in.retired.len(),
            Limits::DEFAULT.max_retired_per_check_in
        );
        let registry = check_in.registry.unwrap();
        assert!(!check_in.unlisted);
        assert_eq!(
            registry.entries.len(),
            Limits::DEFAULT.max_registered_configurations
                - Limits::DEFAULT.max_retired_per_check_in
                + 1
        );
        let mut text = full.encode();
        text.extend_from_slice(b"jwt_gate/2/extra 1 5\nmalformed\n\xff\n");
        assert_eq!(Registry::decode(&text, &Limits::DEFAULT), full);
    }

    #[test]
    fn no_retiring_on_a_first_check_in_or_after_a_clock_jump() {
        // Two live configurations; then the wall clock steps 30 s forward: to the first VM that
        // checks in, the other's entry looks 30 s old.
        let (live, other) = ("jwt_gate/2/live", "jwt_gate/2/other");
        let registry = Registry::default()
            .check_in(other, 1, at(0), None, &Limits::DEFAULT)
            .registry
            .unwrap()
            .check_in(live, 1, at(0), None, &Limits::DEFAULT)
            .registry
            .unwrap();
        let jumped = at(32);
        let limits = &Limits::DEFAULT;
        for (previous, why) in [
            (None, "this VM's first check-in"),
            (
                Some(at(0)),
                "its previous check-in looks 32 s old: the clock jumped",
            ),
            (Some(at(27)), "5 s: more than two heartbeats"),
            (Some(at(40)), "the clock went back"),
        ] {
            let check_in = registry.check_in(live, 1, jumped, previous, limits);
            assert_eq!(check_in.retired, [], "{why}");
            // It still vouches for its own configuration.
            let entries = check_in.registry.unwrap().entries;
            assert_eq!(entries.len(), 2, "{why}");
            assert_eq!(entries[1].seen, jumped, "{why}");
        }
        // Two heartbeats after its previous check-in, it may retire.
        for previous in [at(28), at(30), at(32)] {
            let check_in = registry.check_in(live, 1, jumped, Some(previous), limits);
            assert_eq!(check_in.retired.len(), 1, "{previous:?}");
            assert_eq!(check_in.retired[0].namespace, other);
        }
    }
}
