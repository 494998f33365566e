//! OpenAPI 2.0 as the plugin configuration: `{"openapi": <document>, ...options}` is translated
//! into jwt_authn's form the way Google Service Management plus ESPv2 do it (the document's
//! `securityDefinitions` become providers, each operation's `security` becomes a rule on its
//! method and path template, requests outside the document get ESPv2's 404 or 405), with
//! ESPv2's defaults: the token is forwarded, the backend gets `X-Endpoint-API-UserInfo`,
//! failures are `{"code":401,"message":"Jwt is missing"}`.
//!
//! Pure: the result is a jwt_authn-form document ([`JwtAuthentication`], what `jwt-gate
//! from-openapi` prints), compiled by the same step as any other configuration, and the
//! warnings the translation owes its user. Every error names the place in the document:
//! `openapi.paths./v1/shelves.get.security[0]: "api" is not in securityDefinitions`. Nothing
//! the document asks for is dropped silently: an API key is checked (`api_keys`), let through
//! by an explicit and logged choice (`"api_keys": "unchecked"`), or the document is refused.

mod extensions;
mod security;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::model::{
    self, ApiKey, ApiKeyDigests, DataSource, Deny, FailureFormat, HeaderMatchSpecifier,
    HeaderMatcher, HttpUri as UriSpec, JwksSource, JwtAuthentication, JwtCacheConfig, JwtHeader,
    JwtProvider, PathSpecifier, PayloadFormat, RemoteJwks, RequirementRule, RouteMatch,
    StringMatcher, StringPattern, Unchecked, VerifierChoice,
};
use crate::config::read;
use crate::config::walk::Field;
use crate::config::{ConfigError, ConfigWarning};
use crate::keys::remote::{parse_discovery, HttpUri};
use crate::limits::Limits;
use crate::policy::template::PathTemplate;
use extensions::Place;
use security::{Requirement, Scheme};

/// The operations (OpenAPI 2.0 `paths` item keys) that carry methods.
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// ESPv2's `--jwks_cache_duration_in_s` default.
const DEFAULT_JWKS_CACHE_SECONDS: u64 = 300;

/// ESPv2's `--jwt_cache_size` default.
const DEFAULT_JWT_CACHE_SIZE: u64 = 1000;

/// ESPv2's answer to a request outside the document (`routegen/deny_all.go`): 404.
pub const NOT_DEFINED: &str = "The current request is not defined by this API.";

/// Operations named in one refusal message before "and N more".
const LISTED_OPERATIONS: usize = 5;

/// A translated configuration.
#[derive(Clone, Debug)]
pub struct Translation {
    /// jwt_authn's form.
    pub config: JwtAuthentication,
    /// What the translation did that its user must know (logged at load, printed by
    /// `jwt-gate check` and `from-openapi`).
    pub warnings: Vec<ConfigWarning>,
}

/// What the options next to `openapi` say.
struct Options {
    local_jwks: BTreeMap<String, String>,
    jwks_clusters: BTreeMap<String, String>,
    header_prefix: String,
    esp_v1_user_info: bool,
    pad_user_info: bool,
    jwks_cache_seconds: u64,
    jwt_cache_size: u64,
    audience_check: bool,
    allow_unlisted: Option<bool>,
    x_forwarded_authorization: Option<bool>,
    failure_response_format: FailureFormat,
    api_keys: Option<ApiKeys>,
    /// `stat_prefix`, `signature_verifier` and `strip_failure_response`, as in jwt_authn's form.
    stat_prefix: String,
    signature_verifier: Option<VerifierChoice>,
    strip_failure_response: bool,
}

/// `api_keys` next to `openapi`.
enum ApiKeys {
    /// `{"sha256": [...]}`: keys of every `apiKey` scheme are checked against these digests.
    Digests(Vec<String>),
    /// `"unchecked"`: API key requirements count as met.
    Unchecked,
}

/// One JWT `securityDefinitions` entry, as jwt_authn's provider.
struct Definition {
    name: String,
    provider: JwtProvider,
}

/// One operation of the document.
struct Operation {
    template: PathTemplate,
    /// `basePath` + the path, as written.
    template_text: String,
    method: String,
    /// Where it is in the document: `openapi.paths./v1/shelves.get`.
    path: String,
    /// `GET /v1/shelves (ListShelves)`, for messages.
    label: String,
    requirement: Requirement,
}

