//! The DPoP replay cache: the proofs seen within their acceptance window, in the store every
//! instance of the process shares ([`SharedStore`], the key fetcher's), so that a proof
//! accepted by one worker is refused by every other (RFC 9449 §11.1).
//!
//! Bounded: at most `max_entries` proofs, spread by hash over up to [`MAX_SLICES`] store keys
//! ("slices") of `max_entries / slices` entries each, so that a check copies one small value,
//! not the whole cache. An entry goes once its proof's window has passed (pruned whenever its
//! slice is written). A full slice refuses new proofs until entries expire: failing closed, so
//! that filling the cache never turns replay detection off.
//!
//! The store has no create-if-absent (see [`crate::keys::host`]): a write to a missing key is
//! unconditional, so two instances creating one slice at once could lose an entry. Slices are
//! therefore created empty ([`ReplayCache::prepare`], at configure time, before requests), and
//! entries are only ever written by compare-and-swap onto a slice that exists.

use crate::keys::host::{SharedStore, StoreError};
use crate::time::Time;

/// Most store keys the cache is spread over.
pub const MAX_SLICES: usize = 1024;

/// Entries per slice the cache aims at (a slice of 128 entries is 2 KiB to copy).
const TARGET_PER_SLICE: usize = 128;

/// Compare-and-swap attempts per check before the store counts as unavailable.
const ATTEMPTS: usize = 8;

/// Bytes per entry: the proof's 64-bit identity, then its expiry (seconds), little-endian.
const ENTRY: usize = 16;

/// The cache's shape; its entries are in the store.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ReplayCache {
    slices: usize,
    per_slice: usize,
}

/// What recording a proof found.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Recorded {
    /// Not seen within its window: recorded now.
    New,
    /// Seen before, and its window has not passed.
    Replayed,
    /// Its slice is full of live entries: refused, not recorded.
    Full,
    /// The store refused the write, or other writers kept winning.
    Unavailable,
}

impl ReplayCache {
    /// A cache of at most `max_entries` proofs (at least one).
    pub fn new(max_entries: usize) -> Self {
        let max_entries = max_entries.max(1);
        let slices = (max_entries / TARGET_PER_SLICE).clamp(1, MAX_SLICES);
        Self {
            slices,
            per_slice: max_entries / slices,
        }
    }

    /// How many proofs it holds at most.
    pub fn capacity(self) -> usize {
        self.slices.saturating_mul(self.per_slice)
    }

    /// Creates the slices that do not exist yet, empty (an instance does this before it
    /// serves requests; see the module documentation).
    pub fn prepare(self, store: &dyn SharedStore) {
        for slice in 0..self.slices {
            let key = self.slice_key(slice);
            if store.get(&key).cas.is_none() {
                let _ = store.compare_and_swap(&key, &[], None);
            }
        }
    }

    /// Records the proof `id` (a SHA-256 of what identifies it), acceptable until
    /// `expires_at` (seconds), unless it is there already.
    pub fn record(
        self,
        store: &dyn SharedStore,
        id: &[u8; 32],
        expires_at: u64,
        now: Time,
    ) -> Recorded {
        let (key, entry) = self.locate(id);
        for _ in 0..ATTEMPTS {
            let stored = store.get(&key);
            let Some(cas) = stored.cas else {
                // Not prepared (a host that skipped `prepare`): create it empty, then retry.
                if store.compare_and_swap(&key, &[], None).is_err() {
                    return Recorded::Unavailable;
                }
                continue;
            };
            let mut entries = live(stored.value.as_deref().unwrap_or_default(), now);
            if entries.iter().any(|&(seen, _)| seen == entry) {
                return Recorded::Replayed;
            }
            if entries.len() >= self.per_slice {
                return Recorded::Full;
            }
            entries.push((entry, expires_at));
            match store.compare_and_swap(&key, &encode(&entries), Some(cas)) {
                Ok(()) => return Recorded::New,
                Err(StoreError::CasMismatch) => continue,
                Err(StoreError::Refused) => return Recorded::Unavailable,
            }
        }
        Recorded::Unavailable
    }

    /// Removes the proof `id` again (a request that recorded it, then had to wait, will record
    /// it when it is decided). Best effort: a write that keeps losing leaves it.
    pub fn forget(self, store: &dyn SharedStore, id: &[u8; 32], now: Time) {
        let (key, entry) = self.locate(id);
        for _ in 0..ATTEMPTS {
            let stored = store.get(&key);
            let Some(cas) = stored.cas else {
                return;
            };
            let mut entries = live(stored.value.as_deref().unwrap_or_default(), now);
            let before = entries.len();
            entries.retain(|&(seen, _)| seen != entry);
            if entries.len() == before {
                return;
            }
            match store.compare_and_swap(&key, &encode(&entries), Some(cas)) {
                Err(StoreError::CasMismatch) => continue,
                Ok(()) | Err(StoreError::Refused) => return,
            }
        }
    }

    /// The slice's store key and the entry's identity within it.
    fn locate(self, id: &[u8; 32]) -> (String, u64) {
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            if let Some(part) = id.get(at..at + 8) {
                bytes.copy_from_slice(part);
            }
            u64::from_le_bytes(bytes)
        };
        let slices = u64::try_from(self.slices).unwrap_or(1).max(1);
        let slice = usize::try_from(word(8) % slices).unwrap_or(0);
        (self.slice_key(slice), word(0))
    }

    /// Named by the format and the number of slices: caches of another shape never read each
    /// other's bytes.
    fn slice_key(self, slice: usize) -> String {
        format!("jwt-gate.dpop-jti.v1.{}.{slice}", self.slices)
    }
}

