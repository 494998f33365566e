//! Finding tokens in a request: headers (with a value prefix), query parameters and cookies.
//!
//! Stricter than jwt_authn on purpose: a header's prefix must start its value (compared without
//! regard to case, as RFC 9110 §11.1 says of auth schemes), and a location carrying two tokens
//! (repeated headers, comma-joined values, repeated parameters or cookies) is an error rather than
//! a first-one-wins guess.

use std::borrow::Cow;

use crate::request::{query_pairs, Header};

/// Why a location yields no single token.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ExtractError {
    /// The location carries more than one token (repeated headers, comma-joined values,
    /// repeated parameters or cookies).
    MultipleTokens,
}

/// Where a provider looks for tokens.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum Location {
    /// A cookie, by name.
    Cookie(String),
    /// A request header (lower-case name) and the prefix its value must start with.
    Header {
        /// Lower-case header name (shared with the header removals that name it).
        name: std::sync::Arc<str>,
        /// Value prefix, such as `Bearer `; empty means the whole value.
        value_prefix: String,
    },
    /// A query parameter, by name.
    Param(String),
}

impl Location {
    /// jwt_authn's defaults: `Authorization: Bearer <token>` and `?access_token=<token>`.
    pub fn defaults() -> [Self; 2] {
        [
            Self::Header {
                name: "authorization".into(),
                value_prefix: "Bearer ".to_owned(),
            },
            Self::Param("access_token".to_owned()),
        ]
    }

    /// The token at this location, if any; `MultipleTokens` if there are several. Borrowed from
    /// the request where it can be (every location but a percent-encoded query parameter).
    pub fn extract<'a>(
        &self,
        headers: &'a [Header<'a>],
        query: Option<&'a [u8]>,
    ) -> Result<Option<Cow<'a, str>>, ExtractError> {
        let mut found: Option<Cow<'a, [u8]>> = None;
        let mut take = |token: Cow<'a, [u8]>| {
            if token.is_empty() {
                return Ok(());
            }
            if found.replace(token).is_some() {
                return Err(ExtractError::MultipleTokens);
            }
            Ok(())
        };
        match self {
            Self::Header { name, value_prefix } => {
                let values = || {
                    headers
                        .iter()
                        .filter(|(n, _)| *n == name.as_bytes())
                        .map(|(_, value)| *value)
                };
                let mut present = values();
                match (present.next(), present.next()) {
                    // The usual request: one such header holding one credential (`memchr` looks
                    // for the comma a vector at a time).
                    (Some(value), None) if memchr::memchr(b',', value).is_none() => {
                        if let Some(token) =
                            strip_prefix_ignore_case(value.trim_ascii(), value_prefix.as_bytes())
                        {
                            take(Cow::Borrowed(token.trim_ascii()))?;
                        }
                    }
                    // Envoy joins repeated headers with commas, and no JWT contains one: each
                    // comma-separated part is one credential. A location holding a token must
                    // hold exactly one credential, so `Basic x, Bearer <t>` (two Authorization
                    // headers) is refused rather than guessed at.
                    (Some(_), _) => {
                        let parts: Vec<&[u8]> = values()
                            .flat_map(|value| value.split(|&b| b == b','))
                            .map(<[u8]>::trim_ascii)
                            .filter(|part| !part.is_empty())
                            .collect();
                        for part in &parts {
                            if let Some(token) =
                                strip_prefix_ignore_case(part, value_prefix.as_bytes())
                            {
                                if parts.len() > 1 {
                                    return Err(ExtractError::MultipleTokens);
                                }
                                take(Cow::Borrowed(token.trim_ascii()))?;
                            }
                        }
                    }
                    (None, _) => {}
                }
            }
            Self::Param(name) => {
                for (key, value) in query_pairs(query.unwrap_or_default()) {
                    if key == name.as_bytes() {
                        take(Cow::Owned(value))?;
                    }
                }
            }
            Self::Cookie(name) => {
                for (_, value) in headers.iter().filter(|(n, _)| n == b"cookie") {
                    for pair in value.split(|&b| b == b';') {
                        let pair = pair.trim_ascii();
                        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                            continue;
                        };
                        let (key, value) = (pair.get(..eq), pair.get(eq + 1..));
                        if key.map(<[u8]>::trim_ascii) == Some(name.as_bytes()) {
                            let value = value.unwrap_or_default().trim_ascii();
                            let unquoted = value
                                .strip_prefix(b"\"")
                                .and_then(|v| v.strip_suffix(b"\""))
                                .unwrap_or(value);
                            take(Cow::Borrowed(unquoted))?;
                        }
                    }
                }
            }
        }
        // Not UTF-8: replaced characters, so the token fails to parse (never a panic).
        // A vectorized check first (`simdutf8`): `from_utf8_lossy` goes byte by byte, and this
        // check was most of a cache hit's own work.
        Ok(found.map(|bytes| match bytes {
            Cow::Borrowed(bytes) => simdutf8::basic::from_utf8(bytes)
                .map_or_else(|_| String::from_utf8_lossy(bytes), Cow::Borrowed),
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
            ),
        }))
    }
}