/// Translates a plugin configuration with an `openapi` member into jwt_authn's form.
pub fn translate(config: &Value) -> Result<Translation, ConfigError> {
    let Value::Object(members) = config else {
        return Err(ConfigError::expected("", "an object"));
    };
    if let Some(Value::String(version)) = members.get("openapi") {
        return Err(ConfigError::invalid(
            "openapi",
            format!("this is an OpenAPI {version} document: OpenAPI 3 is not supported yet; give the OpenAPI 2.0 (swagger: \"2.0\") document Cloud Endpoints and API Gateway use"),
        ));
    }
    let mut options = Options::parse(members)?;
    let document = members
        .get("openapi")
        .ok_or_else(|| ConfigError::required("openapi", "the OpenAPI document is required"))?;
    let document = Document::new(document)?;
    let mut warnings = Vec::new();

    let (definitions, schemes) = document.definitions(&mut options)?;
    let operations = document.operations(&schemes)?;
    let used_keys: BTreeSet<&str> = operations
        .iter()
        .flat_map(|operation| operation.requirement.keys())
        .collect();
    if operations
        .iter()
        .all(|operation| operation.requirement.is_none())
    {
        return Err(ConfigError::invalid(
            "openapi",
            "no operation requires a JWT or an API key (no security, or only basic schemes): nothing for jwt-gate to check",
        ));
    }
    api_key_choice(&options, &operations, &used_keys, &mut warnings)?;
    for (name, scheme) in &schemes {
        if matches!(scheme, Scheme::Basic) {
            warnings.push(ConfigWarning::new(
                format!("openapi.securityDefinitions.{name}"),
                "type basic: neither jwt-gate nor Cloud Endpoints checks it; the backend must",
            ));
        }
    }
    no_operation_twice(&operations)?;
    let rules = rules(&document, &options, &operations, &mut warnings)?;
    if let Some(uri) = options.local_jwks.keys().next() {
        return Err(ConfigError::invalid(
            format!("local_jwks.{uri}"),
            "is the key set of no securityDefinition (the key must be its x-google-jwks_uri, or its OpenID discovery URI)",
        ));
    }
    let config = JwtAuthentication {
        providers: definitions
            .into_iter()
            .map(|definition| (definition.name, definition.provider))
            .collect(),
        api_keys: api_keys(&options, &schemes, &used_keys),
        rules,
        failure_response_format: Some(options.failure_response_format),
        // ESPv2's header sanitizer: `X-HTTP-Method-Override` becomes the method before routing.
        http_method_override: true,
        x_forwarded_authorization: options
            .x_forwarded_authorization
            .unwrap_or(document.moves_authorization()),
        stat_prefix: options.stat_prefix,
        signature_verifier: options.signature_verifier,
        strip_failure_response: options.strip_failure_response,
        ..JwtAuthentication::default()
    };
    Ok(Translation { config, warnings })
}

