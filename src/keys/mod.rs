//! Keys: the formats issuers publish them in (this file), and the life cycle of remote ones
//! (the submodules, below).
//!
//! - a JWK set `{"keys": [...]}` (RFC 7517; RSA, EC, OKP/Ed25519 and oct keys);
//! - Google's x509 certificate map `{"<kid>": "-----BEGIN CERTIFICATE-----..."}`;
//! - PEM public keys (`PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`), one or more;
//! - a bare base64url string: a shared HMAC secret (ESP's "symmetric key file").
//!
//! Inline keys (`local_jwks`, [`KeySet::parse`]) may be in any of them, detected from the bytes.
//! A fetched document ([`KeySet::parse_fetched`]) must be in the format the configuration names
//! ([`KeySetFormat`]: a JWK set or x509 map, or PEM) and is never a bare secret: a symmetric key
//! comes only from the configuration or from a JWK of type `oct`, so that no page an issuer's
//! URL happens to serve (a version string, a digest) can become an HMAC key.
//!
//! A JWK that is malformed, of an unsupported type, or marked for encryption is skipped (Envoy
//! does the same). Inline keys must include a usable one; a fetched JWK set may have none (the
//! issuer withdrew its keys).
//!
//! Remote keys have a life cycle, and all of it is here, host-independent:
//! - [`remote`]: where the keys live, OpenID discovery, why a fetch failed;
//! - [`record`]: the records every instance shares, and every decision on them (when to fetch,
//!   back off, serve stale keys, refetch for an unknown `kid`, reclaim a retired configuration's);
//! - [`fetcher`]: one instance's state machine over those records, driven by ticks and fetch
//!   responses, and [`held`], the requests it holds meanwhile;
//! - [`host`]: the narrow interface a host implements for the fetcher (a shared store, HTTP GETs,
//!   a log, statistics), and [`memory_store`], that store in process memory;
//! - [`replay`]: the DPoP replay cache, kept in that same shared store;
//! - [`access`]: how the authenticator sees the keys.

pub mod access;
pub mod der;
pub mod fetcher;
pub mod held;
pub mod host;
pub mod memory_store;
mod pem;
pub mod record;
pub mod remote;
pub mod replay;

use std::fmt;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{Map, Value};
use x509_parser::der_parser::oid::Oid;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo, X509Certificate};
use x509_parser::public_key::PublicKey as ParsedKey;

use crate::json;
use crate::limits::Limits;
use crate::token::algorithm::{Algorithm, Curve, KeyFamily};
use crate::token::issuer::IssuerTemplate;

/// Shortest secret accepted from a symmetric key file (bytes).
pub const MIN_SYMMETRIC_KEY_BYTES: usize = 32;

/// What a fetched key set document must be (`remote_jwks.format`).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum KeySetFormat {
    /// A JWK set, or Google's x509 certificate map: what jwt_authn and ESPv2 fetch.
    #[default]
    Jwks,
    /// PEM public keys or certificates.
    Pem,
}

/// The usable keys of one key set document, in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeySet {
    /// The keys.
    pub keys: Vec<Jwk>,
    /// Entries that were skipped, and why (for logging).
    pub skipped: Vec<(Option<String>, JwkError)>,
    /// Entries left unread or unused because the document holds more than
    /// [`Limits::max_keys`] keys (for logging).
    pub over_limit: usize,
}

/// One verification key.
#[derive(Clone, Debug, PartialEq)]
pub struct Jwk {
    /// `kid`, or the certificate map's key.
    pub kid: Option<String>,
    /// `alg`, when the key pins one.
    pub alg: Option<Algorithm>,
    /// The key material.
    pub key: PublicKey,
    /// The issuer whose tokens it signs, when the JWK says (Microsoft Entra ID's `issuer`
    /// member, itself a template: `https://login.microsoftonline.com/{tenantid}/v2.0`): it
    /// verifies only tokens whose `iss` matches.
    pub issuer: Option<IssuerTemplate>,
}

