//! The plugin configuration: the JSON form of Envoy's `JwtAuthentication` (jwt_authn), parsed and
//! compiled once, at configure time, into immutable values the request path only reads.
//!
//! Every error names the field at fault: `providers.auth0.audiences: expected a list of strings`.

pub(crate) mod walk;

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use std::sync::Arc;
use std::time::Duration;

use crate::json;
use crate::keys::remote::{discovery_uri, HttpUri, RemoteJwks};
use crate::keys::{KeySet, KeySetFormat};
use crate::limits::Limits;
use crate::policy::api_key::{Accepted, ApiKeyCheck};
use crate::policy::claims::{normalize_audience, ClaimCheck, ClaimRules};
use crate::policy::requirement::{Names, Requirement};
use crate::token::claims::ClaimLookup;
use crate::token::extractor::Location;

use crate::policy::route::{RouteMatch, StringMatcher};
use walk::Field;

/// The header `x_forwarded_authorization` writes (ESPv2's backend-auth header move).
pub const X_FORWARDED_AUTHORIZATION: &str = "x-forwarded-authorization";

/// The header `http_method_override` takes the method from.
pub const X_HTTP_METHOD_OVERRIDE: &str = "x-http-method-override";

/// A compiled configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Providers, in name order; requirements refer to them by index.
    pub providers: Vec<Provider>,
    /// Every distinct token location of every provider; providers refer to them by index.
    pub locations: Vec<Location>,
    /// Route rules; the first that matches decides.
    pub rules: Vec<Rule>,
    /// jwt-gate's `api_keys`: API key checks requirements name with `api_key_name`.
    pub api_keys: Vec<ApiKeyCheck>,
    /// Let CORS preflight requests through unchecked.
    pub bypass_cors_preflight: bool,
    /// Deny with the status code only: no body, no `WWW-Authenticate`.
    pub strip_failure_response: bool,
    /// Extra name segment for this filter's counters.
    pub stat_prefix: String,
    /// Every header jwt-gate writes or obeys (`forward_payload_header`, `claim_to_headers`,
    /// `x-forwarded-authorization`, `x-http-method-override`), lower case: incoming copies, and
    /// spellings with `_` for `-`, are removed from every request.
    pub output_headers: Vec<String>,
    /// Size limits.
    pub limits: Limits,
    /// Who checks RS*/ES* signatures (jwt-gate's extension `signature_verifier`).
    pub signature_verifier: VerifierChoice,
    /// Verified tokens kept per VM (the largest `jwt_cache_config.jwt_cache_size`; 0: off).
    pub token_cache_size: usize,
    /// Tokens longer than this are not cached (the largest `jwt_max_token_size`).
    pub token_cache_max_token_bytes: usize,
    /// How failures are written (jwt-gate's `failure_response_format`).
    pub failure_response_format: FailureFormat,
    /// Copy the request's `Authorization` to `X-Forwarded-Authorization` (jwt-gate's
    /// `x_forwarded_authorization`, ESPv2's behaviour behind `x-google-backend`).
    pub x_forwarded_authorization: bool,
    /// Take `X-HTTP-Method-Override` as the method, as ESPv2's header sanitizer does (jwt-gate's
    /// `http_method_override`): rules match it, the upstream gets it as `:method`.
    pub http_method_override: bool,
    /// What the configuration does that its author should know about (an accepted field that
    /// does nothing here, a translated check left out by an explicit choice): logged once at
    /// load, printed by `jwt-gate check`.
    pub warnings: Vec<ConfigWarning>,
}

/// `failure_response_format`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum FailureFormat {
    /// jwt_authn's: the message as `text/plain`.
    #[default]
    Text,
    /// ESPv2's and API Gateway's: `{"code":401,"message":"Jwt is missing"}`.
    Json,
}

/// `forward_payload_header_format`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum PayloadFormat {
    /// jwt_authn's and ESPv2's: the payload segment as sent.
    #[default]
    Segment,
    /// ESP v1's user info: padded base64url of `{"claims", "issuer", "id", "email", "audiences"}`.
    EspV1,
}

