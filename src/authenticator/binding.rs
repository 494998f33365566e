//! Sender-constrained tokens, checked for one request: DPoP proofs (RFC 9449) and tokens bound
//! to the TLS client certificate (RFC 8705). A token's own verification may come from the
//! verified-token cache; this runs on every request, after it.
//!
//! What the headers do not say comes from the host, explicitly ([`Sender`]): the downstream
//! connection ([`Downstream`]: is it TLS, which client certificate) and the store the replay
//! cache lives in. Both are read only when a check needs them.

use std::cell::OnceCell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::digest::{Context, SHA256};

use crate::config::{Config, Provider};
use crate::keys::host::{Cas, SharedStore, StoreError, Stored};
use crate::keys::replay::Recorded;
use crate::policy::binding::{normalized_htu, normalized_uri, DpopPolicy};
use crate::policy::requirement::Requirement;
use crate::request::Request;
use crate::time::Time;
use crate::token::confirmation::Confirmation;
use crate::token::dpop::{access_token_hash, Proof, ProofError};
use crate::verify::SignatureVerifier;

/// The downstream connection a request came on, as the host knows it.
pub trait Downstream {
    /// Whether the connection is TLS: a DPoP proof's `htu` must then name `https` (unless
    /// `behind_trusted_proxy` lets `X-Forwarded-Proto` say).
    fn is_tls(&self) -> bool;

    /// The SHA-256 of the DER client certificate the TLS handshake presented, if any (Envoy's
    /// `connection.sha256_peer_certificate_digest`, read with [`sha256_from_hex`]).
    fn client_certificate_sha256(&self) -> Option<[u8; 32]>;
}

/// What a host supplies, beyond the headers, for sender-constrained tokens.
#[derive(Clone, Copy)]
pub struct Sender<'a> {
    /// The connection.
    pub downstream: &'a dyn Downstream,
    /// The store every instance of the process shares (the key fetcher's): the DPoP replay
    /// cache lives there.
    pub replay_store: &'a dyn SharedStore,
}

/// A host that supplies nothing: a plain-text connection without a certificate, and a store
/// that refuses every write, so that a DPoP proof fails closed (the replay cache unavailable)
/// and a certificate-bound token finds no certificate.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSender;

impl Sender<'static> {
    /// [`NoSender`]'s inputs.
    pub fn none() -> Self {
        Self {
            downstream: &NoSender,
            replay_store: &NoSender,
        }
    }
}

impl Downstream for NoSender {
    fn is_tls(&self) -> bool {
        false
    }

    fn client_certificate_sha256(&self) -> Option<[u8; 32]> {
        None
    }
}

impl SharedStore for NoSender {
    fn get(&self, _key: &str) -> Stored {
        Stored::default()
    }

    fn compare_and_swap(&self, _: &str, _: &[u8], _: Option<Cas>) -> Result<(), StoreError> {
        Err(StoreError::Refused)
    }

    fn empty(&self, _: &str, _: Cas) -> Result<(), StoreError> {
        Err(StoreError::Refused)
    }
}

/// A hex SHA-256 digest (64 digits, either case) as bytes; `None` for anything else.
pub fn sha256_from_hex(hex: &[u8]) -> Option<[u8; 32]> {
    let hex = hex.trim_ascii();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |at: usize| pair.get(at).and_then(|&b| char::from(b).to_digit(16));
        *byte = u8::try_from(digit(0)? * 16 + digit(1)?).ok()?;
    }
    Some(digest)
}

