//! API keys checked locally (jwt-gate's `api_keys`, and OpenAPI `apiKey` schemes): where a key
//! is read, the SHA-256 digests of the accepted keys, and the check. Only digests are held, so
//! neither the configuration nor a log line nor a counter ever carries a key.
//!
//! The answers are ESPv2's (its service control filter, `handler_impl.cc`, and Service
//! Control's `API_KEY_INVALID` as `check_response_convert_utils.cc` turns it into a status): no
//! key is 401 `UNAUTHENTICATED`, a key that is not accepted is 400 `INVALID_ARGUMENT`.

use ring::digest::{digest, SHA256};

use crate::limits::Limits;
use crate::request::{split_path, Header};

/// Most digests one check accepts (each request compares against all of them).
pub const MAX_DIGESTS: usize = 1_000;

/// Most places one check reads.
pub const MAX_LOCATIONS: usize = 16;

/// A SHA-256 digest of an accepted key.
pub type Digest = [u8; 32];

/// One entry of `api_keys`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ApiKeyCheck {
    /// Its name in `api_keys`.
    pub name: String,
    /// Where the key is read; the first location the request has decides.
    pub locations: Vec<KeyLocation>,
    /// What is accepted.
    pub accepted: Accepted,
}

/// What an API key check accepts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Accepted {
    /// Keys with these SHA-256 digests.
    Digests(Vec<Digest>),
    /// `"unchecked"`: the configuration's explicit choice to let every request through.
    Unchecked,
}

/// Where a key is read.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum KeyLocation {
    /// The first value of a header (lower-case name).
    Header(String),
    /// The first value of a query parameter, as sent (ESPv2 does not percent-decode it either).
    Param(String),
}

/// ESPv2's places for a key when the configuration names none (`config_parser.cc`): the `key`
/// and `api_key` query parameters, then the `x-api-key` header.
pub fn default_locations() -> Vec<KeyLocation> {
    vec![
        KeyLocation::Param("key".to_owned()),
        KeyLocation::Param("api_key".to_owned()),
        KeyLocation::Header("x-api-key".to_owned()),
    ]
}

/// Why a request's API key is refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ApiKeyError {
    /// No key where the check reads one.
    Missing,
    /// A key that is not accepted (or too long to be one).
    NotValid,
}

impl ApiKeyCheck {
    /// Whether the request carries an accepted key. The key's digest is compared with every
    /// accepted digest, each over all its bytes.
    pub fn check(&self, headers: &[Header<'_>], limits: &Limits) -> Result<(), ApiKeyError> {
        let Accepted::Digests(accepted) = &self.accepted else {
            return Ok(());
        };
        // As ESPv2: the first location present decides, and an empty value is no key.
        let key = self
            .locations
            .iter()
            .find_map(|location| location.find(headers))
            .filter(|key| !key.is_empty())
            .ok_or(ApiKeyError::Missing)?;
        if key.len() > limits.max_api_key_bytes {
            return Err(ApiKeyError::NotValid);
        }
        let presented = digest(&SHA256, key);
        let found = accepted.iter().fold(false, |found, digest| {
            found | same(digest, presented.as_ref())
        });
        if found {
            Ok(())
        } else {
            Err(ApiKeyError::NotValid)
        }
    }
}

impl KeyLocation {
    fn find<'r>(&self, headers: &'r [Header<'r>]) -> Option<&'r [u8]> {
        match self {
            Self::Header(name) => headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, value)| *value),
            Self::Param(name) => {
                let path = headers
                    .iter()
                    .find(|(n, _)| n == b":path")
                    .map(|(_, value)| *value)?;
                let (_, query) = split_path(path);
                query?.split(|&b| b == b'&').find_map(|pair| {
                    let mut halves = pair.splitn(2, |&b| b == b'=');
                    (halves.next() == Some(name.as_bytes()))
                        .then(|| halves.next().unwrap_or_default())
                })
            }
        }
    }
}

/// `digest` as 64 hex digits (either case).
pub fn parse_digest(text: &str) -> Option<Digest> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hex = |at: usize| pair.get(at).and_then(|&c| char::from(c).to_digit(16));
        *byte = u8::try_from(hex(0)? * 16 + hex(1)?).ok()?;
    }
    Some(out)
}