/// Verified tokens kept per VM when no provider sets `jwt_cache_config.jwt_cache_size`.
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 1_000;
/// Longest token cached when no provider sets `jwt_cache_config.jwt_max_token_size`.
pub const DEFAULT_TOKEN_CACHE_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// `signature_verifier`: `"auto"` (default) uses the host's `verify_signature` (Envoy's
/// BoringSSL) for RS*/ES* when it passes a known-answer self-test at start, `ring` otherwise;
/// `"ring"` always uses `ring`.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum VerifierChoice {
    /// Host when it passes the self-test.
    #[default]
    Auto,
    /// Always ring.
    Ring,
}

/// One identity provider (jwt_authn `JwtProvider`).
#[derive(Clone, Debug)]
pub struct Provider {
    /// The name in `providers`.
    pub name: String,
    /// Issuer, audiences and time rules.
    pub claims: ClaimRules,
    /// Where the verification keys come from.
    pub keys: KeySource,
    /// Indexes into [`Config::locations`].
    pub locations: Vec<usize>,
    /// Keep the token in the request after verification.
    pub forward: bool,
    /// Header that receives the payload segment.
    pub forward_payload_header: Option<String>,
    /// Pad that header's value with `=`.
    pub pad_forward_payload_header: bool,
    /// What that header carries.
    pub payload_format: PayloadFormat,
    /// Claims copied into headers.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// `jwt_cache_config`: (`jwt_cache_size`, `jwt_max_token_size`), when given.
    pub cache: (Option<usize>, Option<usize>),
}

/// Where a provider's keys come from.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per provider, built once at configure time"
)]
pub enum KeySource {
    /// `local_jwks`: parsed once, at configure time.
    Local(KeySet),
    /// `remote_jwks`: fetched, shared between VMs and refreshed by the host adapter.
    Remote(RemoteJwks),
}

/// `claim_to_headers` entry.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ClaimToHeader {
    /// Lower-case header name.
    pub header_name: String,
    /// Claim name, or a dotted path into nested objects (with [`ClaimLookup::Path`]).
    pub claim_name: String,
    /// How `claim_name` is looked up (the provider's `claim_lookup`).
    pub lookup: ClaimLookup,
}

/// One entry of `rules`.
#[derive(Clone, Debug)]
pub struct Rule {
    /// When the rule applies.
    pub route: RouteMatch,
    /// What it requires; `None` means no check.
    pub requirement: Option<Requirement>,
    /// jwt-gate's `allowed_scopes` (OCI's `ANY_OF`): a verified token must grant one of them.
    pub allowed_scopes: Vec<String>,
    /// jwt-gate's `deny`: requests this rule matches are answered with this status and message.
    pub deny: Option<Deny>,
    /// The rule matches a `path_template` (such a rule must apply to the path as sent and as a
    /// backend that percent-decodes it reads it alike).
    pub path_template: bool,
}

/// A rule's `deny`: `{"status": 404, "message": "The current request is not defined by this
/// API."}`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Deny {
    /// 400 to 599.
    pub status: u16,
    /// The body (inside `{"code", "message"}` with `failure_response_format: json`).
    pub message: Arc<str>,
}

/// Longest `deny.message` accepted, in bytes.
const MAX_DENY_MESSAGE: usize = 1024;

/// Most `api_keys` entries.
const MAX_API_KEYS: usize = 64;

/// A configuration that cannot be used, and the field at fault.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConfigError {
    /// Where: `providers.auth0.audiences`, `rules[2].requires.provider_name`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// A configuration that loads, but does something its author should know about.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConfigWarning {
    /// Where: `providers.auth0.remote_jwks.async_fetch.fast_listener`.
    pub path: String,
    /// What it means.
    pub message: String,
}

