//! One filter configuration in the native module: the compiled configuration, the verified-token
//! caches (one per worker), the counters, and the remote keys.
//!
//! Envoy's worker threads share this address space, so the remote keys need no shared data: one
//! [`KeyFetcher`] per configuration, behind a lock, driven on the main thread (Envoy's
//! configuration-level scheduler and HTTP callouts), read by the workers on every request. A
//! ticker thread wakes the main thread every 200 ms, as proxy-wasm's tick does. Two
//! configurations with the same JSON (two listeners) share one fetch per refresh through
//! [`STORE`], as the .wasm's VMs do through shared data. A request that must wait for keys is
//! held by the fetcher and resumed on its own worker through the filter's scheduler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::abi::{
    self, ConfigHandle, ConfigMetrics, ConfigSchedulerPtr, FilterSchedulerPtr, LogLevel,
};
use crate::authenticator::key_fetcher;
use crate::authenticator::token_cache::TokenCache;
use crate::config::{Config, KeySource};
use crate::hosts::common::{self, Level, ProviderMetrics, JWKS_FETCH_FAILED, JWKS_FETCH_SUCCESS};
use crate::keys::fetcher::KeyFetcher;
use crate::keys::held::Released;
use crate::keys::host::{FetchId, KeyHost, KeyStat, LogLevel as KeyLogLevel, SharedStore};
use crate::keys::memory_store::MemoryStore;
use crate::keys::remote::{check_response, FetchError, HttpUri, FETCH_ACCEPT, FETCH_USER_AGENT};
use crate::time::Time;
use crate::verify::RingVerifier;

/// How often the main thread looks at the key state (and starts due fetches).
const TICK: Duration = Duration::from_millis(200);

/// The store every configuration of this Envoy process shares: the key fetchers' records and
/// the DPoP replay cache (proxy-wasm's shared data, in memory).
pub static STORE: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new);

/// Locks a mutex whose data stays consistent whatever a panicking holder did (none panics: the
/// crate denies it; this only keeps a poisoned lock from becoming a panic here).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One reading of the clock; before the epoch (a broken clock) reads as the end of time: every
/// token with an `exp` is then expired (fail closed), as in the .wasm.
pub fn now() -> Time {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(Time::END, Time::from_since_epoch)
}

/// A pointer Envoy gave us that another thread may hand back to Envoy (schedulers may be
/// committed from any thread).
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut std::ffi::c_void);
// SAFETY: the pointers wrapped are Envoy schedulers, which Envoy documents as usable from any
// thread ("commit ... from any thread"); they are only committed or deleted, never read.
unsafe impl Send for SendPtr {}

/// The per-configuration state every stream of it shares.
pub struct Gate {
    pub config: Config,
    pub verifier: RingVerifier,
    /// By worker index: a worker only ever locks its own (no contention).
    caches: Vec<Mutex<TokenCache>>,
    /// For a worker index beyond the concurrency Envoy announced at configuration time.
    spare_cache: Mutex<TokenCache>,
    /// Counter ids by [`common::counter_names`] index.
    pub counters: Vec<Option<usize>>,
    /// By provider index: fetch counters and key gauges of providers with remote keys.
    providers: Vec<Option<ProviderMetrics<usize>>>,
    keys: RwLock<KeyFetcher>,
    /// Bumped after every change of the key state on the main thread: a request that decided to
    /// wait is held only if no change came in between (else it decides again).
    generation: AtomicU64,
    /// The held requests' schedulers, by request id.
    held: Mutex<HashMap<u64, SendPtr>>,
    next_request: AtomicU64,
    /// The configuration-level scheduler (wakes the main thread), while the configuration lives.
    scheduler: Mutex<Option<SendPtr>>,
    config_metrics: ConfigMetrics,
    /// Metrics the main thread could not write (Envoy 1.38 has no configuration-level metric
    /// callbacks): the next request writes them.
    pending: Mutex<Vec<(usize, Pending)>>,
    any_pending: AtomicBool,
    /// When the replay-cache warning was last logged.
    pub replay_logged: Mutex<Option<Time>>,
}

#[derive(Clone, Copy)]
enum Pending {
    Add(u64),
    Set(u64),
}

/// What the configuration hook keeps: the shared state and the ticker.
pub struct Installed {
    pub gate: Arc<Gate>,
    ticker: Option<Ticker>,
}