/// The entries of a slice whose expiry is still ahead of `now`.
fn live(bytes: &[u8], now: Time) -> Vec<(u64, u64)> {
    let word = |bytes: &[u8]| {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(word)
    };
    bytes
        .chunks_exact(ENTRY)
        .map(|entry| (word(entry), word(entry.get(8..).unwrap_or_default())))
        .filter(|&(_, expires_at)| expires_at > now.seconds())
        .collect()
}

fn encode(entries: &[(u64, u64)]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(entries.len().saturating_mul(ENTRY));
    for (entry, expires_at) in entries {
        bytes.extend_from_slice(&entry.to_le_bytes());
        bytes.extend_from_slice(&expires_at.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::host::{Cas, Stored};
    use crate::keys::memory_store::MemoryStore;

    fn id(n: u8) -> [u8; 32] {
        let mut id = [n; 32];
        id[8..16].copy_from_slice(&[0; 8]); // one slice for every id: they compete
        id
    }

    #[test]
    fn a_proof_is_new_once_then_replayed_until_it_expires() {
        let store = MemoryStore::new();
        let cache = ReplayCache::new(10);
        cache.prepare(&store);
        let now = Time::from_seconds(1_000);
        assert_eq!(cache.record(&store, &id(1), 1_060, now), Recorded::New);
        assert_eq!(cache.record(&store, &id(1), 1_060, now), Recorded::Replayed);
        let later = Time::from_seconds(1_059);
        assert_eq!(
            cache.record(&store, &id(1), 1_060, later),
            Recorded::Replayed
        );
        let expired = Time::from_seconds(1_060);
        assert_eq!(cache.record(&store, &id(1), 1_120, expired), Recorded::New);
    }

    #[test]
    fn bounded_full_until_entries_expire() {
        let store = MemoryStore::new();
        let cache = ReplayCache::new(3);
        assert_eq!(cache.capacity(), 3);
        cache.prepare(&store);
        let now = Time::from_seconds(0);
        for n in 1..=3 {
            assert_eq!(cache.record(&store, &id(n), 10, now), Recorded::New);
        }
        assert_eq!(cache.record(&store, &id(4), 10, now), Recorded::Full);
        assert_eq!(cache.record(&store, &id(1), 10, now), Recorded::Replayed);
        let expired = Time::from_seconds(10);
        assert_eq!(cache.record(&store, &id(4), 20, expired), Recorded::New);
        let (key, _) = cache.locate(&id(4));
        let stored = store.get(&key).value.unwrap();
        assert_eq!(stored.len(), ENTRY, "expired entries are pruned");
    }

    #[test]
    fn shape_follows_the_bound() {
        assert_eq!(ReplayCache::new(0).capacity(), 1);
        let default = ReplayCache::new(100_000);
        assert_eq!((default.slices, default.per_slice), (781, 128));
        assert!(default.capacity() <= 100_000);
        let big = ReplayCache::new(1_000_000);
        assert_eq!(big.slices, MAX_SLICES);
        assert!(big.capacity() <= 1_000_000);
    }

    #[test]
    fn forget_removes_only_that_proof() {
        let store = MemoryStore::new();
        let cache = ReplayCache::new(10);
        cache.prepare(&store);
        let now = Time::from_seconds(0);
        cache.record(&store, &id(1), 10, now);
        cache.record(&store, &id(2), 10, now);
        cache.forget(&store, &id(1), now);
        assert_eq!(cache.record(&store, &id(2), 10, now), Recorded::Replayed);
        assert_eq!(cache.record(&store, &id(1), 10, now), Recorded::New);
    }

    #[test]
    fn of_instances_racing_with_one_proof_exactly_one_records_it() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let cache = ReplayCache::new(1_000);
        cache.prepare(store.as_ref());
        let now = Time::from_seconds(0);
        let verdicts: Vec<Recorded> = (0..8)
            .map(|_| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || cache.record(store.as_ref(), &id(9), 10, now))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect();
        let new = verdicts.iter().filter(|v| **v == Recorded::New).count();
        assert_eq!(new, 1, "{verdicts:?}");
        assert!(verdicts
            .iter()
            .all(|v| matches!(v, Recorded::New | Recorded::Replayed)));
    }

    /// A store whose every write loses a race, or is refused.
    struct Contended(Result<(), StoreError>);

    impl SharedStore for Contended {
        fn get(&self, _key: &str) -> Stored {
            Stored {
                value: None,
                cas: Some(Cas(1)),
            }
        }
        fn compare_and_swap(&self, _: &str, _: &[u8], _: Option<Cas>) -> Result<(), StoreError> {
            self.0
        }
        fn empty(&self, _: &str, _: Cas) -> Result<(), StoreError> {
            self.0
        }
    }

    #[test]
    fn a_store_that_fails_is_unavailable_never_new() {
        let cache = ReplayCache::new(10);
        let now = Time::from_seconds(0);
        for store in [
            Contended(Err(StoreError::CasMismatch)),
            Contended(Err(StoreError::Refused)),
        ] {
            assert_eq!(cache.record(&store, &id(1), 10, now), Recorded::Unavailable);
        }
    }

    #[test]
    fn an_unprepared_slice_is_created_then_written() {
        let store = MemoryStore::new();
        let cache = ReplayCache::new(10);
        let now = Time::from_seconds(0);
        assert_eq!(cache.record(&store, &id(1), 10, now), Recorded::New);
        assert_eq!(cache.record(&store, &id(1), 10, now), Recorded::Replayed);
    }
}