fn strip_prefix_ignore_case<'v>(value: &'v [u8], prefix: &[u8]) -> Option<&'v [u8]> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| value.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &[(&'a str, &'a [u8])]) -> Vec<Header<'a>> {
        pairs.iter().map(|(n, v)| (n.as_bytes(), *v)).collect()
    }

    fn bearer() -> Location {
        Location::defaults()[0].clone()
    }

    #[test]
    fn scheme_is_case_insensitive_and_must_start_the_value() {
        for value in [&b"Bearer a.b.c"[..], b"bearer a.b.c", b"BEARER   a.b.c  "] {
            let request = headers(&[("authorization", value)]);
            assert_eq!(bearer().extract(&request, None), Ok(Some("a.b.c".into())));
        }
        for value in [
            &b"Basic abc"[..],
            b"Foo Bearer a.b.c",
            b"Bearer",
            b"Bearer ",
        ] {
            let request = headers(&[("authorization", value)]);
            assert_eq!(bearer().extract(&request, None), Ok(None), "{value:?}");
        }
    }

    #[test]
    fn header_and_cookie_tokens_are_borrowed_from_the_request() {
        let request = headers(&[("authorization", b"Bearer a.b.c"), ("cookie", b"s=x.y.z")]);
        assert!(matches!(
            bearer().extract(&request, None),
            Ok(Some(Cow::Borrowed("a.b.c")))
        ));
        let cookie = Location::Cookie("s".into());
        assert!(matches!(
            cookie.extract(&request, None),
            Ok(Some(Cow::Borrowed("x.y.z")))
        ));
        let one_header_two_credentials = headers(&[("authorization", b"Bearer a.b.c, Basic x")]);
        assert_eq!(
            bearer().extract(&one_header_two_credentials, None),
            Err(ExtractError::MultipleTokens)
        );
    }

    #[test]
    fn two_tokens_in_one_location_are_refused() {
        let twice = headers(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
        ]);
        assert_eq!(
            bearer().extract(&twice, None),
            Err(ExtractError::MultipleTokens)
        );
        let joined = headers(&[("authorization", b"Bearer a,Bearer b")]);
        assert_eq!(
            bearer().extract(&joined, None),
            Err(ExtractError::MultipleTokens)
        );
        let param = Location::Param("access_token".into());
        assert_eq!(
            param.extract(&[], Some(b"access_token=a&x=1&access_token=b")),
            Err(ExtractError::MultipleTokens)
        );
        assert_eq!(
            param.extract(&[], Some(b"x=1&access%5Ftoken=a")),
            Ok(Some("a".into()))
        );
    }

    #[test]
    fn cookies() {
        let cookie = Location::Cookie("session".into());
        let h = headers(&[("cookie", b"a=1; session=\"x.y.z\"; b=2")]);
        assert_eq!(cookie.extract(&h, None), Ok(Some("x.y.z".into())));
        let twice = headers(&[("cookie", b"session=a"), ("cookie", b"session=b")]);
        assert_eq!(
            cookie.extract(&twice, None),
            Err(ExtractError::MultipleTokens)
        );
    }

    #[test]
    fn non_utf8_bytes_do_not_panic() {
        let h = headers(&[("authorization", b"Bearer \xff\xfe.\x80.x")]);
        assert!(matches!(bearer().extract(&h, None), Ok(Some(_))));
    }
}
