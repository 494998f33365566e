//! The authenticator: one request in, one decision out. It ties extraction, parsing, claim and
//! signature checks and the requirement tree together, and turns the result into header changes
//! or a denial. Pure: time comes in as `now`, signatures go through a [`SignatureVerifier`], and
//! what only the host knows (the connection, the shared store) through a [`Sender`].

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::Arc;

mod authorize;
pub mod binding;
pub mod error;
pub mod token_cache;
pub mod verifier;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::Value;
use smallvec::SmallVec;

use crate::config::{
    Config, FailureFormat, KeySource, PayloadFormat, Provider, X_FORWARDED_AUTHORIZATION,
    X_HTTP_METHOD_OVERRIDE,
};
pub use crate::keys::access::{KeyAccess, NoRemoteKeys, RemoteKeys, Wait};
use crate::keys::fetcher::{KeyFetcher, RemoteProvider};
use crate::keys::KeySet;
use crate::policy::condition::Condition;
use crate::policy::requirement::Requirement;
pub use crate::request::Request;
use crate::request::{remove_query_param, same_header_name, split_path, Header};
use crate::time::Time;
use crate::token::claims::scopes;
use crate::token::confirmation::Confirmation;
use crate::token::extractor::Location;
use crate::token::Jwt;
use crate::verify::{verify_token_signature, SignatureVerifier, VerifyError};
use authorize::authorize;
use binding::{Binder, BindingError, DpopChallenge, Sender};
use error::AuthError;
use token_cache::{TokenCache, Verified};
use verifier::{evaluate, Checks};

/// What to do with the request.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Decision {
    /// Let it through after applying `header_ops` in order (and replacing `:path` if given).
    Allow {
        /// Header removals and additions.
        header_ops: HeaderOps,
        /// A new `:path` (a query-parameter token was removed).
        path: Option<Vec<u8>>,
    },
    /// Answer it locally.
    Deny(Denial),
    /// Hold it until a provider's keys arrive (or a refetch for an unknown `kid` completes),
    /// then decide again, with [`RemoteKeys`] that no longer offer to wait.
    Wait(Wait),
}

/// One change to the request headers.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum HeaderOp {
    /// Add a header value (after removals).
    Add(HeaderName, Vec<u8>),
    /// Remove every value of a header.
    Remove(HeaderName),
    /// Replace a header's value (`:method`, for `http_method_override`).
    Set(HeaderName, Vec<u8>),
}

/// An allowed request's header changes, in order: the usual one or two without allocating.
pub type HeaderOps = SmallVec<[HeaderOp; 2]>;

/// A header name in a [`HeaderOp`]: shared with the configuration that names it, so removing a
/// token's header from an allowed request copies no string.
pub type HeaderName = Arc<str>;

/// A local reply.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Denial {
    /// Why.
    pub error: AuthError,
    /// 401; 403 for audience, `verify_claims` and `allowed_scopes`; 400 for an API key that is not
    /// valid and an ambiguous path; a `deny` rule's own.
    pub status: u16,
    /// The body (empty with `strip_failure_response`).
    pub body: Cow<'static, str>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// `WWW-Authenticate` value, if any.
    pub www_authenticate: Option<String>,
}

/// A decision plus what the host counts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Outcome {
    /// The decision.
    pub decision: Decision,
    /// The request was a CORS preflight let through by `bypass_cors_preflight`.
    pub cors_preflight_bypassed: bool,
}

/// Decides one request, for a host that supplies no connection details and no shared store
/// ([`Sender::none`]): a DPoP proof then fails closed, and a certificate-bound token finds no
/// certificate. Hosts that serve sender-constrained tokens call [`authenticate_with`].
pub fn authenticate(
    config: &Config,
    request: Request<'_>,
    now: Time,
    remote_keys: &dyn RemoteKeys,
    verifier: &dyn SignatureVerifier,
    cache: &mut TokenCache,
) -> Outcome {
    authenticate_with(
        config,
        request,
        now,
        remote_keys,
        verifier,
        cache,
        Sender::none(),
    )
}

