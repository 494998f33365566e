//! Remote key sets: where they live (`remote_jwks`), OpenID discovery, and what a fetch returns.
//! Pure: the host adapter performs the HTTP calls and hands the results back.

use std::fmt;

use std::time::Duration;

use serde_json::Value;

use crate::json;
use crate::keys::KeySetFormat;
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

/// A provider's `remote_jwks`, compiled. Durations keep jwt_authn's millisecond precision.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RemoteJwks {
    /// The key set's URI; `None`: discover it from `<issuer>/.well-known/openid-configuration`.
    pub jwks_uri: Option<HttpUri>,
    /// The discovery document's URI, when discovering.
    pub discovery_uri: Option<HttpUri>,
    /// The Envoy cluster the fetches go through.
    pub cluster: String,
    /// What the key set document must be (jwt-gate's `format`).
    pub format: KeySetFormat,
    /// Per-request timeout of a fetch.
    pub timeout: Duration,
    /// How long fetched keys are fresh (default 300 s, as ESP).
    pub cache_duration: Duration,
    /// First delay after a failed fetch; doubles up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest delay between attempts after failures.
    pub backoff_max: Duration,
    /// At most one refetch per this long because a token's `kid` was unknown.
    pub kid_refetch_interval: Duration,
    /// How long past `cache_duration` the last good keys are used while refreshes fail.
    pub max_stale: Duration,
}

impl RemoteJwks {
    /// Defaults: 5 s timeout (Istio's), 300 s cache, 1 s to 60 s backoff, one kid refetch per
    /// 30 s, keys served stale for up to 24 h while the issuer is unreachable.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The longest fetch timeout: a held request waits a bounded multiple of it.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(300);
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
    /// See [`Self::DEFAULT_TIMEOUT`].
    pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

    /// The longest a fetch can take: the timeout, twice when it discovers the key set first.
    pub fn longest_fetch(&self) -> Duration {
        let requests = if self.jwks_uri.is_none() { 2 } else { 1 };
        self.timeout.saturating_mul(requests)
    }
}

/// Why a fetch did not produce keys.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum FetchError {
    /// The body is larger than the limit.
    BodyTooLarge(usize),
    /// The discovery document has no usable `jwks_uri`.
    BadDiscoveryDocument(String),
    /// The discovery document names another issuer than the configured one (OpenID Connect
    /// Discovery §4.3: it must not be used).
    DiscoveryIssuerMismatch {
        /// The provider's `issuer`.
        expected: String,
        /// The document's `issuer`, if it has one.
        found: Option<String>,
    },
    /// The discovered `jwks_uri` is not on the discovery document's origin, which is all the
    /// configured cluster is known to reach.
    DiscoveredKeysElsewhere {
        /// The discovered `jwks_uri`.
        jwks_uri: String,
        /// The discovery document's scheme, host and port.
        origin: String,
    },
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
        let (host, port) = split_authority(authority)
            .filter(|_| authority_ok)
            .ok_or_else(|| format!("{uri:?} has no valid host"))?;
        if host.is_empty() {
            return Err(format!("{uri:?} has no valid host"));
        }
        // A port that is not 1 to 65535 must not read as the scheme's default: the discovered
        // keys' origin check compares ports.
        if let Some(port) = port {
            if parse_port(port).is_none() {
                return Err(format!(
                    "{uri:?} has port {port:?}, where a port must be a number from 1 to 65535"
                ));
            }
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

    /// The host (without IPv6 brackets) and the port, the scheme's default when not given
    /// ([`Self::parse`] refused any other).
    pub fn host_and_port(&self) -> (String, u16) {
        let default_port = if self.is_https() { 443 } else { 80 };
        let authority = self.authority.as_str();
        let (host, port) = split_authority(authority).unwrap_or((authority, None));
        let port = port.and_then(parse_port).unwrap_or(default_port);
        (host.to_owned(), port)
    }

    /// `scheme://host:port`, the host lower-cased and the port explicit (RFC 6454 §4).
    pub fn origin(&self) -> String {
        let scheme = if self.is_https() { "https" } else { "http" };
        let (host, port) = self.host_and_port();
        let host = host.to_ascii_lowercase();
        if host.contains(':') {
            format!("{scheme}://[{host}]:{port}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    }
}

/// `host[:port]` or `[v6]:port` split into the host (without brackets) and the port text, if
/// any; `None` for a shape that is neither (a `:` in a host without brackets, text after `]`).
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        match tail {
            "" => Some((host, None)),
            tail => Some((host, Some(tail.strip_prefix(':')?))),
        }
    } else if authority.contains(['[', ']']) {
        None
    } else {
        match authority.split_once(':') {
            Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
            Some(_) => None,
            None => Some((authority, None)),
        }
    }
}

/// A port as RFC 3986 §3.2.3 writes it (digits only), within 1 to 65535.
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|&port| port != 0)
}

