//! Remote keys in the host: this VM's copy of each remote provider's keys, the shared-data
//! records every VM reads, the fetch lease, and the fetches themselves. Every decision (is a
//! fetch due, how long to back off, can a request wait) is the core's (`jwks_cache`); this file
//! only moves bytes between Envoy and those decisions.

use std::collections::HashMap;
use std::time::Duration;

use proxy_wasm::types::LogLevel;

use super::host;
use crate::authenticator::{KeyAccess, RemoteKeys};
use crate::config::{Config, KeySource};
use crate::jwks::KeySet;
use crate::jwks_cache::{
    fetch_lost, hold_deadline_ms, namespace, Availability, FetchReason, FetchState, KeyRecord,
};
use crate::limits::Limits;
use crate::remote::{parse_discovery, FetchError, HttpUri, RemoteJwks};
use crate::time::UnixTime;

/// This VM's view of every remote provider.
pub struct KeyCache {
    providers: Vec<Option<ProviderKeys>>,
    owner: u64,
    in_flight: HashMap<u32, InFlight>,
    /// Fetches this VM finished since the last `take_fetch_results`: (provider, succeeded).
    fetch_results: Vec<(usize, bool)>,
}

/// One remote provider, in this VM.
struct ProviderKeys {
    name: String,
    issuer: Option<String>,
    remote: RemoteJwks,
    state_key: String,
    record_key: String,
    /// The shared state as last read.
    state: FetchState,
    /// The keys this VM parsed, their version and fetch time.
    keys: Option<KeySet>,
    version: u64,
    fetched_at: u64,
    /// This VM created the shared state with its lease: dispatch once the next tick confirms
    /// that no other VM's creation overwrote it (shared data has no create-if-absent).
    confirm_lease: bool,
}

struct InFlight {
    provider: usize,
    uri: HttpUri,
    step: Step,
    started_ms: u64,
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

impl KeyCache {
    pub fn new(config: &Config, configuration: &[u8]) -> Self {
        let providers = config
            .providers
            .iter()
            .map(|provider| match &provider.keys {
                KeySource::Remote(remote) => {
                    let prefix = namespace(configuration, &provider.name);
                    Some(ProviderKeys {
                        name: provider.name.clone(),
                        issuer: provider.claims.issuer.clone(),
                        remote: remote.clone(),
                        state_key: format!("{prefix}/state"),
                        record_key: format!("{prefix}/keys"),
                        state: FetchState::default(),
                        keys: None,
                        version: 0,
                        fetched_at: 0,
                        confirm_lease: false,
                    })
                }
                KeySource::Local(_) => None,
            })
            .collect();
        Self {
            providers,
            owner: host::random_u64().max(1),
            in_flight: HashMap::new(),
            fetch_results: Vec::new(),
        }
    }

    pub fn has_remote(&self) -> bool {
        self.providers.iter().any(Option::is_some)
    }

    /// The fetches this VM finished since the last call: (provider, succeeded).
    pub fn take_fetch_results(&mut self) -> Vec<(usize, bool)> {
        std::mem::take(&mut self.fetch_results)
    }

    /// The view requests see; `may_wait: false` for a request that already waited once.
    pub fn view(&self, now: UnixTime, may_wait: bool) -> View<'_> {
        View {
            cache: self,
            now,
            may_wait,
        }
    }

    /// Until when a request arriving now may wait for `provider`'s keys.
    pub fn hold_deadline_ms(&self, provider: usize, now_ms: u64) -> u64 {
        self.remote(provider)
            .map_or(now_ms, |p| hold_deadline_ms(&p.remote, now_ms))
    }

