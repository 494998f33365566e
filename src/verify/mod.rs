//! Signature verification: choosing keys for a token, and the one seam where cryptography runs.
//!
//! Key selection follows jwt_verify_lib: a key is a candidate when its `kid` equals the token's
//! (or either side has none), its pinned `alg` (if any) equals the token's, and its type and curve
//! fit the token's `alg`. Every candidate is tried (but one whose `issuer` the token's `iss` does
//! not match); the first that verifies wins. No candidate at all is `KidAlgMismatch`; candidates
//! that all fail is `InvalidSignature`.

pub mod host_assisted;

use std::fmt;

use p521::ecdsa::signature::Verifier as _;
use ring::{hmac, signature};

use crate::keys::{KeySet, PublicKey};
use crate::limits::Limits;
use crate::token::algorithm::{Algorithm, Curve};
use crate::token::Jws;
use crate::verify::host_assisted::{decode_result, encode_arguments, host_hash};

/// Why a signature did not verify.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature is wrong. Deliberately opaque: no detail about why.
    InvalidSignature,
    /// No key in the set matches the token's `kid` and `alg`.
    KidAlgMismatch,
}

/// Checks one signature. Implementations must return `false` for every failure, including
/// malformed keys or signatures, and must never panic.
pub trait SignatureVerifier {
    /// Whether `signature` is `alg`'s signature of `message` under `key`. Callers have already
    /// checked that `key.fits(alg)`.
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool;
}

/// Verifies with `ring` (and RustCrypto's `p521` for ES512, which ring lacks).
#[derive(Clone, Copy, Debug, Default)]
pub struct RingVerifier;

/// Verifies RS* and ES* through a host function (Envoy's `verify_signature`, BoringSSL: about 7
/// times faster than `ring` compiled to wasm for RSA), everything else with [`RingVerifier`].
/// `call` sends `VerifySignatureArguments` and returns the `VerifySignatureResult` bytes, or
/// `None` when the host refused the call; then `ring` decides, so the verdict never depends on
/// which path ran.
pub struct HostAssisted<C> {
    call: C,
}

impl<C: Fn(&[u8]) -> Option<Vec<u8>>> HostAssisted<C> {
    /// A verifier that hands RS*/ES* checks to `call`.
    pub fn new(call: C) -> Self {
        Self { call }
    }
}

impl<C: Fn(&[u8]) -> Option<Vec<u8>>> SignatureVerifier for HostAssisted<C> {
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
        let (Some(hash), Some(spki)) = (host_hash(alg), key.spki()) else {
            return RingVerifier.verify(alg, key, message, sig);
        };
        let der;
        let signature = match key {
            // JOSE's r || s must have exactly the curve's size before it becomes DER.
            PublicKey::Ec { curve, .. } => match crate::keys::der::ecdsa_signature(*curve, sig) {
                Some(encoded) => {
                    der = encoded;
                    &der[..]
                }
                None => return false,
            },
            _ => sig,
        };
        match (self.call)(&encode_arguments(hash, spki, signature, message)) {
            Some(result) => decode_result(&result),
            None => RingVerifier.verify(alg, key, message, sig),
        }
    }
}

/// Checks a verifier against known answers (RFC 7515 A.2 RS256 and A.3 ES256): each must verify,
/// and fail with one bit of its signature flipped. A host verifier is used only if it passes.
pub fn known_answer_test(verifier: &dyn SignatureVerifier) -> bool {
    const VECTORS: [(&str, &str); 2] = [
        // RFC 7515 A.2 (RS256) and A.3 (ES256): the token and its key's JWK.
        (
            include_str!("known_answers/rs256.jwt"),
            include_str!("known_answers/rs256.jwk"),
        ),
        (
            include_str!("known_answers/es256.jwt"),
            include_str!("known_answers/es256.jwk"),
        ),
    ];
    let limits = Limits::DEFAULT;
    VECTORS.iter().all(|(token, jwk)| {
        let keys = format!("{{\"keys\":[{}]}}", jwk.trim());
        let (Ok(keys), Ok(jws)) = (
            KeySet::parse(keys.as_bytes(), &limits),
            Jws::parse(token.trim(), &limits),
        ) else {
            return false;
        };
        let mut forged = jws.clone();
        if let Some(byte) = forged.signature.get_mut(0) {
            *byte ^= 1;
        }
        verify_signature(&jws, &keys, verifier).is_ok()
            && verify_signature(&forged, &keys, verifier).is_err()
    })
}

