//! The client-visible outcome of a failed check: one variant per failure, with its text
//! (jwt_authn's; ESPv2's for API keys and requests outside an OpenAPI document; Envoy RBAC's for
//! `when`), its status (401; 403 for a genuine token that is not for this request: audience,
//! `verify_claims`, `allowed_scopes`, `when`; 400 for an API key that is not valid or an
//! ambiguous path; 503 for a DPoP replay cache that cannot take a proof; a `deny` rule's own),
//! and the counter each failure is counted under.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::binding::BindingError;
use crate::config::Deny;
use crate::policy::api_key::ApiKeyError;
use crate::policy::claims::ClaimsError;
use crate::token::extractor::ExtractError;
use crate::token::TokenError;
use crate::verify::VerifyError;

/// Why a request was denied.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum AuthError {
    /// A path template rule applies to the path as sent but not to a path a backend may route
    /// it to (percent-decoded, without `;` parameters or a trailing `/`), or the other way
    /// round: `/v1/things/1%3Apurge`, `1:purge;x` or `1:purge/` where `/v1/things/{id}` and
    /// `/v1/things/{id}:purge` differ; or an encoded `/` in a path a template rule judges.
    AmbiguousPath,
    /// No API key where an `api_key_name` requirement looks for one (ESPv2's answer, from its
    /// service control filter).
    ApiKeyMissing,
    /// An API key whose SHA-256 digest is not among the accepted ones (Service Control's
    /// `API_KEY_INVALID`, as ESPv2 answers it).
    ApiKeyNotValid,
    /// The token is not bound to its sender as it must be, or its DPoP proof is not
    /// acceptable.
    Binding(BindingError),
    /// The claims are not acceptable.
    Claims(ClaimsError),
    /// No token that satisfied the requirement meets the rule's `when` conditions; the key of
    /// the first one failed (for the debug log: the body never names it).
    ConditionNotMet(Arc<str>),
    /// The rule that matched denies (`deny`: ESPv2's 404 for requests outside the OpenAPI
    /// document, 405 for a known path with another method).
    Denied(Deny),
    /// The provider's key set could not be obtained.
    JwksFetchFailed,
    /// No token where one is required.
    Missing,
    /// A location carried more than one token (two `Authorization` headers, two `access_token`
    /// parameters, two cookies of one name), or the request carried too many tokens.
    MultipleTokens,
    /// The signature did not verify.
    Signature(VerifyError),
    /// No verified token grants one of the route's `allowed_scopes`.
    ScopeNotAllowed,
    /// The token could not be parsed.
    Token(TokenError),
}