impl ConfigWarning {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl Config {
    /// Parses and compiles the plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.trim_ascii().is_empty() {
            return Err(ConfigError::new(
                "",
                "the plugin configuration is empty: expected jwt_authn's JSON",
            ));
        }
        let value = json::parse(bytes, Limits::DEFAULT.max_configuration_json_depth)
            .map_err(|error| ConfigError::new("", error.to_string()))?;
        let translation = if value.get("openapi").is_some() {
            crate::translate::openapi::translate(&value)?
        } else if value.get("swagger").is_some() {
            // A bare OpenAPI 2.0 document: the OpenAPI form without options.
            crate::translate::openapi::translate(&serde_json::json!({ "openapi": value }))?
        } else {
            return Self::from_value(&value);
        };
        // The translator's warnings (choices it made for the document) come first.
        let mut config = Self::from_value(&translation.config)?;
        let mut warnings = translation.warnings;
        warnings.append(&mut config.warnings);
        config.warnings = warnings;
        Ok(config)
    }

    /// Compiles an already parsed jwt_authn-form configuration.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, ConfigError> {
        let limits = Limits::DEFAULT;
        let mut warnings = Vec::new();
        let root = Field::root(value);
        let mut object = root.object()?;

        let mut api_keys = Vec::new();
        if let Some(map) = object.take("api_keys") {
            let entries = map.entries()?;
            if entries.len() > MAX_API_KEYS {
                return Err(map.error(format!("at most {MAX_API_KEYS} entries")));
            }
            for (name, field) in entries {
                let check = ApiKeyCheck::parse(name, &field)?;
                if check.accepted == Accepted::Unchecked {
                    warnings.push(ConfigWarning::new(
                        field.path.clone(),
                        "\"unchecked\": every requirement naming this API key counts as met; \
                         requests pass without a key",
                    ));
                }
                api_keys.push(check);
            }
        }

        let mut locations: Vec<Location> = Vec::new();
        let mut providers = Vec::new();
        // Without API keys to check, there is nothing to check without a provider.
        let provider_fields = match object.take("providers") {
            Some(fields) => Some(fields),
            None if api_keys.is_empty() => {
                return Err(ConfigError::new(
                    "providers",
                    "at least one provider is required",
                ))
            }
            None => None,
        };
        if let Some(provider_fields) = &provider_fields {
            for (name, field) in provider_fields.entries()? {
                providers.push(Provider::parse(
                    name,
                    &field,
                    &mut locations,
                    &limits,
                    &mut warnings,
                )?);
            }
            if providers.is_empty() && api_keys.is_empty() {
                return Err(provider_fields.error("at least one provider is required"));
            }
        }
        let provider_names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        let names = Names {
            providers: &provider_names,
            api_keys: &api_keys,
        };

        let mut requirement_map = BTreeMap::new();
        if let Some(map) = object.take("requirement_map") {
            for (name, field) in map.entries()? {
                requirement_map.insert(name.to_owned(), Requirement::parse(&field, names)?);
            }
        }
        let mut rules = Vec::new();
        for field in object.list("rules")? {
            rules.push(Rule::parse(&field, names, &requirement_map)?);
        }
        let bypass_cors_preflight = object.bool("bypass_cors_preflight")?;
        let strip_failure_response = object.bool("strip_failure_response")?;
        let stat_prefix = object.string("stat_prefix")?.unwrap_or_default().to_owned();
        let failure_response_format = match object.take("failure_response_format") {
            None => FailureFormat::Text,
            Some(field) => match field.string()? {
                "text" => FailureFormat::Text,
                "json" => FailureFormat::Json,
                _ => return Err(field.error("expected \"text\" or \"json\"")),
            },
        };
        let x_forwarded_authorization = object.bool("x_forwarded_authorization")?;
        let http_method_override = object.bool("http_method_override")?;
        let signature_verifier = match object.take("signature_verifier") {
            None => VerifierChoice::Auto,
            Some(field) => match field.string()? {
                "auto" => VerifierChoice::Auto,
                "ring" => VerifierChoice::Ring,
                _ => return Err(field.error("expected \"auto\" or \"ring\"")),
            },
        };
        if !stat_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(ConfigError::new(
                "stat_prefix",
                "use letters, digits, '_' and '.' only",
            ));
        }
        object.finish()?;

        let mut output_headers: Vec<String> = providers
            .iter()
            .flat_map(|p| {
                p.forward_payload_header
                    .iter()
                    .cloned()
                    .chain(p.claim_to_headers.iter().map(|c| c.header_name.clone()))
            })
            .chain(x_forwarded_authorization.then(|| X_FORWARDED_AUTHORIZATION.to_owned()))
            .chain(http_method_override.then(|| X_HTTP_METHOD_OVERRIDE.to_owned()))
            .collect();
        output_headers.sort();
        output_headers.dedup();
        // An output header that is also where some provider reads tokens (under any spelling
        // with `_` for `-`) would be stripped from every request (anti-spoofing), silently
        // breaking that provider.
        for location in &locations {
            if let Location::Header { name, .. } = location {
                let output = output_headers.iter().find(|output| {
                    crate::request::same_header_name(name.as_bytes(), output.as_bytes())
                });
                if let Some(output) = output {
                    return Err(ConfigError::new(
                        "providers",
                        format!("header {name:?} is both a token location and an output ({output:?}: forward_payload_header, claim_to_headers, x_forwarded_authorization or http_method_override), which jwt-gate removes from every request"),
                    ));
                }
            }
        }
        let token_cache_size = providers
            .iter()
            .filter_map(|p| p.cache.0)
            .max()
            .unwrap_or(DEFAULT_TOKEN_CACHE_SIZE)
            .min(limits.max_token_cache_entries);
        let token_cache_max_token_bytes = providers
            .iter()
            .filter_map(|p| p.cache.1)
            .max()
            .unwrap_or(DEFAULT_TOKEN_CACHE_MAX_TOKEN_BYTES);
        Ok(Self {
            providers,
            locations,
            rules,
            api_keys,
            bypass_cors_preflight,
            strip_failure_response,
            stat_prefix,
            output_headers,
            limits,
            signature_verifier,
            token_cache_size,
            token_cache_max_token_bytes,
            failure_response_format,
            x_forwarded_authorization,
            http_method_override,
            warnings,
        })
    }
}

