//! The remote-key fetcher: one instance's side (a wasm VM's, a native worker's) of a
//! configuration's remote key sets, from the first fetch to the reclaiming of retired records,
//! and the requests it holds meanwhile.
//!
//! Driven by events, each with one reading of the clock: [`KeyFetcher::tick`] (every 200 ms:
//! vouch for the configuration in the registry, read the shared records, load new keys, take the
//! lease and fetch when a fetch is due, give up on lost fetches), [`KeyFetcher::on_fetch_response`]
//! (a discovery document or a key set, or a failure), and the requests: [`KeyFetcher::view`] is
//! what the authenticator sees, [`KeyFetcher::hold`] keeps a request it asked to wait (and asks
//! for a refetch if its `kid` was unknown). Each event returns the held requests to decide again.
//! The host is lent for each event (see [`crate::keys::host`] for why a trait, and why nothing
//! here is tied to one host); the decisions on the shared records are [`crate::keys::record`]'s.

use crate::keys::access::{KeyAccess, RemoteKeys, Wait};
use crate::keys::held::{HeldRequests, Released, RequestId};
use crate::keys::host::SharedStore;
use crate::keys::host::{empty_if_present, update, FetchId, KeyHost, KeyStat, LogLevel};
use crate::keys::record::{
    fetch_lost, hold_deadline, namespace, Availability, FetchReason, FetchState, KeyRecord,
    RecordKeys, Registry, HEARTBEAT, REGISTRY_KEY,
};
use crate::keys::remote::{parse_discovery, FetchError, HttpUri, RemoteJwks};
use crate::keys::{KeySet, PublicKey};
use crate::limits::Limits;
use crate::time::Time;

/// One provider with remote keys, as the configuration describes it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RemoteProvider {
    /// Its name (for logs).
    pub name: String,
    /// Its `issuer`: a discovery document must name it.
    pub issuer: Option<String>,
    /// Where and how its keys are fetched.
    pub remote: RemoteJwks,
}

/// One instance's remote keys, and the requests waiting for them.
#[derive(Debug)]
pub struct KeyFetcher {
    /// By provider index; `None` for providers with local keys.
    providers: Vec<Option<ProviderKeys>>,
    /// This instance's name in fetch leases (never 0).
    owner: u64,
    /// The fetches on their way (at most one per provider), oldest first.
    in_flight: Vec<(FetchId, InFlight)>,
    /// Where this configuration's records are, and how many remote providers it has.
    namespace: String,
    slots: usize,
    /// When this instance next vouches for the configuration in the registry, and when it
    /// last did.
    next_check_in: Time,
    last_check_in: Option<Time>,
    /// The registry was found full (logged once).
    unlisted: bool,
    /// The configuration's bounds.
    limits: Limits,
    held: HeldRequests,
}

/// One remote provider, in this instance.
#[derive(Debug)]
struct ProviderKeys {
    name: String,
    issuer: Option<String>,
    remote: RemoteJwks,
    records: RecordKeys,
    /// The shared state as last read.
    state: FetchState,
    /// The keys this instance parsed, their version and fetch time.
    keys: Option<KeySet>,
    version: u64,
    fetched_at: Time,
    /// This instance created the shared state with its lease: fetch once the next tick confirms
    /// that no other instance's creation overwrote it (the store has no create-if-absent).
    confirm_lease: bool,
}

#[derive(Debug)]
struct InFlight {
    provider: usize,
    uri: HttpUri,
    stage: FetchStage,
    started: Time,
}

/// Which request of a fetch is on its way.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum FetchStage {
    /// The OpenID discovery document, to learn the `jwks_uri`.
    Discovery,
    /// The key set itself.
    Jwks,
}

/// What changed for a provider during an event: it releases the requests that wait for it.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
struct Change {
    /// New keys were loaded.
    keys: bool,
    /// A fetch failed.
    failure: bool,
}

const FAILURE: Change = Change {
    keys: false,
    failure: true,
};

