//! Signature verification: choosing keys for a token, and the one seam where cryptography runs.
//!
//! Key selection follows jwt_verify_lib: a key is a candidate when its `kid` equals the token's
//! (or either side has none), its pinned `alg` (if any) equals the token's, and its type and curve
//! fit the token's `alg`. Every candidate is tried; the first that verifies wins. No candidate at
//! all is `KidAlgMismatch`; candidates that all fail is `InvalidSignature`.

use std::fmt;

use p521::ecdsa::signature::Verifier as _;
use ring::{hmac, signature};

use crate::algorithm::{Algorithm, Curve};
use crate::jwks::{KeySet, PublicKey};

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

/// Verifies `signature` over `signing_input` with the keys of `keys` that fit the header.
pub fn verify_signature(
    alg: Algorithm,
    kid: Option<&str>,
    signing_input: &[u8],
    signature: &[u8],
    keys: &KeySet,
    verifier: &dyn SignatureVerifier,
) -> Result<(), VerifyError> {
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
        if verifier.verify(alg, &jwk.key, signing_input, signature) {
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
            (Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512, PublicKey::Rsa { n, e }) => {
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
            (Es256 | Es384, PublicKey::Ec { curve, point }) => {
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