impl Provider {
    fn parse(
        name: &str,
        field: &Field<'_>,
        locations: &mut Vec<Location>,
        limits: &Limits,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let issuer = object
            .string("issuer")?
            .filter(|i| !i.is_empty())
            .map(str::to_owned);
        let audiences = object
            .strings("audiences")?
            .iter()
            .map(|aud| normalize_audience(aud).to_owned())
            .collect();
        let require_expiration = object.bool("require_expiration")?;
        let max_lifetime_seconds = object
            .take("max_lifetime")
            .map(|f| f.duration_seconds())
            .transpose()?;
        // jwt_authn: 0 (or unset) means the default of 60 seconds. jwt-gate's `clock_skew` (a
        // Duration) may say 0s and mean it (OCI's default).
        let clock_skew_seconds = match object
            .take("clock_skew_seconds")
            .map(|f| f.u64())
            .transpose()?
        {
            None | Some(0) => 60,
            Some(seconds) => seconds,
        };
        let clock_skew_seconds = match object.take("clock_skew") {
            Some(skew) => skew.duration_seconds()?,
            None => clock_skew_seconds,
        };
        // jwt_authn checks `sub` with its StringMatcher (exact, prefix, suffix, contains,
        // safe_regex; ignore_case), e.g. a SPIFFE ID prefix for JWT-SVIDs.
        let subjects = match object.take("subjects") {
            Some(field) => {
                // Envoy's proto validation: prefix, suffix and contains need a character (an
                // empty one would match every `sub`).
                for kind in ["prefix", "suffix", "contains"] {
                    if field.value.get(kind).and_then(|v| v.as_str()) == Some("") {
                        return Err(ConfigError::new(
                            format!("{}.{kind}", field.path),
                            "must not be empty (it would match every sub)",
                        ));
                    }
                }
                Some(StringMatcher::parse(&field)?)
            }
            None => None,
        };
        // jwt-gate's `claim_lookup`: how `verify_claims` keys and `claim_to_headers` claim names
        // find their claim ("literal": never a dotted path, as OCI API Gateway reads them).
        let lookup = match object.take("claim_lookup") {
            None => ClaimLookup::Path,
            Some(field) => match field.string()? {
                "path" => ClaimLookup::Path,
                "literal" => ClaimLookup::Literal,
                _ => return Err(field.error("expected \"path\" or \"literal\"")),
            },
        };
        let mut verify_claims = Vec::new();
        for entry in object.list("verify_claims")? {
            let mut entry_object = entry.object()?;
            let key = entry_object
                .string("key")?
                .filter(|k| !k.is_empty())
                .ok_or_else(|| entry.error("key (the claim name) is required"))?;
            let values = entry_object.strings("values")?;
            let required = match entry_object.take("is_required") {
                Some(flag) => flag.bool()?,
                None => true,
            };
            entry_object.finish()?;
            if values.is_empty() && !required {
                return Err(entry.error("checks nothing: give values, or is_required: true"));
            }
            verify_claims.push(ClaimCheck {
                name: Arc::from(key),
                values,
                required,
                lookup,
            });
        }
        let keys = match (object.take("local_jwks"), object.take("remote_jwks")) {
            (Some(source), None) => KeySource::Local(parse_data_source(&source, limits)?),
            (None, Some(remote)) => {
                KeySource::Remote(parse_remote_jwks(&remote, issuer.as_deref(), warnings)?)
            }
            (Some(_), Some(_)) => {
                return Err(field.error("give local_jwks or remote_jwks, not both"))
            }
            (None, None) => return Err(field.error("local_jwks or remote_jwks is required")),
        };
        let forward = object.bool("forward")?;

        let mut own_locations = Vec::new();
        for header in object.list("from_headers")? {
            let mut header_object = header.object()?;
            let header_name = header_object
                .take("name")
                .ok_or_else(|| header.error("name is required"))?;
            let name = header_name_field(&header_name)?;
            let value_prefix = header_object
                .string("value_prefix")?
                .unwrap_or_default()
                .to_owned();
            header_object.finish()?;
            own_locations.push(Location::Header { name, value_prefix });
        }
        for param in object.strings("from_params")? {
            own_locations.push(Location::Param(param));
        }
        for cookie in object.strings("from_cookies")? {
            own_locations.push(Location::Cookie(cookie));
        }
        if own_locations.is_empty() {
            own_locations.extend(Location::defaults());
        }
        let location_indexes = own_locations
            .into_iter()
            .map(
                |location| match locations.iter().position(|l| *l == location) {
                    Some(index) => index,
                    None => {
                        locations.push(location);
                        locations.len() - 1
                    }
                },
            )
            .collect();

        let forward_payload_header = match object.take("forward_payload_header") {
            // jwt_authn: an empty string means "not set".
            Some(field) if field.value.as_str() == Some("") => None,
            Some(field) => Some(header_name_field(&field)?),
            None => None,
        };
        let pad_forward_payload_header = object.bool("pad_forward_payload_header")?;
        let payload_format = match object.take("forward_payload_header_format") {
            None => PayloadFormat::Segment,
            Some(field) => match field.string()? {
                "payload" => PayloadFormat::Segment,
                "esp_v1" => PayloadFormat::EspV1,
                _ => return Err(field.error("expected \"payload\" or \"esp_v1\"")),
            },
        };
        let mut claim_to_headers = Vec::new();
        for entry in object.list("claim_to_headers")? {
            let mut entry_object = entry.object()?;
            let header_name = entry_object
                .take("header_name")
                .ok_or_else(|| entry.error("header_name is required"))?;
            let header_name = header_name_field(&header_name)?;
            let claim_name = entry_object
                .string("claim_name")?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| entry.error("claim_name is required"))?
                .to_owned();
            entry_object.finish()?;
            claim_to_headers.push(ClaimToHeader {
                header_name,
                claim_name,
                lookup,
            });
        }
        // Accepted: Envoy re-evaluates the route anyway when a wasm filter changes request headers.
        let _ = object
            .take("clear_route_cache")
            .map(|f| f.bool())
            .transpose()?;
        let mut cache = (None, None);
        if let Some(field) = object.take("jwt_cache_config") {
            let mut cache_object = field.object()?;
            let size = cache_object
                .take("jwt_cache_size")
                .map(|f| f.u64())
                .transpose()?;
            let max = cache_object
                .take("jwt_max_token_size")
                .map(|f| f.u64())
                .transpose()?;
            cache_object.finish()?;
            // jwt_authn: 0 means the default.
            let to_usize = |v: Option<u64>| {
                v.filter(|&v| v > 0)
                    .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
            };
            cache = (to_usize(size), to_usize(max));
        }
        object.finish()?;

