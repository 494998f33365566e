//! Tokens: parsing a JWS compact serialization (RFC 7515 §7.1) into a typed token, strictly (this
//! file); the JWS `algorithm`s; the parsed `claims` and how a configured name finds one; `issuer`
//! templates; the `confirmation` (`cnf`) that binds a token to its sender; `dpop` proofs; and the
//! `extractor`, which finds tokens in a request.
//!
//! Sizes are checked before decoding; the form must be exactly three non-empty parts of unpadded,
//! canonical base64url; the header and payload must be JSON objects without duplicate members; an
//! unknown `crit` extension is rejected. Header parameters that point at keys (`jwk`, `jku`,
//! `x5u`, `x5c`, `x5t`) are never read: keys come from configuration only (RFC 8725 §3.10). A
//! DPoP proof's `jwk` is the one exception, and `dpop` reads it: it is the client's key, which
//! the proof demonstrates, not a key that verifies tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

pub mod algorithm;
pub mod claims;
pub mod confirmation;
pub mod dpop;
mod error;
pub mod extractor;
pub mod issuer;

use crate::json;
use crate::limits::Limits;
use algorithm::Algorithm;
pub use claims::Claims;
pub use error::TokenError;

/// A parsed, not yet verified, token: its JWS (what the signature covers) and its payload.
#[derive(Clone, Debug)]
pub struct Jwt<'a> {
    /// The JWS: header, signing input and signature.
    pub jws: Jws<'a>,
    /// The registered claims, typed.
    pub claims: Claims,
    /// The whole payload object, for claim-to-header outputs.
    pub payload: Map<String, Value>,
}

/// The JOSE header members jwt-gate uses.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Header {
    /// `alg`, on the allow-list.
    pub alg: Algorithm,
    /// `kid`, if present.
    pub kid: Option<String>,
}

impl<'a> Jwt<'a> {
    /// Parses a compact JWS carrying a JWT.
    pub fn parse(token: &'a str, limits: &Limits) -> Result<Self, TokenError> {
        let mut jws = Jws::parse(token, limits)?;
        // The payload's bytes become the parsed payload; the JWS keeps what the signature covers.
        let payload_bytes = std::mem::take(&mut jws.payload);
        let payload = match json::parse(&payload_bytes, limits.max_json_depth) {
            Ok(Value::Object(payload)) => payload,
            _ => return Err(TokenError::PayloadBadJson),
        };
        let claims = Claims::from_payload(&payload)?;
        Ok(Self {
            jws,
            claims,
            payload,
        })
    }
}

/// A parsed compact JWS whose payload need not be JSON (RFC 7515 and RFC 7520 test vectors).
#[derive(Clone, Debug)]
pub struct Jws<'a> {
    /// The protected header.
    pub header: Header,
    /// The decoded payload bytes (moved into [`Jwt::payload`] once parsed as a JWT).
    pub payload: Vec<u8>,
    /// `header.payload` as received.
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// Parses the compact serialization `header.payload.signature`.
    pub fn parse(token: &'a str, limits: &Limits) -> Result<Self, TokenError> {
        if token.len() > limits.max_token_bytes {
            return Err(TokenError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header_segment), Some(payload_segment), Some(signature_segment), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::BadFormat);
        };
        if header_segment.is_empty() || payload_segment.is_empty() || signature_segment.is_empty() {
            return Err(TokenError::BadFormat);
        }
        let signing_input = token
            .get(..header_segment.len() + 1 + payload_segment.len())
            .ok_or(TokenError::BadFormat)?;

        let header_bytes = decode(header_segment).ok_or(TokenError::HeaderBadBase64)?;
        let header = match json::parse(&header_bytes, limits.max_json_depth) {
            Ok(Value::Object(header)) => Header::from_json(&header)?,
            _ => return Err(TokenError::HeaderBadJson),
        };
        let payload = decode(payload_segment).ok_or(TokenError::PayloadBadBase64)?;
        let signature = decode(signature_segment).ok_or(TokenError::SignatureBadBase64)?;
        Ok(Self {
            header,
            payload,
            signing_input,
            signature,
        })
    }
}

impl Header {
    fn from_json(header: &Map<String, Value>) -> Result<Self, TokenError> {
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => {
                Algorithm::from_name(alg).ok_or(TokenError::HeaderNotImplementedAlg)?
            }
            _ => return Err(TokenError::HeaderBadAlg),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(TokenError::HeaderBadKid),
        };
        // jwt-gate implements no JWS extension, so any `crit` is unsupported (RFC 7515 §4.1.11:
        // "If any of the listed extension Header Parameters are not understood ... the JWS is
        // invalid"). `b64: false` changes what the signature covers (RFC 7797): refuse it even
        // when a sender forgot to list it in `crit`.
        if header.contains_key("crit") {
            return Err(TokenError::HeaderUnsupportedCritical);
        }
        match header.get("b64") {
            None | Some(Value::Bool(true)) => {}
            Some(_) => return Err(TokenError::HeaderUnsupportedCritical),
        }
        Ok(Self { alg, kid })
    }
}

