//! DPoP proofs (RFC 9449 §4.2): the `DPoP` header's JWS parsed strictly into a [`Proof`], its
//! key (the `jwk` header, a public key only) and that key's RFC 7638 thumbprint, and the `ath`
//! of an access token. What a proof must match in a request (method, URI, time, token, replay)
//! is the authenticator's to check (`authenticator::binding`); the signature is checked there
//! too, by the configured verifier.
//!
//! Unlike an access token, a proof carries the key that verifies it: that is the point (the
//! access token is bound to that key by its `cnf.jkt`), so `jwk` is read here and only here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::digest::{digest, SHA256};
use serde_json::{Map, Value};

use super::algorithm::{Algorithm, KeyFamily};
use super::decode;
use crate::json;
use crate::keys::{Jwk, PublicKey};
use crate::limits::Limits;

/// A parsed DPoP proof whose signature is not yet checked.
#[derive(Clone, Debug)]
pub struct Proof<'a> {
    /// `alg`: asymmetric, on jwt-gate's list (the provider's own list is checked later).
    pub alg: Algorithm,
    /// The `jwk` header's public key.
    pub key: PublicKey,
    /// The RFC 7638 thumbprint of that key, base64url (what an access token's `cnf.jkt` holds).
    pub thumbprint: String,
    /// `header.payload` as received: what the signature covers.
    pub signing_input: &'a str,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// `jti`: the proof's unique identifier.
    pub jti: String,
    /// `htm`: the HTTP method the proof is for.
    pub htm: String,
    /// `htu`: the HTTP URI the proof is for (query and fragment still in it, if sent).
    pub htu: String,
    /// `iat`, in whole seconds.
    pub iat: u64,
    /// `ath`: the base64url SHA-256 of the access token, if present.
    pub ath: Option<String>,
}

/// Why a `DPoP` header is not a usable proof: one variant per failure a client can see.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ProofError {
    /// Longer than [`Limits::max_dpop_proof_bytes`].
    TooLarge,
    /// Not three non-empty parts of canonical unpadded base64url, or not JSON objects there
    /// (duplicate members included).
    Malformed,
    /// `typ` is not `dpop+jwt` (RFC 9449 §4.2: explicit typing, so that no other JWT passes for
    /// a proof).
    BadType,
    /// `alg` is missing, `none`, symmetric (HMAC: the server would hold the client's secret), or
    /// not one jwt-gate verifies.
    BadAlgorithm,
    /// `jwk` is missing or not a public key jwt-gate can use for `alg` (its members must be
    /// canonical base64url: they make the thumbprint).
    BadKey,
    /// `jwk` holds private key material (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` or `k`).
    PrivateKey,
    /// `crit` is present, or `b64` is false: no extension is understood.
    UnsupportedCritical,
    /// A required claim (`jti`, `htm`, `htu`, `iat`) is missing or of the wrong type, or `ath`
    /// is not a string.
    BadClaim(&'static str),
    /// The signature does not verify with the `jwk` key.
    InvalidSignature,
}

/// JWK members that hold private (or symmetric) key material (RFC 7518 §6.2.2, §6.3.2, §6.4;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl<'a> Proof<'a> {
    /// Parses a `DPoP` header value.
    pub fn parse(value: &'a [u8], limits: &Limits) -> Result<Self, ProofError> {
        if value.len() > limits.max_dpop_proof_bytes {
            return Err(ProofError::TooLarge);
        }
        let text = std::str::from_utf8(value).map_err(|_| ProofError::Malformed)?;
        let mut parts = text.split('.');
        let (Some(header_segment), Some(payload_segment), Some(signature_segment), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ProofError::Malformed);
        };
        let signing_input = text
            .get(..header_segment.len() + 1 + payload_segment.len())
            .ok_or(ProofError::Malformed)?;
        let object = |segment: &str| match decode(segment)
            .map(|bytes| json::parse(&bytes, limits.max_json_depth))
        {
            Some(Ok(Value::Object(object))) => Ok(object),
            _ => Err(ProofError::Malformed),
        };
        let header = object(header_segment)?;
        let payload = object(payload_segment)?;
        let signature = decode(signature_segment).ok_or(ProofError::Malformed)?;

        // RFC 9449 §4.3, in its order: type, algorithm, key.
        match header.get("typ") {
            Some(Value::String(typ)) if typ.eq_ignore_ascii_case("dpop+jwt") => {}
            _ => return Err(ProofError::BadType),
        }
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::from_name(name),
            _ => None,
        }
        .filter(|alg| alg.key_family() != KeyFamily::Hmac)
        .ok_or(ProofError::BadAlgorithm)?;
        if header.contains_key("crit") || header.get("b64").is_some_and(|b64| b64 != true) {
            return Err(ProofError::UnsupportedCritical);
        }
        let (key, thumbprint) = public_key(header.get("jwk"), alg)?;
        // After the algorithm: an unsigned proof (`alg: none`) is refused for what it is.
        if signature.is_empty() {
            return Err(ProofError::Malformed);
        }
        Ok(Self {
            alg,
            key,
            thumbprint,
            signing_input,
            signature,
            jti: string_claim(&payload, "jti")?,
            htm: string_claim(&payload, "htm")?,
            htu: string_claim(&payload, "htu")?,
            iat: payload
                .get("iat")
                .and_then(numeric_date)
                .ok_or(ProofError::BadClaim("iat"))?,
            ath: match payload.get("ath") {
                None => None,
                Some(Value::String(ath)) => Some(ath.clone()),
                Some(_) => return Err(ProofError::BadClaim("ath")),
            },
        })
    }
}

