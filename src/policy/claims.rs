//! Claim checks, in jwt_authn's order: issuer (or issuer template), time (`nbf`, `exp`),
//! audience, subject, lifetime.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::policy::route::StringMatcher;
use crate::time::Time;
use crate::token::claims::ClaimLookup;
use crate::token::issuer::IssuerTemplate;
use crate::token::Claims;

/// What a provider requires of a token's claims.
#[derive(Clone, Debug, Default)]
pub struct ClaimRules {
    /// Required `iss`, compared exactly. `None`: any issuer (unless `issuer_template`).
    pub issuer: Option<String>,
    /// A templated issuer (`https://login.microsoftonline.com/{tid}/v2.0`): `iss` must match it,
    /// and each `{name}` segment must be the string claim `name` ([`ClaimRules::check_bindings`]).
    pub issuer_template: Option<IssuerTemplate>,
    /// Accepted audiences, normalized with [`normalize_audience`]. Empty: `aud` is not checked.
    pub audiences: Vec<String>,
    /// Leeway for `exp` and `nbf`, in seconds.
    pub clock_skew_seconds: u64,
    /// Reject tokens without `exp`.
    pub require_expiration: bool,
    /// Reject tokens whose remaining lifetime (`exp - now`) exceeds this many seconds.
    pub max_lifetime_seconds: Option<u64>,
    /// jwt_authn's `subjects`: the `sub` claim must match (a token without `sub` is matched as
    /// the empty string, as jwt_authn does).
    pub subjects: Option<StringMatcher>,
    /// jwt-gate's `verify_claims` (OCI API Gateway's `verifyClaims`): checked once the signature
    /// verified.
    pub verify_claims: Vec<ClaimCheck>,
}

/// One `verify_claims` entry: a claim that must (or, when present, may only) have one of the
/// listed values.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClaimCheck {
    /// The claim's name, or a dotted path into nested objects when no claim has the full name.
    pub name: Arc<str>,
    /// Allowed values, compared as exact strings; empty: any value.
    pub values: Vec<String>,
    /// The claim must be present.
    pub required: bool,
    /// How `name` is looked up.
    pub lookup: ClaimLookup,
}

impl ClaimCheck {
    /// Checks one payload.
    pub fn check(&self, payload: &serde_json::Map<String, Value>) -> Result<(), ClaimsError> {
        let Some(value) = self
            .lookup
            .find(payload, &self.name)
            .filter(|v| !v.is_null())
        else {
            return if self.required {
                Err(ClaimsError::ClaimMissing(Arc::clone(&self.name)))
            } else {
                Ok(())
            };
        };
        if self.values.is_empty() {
            return Ok(());
        }
        let allowed = |value: &Value| match value {
            Value::String(text) => self.values.iter().any(|v| v == text),
            Value::Number(_) | Value::Bool(_) => {
                let text = value.to_string();
                self.values.contains(&text)
            }
            _ => false,
        };
        let ok = match value {
            Value::Array(items) => items.iter().any(allowed),
            other => allowed(other),
        };
        if ok {
            Ok(())
        } else {
            Err(ClaimsError::ClaimNotAllowed(Arc::clone(&self.name)))
        }
    }
}

/// Why a token's claims are not acceptable.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum ClaimsError {
    /// No `aud` value is accepted.
    AudienceNotAllowed,
    /// A `verify_claims` claim is required and absent.
    ClaimMissing(Arc<str>),
    /// A `verify_claims` claim has none of the allowed values.
    ClaimNotAllowed(Arc<str>),
    /// `exp` is missing and required.
    ExpirationRequired,
    /// `now` is past `exp` plus the skew. `exp: 0` counts as expired (jwt_authn treats it as
    /// "no expiry").
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The time of the check.
        now: Time,
    },
    /// `iss` is not the provider's.
    IssuerNotAllowed,
    /// `exp - now` exceeds the provider's `max_lifetime`.
    LifetimeTooLong,
    /// `sub` does not match the provider's `subjects`.
    SubjectNotAllowed,
    /// `now` plus the skew is before `nbf`.
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
        /// The time of the check.
        now: Time,
    },
}