        Ok(Self {
            name: name.to_owned(),
            claims: ClaimRules {
                issuer,
                audiences,
                clock_skew_seconds,
                require_expiration,
                max_lifetime_seconds,
                subjects,
                verify_claims,
            },
            keys,
            locations: location_indexes,
            forward,
            forward_payload_header,
            pad_forward_payload_header,
            payload_format,
            claim_to_headers,
            cache,
        })
    }
}

impl Rule {
    fn parse(
        field: &Field<'_>,
        names: Names<'_>,
        requirement_map: &BTreeMap<String, Requirement>,
    ) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let route_field = object
            .take("match")
            .ok_or_else(|| field.error("match is required"))?;
        let route = RouteMatch::parse(&route_field)?;
        let path_template = route_field.value.as_object().is_some_and(|members| {
            members.contains_key("path_template") || members.contains_key("pathTemplate")
        });
        let deny = object
            .take("deny")
            .map(|deny| parse_deny(&deny))
            .transpose()?;
        let requires = object.take("requires");
        let requirement_name = object.take("requirement_name");
        let requirement = match (requires, requirement_name) {
            (Some(_), Some(_)) => {
                return Err(field.error("give requires or requirement_name, not both"))
            }
            (Some(requires), None) => Some(Requirement::parse(&requires, names)?),
            (None, Some(name_field)) => {
                let name = name_field.string()?;
                let requirement = requirement_map.get(name).ok_or_else(|| {
                    let known: Vec<&str> = requirement_map.keys().map(String::as_str).collect();
                    name_field.error(format!(
                        "Wrong requirement_name: {name}. It should be one of [{}]",
                        known.join(",")
                    ))
                })?;
                Some(requirement.clone())
            }
            (None, None) => None,
        }
        .filter(|requirement| *requirement != Requirement::NoCheck);
        let allowed_scopes = object.strings("allowed_scopes")?;
        if !allowed_scopes.is_empty() && requirement.is_none() {
            return Err(field.error(
                "allowed_scopes needs a requirement (requires or requirement_name) to check tokens",
            ));
        }
        object.finish()?;
        if deny.is_some() && (requirement.is_some() || !allowed_scopes.is_empty()) {
            return Err(field.error(
                "a rule that denies checks nothing: give deny alone, or requires without deny",
            ));
        }
        Ok(Self {
            route,
            requirement,
            allowed_scopes,
            deny,
            path_template,
        })
    }
}

