//! Remote keys in the host: this VM's copy of each remote provider's keys, the shared-data
//! records every VM reads, the fetch lease, the fetches themselves, and the registry that lets
//! the records of retired configurations be reclaimed. Every decision (is a fetch due, how long
//! to back off, can a request wait, is a discovery document usable, which records are retired)
//! is the core's (`keys::record`, `keys::remote`, `keys`); this file only moves bytes between Envoy and
//! those decisions.

use std::collections::HashMap;

use proxy_wasm::types::LogLevel;

use super::host;
use crate::authenticator::{KeyAccess, RemoteKeys};
use crate::config::{Config, KeySource};
use crate::keys::record::{
    fetch_lost, hold_deadline, namespace, Availability, FetchReason, FetchState, KeyRecord,
    RecordKeys, Registry, HEARTBEAT, REGISTRY_KEY,
};
use crate::keys::remote::{parse_discovery, FetchError, HttpUri, RemoteJwks};
use crate::keys::KeySet;
use crate::limits::Limits;
use crate::time::Time;

/// This VM's view of every remote provider.
pub struct KeyCache {
    providers: Vec<Option<ProviderKeys>>,
    owner: u64,
    in_flight: HashMap<u32, InFlight>,
    /// Fetches this VM finished since the last `take_fetch_results`: (provider, succeeded).
    fetch_results: Vec<(usize, bool)>,
    /// Where this configuration's records are, and how many remote providers it has.
    namespace: String,
    slots: usize,
    /// When this VM next vouches for the configuration in the registry.
    next_check_in: Time,
    /// The registry was found full (logged once).
    unlisted: bool,
    /// The configuration's bounds.
    limits: Limits,
}

/// One remote provider, in this VM.
struct ProviderKeys {
    name: String,
    issuer: Option<String>,
    remote: RemoteJwks,
    records: RecordKeys,
    /// The shared state as last read.
    state: FetchState,
    /// The keys this VM parsed, their version and fetch time.
    keys: Option<KeySet>,
    version: u64,
    fetched_at: Time,
    /// This VM created the shared state with its lease: dispatch once the next tick confirms
    /// that no other VM's creation overwrote it (shared data has no create-if-absent).
    confirm_lease: bool,
}

struct InFlight {
    provider: usize,
    uri: HttpUri,
    step: Step,
    started: Time,
}

#[derive(Clone, Copy, Eq, PartialEq)]
enum Step {
    Discovery,
    Jwks,
}

/// What changed for a provider during a tick or a fetch completion.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Change {
    /// New keys were loaded.
    pub keys: bool,
    /// A fetch failed.
    pub failure: bool,
}

const FAILURE: Change = Change {
    keys: false,
    failure: true,
};

impl KeyCache {
    pub fn new(config: &Config, configuration: &[u8]) -> Self {
        let namespace = namespace(configuration);
        let mut slots = 0;
        let providers = config
            .providers
            .iter()
            .map(|provider| match &provider.keys {
                KeySource::Remote(remote) => {
                    let records = RecordKeys::new(&namespace, slots);
                    slots += 1;
                    Some(ProviderKeys {
                        name: provider.name.clone(),
                        issuer: provider.claims.issuer.clone(),
                        remote: remote.clone(),
                        records,
                        state: FetchState::default(),
                        keys: None,
                        version: 0,
                        fetched_at: Time::default(),
                        confirm_lease: false,
                    })
                }
                KeySource::Local(_) => None,
            })
            .collect();
        Self {
            providers,
            owner: u64::from_le_bytes(host::random()).max(1),
            in_flight: HashMap::new(),
            fetch_results: Vec::new(),
            namespace,
            slots,
            next_check_in: Time::default(),
            unlisted: false,
            limits: config.limits,
        }
    }

    pub fn has_remote(&self) -> bool {
        self.slots > 0
    }

    /// The fetches this VM finished since the last call: (provider, succeeded).
    pub fn take_fetch_results(&mut self) -> Vec<(usize, bool)> {
        std::mem::take(&mut self.fetch_results)
    }