/// Decides one request; `sender` is what the host knows beyond the headers (the connection,
/// the shared store), for sender-constrained tokens.
pub fn authenticate_with(
    config: &Config,
    request: Request<'_>,
    now: Time,
    remote_keys: &dyn RemoteKeys,
    verifier: &dyn SignatureVerifier,
    cache: &mut TokenCache,
    sender: Sender<'_>,
) -> Outcome {
    let arrived = request;
    let mut sanitize = sanitizing_removals(config, request);
    // ESPv2's header sanitizer: the override becomes the method, for the rules and upstream (the
    // header itself is one of `output_headers`, removed above).
    let overridden = overridden_method(config, request);
    let with_method: Vec<Header<'_>>;
    let request = match &overridden {
        Some(method) => {
            sanitize.push(HeaderOp::Set(":method".into(), method.clone()));
            with_method = request
                .headers
                .iter()
                .filter(|(name, _)| *name != b":method")
                .copied()
                .chain(std::iter::once((b":method".as_slice(), method.as_slice())))
                .collect();
            Request {
                headers: &with_method,
            }
        }
        None => request,
    };
    if config.bypass_cors_preflight && is_cors_preflight(request) {
        return Outcome {
            decision: allow(sanitize),
            cors_preflight_bypassed: true,
        };
    }
    let rule = match select_rule(config, request) {
        Ok(rule) => rule,
        Err(error) => return deny(config, request, error),
    };
    if let Some(denied) = rule.and_then(|rule| rule.deny.as_ref()) {
        return deny(config, request, AuthError::Denied(denied.clone()));
    }
    let Some((requirement, rule)) = rule.and_then(|rule| Some((rule.requirement.as_ref()?, rule)))
    else {
        return pass(config, request, sanitize);
    };

    let full_path = request.header(":path").unwrap_or_default();
    let tokens = extract_tokens(config, request, full_path);
    let count = tokens.iter().filter(|t| matches!(t, Ok(Some(_)))).count();
    if count > config.limits.max_tokens_per_request {
        // Too many to verify. Where the verdict cannot matter (`allow_missing_or_failed`), the
        // request passes as Envoy would let it, without outputs; elsewhere it is denied.
        if requirement.always_passes() {
            return pass(config, request, sanitize);
        }
        return deny(config, request, AuthError::MultipleTokens);
    }
    let mut session = Session {
        config,
        now,
        verifier,
        remote_keys,
        wait: None,
        wait_although_allowed: None,
        cache,
        parsed: OnceCell::new(),
        tokens: &tokens,
        headers: request.headers,
        verified: SmallVec::new(),
        binder: Binder::new(config, sender, arrived, now, verifier),
        satisfied: Vec::new(),
    };
    let decision = match session.check(requirement, &rule.allowed_scopes, &rule.conditions) {
        (Some(wait), _) => {
            session.binder.release();
            Decision::Wait(wait)
        }
        (None, Ok(())) => {
            let (mut header_ops, path) = session.outputs(sanitize, full_path);
            forward_authorization(config, request, &mut header_ops);
            Decision::Allow { header_ops, path }
        }
        (None, Err(error)) => {
            let found = |location: usize| matches!(tokens.get(location), Some(Ok(Some(_))));
            let dpop = DpopChallenge::of(config, requirement, found);
            return deny_with(config, request, error, dpop.as_ref());
        }
    };
    Outcome {
        decision,
        cors_preflight_bypassed: false,
    }
}

/// The remote-key fetcher of `config` for one instance (a VM, a worker thread) called `owner` in
/// fetch leases: `configuration` is the configuration's bytes, which name its shared records.
pub fn key_fetcher(config: &Config, configuration: &[u8], owner: u64) -> KeyFetcher {
    let providers = config
        .providers
        .iter()
        .map(|provider| match &provider.keys {
            KeySource::Remote(remote) => Some(RemoteProvider {
                name: provider.name.clone(),
                issuer: provider.claims.issuer.clone(),
                remote: remote.clone(),
            }),
            KeySource::Local(_) => None,
        })
        .collect();
    KeyFetcher::new(configuration, providers, config.limits, owner)
}

/// A request's headers, owned.
/// Incoming copies of the headers jwt-gate writes or obeys go, on every request: by their own
/// name and by every spelling with `_` for `-`, which CGI, WSGI, Rack and PHP backends merge
/// with it (`X_User` arrives as `HTTP_X_USER`). So do the twins of a token header (`X_Token`
/// beside `x-token`): the backend would merge a forged one with the token jwt-gate verified, or
/// read it alone once jwt-gate removed the token. Only those present cost a hostcall.
fn sanitizing_removals(config: &Config, request: Request<'_>) -> HeaderOps {
    let mut sanitize = HeaderOps::new();
    for (name, _) in request.headers {
        let owned = config
            .output_headers
            .iter()
            .any(|output| same_header_name(name, output.as_bytes()));
        let remove = (owned || is_token_header_twin(config, name))
            .then(|| String::from_utf8(name.to_ascii_lowercase()).ok())
            .flatten()
            .map(|name| HeaderOp::Remove(name.into()));
        if let Some(remove) = remove.filter(|remove| !sanitize.contains(remove)) {
            sanitize.push(remove);
        }
    }
    sanitize
}

