//! What a sender-constrained token must satisfy: a provider's DPoP policy (RFC 9449), and the
//! one URI comparison DPoP needs (a proof's `htu` against the request's target URI, both
//! normalised as RFC 3986 §6.2.2 and §6.2.3 say, without query and fragment). Data and pure
//! functions; the authenticator checks proofs with them (`authenticator::binding`).

use crate::token::algorithm::Algorithm;

/// A provider's `dpop`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DpopPolicy {
    /// Only DPoP-bound tokens, under the `DPoP` scheme with a valid proof, are accepted.
    pub required: bool,
    /// How far a proof's `iat` may be from now, either way, in seconds (the provider's clock
    /// skew added).
    pub window_seconds: u64,
    /// The proof algorithms accepted (asymmetric only), in configuration order.
    pub algorithms: Vec<Algorithm>,
    /// Index of the `Authorization: DPoP <token>` location in `Config::locations`.
    pub location: usize,
}

/// Every asymmetric algorithm jwt-gate verifies: a `dpop` without `algorithms` accepts these.
pub const ASYMMETRIC: [Algorithm; 10] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Es512,
    Algorithm::EdDsa,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
];

/// `scheme://authority/path` normalised for comparison with a proof's `htu`: scheme and host in
/// lower case, the scheme's default port left out, percent-encodings of unreserved characters
/// decoded and the others in upper case, dot segments removed, an empty path as `/`, query and
/// fragment dropped. `None` for anything that is not an `http` or `https` URI with a host (no
/// user information either: a proof names the server, not an account on it).
pub fn normalized_uri(scheme: &[u8], authority: &[u8], path: &[u8]) -> Option<String> {
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_slice() {
        b"http" => 80,
        b"https" => 443,
        _ => return None,
    };
    let (host, port) = split_authority(authority)?;
    let path = path
        .split(|&b| b == b'?' || b == b'#')
        .next()
        .unwrap_or_default();
    let path = match path {
        [] => &b"/"[..],
        [b'/', ..] => path,
        _ => return None,
    };
    let mut out = scheme;
    out.extend_from_slice(b"://");
    out.extend_from_slice(&percent_normalized(&host.to_ascii_lowercase()));
    if let Some(port) = port.filter(|&port| port != default_port) {
        out.extend_from_slice(format!(":{port}").as_bytes());
    }
    out.extend_from_slice(&without_dot_segments(&percent_normalized(path)));
    String::from_utf8(out).ok()
}

/// A proof's `htu`, normalised as [`normalized_uri`]; `None` if it is not an absolute `http` or
/// `https` URI.
pub fn normalized_htu(htu: &str) -> Option<String> {
    let (scheme, rest) = htu.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = if path.starts_with('/') { path } else { "" };
    normalized_uri(scheme.as_bytes(), authority.as_bytes(), path.as_bytes())
}