/// Verifies a JWS's signature with the keys of `keys` that fit its header (`kid`, `alg`). A key
/// that names an issuer (see [`verify_token_signature`]) never verifies a bare JWS.
pub fn verify_signature(
    jws: &Jws<'_>,
    keys: &KeySet,
    verifier: &dyn SignatureVerifier,
) -> Result<(), VerifyError> {
    verify_token_signature(jws, None, keys, verifier)
}

/// Verifies the signature of a token whose `iss` is `issuer`: as [`verify_signature`], and a
/// key that names an issuer (Entra ID's `issuer` member) is tried only if `issuer` matches it
/// (a `{name}` there matching one path segment). A key that fits the header but not the issuer
/// still counts as a candidate: such a token is `InvalidSignature`, not `KidAlgMismatch` (no
/// refetch would find it another key).
pub fn verify_token_signature(
    jws: &Jws<'_>,
    issuer: Option<&str>,
    keys: &KeySet,
    verifier: &dyn SignatureVerifier,
) -> Result<(), VerifyError> {
    let (alg, kid) = (jws.header.alg, jws.header.kid.as_deref());
    let (signing_input, signature) = (jws.signing_input.as_bytes(), jws.signature.as_slice());
    let mut had_candidate = false;
    for jwk in &keys.keys {
        if let (Some(wanted), Some(have)) = (kid, jwk.kid.as_deref()) {
            if wanted != have {
                continue;
            }
        }
        if jwk.alg.is_some_and(|pinned| pinned != alg) || !jwk.key.fits(alg) {
            continue;
        }
        had_candidate = true;
        let for_issuer = jwk
            .issuer
            .as_ref()
            .is_none_or(|named| issuer.is_some_and(|issuer| named.matches(issuer)));
        if for_issuer && verifier.verify(alg, &jwk.key, signing_input, signature) {
            return Ok(());
        }
    }
    Err(if had_candidate {
        VerifyError::InvalidSignature
    } else {
        VerifyError::KidAlgMismatch
    })
}