/// Key material, validated for shape.
#[derive(Clone, PartialEq)]
pub enum PublicKey {
    /// An EC public key: SEC1 uncompressed point `04 || x || y`.
    Ec {
        /// The curve.
        curve: Curve,
        /// The point.
        point: Vec<u8>,
        /// The same key as DER SubjectPublicKeyInfo, for a host verifier.
        spki: Vec<u8>,
    },
    /// An Ed25519 public key.
    Ed25519([u8; 32]),
    /// A shared HMAC secret.
    Hmac(Vec<u8>),
    /// An RSA public key, big-endian without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
        /// The same key as DER SubjectPublicKeyInfo, for a host verifier.
        spki: Vec<u8>,
    },
}

/// Why a key set document was refused.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum KeySetError {
    /// A certificate in an x509 map could not be used.
    BadCertificate {
        /// The map key.
        kid: String,
        /// Why.
        reason: JwkError,
    },
    /// Not valid JSON (or duplicate members, or too deep).
    Json(json::JsonError),
    /// `keys` is not an array.
    KeysNotArray,
    /// A JSON object that is neither a JWK set nor a map of PEM certificates.
    NoKeysField,
    /// Nothing usable: every entry was skipped (the first reason is kept).
    NoValidKeys(Option<JwkError>),
    /// A PEM block could not be read.
    Pem(String),
    /// A fetched PEM document where the configuration expects a JWK set.
    PemNotConfigured,
    /// A symmetric key file whose secret is shorter than [`MIN_SYMMETRIC_KEY_BYTES`].
    SymmetricKeyTooShort(usize),
    /// Larger than [`Limits::max_key_set_bytes`].
    TooLarge,
    /// Not JSON, not PEM, and not a base64url symmetric key.
    UnknownFormat,
}

/// Why one key was skipped.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum JwkError {
    /// `alg` is not an algorithm for this key type.
    AlgNotForKeyType(String),
    /// `crv` and `alg` disagree.
    AlgNotForCurve,
    /// A member is missing, not a string, or not base64url.
    BadMember(&'static str),
    /// `kty` is missing or not a string.
    BadKty,
    /// An EC point is not on a supported curve, or not an uncompressed point of the right size.
    BadEcPoint,
    /// The entry is not a JSON object.
    NotAnObject,
    /// `use`/`key_ops` say the key is not for verifying signatures.
    NotForSignatures,
    /// RSA modulus outside 2048..=8192 bits, or an unusable exponent.
    RsaKeySize,
    /// The curve is not supported.
    UnsupportedCurve(String),
    /// The key type is not supported.
    UnsupportedKty(String),
    /// A certificate or SPKI whose key type jwt-gate does not use.
    UnsupportedPublicKey,
    /// An x509 certificate that does not parse.
    X509,
}

