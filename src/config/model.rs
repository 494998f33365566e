//! The jwt_authn-form document as written, before any check: Envoy's `JwtAuthentication` and
//! the messages it holds (same names, same fields), plus jwt-gate's extension fields. The JSON
//! reader (`config::read`) and the translators (`crate::translate`) produce it; one compile
//! step checks it and builds [`Config`](super::Config); `jwt-gate from-openapi` and `from-oci`
//! print it. As in proto3, an unset string is `""`, an unset message `None`, and a `oneof` an
//! enum.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// jwt_authn's `JwtAuthentication`, and jwt-gate's top-level extensions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JwtAuthentication {
    /// By name; requirements refer to them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, JwtProvider>,
    /// jwt-gate's: API key checks, by name (`api_key_name`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub api_keys: BTreeMap<String, ApiKey>,
    /// Route rules; the first that matches decides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RequirementRule>,
    /// Named requirements for `requirement_name` (with jwt-gate's `when`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub requirement_map: BTreeMap<String, NamedRequirement>,
    /// Let CORS preflight requests through unchecked.
    #[serde(skip_serializing_if = "is_false")]
    pub bypass_cors_preflight: bool,
    /// Deny with the status code only.
    #[serde(skip_serializing_if = "is_false")]
    pub strip_failure_response: bool,
    /// Extra name segment for the counters.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stat_prefix: String,
    /// jwt-gate's: how failures are written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_response_format: Option<FailureFormat>,
    /// jwt-gate's: copy `Authorization` to `X-Forwarded-Authorization`.
    #[serde(skip_serializing_if = "is_false")]
    pub x_forwarded_authorization: bool,
    /// jwt-gate's: take `X-HTTP-Method-Override` as the method.
    #[serde(skip_serializing_if = "is_false")]
    pub http_method_override: bool,
    /// jwt-gate's: who checks RS*/ES* signatures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature_verifier: Option<VerifierChoice>,
    /// jwt-gate's: requests come through a proxy that sets `X-Forwarded-Proto` (the scheme a
    /// DPoP proof's `htu` must name).
    #[serde(skip_serializing_if = "is_false")]
    pub behind_trusted_proxy: bool,
    /// jwt-gate's: most DPoP proofs the replay cache holds (`None`: the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_replay_cache_size: Option<u64>,
}

/// jwt_authn's `JwtProvider`, and jwt-gate's extensions (`clock_skew`, `claim_lookup`,
/// `verify_claims`, `forward_payload_header_format`, `dpop`, `certificate_bound`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JwtProvider {
    /// `""`: any issuer.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<StringMatcher>,
    #[serde(skip_serializing_if = "is_false")]
    pub require_expiration: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub max_lifetime: Option<Duration>,
    /// 0: jwt_authn's default, 60 seconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub clock_skew_seconds: u64,
    /// jwt-gate's: a Duration that may be `0s` and mean it; replaces `clock_skew_seconds`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub clock_skew: Option<Duration>,
    /// jwt-gate's: how claim names find their claim (default: dotted paths).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_lookup: Option<ClaimLookup>,
    /// jwt-gate's: claims that must have one of some values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify_claims: Vec<VerifyClaim>,
    /// `local_jwks` or `remote_jwks`.
    #[serde(flatten)]
    pub jwks_source: Option<JwksSource>,
    #[serde(skip_serializing_if = "is_false")]
    pub forward: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    /// `""`: not set.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub forward_payload_header: String,
    #[serde(skip_serializing_if = "is_false")]
    pub pad_forward_payload_header: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_payload_header_format: Option<PayloadFormat>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claim_to_headers: Vec<JwtClaimToHeader>,
    /// Accepted; Envoy re-evaluates the route anyway when a wasm filter changes headers.
    #[serde(skip_serializing_if = "is_false")]
    pub clear_route_cache: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_cache_config: Option<JwtCacheConfig>,
    /// jwt-gate's: DPoP-bound tokens (RFC 9449).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop: Option<Dpop>,
    /// jwt-gate's: tokens must be bound to the TLS client certificate (RFC 8705).
    #[serde(skip_serializing_if = "is_false")]
    pub certificate_bound: bool,
}

