//! The cache of verified tokens (ESP: "five minutes or until the token expires, whichever is
//! first"). A hit skips parsing and the signature check; the claims that depend on time, issuer
//! and audience are re-checked on every hit. Entries are found by a keyed SipHash of the provider
//! and the token's last [`HASHED_TAIL`] bytes (keys drawn by the host per cache, so collisions
//! cannot be aimed at) and hold the whole token, compared in full: a hit costs a short hash and
//! one comparison, where a cryptographic digest of the token cost several times more in wasm.
//! Only the tail is hashed because it is the signature, which a client cannot choose for a token
//! that verifies (and only such tokens are cached); tokens sharing a tail only share a slot,
//! never an answer. Each entry remembers the key set version it was verified with: a rotation
//! makes it a miss. Bounded: the oldest entry goes first. One cache per VM and per configuration.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use siphasher::sip::SipHasher13;

use crate::time::Time;
use crate::token::confirmation::Confirmation;
use crate::token::Claims;

/// How long a verified token is trusted without a new signature check, at most.
pub const MAX_AGE_SECONDS: u64 = 300;

/// How many of a token's last bytes its cache key is computed from: 24 characters of signature
/// (over 140 bits) tell genuine tokens apart; more only lengthen the hash of every lookup.
pub const HASHED_TAIL: usize = 24;

/// What a hit gives back: enough to re-check the claims and produce the outputs.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Verified {
    /// The registered claims.
    pub claims: Claims,
    /// `claim_to_headers` values, computed once.
    pub claim_headers: Vec<(String, Vec<u8>)>,
    /// The scopes the token grants (`scope` or `scp`), for routes with `allowed_scopes`.
    pub scopes: Vec<String>,
    /// The `forward_payload_header` value when it is not the payload segment itself (ESP v1's
    /// user-info format), computed once.
    pub payload_header: Option<Vec<u8>>,
    /// What `cnf` binds the token to (checked on every request, hit or miss).
    pub confirmation: Confirmation,
    /// The whole payload, kept when some rule has `when` conditions (which read any claim, on
    /// hits too); `None` otherwise.
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A bounded map from (token, provider) to what verifying it established.
#[derive(Debug, Default)]
pub struct TokenCache {
    capacity: usize,
    max_token_bytes: usize,
    hasher: SipHasher13,
    /// Keyed by the SipHash already: the map does not hash again.
    entries: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
    order: VecDeque<u64>,
    counts: Counts,
}

/// Lookups since the host adapter last took them (for its hit and miss counters).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Counts {
    /// Lookups that found a fresh entry.
    pub hits: u64,
    /// Lookups that did not (absent, another key set version, or too old).
    pub misses: u64,
}

#[derive(Debug)]
struct Entry {
    provider: usize,
    token: Box<str>,
    key_version: u64,
    cached_until: u64,
    verified: Arc<Verified>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens of at most `max_token_bytes` each (0: disabled),
    /// keyed with `seed`: secret random bytes the host draws, so that an attacker cannot aim
    /// tokens at one slot.
    pub fn new(capacity: usize, max_token_bytes: usize, seed: [u8; 16]) -> Self {
        Self {
            capacity,
            max_token_bytes,
            hasher: SipHasher13::new_with_key(&seed),
            ..Self::default()
        }
    }

    /// What verifying `token` for `provider` with keys of `key_version` established, if it is
    /// cached and fresh.
    pub fn get(
        &mut self,
        token: &str,
        provider: usize,
        key_version: u64,
        now: Time,
    ) -> Option<Arc<Verified>> {
        if self.capacity == 0 {
            return None;
        }
        let hit = self
            .entries
            .get(&self.key(token, provider))
            .filter(|entry| {
                entry.provider == provider
                    && same_bytes(entry.token.as_bytes(), token.as_bytes())
                    && entry.key_version == key_version
                    && now.seconds() < entry.cached_until
            })
            .map(|entry| Arc::clone(&entry.verified));
        if hit.is_some() {
            self.counts.hits = self.counts.hits.saturating_add(1);
        } else {
            self.counts.misses = self.counts.misses.saturating_add(1);
        }
        hit
    }

    /// Remembers a token that verified.
    pub fn insert(
        &mut self,
        token: &str,
        provider: usize,
        key_version: u64,
        now: Time,
        verified: Arc<Verified>,
    ) {
        if self.capacity == 0 || token.len() > self.max_token_bytes {
            return;
        }
        let key = self.key(token, provider);
        let entry = Entry {
            provider,
            token: token.into(),
            key_version,
            cached_until: now.seconds().saturating_add(MAX_AGE_SECONDS),
            verified,
        };
        // A colliding token (same key, other bytes) replaces the entry it collides with.
        if self.entries.insert(key, entry).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// The hits and misses counted since the last call.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key(&self, token: &str, provider: usize) -> u64 {
        let bytes = token.as_bytes();
        let tail = bytes
            .get(bytes.len().saturating_sub(HASHED_TAIL)..)
            .unwrap_or(bytes);
        let mut hasher = self.hasher;
        (provider, bytes.len(), tail).hash(&mut hasher);
        hasher.finish()
    }
}