    /// The view requests see; `may_wait: false` for a request that already waited once.
    pub fn view(&self, now: Time, may_wait: bool) -> View<'_> {
        View {
            cache: self,
            now,
            may_wait,
        }
    }

    /// Until when a request arriving now may wait for `provider`'s keys.
    pub fn hold_deadline(&self, provider: usize, now: Time) -> Time {
        self.remote(provider)
            .map_or(now, |p| hold_deadline(&p.remote, now))
    }

    /// Every tick: vouch for this configuration's records, read the shared state, load new
    /// keys, start due fetches. Returns the providers whose situation changed.
    pub fn tick(&mut self, now: Time) -> Vec<(usize, Change)> {
        self.check_in(now);
        let mut changes = Vec::new();
        // A fetch whose response never came (Envoy always answers, within its timeout, so this
        // is a safety net) must not keep this VM from ever fetching that provider again.
        let lost: Vec<u32> = self
            .in_flight
            .iter()
            .filter(|(_, flight)| {
                self.remote(flight.provider)
                    .is_some_and(|p| fetch_lost(&p.remote, flight.started, now))
            })
            .map(|(token, _)| *token)
            .collect();
        for token in lost {
            if let Some(flight) = self.in_flight.remove(&token) {
                self.fail(flight.provider, &flight.uri, &FetchError::NoResponse);
                changes.push((flight.provider, FAILURE));
            }
        }
        let limits = self.limits;
        for index in 0..self.providers.len() {
            let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            let failures_before = provider.state.failures;
            // An absent or emptied state reads as a fresh one (version 0): this VM keeps the
            // keys it has, and a fetch starts.
            provider.state = FetchState::decode(
                &host::shared_data(&provider.records.state)
                    .0
                    .unwrap_or_default(),
            );
            let mut change = Change {
                keys: provider.load(&limits),
                failure: provider.state.failures > failures_before,
            };
            if provider.confirm_lease {
                provider.confirm_lease = false;
                if provider.state.lease_owner == self.owner && provider.state.lease_until > now {
                    change.failure |= self.start_fetch(index);
                }
            } else if let Some(reason) = provider.state.fetch_due(now, &provider.remote) {
                if !self.in_flight.values().any(|f| f.provider == index) {
                    change.failure |= self.try_lease(index, reason, now);
                }
            }
            if change != Change::default() {
                changes.push((index, change));
            }
        }
        changes
    }

    /// Once a heartbeat: vouch for this configuration in the registry, and empty the records
    /// of the configurations the registry says are retired.
    fn check_in(&mut self, now: Time) {
        if now < self.next_check_in {
            return;
        }
        self.next_check_in = now.saturating_add(HEARTBEAT);
        let (namespace, slots, limits) = (self.namespace.as_str(), self.slots, self.limits);
        let mut unlisted = false;
        let written = host::update_shared(REGISTRY_KEY, |bytes| {
            let check_in = Registry::decode(bytes.unwrap_or_default(), &limits)
                .check_in(namespace, slots, now, &limits);
            unlisted = check_in.unlisted;
            let registry = check_in.registry?;
            Some((registry.encode(), check_in.retired))
        });
        if unlisted && !self.unlisted {
            host::log(
                LogLevel::Warn,
                &format!("jwt-gate: the registry of key records is full ({} plugin configurations): this configuration's records will not be reclaimed when it is retired", self.limits.max_registered_configurations),
            );
        }
        self.unlisted = unlisted;
        let Some((retired, _)) = written else {
            return;
        };
        if retired.is_empty() {
            return;
        }
        for records in retired.iter().flat_map(|entry| entry.record_keys()) {
            host::empty_shared(&records.state);
            host::empty_shared(&records.keys);
        }
        let names: Vec<&str> = retired
            .iter()
            .map(|entry| entry.namespace.as_str())
            .collect();
        host::log(
            LogLevel::Info,
            &format!(
                "jwt-gate: reclaimed the key records of {} plugin configuration(s) no longer in use: {}",
                retired.len(),
                names.join(", ")
            ),
        );
    }

    /// Takes the lease if no other VM holds it, and fetches (or waits one tick to confirm a
    /// newly created lease). Returns whether the fetch failed at once.
    fn try_lease(&mut self, index: usize, reason: FetchReason, now: Time) -> bool {
        let owner = self.owner;
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return false;
        };
        let remote = provider.remote.clone();
        let updated = update_state(&provider.records.state, |state| {
            state
                .fetch_due(now, &remote)
                .map(|_| state.with_lease(owner, now, &remote))
        });
        let Some((state, created)) = updated else {
            return false;
        };
        provider.state = state;
        if created {
            provider.confirm_lease = true;
            return false;
        }
        host::log(
            LogLevel::Debug,
            &format!(
                "jwt-gate: providers.{}: fetching keys ({reason:?})",
                provider.name
            ),
        );
        self.start_fetch(index)
    }

    /// Sends the first request of a fetch: discovery, or the key set. Returns whether it failed.
    fn start_fetch(&mut self, index: usize) -> bool {
        let Some(provider) = self.remote(index) else {
            return false;
        };
        let (uri, step) = match (&provider.remote.jwks_uri, &provider.remote.discovery_uri) {
            (Some(uri), _) => (uri.clone(), Step::Jwks),
            (None, Some(discovery)) => (discovery.clone(), Step::Discovery),
            (None, None) => return false,
        };
        self.dispatch(index, uri, step)
    }

    fn dispatch(&mut self, index: usize, uri: HttpUri, step: Step) -> bool {
        let Some(provider) = self.remote(index) else {
            return false;
        };
        match host::http_get(&provider.remote.cluster, &uri, provider.remote.timeout) {
            Ok(token) => {
                self.in_flight.insert(
                    token,
                    InFlight {
                        provider: index,
                        uri,
                        step,
                        started: host::now(),
                    },
                );
                false
            }
            Err(why) => {
                self.fail(index, &uri, &FetchError::Dispatch(why));
                true
            }
        }
    }

    /// A fetch's response. Returns the provider and what changed, if the token was ours.
    pub fn on_response(
        &mut self,
        token: u32,
        response: Result<Vec<u8>, FetchError>,
        now: Time,
    ) -> Option<(usize, Change)> {
        let flight = self.in_flight.remove(&token)?;
        let index = flight.provider;
        let body = match response {
            Ok(body) => body,
            Err(error) => {
                self.fail(index, &flight.uri, &error);
                return Some((index, FAILURE));
            }
        };
        let limits = self.limits;
        if flight.step == Step::Discovery {
            let name = self.name(index);
            let issuer = self
                .remote(index)
                .and_then(|p| p.issuer.clone())
                .unwrap_or_default();
            let discovered = parse_discovery(&body, &limits)
                .and_then(|discovery| discovery.keys_uri(&issuer, &flight.uri));
            return match discovered {
                Ok(jwks_uri) => {
                    host::log(
                        LogLevel::Info,
                        &format!(
                            "jwt-gate: providers.{name}: discovered jwks_uri {}",
                            jwks_uri.uri
                        ),
                    );
                    let failed = self.dispatch(index, jwks_uri, Step::Jwks);
                    failed.then_some((index, FAILURE))
                }
                Err(error) => {
                    self.fail(index, &flight.uri, &error);
                    Some((index, FAILURE))
                }
            };
        }
        let format = self.remote(index)?.remote.format;
        let keys = match KeySet::parse_fetched(&body, format, &limits) {
            Ok(keys) => keys,
            Err(error) => {
                self.fail(
                    index,
                    &flight.uri,
                    &FetchError::BadKeySet(error.to_string()),
                );
                return Some((index, FAILURE));
            }
        };
        let provider = self.providers.get_mut(index).and_then(Option::as_mut)?;
        // The version comes from the state read in the compare-and-swap; the record is written
        // after it, and readers load a record only when it has the state's version.
        let local_version = provider.version;
        let (state, _) = update_state(&provider.records.state, |state| {
            Some(state.published(local_version, now))
        })?;
        let version = state.version;
        provider.state = state;
        let record = KeyRecord {
            version,
            fetched_at: now,
            body,
        };
        host::set_shared(&provider.records.keys, &record.encode());
        host::log(
            LogLevel::Info,
            &format!(
                "jwt-gate: providers.{}: fetched {} key(s) from {} (version {version})",
                provider.name,
                keys.keys.len(),
                flight.uri.uri
            ),
        );
        let first_skipped = || {
            keys.skipped
                .first()
                .map_or_else(|| "none".to_owned(), |(_, reason)| reason.to_string())
        };
        if keys.keys.is_empty() {
            // A well-formed key set without a usable key: the issuer withdrew its keys, and
            // the ones fetched before stop verifying now (issue 13 item 8).
            host::log(
                LogLevel::Warn,
                &format!(
                    "jwt-gate: providers.{}: the key set from {} has no usable key ({} skipped, first: {}): it replaces the previous keys, and tokens get 401 Jwks doesn't have key to match kid or alg from Jwt until the issuer publishes one",
                    provider.name,
                    flight.uri.uri,
                    keys.skipped.len(),
                    first_skipped(),
                ),
            );
        } else if keys.over_limit > 0 || !keys.skipped.is_empty() {
            host::log(
                LogLevel::Warn,
                &format!(
                    "jwt-gate: providers.{}: {} key(s) from {} skipped (first: {}), {} beyond the limit of {} ignored",
                    provider.name,
                    keys.skipped.len(),
                    flight.uri.uri,
                    first_skipped(),
                    keys.over_limit,
                    limits.max_keys
                ),
            );
        }
        provider.keys = Some(keys);
        provider.version = version;
        provider.fetched_at = now;
        self.fetch_results.push((index, true));
        Some((
            index,
            Change {
                keys: true,
                failure: false,
            },
        ))
    }

    /// Records a failed fetch in the shared state (backing off) and logs it once.
    fn fail(&mut self, index: usize, uri: &HttpUri, error: &FetchError) {
        self.fetch_results.push((index, false));
        let now = host::now();
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let remote = provider.remote.clone();
        let text = error.to_string();
        let owner = self.owner;
        if let Some((state, _)) = update_state(&provider.records.state, |state| {
            Some(state.failed(owner, &text, now, &remote))
        }) {
            provider.state = state;
        }
        let keeping = match &provider.keys {
            Some(keys) => format!(
                "keeping {} key(s) fetched {} s ago",
                keys.keys.len(),
                now.since(provider.fetched_at).as_secs()
            ),
            None => "no keys yet: requests get 401 Jwks remote fetch is failed".to_owned(),
        };
        host::log(
            LogLevel::Warn,
            &format!(
                "jwt-gate: providers.{}: key fetch from {} via cluster {} failed (attempt {}): {text}; {keeping}",
                provider.name, uri.uri, remote.cluster, provider.state.failures
            ),
        );
    }

    /// Asks, through the shared state, for one refetch because a token's `kid` was unknown.
    pub fn request_refetch(&mut self, index: usize, now: Time) {
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let remote = provider.remote.clone();
        match update_state(&provider.records.state, |state| {
            state.with_refetch_request(now, &remote)
        }) {
            Some((state, _)) => provider.state = state,
            // Declined (another request asked first, the rate limit, or the backoff): see why
            // now rather than at the next tick, so the next unknown kid is not held for nothing.
            None => {
                provider.state = FetchState::decode(
                    &host::shared_data(&provider.records.state)
                        .0
                        .unwrap_or_default(),
                );
            }
        }
    }

    /// (provider, key count, age in seconds) of every remote provider with keys, for gauges.
    pub fn gauges(&self, now: Time) -> Vec<(usize, usize, u64)> {
        self.providers
            .iter()
            .enumerate()
            .filter_map(|(index, provider)| {
                let provider = provider.as_ref()?;
                // No age before the first fetch (it would read as 56 years).
                let keys = provider.keys.as_ref()?;
                let age = now.since(provider.fetched_at).as_secs();
                Some((index, keys.keys.len(), age))
            })
            .collect()
    }

    fn remote(&self, index: usize) -> Option<&ProviderKeys> {
        self.providers.get(index).and_then(Option::as_ref)
    }

    fn name(&self, index: usize) -> String {
        self.remote(index)
            .map_or_else(String::new, |p| p.name.clone())
    }
}

