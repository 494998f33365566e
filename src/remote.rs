//! Remote key sets: where they live (`remote_jwks`), OpenID discovery, and what a fetch returns.
//! Pure: the host adapter performs the HTTP calls and hands the results back.

use std::fmt;

use serde_json::Value;

use crate::json;
use crate::limits::Limits;

/// An absolute `http(s)://host[:port]/path?query` URI, split the way `dispatch_http_call` needs.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct HttpUri {
    /// `host[:port]`, the `:authority` of the request.
    pub authority: String,
    /// `/path?query`, the `:path` of the request.
    pub path: String,
    /// The whole URI as written.
    pub uri: String,
}

/// A provider's `remote_jwks`, compiled.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RemoteJwks {
    /// The key set's URI; `None`: discover it from `<issuer>/.well-known/openid-configuration`.
    pub jwks_uri: Option<HttpUri>,
    /// The discovery document's URI, when discovering.
    pub discovery_uri: Option<HttpUri>,
    /// The Envoy cluster the fetches go through.
    pub cluster: String,
    /// Per-request timeout of a fetch, in milliseconds.
    pub timeout_ms: u64,
    /// How long fetched keys are fresh, in seconds (default 300, as ESP).
    pub cache_duration_seconds: u64,
    /// First delay after a failed fetch, in milliseconds; doubles up to `backoff_max_ms`.
    pub backoff_base_ms: u64,
    /// Longest delay between attempts after failures, in milliseconds.
    pub backoff_max_ms: u64,
    /// At most one refetch per this many seconds because a token's `kid` was unknown.
    pub kid_refetch_interval_seconds: u64,
    /// How long past `cache_duration` the last good keys are used while refreshes fail.
    pub max_stale_seconds: u64,
}

impl RemoteJwks {
    /// Defaults: 5 s timeout (Istio's), 300 s cache, 1 s to 60 s backoff, one kid refetch per
    /// 30 s, keys served stale for up to 24 h while the issuer is unreachable.
    pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
    /// See [`Self::DEFAULT_TIMEOUT_MS`].
    pub const DEFAULT_CACHE_DURATION_SECONDS: u64 = 300;
    /// See [`Self::DEFAULT_TIMEOUT_MS`].
    pub const DEFAULT_BACKOFF_BASE_MS: u64 = 1_000;
    /// See [`Self::DEFAULT_TIMEOUT_MS`].
    pub const DEFAULT_BACKOFF_MAX_MS: u64 = 60_000;
    /// See [`Self::DEFAULT_TIMEOUT_MS`].
    pub const DEFAULT_KID_REFETCH_INTERVAL_SECONDS: u64 = 30;
    /// See [`Self::DEFAULT_TIMEOUT_MS`].
    pub const DEFAULT_MAX_STALE_SECONDS: u64 = 24 * 3600;
}

/// Why a fetch did not produce keys.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum FetchError {
    /// The body is larger than the limit.
    BodyTooLarge(usize),
    /// The discovery document has no usable `jwks_uri`.
    BadDiscoveryDocument(String),
    /// The key set document could not be used.
    BadKeySet(String),
    /// The cluster is unknown, or Envoy refused the call (`BadArgument`).
    Dispatch(String),
    /// Not a 200 response.
    Status(u32),
    /// Connection reset, timeout or overflow: no response at all.
    NoResponse,
}

impl HttpUri {
    /// Parses an absolute http(s) URI. The fragment is dropped; an empty path becomes `/`.
    pub fn parse(uri: &str) -> Result<Self, String> {
        let rest = uri
            .strip_prefix("https://")
            .or_else(|| uri.strip_prefix("http://"))
            .ok_or_else(|| format!("{uri:?} is not an absolute http or https URI"))?;
        let rest = rest.split('#').next().unwrap_or(rest);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(index) => (
                rest.get(..index).unwrap_or(rest),
                rest.get(index..).unwrap_or("/"),
            ),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        let authority_ok = !authority.is_empty()
            && !authority.contains('@')
            && authority
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
        if !authority_ok {
            return Err(format!("{uri:?} has no valid host"));
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{uri:?} has characters that must be percent-encoded"
            ));
        }
        Ok(Self {
            authority: authority.to_owned(),
            path,
            uri: uri.to_owned(),
        })
    }
}