/// The `ath` a proof sent with `access_token` must carry: the base64url SHA-256 of its ASCII
/// (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, access_token.as_bytes()))
}

impl ProofError {
    /// The text a client sees (in the style of jwt_authn's).
    pub fn message(self) -> &'static str {
        match self {
            Self::TooLarge => "DPoP proof is too large",
            Self::Malformed => "DPoP proof is not a JWT in compact form",
            Self::BadType => "DPoP proof header [typ] is not dpop+jwt",
            Self::BadAlgorithm => "DPoP proof header [alg] is not an asymmetric algorithm",
            Self::BadKey => "DPoP proof header [jwk] is not a usable public key",
            Self::PrivateKey => "DPoP proof header [jwk] contains a private key",
            Self::UnsupportedCritical => "DPoP proof header [crit] lists an unsupported extension",
            Self::BadClaim("jti") => "DPoP proof [jti] is missing or not a string",
            Self::BadClaim("htm") => "DPoP proof [htm] is missing or not a string",
            Self::BadClaim("htu") => "DPoP proof [htu] is missing or not a string",
            Self::BadClaim("iat") => "DPoP proof [iat] is missing or not a positive number",
            Self::BadClaim(_) => "DPoP proof [ath] is not a string",
            Self::InvalidSignature => "DPoP proof verification fails",
        }
    }
}

/// The `jwk` header as a public key that fits `alg`, and its RFC 7638 thumbprint.
fn public_key(jwk: Option<&Value>, alg: Algorithm) -> Result<(PublicKey, String), ProofError> {
    let Some(Value::Object(members)) = jwk else {
        return Err(ProofError::BadKey);
    };
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| members.contains_key(*name))
    {
        return Err(ProofError::PrivateKey);
    }
    let key = Jwk::from_json(&Value::Object(members.clone()))
        .map_err(|_| ProofError::BadKey)?
        .key;
    if key.family() == KeyFamily::Hmac || !key.fits(alg) {
        return Err(ProofError::BadKey);
    }
    Ok((key, thumbprint(members)?))
}

/// RFC 7638: the base64url SHA-256 of the key's required members, in lexicographic order, as
/// JSON without whitespace. The members are hashed as sent, so they must be canonical (unpadded
/// base64url that decodes): an authorization server computes `cnf.jkt` from the same text.
fn thumbprint(members: &Map<String, Value>) -> Result<String, ProofError> {
    let required: &[&str] = match members.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(ProofError::BadKey),
    };
    let mut text = String::from("{");
    for (index, name) in required.iter().enumerate() {
        let value = members
            .get(*name)
            .and_then(Value::as_str)
            .ok_or(ProofError::BadKey)?;
        let base64 = !matches!(*name, "kty" | "crv");
        if base64 && decode(value).is_none() {
            return Err(ProofError::BadKey);
        }
        if index > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "{}:{}",
            Value::from(*name),
            Value::from(value.to_owned())
        ));
    }
    text.push('}');
    Ok(URL_SAFE_NO_PAD.encode(digest(&SHA256, text.as_bytes())))
}

/// A non-empty string claim.
fn string_claim(payload: &Map<String, Value>, name: &'static str) -> Result<String, ProofError> {
    match payload.get(name) {
        Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
        _ => Err(ProofError::BadClaim(name)),
    }
}