/// Why a sender-constrained token, or its proof, was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum BindingError {
    /// The `DPoP` header is not a usable proof (RFC 9449 §4.3 steps 2 to 7).
    Proof(ProofError),
    /// A token under the `DPoP` scheme, and no `DPoP` header.
    ProofMissing,
    /// More than one `DPoP` header (or one holding several values).
    MultipleProofs,
    /// The proof's `alg` is not among the provider's `dpop.algorithms`.
    AlgorithmNotAllowed,
    /// `htm` is not the request's method.
    MethodMismatch,
    /// `htu` is not the request's URI (scheme, host, port and path; query and fragment aside).
    UriMismatch,
    /// `iat` is further in the past than the provider's window.
    ProofTooOld {
        /// The proof's `iat`.
        iat: u64,
        /// The time of the check.
        now: Time,
    },
    /// `iat` is further in the future than the provider's window.
    ProofFromTheFuture {
        /// The proof's `iat`.
        iat: u64,
        /// The time of the check.
        now: Time,
    },
    /// `ath` is missing or is not the hash of the access token sent with the proof.
    AccessTokenHashMismatch,
    /// The proof was accepted before, within its window, by some worker of this process.
    Replayed,
    /// The replay cache is full of live proofs: this one cannot be remembered, so it is refused.
    ReplayCacheFull,
    /// The replay cache's store refused the write, or other writers kept winning.
    ReplayCacheUnavailable,
    /// A token under the `DPoP` scheme that is not bound to a key (no `cnf.jkt`).
    TokenNotBound,
    /// `cnf.jkt` is not the thumbprint of the proof's key.
    KeyMismatch,
    /// A DPoP-bound token (`cnf.jkt`) under another scheme than `DPoP`.
    BoundTokenAsBearer,
    /// `dpop.required`, and the token was not sent under the `DPoP` scheme.
    DpopRequired,
    /// `cnf` is not an object, or `jkt` or `x5t#S256` in it not a string.
    MalformedConfirmation,
    /// The token must be bound to a client certificate (`cnf["x5t#S256"]`, or the provider's
    /// `certificate_bound`) and the connection presented none.
    CertificateMissing,
    /// `cnf["x5t#S256"]` is not the SHA-256 of the connection's client certificate.
    CertificateMismatch,
    /// `certificate_bound`, and the token has no `cnf["x5t#S256"]`.
    CertificateBindingMissing,
}

impl BindingError {
    /// The text a client sees (in jwt_authn's style).
    pub fn message(self) -> &'static str {
        match self {
            Self::Proof(error) => error.message(),
            Self::ProofMissing => "DPoP-bound Jwt requires a DPoP proof",
            Self::MultipleProofs => "Found multiple DPoP proofs",
            Self::AlgorithmNotAllowed => "DPoP proof [alg] is not allowed",
            Self::MethodMismatch => "DPoP proof [htm] does not match the request method",
            Self::UriMismatch => "DPoP proof [htu] does not match the request URI",
            Self::ProofTooOld { .. } => "DPoP proof is too old",
            Self::ProofFromTheFuture { .. } => "DPoP proof [iat] is in the future",
            Self::AccessTokenHashMismatch => "DPoP proof [ath] does not match the access token",
            Self::Replayed => "DPoP proof has been used before",
            Self::ReplayCacheFull => "DPoP replay cache is full",
            Self::ReplayCacheUnavailable => "DPoP replay cache is unavailable",
            Self::TokenNotBound => "Jwt is not bound to a DPoP key",
            Self::KeyMismatch => "Jwt is bound to another DPoP key",
            Self::BoundTokenAsBearer => "DPoP-bound Jwt must be sent with the DPoP scheme",
            Self::DpopRequired => "Jwt must be sent with the DPoP scheme and a DPoP proof",
            Self::MalformedConfirmation => "Jwt payload [cnf] field is not an object of strings",
            Self::CertificateMissing => {
                "Jwt is bound to a client certificate and the connection has none"
            }
            Self::CertificateMismatch => "Jwt is bound to another client certificate",
            Self::CertificateBindingMissing => "Jwt is not bound to a client certificate",
        }
    }

    /// The suffix of its `denied_by_reason` counter.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Proof(
                ProofError::TooLarge
                | ProofError::Malformed
                | ProofError::BadType
                | ProofError::UnsupportedCritical
                | ProofError::BadClaim(_),
            ) => "dpop_proof_malformed",
            Self::Proof(ProofError::BadAlgorithm) | Self::AlgorithmNotAllowed => {
                "dpop_proof_alg_not_allowed"
            }
            Self::Proof(ProofError::BadKey | ProofError::PrivateKey) => "dpop_proof_key_invalid",
            Self::Proof(ProofError::InvalidSignature) => "dpop_proof_verification_fails",
            Self::ProofMissing => "dpop_proof_missing",
            Self::MultipleProofs => "dpop_proof_multiple",
            Self::MethodMismatch => "dpop_htm_mismatch",
            Self::UriMismatch => "dpop_htu_mismatch",
            Self::ProofTooOld { .. } => "dpop_proof_too_old",
            Self::ProofFromTheFuture { .. } => "dpop_proof_from_the_future",
            Self::AccessTokenHashMismatch => "dpop_ath_mismatch",
            Self::Replayed => "dpop_replayed",
            Self::ReplayCacheFull => "dpop_replay_cache_full",
            Self::ReplayCacheUnavailable => "dpop_replay_cache_unavailable",
            Self::TokenNotBound => "dpop_token_not_bound",
            Self::KeyMismatch => "dpop_key_mismatch",
            Self::BoundTokenAsBearer => "dpop_bound_token_as_bearer",
            Self::DpopRequired => "dpop_required",
            Self::MalformedConfirmation => "jwt_cnf_malformed",
            Self::CertificateMissing => "certificate_missing",
            Self::CertificateMismatch => "certificate_mismatch",
            Self::CertificateBindingMissing => "certificate_binding_missing",
        }
    }

    /// 503 when the replay cache cannot take the proof (the proof may be fine; the server cannot
    /// tell); else 401.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::ReplayCacheFull | Self::ReplayCacheUnavailable => 503,
            _ => 401,
        }
    }

    /// RFC 9449 §7.1's error code: `invalid_dpop_proof` for a bad proof, `invalid_token` for a
    /// token that is not bound as it must be; none when the server is at fault.
    pub const fn error_code(self) -> Option<&'static str> {
        match self {
            Self::ReplayCacheFull | Self::ReplayCacheUnavailable => None,
            Self::Proof(_)
            | Self::MultipleProofs
            | Self::AlgorithmNotAllowed
            | Self::MethodMismatch
            | Self::UriMismatch
            | Self::ProofTooOld { .. }
            | Self::ProofFromTheFuture { .. }
            | Self::AccessTokenHashMismatch
            | Self::Replayed => Some("invalid_dpop_proof"),
            _ => Some("invalid_token"),
        }
    }

    /// Whether the failure is about DPoP (answered with the `DPoP` challenge), not about the
    /// token or its certificate.
    pub const fn is_about_dpop(self) -> bool {
        !matches!(
            self,
            Self::MalformedConfirmation
                | Self::CertificateMissing
                | Self::CertificateMismatch
                | Self::CertificateBindingMissing
        )
    }
}