/// Whether header `name` is another spelling of a token header location (`X_Token`, `x_token`
/// for `x-token`): one a CGI-style backend takes for it, but that no provider reads. A header
/// spelled as some location is that location's, whatever it is a twin of; the locations' own
/// headers are removed after verification only (unless `forward`), as jwt_authn does.
fn is_token_header_twin(config: &Config, name: &[u8]) -> bool {
    let mut twin = false;
    for location in &config.locations {
        if let Location::Header { name: location, .. } = location {
            if name == location.as_bytes() {
                return false;
            }
            twin |= same_header_name(name, location.as_bytes());
        }
    }
    twin
}

/// With `http_method_override`, a usable `X-HTTP-Method-Override` (letters only), upper-cased,
/// and the request's headers with it as `:method`.
fn overridden_method(config: &Config, request: Request<'_>) -> Option<Vec<u8>> {
    Some(
        config
            .http_method_override
            .then(|| request.header(X_HTTP_METHOD_OVERRIDE))
            .flatten()
            .filter(|method| !method.is_empty() && method.iter().all(u8::is_ascii_alphabetic))?
            .to_ascii_uppercase(),
    )
}

/// What each configured location holds: none, one token, or why it could not be read.
type Tokens<'r> = SmallVec<[Result<Option<Cow<'r, str>>, AuthError>; 2]>;

/// The token at each configured location (none, one, or why it could not be read).
fn extract_tokens<'r>(config: &Config, request: Request<'r>, full_path: &'r [u8]) -> Tokens<'r> {
    let (_, query) = split_path(full_path);
    config
        .locations
        .iter()
        .map(|location| {
            location
                .extract(request.headers, query)
                .map_err(AuthError::from)
        })
        .collect()
}

/// Let the request through with `header_ops`.
fn allow(header_ops: HeaderOps) -> Decision {
    Decision::Allow {
        header_ops,
        path: None,
    }
}

/// Let a request no requirement applies to through, sanitized.
fn pass(config: &Config, request: Request<'_>, mut header_ops: HeaderOps) -> Outcome {
    forward_authorization(config, request, &mut header_ops);
    Outcome {
        decision: allow(header_ops),
        cors_preflight_bypassed: false,
    }
}

/// Per-request state: the tokens found, each parsed at most once (and not at all on a cache
/// hit), and which (location, provider) pairs verified, with what that established.
struct Session<'c, 't> {
    config: &'c Config,
    now: Time,
    verifier: &'c dyn SignatureVerifier,
    remote_keys: &'c dyn RemoteKeys,
    /// Set when a check needed keys that may still arrive: the request should wait.
    wait: Option<Wait>,
    /// Set when an `allow_missing_or_failed` check needed keys that may still arrive.
    wait_although_allowed: Option<Wait>,
    cache: &'c mut TokenCache,
    tokens: &'t [Result<Option<Cow<'t, str>>, AuthError>],
    /// The request's headers (API keys are read there and in `:path`).
    headers: &'t [Header<'t>],
    /// By location, made at the first parse (a cache hit parses nothing, and allocates no room).
    parsed: OnceCell<Vec<OnceCell<Result<Jwt<'t>, AuthError>>>>,
    verified: SmallVec<[(usize, usize, Arc<Verified>); 2]>,
    /// How tokens are bound to their sender: checked on every request, cache hit or not.
    binder: Binder<'t>,
    /// The (location, provider) pairs that satisfied the requirement tree so far: verified in
    /// a branch that passed (a rule's `when` holds on one of them).
    satisfied: Vec<(usize, usize)>,
}

/// A provider's keys, as one verification sees them.
enum Keys<'k> {
    Ready {
        keys: &'k KeySet,
        version: u64,
        kid_refetch_allowed: bool,
    },
    Pending,
    Failed,
}

impl Checks for Session<'_, '_> {
    fn provider(&mut self, provider: usize, audiences: Option<&[String]>) -> Result<(), AuthError> {
        let config = self.config;
        let locations = config
            .providers
            .get(provider)
            .map(|p| p.locations.as_slice())
            .unwrap_or_default();
        let mut found = false;
        for &location in locations {
            match self.tokens.get(location) {
                Some(Err(error)) => return Err(error.clone()),
                Some(Ok(Some(_))) => {
                    found = true;
                    self.verify(location, provider, audiences)?;
                }
                _ => {}
            }
        }
        if !found {
            return Err(AuthError::Missing);
        }
        // Every token there verified: each satisfied this requirement.
        for &location in locations {
            if matches!(self.tokens.get(location), Some(Ok(Some(_)))) {
                self.satisfied(location, provider);
            }
        }
        Ok(())
    }