/// Host and port of an authority (`host`, `host:port`, `[v6]:port`); `None` if it has user
/// information, no host, a port that is not a number, or characters no host has.
fn split_authority(authority: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let (host, port) = match authority {
        [b'[', ..] => {
            let close = authority.iter().position(|&b| b == b']')?;
            let (host, rest) = authority.split_at(close + 1);
            match rest {
                [] => (host, None),
                [b':', port @ ..] => (host, Some(port)),
                _ => return None,
            }
        }
        _ => match authority.iter().rposition(|&b| b == b':') {
            Some(colon) => (authority.get(..colon)?, Some(authority.get(colon + 1..)?)),
            None => (authority, None),
        },
    };
    let valid = match host {
        [b'[', inner @ .., b']'] => {
            !inner.is_empty()
                && inner
                    .iter()
                    .all(|b| b.is_ascii_hexdigit() || b":.".contains(b))
        }
        _ => {
            !host.is_empty()
                && host
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(b))
        }
    };
    if !valid {
        return None;
    }
    let port = match port {
        None | Some([]) => None,
        Some(digits) if digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit) => {
            Some(std::str::from_utf8(digits).ok()?.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Percent-encodings of unreserved characters decoded, the others' hex digits in upper case
/// (RFC 3986 §6.2.2.1, §6.2.2.2); a `%` not followed by two hex digits stays as it is.
fn percent_normalized(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&c| char::from(c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                let decoded = u8::try_from(high * 16 + low).unwrap_or(b'%');
                if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                    out.push(decoded);
                } else {
                    out.extend_from_slice(format!("%{decoded:02X}").as_bytes());
                }
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// RFC 3986 §5.2.4 for an absolute path: `.` segments dropped, `..` segments remove the one
/// before them (never above the root); a path ending in either keeps its final `/`.
fn without_dot_segments(path: &[u8]) -> Vec<u8> {
    let segments: Vec<&[u8]> = path
        .get(1..)
        .unwrap_or_default()
        .split(|&b| b == b'/')
        .collect();
    let last = segments.len().saturating_sub(1);
    let mut kept: Vec<&[u8]> = Vec::with_capacity(segments.len());
    for (index, segment) in segments.into_iter().enumerate() {
        match segment {
            b"." => {}
            b".." => {
                kept.pop();
            }
            other => {
                kept.push(other);
                continue;
            }
        }
        if index == last {
            kept.push(b"");
        }
    }
    let mut out = b"/".to_vec();
    out.extend_from_slice(&kept.join(&b'/'));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(scheme: &str, authority: &str, path: &str) -> Option<String> {
        normalized_uri(scheme.as_bytes(), authority.as_bytes(), path.as_bytes())
    }

    #[test]
    fn scheme_host_and_default_ports_are_normalised() {
        let expected = Some("https://api.test/a/b".to_owned());
        for htu in [
            "https://api.test/a/b",
            "HTTPS://API.Test/a/b",
            "https://api.test:443/a/b",
            "https://api.test/a/b?q=1",
            "https://api.test/a/b#f",
            "https://api.test/a/./c/../b",
            "https://api.test/%61/b",
        ] {
            assert_eq!(normalized_htu(htu), expected, "{htu}");
        }
        assert_eq!(uri("https", "api.test", "/a/b?x"), expected);
        assert_eq!(uri("HTTPS", "API.TEST:443", "/a/b"), expected);
        assert_eq!(
            normalized_htu("http://api.test:80"),
            Some("http://api.test/".to_owned())
        );
        assert_eq!(
            normalized_htu("http://api.test:8080/x"),
            Some("http://api.test:8080/x".to_owned())
        );
        assert_eq!(
            normalized_htu("https://[::1]:8443/p%2fq"),
            Some("https://[::1]:8443/p%2Fq".to_owned())
        );
        assert_eq!(
            normalized_htu("http://api.test/a/b/.."),
            Some("http://api.test/a/".to_owned())
        );
        assert_eq!(
            normalized_htu("http://api.test/.."),
            Some("http://api.test/".to_owned())
        );
    }

    #[test]
    fn what_differs_stays_different() {
        let base = normalized_htu("https://api.test/a");
        for other in [
            "http://api.test/a",
            "https://api.test:8443/a",
            "https://other.test/a",
            "https://api.test/A",
            "https://api.test/a/",
            "https://api.test/b",
        ] {
            assert_ne!(normalized_htu(other), base, "{other}");
        }
    }

    #[test]
    fn what_is_not_an_http_uri_matches_nothing() {
        for htu in [
            "api.test/a",
            "ftp://api.test/a",
            "https:///a",
            "https://user@api.test/a",
            "https://api.test:x/a",
            "https://api.test:123456/a",
            "https://api test/a",
            "https://[::1/a",
        ] {
            assert_eq!(normalized_htu(htu), None, "{htu}");
        }
        assert_eq!(uri("https", "api.test", "*"), None);
        assert_eq!(uri("https", "", "/"), None);
    }
}