impl KeySet {
    /// Parses an inline key set (`local_jwks`), detecting its format; it must hold a usable key.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Self, KeySetError> {
        if bytes.len() > limits.max_key_set_bytes {
            return Err(KeySetError::TooLarge);
        }
        let text = bytes.trim_ascii();
        let set = if text.starts_with(b"{") {
            Self::from_json(text, limits)?
        } else if text.starts_with(b"-----BEGIN") {
            Self::from_pem(text, limits)?
        } else if is_base64url(text) {
            Self::from_symmetric_key_file(text)?
        } else {
            return Err(KeySetError::UnknownFormat);
        };
        let set = set.within(limits);
        if set.keys.is_empty() {
            let first = set.skipped.first().map(|(_, reason)| reason.clone());
            return Err(KeySetError::NoValidKeys(first));
        }
        Ok(set)
    }

    /// Parses a fetched key set document, which must be in `format` (never a bare secret). A
    /// well-formed JWK set without a usable key is a key set of none: the issuer withdrew its
    /// keys, and they must stop verifying.
    pub fn parse_fetched(
        bytes: &[u8],
        format: KeySetFormat,
        limits: &Limits,
    ) -> Result<Self, KeySetError> {
        if bytes.len() > limits.max_key_set_bytes {
            return Err(KeySetError::TooLarge);
        }
        let text = bytes.trim_ascii();
        let set = match format {
            KeySetFormat::Jwks if text.starts_with(b"-----BEGIN") => {
                return Err(KeySetError::PemNotConfigured)
            }
            KeySetFormat::Jwks => Self::from_json(text, limits)?,
            KeySetFormat::Pem if text.starts_with(b"-----BEGIN") => Self::from_pem(text, limits)?,
            KeySetFormat::Pem => {
                return Err(KeySetError::Pem(
                    "the document does not start with -----BEGIN".to_owned(),
                ))
            }
        };
        Ok(set.within(limits))
    }

    /// A JWK set, or an x509 certificate map (a JSON object without `keys`).
    fn from_json(text: &[u8], limits: &Limits) -> Result<Self, KeySetError> {
        match json::parse(text, limits.max_json_depth).map_err(KeySetError::Json)? {
            Value::Object(object) if object.contains_key("keys") => {
                Self::from_jwk_set(&object, limits)
            }
            Value::Object(object) => Self::from_certificate_map(&object, limits),
            _ => Err(KeySetError::NoKeysField),
        }
    }

    /// ESP's symmetric key file: the base64url of an HMAC secret (inline only).
    fn from_symmetric_key_file(text: &[u8]) -> Result<Self, KeySetError> {
        let secret = URL_SAFE
            .decode(pad(text))
            .map_err(|_| KeySetError::UnknownFormat)?;
        // A symmetric key file must hold a real key: at least HS256's 32 bytes (RFC 7518
        // §3.2). Anything shorter is far more likely a stray word (`null`, `OK`,
        // `Unauthorized`) than a key, and would be guessable.
        if secret.len() < MIN_SYMMETRIC_KEY_BYTES {
            return Err(KeySetError::SymmetricKeyTooShort(secret.len()));
        }
        Ok(Self {
            keys: vec![Jwk {
                kid: None,
                alg: None,
                key: PublicKey::Hmac(secret),
                issuer: None,
            }],
            skipped: Vec::new(),
            over_limit: 0,
        })
    }

    /// The set with at most [`Limits::max_keys`] keys, the others counted in `over_limit`.
    fn within(mut self, limits: &Limits) -> Self {
        self.over_limit = self
            .over_limit
            .saturating_add(self.keys.len().saturating_sub(limits.max_keys));
        self.keys.truncate(limits.max_keys);
        self
    }

    fn from_jwk_set(object: &Map<String, Value>, limits: &Limits) -> Result<Self, KeySetError> {
        let Some(Value::Array(entries)) = object.get("keys") else {
            return Err(KeySetError::KeysNotArray);
        };
        let examined = limits.max_keys.saturating_mul(4);
        let mut set = Self {
            over_limit: entries.len().saturating_sub(examined),
            ..Self::default()
        };
        for entry in entries.iter().take(examined) {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            match Jwk::from_json(entry) {
                Ok(jwk) => set.keys.push(jwk),
                Err(reason) => set.skipped.push((kid, reason)),
            }
        }
        Ok(set)
    }

    fn from_certificate_map(
        object: &Map<String, Value>,
        limits: &Limits,
    ) -> Result<Self, KeySetError> {
        // An empty object is no certificate map (jwt_authn: "Jwks does not have [keys] field"):
        // a misrouted JSON endpoint answering `{}` must not pass for an issuer with no keys.
        if object.is_empty() {
            return Err(KeySetError::NoKeysField);
        }
        let mut set = Self {
            over_limit: object.len().saturating_sub(limits.max_keys),
            ..Self::default()
        };
        for (kid, value) in object.iter().take(limits.max_keys) {
            let Some(pem) = value
                .as_str()
                .filter(|pem| pem.trim_start().starts_with("-----BEGIN CERTIFICATE-----"))
            else {
                return Err(KeySetError::NoKeysField);
            };
            let bad = |reason| KeySetError::BadCertificate {
                kid: kid.clone(),
                reason,
            };
            let block = pem::blocks(pem.as_bytes())
                .next()
                .ok_or(bad(JwkError::X509))?
                .map_err(|_| bad(JwkError::X509))?;
            let key = key_from_certificate(&block.contents).map_err(bad)?;
            set.keys.push(Jwk {
                kid: Some(kid.clone()),
                alg: None,
                key,
                issuer: None,
            });
        }
        Ok(set)
    }

    fn from_pem(text: &[u8], limits: &Limits) -> Result<Self, KeySetError> {
        let mut set = Self::default();
        let mut blocks = pem::blocks(text);
        for block in blocks.by_ref().take(limits.max_keys) {
            let block = block.map_err(|error| KeySetError::Pem(error.to_string()))?;
            let key = match block.label.as_str() {
                "PUBLIC KEY" => key_from_spki(&block.contents),
                "CERTIFICATE" => key_from_certificate(&block.contents),
                "RSA PUBLIC KEY" => rsa_from_pkcs1(&block.contents),
                label => return Err(KeySetError::Pem(format!("unsupported PEM label {label:?}"))),
            }
            .map_err(|reason| KeySetError::Pem(reason.to_string()))?;
            set.keys.push(Jwk {
                kid: None,
                alg: None,
                key,
                issuer: None,
            });
        }
        set.over_limit = blocks.count();
        if set.keys.is_empty() {
            return Err(KeySetError::Pem("no complete PEM block".to_owned()));
        }
        Ok(set)
    }
}