    fn all_present(&mut self, lenient: bool) -> Result<(), AuthError> {
        let wait_before = self.wait;
        let mut first_error = None;
        for location in 0..self.tokens.len() {
            let result = match self.tokens.get(location) {
                Some(Err(error)) => Err(error.clone()),
                Some(Ok(Some(_))) => self.provider_for(location).and_then(|provider| {
                    self.verify(location, provider, None)?;
                    self.satisfied(location, provider);
                    Ok(())
                }),
                _ => Ok(()),
            };
            if let Err(error) = result {
                if !lenient {
                    return Err(error);
                }
                first_error.get_or_insert(error);
            }
        }
        // allow_missing_or_failed passes either way, but a valid token's outputs (and its
        // removal) depend on keys still on their way: wait for them, as Envoy does.
        if lenient && wait_before.is_none() {
            self.wait_although_allowed = self.wait;
        }
        first_error.map_or(Ok(()), Err)
    }

    fn api_key(&mut self, key: usize) -> Result<(), AuthError> {
        self.config
            .api_keys
            .get(key)
            .map_or(Err(AuthError::ApiKeyMissing), |check| {
                check
                    .check(self.headers, &self.config.limits)
                    .map_err(AuthError::from)
            })
    }

    fn mark(&self) -> usize {
        self.satisfied.len()
    }

    fn rollback(&mut self, mark: usize) {
        self.satisfied.truncate(mark);
    }
}

/// The first rule that matches. Where a `path_template` rule decides, every reading of the path
/// a backend may route on must choose the same rule as the path as sent (see
/// [`backend_readings`](crate::policy::template::backend_readings)): `/v1/things/1%3Apurge`,
/// `1:purge;x` and `1:purge/` are `{id}` as sent and `{id}:purge` as many backends read them,
/// and which one the backend runs is not for jwt-gate to guess, so such a request is refused,
/// as is any path with an encoded `/` that a `path_template` rule would judge.
fn select_rule<'c>(
    config: &'c Config,
    request: Request<'_>,
) -> Result<Option<&'c crate::config::Rule>, AuthError> {
    // `:path` is found once; the decoded form replaces it by reference, not by copying every
    // header (a request may carry 60 KiB of them).
    let full_path = request.header(":path");
    let find = |path: Option<&[u8]>| {
        config
            .rules
            .iter()
            .position(|rule| rule.route.matches_with_path(request.headers, path))
    };
    let chosen = find(full_path);
    let rule = |index: Option<usize>| index.and_then(|index| config.rules.get(index));
    let by_template = |index: Option<usize>| rule(index).is_some_and(|rule| rule.path_template);
    let readings = config
        .rules
        .iter()
        .any(|rule| rule.path_template)
        .then(|| full_path.map(crate::policy::template::backend_readings))
        .flatten()
        .unwrap_or_default();
    if readings.encoded_slash && by_template(chosen) {
        return Err(AuthError::AmbiguousPath);
    }
    for path in readings.paths {
        let other = find(Some(&path));
        if other != chosen && (by_template(chosen) || by_template(other)) {
            return Err(AuthError::AmbiguousPath);
        }
    }
    Ok(rule(chosen))
}

impl<'c, 't> Session<'c, 't> {
    /// Evaluates a rule's requirement, then its `allowed_scopes` and its `when` conditions:
    /// what the request should wait for, if anything, and the verdict.
    fn check(
        &mut self,
        requirement: &Requirement,
        allowed_scopes: &[String],
        conditions: &[Condition],
    ) -> (Option<Wait>, Result<(), AuthError>) {
        let mut result = evaluate(requirement, self);
        if result.is_ok() && !allowed_scopes.is_empty() {
            result = self.check_scopes(allowed_scopes);
        }
        if result.is_ok() && !conditions.is_empty() {
            let satisfying = self.satisfied.iter().filter_map(|pair| {
                self.verified
                    .iter()
                    .find(|(location, provider, _)| (*location, *provider) == *pair)
                    .map(|(_, _, verified)| verified.as_ref())
            });
            result = authorize(conditions, satisfying);
        }
        let wait = match result {
            Ok(()) => self.wait_although_allowed,
            Err(_) => self.wait,
        };
        (wait, result)
    }

    /// Records that the token at `location` satisfied a requirement for `provider` (only when
    /// some rule has `when` conditions to check on it).
    fn satisfied(&mut self, location: usize, provider: usize) {
        if self.config.keep_payloads {
            self.satisfied.push((location, provider));
        }
    }

