//! Envoy's `verify_signature` foreign function, as bytes: the arguments and result protobufs
//! (`source/extensions/common/wasm/ext/verify_signature.proto`), hand-encoded — four fields do
//! not justify a protobuf dependency in a module that must stay small.

use crate::token::algorithm::Algorithm;

/// The foreign function's name.
pub const VERIFY_SIGNATURE: &str = "verify_signature";

/// The `hash_function` Envoy's `verifySignature` takes for an algorithm it can check: RSASSA
/// PKCS#1 v1.5 and ECDSA. PSS, EdDSA and HMAC are not offered by the host.
pub fn host_hash(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::Rs256 | Algorithm::Es256 => Some("sha256"),
        Algorithm::Rs384 | Algorithm::Es384 => Some("sha384"),
        Algorithm::Rs512 | Algorithm::Es512 => Some("sha512"),
        _ => None,
    }
}

/// `VerifySignatureArguments { hash_function = 1; public_key = 2 (DER); signature = 3; text = 4 }`.
pub fn encode_arguments(
    hash: &str,
    public_key_der: &[u8],
    signature: &[u8],
    text: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + signature.len() + public_key_der.len() + 32);
    for (field, bytes) in [
        (1u8, hash.as_bytes()),
        (2, public_key_der),
        (3, signature),
        (4, text),
    ] {
        out.push(field << 3 | 2); // length-delimited
        push_varint(&mut out, u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        out.extend_from_slice(bytes);
    }
    out
}

/// `VerifySignatureResult { bool result = 1; string error = 2; }` → `result`. Anything that is
/// not a well-formed message with `result: true` is `false`.
pub fn decode_result(bytes: &[u8]) -> bool {
    let mut result = false;
    let mut rest = bytes;
    while let Some((&key, tail)) = rest.split_first() {
        let Some((value, tail)) = read_varint(tail) else {
            return false;
        };
        match (key >> 3, key & 7) {
            (1, 0) => {
                result = value == 1;
                rest = tail;
            }
            (_, 0) => rest = tail,
            (_, 2) => {
                let Some(skipped) = usize::try_from(value).ok().and_then(|len| tail.get(len..))
                else {
                    return false;
                };
                rest = skipped;
            }
            _ => return false,
        }
    }
    result
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(u8::try_from(value & 0x7f).unwrap_or(0) | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap_or(0));
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, bytes.get(index + 1..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_encode_as_protobuf() {
        let encoded = encode_arguments("sha256", &[0xaa], &[0xbb; 200], b"t");
        assert_eq!(&encoded[..8], b"\x0a\x06sha256");
        assert_eq!(&encoded[8..11], &[0x12, 1, 0xaa]);
        assert_eq!(&encoded[11..14], &[0x1a, 0xc8, 0x01]); // 200 as a varint
        assert_eq!(&encoded[encoded.len() - 3..], &[0x22, 1, b't']);
    }

    #[test]
    fn results_decode_strictly() {
        assert!(decode_result(&[0x08, 0x01]));
        assert!(decode_result(&[0x08, 0x01, 0x12, 0x00]));
        assert!(!decode_result(&[0x08, 0x00, 0x12, 0x03, b'b', b'a', b'd']));
        assert!(!decode_result(&[]));
        assert!(!decode_result(&[0x08]));
        assert!(!decode_result(&[0x12, 0x09, b'x']));
        assert!(!decode_result(&[0x0d, 1, 2, 3, 4]));
    }

    #[test]
    fn the_host_offers_pkcs1_and_ecdsa_only() {
        assert_eq!(host_hash(Algorithm::Rs384), Some("sha384"));
        assert_eq!(host_hash(Algorithm::Es512), Some("sha512"));
        for alg in [Algorithm::Ps256, Algorithm::EdDsa, Algorithm::Hs256] {
            assert_eq!(host_hash(alg), None);
        }
    }
}
