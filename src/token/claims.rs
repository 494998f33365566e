//! A token's claims as parsed: the registered claims of RFC 7519 §4.1 with their types checked,
//! and how a configured name finds a claim in the payload (full name, dotted path, or literal).

use serde_json::{Map, Value};

use super::error::TokenError;

/// The registered claims of RFC 7519 §4.1, with their types checked.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Claims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, a string or a list of strings in the token; always a list here.
    pub aud: Vec<String>,
    /// `exp`, seconds since the epoch (fractions truncated).
    pub exp: Option<u64>,
    /// `nbf`, seconds since the epoch (fractions truncated).
    pub nbf: Option<u64>,
    /// `iat`, seconds since the epoch (parsed, type-checked, not compared with the clock).
    pub iat: Option<u64>,
    /// `jti`.
    pub jti: Option<String>,
}

impl Claims {
    pub(super) fn from_payload(payload: &Map<String, Value>) -> Result<Self, TokenError> {
        use TokenError::*;
        Ok(Self {
            iss: string_claim(payload, "iss", PayloadIssNotString)?,
            sub: string_claim(payload, "sub", PayloadSubNotString)?,
            aud: match payload.get("aud") {
                None => Vec::new(),
                Some(Value::String(aud)) => vec![aud.clone()],
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or(PayloadAudNotString)?,
                Some(_) => return Err(PayloadAudNotString),
            },
            exp: time_claim(payload, "exp", PayloadExpNotInteger, PayloadExpOutOfRange)?,
            nbf: time_claim(payload, "nbf", PayloadNbfNotInteger, PayloadNbfOutOfRange)?,
            iat: time_claim(payload, "iat", PayloadIatNotInteger, PayloadIatOutOfRange)?,
            jti: string_claim(payload, "jti", PayloadJtiNotString)?,
        })
    }
}

fn string_claim(
    payload: &Map<String, Value>,
    name: &str,
    not_string: TokenError,
) -> Result<Option<String>, TokenError> {
    match payload.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(not_string),
    }
}

/// A NumericDate (RFC 7519 §2): a non-negative number of seconds; fractions are truncated, as
/// jwt_authn does.
fn time_claim(
    payload: &Map<String, Value>,
    name: &str,
    not_number: TokenError,
    out_of_range: TokenError,
) -> Result<Option<u64>, TokenError> {
    let Some(value) = payload.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(not_number);
    };
    if let Some(seconds) = number.as_u64() {
        return Ok(Some(seconds));
    }
    if number.is_i64() {
        return Err(out_of_range);
    }
    match number.as_f64() {
        // 2^64 is exactly representable; anything at or above it does not fit.
        Some(seconds)
            if seconds.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&seconds) =>
        {
            #[allow(
                clippy::as_conversions,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            // In range and non-negative, checked above; `as` truncates the fraction.
            Ok(Some(seconds as u64))
        }
        _ => Err(out_of_range),
    }
}

/// How a configured claim name finds its claim (jwt-gate's provider field `claim_lookup`).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum ClaimLookup {
    /// jwt_authn's: the claim of that full name, else a dotted path into nested objects.
    #[default]
    Path,
    /// The claim of that full name only; a dot is part of the name (OCI API Gateway's
    /// `request.auth[...]` and `verifyClaims` keys).
    Literal,
}

impl ClaimLookup {
    /// The claim `name` of `payload`, looked up this way.
    pub fn find<'p>(self, payload: &'p Map<String, Value>, name: &str) -> Option<&'p Value> {
        match self {
            Self::Path => claim(payload, name),
            Self::Literal => payload.get(name),
        }
    }
}

/// A claim by its full name (so `https://example.com/roles` works), else by a dotted path into
/// nested objects (`realm_access.roles`), as jwt_authn does.
pub fn claim<'p>(payload: &'p Map<String, Value>, name: &str) -> Option<&'p Value> {
    if let Some(value) = payload.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut current = payload.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// The scopes a token grants: `scope` as a space-delimited string (RFC 8693 §4.2) or a list,
/// else `scp` (Okta, Azure AD) in either form.
pub fn scopes(payload: &Map<String, Value>) -> Vec<String> {
    let read = |value: &Value| -> Option<Vec<String>> {
        match value {
            Value::String(text) => Some(text.split_ascii_whitespace().map(str::to_owned).collect()),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => None,
        }
    };
    payload
        .get("scope")
        .and_then(read)
        .or_else(|| payload.get("scp").and_then(read))
        .unwrap_or_default()
}
