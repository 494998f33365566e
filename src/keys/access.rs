//! How the authenticator sees remote keys: the seam between a request and the key fetcher.
//! [`RemoteKeys`] answers "what are provider P's keys now", and [`Wait`] is what a request that
//! cannot be decided yet waits for. The fetcher ([`crate::keys::fetcher`]) implements the one,
//! holds the requests that return the other.

use crate::keys::KeySet;

/// The remote providers' keys, as the instance deciding a request has them.
pub trait RemoteKeys {
    /// Provider `provider`'s keys (only asked for `remote_jwks` providers).
    fn key_set(&self, provider: usize) -> KeyAccess<'_>;
}

/// A remote provider's keys at the time of a request.
#[derive(Clone, Copy, Debug)]
pub enum KeyAccess<'a> {
    /// Keys to verify with; `kid_refetch_allowed`: an unknown `kid` may wait for a refetch.
    Ready {
        /// The keys.
        keys: &'a KeySet,
        /// Their version (a cached verdict is only good for the version it was reached with).
        version: u64,
        /// Whether a request may wait for a refetch.
        kid_refetch_allowed: bool,
    },
    /// Not here yet, worth waiting for.
    Pending,
    /// Not to be had: `Jwks remote fetch is failed`.
    Failed,
}

/// For configurations with local keys only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRemoteKeys;

impl RemoteKeys for NoRemoteKeys {
    fn key_set(&self, _provider: usize) -> KeyAccess<'_> {
        KeyAccess::Failed
    }
}

/// What a held request waits for.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Wait {
    /// The provider's first key set.
    Keys(usize),
    /// A refetch of the provider's keys, because a token's `kid` is not in them.
    KidRefetch(usize),
}

impl Wait {
    /// The provider waited for.
    pub fn provider(self) -> usize {
        match self {
            Self::Keys(provider) | Self::KidRefetch(provider) => provider,
        }
    }
}