/// jwt-gate's provider `dpop`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Dpop {
    /// Only DPoP-bound tokens with a proof (default: DPoP allowed, bearer tokens too).
    #[serde(skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub max_proof_age: Option<Duration>,
    /// `None`: every asymmetric algorithm jwt-gate verifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
}

/// `jwks_source_specifier`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JwksSource {
    LocalJwks(DataSource),
    RemoteJwks(RemoteJwks),
}

/// Envoy's `DataSource`, as jwt-gate reads it (no files, no environment).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    InlineString(String),
    /// Base64, as proto3 JSON writes bytes.
    InlineBytes(String),
}

/// jwt_authn's `RemoteJwks`, and jwt-gate's extensions (`kid_refetch_interval`, `max_stale`,
/// `format`; `http_uri.uri` may be empty to use OpenID discovery).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RemoteJwks {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_uri: Option<HttpUri>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub cache_duration: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub async_fetch: Option<JwksAsyncFetch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub kid_refetch_interval: Option<Duration>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub max_stale: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<KeySetFormat>,
}

/// Envoy's `HttpUri`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HttpUri {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub timeout: Option<Duration>,
}

/// jwt_authn's `JwksAsyncFetch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JwksAsyncFetch {
    /// `None`: not given (jwt_authn's default, false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_listener: Option<bool>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub failed_refetch_duration: Option<Duration>,
}

/// Envoy's `RetryPolicy`: only the back-off is used.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RetryPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub retry_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_back_off: Option<BackoffStrategy>,
}

/// Envoy's `BackoffStrategy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BackoffStrategy {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub base_interval: Option<Duration>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_duration"
    )]
    pub max_interval: Option<Duration>,
}

/// jwt-gate's `remote_jwks.format`: how a fetched document is read.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySetFormat {
    /// A JWK set or an x509 certificate map.
    Jwks,
    Pem,
}

/// jwt_authn's `JwtHeader`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JwtHeader {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value_prefix: String,
}

/// jwt_authn's `JwtClaimToHeader`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JwtClaimToHeader {
    pub header_name: String,
    pub claim_name: String,
}

/// jwt_authn's `JwtCacheConfig` (0: the default).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JwtCacheConfig {
    #[serde(skip_serializing_if = "is_zero")]
    pub jwt_cache_size: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub jwt_max_token_size: u64,
}

/// jwt-gate's `verify_claims` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VerifyClaim {
    pub key: String,
    pub values: Vec<String>,
    /// `true` unless given as false.
    pub is_required: bool,
}

/// jwt-gate's `claim_lookup`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimLookup {
    /// `a.b` is claim `b` inside claim `a` (or the claim named `a.b`).
    Path,
    /// `a.b` is only ever the top-level claim named `a.b` (OCI API Gateway).
    Literal,
}

/// `failure_response_format`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureFormat {
    /// jwt_authn's: the message as `text/plain`.
    #[default]
    Text,
    /// ESPv2's and API Gateway's: `{"code":401,"message":"Jwt is missing"}`.
    Json,
}

/// `forward_payload_header_format`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub enum PayloadFormat {
    /// jwt_authn's and ESPv2's: the payload segment as sent.
    #[default]
    #[serde(rename = "payload")]
    Segment,
    /// ESP v1's user info: padded base64url of `{"claims", "issuer", "id", "email", "audiences"}`.
    #[serde(rename = "esp_v1")]
    EspV1,
}

/// `signature_verifier`: `"auto"` (default) uses the host's `verify_signature` (Envoy's
/// BoringSSL) for RS*/ES* when it passes a known-answer self-test at start, `ring` otherwise;
/// `"ring"` always uses `ring`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifierChoice {
    /// Host when it passes the self-test.
    #[default]
    Auto,
    /// Always ring.
    Ring,
}