/// Decodes canonical unpadded base64url; `None` for padding, other alphabets or non-zero
/// trailing bits.
pub fn decode(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(segment).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    fn parse(token: &str) -> Result<Jwt<'_>, TokenError> {
        Jwt::parse(token, &Limits::DEFAULT)
    }

    #[test]
    fn parses_a_token() {
        // {"alg":"RS256","kid":"k1"} . {"iss":"https://i","aud":"a","exp":2000000000.9,"sub":"s"}
        let text = token(
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"iss":"https://i","aud":"a","exp":2000000000.9,"sub":"s"}"#,
        );
        let jwt = parse(&text).unwrap();
        assert_eq!(jwt.jws.header.alg, Algorithm::Rs256);
        assert_eq!(jwt.jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jwt.claims.aud, ["a"]);
        assert_eq!(jwt.claims.exp, Some(2_000_000_000));
        assert_eq!(jwt.jws.signature, b"sig");
        assert!(text.starts_with(jwt.jws.signing_input));
    }

    #[test]
    fn form_must_be_three_non_empty_parts() {
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{good}."),
            format!(".{good}"),
            good.replace(".c2ln", "."),
            "..".into(),
        ] {
            assert_eq!(parse(&bad).unwrap_err(), TokenError::BadFormat, "{bad}");
        }
    }

    #[test]
    fn base64_must_be_canonical_unpadded_url_alphabet() {
        let payload = b64("{}");
        let header = b64(r#"{"alg":"RS256"}"#);
        let cases = [
            (
                format!("{header}=.{payload}.c2ln"),
                TokenError::HeaderBadBase64,
            ),
            (
                format!("{}.{payload}.c2ln", header.replace('J', "+")),
                TokenError::HeaderBadBase64,
            ),
            (
                format!("{header}.{payload}=.c2ln"),
                TokenError::PayloadBadBase64,
            ),
            (
                format!("{header}.{payload}.c2ln="),
                TokenError::SignatureBadBase64,
            ),
            (
                format!("{header}.{payload}.c2l"),
                TokenError::SignatureBadBase64,
            ), // trailing bits
            (
                format!("{header}.{payload}.c2l/"),
                TokenError::SignatureBadBase64,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(&text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn header_checks() {
        let cases = [
            ("[]", TokenError::HeaderBadJson),
            (r#"{"alg":"RS256","alg":"none"}"#, TokenError::HeaderBadJson),
            ("{}", TokenError::HeaderBadAlg),
            (r#"{"alg":1}"#, TokenError::HeaderBadAlg),
            (r#"{"alg":"none"}"#, TokenError::HeaderNotImplementedAlg),
            (r#"{"alg":"RS256","kid":7}"#, TokenError::HeaderBadKid),
            (
                r#"{"alg":"RS256","crit":["exp"],"exp":1}"#,
                TokenError::HeaderUnsupportedCritical,
            ),
            (
                r#"{"alg":"RS256","crit":[]}"#,
                TokenError::HeaderUnsupportedCritical,
            ),
            (
                r#"{"alg":"RS256","b64":false}"#,
                TokenError::HeaderUnsupportedCritical,
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(
                parse(&token(header, "{}")).unwrap_err(),
                expected,
                "{header}"
            );
        }
        // Key-carrying header parameters are ignored, never an error and never used.
        let jwk = r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AA"},"jku":"http://x","x5c":["AA"]}"#;
        assert!(parse(&token(jwk, "{}")).is_ok());
    }

    #[test]
    fn payload_checks() {
        use TokenError::*;
        let cases = [
            ("[]", PayloadBadJson),
            ("not json", PayloadBadJson),
            (r#"{"sub":"a","sub":"b"}"#, PayloadBadJson),
            (r#"{"iss":1}"#, PayloadIssNotString),
            (r#"{"sub":[]}"#, PayloadSubNotString),
            (r#"{"jti":{}}"#, PayloadJtiNotString),
            (r#"{"aud":1}"#, PayloadAudNotString),
            (r#"{"aud":["a",1]}"#, PayloadAudNotString),
            (r#"{"exp":"1"}"#, PayloadExpNotInteger),
            (r#"{"exp":-1}"#, PayloadExpOutOfRange),
            (r#"{"exp":1e30}"#, PayloadExpOutOfRange),
            (r#"{"nbf":true}"#, PayloadNbfNotInteger),
            (r#"{"nbf":-0.5}"#, PayloadNbfOutOfRange),
            (r#"{"iat":null}"#, PayloadIatNotInteger),
            (r#"{"iat":-9}"#, PayloadIatOutOfRange),
        ];
        for (payload, expected) in cases {
            let text = token(r#"{"alg":"ES256"}"#, payload);
            assert_eq!(parse(&text).unwrap_err(), expected, "{payload}");
        }
        let max = token(r#"{"alg":"ES256"}"#, r#"{"exp":18446744073709551615}"#);
        assert_eq!(parse(&max).unwrap().claims.exp, Some(u64::MAX));
    }

    #[test]
    fn size_is_checked_before_decoding() {
        let limits = Limits {
            max_token_bytes: 10,
            ..Limits::DEFAULT
        };
        assert_eq!(
            Jwt::parse("aaaa.bbbb.cc", &limits).unwrap_err(),
            TokenError::TooLarge
        );
    }
}