/// One request's binding checks, with what they learn kept for the request: the proof is
/// parsed and its signature checked once, its `jti` recorded once.
pub(super) struct Binder<'r> {
    config: &'r Config,
    sender: Sender<'r>,
    /// The request as it arrived (before any method override: a proof names the method the
    /// client sent).
    request: Request<'r>,
    now: Time,
    verifier: &'r dyn SignatureVerifier,
    proof: OnceCell<Result<Proof<'r>, BindingError>>,
    uri: OnceCell<Option<String>>,
    /// The replay-cache identity and verdict of the proof, once recorded.
    recorded: Option<([u8; 32], Result<(), BindingError>)>,
}

impl<'r> Binder<'r> {
    pub fn new(
        config: &'r Config,
        sender: Sender<'r>,
        request: Request<'r>,
        now: Time,
        verifier: &'r dyn SignatureVerifier,
    ) -> Self {
        Self {
            config,
            sender,
            request,
            now,
            verifier,
            proof: OnceCell::new(),
            uri: OnceCell::new(),
            recorded: None,
        }
    }

    /// Checks how a verified token of `provider`, found at `location`, is bound to its sender.
    pub fn check(
        &mut self,
        provider: &Provider,
        location: usize,
        token: &str,
        confirmation: &Confirmation,
    ) -> Result<(), BindingError> {
        match (&confirmation.x5t_s256, provider.certificate_bound) {
            (Some(thumbprint), _) => {
                let certificate = self
                    .sender
                    .downstream
                    .client_certificate_sha256()
                    .ok_or(BindingError::CertificateMissing)?;
                if URL_SAFE_NO_PAD.encode(certificate) != *thumbprint {
                    return Err(BindingError::CertificateMismatch);
                }
            }
            (None, true) => return Err(BindingError::CertificateBindingMissing),
            (None, false) => {}
        }
        match &provider.dpop {
            Some(policy) if location == policy.location => {
                self.check_proof(policy, token, confirmation)
            }
            Some(policy) if policy.required => Err(BindingError::DpopRequired),
            _ if confirmation.jkt.is_some() => Err(BindingError::BoundTokenAsBearer),
            _ => Ok(()),
        }
    }

