//! The JWS algorithms jwt-gate verifies (RFC 7518 §3, RFC 8037 §3.1), and nothing else.

use std::fmt;

/// A JWS `alg` value on the allow-list. `none` is not representable.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Algorithm {
    /// EdDSA with Ed25519 (RFC 8037).
    EdDsa,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// ECDSA P-521 with SHA-512.
    Es512,
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
}

/// The kind of key an algorithm needs. The key decides; the token's `alg` must agree.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum KeyFamily {
    /// An Ed25519 public key.
    Ed25519,
    /// An EC public key on the given curve.
    Ec(Curve),
    /// A shared secret (JWK `kty: oct`).
    Hmac,
    /// An RSA public key.
    Rsa,
}

/// The NIST curves JWS uses.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Curve {
    /// P-256 (secp256r1).
    P256,
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 13] = [
        Self::EdDsa,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::Hs256,
        Self::Hs384,
        Self::Hs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
    ];

    /// The algorithm registered under `name`, if jwt-gate supports it. Case-sensitive, as in
    /// RFC 7515 §4.1.1.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The registered name (`"RS256"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    /// The key family (and curve) this algorithm needs.
    pub const fn key_family(self) -> KeyFamily {
        match self {
            Self::EdDsa => KeyFamily::Ed25519,
            Self::Es256 => KeyFamily::Ec(Curve::P256),
            Self::Es384 => KeyFamily::Ec(Curve::P384),
            Self::Es512 => KeyFamily::Ec(Curve::P521),
            Self::Hs256 | Self::Hs384 | Self::Hs512 => KeyFamily::Hmac,
            Self::Ps256 | Self::Ps384 | Self::Ps512 | Self::Rs256 | Self::Rs384 | Self::Rs512 => {
                KeyFamily::Rsa
            }
        }
    }
}

impl Curve {
    /// The JWK `crv` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// The curve registered under a JWK `crv` name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::P256, Self::P384, Self::P521]
            .into_iter()
            .find(|curve| curve.name() == name)
    }

    /// Bytes in one coordinate (and in one of r, s of a JOSE ECDSA signature).
    pub const fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_not_an_algorithm() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for bad in [
            "none", "None", "NONE", "rs256", "ES256K", "Ed448", "", "HS1",
        ] {
            assert_eq!(Algorithm::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_ecdsa_algorithm_has_exactly_one_curve() {
        assert_eq!(Algorithm::Es256.key_family(), KeyFamily::Ec(Curve::P256));
        assert_eq!(Algorithm::Es384.key_family(), KeyFamily::Ec(Curve::P384));
        assert_eq!(Algorithm::Es512.key_family(), KeyFamily::Ec(Curve::P521));
    }
}
