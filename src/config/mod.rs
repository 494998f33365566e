//! The plugin configuration, parsed in one place. Loading runs in three steps, one module each:
//! `load` picks the form ([`Config::from_json`]: jwt_authn's JSON, the OpenAPI form
//! `{"openapi": ...}`, or a bare OpenAPI 2.0 document); `read` (jwt_authn's JSON, over the strict
//! `walk`) or a translator (`crate::translate`) produces the jwt_authn-form document
//! ([`model::JwtAuthentication`]); `compile` checks it and builds the immutable [`Config`] below,
//! which is all the request path reads.
//!
//! Every error names the field at fault: `providers.auth0.audiences: expected a list of strings`.

pub(crate) mod compile;
mod error;
mod load;
pub mod model;
pub(crate) mod read;
pub(crate) mod walk;

use std::sync::Arc;

use crate::keys::remote::RemoteJwks;
use crate::keys::replay::ReplayCache;
use crate::keys::KeySet;
use crate::limits::Limits;
use crate::policy::api_key::ApiKeyCheck;
use crate::policy::binding::DpopPolicy;
use crate::policy::claims::ClaimRules;
use crate::policy::condition::Condition;
use crate::policy::requirement::Requirement;
use crate::policy::route::RouteMatch;
use crate::token::claims::ClaimLookup;
use crate::token::extractor::Location;

pub use error::{ConfigError, ConfigErrorKind, ConfigWarning};
pub use model::{FailureFormat, PayloadFormat, VerifierChoice};

/// The header `x_forwarded_authorization` writes (ESPv2's backend-auth header move).
pub const X_FORWARDED_AUTHORIZATION: &str = "x-forwarded-authorization";

/// The header `http_method_override` takes the method from.
pub const X_HTTP_METHOD_OVERRIDE: &str = "x-http-method-override";

/// A compiled configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Providers, in name order; requirements refer to them by index.
    pub providers: Vec<Provider>,
    /// Every distinct token location of every provider; providers refer to them by index.
    pub locations: Vec<Location>,
    /// Route rules; the first that matches decides.
    pub rules: Vec<Rule>,
    /// jwt-gate's `api_keys`: API key checks requirements name with `api_key_name`.
    pub api_keys: Vec<ApiKeyCheck>,
    /// Let CORS preflight requests through unchecked.
    pub bypass_cors_preflight: bool,
    /// Deny with the status code only: no body, no `WWW-Authenticate`.
    pub strip_failure_response: bool,
    /// Extra name segment for this filter's counters.
    pub stat_prefix: String,
    /// Every header jwt-gate writes or obeys (`forward_payload_header`, `claim_to_headers`,
    /// `x-forwarded-authorization`, `x-http-method-override`), lower case: incoming copies, and
    /// spellings with `_` for `-`, are removed from every request.
    pub output_headers: Vec<String>,
    /// Size limits.
    pub limits: Limits,
    /// Who checks RS*/ES* signatures (jwt-gate's extension `signature_verifier`).
    pub signature_verifier: VerifierChoice,
    /// Verified tokens kept per VM (the largest `jwt_cache_config.jwt_cache_size`; 0: off).
    pub token_cache_size: usize,
    /// Tokens longer than this are not cached (the largest `jwt_max_token_size`).
    pub token_cache_max_token_bytes: usize,
    /// How failures are written (jwt-gate's `failure_response_format`).
    pub failure_response_format: FailureFormat,
    /// Copy the request's `Authorization` to `X-Forwarded-Authorization` (jwt-gate's
    /// `x_forwarded_authorization`, ESPv2's behaviour behind `x-google-backend`).
    pub x_forwarded_authorization: bool,
    /// Take `X-HTTP-Method-Override` as the method, as ESPv2's header sanitizer does (jwt-gate's
    /// `http_method_override`): rules match it, the upstream gets it as `:method`.
    pub http_method_override: bool,
    /// jwt-gate's `behind_trusted_proxy`: a DPoP proof's `htu` names the scheme
    /// `X-Forwarded-Proto` says, not the one of the connection Envoy accepted.
    pub behind_trusted_proxy: bool,
    /// The DPoP replay cache's shape (`dpop_replay_cache_size`).
    pub replay_cache: ReplayCache,
    /// Verified tokens keep their payload, for the rules' `when` conditions (checked on
    /// verified-token cache hits too): set when some rule has conditions.
    pub keep_payloads: bool,
    /// What the configuration does that its author should know about (an accepted field that
    /// does nothing here, a translated check left out by an explicit choice): logged once at
    /// load, printed by `jwt-gate check`.
    pub warnings: Vec<ConfigWarning>,
}