impl HttpUri {
    /// Whether the URI is `https`.
    pub fn is_https(&self) -> bool {
        self.uri.starts_with("https://")
    }

    /// The host (without IPv6 brackets) and the port, the scheme's default when not given.
    pub fn host_and_port(&self) -> (String, u16) {
        let default_port = if self.is_https() { 443 } else { 80 };
        let authority = self.authority.as_str();
        let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
            match rest.split_once(']') {
                Some((host, tail)) => (host, tail.strip_prefix(':')),
                None => (rest, None),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = port.and_then(|p| p.parse().ok()).unwrap_or(default_port);
        (host.to_owned(), port)
    }
}

/// `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
pub fn discovery_uri(issuer: &str) -> Result<HttpUri, String> {
    HttpUri::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
}

/// A discovery document's `jwks_uri`, and its `issuer` (which OpenID Connect Discovery §4.3
/// says must equal the issuer it was fetched for).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Discovery {
    /// Where the keys are.
    pub jwks_uri: HttpUri,
    /// The `issuer` the document states, if any.
    pub issuer: Option<String>,
}

/// Parses a discovery document.
pub fn parse_discovery(body: &[u8], limits: &Limits) -> Result<Discovery, FetchError> {
    let bad = |why: String| FetchError::BadDiscoveryDocument(why);
    let document = json::parse(body, limits.max_json_depth).map_err(|e| bad(e.to_string()))?;
    let jwks_uri = document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no jwks_uri string".to_owned()))?;
    let issuer = document
        .get("issuer")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Discovery {
        jwks_uri: HttpUri::parse(jwks_uri).map_err(bad)?,
        issuer,
    })
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodyTooLarge(size) => {
                write!(f, "response body of {size} bytes is over the limit")
            }
            Self::BadDiscoveryDocument(why) => write!(f, "bad OpenID discovery document: {why}"),
            Self::BadKeySet(why) => write!(f, "unusable key set: {why}"),
            Self::Dispatch(why) => write!(f, "cannot send the request: {why}"),
            Self::Status(status) => write!(f, "HTTP status {status}"),
            Self::NoResponse => f.write_str("no response (connection failure, reset or timeout)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let uri = HttpUri::parse("https://idp.test:8443/keys?x=1#frag").unwrap();
        assert_eq!(
            (uri.authority.as_str(), uri.path.as_str()),
            ("idp.test:8443", "/keys?x=1")
        );
        assert_eq!(HttpUri::parse("http://idp.test").unwrap().path, "/");
        assert_eq!(HttpUri::parse("http://idp.test?a").unwrap().path, "/?a");
        assert_eq!(
            HttpUri::parse("http://[::1]:80/k").unwrap().authority,
            "[::1]:80"
        );
        for bad in [
            "ftp://x/",
            "idp.test/keys",
            "https:///keys",
            "https://user@host/",
            "https://h/a b",
        ] {
            assert!(HttpUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn discovery() {
        assert_eq!(
            discovery_uri("https://accounts.test/tenant/").unwrap().path,
            "/tenant/.well-known/openid-configuration"
        );
        let limits = Limits::DEFAULT;
        let uri = parse_discovery(
            br#"{"issuer":"x","jwks_uri":"https://keys.test/jwks"}"#,
            &limits,
        )
        .unwrap();
        assert_eq!(uri.jwks_uri.authority, "keys.test");
        assert_eq!(uri.issuer.as_deref(), Some("x"));
        assert!(parse_discovery(br#"{"issuer":"x"}"#, &limits).is_err());
        assert!(parse_discovery(br#"{"jwks_uri":"file:///etc/passwd"}"#, &limits).is_err());
        assert!(parse_discovery(b"<html>", &limits).is_err());
    }
}
