//! What the key fetcher asks of its host: a store shared by every instance of the process, HTTP
//! GETs through a named cluster, a log, and fetch statistics. The host lends itself for one
//! event at a time (`&mut dyn KeyHost`); everything else the fetcher knows, it owns.
//!
//! Why a trait the fetcher calls, not effects it returns: a compare-and-swap is a read, a
//! decision on what was read, and a write that fails if another instance wrote in between, then
//! again; and a fetch the host refuses at once (an unknown cluster) is a failed attempt, backed
//! off in the same callback. Both need the host's answer before the next step, so as returned
//! effects each would become a round trip, and the retry loop would move into every host. What
//! the host does with *requests* (decide again the held ones a change released) does come back
//! as a value ([`crate::keys::held::Released`]): deciding a request needs the fetcher itself.
//!
//! Why nothing here is tied to one host: the fetcher is plain owned data (`Send + Sync`, no
//! `Rc`, no `RefCell`, no handle kept between events), and this trait takes and returns plain
//! values. A native host whose worker threads share one address space keeps one fetcher per
//! worker, as proxy-wasm keeps one per VM (a held request is resumed on the thread that holds
//! it, and the workers' fetchers still fetch once per process through the store), and lends it
//! a host built for the callback at hand; it may also move a fetcher between threads or share
//! one behind a lock, if it routes each released request back to its worker. [`SharedStore`]
//! methods take `&self`: a store the threads share
//! ([`crate::keys::memory_store::MemoryStore`], behind an `Arc`) locks inside.
//!
//! The store's semantics are proxy-wasm shared data's (proxy-wasm-cpp-host `shared_data.cc`),
//! the weakest of the hosts, so the fetcher is written for them: every write gets a new
//! compare-and-swap token; a write with a token fails if the key exists with another one; a
//! write to an absent key always succeeds, so two instances can both "create" a key (the
//! fetcher confirms a lease it created one tick later); a key is never deleted, only emptied.

use std::time::Duration;

use crate::keys::remote::HttpUri;

/// The host services the key fetcher uses during one event.
pub trait KeyHost {
    /// The store every instance of the process shares.
    fn store(&self) -> &dyn SharedStore;

    /// Sends `GET uri` through `cluster` with `timeout`; the id comes back with the response
    /// ([`crate::keys::fetcher::KeyFetcher::on_fetch_response`]). `Err`: the host refused to
    /// send it, and why (no response will come).
    fn start_fetch(
        &mut self,
        cluster: &str,
        uri: &HttpUri,
        timeout: Duration,
    ) -> Result<FetchId, String>;

    /// Writes one line to the host's log.
    fn log(&mut self, level: LogLevel, message: &str);

    /// Counts a fetch, or records a provider's key gauges.
    fn record(&mut self, stat: KeyStat);
}

/// A key-value store shared by every instance of the process, with compare-and-swap.
pub trait SharedStore {
    /// The value under `key`, if it holds a non-empty one, and its compare-and-swap token, if the
    /// key exists.
    fn get(&self, key: &str) -> Stored;

    /// Writes `value` under `key`, unless `cas` is given, the key exists, and its token is not
    /// `cas`.
    fn compare_and_swap(&self, key: &str, value: &[u8], cas: Option<Cas>)
        -> Result<(), StoreError>;

    /// Empties the value under `key` if its token is `cas` (the key itself stays).
    fn empty(&self, key: &str, cas: Cas) -> Result<(), StoreError>;
}

/// What [`SharedStore::get`] found.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Stored {
    /// The value (`None`: the key is absent or was emptied).
    pub value: Option<Vec<u8>>,
    /// The token a compare-and-swap must quote (`None`: the key is absent).
    pub cas: Option<Cas>,
}

/// A compare-and-swap token: changes with every write of a key.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Cas(pub u32);

/// Why a store write did not happen.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum StoreError {
    /// Another write came first: read again.
    CasMismatch,
    /// The host refused the write.
    Refused,
}

/// Identifies a fetch between [`KeyHost::start_fetch`] and its response.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct FetchId(pub u64);

/// How much a log line matters.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum LogLevel {
    /// Detail for whoever debugs the fetcher.
    Debug,
    /// Something happened as it should (keys fetched, records reclaimed).
    Info,
    /// Something failed, or will surprise an operator.
    Warn,
}

/// A statistic the host keeps under its own names.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum KeyStat {
    /// This instance fetched provider `.0`'s keys (jwt_authn's `jwks_fetch_success`).
    FetchSucceeded(usize),
    /// This instance's fetch of provider `.0`'s keys failed (`jwks_fetch_failed`).
    FetchFailed(usize),
    /// Provider `provider`'s keys, as this instance has them (gauges).
    KeySet {
        /// The provider.
        provider: usize,
        /// How many keys it has.
        keys: usize,
        /// How long ago they were fetched, in whole seconds.
        age_seconds: u64,
    },
}

/// Applies `change` to the value under `key` by compare-and-swap, tried 4 times: what `change`
/// returned with the bytes it wrote, and whether this call created the key (the store has no
/// create-if-absent, so another instance may have created it at the same moment). `None`
/// when `change` declines, the writes keep losing, or the store refuses.
pub(crate) fn update<T>(
    store: &dyn SharedStore,
    key: &str,
    mut change: impl FnMut(&[u8]) -> Option<(Vec<u8>, T)>,
) -> Option<(T, bool)> {
    for _ in 0..4 {
        let stored = store.get(key);
        let (next, result) = change(stored.value.as_deref().unwrap_or_default())?;
        match store.compare_and_swap(key, &next, stored.cas) {
            Ok(()) => return Some((result, stored.cas.is_none())),
            Err(StoreError::CasMismatch) => continue,
            Err(StoreError::Refused) => return None,
        }
    }
    None
}

/// Empties the value under `key`, unless it is absent or already empty (emptying would create
/// the key) or someone writes it at the same time.
pub(crate) fn empty_if_present(store: &dyn SharedStore, key: &str) {
    if let Stored {
        value: Some(_),
        cas: Some(cas),
    } = store.get(key)
    {
        let _ = store.empty(key, cas);
    }
}