/// Whether a fetch's response is worth reading: a 200 (`status` is `None` when it has none or
/// it does not parse) whose body is at most [`Limits::max_key_set_bytes`] long. A host calls this
/// before it copies the body.
pub fn check_response(
    status: Option<u32>,
    body_size: usize,
    limits: &Limits,
) -> Result<(), FetchError> {
    match status {
        Some(200) if body_size > limits.max_key_set_bytes => {
            Err(FetchError::BodyTooLarge(body_size))
        }
        Some(200) => Ok(()),
        other => Err(FetchError::Status(other.unwrap_or(0))),
    }
}

/// The `accept` header of every key fetch: the media types a key set or discovery document
/// comes as.
pub const FETCH_ACCEPT: &str = "application/json, application/jwk-set+json, */*";

/// The `user-agent` header of every key fetch.
pub const FETCH_USER_AGENT: &str = "jwt-gate";

/// `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
pub fn discovery_uri(issuer: &str) -> Result<HttpUri, String> {
    HttpUri::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
}

/// A discovery document's `jwks_uri`, and its `issuer`.
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

impl Discovery {
    /// The issuer the document states, checked: OpenID Connect Discovery §4.3 says it must be
    /// identical to the issuer whose `/.well-known/openid-configuration` was fetched, or the
    /// document must not be used (else tenant B's discovery document, served where tenant A's
    /// should be, would make B's keys verify A's tokens).
    pub fn issuer_checked(self, issuer: &str) -> Result<Self, FetchError> {
        if self.issuer.as_deref() == Some(issuer) {
            return Ok(self);
        }
        Err(FetchError::DiscoveryIssuerMismatch {
            expected: issuer.to_owned(),
            found: self.issuer,
        })
    }