impl Gate {
    /// Compiles `bytes` (the plugin JSON), logs what a configuration says at load, defines the
    /// counters, and starts the remote keys' first fetches. `Err`: the one-line reason.
    pub fn install(handle: ConfigHandle, bytes: &[u8]) -> Result<Installed, String> {
        let config = Config::from_json(bytes).map_err(|error| error.to_string())?;
        abi::log(
            LogLevel::Info,
            "jwt-gate: native module (Envoy dynamic module); signatures: ring",
        );
        for (level, line) in common::load_messages(&config) {
            let level = match level {
                Level::Info => LogLevel::Info,
                Level::Warn => LogLevel::Warn,
            };
            abi::log(level, &line);
        }
        let counters = common::counter_names("", &config.stat_prefix)
            .iter()
            .map(|name| handle.define_counter(name))
            .collect();
        let providers = config
            .providers
            .iter()
            .map(|provider| {
                matches!(provider.keys, KeySource::Remote(_)).then(|| {
                    ProviderMetrics::define(
                        "",
                        &config.stat_prefix,
                        &provider.name,
                        |name| handle.define_counter(name),
                        |name| handle.define_gauge(name),
                    )
                })
            })
            .collect();
        let workers = usize::try_from(abi::concurrency()).unwrap_or(1);
        let new_cache = || {
            Mutex::new(TokenCache::new(
                config.token_cache_size,
                config.token_cache_max_token_bytes,
                random(),
            ))
        };
        let caches = (0..workers).map(|_| new_cache()).collect();
        let spare_cache = new_cache();
        if config.providers.iter().any(|p| p.dpop.is_some()) {
            config.replay_cache.prepare(&*STORE);
        }
        let keys = key_fetcher(&config, bytes, u64::from_le_bytes(random()));
        let remote = keys.has_remote();
        let gate = Arc::new(Gate {
            config,
            verifier: RingVerifier,
            caches,
            spare_cache,
            counters,
            providers,
            keys: RwLock::new(keys),
            generation: AtomicU64::new(0),
            held: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            scheduler: Mutex::new(Some(SendPtr(handle.new_scheduler()))),
            config_metrics: ConfigMetrics::look_up(),
            pending: Mutex::new(Vec::new()),
            any_pending: AtomicBool::new(false),
            replay_logged: Mutex::new(None),
        });
        let ticker = remote.then(|| {
            gate.tick(handle);
            Ticker::start(&gate)
        });
        Ok(Installed { gate, ticker })
    }

    /// A fresh id for a new stream.
    pub fn next_request_id(&self) -> u64 {
        self.next_request.fetch_add(1, Ordering::Relaxed)
    }