/// Two operations on the same pattern and method (`/x/{id}` and `/x/{name}`): which one applies
/// would depend on variable names. ESPv2 refuses them too.
fn no_operation_twice(operations: &[Operation]) -> Result<(), ConfigError> {
    for pair in operations.windows(2) {
        if let [first, second] = pair {
            if first.method == second.method && first.template.same_pattern(&second.template) {
                return Err(ConfigError::invalid(
                    format!("openapi.paths.{}", second.template_text),
                    format!(
                        "{} {} and {} {} are the same operation",
                        first.method, first.template_text, second.method, second.template_text
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One rule per operation (its method on its path template), then ESPv2's answers for requests
/// outside the document, unless they are let through (a warning).
fn rules(
    document: &Document<'_>,
    options: &Options,
    operations: &[Operation],
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<RequirementRule>, ConfigError> {
    let mut rules: Vec<RequirementRule> = operations
        .iter()
        .map(|operation| {
            let mut route = template_route(&operation.template_text);
            route.headers = vec![method_matcher(&operation.method)];
            rule(route, operation.requirement.to_requirement(), None)
        })
        .collect();
    let allow_unlisted = match options.allow_unlisted {
        Some(allow) => allow,
        None => document.x_google_allow_all()?,
    };
    if allow_unlisted {
        warnings.push(ConfigWarning::new(
            match options.allow_unlisted {
                Some(_) => "allow_unlisted_operations",
                None => "openapi.x-google-allow",
            },
            "requests the document does not list pass unchecked, HEAD on an operation defined \
             only for GET included (most frameworks answer HEAD with the GET handler)",
        ));
    } else {
        rules.extend(not_allowed_rules(operations));
    }
    Ok(rules)
}

/// `api_keys` for the `apiKey` schemes operations use: checked where the options give digests,
/// else `"unchecked"`.
fn api_keys(
    options: &Options,
    schemes: &BTreeMap<String, Scheme>,
    used_keys: &BTreeSet<&str>,
) -> BTreeMap<String, ApiKey> {
    used_keys
        .iter()
        .map(|name| {
            let entry = match (&options.api_keys, schemes.get(*name)) {
                (Some(ApiKeys::Digests(digests)), Some(Scheme::ApiKey(locations))) => {
                    ApiKey::Digests(ApiKeyDigests {
                        sha256: digests.clone(),
                        ..locations.clone()
                    })
                }
                _ => ApiKey::Unchecked(Unchecked),
            };
            ((*name).to_owned(), entry)
        })
        .collect()
}

/// A rule matching `route`.
fn rule(
    route: RouteMatch,
    requires: Option<model::JwtRequirement>,
    deny: Option<Deny>,
) -> RequirementRule {
    RequirementRule {
        route,
        requires,
        requirement_name: None,
        allowed_scopes: Vec::new(),
        deny,
        when: Vec::new(),
    }
}

/// A route on a path template, any method.
fn template_route(template: &str) -> RouteMatch {
    RouteMatch {
        path: PathSpecifier::PathTemplate(template.to_owned()),
        case_sensitive: None,
        headers: Vec::new(),
        query_parameters: Vec::new(),
    }
}

/// `:method` is exactly `method`.
fn method_matcher(method: &str) -> HeaderMatcher {
    HeaderMatcher {
        name: ":method".to_owned(),
        rule: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
            pattern: StringPattern::Exact(method.to_owned()),
            ignore_case: false,
        })),
        ..HeaderMatcher::default()
    }
}

/// ESPv2's routes after the operations' (`routegen/deny_invalid_method.go`, `deny_all.go`): a
/// known template with another method is 405, anything else 404.
fn not_allowed_rules(operations: &[Operation]) -> Vec<RequirementRule> {
    let mut seen: Vec<&PathTemplate> = Vec::new();
    let mut rules = Vec::new();
    for operation in operations {
        if seen.iter().any(|t| t.same_pattern(&operation.template)) {
            continue;
        }
        seen.push(&operation.template);
        let message = format!(
            "The current request is matched to the defined url template \"{}\" but its http method is not allowed",
            operation.template_text
        );
        rules.push(rule(
            template_route(&operation.template_text),
            None,
            Some(Deny {
                status: 405,
                message,
            }),
        ));
    }
    let everything = RouteMatch {
        path: PathSpecifier::Prefix("/".to_owned()),
        ..template_route("")
    };
    rules.push(rule(
        everything,
        None,
        Some(Deny {
            status: 404,
            message: NOT_DEFINED.to_owned(),
        }),
    ));
    rules
}

/// Operations that require an API key: refused without `api_keys`; with `"unchecked"`, one
/// warning each; checked, a warning where a key alone may replace a JWT (Cloud Endpoints would
/// require the JWT there).
fn api_key_choice(
    options: &Options,
    operations: &[Operation],
    used_keys: &BTreeSet<&str>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let with_keys = || {
        operations
            .iter()
            .filter(|operation| !operation.requirement.keys().is_empty())
    };
    match &options.api_keys {
        None if !used_keys.is_empty() => {
            let labels: Vec<&str> = with_keys().map(|o| o.label.as_str()).collect();
            let mut listed = labels
                .iter()
                .take(LISTED_OPERATIONS)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if labels.len() > LISTED_OPERATIONS {
                listed.push_str(&format!(" and {} more", labels.len() - LISTED_OPERATIONS));
            }
            let keys: Vec<String> = used_keys.iter().map(|k| format!("{k:?}")).collect();
            let (verb, noun) = match (labels.len(), keys.len()) {
                (1, 1) => ("requires", "API key"),
                (1, _) => ("requires", "API keys"),
                (_, 1) => ("require", "API key"),
                _ => ("require", "API keys"),
            };
            Err(ConfigError::invalid(
                "openapi",
                format!(
                    "{listed} {verb} {noun} {}, which jwt-gate cannot check; set \"api_keys\" (see docs/openapi.md)",
                    keys.join(", ")
                ),
            ))
        }
        None => Ok(()),
        Some(_) if used_keys.is_empty() => Err(ConfigError::invalid(
            "api_keys",
            "no operation of the document requires an API key",
        )),
        Some(ApiKeys::Unchecked) => {
            for operation in with_keys() {
                let keys: Vec<String> = operation
                    .requirement
                    .keys()
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect();
                let effect = if operation.requirement.open_without_keys() {
                    "the operation is open to anyone"
                } else {
                    "its JWT requirement still applies"
                };
                let noun = if keys.len() == 1 {
                    "API key"
                } else {
                    "API keys"
                };
                warnings.push(ConfigWarning::new(
                    operation.path.clone(),
                    format!(
                        "{}: {noun} {} not checked (\"api_keys\": \"unchecked\"): {effect}",
                        operation.label,
                        keys.join(", ")
                    ),
                ));
            }
            Ok(())
        }
        Some(ApiKeys::Digests(_)) => {
            for operation in with_keys().filter(|o| o.requirement.key_instead_of_jwt()) {
                warnings.push(ConfigWarning::new(
                    operation.path.clone(),
                    format!(
                        "{}: an API key alone passes (its security lists it as an alternative \
                         to a JWT); Cloud Endpoints requires the JWT there",
                        operation.label
                    ),
                ));
            }
            Ok(())
        }
    }
}

impl Options {
    fn parse(members: &Map<String, Value>) -> Result<Self, ConfigError> {
        let mut options = Self {
            local_jwks: BTreeMap::new(),
            jwks_clusters: BTreeMap::new(),
            header_prefix: "X-Endpoint-".to_owned(),
            esp_v1_user_info: false,
            pad_user_info: false,
            jwks_cache_seconds: DEFAULT_JWKS_CACHE_SECONDS,
            jwt_cache_size: DEFAULT_JWT_CACHE_SIZE,
            audience_check: true,
            allow_unlisted: None,
            x_forwarded_authorization: None,
            failure_response_format: FailureFormat::Json,
            api_keys: None,
            stat_prefix: String::new(),
            signature_verifier: None,
            strip_failure_response: false,
        };
        for (name, value) in members {
            // The options jwt_authn's form has too are read as it reads them.
            let field = Field {
                path: name.clone(),
                value,
            };
            let bool_value = || field.bool();
            let string_value = || field.string();
            let u64_value = || {
                value
                    .as_u64()
                    .ok_or_else(|| ConfigError::expected(name.clone(), "a whole number"))
            };
            match name.as_str() {
                "openapi" => {}
                "local_jwks" => options.local_jwks = string_map(value, name)?,
                "jwks_clusters" => options.jwks_clusters = string_map(value, name)?,
                "generated_header_prefix" => string_value()?.clone_into(&mut options.header_prefix),
                "userinfo_format" => {
                    options.esp_v1_user_info = match string_value()? {
                        "espv2" => false,
                        "esp_v1" => true,
                        _ => return Err(field.expected("\"espv2\" or \"esp_v1\"")),
                    }
                }
                "jwt_pad_forward_payload_header" => options.pad_user_info = bool_value()?,
                "jwks_cache_duration_in_s" => options.jwks_cache_seconds = u64_value()?.max(1),
                "jwt_cache_size" => options.jwt_cache_size = u64_value()?,
                "disable_jwt_audience_service_name_check" => {
                    options.audience_check = !bool_value()?;
                }
                "allow_unlisted_operations" => options.allow_unlisted = Some(bool_value()?),
                "x_forwarded_authorization" => {
                    options.x_forwarded_authorization = Some(bool_value()?);
                }
                "failure_response_format" => {
                    options.failure_response_format = read::failure_response_format(&field)?;
                }
                "api_keys" => options.api_keys = Some(ApiKeys::parse(value)?),
                "stat_prefix" => string_value()?.clone_into(&mut options.stat_prefix),
                "signature_verifier" => {
                    options.signature_verifier = Some(read::signature_verifier(&field)?);
                }
                "strip_failure_response" => options.strip_failure_response = bool_value()?,
                _ => {
                    return Err(ConfigError::invalid(
                        name.clone(),
                        "unknown field next to openapi (see docs/openapi.md for the options)",
                    ))
                }
            }
        }
        Ok(options)
    }

    /// Keys fetched through the cluster that reaches `reached`, from `uri` (empty: discovered),
    /// with ESPv2's 5 s timeout and `jwks_cache_duration_in_s`.
    fn remote_jwks(&self, reached: &HttpUri, uri: String) -> JwksSource {
        JwksSource::RemoteJwks(RemoteJwks {
            http_uri: Some(UriSpec {
                uri,
                cluster: self.cluster(reached),
                timeout: Some(Duration::from_secs(5)),
            }),
            cache_duration: Some(Duration::from_secs(self.jwks_cache_seconds)),
            ..RemoteJwks::default()
        })
    }

    /// The cluster that reaches `uri`: the `jwks_clusters` entry for `host:port` or `host`, else
    /// ESPv2's name, `jwt-provider-cluster-<host>:<port>`.
    fn cluster(&self, uri: &HttpUri) -> String {
        let (host, port) = uri.host_and_port();
        let host_port = format!("{host}:{port}");
        self.jwks_clusters
            .get(&host_port)
            .or_else(|| self.jwks_clusters.get(&host))
            .or_else(|| self.jwks_clusters.get(&uri.authority))
            .cloned()
            .unwrap_or_else(|| format!("jwt-provider-cluster-{host_port}"))
    }
}

impl ApiKeys {
    /// `"unchecked"` or `{"sha256": ["<64 hex digits>", ...]}`.
    fn parse(value: &Value) -> Result<Self, ConfigError> {
        let expected = "expected \"unchecked\" or {\"sha256\": [\"<hex SHA-256 of a key>\", ...]}";
        match value {
            Value::String(text) if text == "unchecked" => Ok(Self::Unchecked),
            Value::Object(members) => {
                if let Some(other) = members.keys().find(|k| *k != "sha256") {
                    return Err(ConfigError::unknown_field(
                        format!("api_keys.{other}"),
                        None,
                    ));
                }
                let Some(Value::Array(items)) = members.get("sha256") else {
                    return Err(ConfigError::expected(
                        "api_keys.sha256",
                        "a list of digests",
                    ));
                };
                if items.is_empty() {
                    return Err(ConfigError::invalid(
                        "api_keys.sha256",
                        "lists no digest (\"unchecked\" lets requests through without a key)",
                    ));
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        item.as_str()
                            .filter(|text| crate::policy::api_key::parse_digest(text).is_some())
                            .map(str::to_ascii_lowercase)
                            .ok_or_else(|| {
                                ConfigError::expected(
                                    format!("api_keys.sha256[{index}]"),
                                    "the hex SHA-256 digest of a key (64 digits)",
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Self::Digests)
            }
            _ => Err(ConfigError::invalid("api_keys", expected)),
        }
    }
}

fn string_map(value: &Value, name: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let Value::Object(entries) = value else {
        return Err(ConfigError::expected(name, "an object of strings"));
    };
    entries
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key.clone(), text.clone())),
            _ => Err(ConfigError::expected(format!("{name}.{key}"), "a string")),
        })
        .collect()
}

/// The document, checked to be OpenAPI 2.0.
struct Document<'a> {
    root: &'a Map<String, Value>,
    /// `host`: the service name.
    host: Option<&'a str>,
    /// `basePath` without a trailing `/`.
    base_path: String,
}

impl<'a> Document<'a> {
    fn new(value: &'a Value) -> Result<Self, ConfigError> {
        let Value::Object(root) = value else {
            return Err(ConfigError::expected(
                "openapi",
                "the OpenAPI 2.0 document as a JSON object",
            ));
        };
        match root.get("swagger") {
            Some(Value::String(version)) if version == "2.0" => {}
            _ if root.contains_key("openapi") => {
                return Err(ConfigError::invalid(
                    "openapi.openapi",
                    "OpenAPI 3 documents are not supported yet: give the OpenAPI 2.0 (swagger: \"2.0\") document Cloud Endpoints and API Gateway use",
                ))
            }
            _ => {
                return Err(ConfigError::expected("openapi.swagger", "\"2.0\": an OpenAPI 2.0 document"))
            }
        }
        let host = match root.get("host") {
            None => None,
            Some(Value::String(host)) if !host.is_empty() => Some(host.as_str()),
            Some(_) => return Err(ConfigError::expected("openapi.host", "the service name")),
        };
        let base_path = match root.get("basePath") {
            None => String::new(),
            Some(Value::String(base)) if base.starts_with('/') => {
                base.trim_end_matches('/').to_owned()
            }
            Some(_) => {
                return Err(ConfigError::expected(
                    "openapi.basePath",
                    "a path starting with '/'",
                ))
            }
        };
        extensions::check(root, Place::Root, "openapi")?;
        Ok(Self {
            root,
            host,
            base_path,
        })
    }

    /// Every `securityDefinitions` entry as a scheme; the JWT ones (`type: oauth2` with
    /// `x-google-issuer`) also as providers.
    fn definitions(
        &self,
        options: &mut Options,
    ) -> Result<(Vec<Definition>, BTreeMap<String, Scheme>), ConfigError> {
        let mut out = Vec::new();
        let mut schemes = BTreeMap::new();
        let definitions = match self.root.get("securityDefinitions") {
            None => return Ok((out, schemes)),
            Some(Value::Object(definitions)) => definitions,
            Some(_) => {
                return Err(ConfigError::expected(
                    "openapi.securityDefinitions",
                    "an object",
                ))
            }
        };
        let mut issuers: BTreeMap<String, String> = BTreeMap::new();
        for (name, definition) in definitions {
            let path = format!("openapi.securityDefinitions.{name}");
            let Value::Object(definition) = definition else {
                return Err(ConfigError::expected(path, "an object"));
            };
            let scheme = match definition.get("type").and_then(Value::as_str) {
                Some("oauth2") => Scheme::Jwt,
                Some("apiKey") => Scheme::ApiKey(security::api_key_locations(definition, &path)?),
                Some("basic") => Scheme::Basic,
                _ => {
                    return Err(ConfigError::expected(
                        format!("{path}.type"),
                        "\"oauth2\", \"apiKey\" or \"basic\"",
                    ))
                }
            };
            let is_jwt = matches!(scheme, Scheme::Jwt);
            let place = if is_jwt {
                Place::JwtDefinition
            } else {
                Place::OtherDefinition
            };
            extensions::check(definition, place, &path)?;
            schemes.insert(name.clone(), scheme);
            if !is_jwt {
                continue;
            }
            out.push(self.provider(name, definition, &path, options, &mut issuers)?);
        }
        Ok((out, schemes))
    }

    /// A JWT definition as jwt_authn's provider, with ESPv2's defaults: the token forwarded,
    /// the payload in `X-Endpoint-API-UserInfo`. `issuers` maps each issuer seen to its
    /// definition: one issuer, one definition.
    fn provider(
        &self,
        name: &str,
        definition: &Map<String, Value>,
        path: &str,
        options: &mut Options,
        issuers: &mut BTreeMap<String, String>,
    ) -> Result<Definition, ConfigError> {
        let (issuer_name, issuer) = legacy(definition, "x-google-issuer", "x-issuer", path)?;
        let issuer = match issuer {
            Some(Value::String(issuer)) if !issuer.is_empty() => issuer.clone(),
            _ => {
                return Err(ConfigError::required(
                    format!("{path}.{issuer_name}"),
                    "is required (the issuer whose tokens this definition accepts)",
                ))
            }
        };
        if let Some(other) = issuers.insert(issuer.clone(), name.to_owned()) {
            return Err(ConfigError::invalid(
                format!("{path}.x-google-issuer"),
                format!("{issuer:?} is also the issuer of {other:?}: each definition needs its own issuer"),
            ));
        }
        let provider = JwtProvider {
            audiences: self
                .audiences(definition, path, options.audience_check)?
                .unwrap_or_default(),
            jwks_source: Some(self.keys(definition, &issuer, path, options)?),
            forward: true,
            forward_payload_header: format!("{}API-UserInfo", options.header_prefix),
            pad_forward_payload_header: options.pad_user_info,
            forward_payload_header_format: options.esp_v1_user_info.then_some(PayloadFormat::EspV1),
            jwt_cache_config: Some(JwtCacheConfig {
                jwt_cache_size: options.jwt_cache_size,
                jwt_max_token_size: 0,
            }),
            issuer,
            ..locations(definition, path)?
        };
        Ok(Definition {
            name: name.to_owned(),
            provider,
        })
    }

    /// The operations, sorted in ESPv2's route order: literal segments before variables before
    /// `**`, then by method.
    fn operations(
        &self,
        schemes: &BTreeMap<String, Scheme>,
    ) -> Result<Vec<Operation>, ConfigError> {
        let top_security = self
            .root
            .get("security")
            .map(|list| security::alternatives(list, "openapi.security", schemes))
            .transpose()?
            .flatten();
        let top_x_security = self
            .root
            .get("x-security")
            .map(|list| security::x_security(list, "openapi.x-security", schemes))
            .transpose()?;
        let allow_cors = self.allow_cors()?;
        let Some(Value::Object(paths)) = self.root.get("paths") else {
            return Err(ConfigError::expected("openapi.paths", "an object of paths"));
        };
        extensions::check(paths, Place::Paths, "openapi.paths")?;
        let mut operations = Vec::new();
        for (path, item) in paths {
            // `x-` extensions live beside the paths (checked above).
            if !path.starts_with('/') && path.starts_with("x-") {
                continue;
            }
            let top = (&top_security, &top_x_security);
            operations.extend(self.path_operations(path, item, schemes, top, allow_cors)?);
        }
        operations.sort_by(|a, b| {
            a.template
                .specificity()
                .cmp(&b.template.specificity())
                .then_with(|| a.method.cmp(&b.method))
        });
        Ok(operations)
    }

    /// The operations of one path item: one per method, and with `allowCors` an
    /// unauthenticated OPTIONS where the item has none (as ESPv2 adds it).
    fn path_operations(
        &self,
        path: &str,
        item: &Value,
        schemes: &BTreeMap<String, Scheme>,
        top: (
            &Option<security::Alternatives>,
            &Option<security::Alternatives>,
        ),
        allow_cors: bool,
    ) -> Result<Vec<Operation>, ConfigError> {
        let item_path = format!("openapi.paths.{path}");
        if !path.starts_with('/') {
            return Err(ConfigError::invalid(
                item_path,
                "a path must start with '/'",
            ));
        }
        let Value::Object(item) = item else {
            return Err(ConfigError::expected(item_path, "an object"));
        };
        if item.contains_key("$ref") {
            return Err(ConfigError::invalid(
                format!("{item_path}.$ref"),
                "path items by reference are not supported: write the operations inline",
            ));
        }
        extensions::check(item, Place::PathItem, &item_path)?;
        let template_text = format!("{}{}", self.base_path, path);
        let template = PathTemplate::parse(&template_text)
            .map_err(|why| ConfigError::invalid(item_path.clone(), why))?;
        let mut operations = Vec::new();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let operation_path = format!("{item_path}.{method}");
            let Value::Object(operation) = operation else {
                return Err(ConfigError::expected(operation_path, "an object"));
            };
            extensions::check(operation, Place::Operation, &operation_path)?;
            let method = method.to_ascii_uppercase();
            let label = match operation.get("operationId").and_then(Value::as_str) {
                Some(id) => format!("{method} {template_text} ({id})"),
                None => format!("{method} {template_text}"),
            };
            let requirement = operation_requirement(operation, &operation_path, schemes, top)?;
            operations.push(Operation {
                template: template.clone(),
                template_text: template_text.clone(),
                method,
                path: operation_path,
                label,
                requirement,
            });
        }
        if allow_cors && !item.contains_key("options") {
            operations.push(Operation {
                template,
                template_text: template_text.clone(),
                method: "OPTIONS".to_owned(),
                path: format!("{item_path}.options"),
                label: format!("OPTIONS {template_text}"),
                requirement: Requirement::default(),
            });
        }
        Ok(operations)
    }

    /// Whether an `x-google-backend` (top level or on an operation) makes ESPv2 replace
    /// `Authorization` with a backend token.
    fn moves_authorization(&self) -> bool {
        let operations = match self.root.get("paths") {
            Some(Value::Object(paths)) => paths
                .values()
                .filter_map(Value::as_object)
                .flat_map(|item| METHODS.iter().filter_map(|m| item.get(*m)))
                .collect(),
            _ => Vec::new(),
        };
        backend_auth(self.root.get("x-google-backend"))
            || operations
                .iter()
                .any(|operation| backend_auth(operation.get("x-google-backend")))
    }

    /// `x-google-audiences` (comma-separated, trimmed), else `https://SERVICE_NAME` (unless
    /// `disable_jwt_audience_service_name_check`: then no audience check).
    fn audiences(
        &self,
        definition: &Map<String, Value>,
        path: &str,
        default_check: bool,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        match definition.get("x-google-audiences") {
            Some(Value::String(list)) => {
                let audiences: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect();
                if audiences.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{path}.x-google-audiences"),
                        "lists no audience",
                    ));
                }
                Ok(Some(audiences))
            }
            Some(_) => Err(ConfigError::expected(format!("{path}.x-google-audiences"), "a comma-separated string")),
            None if !default_check => Ok(None),
            None => match self.host {
                Some(host) => Ok(Some(vec![format!("https://{host}")])),
                None => Err(ConfigError::invalid(
                    format!("{path}.x-google-audiences"),
                    "is required when the document has no host (the default audience is https://<host>)",
                )),
            },
        }
    }

    /// `x-google-jwks_uri` (or OpenID discovery), from `local_jwks` when it has the URI.
    fn keys(
        &self,
        definition: &Map<String, Value>,
        issuer: &str,
        path: &str,
        options: &mut Options,
    ) -> Result<JwksSource, ConfigError> {
        let (jwks_name, jwks_value) = legacy(definition, "x-google-jwks_uri", "x-jwks_uri", path)?;
        let jwks_path = format!("{path}.{jwks_name}");
        let jwks_uri = match jwks_value {
            None => None,
            Some(Value::String(uri)) if uri.is_empty() => None,
            Some(Value::String(uri)) => Some(
                HttpUri::parse(uri).map_err(|why| ConfigError::invalid(jwks_path.clone(), why))?,
            ),
            Some(_) => return Err(ConfigError::expected(jwks_path, "a URI")),
        };
        match jwks_uri {
            Some(uri) => {
                if let Some(body) = options.local_jwks.remove(&uri.uri) {
                    check_key_set(&body, &uri.uri)?;
                    return Ok(JwksSource::LocalJwks(DataSource::InlineString(body)));
                }
                Ok(options.remote_jwks(&uri, uri.uri.clone()))
            }
            None => {
                if !issuer.starts_with("http://") && !issuer.starts_with("https://") {
                    return Err(ConfigError::invalid(
                        jwks_path,
                        format!(
                            "is required: the issuer {issuer:?} is not a URL to discover keys from"
                        ),
                    ));
                }
                let discovery = crate::keys::remote::discovery_uri(issuer).map_err(|why| {
                    ConfigError::invalid(
                        jwks_path.clone(),
                        format!("absent, and OpenID discovery is impossible: {why}"),
                    )
                })?;
                if let Some(document) = options.local_jwks.remove(&discovery.uri) {
                    // OpenID Connect Discovery §4.3, as for a fetched document (src/keys/remote.rs).
                    let found = parse_discovery(document.as_bytes(), &Limits::DEFAULT)
                        .and_then(|found| found.issuer_checked(issuer))
                        .map_err(|why| {
                            ConfigError::invalid(
                                format!("local_jwks.{}", discovery.uri),
                                why.to_string(),
                            )
                        })?;
                    let body = options
                        .local_jwks
                        .remove(&found.jwks_uri.uri)
                        .ok_or_else(|| {
                            ConfigError::invalid(
                                format!("local_jwks.{}", discovery.uri),
                                format!(
                                    "names jwks_uri {:?}, which local_jwks does not have",
                                    found.jwks_uri.uri
                                ),
                            )
                        })?;
                    check_key_set(&body, &found.jwks_uri.uri)?;
                    return Ok(JwksSource::LocalJwks(DataSource::InlineString(body)));
                }
                // No URI: the filter discovers it from the issuer.
                Ok(options.remote_jwks(&discovery, String::new()))
            }
        }
    }

    /// `x-google-endpoints: [{name, allowCors: true}]`.
    fn allow_cors(&self) -> Result<bool, ConfigError> {
        match self.root.get("x-google-endpoints") {
            None => Ok(false),
            Some(Value::Array(endpoints)) => Ok(endpoints
                .iter()
                .any(|endpoint| endpoint.get("allowCors").and_then(Value::as_bool) == Some(true))),
            Some(_) => Err(ConfigError::expected(
                "openapi.x-google-endpoints",
                "a list",
            )),
        }
    }

    /// `x-google-allow: all` lets paths the document does not list through.
    fn x_google_allow_all(&self) -> Result<bool, ConfigError> {
        match self.root.get("x-google-allow") {
            None => Ok(false),
            Some(Value::String(value)) if value == "all" => Ok(true),
            Some(Value::String(value)) if value == "configured" => Ok(false),
            Some(_) => Err(ConfigError::expected(
                "openapi.x-google-allow",
                "\"all\" or \"configured\"",
            )),
        }
    }
}