impl AuthError {
    /// The response body: jwt_authn's text.
    pub fn message(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::AmbiguousPath => "The request path is ambiguous: a backend may read it as another path",
            Self::ApiKeyMissing => "UNAUTHENTICATED: Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            Self::ApiKeyNotValid => "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
            Self::Binding(error) => error.message(),
            Self::Claims(error) => return error.message(),
            // What Envoy's RBAC filter answers when an Istio AuthorizationPolicy denies: the
            // clients of a migrated mesh see the same, and no claim value is echoed.
            Self::ConditionNotMet(_) => "RBAC: access denied",
            Self::Denied(deny) => return Cow::Owned(deny.message.to_string()),
            Self::JwksFetchFailed => "Jwks remote fetch is failed",
            Self::Missing => "Jwt is missing",
            Self::MultipleTokens => "Found multiple Jwt tokens",
            Self::ScopeNotAllowed => "Scopes in Jwt are not allowed",
            Self::Signature(error) => error.message(),
            Self::Token(error) => error.message(),
        })
    }

    /// 403 when the token is genuine but not for this request (audience, `verify_claims`,
    /// `allowed_scopes`, `when`); 400 for an ambiguous path and an API key that is not valid
    /// (ESPv2's `INVALID_ARGUMENT`); a `deny` rule's own status; else 401.
    pub const fn http_status(&self) -> u16 {
        match self {
            Self::AmbiguousPath | Self::ApiKeyNotValid => 400,
            Self::Binding(error) => error.http_status(),
            Self::Denied(deny) => deny.status,
            Self::Claims(
                ClaimsError::AudienceNotAllowed
                | ClaimsError::ClaimMissing(_)
                | ClaimsError::ClaimNotAllowed(_),
            )
            | Self::ConditionNotMet(_)
            | Self::ScopeNotAllowed => 403,
            _ => 401,
        }
    }

    /// The suffix of the `denied_by_reason` counter this failure increments.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::AmbiguousPath => "path_ambiguous",
            Self::ApiKeyMissing => "api_key_missing",
            Self::ApiKeyNotValid => "api_key_not_valid",
            Self::Denied(_) => "rule_denied",
            Self::Binding(error) => error.reason(),
            Self::Claims(ClaimsError::AudienceNotAllowed) => "jwt_audience_not_allowed",
            Self::Claims(ClaimsError::ClaimMissing(_) | ClaimsError::ClaimNotAllowed(_)) => {
                "jwt_claim_not_allowed"
            }
            Self::ScopeNotAllowed => "jwt_scope_not_allowed",
            Self::ConditionNotMet(_) => "authz_denied",
            Self::Claims(ClaimsError::Expired { .. }) => "jwt_expired",
            Self::Claims(ClaimsError::IssuerNotAllowed) => "jwt_issuer_not_configured",
            Self::Claims(ClaimsError::NotYetValid { .. }) => "jwt_not_yet_valid",
            Self::Claims(ClaimsError::ExpirationRequired | ClaimsError::LifetimeTooLong) => {
                "jwt_lifetime_not_allowed"
            }
            Self::Claims(ClaimsError::SubjectNotAllowed) => "jwt_subject_not_allowed",
            Self::JwksFetchFailed => "jwks_fetch_failed",
            Self::Missing => "jwt_missing",
            Self::MultipleTokens => "jwt_multiple_tokens",
            Self::Signature(VerifyError::InvalidSignature) => "jwt_verification_fails",
            Self::Signature(VerifyError::KidAlgMismatch) => "jwks_kid_alg_mismatch",
            Self::Token(TokenError::HeaderNotImplementedAlg) => "jwt_alg_not_supported",
            Self::Token(TokenError::TooLarge) => "jwt_too_large",
            Self::Token(_) => "jwt_malformed",
        }
    }

    /// Every `reason()` value, so the host can define the counters up front.
    pub const REASONS: [&'static str; 43] = [
        "path_ambiguous",
        "api_key_missing",
        "api_key_not_valid",
        "rule_denied",
        "jwt_audience_not_allowed",
        "jwt_claim_not_allowed",
        "jwt_scope_not_allowed",
        "authz_denied",
        "jwt_expired",
        "jwt_issuer_not_configured",
        "jwt_not_yet_valid",
        "jwt_lifetime_not_allowed",
        "jwt_subject_not_allowed",
        "jwks_fetch_failed",
        "jwt_missing",
        "jwt_multiple_tokens",
        "jwt_verification_fails",
        "jwks_kid_alg_mismatch",
        "jwt_alg_not_supported",
        "jwt_too_large",
        "jwt_malformed",
        // Sender-constrained tokens (`binding::BindingError`).
        "dpop_proof_malformed",
        "dpop_proof_alg_not_allowed",
        "dpop_proof_key_invalid",
        "dpop_proof_verification_fails",
        "dpop_proof_missing",
        "dpop_proof_multiple",
        "dpop_htm_mismatch",
        "dpop_htu_mismatch",
        "dpop_proof_too_old",
        "dpop_proof_from_the_future",
        "dpop_ath_mismatch",
        "dpop_replayed",
        "dpop_replay_cache_full",
        "dpop_replay_cache_unavailable",
        "dpop_token_not_bound",
        "dpop_key_mismatch",
        "dpop_bound_token_as_bearer",
        "dpop_required",
        "jwt_cnf_malformed",
        "certificate_missing",
        "certificate_mismatch",
        "certificate_binding_missing",
    ];

    /// What the debug log says about this denial beyond its message, if anything: the
    /// condition no token met (a key from the configuration, never a claim value).
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::ConditionNotMet(key) => Some(format!(
                "no verified token that satisfied the requirement meets the condition on {key}"
            )),
            _ => None,
        }
    }

    /// How specific an error is, for `requires_any`: any real failure beats an unknown issuer,
    /// which beats a missing token or API key (jwt_authn `verifier.cc`).
    pub(crate) const fn specificity(&self) -> u8 {
        match self {
            Self::Missing | Self::ApiKeyMissing => 0,
            Self::Claims(ClaimsError::IssuerNotAllowed) => 1,
            _ => 2,
        }
    }
}

impl From<ApiKeyError> for AuthError {
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::Missing => Self::ApiKeyMissing,
            ApiKeyError::NotValid => Self::ApiKeyNotValid,
        }
    }
}

impl From<ExtractError> for AuthError {
    fn from(error: ExtractError) -> Self {
        match error {
            ExtractError::MultipleTokens => Self::MultipleTokens,
        }
    }
}

impl From<BindingError> for AuthError {
    fn from(error: BindingError) -> Self {
        Self::Binding(error)
    }
}

impl From<ClaimsError> for AuthError {
    fn from(error: ClaimsError) -> Self {
        Self::Claims(error)
    }
}