    /// Where to fetch the keys: the `jwks_uri` of a document fetched from `discovery_uri` for
    /// `issuer`, if the issuer is the right one and the keys are on the document's own origin
    /// (scheme, host and port). Every fetch goes through the one configured cluster, which
    /// reaches the issuer's host: a `jwks_uri` elsewhere would either fail there or, through a
    /// cluster that routes by host (a dynamic forward proxy), fetch keys from wherever the
    /// document says.
    pub fn keys_uri(self, issuer: &str, discovery_uri: &HttpUri) -> Result<HttpUri, FetchError> {
        let discovery = self.issuer_checked(issuer)?;
        if discovery.jwks_uri.origin() != discovery_uri.origin() {
            return Err(FetchError::DiscoveredKeysElsewhere {
                jwks_uri: discovery.jwks_uri.uri,
                origin: discovery_uri.origin(),
            });
        }
        Ok(discovery.jwks_uri)
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodyTooLarge(size) => {
                write!(f, "response body of {size} bytes is over the limit")
            }
            Self::BadDiscoveryDocument(why) => write!(f, "bad OpenID discovery document: {why}"),
            Self::DiscoveryIssuerMismatch { expected, found } => match found {
                Some(found) => write!(
                    f,
                    "the OpenID discovery document's issuer {found:?} is not the configured issuer {expected:?}: the document is not used (OpenID Connect Discovery 4.3)"
                ),
                None => write!(
                    f,
                    "the OpenID discovery document has no issuer, where it must say {expected:?}: the document is not used (OpenID Connect Discovery 4.3)"
                ),
            },
            Self::DiscoveredKeysElsewhere { jwks_uri, origin } => write!(
                f,
                "the discovered jwks_uri {jwks_uri} is not on {origin}, where the discovery document is: give it as http_uri.uri, with a cluster that reaches its host"
            ),
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
    fn ports_that_do_not_parse_are_refused_not_defaulted() {
        for (uri, port) in [
            ("https://idp.test:8443/k", 8443),
            ("https://idp.test:65535/k", 65535),
            ("http://idp.test:1/k", 1),
            ("https://idp.test/k", 443),
            ("http://[::1]/k", 80),
            ("http://[::1]:8080/k", 8080),
        ] {
            let parsed = HttpUri::parse(uri).unwrap();
            assert_eq!(parsed.host_and_port().1, port, "{uri}");
        }
        // Each of these used to read as port 443: `https://idp.test:abc/keys` then passed the
        // discovered keys' origin check against `https://idp.test/...`.
        for bad in [
            "https://idp.test:abc/keys",
            "https://idp.test:/keys",
            "https://idp.test:0/keys",
            "https://idp.test:65536/keys",
            "https://idp.test:99999999999999999999/keys",
            "https://idp.test:+443/keys",
            "https://idp.test:443:443/keys",
            "https://idp.test: 443/keys",
            "https://::1/keys",
            "https://[::1]x/keys",
            "https://[::1]:/keys",
            "https://[::1]:port/keys",
            "https://[::1/keys",
            "https://[]/keys",
            "https://idp]test/keys",
            "https://:443/keys",
        ] {
            assert!(HttpUri::parse(bad).is_err(), "{bad}");
        }
        let error = HttpUri::parse("https://idp.test:abc/keys").unwrap_err();
        assert!(
            error.contains("a port must be a number from 1 to 65535"),
            "{error}"
        );
    }

    #[test]
    fn a_configured_uri_with_a_bad_port_is_refused_at_load() {
        let load = |http_uri: &str, issuer: &str| {
            let config = format!(
                r#"{{"providers": {{"p": {{"issuer": "{issuer}",
                    "remote_jwks": {{"http_uri": {{{http_uri}"cluster": "idp"}}}}}}}}}}"#
            );
            crate::Config::from_json(config.as_bytes()).map(|_| ())
        };
        assert!(load(
            r#""uri": "https://idp.test:8443/keys", "#,
            "https://idp.test"
        )
        .is_ok());
        let error = load(
            r#""uri": "https://idp.test:abc/keys", "#,
            "https://idp.test",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("providers.p.remote_jwks.http_uri.uri: ")
                && error.contains("port \"abc\""),
            "{error}"
        );
        // Discovering from an issuer whose port does not parse.
        let error = load("", "https://idp.test:99999").unwrap_err().to_string();
        assert!(
            error.contains("a port must be a number from 1 to 65535"),
            "{error}"
        );
    }

    #[test]
    fn a_discovered_jwks_uri_with_a_bad_port_is_a_bad_document() {
        let issuer = "https://idp.test";
        let document = format!(r#"{{"issuer":"{issuer}","jwks_uri":"https://idp.test:abc/keys"}}"#);
        let refused = parse_discovery(document.as_bytes(), &Limits::DEFAULT).unwrap_err();
        assert!(
            matches!(&refused, FetchError::BadDiscoveryDocument(why) if why.contains("port")),
            "{refused}"
        );
    }

    #[test]
    fn only_a_200_within_the_limit_is_read() {
        let limits = Limits::DEFAULT;
        let max = limits.max_key_set_bytes;
        assert_eq!(check_response(Some(200), max, &limits), Ok(()));
        assert_eq!(
            check_response(Some(200), max + 1, &limits),
            Err(FetchError::BodyTooLarge(max + 1))
        );
        assert_eq!(
            check_response(Some(503), 10, &limits),
            Err(FetchError::Status(503))
        );
        assert_eq!(check_response(None, 0, &limits), Err(FetchError::Status(0)));
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

    #[test]
    fn discovered_keys_must_be_the_issuers() {
        let issuer = "https://idp.test/tenant-a";
        let from = discovery_uri(issuer).unwrap();
        let keys_uri = |document: &str| {
            parse_discovery(document.as_bytes(), &Limits::DEFAULT)
                .unwrap()
                .keys_uri(issuer, &from)
        };
        let good = keys_uri(
            r#"{"issuer":"https://idp.test/tenant-a","jwks_uri":"https://IDP.test:443/keys"}"#,
        );
        assert_eq!(good.unwrap().path, "/keys");
        // Tenant B's document where tenant A's should be; a trailing slash; no issuer at all.
        for (found, document) in [
            (
                Some("https://idp.test/tenant-b"),
                r#"{"issuer":"https://idp.test/tenant-b","jwks_uri":"https://idp.test/b/keys"}"#,
            ),
            (
                Some("https://idp.test/tenant-a/"),
                r#"{"issuer":"https://idp.test/tenant-a/","jwks_uri":"https://idp.test/keys"}"#,
            ),
            (None, r#"{"jwks_uri":"https://idp.test/keys"}"#),
        ] {
            let expected = FetchError::DiscoveryIssuerMismatch {
                expected: issuer.to_owned(),
                found: found.map(str::to_owned),
            };
            assert_eq!(keys_uri(document), Err(expected), "{document}");
        }
        // Keys on another host, port or scheme than the discovery document.
        for jwks_uri in [
            "https://evil.test/keys",
            "https://idp.test:8443/keys",
            "http://idp.test/keys",
        ] {
            let document = format!(r#"{{"issuer":"{issuer}","jwks_uri":"{jwks_uri}"}}"#);
            let refused = keys_uri(&document).unwrap_err();
            assert!(
                matches!(refused, FetchError::DiscoveredKeysElsewhere { .. }),
                "{jwks_uri}"
            );
            assert!(
                refused.to_string().contains("https://idp.test:443"),
                "{refused}"
            );
        }
        assert_eq!(
            HttpUri::parse("http://[::1]/").unwrap().origin(),
            "http://[::1]:80"
        );
    }
}