impl Jwk {
    /// Parses one JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2).
    pub fn from_json(value: &Value) -> Result<Self, JwkError> {
        let Value::Object(jwk) = value else {
            return Err(JwkError::NotAnObject);
        };
        let kty = jwk
            .get("kty")
            .and_then(Value::as_str)
            .ok_or(JwkError::BadKty)?;
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(JwkError::BadMember("kid")),
        };
        if !for_signatures(jwk) {
            return Err(JwkError::NotForSignatures);
        }
        let alg_name = match jwk.get("alg") {
            None => None,
            Some(Value::String(alg)) => Some(alg.as_str()),
            Some(_) => return Err(JwkError::BadMember("alg")),
        };
        let alg = alg_name
            .map(|name| {
                Algorithm::from_name(name)
                    .ok_or_else(|| JwkError::AlgNotForKeyType(name.to_owned()))
            })
            .transpose()?;
        // Not in RFC 7517: Entra ID's. A key that names its issuer in a way jwt-gate cannot
        // read is skipped rather than used for every issuer.
        let issuer = match jwk.get("issuer") {
            None => None,
            Some(Value::String(issuer)) => {
                Some(IssuerTemplate::parse(issuer).map_err(|_| JwkError::BadMember("issuer"))?)
            }
            Some(_) => return Err(JwkError::BadMember("issuer")),
        };
        let key = match kty {
            "RSA" => PublicKey::rsa(member(jwk, "n")?, member(jwk, "e")?)?,
            "EC" => {
                let curve = match (jwk.get("crv"), alg) {
                    (Some(Value::String(crv)), _) => Curve::from_name(crv)
                        .ok_or_else(|| JwkError::UnsupportedCurve(crv.clone()))?,
                    (Some(_), _) => return Err(JwkError::BadMember("crv")),
                    // jwt_verify_lib: no `crv` means the curve of `alg`, else P-256.
                    (None, Some(alg)) => match alg.key_family() {
                        KeyFamily::Ec(curve) => curve,
                        _ => return Err(JwkError::AlgNotForKeyType(alg.name().to_owned())),
                    },
                    (None, None) => Curve::P256,
                };
                let x = left_pad(member(jwk, "x")?, curve.coordinate_len())?;
                let y = left_pad(member(jwk, "y")?, curve.coordinate_len())?;
                PublicKey::ec(curve, [&[4u8][..], &x, &y].concat())
            }
            "OKP" => match jwk.get("crv").and_then(Value::as_str) {
                Some("Ed25519") => {
                    let x = member(jwk, "x")?;
                    PublicKey::Ed25519(x.try_into().map_err(|_| JwkError::BadMember("x"))?)
                }
                Some(other) => return Err(JwkError::UnsupportedCurve(other.to_owned())),
                None => return Err(JwkError::BadMember("crv")),
            },
            "oct" => {
                let secret = member(jwk, "k")?;
                if secret.is_empty() {
                    return Err(JwkError::BadMember("k"));
                }
                PublicKey::Hmac(secret)
            }
            other => return Err(JwkError::UnsupportedKty(other.to_owned())),
        };
        if let Some(alg) = alg {
            if !key.fits(alg) {
                return Err(match key {
                    PublicKey::Ec { .. } if matches!(alg.key_family(), KeyFamily::Ec(_)) => {
                        JwkError::AlgNotForCurve
                    }
                    _ => JwkError::AlgNotForKeyType(alg.name().to_owned()),
                });
            }
        }
        Ok(Self {
            kid,
            alg,
            key,
            issuer,
        })
    }
}