/// A rule's `deny`: `{"status": 400..599, "message": "..."}`.
fn parse_deny(field: &Field<'_>) -> Result<Deny, ConfigError> {
    let mut object = field.object()?;
    let status_field = object
        .take("status")
        .ok_or_else(|| field.error("status is required"))?;
    let status = status_field
        .u64()
        .ok()
        .and_then(|status| u16::try_from(status).ok())
        .filter(|status| (400..=599).contains(status))
        .ok_or_else(|| status_field.error("expected an HTTP status from 400 to 599"))?;
    let message_field = object
        .take("message")
        .ok_or_else(|| field.error("message (the response body) is required"))?;
    let message = message_field.string()?;
    if message.is_empty() || message.len() > MAX_DENY_MESSAGE {
        return Err(message_field.error(format!("expected 1 to {MAX_DENY_MESSAGE} bytes of text")));
    }
    object.finish()?;
    Ok(Deny {
        status,
        message: Arc::from(message),
    })
}

/// `local_jwks`: a DataSource with `inline_string` or `inline_bytes` (base64).
fn parse_data_source(field: &Field<'_>, limits: &Limits) -> Result<KeySet, ConfigError> {
    let mut object = field.object()?;
    let (path, bytes) = if let Some(inline) = object.take("inline_string") {
        (inline.path.clone(), inline.string()?.as_bytes().to_vec())
    } else if let Some(inline) = object.take("inline_bytes") {
        let bytes = STANDARD
            .decode(inline.string()?)
            .map_err(|_| inline.error("expected base64"))?;
        (inline.path.clone(), bytes)
    } else {
        object.finish()?;
        return Err(field.error("inline_string is required"));
    };
    object.finish()?;
    KeySet::parse(&bytes, limits).map_err(|error| ConfigError::new(path, error.to_string()))
}

