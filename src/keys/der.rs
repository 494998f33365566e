//! The few DER encodings jwt-gate needs to hand keys and signatures to a host verifier (Envoy's
//! `verify_signature`, BoringSSL): SubjectPublicKeyInfo for RSA and EC keys (RFC 5280 §4.1,
//! RFC 3279, RFC 5480) and an ECDSA signature (RFC 3279 §2.2.3) from JOSE's fixed-size r || s.

use crate::token::algorithm::Curve;

/// `SubjectPublicKeyInfo` of an RSA key: rsaEncryption, NULL parameters, `RSAPublicKey`.
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    // 1.2.840.113549.1.1.1
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let algorithm = sequence(&[tlv(0x06, RSA_ENCRYPTION), tlv(0x05, &[])].concat());
    let key = sequence(&[integer(n), integer(e)].concat());
    sequence(&[algorithm, bit_string(&key)].concat())
}

/// `SubjectPublicKeyInfo` of an EC key: id-ecPublicKey, the named curve, the SEC1 point.
pub fn ec_spki(curve: Curve, point: &[u8]) -> Vec<u8> {
    // 1.2.840.10045.2.1
    const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let curve_oid: &[u8] = match curve {
        Curve::P256 => &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07], // 1.2.840.10045.3.1.7
        Curve::P384 => &[0x2b, 0x81, 0x04, 0x00, 0x22],                   // 1.3.132.0.34
        Curve::P521 => &[0x2b, 0x81, 0x04, 0x00, 0x23],                   // 1.3.132.0.35
    };
    let algorithm = sequence(&[tlv(0x06, EC_PUBLIC_KEY), tlv(0x06, curve_oid)].concat());
    sequence(&[algorithm, bit_string(point)].concat())
}

/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` from JOSE's r || s, which must be
/// exactly twice the curve's coordinate length (RFC 7518 §3.4); `None` otherwise.
pub fn ecdsa_signature(curve: Curve, raw: &[u8]) -> Option<Vec<u8>> {
    let half = curve.coordinate_len();
    if raw.len() != half.checked_mul(2)? {
        return None;
    }
    let (r, s) = raw.split_at(half);
    Some(sequence(&[integer(r), integer(s)].concat()))
}

/// A non-negative INTEGER from big-endian bytes: minimal, with a 0 byte when the top bit is set.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let trimmed = bytes.get(start..).unwrap_or_default();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

fn sequence(content: &[u8]) -> Vec<u8> {
    tlv(0x30, content)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(&significant);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
    use x509_parser::public_key::PublicKey;

    #[test]
    fn rsa_spki_parses_back() {
        let n = [0xc5u8; 256];
        let spki = rsa_spki(&n, &[1, 0, 1]);
        let (rest, parsed) = SubjectPublicKeyInfo::from_der(&spki).unwrap();
        assert!(rest.is_empty());
        match parsed.parsed().unwrap() {
            PublicKey::RSA(rsa) => {
                assert_eq!(rsa.modulus.iter().skip_while(|&&b| b == 0).count(), 256);
                assert_eq!(rsa.exponent, [1, 0, 1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ec_spki_parses_back() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let point = [&[4u8][..], &vec![7u8; curve.coordinate_len() * 2]].concat();
            let spki = ec_spki(curve, &point);
            let (rest, parsed) = SubjectPublicKeyInfo::from_der(&spki).unwrap();
            assert!(rest.is_empty());
            assert_eq!(&*parsed.subject_public_key.data, &point[..]);
        }
    }

    #[test]
    fn ecdsa_signatures_are_minimal_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r: high bit set, needs a leading zero
        raw[63] = 1; // s: leading zeros stripped
        let der = ecdsa_signature(Curve::P256, &raw).unwrap();
        assert_eq!(&der[..4], &[0x30, 0x26, 0x02, 0x21]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert_eq!(ecdsa_signature(Curve::P256, &raw[..63]), None);
        // r = s = 0 encodes as INTEGER 0: the host must reject it (CVE-2022-21449 class).
        assert_eq!(
            ecdsa_signature(Curve::P256, &[0; 64]).unwrap(),
            [0x30, 6, 2, 1, 0, 2, 1, 0]
        );
        // P-521 signatures are longer than 127 bytes: long-form lengths.
        let der = ecdsa_signature(Curve::P521, &[0xff; 132]).unwrap();
        assert_eq!(&der[..3], &[0x30, 0x81, 0x8a]);
    }
}