    fn token(&self, location: usize) -> Result<&'t str, AuthError> {
        match self.tokens.get(location) {
            Some(Ok(Some(token))) => Ok(token),
            Some(Err(error)) => Err(error.clone()),
            _ => Err(AuthError::Missing),
        }
    }

    fn jwt(&self, location: usize) -> Result<&Jwt<'t>, AuthError> {
        let token = self.token(location)?;
        let limits = &self.config.limits;
        self.parsed
            .get_or_init(|| self.tokens.iter().map(|_| OnceCell::new()).collect())
            .get(location)
            .ok_or(AuthError::Missing)?
            .get_or_init(|| Jwt::parse(token, limits).map_err(AuthError::from))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The provider a token at `location` belongs to: among the providers that look there, the
    /// one whose issuer is the token's `iss`, else one whose issuer template it matches, else
    /// the first without an issuer.
    fn provider_for(&self, location: usize) -> Result<usize, AuthError> {
        let jwt = self.jwt(location)?;
        let candidates = || {
            self.config
                .providers
                .iter()
                .enumerate()
                .filter(|(_, p)| p.locations.contains(&location))
        };
        let iss = jwt.claims.iss.as_deref();
        candidates()
            .find(|(_, p)| p.claims.issuer.is_some() && p.claims.names_issuer(iss))
            .or_else(|| candidates().find(|(_, p)| p.claims.names_issuer(iss)))
            .or_else(|| candidates().find(|(_, p)| p.claims.any_issuer()))
            .map(|(index, _)| index)
            .ok_or(AuthError::Claims(
                crate::policy::claims::ClaimsError::IssuerNotAllowed,
            ))
    }

    fn keys(&self, provider: &'c Provider, index: usize) -> Keys<'c> {
        match &provider.keys {
            KeySource::Local(keys) => Keys::Ready {
                keys,
                version: 0,
                kid_refetch_allowed: false,
            },
            KeySource::Remote(_) => match self.remote_keys.key_set(index) {
                KeyAccess::Ready {
                    keys,
                    version,
                    kid_refetch_allowed,
                } => Keys::Ready {
                    keys,
                    version,
                    kid_refetch_allowed,
                },
                KeyAccess::Pending => Keys::Pending,
                KeyAccess::Failed => Keys::Failed,
            },
        }
    }

    /// Checks the token at `location` for a provider, in jwt_authn's order: claims (issuer,
    /// time, audience, lifetime) before keys and signature. A token verified earlier in this
    /// request, or found in the cache, only has its claims checked again.
    fn verify(
        &mut self,
        location: usize,
        provider_index: usize,
        audiences: Option<&[String]>,
    ) -> Result<(), AuthError> {
        let config = self.config;
        let now = self.now;
        let provider = config
            .providers
            .get(provider_index)
            .ok_or(AuthError::Missing)?;
        let known = self
            .verified
            .iter()
            .find(|(l, p, _)| (*l, *p) == (location, provider_index))
            .map(|(_, _, verified)| Arc::clone(verified));
        if let Some(verified) = known {
            return Ok(provider.claims.check(&verified.claims, now, audiences)?);
        }
        let token = self.token(location)?;
        let (hit, version) = match self.keys(provider, provider_index) {
            Keys::Ready { version, .. } => {
                (self.cache.get(token, provider_index, version, now), version)
            }
            Keys::Pending | Keys::Failed => (None, 0),
        };
        if let Some(verified) = hit {
            provider.claims.check(&verified.claims, now, audiences)?;
            self.binder
                .check(provider, location, token, &verified.confirmation)?;
            self.verified.push((location, provider_index, verified));
            return Ok(());
        }

        let jwt = self.jwt(location)?;
        provider.claims.check_bindings(&jwt.claims, &jwt.payload)?;
        provider.claims.check(&jwt.claims, now, audiences)?;
        let (keys, kid_refetch_allowed) = match self.keys(provider, provider_index) {
            Keys::Ready {
                keys,
                kid_refetch_allowed,
                ..
            } => (keys, kid_refetch_allowed),
            Keys::Pending => {
                self.wait.get_or_insert(Wait::Keys(provider_index));
                return Err(AuthError::JwksFetchFailed);
            }
            Keys::Failed => return Err(AuthError::JwksFetchFailed),
        };
        let issuer = jwt.claims.iss.as_deref();
        let verdict = verify_token_signature(&jwt.jws, issuer, keys, self.verifier);
        if let Err(error) = verdict {
            // Only a `kid` the key set does not have is worth a refetch (a rotated-in key);
            // a missing `kid` or an `alg` that fits no key would not be fixed by one.
            let unknown_kid = jwt
                .jws
                .header
                .kid
                .as_deref()
                .is_some_and(|kid| keys.keys.iter().all(|key| key.kid.as_deref() != Some(kid)));
            if error == VerifyError::KidAlgMismatch && kid_refetch_allowed && unknown_kid {
                self.wait.get_or_insert(Wait::KidRefetch(provider_index));
            }
            return Err(error.into());
        }
        // jwt-gate's claim checks, once the token is known to be genuine (a forged token gets
        // 401, not a hint about which claim would pass). Only passing tokens are cached.
        for check in &provider.claims.verify_claims {
            check.check(&jwt.payload)?;
        }
        let payload_header = match (&provider.forward_payload_header, provider.payload_format) {
            (Some(_), PayloadFormat::EspV1) => Some(esp_v1_user_info(&jwt.payload)),
            _ => None,
        };
        let confirmation = Confirmation::from_payload(&jwt.payload)
            .map_err(|_| BindingError::MalformedConfirmation)?;
        let verified = Arc::new(Verified {
            claims: jwt.claims.clone(),
            claim_headers: claim_headers(provider, &jwt.payload),
            scopes: scopes(&jwt.payload),
            payload_header,
            confirmation,
            payload: config.keep_payloads.then(|| jwt.payload.clone()),
        });
        self.cache
            .insert(token, provider_index, version, now, Arc::clone(&verified));
        self.binder
            .check(provider, location, token, &verified.confirmation)?;
        self.verified.push((location, provider_index, verified));
        Ok(())
    }

    /// A route's `allowed_scopes`: some verified token must grant one of them.
    fn check_scopes(&self, allowed: &[String]) -> Result<(), AuthError> {
        if self.verified.is_empty() {
            return Err(AuthError::Missing);
        }
        let granted = self.verified.iter().any(|(_, _, verified)| {
            verified
                .scopes
                .iter()
                .any(|scope| allowed.iter().any(|a| a == scope))
        });
        if granted {
            Ok(())
        } else {
            Err(AuthError::ScopeNotAllowed)
        }
    }

    /// Header changes for an allowed request: sanitizing removals, token removals, then outputs.
    fn outputs(&self, mut ops: HeaderOps, full_path: &[u8]) -> (HeaderOps, Option<Vec<u8>>) {
        let mut additions = Vec::new();
        let mut path: Option<Vec<u8>> = None;
        for (location, provider_index, verified) in &self.verified {
            let (Some(provider), Ok(token)) = (
                self.config.providers.get(*provider_index),
                self.token(*location),
            ) else {
                continue;
            };
            if let Some(name) = &provider.forward_payload_header {
                let payload = token.split('.').nth(1).unwrap_or_default();
                let mut value = match &verified.payload_header {
                    Some(value) => value.clone(),
                    None => payload.as_bytes().to_vec(),
                };
                if provider.pad_forward_payload_header {
                    while value.len() % 4 != 0 {
                        value.push(b'=');
                    }
                }
                additions.push(HeaderOp::Add(name.as_str().into(), value));
            }
            for (name, value) in &verified.claim_headers {
                additions.push(HeaderOp::Add(name.as_str().into(), value.clone()));
            }
            if provider.forward {
                continue;
            }
            // The proof goes with the token it was for (RFC 9449 proofs are per request; the
            // backend has no use for one, and must not be handed one to replay).
            if provider.dpop.is_some() && self.binder.has_proof_header() {
                let remove = HeaderOp::Remove("dpop".into());
                if !ops.contains(&remove) {
                    ops.push(remove);
                }
            }
            match self.config.locations.get(*location) {
                Some(Location::Header { name, .. }) => {
                    let remove = HeaderOp::Remove(Arc::clone(name));
                    if !ops.contains(&remove) {
                        ops.push(remove);
                    }
                }
                Some(Location::Param(name)) => {
                    let current = path.as_deref().unwrap_or(full_path);
                    path = Some(remove_query_param(current, name));
                }
                Some(Location::Cookie(_)) | None => {}
            }
        }
        ops.extend(additions);
        (ops, path)
    }
}