    /// Whether the request carries a `DPoP` header (removed before it goes upstream, once a
    /// DPoP provider verified its token, unless `forward`).
    pub fn has_proof_header(&self) -> bool {
        self.request.header("dpop").is_some()
    }

    /// The request will wait for keys and be decided again: the proof it recorded is forgotten,
    /// or the second decision would take it for a replay.
    pub fn release(&mut self) {
        if let Some((id, Ok(()))) = self.recorded.take() {
            self.config
                .replay_cache
                .forget(self.sender.replay_store, &id, self.now);
        }
    }

    /// RFC 9449 §4.3, steps 5 and 8 to 12, for a token sent under the `DPoP` scheme.
    fn check_proof(
        &mut self,
        policy: &DpopPolicy,
        token: &str,
        confirmation: &Confirmation,
    ) -> Result<(), BindingError> {
        let proof = self.proof().clone()?;
        if !policy.algorithms.contains(&proof.alg) {
            return Err(BindingError::AlgorithmNotAllowed);
        }
        if Some(proof.htm.as_bytes()) != self.request.header(":method") {
            return Err(BindingError::MethodMismatch);
        }
        match (normalized_htu(&proof.htu), self.uri()) {
            (Some(htu), Some(uri)) if htu == *uri => {}
            _ => return Err(BindingError::UriMismatch),
        }
        let (iat, now) = (proof.iat, self.now);
        if iat.saturating_add(policy.window_seconds) < now.seconds() {
            return Err(BindingError::ProofTooOld { iat, now });
        }
        if iat > now.seconds().saturating_add(policy.window_seconds) {
            return Err(BindingError::ProofFromTheFuture { iat, now });
        }
        if proof.ath.as_deref() != Some(access_token_hash(token).as_str()) {
            return Err(BindingError::AccessTokenHashMismatch);
        }
        match &confirmation.jkt {
            None => return Err(BindingError::TokenNotBound),
            Some(jkt) if *jkt != proof.thumbprint => return Err(BindingError::KeyMismatch),
            Some(_) => {}
        }
        self.record(&proof)
    }

    /// The request's one proof, parsed and its signature checked.
    fn proof(&self) -> &Result<Proof<'r>, BindingError> {
        self.proof.get_or_init(|| {
            let mut values = self
                .request
                .headers
                .iter()
                .filter(|(name, _)| name == b"dpop")
                .map(|(_, value)| *value);
            let value = match (values.next(), values.next()) {
                (None, _) => return Err(BindingError::ProofMissing),
                (Some(value), None) if !value.contains(&b',') => value.trim_ascii(),
                _ => return Err(BindingError::MultipleProofs),
            };
            let proof = Proof::parse(value, &self.config.limits).map_err(BindingError::Proof)?;
            let message = proof.signing_input.as_bytes();
            if !self
                .verifier
                .verify(proof.alg, &proof.key, message, &proof.signature)
            {
                return Err(BindingError::Proof(ProofError::InvalidSignature));
            }
            Ok(proof)
        })
    }

    /// The request's URI as a proof's `htu` must name it (normalised), if it has one.
    fn uri(&self) -> Option<&String> {
        self.uri
            .get_or_init(|| {
                let scheme = self.scheme()?;
                let authority = self
                    .request
                    .header(":authority")
                    .or_else(|| self.request.header("host"))?;
                let path = self.request.header(":path")?;
                normalized_uri(scheme, authority, path)
            })
            .as_ref()
    }

    /// The scheme the client used: the connection's, or, behind a trusted proxy, the one
    /// `X-Forwarded-Proto` names (exactly one value, `http` or `https`; anything else matches
    /// no proof).
    fn scheme(&self) -> Option<&'static [u8]> {
        if self.config.behind_trusted_proxy {
            let mut values = self
                .request
                .headers
                .iter()
                .filter(|(name, _)| name == b"x-forwarded-proto")
                .map(|(_, value)| value.trim_ascii());
            match (values.next(), values.next()) {
                (Some(value), None) if value.eq_ignore_ascii_case(b"https") => {
                    return Some(b"https")
                }
                (Some(value), None) if value.eq_ignore_ascii_case(b"http") => return Some(b"http"),
                (Some(_), _) => return None,
                (None, _) => {}
            }
        }
        Some(if self.sender.downstream.is_tls() {
            b"https"
        } else {
            b"http"
        })
    }

    /// Records the proof in the replay cache, once per request, until the widest window any
    /// provider accepts it in has passed.
    fn record(&mut self, proof: &Proof<'_>) -> Result<(), BindingError> {
        if let Some((_, verdict)) = &self.recorded {
            return *verdict;
        }
        let mut context = Context::new(&SHA256);
        for part in [
            &b"jwt-gate dpop proof\0"[..],
            proof.thumbprint.as_bytes(),
            b"\0",
            proof.jti.as_bytes(),
        ] {
            context.update(part);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(context.finish().as_ref());
        let window = self
            .config
            .providers
            .iter()
            .filter_map(|provider| provider.dpop.as_ref())
            .map(|policy| policy.window_seconds)
            .max()
            .unwrap_or_default();
        let expires_at = proof.iat.saturating_add(window).saturating_add(1);
        let verdict = match self.config.replay_cache.record(
            self.sender.replay_store,
            &id,
            expires_at,
            self.now,
        ) {
            Recorded::New => Ok(()),
            Recorded::Replayed => Err(BindingError::Replayed),
            Recorded::Full => Err(BindingError::ReplayCacheFull),
            Recorded::Unavailable => Err(BindingError::ReplayCacheUnavailable),
        };
        self.recorded = Some((id, verdict));
        verdict
    }
}

