//! Bounds on everything an attacker (or a misbehaving identity provider) controls.
//!
//! One place, one reason per limit. The values are deliberately generous for real traffic and
//! small enough that no single request or key set can exhaust a VM's memory.

/// Size limits applied before any decoding or parsing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Longest token accepted, in bytes of its compact form. Envoy's default limit on all request
    /// headers together is 60 KiB, so no token that Envoy lets through is refused for size; the
    /// bound exists for query parameters and hosts with larger header limits.
    pub max_token_bytes: usize,
    /// Most tokens one request may carry across all configured locations (each must verify).
    pub max_tokens_per_request: usize,
    /// Largest key set document accepted (JWKS, x509 map, PEM or symmetric key), in bytes.
    /// Real JWKS documents are a few KiB; Google's x509 maps are under 10 KiB.
    pub max_key_set_bytes: usize,
    /// Most keys kept from one key set; the rest are ignored. Providers publish 2 to 10.
    pub max_keys: usize,
    /// Deepest JSON nesting accepted in token headers, payloads, key sets and configuration.
    pub max_json_depth: usize,
}

impl Limits {
    /// The limits jwt-gate runs with.
    pub const DEFAULT: Self = Self {
        max_token_bytes: 64 * 1024,
        max_tokens_per_request: 8,
        max_key_set_bytes: 512 * 1024,
        max_keys: 256,
        max_json_depth: 32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
