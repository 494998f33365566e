//! Bounds on everything an attacker (or a misbehaving identity provider, or a careless
//! configuration) controls.
//!
//! One place, one reason per limit. The values are deliberately generous for real traffic and
//! small enough that no single request, key set or configuration can exhaust a VM's memory. The
//! compiled configuration carries one [`Limits`] value (`Config::limits`), and every bound on the
//! request path, the key fetch path and the host adapters is read from it.

/// Size limits applied before any decoding or parsing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Longest token accepted, in bytes of its compact form. Envoy's default limit on all request
    /// headers together is 60 KiB, so no token that Envoy lets through is refused for size; the
    /// bound exists for query parameters and hosts with larger header limits.
    pub max_token_bytes: usize,
    /// Longest DPoP proof accepted (the `DPoP` header), in bytes. A proof is a short JWS with
    /// its public key inside: under 5 KiB with an 8192-bit RSA key.
    pub max_dpop_proof_bytes: usize,
    /// Most tokens one request may carry across all configured locations (each must verify).
    pub max_tokens_per_request: usize,
    /// Longest API key read from a request (a key is hashed; a longer one is not a key).
    pub max_api_key_bytes: usize,
    /// Largest key set document accepted (JWKS, x509 map, PEM or symmetric key), in bytes; also
    /// the largest key-fetch response body read. Real JWKS documents are a few KiB; Google's x509
    /// maps are under 10 KiB.
    pub max_key_set_bytes: usize,
    /// Most keys kept from one key set; the rest are ignored. Providers publish 2 to 10.
    pub max_keys: usize,
    /// Deepest JSON nesting accepted in token headers, payloads, key sets and discovery
    /// documents.
    pub max_json_depth: usize,
    /// Deepest JSON nesting accepted in a plugin configuration (OpenAPI documents nest deeper
    /// than tokens).
    pub max_configuration_json_depth: usize,
    /// Largest compiled program of one configured regex, in bytes (RE2's own default budget is
    /// of this order): a pathological pattern is refused at load, never slow at request time.
    pub max_regex_program_bytes: usize,
    /// Most verified tokens one VM's cache may keep, whatever `jwt_cache_size` says.
    pub max_token_cache_entries: usize,
    /// Most requests one VM holds while keys are on their way; more are answered at once.
    pub max_held_requests: usize,
    /// Most plugin configurations the shared key registry lists (older ones are dropped from it).
    pub max_registered_configurations: usize,
    /// Most retired configurations whose key records one registry check-in empties.
    pub max_retired_per_check_in: usize,
}

impl Limits {
    /// The limits jwt-gate runs with.
    pub const DEFAULT: Self = Self {
        max_token_bytes: 64 * 1024,
        max_dpop_proof_bytes: 8 * 1024,
        max_tokens_per_request: 8,
        max_api_key_bytes: 4 * 1024,
        max_key_set_bytes: 512 * 1024,
        max_keys: 256,
        max_json_depth: 32,
        max_configuration_json_depth: 64,
        max_regex_program_bytes: 1 << 20,
        max_token_cache_entries: 100_000,
        max_held_requests: 10_000,
        max_registered_configurations: 1_024,
        max_retired_per_check_in: 8,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
