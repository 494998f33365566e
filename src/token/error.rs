//! Why a token could not be parsed: one variant per failure a client can see, with
//! jwt_authn's texts where jwt_authn has the case.

use std::fmt;

/// Why a token could not be parsed. The texts are jwt_authn's where jwt_authn has the case.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not exactly three non-empty dot-separated parts.
    BadFormat,
    /// `alg` missing or not a string.
    HeaderBadAlg,
    /// The header segment is not canonical unpadded base64url.
    HeaderBadBase64,
    /// The header is not a JSON object, or has duplicate members.
    HeaderBadJson,
    /// `kid` is present but not a string.
    HeaderBadKid,
    /// `alg` is not on the allow-list (`none` included).
    HeaderNotImplementedAlg,
    /// `crit` names an extension jwt-gate does not implement, or is malformed (RFC 7515 §4.1.11);
    /// also `b64: false` (RFC 7797), which must not be processed without understanding it.
    HeaderUnsupportedCritical,
    /// `aud` is neither a string nor a list of strings.
    PayloadAudNotString,
    /// The payload segment is not canonical unpadded base64url.
    PayloadBadBase64,
    /// The payload is not a JSON object, or has duplicate members.
    PayloadBadJson,
    /// `exp` is not a number.
    PayloadExpNotInteger,
    /// `exp` is negative or beyond 64 bits.
    PayloadExpOutOfRange,
    /// `iat` is not a number.
    PayloadIatNotInteger,
    /// `iat` is negative or beyond 64 bits.
    PayloadIatOutOfRange,
    /// `iss` is not a string.
    PayloadIssNotString,
    /// `jti` is not a string.
    PayloadJtiNotString,
    /// `nbf` is not a number.
    PayloadNbfNotInteger,
    /// `nbf` is negative or beyond 64 bits.
    PayloadNbfOutOfRange,
    /// `sub` is not a string.
    PayloadSubNotString,
    /// The signature segment is not canonical unpadded base64url.
    SignatureBadBase64,
    /// The token is longer than [`Limits::max_token_bytes`].
    TooLarge,
}

impl TokenError {
    /// jwt_authn's text for this failure (or, for checks jwt_authn lacks, one in its style).
    pub const fn message(self) -> &'static str {
        match self {
            Self::BadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            Self::HeaderBadAlg => "Jwt header [alg] field is required and must be a string",
            Self::HeaderBadBase64 => "Jwt header is an invalid Base64url encoded",
            Self::HeaderBadJson => "Jwt header is an invalid JSON",
            Self::HeaderBadKid => "Jwt header [kid] field is not a string",
            Self::HeaderNotImplementedAlg => "Jwt header [alg] is not supported",
            Self::HeaderUnsupportedCritical => "Jwt header [crit] lists an unsupported extension",
            Self::PayloadAudNotString => "Jwt payload [aud] field is not a string or string list",
            Self::PayloadBadBase64 => "Jwt payload is an invalid Base64url encoded",
            Self::PayloadBadJson => "Jwt payload is an invalid JSON",
            Self::PayloadExpNotInteger => "Jwt payload [exp] field is not an integer",
            Self::PayloadExpOutOfRange => {
                "Jwt payload [exp] field is not a positive 64 bit integer"
            }
            Self::PayloadIatNotInteger => "Jwt payload [iat] field is not an integer",
            Self::PayloadIatOutOfRange => {
                "Jwt payload [iat] field is not a positive 64 bit integer"
            }
            Self::PayloadIssNotString => "Jwt payload [iss] field is not a string",
            Self::PayloadJtiNotString => "Jwt payload [jti] field is not a string",
            Self::PayloadNbfNotInteger => "Jwt payload [nbf] field is not an integer",
            Self::PayloadNbfOutOfRange => {
                "Jwt payload [nbf] field is not a positive 64 bit integer"
            }
            Self::PayloadSubNotString => "Jwt payload [sub] field is not a string",
            Self::SignatureBadBase64 => "Jwt signature is an invalid Base64url encoded",
            Self::TooLarge => "Jwt is too large",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}