impl KeyFetcher {
    /// The fetcher of the configuration whose bytes are `configuration` (they name its shared
    /// records), with `providers` by index (`None`: local keys), for the instance called `owner`
    /// in fetch leases (random, from the host).
    pub fn new(
        configuration: &[u8],
        providers: Vec<Option<RemoteProvider>>,
        limits: Limits,
        owner: u64,
    ) -> Self {
        let namespace = namespace(configuration);
        let mut slots = 0;
        let providers = providers
            .into_iter()
            .map(|provider| {
                let provider = provider?;
                let records = RecordKeys::new(&namespace, slots);
                slots += 1;
                Some(ProviderKeys {
                    name: provider.name,
                    issuer: provider.issuer,
                    remote: provider.remote,
                    records,
                    state: FetchState::default(),
                    keys: None,
                    version: 0,
                    fetched_at: Time::EPOCH,
                    confirm_lease: false,
                })
            })
            .collect();
        Self {
            providers,
            owner: owner.max(1),
            in_flight: Vec::new(),
            namespace,
            slots,
            next_check_in: Time::EPOCH,
            last_check_in: None,
            unlisted: false,
            limits,
            held: HeldRequests::default(),
        }
    }

    /// Whether any provider has remote keys (else the host need not tick).
    pub fn has_remote(&self) -> bool {
        self.slots > 0
    }