/// The `claim_to_headers` values of a verified payload.
fn claim_headers(
    provider: &Provider,
    payload: &serde_json::Map<String, Value>,
) -> Vec<(String, Vec<u8>)> {
    provider
        .claim_to_headers
        .iter()
        .filter_map(|mapping| {
            let value = mapping
                .lookup
                .find(payload, &mapping.claim_name)
                .and_then(claim_header_value)?;
            Some((mapping.header_name.clone(), value))
        })
        .collect()
}

/// A claim as a header value a backend reads back without guessing (docs/configuration.md,
/// "Claims to headers"): a value that decodes (standard base64, padding optional) to JSON text
/// is that JSON; any other value, split at commas, is the claim's elements, each as text.
///
/// Plain: a string as is, a number or boolean as its JSON text (as jwt_authn writes them), a
/// list its elements comma-joined (as OCI API Gateway writes lists). The base64 of the claim's
/// JSON (jwt_authn's encoding of objects and lists) wherever plain text could be misread: an
/// object, a nested list, and a string or list element with a comma, or that itself decodes to
/// JSON (`"WyJhZG1pbiJd"`, which is `["admin"]` encoded, must not pass for that list). So a string
/// never passes for a list, nor a plain value for an encoded one. A number's or boolean's text
/// decodes, if at all, to a first byte over 0x7f, which starts no JSON, so those stay plain.
///
/// No header where there is no value (a missing or `null` claim, `""`, `[]`, `[""]`: jwt_authn
/// adds none for an empty string either), nor for a string or list element with control
/// characters other than tab (it could not be a header value).
fn claim_header_value(value: &Value) -> Option<Vec<u8>> {
    let control = |text: &str| text.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f));
    let has_control = match value {
        Value::String(text) => control(text),
        Value::Array(items) => items.iter().filter_map(Value::as_str).any(control),
        _ => false,
    };
    if has_control {
        return None;
    }
    let element = |value: &Value| match value {
        Value::String(text) => {
            (!text.contains(',') && !decodes_to_json(text.as_bytes())).then(|| text.clone())
        }
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    };
    let text = match value {
        Value::Null => return None,
        Value::Array(items) => items
            .iter()
            .map(element)
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        other => element(other),
    };
    let text = text.unwrap_or_else(|| STANDARD.encode(value.to_string()));
    (!text.is_empty()).then(|| text.into_bytes())
}