impl PublicKey {
    /// Whether this key can verify `alg`: same family, and for EC the same curve.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.family() == alg.key_family()
    }

    /// The family of algorithms this key serves.
    pub fn family(&self) -> KeyFamily {
        match self {
            Self::Ec { curve, .. } => KeyFamily::Ec(*curve),
            Self::Ed25519(_) => KeyFamily::Ed25519,
            Self::Hmac(_) => KeyFamily::Hmac,
            Self::Rsa { .. } => KeyFamily::Rsa,
        }
    }

    fn ec(curve: Curve, point: Vec<u8>) -> Self {
        let spki = crate::keys::der::ec_spki(curve, &point);
        Self::Ec { curve, point, spki }
    }

    /// The key as DER SubjectPublicKeyInfo, for RSA and EC keys.
    pub fn spki(&self) -> Option<&[u8]> {
        match self {
            Self::Ec { spki, .. } | Self::Rsa { spki, .. } => Some(spki),
            Self::Ed25519(_) | Self::Hmac(_) => None,
        }
    }

    /// An RSA key from big-endian `n` and `e`, checked for the sizes ring verifies: a modulus of
    /// 2048 to 8192 bits and an odd exponent of 3 up to 33 bits.
    fn rsa(n: Vec<u8>, e: Vec<u8>) -> Result<Self, JwkError> {
        let n = strip_leading_zeros(&n);
        let e = strip_leading_zeros(&e);
        let n_bits = bit_length(n);
        let e_bits = bit_length(e);
        let e_odd = e.last().is_some_and(|last| last & 1 == 1);
        if !(2048..=8192).contains(&n_bits) || !(2..=33).contains(&e_bits) || !e_odd {
            return Err(JwkError::RsaKeySize);
        }
        Ok(Self::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
            spki: crate::keys::der::rsa_spki(n, e),
        })
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ec { curve, .. } => write!(f, "Ec({})", curve.name()),
            Self::Ed25519(_) => f.write_str("Ed25519"),
            // Never print a secret.
            Self::Hmac(secret) => write!(f, "Hmac({} bytes)", secret.len()),
            Self::Rsa { n, .. } => write!(f, "Rsa({} bits)", bit_length(n)),
        }
    }
}