/// A `local_jwks` body that must be a usable key set; the error names its entry.
fn check_key_set(body: &str, uri: &str) -> Result<(), ConfigError> {
    crate::keys::KeySet::parse(body.as_bytes(), &Limits::DEFAULT)
        .map(|_| ())
        .map_err(|why| ConfigError::invalid(format!("local_jwks.{uri}"), why.to_string()))
}

/// `x-google-jwt-locations` (they replace the defaults), else ESPv2's defaults:
/// `Authorization: Bearer`, `X-Goog-Iap-Jwt-Assertion`, `?access_token=`; as a provider with
/// only its locations set.
fn locations(definition: &Map<String, Value>, path: &str) -> Result<JwtProvider, ConfigError> {
    let mut out = JwtProvider::default();
    let header = |name: &str, value_prefix: &str| JwtHeader {
        name: name.to_owned(),
        value_prefix: value_prefix.to_owned(),
    };
    let list = match definition.get("x-google-jwt-locations") {
        None => {
            out.from_headers = vec![
                header("Authorization", "Bearer "),
                header("X-Goog-Iap-Jwt-Assertion", ""),
            ];
            out.from_params = vec!["access_token".to_owned()];
            return Ok(out);
        }
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(ConfigError::expected(
                format!("{path}.x-google-jwt-locations"),
                "a list of {header, value_prefix} or {query} objects",
            ))
        }
    };
    for (index, location) in list.iter().enumerate() {
        let at = format!("{path}.x-google-jwt-locations[{index}]");
        let Value::Object(location) = location else {
            return Err(ConfigError::expected(at, "an object"));
        };
        let text = |name: &str| match location.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
            Some(_) => Err(ConfigError::expected(
                format!("{at}.{name}"),
                "a non-empty string",
            )),
        };
        match (text("header")?, text("query")?, text("cookie")?) {
            (Some(name), None, None) => {
                if !crate::config::is_header_name(&name) {
                    return Err(ConfigError::expected(
                        format!("{at}.header"),
                        "a header name",
                    ));
                }
                let value_prefix = text("value_prefix")?.unwrap_or_default();
                out.from_headers.push(JwtHeader { name, value_prefix });
            }
            (None, Some(query), None) => out.from_params.push(query),
            (None, None, Some(cookie)) => out.from_cookies.push(cookie),
            _ => {
                return Err(ConfigError::invalid(
                    at,
                    "give exactly one of header, query or cookie",
                ))
            }
        }
    }
    if out.from_headers.is_empty() && out.from_params.is_empty() && out.from_cookies.is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.x-google-jwt-locations"),
            "lists no location",
        ));
    }
    Ok(out)
}