impl SignatureVerifier for RingVerifier {
    fn verify(&self, alg: Algorithm, key: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
        use Algorithm::*;
        match (alg, key) {
            (Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512, PublicKey::Rsa { n, e, .. }) => {
                let params: &signature::RsaParameters = match alg {
                    Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                signature::RsaPublicKeyComponents { n, e }
                    .verify(params, message, sig)
                    .is_ok()
            }
            (Es256 | Es384, PublicKey::Ec { curve, point, .. }) => {
                let params = match curve {
                    Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                    Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                    Curve::P521 => return false,
                };
                signature::UnparsedPublicKey::new(params, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (
                Es512,
                PublicKey::Ec {
                    curve: Curve::P521,
                    point,
                    ..
                },
            ) => verify_p521(point, message, sig),
            (EdDsa, PublicKey::Ed25519(x)) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(message, sig)
                    .is_ok()
            }
            (Hs256 | Hs384 | Hs512, PublicKey::Hmac(secret)) => {
                let algorithm = match alg {
                    Hs256 => hmac::HMAC_SHA256,
                    Hs384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                // Constant-time comparison inside ring.
                hmac::verify(&hmac::Key::new(algorithm, secret), message, sig).is_ok()
            }
            _ => false,
        }
    }
}

/// ES512: P-521 with SHA-512, signature the JOSE fixed-size r || s (66 + 66 bytes).
fn verify_p521(point: &[u8], message: &[u8], sig: &[u8]) -> bool {
    if sig.len() != Curve::P521.coordinate_len().saturating_mul(2) {
        return false;
    }
    let Ok(key) = p521::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
        return false;
    };
    let Ok(sig) = p521::ecdsa::Signature::from_slice(sig) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

impl VerifyError {
    /// jwt_authn's text.
    pub const fn message(self) -> &'static str {
        match self {
            Self::InvalidSignature => "Jwt verification fails",
            Self::KidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};

    use super::*;
    use crate::token::Jwt;

    /// Reads the four length-delimited fields of `VerifySignatureArguments`.
    fn fields(mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![Vec::new(); 5];
        while let [key, rest @ ..] = bytes {
            let (mut len, mut shift, mut i) = (0usize, 0, 0);
            loop {
                len |= usize::from(rest[i] & 0x7f) << shift;
                shift += 7;
                i += 1;
                if rest[i - 1] & 0x80 == 0 {
                    break;
                }
            }
            out[usize::from(key >> 3)] = rest[i..i + len].to_vec();
            bytes = &rest[i + len..];
        }
        out
    }

    /// What Envoy does with the arguments, done with ring's DER (ASN.1) verifiers; P-521 is
    /// "refused", as a host without the curve would.
    fn fake_envoy(arguments: &[u8]) -> Option<Vec<u8>> {
        let f = fields(arguments);
        let (hash, spki, signature, text) =
            (std::str::from_utf8(&f[1]).unwrap(), &f[2], &f[3], &f[4]);
        let (_, spki) = SubjectPublicKeyInfo::from_der(spki).ok()?;
        let key: &[u8] = &spki.subject_public_key.data;
        let rsa = spki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1";
        let algorithm: &dyn signature::VerificationAlgorithm = match (rsa, hash, key.len()) {
            (true, "sha256", _) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (true, "sha384", _) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (true, "sha512", _) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (false, "sha256", 65) => &signature::ECDSA_P256_SHA256_ASN1,
            (false, "sha384", 97) => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return None,
        };
        let ok = signature::UnparsedPublicKey::new(algorithm, key)
            .verify(text, signature)
            .is_ok();
        Some(if ok {
            vec![0x08, 0x01]
        } else {
            vec![0x08, 0x00, 0x12, 0x01, b'x']
        })
    }

    #[test]
    fn known_answers_accept_ring_and_the_host_path_and_reject_a_lying_host() {
        assert!(known_answer_test(&RingVerifier));
        assert!(known_answer_test(&HostAssisted::new(fake_envoy)));
        assert!(!known_answer_test(&HostAssisted::new(|_: &[u8]| Some(
            vec![0x08, 0x01]
        ))));
        assert!(!known_answer_test(&HostAssisted::new(|_: &[u8]| Some(
            vec![]
        ))));
        // A host that refuses every call leaves ring in charge: still correct.
        assert!(known_answer_test(&HostAssisted::new(|_: &[u8]| None)));
    }

    #[test]
    fn host_and_ring_agree_on_every_minted_fixture() {
        let fixtures: Value =
            serde_json::from_str(include_str!("../../tests/data/tokens.json")).unwrap();
        let inline = fixtures["provider"]["local_jwks"]["inline_string"]
            .as_str()
            .unwrap();
        let keys = KeySet::parse(inline.as_bytes(), &Limits::DEFAULT).unwrap();
        let host = HostAssisted::new(fake_envoy);
        let mut compared = 0;
        for case in fixtures["cases"].as_array().unwrap() {
            let Ok(jwt) = Jwt::parse(case["token"].as_str().unwrap(), &Limits::DEFAULT) else {
                continue;
            };
            let verdict =
                |verifier: &dyn SignatureVerifier| verify_signature(&jwt.jws, &keys, verifier);
            assert_eq!(verdict(&host), verdict(&RingVerifier), "{}", case["name"]);
            compared += 1;
        }
        assert!(compared > 40, "{compared}");
    }
}