    /// This worker's token cache.
    pub fn cache(&self, worker: usize) -> MutexGuard<'_, TokenCache> {
        lock(self.caches.get(worker).unwrap_or(&self.spare_cache))
    }

    /// The key state and its generation, for one request.
    pub fn keys(&self) -> (std::sync::RwLockReadGuard<'_, KeyFetcher>, u64) {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        (keys, self.generation.load(Ordering::Acquire))
    }

    /// Holds request `id` (which decided to wait when the keys were at `generation`) until the
    /// fetcher releases it; its scheduler resumes it. False if the keys changed meanwhile: decide
    /// again now.
    pub fn hold(
        &self,
        id: u64,
        scheduler: FilterSchedulerPtr,
        wait: crate::keys::access::Wait,
        generation: Option<u64>,
        now: Time,
        held_until: Option<Time>,
    ) -> bool {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if generation.is_some_and(|seen| seen != self.generation.load(Ordering::Acquire)) {
            return false;
        }
        lock(&self.held).insert(id, SendPtr(scheduler));
        let mut host = WorkerHost;
        keys.hold(
            &mut host,
            crate::keys::held::RequestId(id),
            wait,
            now,
            held_until,
        );
        drop(keys);
        // A refetch for an unknown kid may be due now: let the main thread look at once.
        self.wake();
        true
    }

    /// Whether request `id` is held.
    pub fn is_held(&self, id: u64) -> bool {
        lock(&self.held).contains_key(&id)
    }

    /// A stream that is gone: it is no longer held, and its scheduler is never committed again.
    pub fn forget(&self, id: u64) {
        // One lock at a time: `hold` takes the keys, then the held requests.
        let was_held = lock(&self.held).remove(&id).is_some();
        if was_held {
            self.keys
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .forget(crate::keys::held::RequestId(id));
        }
    }

    fn wake(&self) {
        let scheduler = lock(&self.scheduler);
        if let Some(live) = *scheduler {
            // Live while it is in `self.scheduler`: deleted only after it is taken out, under
            // this lock (held until the commit is done).
            commit_config(live);
        }
    }

    /// Every tick (main thread).
    pub fn tick(&self, handle: ConfigHandle) {
        let released = {
            let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            let released = keys.tick(&mut self.main_host(handle), now());
            self.generation.fetch_add(1, Ordering::AcqRel);
            released
        };
        self.resume(released);
    }

    /// The response to callout `id` (main thread).
    pub fn on_fetch_response(
        &self,
        handle: ConfigHandle,
        id: u64,
        response: Result<Vec<u8>, FetchError>,
    ) {
        let released = {
            let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            let released =
                keys.on_fetch_response(&mut self.main_host(handle), FetchId(id), response, now());
            self.generation.fetch_add(1, Ordering::AcqRel);
            released
        };
        self.resume(released);
    }

    /// Sends each released request back to its worker, which decides it again.
    fn resume(&self, released: Vec<Released>) {
        if released.is_empty() {
            return;
        }
        let mut held = lock(&self.held);
        for Released {
            request,
            held_until,
        } in released
        {
            if let Some(scheduler) = held.remove(&request.0) {
                // Live while it is in `held`: the stream removes it, under this lock, before it
                // deletes it.
                commit_filter(scheduler, held_until.millis());
            }
        }
    }

    fn main_host(&self, handle: ConfigHandle) -> MainHost<'_> {
        MainHost { gate: self, handle }
    }

    /// Writes the metrics the main thread left (Envoy 1.38), from a request.
    pub fn flush_pending(&self, stream: abi::Stream) {
        if !self.any_pending.load(Ordering::Relaxed) {
            return;
        }
        let pending = std::mem::take(&mut *lock(&self.pending));
        self.any_pending.store(false, Ordering::Relaxed);
        for (id, value) in pending {
            match value {
                Pending::Add(count) => stream.increment_counter(id, count),
                Pending::Set(value) => stream.set_gauge(id, value),
            }
        }
    }

    fn add(&self, handle: ConfigHandle, id: Option<usize>, count: u64) {
        let Some(id) = id else { return };
        if self.config_metrics.available() {
            self.config_metrics.increment(handle.ptr(), id, count);
        } else {
            lock(&self.pending).push((id, Pending::Add(count)));
            self.any_pending.store(true, Ordering::Relaxed);
        }
    }

    fn set(&self, handle: ConfigHandle, id: Option<usize>, value: u64) {
        let Some(id) = id else { return };
        if self.config_metrics.available() {
            self.config_metrics.set_gauge(handle.ptr(), id, value);
        } else {
            let mut pending = lock(&self.pending);
            pending.retain(|(other, _)| *other != id);
            pending.push((id, Pending::Set(value)));
            self.any_pending.store(true, Ordering::Relaxed);
        }
    }

    /// Logs the replay-cache warning a denial may call for (at most once a minute, as the .wasm).
    pub fn log_replay_refusal(&self, error: &crate::authenticator::error::AuthError, now: Time) {
        let warning = {
            let mut last = lock(&self.replay_logged);
            common::replay_cache_warning(&self.config, error, now, &mut last)
        };
        if let Some(warning) = warning {
            abi::log(LogLevel::Warn, &warning);
        }
    }
}

impl Installed {
    /// The configuration is going away (main thread): stop the ticker, delete the scheduler,
    /// and let the held requests go on their deadlines (their streams end with Envoy's).
    pub fn uninstall(mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
        let scheduler = lock(&self.gate.scheduler).take();
        if let Some(scheduler) = scheduler {
            // Taken out under the lock: no thread commits it any more.
            delete_config(scheduler);
        }
    }
}

fn commit_config(scheduler: SendPtr) {
    // SAFETY: callers pass a scheduler that is live (see `Gate::wake`).
    unsafe { abi::commit_config_scheduler(scheduler.0 as ConfigSchedulerPtr, 0) }
}

fn delete_config(scheduler: SendPtr) {
    // SAFETY: the scheduler was taken out of `Gate::scheduler`: nothing commits it any more.
    unsafe { abi::delete_config_scheduler(scheduler.0 as ConfigSchedulerPtr) }
}

fn commit_filter(scheduler: SendPtr, event: u64) {
    // SAFETY: the scheduler is in `Gate::held` (under its lock): its stream has not deleted it.
    unsafe { abi::commit_filter_scheduler(scheduler.0 as FilterSchedulerPtr, event) }
}

/// The key fetcher's host on the main thread: configuration-level callouts and metrics.
struct MainHost<'a> {
    gate: &'a Gate,
    handle: ConfigHandle,
}