    /// Every tick: vouch for this configuration's records, give up on lost fetches, read the
    /// shared state, load new keys, start due fetches. Returns the held requests to decide again.
    pub fn tick(&mut self, host: &mut dyn KeyHost, now: Time) -> Vec<Released> {
        self.check_in(host, now);
        let mut changes = Vec::new();
        // A fetch whose response never came (Envoy always answers, within its timeout, so this
        // is a safety net) must not keep this instance from ever fetching that provider again.
        let (lost, in_flight): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(_, flight)| {
                self.remote(flight.provider)
                    .is_some_and(|p| fetch_lost(&p.remote, flight.started, now))
            });
        self.in_flight = in_flight;
        for (_, flight) in lost {
            self.fail(
                host,
                flight.provider,
                &flight.uri,
                &FetchError::NoResponse,
                now,
            );
            changes.push((flight.provider, FAILURE));
        }
        for index in 0..self.providers.len() {
            if let Some(change) = self.tick_provider(host, index, now) {
                changes.push((index, change));
            }
        }
        self.after_changes(host, &changes, now)
    }

    /// The response to fetch `id`: the body of a 200 within the size limit, or why there is
    /// none. Returns the held requests to decide again (none for an id that is not this
    /// fetcher's, or a discovery document whose key set is now on its way).
    pub fn on_fetch_response(
        &mut self,
        host: &mut dyn KeyHost,
        id: FetchId,
        response: Result<Vec<u8>, FetchError>,
        now: Time,
    ) -> Vec<Released> {
        let Some(position) = self.in_flight.iter().position(|(own, _)| *own == id) else {
            return Vec::new();
        };
        let (_, flight) = self.in_flight.remove(position);
        let change = match (response, flight.stage) {
            (Err(error), _) => {
                self.fail(host, flight.provider, &flight.uri, &error, now);
                Some(FAILURE)
            }
            (Ok(body), FetchStage::Discovery) => self.discovered(host, &flight, &body, now),
            (Ok(body), FetchStage::Jwks) => self.fetched(host, &flight, body, now),
        };
        match change {
            Some(change) => self.after_changes(host, &[(flight.provider, change)], now),
            None => Vec::new(),
        }
    }

    /// The keys as a request decided at `now` sees them. `held_until`: the deadline of a request
    /// held before (it may wait again, for another provider, only until then). No request waits
    /// once [`Limits::max_held_requests`] are held.
    pub fn view(&self, now: Time, held_until: Option<Time>) -> View<'_> {
        let may_wait = held_until.is_none_or(|deadline| now < deadline)
            && self.held.len() < self.limits.max_held_requests;
        View {
            fetcher: self,
            now,
            may_wait,
        }
    }

    /// Holds `request`, which the authenticator (given [`Self::view`]) asked to wait, and asks
    /// for a refetch if it waits for one. It is released when its provider's keys change or a
    /// fetch fails, and at the latest at its hold deadline (or `held_until`, if it had one).
    pub fn hold(
        &mut self,
        host: &mut dyn KeyHost,
        request: RequestId,
        wait: Wait,
        now: Time,
        held_until: Option<Time>,
    ) {
        if let Wait::KidRefetch(provider) = wait {
            self.request_refetch(host.store(), provider, now);
        }
        let deadline = held_until.unwrap_or_else(|| {
            self.remote(wait.provider())
                .map_or(now, |p| hold_deadline(&p.remote, now))
        });
        self.held.hold(request, wait, deadline);
    }

    /// Whether `request` is held (its body and trailers must wait too).
    pub fn is_held(&self, request: RequestId) -> bool {
        self.held.contains(request)
    }

    /// Forgets a request that is gone (the client left).
    pub fn forget(&mut self, request: RequestId) {
        self.held.forget(request);
    }

    /// One provider's part of a tick. Returns what changed for it, if anything.
    fn tick_provider(&mut self, host: &mut dyn KeyHost, index: usize, now: Time) -> Option<Change> {
        let (owner, limits) = (self.owner, self.limits);
        let fetching = self.in_flight.iter().any(|(_, f)| f.provider == index);
        let provider = self.providers.get_mut(index)?.as_mut()?;
        let failures_before = provider.state.failures;
        // An absent or emptied state reads as a fresh one (version 0): this instance keeps the
        // keys it has, and a fetch starts.
        provider.state = read_state(host.store(), &provider.records.state);
        let mut change = Change {
            keys: provider.load(host.store(), &limits),
            failure: provider.state.failures > failures_before,
        };
        if provider.confirm_lease {
            provider.confirm_lease = false;
            if provider.state.lease_owner == owner && provider.state.lease_until > now {
                change.failure |= self.start_fetch(host, index, now);
            }
        } else if let Some(reason) = provider.state.fetch_due(now, &provider.remote) {
            if !fetching {
                change.failure |= self.try_lease(host, index, reason, now);
            }
        }
        (change != Change::default()).then_some(change)
    }

    /// Once a heartbeat (and at once if the clock went back): vouch for this configuration in
    /// the registry, and empty the records of the configurations the registry says are retired.
    fn check_in(&mut self, host: &mut dyn KeyHost, now: Time) {
        let clock_went_back = self.last_check_in.is_some_and(|last| now < last);
        if now < self.next_check_in && !clock_went_back {
            return;
        }
        self.next_check_in = now.saturating_add(HEARTBEAT);
        let previous = self.last_check_in.replace(now);
        let (namespace, slots, limits) = (self.namespace.as_str(), self.slots, self.limits);
        let mut unlisted = false;
        let written = update(host.store(), REGISTRY_KEY, |bytes| {
            let check_in =
                Registry::decode(bytes, &limits).check_in(namespace, slots, now, previous, &limits);
            unlisted = check_in.unlisted;
            let registry = check_in.registry?;
            Some((registry.encode(), check_in.retired))
        });
        if unlisted && !self.unlisted {
            host.log(
                LogLevel::Warn,
                &format!("jwt-gate: the registry of key records is full ({} plugin configurations): this configuration's records will not be reclaimed when it is retired", limits.max_registered_configurations),
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
            empty_if_present(host.store(), &records.state);
            empty_if_present(host.store(), &records.keys);
        }
        let names: Vec<&str> = retired
            .iter()
            .map(|entry| entry.namespace.as_str())
            .collect();
        host.log(
            LogLevel::Info,
            &format!(
                "jwt-gate: reclaimed the key records of {} plugin configuration(s) no longer in use: {}",
                retired.len(),
                names.join(", ")
            ),
        );
    }

    /// Takes the lease if no other instance holds it, and fetches (or waits one tick to confirm
    /// a newly created lease). Returns whether the fetch failed at once.
    fn try_lease(
        &mut self,
        host: &mut dyn KeyHost,
        index: usize,
        reason: FetchReason,
        now: Time,
    ) -> bool {
        let owner = self.owner;
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return false;
        };
        let remote = &provider.remote;
        let updated = update_state(host.store(), &provider.records.state, |state| {
            state
                .fetch_due(now, remote)
                .map(|_| state.with_lease(owner, now, remote))
        });
        let Some((state, created)) = updated else {
            return false;
        };
        provider.state = state;
        if created {
            provider.confirm_lease = true;
            return false;
        }
        host.log(
            LogLevel::Debug,
            &format!(
                "jwt-gate: providers.{}: fetching keys ({reason:?})",
                provider.name
            ),
        );
        self.start_fetch(host, index, now)
    }

    /// Sends the first request of a fetch: discovery, or the key set. Returns whether it failed.
    fn start_fetch(&mut self, host: &mut dyn KeyHost, index: usize, now: Time) -> bool {
        let Some(provider) = self.remote(index) else {
            return false;
        };
        let (uri, stage) = match (&provider.remote.jwks_uri, &provider.remote.discovery_uri) {
            (Some(uri), _) => (uri.clone(), FetchStage::Jwks),
            (None, Some(discovery)) => (discovery.clone(), FetchStage::Discovery),
            (None, None) => return false,
        };
        self.dispatch(host, index, uri, stage, now)
    }

    /// Sends one request of a fetch. Returns whether the host refused it.
    fn dispatch(
        &mut self,
        host: &mut dyn KeyHost,
        index: usize,
        uri: HttpUri,
        stage: FetchStage,
        now: Time,
    ) -> bool {
        let Some(provider) = self.remote(index) else {
            return false;
        };
        match host.start_fetch(&provider.remote.cluster, &uri, provider.remote.timeout) {
            Ok(id) => {
                let flight = InFlight {
                    provider: index,
                    uri,
                    stage,
                    started: now,
                };
                self.in_flight.push((id, flight));
                false
            }
            Err(why) => {
                self.fail(host, index, &uri, &FetchError::Dispatch(why), now);
                true
            }
        }
    }

    /// A discovery document arrived: fetch the key set it names, if the document is usable.
    /// `None` when the key set is on its way (nothing changed yet).
    fn discovered(
        &mut self,
        host: &mut dyn KeyHost,
        flight: &InFlight,
        body: &[u8],
        now: Time,
    ) -> Option<Change> {
        let index = flight.provider;
        let provider = self.remote(index)?;
        let issuer = provider.issuer.as_deref().unwrap_or_default();
        let discovered = parse_discovery(body, &self.limits)
            .and_then(|discovery| discovery.keys_uri(issuer, &flight.uri));
        match discovered {
            Ok(jwks_uri) => {
                host.log(
                    LogLevel::Info,
                    &format!(
                        "jwt-gate: providers.{}: discovered jwks_uri {}",
                        provider.name, jwks_uri.uri
                    ),
                );
                let failed = self.dispatch(host, index, jwks_uri, FetchStage::Jwks, now);
                failed.then_some(FAILURE)
            }
            Err(error) => {
                self.fail(host, index, &flight.uri, &error, now);
                Some(FAILURE)
            }
        }
    }

    /// A key set arrived: parse it, publish it to every instance under the next version, and use
    /// it here. `None` if the shared state could not be written (the fetch leaves no trace).
    fn fetched(
        &mut self,
        host: &mut dyn KeyHost,
        flight: &InFlight,
        body: Vec<u8>,
        now: Time,
    ) -> Option<Change> {
        let (index, limits) = (flight.provider, self.limits);
        let format = self.remote(index)?.remote.format;
        let keys = match KeySet::parse_fetched(&body, format, &limits) {
            Ok(keys) => keys,
            Err(error) => {
                let error = FetchError::BadKeySet(error.to_string());
                self.fail(host, index, &flight.uri, &error, now);
                return Some(FAILURE);
            }
        };
        let provider = self.providers.get_mut(index).and_then(Option::as_mut)?;
        // The version comes from the state read in the compare-and-swap; the record is written
        // after it, and readers load a record only when it has the state's version.
        let local_version = provider.version;
        let (state, _) = update_state(host.store(), &provider.records.state, |state| {
            Some(state.published(local_version, now))
        })?;
        let version = state.version;
        provider.state = state;
        let record = KeyRecord {
            version,
            fetched_at: now,
            body,
        };
        let _ = host
            .store()
            .compare_and_swap(&provider.records.keys, &record.encode(), None);
        host.log(
            LogLevel::Info,
            &format!(
                "jwt-gate: providers.{}: fetched {} key(s) from {} (version {version})",
                provider.name,
                keys.keys.len(),
                flight.uri.uri
            ),
        );
        log_unusable_keys(host, &provider.name, &flight.uri, &keys, &limits);
        log_symmetric_keys(host, &provider.name, &flight.uri, &keys);
        provider.keys = Some(keys);
        provider.version = version;
        provider.fetched_at = now;
        host.record(KeyStat::FetchSucceeded(index));
        Some(Change {
            keys: true,
            failure: false,
        })
    }

    /// Records a failed fetch in the shared state (backing off), counts it, and logs it once.
    fn fail(
        &mut self,
        host: &mut dyn KeyHost,
        index: usize,
        uri: &HttpUri,
        error: &FetchError,
        now: Time,
    ) {
        host.record(KeyStat::FetchFailed(index));
        let owner = self.owner;
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let text = error.to_string();
        let remote = &provider.remote;
        if let Some((state, _)) = update_state(host.store(), &provider.records.state, |state| {
            Some(state.failed(owner, &text, now, remote))
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
        host.log(
            LogLevel::Warn,
            &format!(
                "jwt-gate: providers.{}: key fetch from {} via cluster {} failed (attempt {}): {text}; {keeping}",
                provider.name, uri.uri, provider.remote.cluster, provider.state.failures
            ),
        );
    }

    /// Asks, through the shared state, for one refetch because a token's `kid` was unknown.
    fn request_refetch(&mut self, store: &dyn SharedStore, index: usize, now: Time) {
        let Some(provider) = self.providers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let remote = &provider.remote;
        match update_state(store, &provider.records.state, |state| {
            state.with_refetch_request(now, remote)
        }) {
            Some((state, _)) => provider.state = state,
            // Declined (another request asked first, the rate limit, or the backoff): see why
            // now rather than at the next tick, so the next unknown kid is not held for nothing.
            None => provider.state = read_state(store, &provider.records.state),
        }
    }

    /// After an event: the key gauges, and the held requests the changes (or their deadlines)
    /// release.
    fn after_changes(
        &mut self,
        host: &mut dyn KeyHost,
        changes: &[(usize, Change)],
        now: Time,
    ) -> Vec<Released> {
        for (index, provider) in self.providers.iter().enumerate() {
            // No gauges before the first fetch (the age would read as 56 years).
            if let Some((provider, keys)) =
                provider.as_ref().and_then(|p| Some((p, p.keys.as_ref()?)))
            {
                host.record(KeyStat::KeySet {
                    provider: index,
                    keys: keys.keys.len(),
                    age_seconds: now.since(provider.fetched_at).as_secs(),
                });
            }
        }
        self.held.release(now, |provider| {
            changes
                .iter()
                .any(|(p, change)| *p == provider && (change.keys || change.failure))
        })
    }

    fn remote(&self, index: usize) -> Option<&ProviderKeys> {
        self.providers.get(index).and_then(Option::as_ref)
    }
}

impl ProviderKeys {
    /// Loads the shared record if its version is newer than this instance's. Returns whether
    /// it did.
    fn load(&mut self, store: &dyn SharedStore, limits: &Limits) -> bool {
        if self.state.version <= self.version {
            return false;
        }
        let Some(bytes) = store.get(&self.records.keys).value else {
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
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    fetcher: &'a KeyFetcher,
    now: Time,
    may_wait: bool,
}

impl RemoteKeys for View<'_> {
    fn key_set(&self, index: usize) -> KeyAccess<'_> {
        let Some(provider) = self.fetcher.remote(index) else {
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

/// A provider's shared [`FetchState`] (a fresh one if absent or emptied).
fn read_state(store: &dyn SharedStore, key: &str) -> FetchState {
    FetchState::decode(&store.get(key).value.unwrap_or_default())
}

/// Applies `change` to a provider's shared [`FetchState`] by compare-and-swap: the new state
/// and whether this call created the record, or `None` if `change` declined.
fn update_state(
    store: &dyn SharedStore,
    key: &str,
    change: impl Fn(&FetchState) -> Option<FetchState>,
) -> Option<(FetchState, bool)> {
    update(store, key, |bytes| {
        let next = change(&FetchState::decode(bytes))?;
        Some((next.encode(), next))
    })
}

/// Warns about a fetched key set with skipped keys, keys beyond the limit, or no usable key.
fn log_unusable_keys(
    host: &mut dyn KeyHost,
    name: &str,
    uri: &HttpUri,
    keys: &KeySet,
    limits: &Limits,
) {
    let first_skipped = || {
        keys.skipped
            .first()
            .map_or_else(|| "none".to_owned(), |(_, reason)| reason.to_string())
    };
    if keys.keys.is_empty() {
        // A well-formed key set without a usable key: the issuer withdrew its keys, and the
        // ones fetched before stop verifying now (issue 13 item 8).
        host.log(
            LogLevel::Warn,
            &format!(
                "jwt-gate: providers.{name}: the key set from {} has no usable key ({} skipped, first: {}): it replaces the previous keys, and tokens get 401 Jwks doesn't have key to match kid or alg from Jwt until the issuer publishes one",
                uri.uri,
                keys.skipped.len(),
                first_skipped(),
            ),
        );
    } else if keys.over_limit > 0 || !keys.skipped.is_empty() {
        host.log(
            LogLevel::Warn,
            &format!(
                "jwt-gate: providers.{name}: {} key(s) from {} skipped (first: {}), {} beyond the limit of {} ignored",
                keys.skipped.len(),
                uri.uri,
                first_skipped(),
                keys.over_limit,
                limits.max_keys
            ),
        );
    }
}

/// Warns, once per fetch, about `oct` keys in a fetched key set. A fetched key set is public
/// (anyone who can read the issuer's key URL can), so an HMAC key in it lets anyone sign HS*
/// tokens this provider accepts. jwt_authn verifies with such keys too; the issuer (or the
/// configuration: inline the secret in `local_jwks`) should not publish them.
fn log_symmetric_keys(host: &mut dyn KeyHost, name: &str, uri: &HttpUri, keys: &KeySet) {
    let symmetric: Vec<&str> = keys
        .keys
        .iter()
        .filter(|key| matches!(key.key, PublicKey::Hmac(_)))
        .map(|key| key.kid.as_deref().unwrap_or("(no kid)"))
        .collect();
    let Some(first) = symmetric.first() else {
        return;
    };
    // The kid is the issuer's text: quoted (control characters escaped) and cut short.
    let first: String = first.chars().take(64).collect();
    host.log(
        LogLevel::Warn,
        &format!(
            "jwt-gate: providers.{name}: the key set from {} holds {} symmetric (oct) key(s), first kid {first:?}: a fetched key set is public, so anyone who can read it can sign HS256/384/512 tokens this provider accepts; publish only public keys, and give a shared secret in local_jwks",
            uri.uri,
            symmetric.len(),
        ),
    );
}