impl ClaimRules {
    /// Checks `claims` at `now` with these rules; `audiences` replaces the configured list when
    /// given (a `provider_and_audiences` requirement).
    pub fn check(
        &self,
        claims: &Claims,
        now: Time,
        audiences: Option<&[String]>,
    ) -> Result<(), ClaimsError> {
        self.check_issuer(claims)?;
        if let Some(nbf) = claims.nbf {
            if now.seconds().saturating_add(self.clock_skew_seconds) < nbf {
                return Err(ClaimsError::NotYetValid { nbf, now });
            }
        }
        match claims.exp {
            Some(exp)
                if now.seconds() > exp.saturating_add(self.clock_skew_seconds) || exp == 0 =>
            {
                return Err(ClaimsError::Expired { exp, now });
            }
            None if self.require_expiration || self.max_lifetime_seconds.is_some() => {
                return Err(ClaimsError::ExpirationRequired);
            }
            _ => {}
        }
        let audiences = audiences.unwrap_or(&self.audiences);
        if !audiences.is_empty()
            && !claims.aud.iter().any(|aud| {
                audiences
                    .iter()
                    .any(|allowed| *allowed == normalize_audience(aud))
            })
        {
            return Err(ClaimsError::AudienceNotAllowed);
        }
        if let Some(subjects) = &self.subjects {
            let sub = claims.sub.as_deref().unwrap_or_default();
            if !subjects.matches(sub.as_bytes()) {
                return Err(ClaimsError::SubjectNotAllowed);
            }
        }
        if let (Some(max), Some(exp)) = (self.max_lifetime_seconds, claims.exp) {
            if exp.saturating_sub(now.seconds()) > max {
                return Err(ClaimsError::LifetimeTooLong);
            }
        }
        Ok(())
    }

    /// The issuer check alone (jwt_authn runs it before anything else).
    pub fn check_issuer(&self, claims: &Claims) -> Result<(), ClaimsError> {
        if let Some(template) = &self.issuer_template {
            return match claims.iss.as_deref() {
                Some(iss) if template.matches(iss) => Ok(()),
                _ => Err(ClaimsError::IssuerNotAllowed),
            };
        }
        match &self.issuer {
            Some(issuer) if claims.iss.as_deref() != Some(issuer.as_str()) => {
                Err(ClaimsError::IssuerNotAllowed)
            }
            _ => Ok(()),
        }
    }

    /// A templated issuer's claims: each `{name}` segment `iss` has must be the string claim
    /// `name` of `payload` (`{tid}` is the token's `tid`), so a token of one tenant cannot pass
    /// for another's. Checked once per token before its signature; a cached token (the same
    /// bytes) holds the same claims.
    pub fn check_bindings(
        &self,
        claims: &Claims,
        payload: &Map<String, Value>,
    ) -> Result<(), ClaimsError> {
        let Some(template) = &self.issuer_template else {
            return Ok(());
        };
        let captures = claims
            .iss
            .as_deref()
            .and_then(|iss| template.captures(iss))
            .ok_or(ClaimsError::IssuerNotAllowed)?;
        for (name, segment) in captures {
            if payload.get(name).and_then(Value::as_str) != Some(segment) {
                return Err(ClaimsError::IssuerNotAllowed);
            }
        }
        Ok(())
    }

    /// Whether a token of issuer `iss` is this provider's by its issuer: equal to `issuer`, or
    /// matching `issuer_template`.
    pub fn names_issuer(&self, iss: Option<&str>) -> bool {
        match (&self.issuer, &self.issuer_template) {
            (_, Some(template)) => iss.is_some_and(|iss| template.matches(iss)),
            (Some(issuer), None) => iss == Some(issuer.as_str()),
            (None, None) => false,
        }
    }

    /// Whether the provider takes tokens of any issuer (neither `issuer` nor a template).
    pub fn any_issuer(&self) -> bool {
        self.issuer.is_none() && self.issuer_template.is_none()
    }
}

/// Audience comparison form, as jwt_authn and ESP document: without a leading `http://` or
/// `https://` and without one trailing `/`.
pub fn normalize_audience(audience: &str) -> &str {
    let rest = audience
        .strip_prefix("https://")
        .or_else(|| audience.strip_prefix("http://"))
        .unwrap_or(audience);
    rest.strip_suffix('/').unwrap_or(rest)
}