/// Whether `text` decodes as standard base64 (padded or not) to what a backend could take for
/// an encoded claim: JSON text (RFC 8259) between JSON whitespace. Conservative where parsers
/// differ: anything that starts as a string, list or object does (whether any parser finishes
/// it), and so do `NaN`, `Infinity` and `-Infinity` (Python's `json` reads them).
fn decodes_to_json(text: &[u8]) -> bool {
    let Ok(bytes) = LENIENT_STANDARD.decode(text) else {
        return false;
    };
    let is_space = |byte: &u8| matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes.iter().position(|byte| !is_space(byte));
    let end = bytes.iter().rposition(|byte| !is_space(byte));
    let Some(value) = start
        .zip(end)
        .and_then(|(start, end)| bytes.get(start..=end))
    else {
        return false;
    };
    matches!(value.first(), Some(b'"' | b'[' | b'{'))
        || [
            &b"true"[..],
            b"false",
            b"null",
            b"NaN",
            b"Infinity",
            b"-Infinity",
        ]
        .contains(&value)
        || is_json_number(value)
}

/// RFC 8259's `number`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(text: &[u8]) -> bool {
    let digits = |text: &[u8]| text.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = text.strip_prefix(b"-").unwrap_or(text);
    let integer = digits(rest);
    if integer == 0 || (integer > 1 && rest.first() == Some(&b'0')) {
        return false;
    }
    let mut rest = rest.get(integer..).unwrap_or_default();
    if let Some(fraction) = rest.strip_prefix(b".") {
        let count = digits(fraction);
        if count == 0 {
            return false;
        }
        rest = fraction.get(count..).unwrap_or_default();
    }
    if let Some(exponent) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exponent = exponent
            .strip_prefix(b"+")
            .or_else(|| exponent.strip_prefix(b"-"))
            .unwrap_or(exponent);
        let count = digits(exponent);
        if count == 0 {
            return false;
        }
        rest = exponent.get(count..).unwrap_or_default();
    }
    rest.is_empty()
}

/// Standard base64 as lenient decoders read it: padding optional, stray low bits ignored.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// ESP v1's `X-Endpoint-API-UserInfo`: padded base64url of `{"claims": <the payload as a JSON
/// string>, "issuer", "id" (`sub`), "email", "audiences" (sorted, de-duplicated)}`, empty values
/// left out.
fn esp_v1_user_info(payload: &serde_json::Map<String, Value>) -> Vec<u8> {
    let text_claim = |name: &str| match payload.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Some(Value::String(text.clone())),
        _ => None,
    };
    let mut audiences: Vec<&str> = match payload.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    audiences.retain(|aud| !aud.is_empty());
    audiences.sort_unstable();
    audiences.dedup();
    let members = [
        (
            "claims",
            Some(Value::String(Value::Object(payload.clone()).to_string())),
        ),
        ("issuer", text_claim("iss")),
        ("id", text_claim("sub")),
        ("email", text_claim("email")),
        (
            "audiences",
            (!audiences.is_empty()).then(|| audiences.into()),
        ),
    ];
    // In ESP v1's member order (a `serde_json::Map` would sort them).
    let text = members
        .iter()
        .filter_map(|(name, value)| Some(format!("\"{name}\":{}", value.as_ref()?)))
        .collect::<Vec<_>>()
        .join(",");
    let text = format!("{{{text}}}");
    URL_SAFE.encode(text).into_bytes()
}

/// `x_forwarded_authorization` (ESPv2's backend-auth header move): a client-sent
/// `X-Forwarded-Authorization` never reaches the upstream, and the request's own
/// `Authorization`, if any, is copied there, so a backend reads the caller's credential from
/// one well-known place whatever happens to `Authorization`.
fn forward_authorization(config: &Config, request: Request<'_>, ops: &mut HeaderOps) {
    if !config.x_forwarded_authorization {
        return;
    }
    if let Some(value) = request.header("authorization") {
        ops.push(HeaderOp::Add(
            X_FORWARDED_AUTHORIZATION.into(),
            value.to_vec(),
        ));
    }
}