/// The `DPoP` side of a denial's challenge: the algorithms a rule's DPoP providers accept, and
/// whether bearer tokens are accepted there too.
pub(super) struct DpopChallenge {
    /// Space-separated, as `algs` wants them.
    pub algs: String,
    /// Some provider of the rule takes bearer tokens (no `dpop`, or `dpop.required: false`).
    pub bearer_too: bool,
    /// The request sent a token under the `DPoP` scheme.
    pub presented_as_dpop: bool,
}

impl DpopChallenge {
    /// The challenge for a rule requiring `requirement`, if one of its providers has `dpop`.
    /// `found` says whether the request has a token at a location.
    pub fn of(
        config: &Config,
        requirement: &Requirement,
        found: impl Fn(usize) -> bool,
    ) -> Option<Self> {
        // The usual configuration, without DPoP: nothing to walk (this runs on every 401).
        if config
            .providers
            .iter()
            .all(|provider| provider.dpop.is_none())
        {
            return None;
        }
        let mut providers = Vec::new();
        providers_of(requirement, config.providers.len(), &mut providers);
        let mut algs: Vec<&str> = Vec::new();
        let mut bearer_too = false;
        let mut presented_as_dpop = false;
        for provider in providers.iter().filter_map(|&p| config.providers.get(p)) {
            let Some(policy) = &provider.dpop else {
                bearer_too = true;
                continue;
            };
            bearer_too |= !policy.required;
            presented_as_dpop |= found(policy.location);
            for alg in &policy.algorithms {
                if !algs.contains(&alg.name()) {
                    algs.push(alg.name());
                }
            }
        }
        (!algs.is_empty()).then(|| Self {
            algs: algs.join(" "),
            bearer_too,
            presented_as_dpop,
        })
    }
}

/// The providers a requirement may check (every one, where any token is checked).
fn providers_of(requirement: &Requirement, count: usize, out: &mut Vec<usize>) {
    match requirement {
        Requirement::Provider { provider, .. } => {
            if !out.contains(provider) {
                out.push(*provider);
            }
        }
        Requirement::All(children) | Requirement::Any(children) => {
            for child in children {
                providers_of(child, count, out);
            }
        }
        Requirement::AllowMissing | Requirement::AllowMissingOrFailed => {
            for provider in 0..count {
                if !out.contains(&provider) {
                    out.push(provider);
                }
            }
        }
        Requirement::ApiKey { .. } | Requirement::NoCheck => {}
    }
}

#[cfg(test)]
mod tests;