/// An operation's requirement. Its own `security` replaces the top level's; ESP's legacy
/// `x-security` (its own, or else the top level's when it has no `security` either) adds JWT
/// requirements that hold together with the API keys `security` asks for, as in ESP, where the
/// key check and the token check were separate.
fn operation_requirement(
    operation: &Map<String, Value>,
    path: &str,
    schemes: &BTreeMap<String, Scheme>,
    (top_security, top_x_security): (
        &Option<security::Alternatives>,
        &Option<security::Alternatives>,
    ),
) -> Result<Requirement, ConfigError> {
    let own_security = operation
        .get("security")
        .map(|list| security::alternatives(list, &format!("{path}.security"), schemes))
        .transpose()?;
    let own_x_security = operation
        .get("x-security")
        .map(|list| security::x_security(list, &format!("{path}.x-security"), schemes))
        .transpose()?;
    let x_security = match (&own_security, &own_x_security) {
        (None, None) => top_x_security.clone(),
        _ => own_x_security,
    };
    let security = own_security.unwrap_or_else(|| top_security.clone());
    let Some(x_security) = x_security else {
        return Ok(Requirement::new(security.into_iter().collect()));
    };
    // ESP read JWT schemes from both lists as alternatives, API keys from `security` alone:
    // beside x-security, a `security` that names JWT schemes means two different things.
    let names_jwt = security
        .iter()
        .flatten()
        .flatten()
        .any(|need| matches!(need, security::Need::Jwt { .. }));
    if names_jwt {
        return Err(ConfigError::invalid(
            format!("{path}.x-security"),
            "ESP's legacy x-security beside a security list that names JWT schemes: write every requirement in security (x-security's audiences become the definitions' x-google-audiences)",
        ));
    }
    Ok(Requirement::new(
        std::iter::once(x_security).chain(security).collect(),
    ))
}

/// The member `current` or its legacy name (Google's api-compiler reads either, and refuses
/// both); which one, and its value.
fn legacy<'v>(
    definition: &'v Map<String, Value>,
    current: &'static str,
    old: &'static str,
    path: &str,
) -> Result<(&'static str, Option<&'v Value>), ConfigError> {
    match (definition.get(current), definition.get(old)) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            format!("{path}.{old}"),
            format!("give {current} only ({old} is ESP's legacy name for it)"),
        )),
        (None, Some(value)) => Ok((old, Some(value))),
        (value, None) => Ok((current, value)),
    }
}

/// Whether an `x-google-backend` makes ESPv2 replace `Authorization` with a backend token (and
/// move the caller's to `X-Forwarded-Authorization`): an `address` without `disable_auth`.
fn backend_auth(backend: Option<&Value>) -> bool {
    backend.is_some_and(|backend| {
        backend.get("address").is_some()
            && backend.get("disable_auth").and_then(Value::as_bool) != Some(true)
    })
}

#[cfg(test)]
impl Translation {
    /// The configuration as the command line prints it.
    fn json(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