    /// Every tick: read the shared state, load new keys, start due fetches. Returns the
    /// providers whose situation changed.
    pub fn tick(&mut self, now_ms: u64) -> Vec<(usize, Change)> {
        let mut changes = Vec::new();
        // A fetch whose response never came (Envoy always answers, within its timeout, so this
        // is a safety net) must not keep this VM from ever fetching that provider again.
        let lost: Vec<u32> = self
            .in_flight
            .iter()
            .filter(|(_, flight)| {
                self.remote(flight.provider)
                    .is_some_and(|p| fetch_lost(&p.remote, flight.started_ms, now_ms))
            })
            .map(|(token, _)| *token)
            .collect();
        for token in lost {
            if let Some(flight) = self.in_flight.remove(&token) {
                self.fail(flight.provider, &flight.uri, &FetchError::NoResponse);
                changes.push((
                    flight.provider,
                    Change {
                        keys: false,
                        failure: true,
                    },
                ));
            }
        }
        for index in 0..self.providers.len() {
            let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            let failures_before = provider.state.failures;
            if let Some(state) = host::shared_data(&provider.state_key).0 {
                provider.state = FetchState::decode(&state);
            }
            let mut change = Change {
                keys: provider.load(),
                failure: provider.state.failures > failures_before,
            };
            if provider.confirm_lease {
                provider.confirm_lease = false;
                if provider.state.lease_owner == self.owner
                    && provider.state.lease_until_ms > now_ms
                {
                    change.failure |= self.start_fetch(index);
                }
            } else if let Some(reason) = provider.state.fetch_due(now_ms, &provider.remote) {
                if !self.in_flight.values().any(|f| f.provider == index) {
                    change.failure |= self.try_lease(index, reason, now_ms);
                }
            }
            if change != Change::default() {
                changes.push((index, change));
            }
        }
        changes
    }

