//! A [`SharedStore`] in process memory, with proxy-wasm shared data's semantics exactly (see
//! [`crate::keys::host`]): the store of a host whose instances share one address space (a
//! native module's worker threads), and of the key fetcher's simulation tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::keys::host::{Cas, SharedStore, StoreError, Stored};

/// Keys to values and their compare-and-swap tokens, behind a lock: share it by `Arc` (or a
/// reference) between threads.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

#[derive(Clone, Debug, Default)]
struct Entries {
    /// Ordered, so that nothing depends on a hasher's seed.
    values: BTreeMap<String, (Vec<u8>, Cas)>,
    /// The token of the latest write (tokens are never 0, as proxy-wasm's).
    last_cas: u32,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key with its value (empty for an emptied key), in key order: for tests and
    /// diagnostics.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        self.lock()
            .values
            .iter()
            .map(|(key, (value, _))| (key.clone(), value.clone()))
            .collect()
    }

    /// A lock that outlives a panic elsewhere: the map is consistent after every statement.
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A copy of the store as it is now, tokens included: a simulation's view of the store from a
/// moment ago (an instance that read before another wrote).
impl Clone for MemoryStore {
    fn clone(&self) -> Self {
        Self {
            entries: Mutex::new(self.lock().clone()),
        }
    }
}

impl Entries {
    fn write(&mut self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        if let (Some(expected), Some((_, current))) = (cas, self.values.get(key)) {
            if expected != *current {
                return Err(StoreError::CasMismatch);
            }
        }
        self.last_cas = self.last_cas.checked_add(1).unwrap_or(1);
        self.values
            .insert(key.to_owned(), (value.to_vec(), Cas(self.last_cas)));
        Ok(())
    }
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> Stored {
        match self.lock().values.get(key) {
            Some((value, cas)) => Stored {
                value: (!value.is_empty()).then(|| value.clone()),
                cas: Some(*cas),
            },
            None => Stored::default(),
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        value: &[u8],
        cas: Option<Cas>,
    ) -> Result<(), StoreError> {
        self.lock().write(key, value, cas)
    }

    fn empty(&self, key: &str, cas: Cas) -> Result<(), StoreError> {
        self.lock().write(key, &[], Some(cas))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_swap_as_proxy_wasm_does_it() {
        let store = MemoryStore::new();
        assert_eq!(store.get("k"), Stored::default());
        // No create-if-absent: a token is only checked against an existing key.
        store.compare_and_swap("k", b"a", Some(Cas(42))).unwrap();
        let first = store.get("k");
        assert_eq!(first.value.as_deref(), Some(&b"a"[..]));
        let cas = first.cas.unwrap();
        store.compare_and_swap("k", b"b", Some(cas)).unwrap();
        assert_eq!(
            store.compare_and_swap("k", b"c", Some(cas)),
            Err(StoreError::CasMismatch),
            "a stale token loses"
        );
        store.compare_and_swap("k", b"d", None).unwrap();
        let current = store.get("k").cas.unwrap();
        assert_eq!(store.empty("k", cas), Err(StoreError::CasMismatch));
        store.empty("k", current).unwrap();
        let emptied = store.get("k");
        assert_eq!(emptied.value, None, "emptied reads as no value");
        assert!(emptied.cas.is_some(), "but the key stays");
        assert_eq!(store.snapshot(), [("k".to_owned(), Vec::new())]);
    }

    #[test]
    fn tokens_are_never_zero() {
        let store = MemoryStore::new();
        store.lock().last_cas = u32::MAX;
        store.compare_and_swap("k", b"a", None).unwrap();
        assert_eq!(store.get("k").cas, Some(Cas(1)));
    }
}