impl ClaimsError {
    /// jwt_authn's text (and jwt-gate's, in the same style, for its claim checks).
    pub fn message(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::ClaimMissing(name) => {
                return Cow::Owned(format!("Claim {name} is missing in Jwt"))
            }
            Self::ClaimNotAllowed(name) => {
                return Cow::Owned(format!("Claim {name} in Jwt is not allowed"))
            }
            Self::AudienceNotAllowed => "Audiences in Jwt are not allowed",
            // jwt_authn answers a subject mismatch with JwtVerificationFail too.
            Self::ExpirationRequired | Self::LifetimeTooLong | Self::SubjectNotAllowed => {
                "Jwt verification fails"
            }
            Self::Expired { .. } => "Jwt is expired",
            Self::IssuerNotAllowed => "Jwt issuer is not configured",
            Self::NotYetValid { .. } => "Jwt not yet valid",
        })
    }
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Time = Time::from_seconds(1_000_000);

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Some("https://issuer.test".into()),
            audiences: vec!["api.test".into()],
            clock_skew_seconds: 60,
            ..ClaimRules::default()
        }
    }

    fn claims() -> Claims {
        Claims {
            iss: Some("https://issuer.test".into()),
            aud: vec!["https://api.test/".into()],
            ..Claims::default()
        }
    }

    #[test]
    fn time_boundaries_include_the_skew() {
        let rules = rules();
        let at = |exp, nbf| {
            let claims = Claims {
                exp,
                nbf,
                ..claims()
            };
            rules.check(&claims, NOW, None)
        };
        assert_eq!(at(Some(NOW.seconds() - 60), None), Ok(()));
        assert_eq!(
            at(Some(NOW.seconds() - 61), None),
            Err(ClaimsError::Expired {
                exp: NOW.seconds() - 61,
                now: NOW
            })
        );
        assert_eq!(at(None, Some(NOW.seconds() + 60)), Ok(()));
        assert_eq!(
            at(None, Some(NOW.seconds() + 61)),
            Err(ClaimsError::NotYetValid {
                nbf: NOW.seconds() + 61,
                now: NOW
            })
        );
        assert_eq!(
            at(Some(0), None),
            Err(ClaimsError::Expired { exp: 0, now: NOW })
        );
        assert_eq!(at(Some(u64::MAX), None), Ok(()));
    }

    #[test]
    fn issuer_is_exact() {
        let other = Claims {
            iss: Some("https://issuer.test/".into()),
            ..claims()
        };
        assert_eq!(
            rules().check(&other, NOW, None),
            Err(ClaimsError::IssuerNotAllowed)
        );
        let none = Claims {
            iss: None,
            ..claims()
        };
        assert_eq!(
            rules().check(&none, NOW, None),
            Err(ClaimsError::IssuerNotAllowed)
        );
        let any = ClaimRules {
            issuer: None,
            ..rules()
        };
        assert_eq!(any.check(&none, NOW, None), Ok(()));
    }

    #[test]
    fn audiences_normalize_scheme_and_one_trailing_slash() {
        assert_eq!(normalize_audience("https://api.test/"), "api.test");
        assert_eq!(normalize_audience("http://api.test"), "api.test");
        assert_eq!(normalize_audience("api.test//"), "api.test/");
        let claims_with = |aud: &[&str]| Claims {
            aud: aud.iter().map(|a| a.to_string()).collect(),
            ..claims()
        };
        assert_eq!(
            rules().check(&claims_with(&["x", "http://api.test"]), NOW, None),
            Ok(())
        );
        assert_eq!(
            rules().check(&claims_with(&["api.test.evil"]), NOW, None),
            Err(ClaimsError::AudienceNotAllowed)
        );
        assert_eq!(
            rules().check(&claims_with(&[]), NOW, None),
            Err(ClaimsError::AudienceNotAllowed)
        );
        let override_list = vec!["other".to_string()];
        assert_eq!(
            rules().check(&claims_with(&["other"]), NOW, Some(&override_list)),
            Ok(())
        );
    }

    #[test]
    fn expiration_and_lifetime() {
        let required = ClaimRules {
            require_expiration: true,
            ..rules()
        };
        assert_eq!(
            required.check(&claims(), NOW, None),
            Err(ClaimsError::ExpirationRequired)
        );
        let bounded = ClaimRules {
            max_lifetime_seconds: Some(3600),
            ..rules()
        };
        let long = Claims {
            exp: Some(NOW.seconds() + 3601),
            ..claims()
        };
        let short = Claims {
            exp: Some(NOW.seconds() + 3600),
            ..claims()
        };
        assert_eq!(
            bounded.check(&long, NOW, None),
            Err(ClaimsError::LifetimeTooLong)
        );
        assert_eq!(bounded.check(&short, NOW, None), Ok(()));
        assert_eq!(
            bounded.check(&claims(), NOW, None),
            Err(ClaimsError::ExpirationRequired)
        );
    }
}