/// `remote_jwks`: jwt_authn's `RemoteJwks`, plus jwt-gate's extensions (`http_uri.uri` may be
/// omitted to use OpenID discovery; `format`; `kid_refetch_interval`; `max_stale`). Durations
/// keep jwt_authn's millisecond precision.
fn parse_remote_jwks(
    field: &Field<'_>,
    issuer: Option<&str>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<RemoteJwks, ConfigError> {
    let mut object = field.object()?;
    let http_uri = object
        .take("http_uri")
        .ok_or_else(|| field.error("http_uri is required (with at least a cluster)"))?;
    let mut http_object = http_uri.object()?;
    let cluster = http_object
        .string("cluster")?
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            http_uri.error("cluster is required: the Envoy cluster that reaches the issuer")
        })?
        .to_owned();
    let uri_field = http_object.take("uri");
    let jwks_uri = match &uri_field {
        Some(uri) if !uri.string()?.is_empty() => {
            Some(HttpUri::parse(uri.string()?).map_err(|why| uri.error(why))?)
        }
        _ => None,
    };
    let discovery_uri = match (&jwks_uri, issuer) {
        (Some(_), _) => None,
        (None, Some(issuer)) => Some(
            discovery_uri(issuer)
                .map_err(|why| http_uri.error(format!("cannot discover keys: issuer {why}")))?,
        ),
        (None, None) => {
            return Err(http_uri
                .error("uri is required when the provider has no issuer to discover it from"))
        }
    };
    // A held request waits a bounded multiple of the timeout: at most 60 s. jwt_authn's 0
    // means no timeout at all.
    let timeout = match http_object.take("timeout") {
        None => RemoteJwks::DEFAULT_TIMEOUT,
        Some(field) => {
            let timeout = field.duration()?;
            let longest = RemoteJwks::MAX_TIMEOUT;
            if timeout.is_zero() || timeout > longest {
                let given = if timeout.is_zero() {
                    "0s (no timeout)"
                } else {
                    "over 60s"
                };
                warnings.push(ConfigWarning::new(
                    field.path.clone(),
                    format!("{given}: jwt-gate waits at most 60s for a key fetch, and uses 60s"),
                ));
                longest
            } else {
                timeout.max(Duration::from_millis(1))
            }
        }
    };
    http_object.finish()?;

    // jwt_authn's bounds: a cache duration and a retry delay of at least 1 ms.
    let at_least_a_millisecond = |field: &Field<'_>| -> Result<Duration, ConfigError> {
        let duration = field.duration()?;
        if duration < Duration::from_millis(1) {
            return Err(field.error("must be at least 1ms"));
        }
        Ok(duration)
    };
    let cache_duration = match object.take("cache_duration") {
        Some(field) => at_least_a_millisecond(&field)?,
        None => RemoteJwks::DEFAULT_CACHE_DURATION,
    };
    let mut backoff_base = RemoteJwks::DEFAULT_BACKOFF_BASE;
    let mut backoff_max = RemoteJwks::DEFAULT_BACKOFF_MAX;
    if let Some(async_fetch) = object.take("async_fetch") {
        // jwt-gate always fetches in the background. A proxy-wasm filter cannot keep Envoy's
        // listener closed until the first fetch (jwt_authn's `fast_listener: false`, the
        // default): say what happens instead.
        let mut async_object = async_fetch.object()?;
        let fast_listener = async_object.take("fast_listener");
        let waits_for_listener = match &fast_listener {
            Some(flag) => !flag.bool()?,
            None => true,
        };
        if waits_for_listener {
            let path = fast_listener.map_or_else(
                || format!("{}.fast_listener", async_fetch.path),
                |flag| flag.path,
            );
            warnings.push(ConfigWarning::new(
                path,
                "false: jwt-gate cannot hold Envoy's listener closed until the first key fetch; \
                 requests that need these keys wait for them instead (up to twice the fetch \
                 timeout plus 1.5 s), then get 401 Jwks remote fetch is failed",
            ));
        }
        if let Some(retry) = async_object.take("failed_refetch_duration") {
            backoff_base = at_least_a_millisecond(&retry)?;
        }
        async_object.finish()?;
    }
    if let Some(retry) = object.take("retry_policy") {
        let mut retry_object = retry.object()?;
        let _ = retry_object
            .take("num_retries")
            .map(|f| f.u64())
            .transpose()?;
        let _ = retry_object.string("retry_on")?;
        if let Some(back_off) = retry_object.take("retry_back_off") {
            let mut back_off_object = back_off.object()?;
            if let Some(base) = back_off_object.take("base_interval") {
                backoff_base = at_least_a_millisecond(&base)?;
            }
            if let Some(max) = back_off_object.take("max_interval") {
                backoff_max = at_least_a_millisecond(&max)?;
            }
            back_off_object.finish()?;
        }
        retry_object.finish()?;
    }
    let duration = |object: &mut walk::Object<'_>, name: &str, default: Duration| {
        object
            .take(name)
            .map(|f| f.duration())
            .transpose()
            .map(|duration| duration.unwrap_or(default))
    };
    let kid_refetch_interval = duration(
        &mut object,
        "kid_refetch_interval",
        RemoteJwks::DEFAULT_KID_REFETCH_INTERVAL,
    )?
    // Never back to back: at least one second between refetches for unknown kids.
    .max(Duration::from_secs(1));
    let max_stale = duration(&mut object, "max_stale", RemoteJwks::DEFAULT_MAX_STALE)?;
    // A fetched document is read in the format the configuration names, never guessed (a
    // bare secret is never read from a fetch).
    let format = match object.take("format") {
        None => KeySetFormat::Jwks,
        Some(field) => match field.string()? {
            "jwks" => KeySetFormat::Jwks,
            "pem" => KeySetFormat::Pem,
            _ => {
                return Err(field
                    .error("expected \"jwks\" (a JWK set or an x509 certificate map) or \"pem\""))
            }
        },
    };
    object.finish()?;
    Ok(RemoteJwks {
        jwks_uri,
        discovery_uri,
        cluster,
        format,
        timeout,
        cache_duration,
        backoff_base,
        backoff_max: backoff_max.max(backoff_base),
        kid_refetch_interval,
        max_stale,
    })
}

/// A header name we may write: lower-cased, an RFC 9110 token, not a pseudo-header.
fn header_name_field(field: &Field<'_>) -> Result<String, ConfigError> {
    let name = field.string()?.to_ascii_lowercase();
    if !is_header_name(&name) {
        return Err(field.error("expected a header name"));
    }
    Ok(name)
}

/// Whether `name` is an RFC 9110 token (so not empty and not a pseudo-header).
pub(crate) fn is_header_name(name: &str) -> bool {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(tchar)
}

pub(crate) use walk::Field as ConfigField;
#[cfg(test)]
mod tests;