fn deny(config: &Config, request: Request<'_>, error: AuthError) -> Outcome {
    deny_with(config, request, error, None)
}

/// A denial; `dpop`: the rule's providers take DPoP-bound tokens, and the challenge says so.
fn deny_with(
    config: &Config,
    request: Request<'_>,
    error: AuthError,
    dpop: Option<&DpopChallenge>,
) -> Outcome {
    let status = error.http_status();
    let (body, content_type, www_authenticate) = if config.strip_failure_response {
        (Cow::Borrowed(""), "text/plain", None)
    } else {
        let www_authenticate = challenge(request, &error, dpop);
        let message = error.message();
        match config.failure_response_format {
            FailureFormat::Text => (message, "text/plain", www_authenticate),
            FailureFormat::Json => {
                let body = format!(
                    "{{\"code\":{status},\"message\":{}}}",
                    Value::String(message.into_owned())
                );
                (Cow::Owned(body), "application/json", www_authenticate)
            }
        }
    };
    Outcome {
        decision: Decision::Deny(Denial {
            error,
            status,
            body,
            content_type,
            www_authenticate,
        }),
        cors_preflight_bypassed: false,
    }
}

/// The `WWW-Authenticate` value: RFC 6750's `Bearer` challenge, or RFC 9449 §7.1's `DPoP` one
/// where the rule's providers take DPoP-bound tokens (both, for a missing token where bearer
/// tokens are accepted too). No error code for a missing token (RFC 6750 §3.1).
fn challenge(
    request: Request<'_>,
    error: &AuthError,
    dpop: Option<&DpopChallenge>,
) -> Option<String> {
    let code = match error {
        // Not about a bearer token (ESPv2 sends none with these either).
        AuthError::AmbiguousPath
        | AuthError::ApiKeyMissing
        | AuthError::ApiKeyNotValid
        | AuthError::Denied(_) => return None,
        // None when the replay cache, not the credential, is at fault.
        AuthError::Binding(binding) => Some(binding.error_code()?),
        AuthError::Missing => None,
        AuthError::ScopeNotAllowed | AuthError::ConditionNotMet(_) => Some("insufficient_scope"),
        _ => Some("invalid_token"),
    };
    let with_code = |mut value: String| {
        if let Some(code) = code {
            value.push_str(", error=\"");
            value.push_str(code);
            value.push('"');
        }
        value
    };
    let bearer = || {
        let mut value = Vec::with_capacity(REALM_CAPACITY);
        value.extend_from_slice(b"Bearer realm=\"");
        realm(request, &mut value);
        value.push(b'"');
        // ASCII throughout (`realm` percent-encodes the rest): the check cannot fail.
        with_code(String::from_utf8(value).unwrap_or_default())
    };
    let Some(dpop) = dpop else {
        return Some(bearer());
    };
    let dpop_challenge = || with_code(format!("DPoP algs=\"{}\"", dpop.algs));
    let use_dpop = match error {
        AuthError::Missing if dpop.bearer_too => {
            return Some(format!("{}, {}", bearer(), dpop_challenge()))
        }
        AuthError::Binding(binding) if binding.is_about_dpop() => true,
        _ => dpop.presented_as_dpop || !dpop.bearer_too,
    };
    Some(if use_dpop { dpop_challenge() } else { bearer() })
}

/// Room for a usual `Bearer` challenge with its error code, allocated once (every 401 has one).
const REALM_CAPACITY: usize = 128;

/// `<scheme>://<host><path>` of the request, without the query string (it may hold a token),
/// at most 256 bytes of path, with anything that could break the quoted string (and anything
/// not ASCII) percent-encoded, appended to `out`.
fn realm(request: Request<'_>, out: &mut Vec<u8>) {
    let scheme = request.header(":scheme").unwrap_or(b"http");
    let host = request
        .header(":authority")
        .or_else(|| request.header("host"))
        .unwrap_or_default();
    let (path, _) = split_path(request.header(":path").unwrap_or_default());
    let path = path.get(..256).unwrap_or(path);
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for part in [scheme, b"://", host, path] {
        for &byte in part {
            if byte.is_ascii_graphic() && byte != b'"' && byte != b'\\' {
                out.push(byte);
            } else {
                out.push(b'%');
                for nibble in [byte >> 4, byte & 0x0f] {
                    out.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
                }
            }
        }
    }
}

/// OPTIONS with a non-empty `Origin` and `Access-Control-Request-Method` (jwt_authn's test).
fn is_cors_preflight(request: Request<'_>) -> bool {
    let present = |name| request.header(name).is_some_and(|value| !value.is_empty());
    request.header(":method") == Some(b"OPTIONS")
        && present("origin")
        && present("access-control-request-method")
}

#[cfg(test)]
mod tests;