/// `use` must be `sig` if present; `key_ops`, if present, must include `verify` (RFC 7517 §4.2,
/// §4.3). Envoy ignores both and would verify with an encryption key; we do not.
fn for_signatures(jwk: &Map<String, Value>) -> bool {
    let use_ok = jwk.get("use").is_none_or(|value| value == "sig");
    let ops_ok = match jwk.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) => ops.iter().any(|op| op == "verify"),
        Some(_) => false,
    };
    use_ok && ops_ok
}

/// A base64url member of a JWK. Padding is tolerated here (keys come from configuration or from
/// the issuer, not from the token).
fn member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(JwkError::BadMember(name))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| JwkError::BadMember(name))
}

fn key_from_certificate(der: &[u8]) -> Result<PublicKey, JwkError> {
    let (_, certificate) = X509Certificate::from_der(der).map_err(|_| JwkError::X509)?;
    key_from_parsed_spki(certificate.public_key())
}

fn key_from_spki(der: &[u8]) -> Result<PublicKey, JwkError> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(der).map_err(|_| JwkError::X509)?;
    key_from_parsed_spki(&spki)
}

fn key_from_parsed_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<PublicKey, JwkError> {
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_SIG_ED25519 {
        let x: &[u8] = &spki.subject_public_key.data;
        return Ok(PublicKey::Ed25519(
            x.try_into().map_err(|_| JwkError::UnsupportedPublicKey)?,
        ));
    }
    if *algorithm != OID_PKCS1_RSAENCRYPTION && *algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(JwkError::UnsupportedPublicKey);
    }
    match spki.parsed().map_err(|_| JwkError::X509)? {
        ParsedKey::RSA(rsa) => PublicKey::rsa(rsa.modulus.to_vec(), rsa.exponent.to_vec()),
        ParsedKey::EC(point) => {
            let curve_oid: Option<Oid<'_>> = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|parameters| parameters.as_oid().ok());
            let curve = match curve_oid {
                Some(oid) if oid == OID_EC_P256 => Curve::P256,
                Some(oid) if oid == OID_NIST_EC_P384 => Curve::P384,
                Some(oid) if oid == OID_NIST_EC_P521 => Curve::P521,
                _ => return Err(JwkError::UnsupportedCurve("unknown".to_owned())),
            };
            let point = point.data().to_vec();
            let uncompressed_len = curve.coordinate_len().saturating_mul(2).saturating_add(1);
            if point.len() != uncompressed_len || point.first() != Some(&4) {
                return Err(JwkError::BadEcPoint);
            }
            Ok(PublicKey::ec(curve, point))
        }
        _ => Err(JwkError::UnsupportedPublicKey),
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1).
fn rsa_from_pkcs1(der: &[u8]) -> Result<PublicKey, JwkError> {
    let (_, key) =
        x509_parser::public_key::RSAPublicKey::from_der(der).map_err(|_| JwkError::X509)?;
    PublicKey::rsa(key.modulus.to_vec(), key.exponent.to_vec())
}