    /// Takes the lease if no other VM holds it, and fetches (or waits one tick to confirm a
    /// newly created lease). Returns whether the fetch failed at once.
    fn try_lease(&mut self, index: usize, reason: FetchReason, now_ms: u64) -> bool {
        let owner = self.owner;
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return false;
        };
        let remote = provider.remote.clone();
        let updated = host::update_shared(&provider.state_key, |state| {
            state
                .fetch_due(now_ms, &remote)
                .map(|_| state.with_lease(owner, now_ms, &remote))
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
        let timeout = Duration::from_millis(provider.remote.timeout_ms);
        match host::http_get(&provider.remote.cluster, &uri, timeout) {
            Ok(token) => {
                self.in_flight.insert(
                    token,
                    InFlight {
                        provider: index,
                        uri,
                        step,
                        started_ms: host::now_ms(),
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
        now: UnixTime,
    ) -> Option<(usize, Change)> {
        let flight = self.in_flight.remove(&token)?;
        let index = flight.provider;
        let body = match response {
            Ok(body) => body,
            Err(error) => {
                self.fail(index, &flight.uri, &error);
                return Some((
                    index,
                    Change {
                        keys: false,
                        failure: true,
                    },
                ));
            }
        };
        let limits = Limits::DEFAULT;
        if flight.step == Step::Discovery {
            return match parse_discovery(&body, &limits) {
                Ok(discovery) => {
                    let name = self.name(index);
                    let expected = self.remote(index).and_then(|p| p.issuer.clone());
                    host::log(
                        LogLevel::Info,
                        &format!(
                            "jwt-gate: providers.{name}: discovered jwks_uri {}",
                            discovery.jwks_uri.uri
                        ),
                    );
                    if discovery.issuer.is_some() && discovery.issuer != expected {
                        // OpenID Connect Discovery §4.3: the issuers must be equal. Tokens are
                        // still checked against the configured issuer; this is worth a look.
                        host::log(
                            LogLevel::Warn,
                            &format!(
                                "jwt-gate: providers.{name}: the discovery document's issuer {:?} is not the configured issuer {:?}",
                                discovery.issuer.unwrap_or_default(),
                                expected.unwrap_or_default()
                            ),
                        );
                    }
                    let jwks_uri = discovery.jwks_uri;
                    let failed = self.dispatch(index, jwks_uri, Step::Jwks);
                    failed.then_some((
                        index,
                        Change {
                            keys: false,
                            failure: true,
                        },
                    ))
                }
                Err(error) => {
                    self.fail(index, &flight.uri, &error);
                    Some((
                        index,
                        Change {
                            keys: false,
                            failure: true,
                        },
                    ))
                }
            };
        }
        let keys = match KeySet::parse(&body, &limits) {
            Ok(keys) => keys,
            Err(error) => {
                self.fail(
                    index,
                    &flight.uri,
                    &FetchError::BadKeySet(error.to_string()),
                );
                return Some((
                    index,
                    Change {
                        keys: false,
                        failure: true,
                    },
                ));
            }
        };
        let provider = self.providers.get_mut(index).and_then(Option::as_mut)?;
        // The version comes from the state read in the compare-and-swap; the record is written
        // after it, and readers load a record only when it has the state's version.
        let local_version = provider.version;
        let (state, _) = host::update_shared(&provider.state_key, |state| {
            Some(state.published(local_version, now))
        })?;
        let version = state.version;
        provider.state = state;
        let record = KeyRecord {
            version,
            fetched_at: now.seconds(),
            body,
        };
        host::set_shared(&provider.record_key, &record.encode());
        host::log(
            LogLevel::Info,
            &format!(
                "jwt-gate: providers.{}: fetched {} key(s) from {} (version {version})",
                provider.name,
                keys.keys.len(),
                flight.uri.uri
            ),
        );
        if keys.over_limit > 0 || !keys.skipped.is_empty() {
            host::log(
                LogLevel::Warn,
                &format!(
                    "jwt-gate: providers.{}: {} key(s) from {} skipped (first: {}), {} beyond the limit of {} ignored",
                    provider.name,
                    keys.skipped.len(),
                    flight.uri.uri,
                    keys.skipped
                        .first()
                        .map_or_else(|| "none".to_owned(), |(_, reason)| reason.to_string()),
                    keys.over_limit,
                    limits.max_keys
                ),
            );
        }
        provider.keys = Some(keys);
        provider.version = version;
        provider.fetched_at = now.seconds();
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
        let now_ms = host::now_ms();
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let remote = provider.remote.clone();
        let text = error.to_string();
        let owner = self.owner;
        if let Some((state, _)) = host::update_shared(&provider.state_key, |state| {
            Some(state.failed(owner, &text, now_ms, &remote))
        }) {
            provider.state = state;
        }
        let keeping = match &provider.keys {
            Some(keys) => format!(
                "keeping {} key(s) fetched {} s ago",
                keys.keys.len(),
                (now_ms / 1000).saturating_sub(provider.fetched_at)
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
    pub fn request_refetch(&mut self, index: usize, now: UnixTime) {
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let remote = provider.remote.clone();
        match host::update_shared(&provider.state_key, |state| {
            state.with_refetch_request(now, &remote)
        }) {
            Some((state, _)) => provider.state = state,
            // Declined (another request asked first, or the rate limit): see why now rather
            // than at the next tick, so the next unknown kid is not held for nothing.
            None => {
                if let Some(bytes) = host::shared_data(&provider.state_key).0 {
                    provider.state = FetchState::decode(&bytes);
                }
            }
        }
    }

    /// (provider, key count, age in seconds) of every remote provider with keys, for gauges.
    pub fn gauges(&self, now: UnixTime) -> Vec<(usize, usize, u64)> {
        self.providers
            .iter()
            .enumerate()
            .filter_map(|(index, provider)| {
                let provider = provider.as_ref()?;
                // No age before the first fetch (it would read as 56 years).
                let keys = provider.keys.as_ref()?;
                let age = now.seconds().saturating_sub(provider.fetched_at);
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

impl ProviderKeys {
    /// Loads the shared record if its version is newer than this VM's. Returns whether it did.
    fn load(&mut self) -> bool {
        if self.state.version <= self.version {
            return false;
        }
        let Some(bytes) = host::shared_data(&self.record_key).0 else {
            return false;
        };
        let Some(record) = KeyRecord::decode(&bytes) else {
            return false;
        };
        if record.version <= self.version {
            return false;
        }
        match KeySet::parse(&record.body, &Limits::DEFAULT) {
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
    now: UnixTime,
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