/// The identity hash for keys that are SipHash values already.
#[derive(Clone, Copy, Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Byte equality: in wasm eight bytes at a time (wasi-libc's `memcmp` goes byte by byte, and a
/// cache hit compares a whole token); natively libc's `memcmp`, a vector at a time.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if cfg!(not(target_arch = "wasm32")) {
        return a == b;
    }
    let (words_a, words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let (rest_a, rest_b) = (words_a.remainder(), words_b.remainder());
    rest_a == rest_b
        && words_a.zip(words_b).all(|(x, y)| {
            u64::from_ne_bytes(x.try_into().unwrap_or_default())
                == u64::from_ne_bytes(y.try_into().unwrap_or_default())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(sub: &str) -> Arc<Verified> {
        Arc::new(Verified {
            claims: Claims {
                sub: Some(sub.into()),
                ..Claims::default()
            },
            claim_headers: Vec::new(),
            scopes: Vec::new(),
            payload_header: None,
            confirmation: Confirmation::default(),
            payload: None,
        })
    }

    #[test]
    fn hits_only_for_the_same_token_provider_and_key_version() {
        let mut cache = TokenCache::new(10, 100, [7; 16]);
        let now = Time::from_seconds(1_000);
        cache.insert("a.b.c", 0, 1, now, verified("x"));
        assert!(cache.get("a.b.c", 0, 1, now).is_some());
        assert!(cache.get("a.b.d", 0, 1, now).is_none());
        assert!(cache.get("a.b.c", 1, 1, now).is_none(), "another provider");
        assert!(cache.get("a.b.c", 0, 2, now).is_none(), "rotated keys");
        assert!(
            cache
                .get("a.b.c", 0, 1, Time::from_seconds(1_000 + MAX_AGE_SECONDS))
                .is_none(),
            "too old"
        );
    }

    #[test]
    fn an_entry_is_a_hit_only_for_its_own_bytes() {
        let mut cache = TokenCache::new(10, 100, [7; 16]);
        let now = Time::from_seconds(0);
        cache.insert("a.b.c", 0, 0, now, verified("x"));
        // Force what a hash collision would look like: another token under the same key.
        let key = cache.key("a.b.c", 0);
        let stolen = cache.entries.remove(&key);
        if let Some(entry) = stolen {
            cache.entries.insert(cache.key("a.b.X", 0), entry);
        }
        assert!(cache.get("a.b.X", 0, 0, now).is_none());
        assert!(cache.get("a.b.c", 0, 0, now).is_none());
    }

    #[test]
    fn tokens_sharing_a_tail_share_a_slot_not_an_answer() {
        let mut cache = TokenCache::new(10, 1_000, [7; 16]);
        let now = Time::from_seconds(0);
        let tail = "s".repeat(HASHED_TAIL);
        let (a, b) = (format!("a.x.{tail}"), format!("b.x.{tail}"));
        assert_eq!(cache.key(&a, 0), cache.key(&b, 0));
        cache.insert(&a, 0, 0, now, verified("a"));
        assert!(cache.get(&b, 0, 0, now).is_none());
        assert_eq!(
            cache.get(&a, 0, 0, now).map(|v| v.claims.sub.clone()),
            Some(Some("a".into()))
        );
        assert_ne!(
            cache.key("a.b.c", 0),
            cache.key("a.b.cc", 0),
            "length is hashed"
        );
    }

    #[test]
    fn word_wise_equality() {
        let base: Vec<u8> = (0..=40).collect();
        for len in 0..=base.len() {
            let a = base.get(..len).unwrap_or_default();
            assert!(same_bytes(a, a));
            for flip in 0..len {
                let mut b = a.to_vec();
                if let Some(byte) = b.get_mut(flip) {
                    *byte ^= 1;
                }
                assert!(!same_bytes(a, &b), "len {len}, byte {flip}");
            }
        }
        assert!(!same_bytes(b"abc", b"abcd"));
    }

    #[test]
    fn bounded_oldest_first_and_size_limited() {
        let mut cache = TokenCache::new(2, 10, [7; 16]);
        let now = Time::from_seconds(0);
        for token in ["t1", "t2", "t3"] {
            cache.insert(token, 0, 0, now, verified(token));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("t1", 0, 0, now).is_none());
        assert!(cache.get("t3", 0, 0, now).is_some());
        assert_eq!(cache.take_counts(), Counts { hits: 1, misses: 1 });
        assert_eq!(cache.take_counts(), Counts::default());
        cache.insert("much-too-long-token", 0, 0, now, verified("x"));
        assert!(cache.get("much-too-long-token", 0, 0, now).is_none());
        let mut disabled = TokenCache::new(0, 10, [7; 16]);
        disabled.insert("t1", 0, 0, now, verified("x"));
        assert!(disabled.is_empty());
    }
}