fn left_pad(mut bytes: Vec<u8>, len: usize) -> Result<Vec<u8>, JwkError> {
    if bytes.len() > len {
        return Err(JwkError::BadEcPoint);
    }
    let mut padded = vec![0; len.saturating_sub(bytes.len())];
    padded.append(&mut bytes);
    Ok(padded)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn bit_length(bytes: &[u8]) -> usize {
    let bytes = strip_leading_zeros(bytes);
    match bytes.first() {
        None => 0,
        Some(&first) => {
            let first_bits =
                8usize.saturating_sub(usize::try_from(first.leading_zeros()).unwrap_or(0));
            bytes
                .len()
                .saturating_sub(1)
                .saturating_mul(8)
                .saturating_add(first_bits)
        }
    }
}

fn is_base64url(text: &[u8]) -> bool {
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn pad(text: &[u8]) -> Vec<u8> {
    let body = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let mut padded = body.to_vec();
    while padded.len() % 4 != 0 {
        padded.push(b'=');
    }
    padded
}

impl fmt::Display for KeySetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCertificate { kid, reason } => write!(f, "certificate {kid:?}: {reason}"),
            Self::Json(error) => write!(f, "Jwks is an invalid JSON: {error}"),
            Self::KeysNotArray => f.write_str("[keys] in Jwks is not an array"),
            Self::NoKeysField => f.write_str(
                "Jwks does not have [keys] field (and is not a map of PEM certificates)",
            ),
            Self::NoValidKeys(None) => f.write_str("Jwks doesn't have any valid public key"),
            Self::NoValidKeys(Some(first)) => {
                write!(
                    f,
                    "Jwks doesn't have any valid public key (first key: {first})"
                )
            }
            Self::Pem(reason) => write!(f, "PEM pubkey parse fails: {reason}"),
            Self::PemNotConfigured => f.write_str(
                "a PEM document, but remote_jwks.format is \"jwks\": set it to \"pem\" if the issuer publishes PEM keys",
            ),
            Self::SymmetricKeyTooShort(len) => write!(
                f,
                "a symmetric key file must hold at least {MIN_SYMMETRIC_KEY_BYTES} bytes of key, this one has {len}"
            ),
            Self::TooLarge => f.write_str("key set document is larger than the limit"),
            Self::UnknownFormat => f.write_str(
                "not a JWK set, an x509 certificate map, PEM, or a base64url symmetric key",
            ),
        }
    }
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlgNotForKeyType(alg) => write!(f, "[alg] {alg:?} does not fit the key type"),
            Self::AlgNotForCurve => {
                f.write_str("[crv] field specified is not compatible with [alg] for an EC key")
            }
            Self::BadMember(name) => write!(f, "[{name}] field is missing or invalid"),
            Self::BadKty => f.write_str("[kty] is missing in [keys]"),
            Self::BadEcPoint => f.write_str("EC key is not an uncompressed point of its curve"),
            Self::NotAnObject => f.write_str("key is not a JSON object"),
            Self::NotForSignatures => f.write_str("key is not for signatures ([use]/[key_ops])"),
            Self::RsaKeySize => f.write_str(
                "RSA key must have a 2048 to 8192-bit modulus and an odd exponent of at most 33 bits",
            ),
            Self::UnsupportedCurve(crv) => write!(f, "[crv] {crv:?} is not supported"),
            Self::UnsupportedKty(kty) => write!(f, "[kty] {kty:?} is not supported in [keys]"),
            Self::UnsupportedPublicKey => f.write_str("public key type is not supported"),
            Self::X509 => f.write_str("X509 parse pubkey fails"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwk_may_name_its_issuer_as_entra_does() {
        let oct = |issuer: serde_json::Value| {
            let mut jwk =
                serde_json::json!({"kty": "oct", "kid": "k", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"});
            jwk["issuer"] = issuer;
            Jwk::from_json(&jwk)
        };
        let entra = oct("https://login.microsoftonline.com/{tenantid}/v2.0".into()).unwrap();
        let issuer = entra.issuer.unwrap();
        assert!(issuer.matches("https://login.microsoftonline.com/72f988bf/v2.0"));
        assert!(!issuer.matches("https://sts.windows.net/72f988bf/"));
        let plain = oct("https://issuer.test".into()).unwrap().issuer.unwrap();
        assert!(!plain.is_template());
        // A key whose issuer cannot be read is skipped, never used for every issuer.
        for bad in [serde_json::json!(7), "https://{x}.example/".into()] {
            assert_eq!(
                oct(bad.clone()),
                Err(JwkError::BadMember("issuer")),
                "{bad}"
            );
        }
        let without = Jwk::from_json(&serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap();
        assert_eq!(without.issuer, None);
    }

    #[test]
    fn stray_words_are_not_symmetric_keys() {
        for body in ["null", "true", "OK", "Unauthorized", "NotFound", "c2VjcmV0"] {
            assert!(
                KeySet::parse(body.as_bytes(), &Limits::DEFAULT).is_err(),
                "{body}"
            );
        }
        let key = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let set = KeySet::parse(key.as_bytes(), &Limits::DEFAULT).unwrap();
        assert_eq!(set.keys[0].key, PublicKey::Hmac(vec![7; 32]));
    }

    #[test]
    fn fetched_documents_are_never_secrets() {
        let limits = Limits::DEFAULT;
        // A version endpoint's SHA-256 digest: valid base64url, 48 bytes once decoded. Inline
        // it is a symmetric key file; fetched, in either format, it is nothing.
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert!(matches!(
            KeySet::parse(digest.as_bytes(), &limits).unwrap().keys[0].key,
            PublicKey::Hmac(ref secret) if secret.len() == 48
        ));
        for format in [KeySetFormat::Jwks, KeySetFormat::Pem] {
            for body in [
                digest,
                "null",
                "OK",
                "{}",
                "[]",
                "-----BEGIN PUBLIC KEY-----\nMII",
            ] {
                let parsed = KeySet::parse_fetched(body.as_bytes(), format, &limits);
                assert!(parsed.is_err(), "{body:?} as {format:?}: {parsed:?}");
            }
        }
        // A fetched JWK `oct` key is a secret the issuer chose to publish.
        let oct = format!(
            r#"{{"keys":[{{"kty":"oct","k":"{}"}}]}}"#,
            URL_SAFE_NO_PAD.encode([7u8; 32])
        );
        let set = KeySet::parse_fetched(oct.as_bytes(), KeySetFormat::Jwks, &limits).unwrap();
        assert_eq!(set.keys[0].key, PublicKey::Hmac(vec![7; 32]));
    }

    #[test]
    fn a_fetched_set_may_be_empty_an_inline_one_may_not() {
        let limits = Limits::DEFAULT;
        let encryption_only = r#"{"keys":[{"kty":"oct","use":"enc","k":"AAAA"}]}"#;
        for body in [r#"{"keys":[]}"#, encryption_only] {
            let set = KeySet::parse_fetched(body.as_bytes(), KeySetFormat::Jwks, &limits).unwrap();
            assert!(set.keys.is_empty(), "{body}");
            assert!(KeySet::parse(body.as_bytes(), &limits).is_err(), "{body}");
        }
        let pem = KeySet::parse_fetched(b"-----BEGIN PUBLIC KEY-----", KeySetFormat::Jwks, &limits);
        assert_eq!(pem.unwrap_err(), KeySetError::PemNotConfigured);
    }

    #[test]
    fn keys_over_the_limit_are_counted() {
        let limits = Limits {
            max_keys: 2,
            ..Limits::DEFAULT
        };
        let jwk = |i: u8| {
            format!(
                r#"{{"kty":"oct","kid":"k{i}","k":"{}"}}"#,
                URL_SAFE_NO_PAD.encode([i; 32])
            )
        };
        let set = |n: u8| {
            format!(
                r#"{{"keys":[{}]}}"#,
                (0..n).map(jwk).collect::<Vec<_>>().join(",")
            )
        };
        let two = KeySet::parse(set(2).as_bytes(), &limits).unwrap();
        assert_eq!((two.keys.len(), two.over_limit), (2, 0));
        // Three usable keys: one beyond the limit. Ten entries: eight examined (4 x the limit),
        // two more unread, six usable ones beyond the limit.
        let three = KeySet::parse(set(3).as_bytes(), &limits).unwrap();
        assert_eq!((three.keys.len(), three.over_limit), (2, 1));
        let ten = KeySet::parse(set(10).as_bytes(), &limits).unwrap();
        assert_eq!((ten.keys.len(), ten.over_limit), (2, 8));
    }
}