/// A NumericDate (RFC 7519 §2): a non-negative number of seconds, the fraction dropped.
fn numeric_date(value: &Value) -> Option<u64> {
    let number = value.as_number()?;
    if let Some(seconds) = number.as_u64() {
        return Some(seconds);
    }
    let seconds = number.as_f64()?;
    // 2^64 is exactly representable; anything at or above it does not fit.
    (seconds.is_finite() && (0.0..18_446_744_073_709_551_616.0).contains(&seconds)).then(|| {
        #[allow(
            clippy::as_conversions,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        // In range and non-negative, checked above; `as` truncates the fraction.
        let whole = seconds as u64;
        whole
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// RFC 7638 §3.1's example key.
    fn rfc7638_key() -> Value {
        serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        })
    }

    fn proof(header: Value, payload: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&payload))
    }

    fn claims() -> Value {
        serde_json::json!({"jti": "j", "htm": "GET", "htu": "https://a.test/x", "iat": 1})
    }

    fn parse(text: &str) -> Result<Proof<'_>, ProofError> {
        Proof::parse(text.as_bytes(), &Limits::DEFAULT)
    }

    #[test]
    fn thumbprint_is_rfc_7638s() {
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": rfc7638_key()});
        let text = proof(header, claims());
        let parsed = parse(&text).unwrap();
        assert_eq!(
            parsed.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(
            (parsed.jti.as_str(), parsed.htm.as_str(), parsed.iat),
            ("j", "GET", 1)
        );
        assert_eq!(parsed.ath, None);
    }

    #[test]
    fn the_access_token_hash_is_rfc_9449s_example() {
        // RFC 9449 §7.1: the token `Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU` and its ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn header_checks() {
        let key = rfc7638_key();
        let with = |extra: Value| {
            let mut header = serde_json::json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": key});
            for (name, value) in extra.as_object().unwrap() {
                if value.is_null() {
                    header.as_object_mut().unwrap().remove(name);
                } else {
                    header[name] = value.clone();
                }
            }
            parse(&proof(header, claims())).map(|_| ())
        };
        use serde_json::json;
        assert_eq!(with(json!({})), Ok(()));
        assert_eq!(
            with(json!({"typ": "DPoP+JWT"})),
            Ok(()),
            "media types ignore case"
        );
        for (extra, error) in [
            (json!({"typ": "JWT"}), ProofError::BadType),
            (json!({"typ": null}), ProofError::BadType),
            (json!({"alg": "none"}), ProofError::BadAlgorithm),
            (json!({"alg": "RS257"}), ProofError::BadAlgorithm),
            (json!({"alg": "HS256"}), ProofError::BadAlgorithm),
            (json!({"alg": null}), ProofError::BadAlgorithm),
            (json!({"alg": "ES256"}), ProofError::BadKey),
            (json!({"jwk": null}), ProofError::BadKey),
            (json!({"jwk": "key"}), ProofError::BadKey),
            (
                json!({"jwk": {"kty": "oct", "k": "AAAA"}}),
                ProofError::PrivateKey,
            ),
            (json!({"crit": ["x"]}), ProofError::UnsupportedCritical),
            (json!({"b64": false}), ProofError::UnsupportedCritical),
        ] {
            assert_eq!(with(extra.clone()), Err(error), "{extra}");
        }
        for member in PRIVATE_MEMBERS {
            let mut private = key.clone();
            private[member] = json!("AQAB");
            assert_eq!(
                with(json!({ "jwk": private })),
                Err(ProofError::PrivateKey),
                "{member}"
            );
        }
        let mut padded = key.clone();
        padded["e"] = json!("AQAB=");
        assert_eq!(with(json!({ "jwk": padded })), Err(ProofError::BadKey));
    }

    #[test]
    fn claim_and_form_checks() {
        use serde_json::json;
        let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": rfc7638_key()});
        let without = |name: &str| {
            let mut payload = claims();
            payload.as_object_mut().unwrap().remove(name);
            parse(&proof(header.clone(), payload)).map(|_| ())
        };
        for name in ["jti", "htm", "htu", "iat"] {
            assert!(
                matches!(without(name), Err(ProofError::BadClaim(n)) if n == name),
                "{name}"
            );
        }
        let mut payload = claims();
        payload["ath"] = json!(7);
        assert_eq!(
            parse(&proof(header.clone(), payload)).map(|_| ()),
            Err(ProofError::BadClaim("ath"))
        );
        let mut payload = claims();
        payload["iat"] = json!(-1);
        assert!(parse(&proof(header.clone(), payload)).is_err());
        let mut payload = claims();
        payload["iat"] = json!(1.9);
        assert_eq!(parse(&proof(header.clone(), payload)).unwrap().iat, 1);
        let good = proof(header, claims());
        for bad in [
            String::new(),
            "a.b".to_owned(),
            format!("{good}.x"),
            good.replace(".c2ln", "."),
            good.replace(".c2ln", ".c2l"),
            format!("{good}="),
            "\u{ff}.a.b".to_owned(),
        ] {
            assert_eq!(parse(&bad).map(|_| ()), Err(ProofError::Malformed), "{bad}");
        }
        let small = Limits {
            max_dpop_proof_bytes: 10,
            ..Limits::DEFAULT
        };
        assert_eq!(
            Proof::parse(good.as_bytes(), &small).map(|_| ()),
            Err(ProofError::TooLarge)
        );
    }
}