/// Equal digests, compared over every byte whatever differs first.
fn same(a: &Digest, b: &[u8]) -> bool {
    b.len() == a.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `printf %s KEY | sha256sum` prints.
    fn digest_hex(key: &str) -> String {
        digest(&SHA256, key.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn check(locations: Vec<KeyLocation>, keys: &[&str]) -> ApiKeyCheck {
        ApiKeyCheck {
            name: "api_key".into(),
            locations,
            accepted: Accepted::Digests(
                keys.iter()
                    .map(|key| parse_digest(&digest_hex(key)).unwrap())
                    .collect(),
            ),
        }
    }

    fn request<'a>(path: &'a str, headers: &[(&'a str, &'a str)]) -> Vec<Header<'a>> {
        std::iter::once((":path", path))
            .chain(headers.iter().copied())
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect()
    }

    #[test]
    fn known_digest_of_a_known_key() {
        // `printf %s abc | sha256sum` (FIPS 180-2 B.1).
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            parse_digest("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
            parse_digest("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(parse_digest("ba78"), None);
        assert_eq!(parse_digest(&"g".repeat(64)), None);
        assert_eq!(parse_digest(&"é".repeat(32)), None);
    }

    #[test]
    fn defaults_are_espv2s_in_its_order() {
        let keys = check(default_locations(), &["good"]);
        assert_eq!(
            keys.check(&request("/a?key=good", &[]), &Limits::DEFAULT),
            Ok(())
        );
        assert_eq!(
            keys.check(&request("/a?x=1&api_key=good", &[]), &Limits::DEFAULT),
            Ok(())
        );
        assert_eq!(
            keys.check(&request("/a", &[("x-api-key", "good")]), &Limits::DEFAULT),
            Ok(())
        );
        // The query parameter comes first, and decides.
        assert_eq!(
            keys.check(
                &request("/a?key=bad", &[("x-api-key", "good")]),
                &Limits::DEFAULT
            ),
            Err(ApiKeyError::NotValid)
        );
        assert_eq!(
            keys.check(&request("/a", &[]), &Limits::DEFAULT),
            Err(ApiKeyError::Missing)
        );
        assert_eq!(
            keys.check(
                &request("/a?key=", &[("x-api-key", "good")]),
                &Limits::DEFAULT
            ),
            Err(ApiKeyError::Missing)
        );
    }

    #[test]
    fn only_the_named_location_is_read() {
        let keys = check(vec![KeyLocation::Header("x-key".into())], &["good"]);
        assert_eq!(
            keys.check(&request("/a", &[("x-key", "good")]), &Limits::DEFAULT),
            Ok(())
        );
        assert_eq!(
            keys.check(
                &request("/a?key=good", &[("x-api-key", "good")]),
                &Limits::DEFAULT
            ),
            Err(ApiKeyError::Missing)
        );
        let keys = check(vec![KeyLocation::Param("k".into())], &["good", "other"]);
        assert_eq!(
            keys.check(&request("/a?k=other", &[]), &Limits::DEFAULT),
            Ok(())
        );
        // As sent: not percent-decoded (ESPv2's parseQueryString).
        assert_eq!(
            keys.check(&request("/a?k=go%6Fd", &[]), &Limits::DEFAULT),
            Err(ApiKeyError::NotValid)
        );
        // The first value decides.
        assert_eq!(
            keys.check(&request("/a?k=bad&k=good", &[]), &Limits::DEFAULT),
            Err(ApiKeyError::NotValid)
        );
    }

    #[test]
    fn oversize_and_binary_keys_are_not_valid() {
        let keys = check(vec![KeyLocation::Header("x-key".into())], &["good"]);
        let long = "a".repeat(Limits::DEFAULT.max_api_key_bytes + 1);
        assert_eq!(
            keys.check(&request("/a", &[("x-key", &long)]), &Limits::DEFAULT),
            Err(ApiKeyError::NotValid)
        );
        let binary: Vec<Header<'_>> = vec![(b":path", b"/a"), (b"x-key", &[0xff, 0x00, 0xfe])];
        assert_eq!(
            keys.check(&binary, &Limits::DEFAULT),
            Err(ApiKeyError::NotValid)
        );
    }

    #[test]
    fn unchecked_lets_everything_through() {
        let keys = ApiKeyCheck {
            name: "k".into(),
            locations: Vec::new(),
            accepted: Accepted::Unchecked,
        };
        assert_eq!(keys.check(&request("/a", &[]), &Limits::DEFAULT), Ok(()));
    }
}