/// Applies `change` to a provider's shared [`FetchState`] by compare-and-swap: the new state
/// and whether this call created the record, or `None` if `change` declined.
fn update_state(
    key: &str,
    change: impl Fn(&FetchState) -> Option<FetchState>,
) -> Option<(FetchState, bool)> {
    host::update_shared(key, |bytes| {
        let next = change(&FetchState::decode(bytes.unwrap_or_default()))?;
        Some((next.encode(), next))
    })
}

impl ProviderKeys {
    /// Loads the shared record if its version is newer than this VM's. Returns whether it did.
    fn load(&mut self, limits: &Limits) -> bool {
        if self.state.version <= self.version {
            return false;
        }
        let Some(bytes) = host::shared_data(&self.records.keys).0 else {
            return false;
        };
        let Some(record) = KeyRecord::decode(&bytes) else {
            return false;
        };
        if record.version <= self.version {
            return false;
        }
        match KeySet::parse_fetched(&record.body, self.remote.format, limits) {
            Ok(keys) => {
                self.keys = Some(keys);
                self.version = record.version;
                self.fetched_at = record.fetched_at;
                true
            }
            Err(_) => false,
        }
    }
}

/// The keys as one request sees them.
pub struct View<'a> {
    cache: &'a KeyCache,
    now: Time,
    may_wait: bool,
}

impl RemoteKeys for View<'_> {
    fn key_set(&self, index: usize) -> KeyAccess<'_> {
        let Some(provider) = self.cache.remote(index) else {
            return KeyAccess::Failed;
        };
        match provider.state.availability(
            provider.version,
            provider.fetched_at,
            self.now,
            &provider.remote,
        ) {
            Availability::Ready {
                kid_refetch_allowed,
            } => match &provider.keys {
                Some(keys) => KeyAccess::Ready {
                    keys,
                    version: provider.version,
                    kid_refetch_allowed: kid_refetch_allowed && self.may_wait,
                },
                None => KeyAccess::Failed,
            },
            Availability::Pending if self.may_wait => KeyAccess::Pending,
            Availability::Pending | Availability::Failed => KeyAccess::Failed,
        }
    }
}