impl From<TokenError> for AuthError {
    fn from(error: TokenError) -> Self {
        Self::Token(error)
    }
}

impl From<VerifyError> for AuthError {
    fn from(error: VerifyError) -> Self {
        Self::Signature(error)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_audience_is_forbidden() {
        assert_eq!(
            AuthError::Claims(ClaimsError::AudienceNotAllowed).http_status(),
            403
        );
        assert_eq!(AuthError::Missing.http_status(), 401);
        assert_eq!(
            AuthError::Signature(VerifyError::InvalidSignature).http_status(),
            401
        );
    }

    #[test]
    fn api_key_and_rule_answers_are_espv2s() {
        assert_eq!(AuthError::ApiKeyMissing.http_status(), 401);
        assert!(AuthError::ApiKeyMissing
            .message()
            .starts_with("UNAUTHENTICATED: Method doesn't allow unregistered callers"));
        assert_eq!(AuthError::ApiKeyNotValid.http_status(), 400);
        assert_eq!(
            AuthError::ApiKeyNotValid.message(),
            "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
        );
        let denied = AuthError::Denied(Deny {
            status: 405,
            message: "nope".into(),
        });
        assert_eq!(
            (denied.http_status(), denied.message()),
            (405, "nope".into())
        );
    }

    #[test]
    fn every_binding_reason_is_listed_and_answered_as_rfc_9449_says() {
        use crate::token::dpop::ProofError;
        let now = crate::time::Time::EPOCH;
        let samples = [
            BindingError::Proof(ProofError::Malformed),
            BindingError::Proof(ProofError::BadAlgorithm),
            BindingError::Proof(ProofError::PrivateKey),
            BindingError::Proof(ProofError::InvalidSignature),
            BindingError::ProofMissing,
            BindingError::MultipleProofs,
            BindingError::AlgorithmNotAllowed,
            BindingError::MethodMismatch,
            BindingError::UriMismatch,
            BindingError::ProofTooOld { iat: 0, now },
            BindingError::ProofFromTheFuture { iat: 0, now },
            BindingError::AccessTokenHashMismatch,
            BindingError::Replayed,
            BindingError::ReplayCacheFull,
            BindingError::ReplayCacheUnavailable,
            BindingError::TokenNotBound,
            BindingError::KeyMismatch,
            BindingError::BoundTokenAsBearer,
            BindingError::DpopRequired,
            BindingError::MalformedConfirmation,
            BindingError::CertificateMissing,
            BindingError::CertificateMismatch,
            BindingError::CertificateBindingMissing,
        ];
        let reasons: std::collections::BTreeSet<&str> =
            samples.iter().map(|error| error.reason()).collect();
        assert_eq!(reasons.len(), 22, "each reason has a sample");
        for error in samples {
            let error = AuthError::from(error);
            assert!(AuthError::REASONS.contains(&error.reason()), "{error:?}");
            assert!(!error.message().is_empty());
        }
        assert_eq!(
            BindingError::Replayed.error_code(),
            Some("invalid_dpop_proof")
        );
        assert_eq!(
            BindingError::KeyMismatch.error_code(),
            Some("invalid_token")
        );
        assert_eq!(
            BindingError::ProofMissing.error_code(),
            Some("invalid_token")
        );
        assert_eq!(
            AuthError::from(BindingError::ReplayCacheFull).http_status(),
            503
        );
        let unique: std::collections::BTreeSet<&str> = AuthError::REASONS.iter().copied().collect();
        assert_eq!(unique.len(), AuthError::REASONS.len());
    }

    #[test]
    fn every_reason_is_listed() {
        let samples = [
            AuthError::Claims(ClaimsError::AudienceNotAllowed),
            AuthError::Claims(ClaimsError::LifetimeTooLong),
            AuthError::Claims(ClaimsError::SubjectNotAllowed),
            AuthError::JwksFetchFailed,
            AuthError::Missing,
            AuthError::MultipleTokens,
            AuthError::Signature(VerifyError::KidAlgMismatch),
            AuthError::Token(TokenError::BadFormat),
            AuthError::Token(TokenError::TooLarge),
            AuthError::AmbiguousPath,
            AuthError::ApiKeyMissing,
            AuthError::ApiKeyNotValid,
            AuthError::ConditionNotMet("request.auth.claims[groups]".into()),
            AuthError::Denied(Deny {
                status: 404,
                message: "The current request is not defined by this API.".into(),
            }),
        ];
        for error in samples {
            assert!(AuthError::REASONS.contains(&error.reason()), "{error:?}");
            assert!(!error.message().is_empty());
        }
    }
}