/// jwt-gate's `api_keys` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ApiKey {
    /// `{"from_params", "from_headers", "sha256"}`.
    Digests(ApiKeyDigests),
    /// `"unchecked"`: requirements naming it count as met.
    Unchecked(Unchecked),
}

/// The string `"unchecked"`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Unchecked;

impl Serialize for Unchecked {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("unchecked")
    }
}

/// Where a key is read (no place: ESPv2's) and the digests of the keys accepted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ApiKeyDigests {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<ApiKeyHeader>,
    /// Hex SHA-256 of each accepted key.
    pub sha256: Vec<String>,
}

/// An API key header.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ApiKeyHeader {
    pub name: String,
}

/// jwt_authn's `RequirementRule`, and jwt-gate's `allowed_scopes`, `deny` and `when`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequirementRule {
    #[serde(rename = "match")]
    pub route: RouteMatch,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<JwtRequirement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirement_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<Deny>,
    /// jwt-gate's claim conditions (Istio's `when`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// A `requirement_map` entry: a `JwtRequirement`, and jwt-gate's `when` beside its members.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedRequirement {
    #[serde(flatten)]
    pub requirement: JwtRequirement,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// jwt-gate's `when` entry: Istio's AuthorizationPolicy `Condition` on `request.auth.*`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Condition {
    pub key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

/// jwt-gate's `deny`: answer with this status and message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Deny {
    pub status: u16,
    pub message: String,
}

/// jwt_authn's `JwtRequirement` (a `oneof`; no member at all is no check), and jwt-gate's
/// `api_key_name`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtRequirement {
    ProviderName(String),
    ProviderAndAudiences(ProviderWithAudiences),
    RequiresAny(RequirementList),
    RequiresAll(RequirementList),
    AllowMissingOrFailed(Empty),
    AllowMissing(Empty),
    ApiKeyName(String),
    /// `{}`.
    #[serde(untagged)]
    NoCheck(Empty),
}

/// jwt_authn's `ProviderWithAudiences`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProviderWithAudiences {
    pub provider_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// jwt_authn's `JwtRequirementOrList` and `JwtRequirementAndList`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RequirementList {
    pub requirements: Vec<JwtRequirement>,
}

/// `google.protobuf.Empty`: `{}`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Empty {}

/// Envoy's `RouteMatch` as jwt_authn reads it, and jwt-gate's `path_template`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteMatch {
    #[serde(flatten)]
    pub path: PathSpecifier,
    /// `None`: true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderMatcher>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_parameters: Vec<QueryParameterMatcher>,
}

/// `path_specifier`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathSpecifier {
    Prefix(String),
    Path(String),
    PathSeparatedPrefix(String),
    SafeRegex(RegexMatcher),
    PathTemplate(String),
}

impl PathSpecifier {
    /// The member names, in the order error messages list them.
    pub const NAMES: [&'static str; 5] = [
        "prefix",
        "path",
        "path_separated_prefix",
        "safe_regex",
        "path_template",
    ];
}

/// Envoy's `HeaderMatcher`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HeaderMatcher {
    pub name: String,
    /// `None`: the header must be present.
    #[serde(flatten)]
    pub rule: Option<HeaderMatchSpecifier>,
    #[serde(skip_serializing_if = "is_false")]
    pub invert_match: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub treat_missing_header_as_empty: bool,
}

/// `header_match_specifier`, the deprecated forms included.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderMatchSpecifier {
    PresentMatch(bool),
    RangeMatch(Int64Range),
    StringMatch(StringMatcher),
    ExactMatch(String),
    PrefixMatch(String),
    SuffixMatch(String),
    ContainsMatch(String),
    SafeRegexMatch(RegexMatcher),
}

/// Envoy's `Int64Range`: `start <= value < end`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Int64Range {
    pub start: i64,
    pub end: i64,
}

/// Envoy's `QueryParameterMatcher`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueryParameterMatcher {
    pub name: String,
    /// `None`: the parameter must be present.
    #[serde(flatten)]
    pub rule: Option<QueryParameterMatchSpecifier>,
}

