//! The cache of verified tokens (ESP: "five minutes or until the token expires, whichever is
//! first"). A hit skips parsing and the signature check; the claims that depend on time, issuer
//! and audience are re-checked on every hit. Entries are keyed by a SHA-256 of the whole token
//! and the provider, and remember the key set version they were verified with: a rotation makes
//! them misses. Bounded: the oldest entry goes first. One cache per VM and per configuration.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use crate::time::UnixTime;
use crate::token::Claims;

/// How long a verified token is trusted without a new signature check, at most.
pub const MAX_AGE_SECONDS: u64 = 300;

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
}

/// A bounded map from (token, provider) to what verifying it established.
#[derive(Debug, Default)]
pub struct TokenCache {
    capacity: usize,
    max_token_bytes: usize,
    entries: HashMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
}

#[derive(Debug)]
struct Entry {
    key_version: u64,
    cached_until: u64,
    verified: Rc<Verified>,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens of at most `max_token_bytes` each (0: disabled).
    pub fn new(capacity: usize, max_token_bytes: usize) -> Self {
        Self {
            capacity,
            max_token_bytes,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// What verifying `token` for `provider` with keys of `key_version` established, if it is
    /// cached and fresh.
    pub fn get(
        &self,
        token: &str,
        provider: usize,
        key_version: u64,
        now: UnixTime,
    ) -> Option<Rc<Verified>> {
        if self.capacity == 0 {
            return None;
        }
        let entry = self.entries.get(&digest(token, provider))?;
        (entry.key_version == key_version && now.seconds() < entry.cached_until)
            .then(|| Rc::clone(&entry.verified))
    }

    /// Remembers a token that verified.
    pub fn insert(
        &mut self,
        token: &str,
        provider: usize,
        key_version: u64,
        now: UnixTime,
        verified: Rc<Verified>,
    ) {
        if self.capacity == 0 || token.len() > self.max_token_bytes {
            return;
        }
        let key = digest(token, provider);
        let entry = Entry {
            key_version,
            cached_until: now.saturating_add(MAX_AGE_SECONDS).seconds(),
            verified,
        };
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

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn digest(token: &str, provider: usize) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&u64::try_from(provider).unwrap_or(u64::MAX).to_be_bytes());
    context.update(token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(sub: &str) -> Rc<Verified> {
        Rc::new(Verified {
            claims: Claims {
                sub: Some(sub.into()),
                ..Claims::default()
            },
            claim_headers: Vec::new(),
            scopes: Vec::new(),
            payload_header: None,
        })
    }

    #[test]
    fn hits_only_for_the_same_token_provider_and_key_version() {
        let mut cache = TokenCache::new(10, 100);
        let now = UnixTime(1_000);
        cache.insert("a.b.c", 0, 1, now, verified("x"));
        assert!(cache.get("a.b.c", 0, 1, now).is_some());
        assert!(cache.get("a.b.d", 0, 1, now).is_none());
        assert!(cache.get("a.b.c", 1, 1, now).is_none(), "another provider");
        assert!(cache.get("a.b.c", 0, 2, now).is_none(), "rotated keys");
        assert!(
            cache
                .get("a.b.c", 0, 1, UnixTime(1_000 + MAX_AGE_SECONDS))
                .is_none(),
            "too old"
        );
    }

    #[test]
    fn bounded_oldest_first_and_size_limited() {
        let mut cache = TokenCache::new(2, 10);
        let now = UnixTime(0);
        for token in ["t1", "t2", "t3"] {
            cache.insert(token, 0, 0, now, verified(token));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("t1", 0, 0, now).is_none());
        assert!(cache.get("t3", 0, 0, now).is_some());
        cache.insert("much-too-long-token", 0, 0, now, verified("x"));
        assert!(cache.get("much-too-long-token", 0, 0, now).is_none());
        let mut disabled = TokenCache::new(0, 10);
        disabled.insert("t1", 0, 0, now, verified("x"));
        assert!(disabled.is_empty());
    }
}