impl KeyHost for MainHost<'_> {
    fn store(&self) -> &dyn SharedStore {
        &*STORE
    }

    fn start_fetch(
        &mut self,
        cluster: &str,
        uri: &HttpUri,
        timeout: Duration,
    ) -> Result<FetchId, String> {
        let headers: [(&str, &[u8]); 5] = [
            (":method", b"GET"),
            (":path", uri.path.as_bytes()),
            ("host", uri.authority.as_bytes()),
            ("accept", FETCH_ACCEPT.as_bytes()),
            ("user-agent", FETCH_USER_AGENT.as_bytes()),
        ];
        let timeout = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.handle
            .http_get(cluster, &headers, timeout)
            .map(FetchId)
            .map_err(|status| match status {
                abi::CALLOUT_INIT_CLUSTER_NOT_FOUND => format!(
                    "Envoy refused the call (ClusterNotFound): is there a cluster named {cluster:?}?"
                ),
                abi::CALLOUT_INIT_CANNOT_CREATE_REQUEST => format!(
                    "Envoy failed the call before sending it (CannotCreateRequest): cluster {cluster:?} has no healthy host to send it to. Check that its address resolves in DNS from Envoy, that it has endpoints, and its health checks and circuit breakers (cluster.{cluster}.upstream_cx_none_healthy counts these); TLS problems show as HTTP status 503 instead"
                ),
                abi::CALLOUT_INIT_MISSING_REQUIRED_HEADERS => {
                    "Envoy refused the call (MissingRequiredHeaders)".to_owned()
                }
                other => format!("Envoy refused the call (init result {other})"),
            })
    }

    fn log(&mut self, level: KeyLogLevel, message: &str) {
        key_log(level, message);
    }

    fn record(&mut self, stat: KeyStat) {
        let (gate, handle) = (self.gate, self.handle);
        let total = |index: usize| gate.counters.get(index).copied().flatten();
        common::record_key_stat(
            stat,
            [total(JWKS_FETCH_SUCCESS), total(JWKS_FETCH_FAILED)],
            &gate.providers,
            |id, count| gate.add(handle, id, count),
            |id, value| gate.set(handle, id, value),
        );
    }
}

/// The key fetcher's host on a worker, for [`KeyFetcher::hold`]: only the store (a hold asks
/// for a refetch through the shared record; the main thread's next tick fetches).
struct WorkerHost;

impl KeyHost for WorkerHost {
    fn store(&self) -> &dyn SharedStore {
        &*STORE
    }

    fn start_fetch(&mut self, _: &str, _: &HttpUri, _: Duration) -> Result<FetchId, String> {
        Err("fetches start on the main thread".to_owned())
    }

    fn log(&mut self, level: KeyLogLevel, message: &str) {
        key_log(level, message);
    }

    fn record(&mut self, _: KeyStat) {}
}

/// A key fetcher's line, in Envoy's log.
fn key_log(level: KeyLogLevel, message: &str) {
    let level = match level {
        KeyLogLevel::Debug => LogLevel::Debug,
        KeyLogLevel::Info => LogLevel::Info,
        KeyLogLevel::Warn => LogLevel::Warn,
    };
    abi::log(level, message);
}

/// The thread that wakes the main thread every [`TICK`].
struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(gate: &Arc<Gate>) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (gate, signal) = (Arc::downgrade(gate), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("jwt-gate-tick".to_owned())
            .spawn(move || loop {
                let (stopped, condvar) = &*signal;
                let guard = lock(stopped);
                let (guard, _) = condvar
                    .wait_timeout_while(guard, TICK, |stopped| !*stopped)
                    .unwrap_or_else(PoisonError::into_inner);
                if *guard {
                    return;
                }
                drop(guard);
                match gate.upgrade() {
                    Some(gate) => gate.wake(),
                    None => return,
                }
            })
            .ok();
        if thread.is_none() {
            abi::log(
                LogLevel::Error,
                "jwt-gate: cannot start the key ticker thread: remote keys are fetched only when requests wait for them",
            );
        }
        Self { stop, thread }
    }

    fn stop(mut self) {
        let (stopped, condvar) = &*self.stop;
        *lock(stopped) = true;
        condvar.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Random bytes (see `common::random`).
fn random<const N: usize>() -> [u8; N] {
    common::random(now())
}

/// The body of a callout's response, if the core finds it worth reading (`check_response`):
/// `status` from the `:status` header, `body` the chunks.
pub fn fetch_response(
    result: u32,
    status: Option<u32>,
    body: &[&[u8]],
    limits: &crate::limits::Limits,
) -> Result<Vec<u8>, FetchError> {
    match result {
        abi::CALLOUT_SUCCESS => {}
        abi::CALLOUT_EXCEEDED_BUFFER_LIMIT => {
            return Err(FetchError::BodyTooLarge(
                limits.max_key_set_bytes.saturating_add(1),
            ))
        }
        _ => return Err(FetchError::NoResponse),
    }
    let size = body.iter().map(|chunk| chunk.len()).sum();
    check_response(status, size, limits)?;
    Ok(body.concat())
}