/// `query_parameter_match_specifier`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryParameterMatchSpecifier {
    PresentMatch(bool),
    StringMatch(StringMatcher),
}

/// Envoy's `StringMatcher`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StringMatcher {
    #[serde(flatten)]
    pub pattern: StringPattern,
    #[serde(skip_serializing_if = "is_false")]
    pub ignore_case: bool,
}

/// `match_pattern`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StringPattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    SafeRegex(RegexMatcher),
}

impl StringPattern {
    /// The member names, in the order error messages list them.
    pub const NAMES: [&'static str; 5] = ["exact", "prefix", "suffix", "contains", "safe_regex"];
}

/// Envoy's `RegexMatcher` (RE2 syntax; `google_re2` is accepted and says nothing).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RegexMatcher {
    pub regex: String,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A protobuf Duration in its JSON form: `"300s"`, `"0.5s"`.
fn optional_duration<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let duration = duration.unwrap_or_default();
    let nanos = duration.subsec_nanos();
    let text = if nanos == 0 {
        format!("{}s", duration.as_secs())
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}s", duration.as_secs(), fraction.trim_end_matches('0'))
    };
    serializer.serialize_str(&text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn serializes_as_jwt_authn_json() {
        let rule = RequirementRule {
            route: RouteMatch {
                path: PathSpecifier::Prefix("/".to_owned()),
                case_sensitive: None,
                headers: vec![HeaderMatcher {
                    name: ":method".to_owned(),
                    rule: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
                        pattern: StringPattern::Exact("GET".to_owned()),
                        ignore_case: false,
                    })),
                    ..HeaderMatcher::default()
                }],
                query_parameters: Vec::new(),
            },
            requires: Some(JwtRequirement::RequiresAny(RequirementList {
                requirements: vec![
                    JwtRequirement::ProviderName("p".to_owned()),
                    JwtRequirement::AllowMissing(Empty {}),
                    JwtRequirement::NoCheck(Empty {}),
                ],
            })),
            requirement_name: None,
            allowed_scopes: Vec::new(),
            deny: None,
            when: Vec::new(),
        };
        assert_eq!(
            serde_json::to_value(&rule).unwrap(),
            json!({"match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
                   "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"allow_missing": {}}, {}]}}})
        );
        let remote = RemoteJwks {
            cache_duration: Some(Duration::from_millis(300_500)),
            max_stale: Some(Duration::from_nanos(1)),
            ..RemoteJwks::default()
        };
        assert_eq!(
            serde_json::to_value(&remote).unwrap(),
            json!({"cache_duration": "300.5s", "max_stale": "0.000000001s"})
        );
        let keys = BTreeMap::from([
            ("a".to_owned(), ApiKey::Unchecked(Unchecked)),
            (
                "b".to_owned(),
                ApiKey::Digests(ApiKeyDigests {
                    sha256: vec!["00".to_owned()],
                    ..ApiKeyDigests::default()
                }),
            ),
        ]);
        assert_eq!(
            serde_json::to_value(&keys).unwrap(),
            json!({"a": "unchecked", "b": {"sha256": ["00"]}})
        );
        let when = vec![Condition {
            key: "request.auth.claims[groups]".to_owned(),
            values: vec!["admins".to_owned()],
            not_values: Vec::new(),
        }];
        let named = BTreeMap::from([
            (
                "admins".to_owned(),
                NamedRequirement {
                    requirement: JwtRequirement::ProviderName("p".to_owned()),
                    when: when.clone(),
                },
            ),
            (
                "open".to_owned(),
                NamedRequirement {
                    requirement: JwtRequirement::NoCheck(Empty {}),
                    when: Vec::new(),
                },
            ),
        ]);
        assert_eq!(
            serde_json::to_value(&named).unwrap(),
            json!({"admins": {"provider_name": "p", "when": [{"key": "request.auth.claims[groups]", "values": ["admins"]}]},
                   "open": {}})
        );
    }
}