/// Verified tokens kept per VM when no provider sets `jwt_cache_config.jwt_cache_size`.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 1_000;
/// Longest token cached when no provider sets `jwt_cache_config.jwt_max_token_size`.
pub const DEFAULT_TOKEN_CACHE_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// DPoP proofs the replay cache holds when `dpop_replay_cache_size` is not given.
pub const DEFAULT_DPOP_REPLAY_CACHE_SIZE: u64 = 100_000;
/// Largest `dpop_replay_cache_size` (16 bytes each: 16 MiB of shared data).
pub const MAX_DPOP_REPLAY_CACHE_SIZE: u64 = 1_000_000;

/// One identity provider (jwt_authn `JwtProvider`).
#[derive(Clone, Debug)]
pub struct Provider {
    /// The name in `providers`.
    pub name: String,
    /// Issuer, audiences and time rules.
    pub claims: ClaimRules,
    /// Where the verification keys come from.
    pub keys: KeySource,
    /// Indexes into [`Config::locations`].
    pub locations: Vec<usize>,
    /// Keep the token in the request after verification.
    pub forward: bool,
    /// Header that receives the payload segment.
    pub forward_payload_header: Option<String>,
    /// Pad that header's value with `=`.
    pub pad_forward_payload_header: bool,
    /// What that header carries.
    pub payload_format: PayloadFormat,
    /// Claims copied into headers.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// `jwt_cache_config`: (`jwt_cache_size`, `jwt_max_token_size`), when given.
    pub cache: (Option<usize>, Option<usize>),
    /// jwt-gate's `dpop`: DPoP-bound tokens are accepted (or, `required`, only they).
    pub dpop: Option<DpopPolicy>,
    /// jwt-gate's `certificate_bound`: tokens must be bound to the TLS client certificate.
    pub certificate_bound: bool,
}

/// Where a provider's keys come from.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per provider, built once at configure time"
)]
pub enum KeySource {
    /// `local_jwks`: parsed once, at configure time.
    Local(KeySet),
    /// `remote_jwks`: fetched, shared between VMs and refreshed by the host adapter.
    Remote(RemoteJwks),
}

/// `claim_to_headers` entry.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClaimToHeader {
    /// Lower-case header name.
    pub header_name: String,
    /// Claim name, or a dotted path into nested objects (with [`ClaimLookup::Path`]).
    pub claim_name: String,
    /// How `claim_name` is looked up (the provider's `claim_lookup`).
    pub lookup: ClaimLookup,
}

/// One entry of `rules`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// When the rule applies.
    pub route: RouteMatch,
    /// What it requires; `None` means no check.
    pub requirement: Option<Requirement>,
    /// jwt-gate's `allowed_scopes` (OCI's `ANY_OF`): a verified token must grant one of them.
    pub allowed_scopes: Vec<String>,
    /// jwt-gate's `deny`: requests this rule matches are answered with this status and message.
    pub deny: Option<Deny>,
    /// The rule matches a `path_template` (such a rule must apply to the path as sent and as a
    /// backend that percent-decodes it reads it alike).
    pub path_template: bool,
    /// jwt-gate's `when` (the `requirement_map` entry's, then the rule's own): once the
    /// requirement passed, one token that satisfied it must meet every condition.
    pub conditions: Vec<Condition>,
}

/// A rule's `deny`: `{"status": 404, "message": "The current request is not defined by this
/// API."}`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Deny {
    /// 400 to 599.
    pub status: u16,
    /// The body (inside `{"code", "message"}` with `failure_response_format: json`).
    pub message: Arc<str>,
}

/// Whether `name` is an RFC 9110 token (so not empty and not a pseudo-header).
pub(crate) fn is_header_name(name: &str) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(tchar)
}

#[cfg(test)]
mod tests;
