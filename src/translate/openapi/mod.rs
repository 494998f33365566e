//! OpenAPI 2.0 as the plugin configuration: `{"openapi": <document>, ...options}` is translated
//! into jwt_authn's form the way Google Service Management plus ESPv2 do it (the document's
//! `securityDefinitions` become providers, each operation's `security` becomes a rule on its
//! method and path template, requests outside the document get ESPv2's 404 or 405), with
//! ESPv2's defaults: the token is forwarded, the backend gets `X-Endpoint-API-UserInfo`,
//! failures are `{"code":401,"message":"Jwt is missing"}`.
//!
//! Pure: the result is a [`serde_json::Value`] in jwt_authn's form (what `jwt-gate from-openapi`
//! prints), compiled by the same parser as any other configuration, and the warnings the
//! translation owes its user. Every error names the place in the document:
//! `openapi.paths./v1/shelves.get.security[0]: "api" is not in securityDefinitions`. Nothing
//! the document asks for is dropped silently: an API key is checked (`api_keys`), let through
//! by an explicit and logged choice (`"api_keys": "unchecked"`), or the document is refused.

mod extensions;
mod security;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

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
    pub config: Value,
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
    failure_response_format: String,
    api_keys: Option<ApiKeys>,
    passthrough: Map<String, Value>,
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
    provider: Value,
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
        return Err(ConfigError::new("", "expected an object"));
    };
    if let Some(Value::String(version)) = members.get("openapi") {
        return Err(ConfigError::new(
            "openapi",
            format!("this is an OpenAPI {version} document: OpenAPI 3 is not supported yet; give the OpenAPI 2.0 (swagger: \"2.0\") document Cloud Endpoints and API Gateway use"),
        ));
    }
    let mut options = Options::parse(members)?;
    let document = members
        .get("openapi")
        .ok_or_else(|| ConfigError::new("openapi", "the OpenAPI document is required"))?;
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
        return Err(ConfigError::new(
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

    // Two operations on the same pattern and method (`/x/{id}` and `/x/{name}`): which one
    // applies would depend on variable names. ESPv2 refuses them too.
    for pair in operations.windows(2) {
        if let [first, second] = pair {
            if first.method == second.method && first.template.same_pattern(&second.template) {
                return Err(ConfigError::new(
                    format!("openapi.paths.{}", second.template_text),
                    format!(
                        "{} {} and {} {} are the same operation",
                        first.method, first.template_text, second.method, second.template_text
                    ),
                ));
            }
        }
    }
    let mut rules: Vec<Value> = operations
        .iter()
        .map(|operation| {
            let mut rule = json!({
                "match": {
                    "path_template": operation.template_text,
                    "headers": [{"name": ":method", "string_match": {"exact": operation.method}}],
                },
            });
            if let (Some(required), Value::Object(rule)) =
                (operation.requirement.to_json(), &mut rule)
            {
                rule.insert("requires".to_owned(), required);
            }
            rule
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
        rules.extend(not_allowed_rules(&operations));
    }
    if let Some(uri) = options.local_jwks.keys().next() {
        return Err(ConfigError::new(
            format!("local_jwks.{uri}"),
            "is the key set of no securityDefinition (the key must be its x-google-jwks_uri, or its OpenID discovery URI)",
        ));
    }

    let mut providers = Map::new();
    for definition in definitions {
        providers.insert(definition.name, definition.provider);
    }
    let mut out = Map::new();
    out.insert("providers".to_owned(), Value::Object(providers));
    if !used_keys.is_empty() {
        let mut api_keys = Map::new();
        for name in &used_keys {
            let entry = match (&options.api_keys, schemes.get(*name)) {
                (Some(ApiKeys::Digests(digests)), Some(Scheme::ApiKey(locations))) => {
                    let mut entry = locations.clone();
                    entry.insert("sha256".to_owned(), json!(digests));
                    Value::Object(entry)
                }
                _ => Value::String("unchecked".to_owned()),
            };
            api_keys.insert((*name).to_owned(), entry);
        }
        out.insert("api_keys".to_owned(), Value::Object(api_keys));
    }
    out.insert("rules".to_owned(), Value::Array(rules));
    out.insert(
        "failure_response_format".to_owned(),
        Value::String(options.failure_response_format.clone()),
    );
    // ESPv2's header sanitizer: `X-HTTP-Method-Override` becomes the method before routing.
    out.insert("http_method_override".to_owned(), Value::Bool(true));
    if options
        .x_forwarded_authorization
        .unwrap_or(document.moves_authorization())
    {
        out.insert("x_forwarded_authorization".to_owned(), Value::Bool(true));
    }
    out.extend(options.passthrough);
    Ok(Translation {
        config: Value::Object(out),
        warnings,
    })
}

/// ESPv2's routes after the operations' (`routegen/deny_invalid_method.go`, `deny_all.go`): a
/// known template with another method is 405, anything else 404.
fn not_allowed_rules(operations: &[Operation]) -> Vec<Value> {
    let mut seen: Vec<&PathTemplate> = Vec::new();
    let mut rules = Vec::new();
    for operation in operations {
        if seen.iter().any(|t| t.same_pattern(&operation.template)) {
            continue;
        }
        seen.push(&operation.template);
        rules.push(json!({
            "match": {"path_template": operation.template_text},
            "deny": {"status": 405, "message": format!(
                "The current request is matched to the defined url template \"{}\" but its http method is not allowed",
                operation.template_text
            )},
        }));
    }
    rules.push(json!({"match": {"prefix": "/"}, "deny": {"status": 404, "message": NOT_DEFINED}}));
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
            Err(ConfigError::new(
                "openapi",
                format!(
                    "{listed} {verb} {noun} {}, which jwt-gate cannot check; set \"api_keys\" (see docs/openapi.md)",
                    keys.join(", ")
                ),
            ))
        }
        None => Ok(()),
        Some(_) if used_keys.is_empty() => Err(ConfigError::new(
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
            failure_response_format: "json".to_owned(),
            api_keys: None,
            passthrough: Map::new(),
        };
        for (name, value) in members {
            let bool_value = || {
                value
                    .as_bool()
                    .ok_or_else(|| ConfigError::new(name.clone(), "expected true or false"))
            };
            let string_value = || {
                value
                    .as_str()
                    .ok_or_else(|| ConfigError::new(name.clone(), "expected a string"))
            };
            let u64_value = || {
                value
                    .as_u64()
                    .ok_or_else(|| ConfigError::new(name.clone(), "expected a whole number"))
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
                        _ => {
                            return Err(ConfigError::new(
                                name.clone(),
                                "expected \"espv2\" or \"esp_v1\"",
                            ))
                        }
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
                    string_value()?.clone_into(&mut options.failure_response_format);
                }
                "api_keys" => options.api_keys = Some(ApiKeys::parse(value)?),
                "stat_prefix" | "signature_verifier" | "strip_failure_response" => {
                    options.passthrough.insert(name.clone(), value.clone());
                }
                _ => {
                    return Err(ConfigError::new(
                        name.clone(),
                        "unknown field next to openapi (see docs/openapi.md for the options)",
                    ))
                }
            }
        }
        Ok(options)
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
                    return Err(ConfigError::new(
                        format!("api_keys.{other}"),
                        "unknown field",
                    ));
                }
                let Some(Value::Array(items)) = members.get("sha256") else {
                    return Err(ConfigError::new(
                        "api_keys.sha256",
                        "expected a list of digests",
                    ));
                };
                if items.is_empty() {
                    return Err(ConfigError::new(
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
                                ConfigError::new(
                                    format!("api_keys.sha256[{index}]"),
                                    "expected the hex SHA-256 digest of a key (64 digits)",
                                )
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Self::Digests)
            }
            _ => Err(ConfigError::new("api_keys", expected)),
        }
    }
}

fn string_map(value: &Value, name: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let Value::Object(entries) = value else {
        return Err(ConfigError::new(name, "expected an object of strings"));
    };
    entries
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key.clone(), text.clone())),
            _ => Err(ConfigError::new(
                format!("{name}.{key}"),
                "expected a string",
            )),
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
            return Err(ConfigError::new(
                "openapi",
                "expected the OpenAPI 2.0 document as a JSON object",
            ));
        };
        match root.get("swagger") {
            Some(Value::String(version)) if version == "2.0" => {}
            _ if root.contains_key("openapi") => {
                return Err(ConfigError::new(
                    "openapi.openapi",
                    "OpenAPI 3 documents are not supported yet: give the OpenAPI 2.0 (swagger: \"2.0\") document Cloud Endpoints and API Gateway use",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    "openapi.swagger",
                    "expected \"2.0\": an OpenAPI 2.0 document",
                ))
            }
        }
        let host = match root.get("host") {
            None => None,
            Some(Value::String(host)) if !host.is_empty() => Some(host.as_str()),
            Some(_) => {
                return Err(ConfigError::new(
                    "openapi.host",
                    "expected the service name",
                ))
            }
        };
        let base_path = match root.get("basePath") {
            None => String::new(),
            Some(Value::String(base)) if base.starts_with('/') => {
                base.trim_end_matches('/').to_owned()
            }
            Some(_) => {
                return Err(ConfigError::new(
                    "openapi.basePath",
                    "expected a path starting with '/'",
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
                return Err(ConfigError::new(
                    "openapi.securityDefinitions",
                    "expected an object",
                ))
            }
        };
        let mut issuers: BTreeMap<String, String> = BTreeMap::new();
        for (name, definition) in definitions {
            let path = format!("openapi.securityDefinitions.{name}");
            let Value::Object(definition) = definition else {
                return Err(ConfigError::new(path, "expected an object"));
            };
            let scheme = match definition.get("type").and_then(Value::as_str) {
                Some("oauth2") => Scheme::Jwt,
                Some("apiKey") => Scheme::ApiKey(security::api_key_locations(definition, &path)?),
                Some("basic") => Scheme::Basic,
                _ => {
                    return Err(ConfigError::new(
                        format!("{path}.type"),
                        "expected \"oauth2\", \"apiKey\" or \"basic\"",
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
            let (issuer_name, issuer) = legacy(definition, "x-google-issuer", "x-issuer", &path)?;
            let issuer = match issuer {
                Some(Value::String(issuer)) if !issuer.is_empty() => issuer.clone(),
                _ => {
                    return Err(ConfigError::new(
                        format!("{path}.{issuer_name}"),
                        "is required (the issuer whose tokens this definition accepts)",
                    ))
                }
            };
            if let Some(other) = issuers.insert(issuer.clone(), name.clone()) {
                return Err(ConfigError::new(
                    format!("{path}.x-google-issuer"),
                    format!("{issuer:?} is also the issuer of {other:?}: each definition needs its own issuer"),
                ));
            }
            let mut provider = Map::new();
            provider.insert("issuer".to_owned(), Value::String(issuer.clone()));
            if let Some(audiences) = self.audiences(definition, &path, options.audience_check)? {
                provider.insert("audiences".to_owned(), json!(audiences));
            }
            let keys = self.keys(definition, &issuer, &path, options)?;
            provider.extend(keys);
            provider.extend(locations(definition, &path)?);
            provider.insert("forward".to_owned(), Value::Bool(true));
            provider.insert(
                "forward_payload_header".to_owned(),
                Value::String(format!("{}API-UserInfo", options.header_prefix)),
            );
            if options.pad_user_info {
                provider.insert("pad_forward_payload_header".to_owned(), Value::Bool(true));
            }
            if options.esp_v1_user_info {
                provider.insert(
                    "forward_payload_header_format".to_owned(),
                    Value::String("esp_v1".to_owned()),
                );
            }
            provider.insert(
                "jwt_cache_config".to_owned(),
                json!({"jwt_cache_size": options.jwt_cache_size}),
            );
            out.push(Definition {
                name: name.clone(),
                provider: Value::Object(provider),
            });
        }
        Ok((out, schemes))
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
            return Err(ConfigError::new(
                "openapi.paths",
                "expected an object of paths",
            ));
        };
        extensions::check(paths, Place::Paths, "openapi.paths")?;
        let mut operations = Vec::new();
        for (path, item) in paths {
            if !path.starts_with('/') {
                // `x-` extensions live beside the paths (checked above).
                if path.starts_with("x-") {
                    continue;
                }
                return Err(ConfigError::new(
                    format!("openapi.paths.{path}"),
                    "a path must start with '/'",
                ));
            }
            let item_path = format!("openapi.paths.{path}");
            let Value::Object(item) = item else {
                return Err(ConfigError::new(item_path, "expected an object"));
            };
            if item.contains_key("$ref") {
                return Err(ConfigError::new(
                    format!("{item_path}.$ref"),
                    "path items by reference are not supported: write the operations inline",
                ));
            }
            extensions::check(item, Place::PathItem, &item_path)?;
            let template_text = format!("{}{}", self.base_path, path);
            let template = PathTemplate::parse(&template_text)
                .map_err(|why| ConfigError::new(item_path.clone(), why))?;
            for method in METHODS {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let operation_path = format!("{item_path}.{method}");
                let Value::Object(operation) = operation else {
                    return Err(ConfigError::new(operation_path, "expected an object"));
                };
                extensions::check(operation, Place::Operation, &operation_path)?;
                let method = method.to_ascii_uppercase();
                let label = match operation.get("operationId").and_then(Value::as_str) {
                    Some(id) => format!("{method} {template_text} ({id})"),
                    None => format!("{method} {template_text}"),
                };
                let requirement = operation_requirement(
                    operation,
                    &operation_path,
                    schemes,
                    (&top_security, &top_x_security),
                )?;
                operations.push(Operation {
                    template: template.clone(),
                    template_text: template_text.clone(),
                    method,
                    path: operation_path,
                    label,
                    requirement,
                });
            }
            // ESPv2 with `allowCors`: every path gets an unauthenticated OPTIONS method.
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
        }
        operations.sort_by(|a, b| {
            a.template
                .specificity()
                .cmp(&b.template.specificity())
                .then_with(|| a.method.cmp(&b.method))
        });
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
                    return Err(ConfigError::new(
                        format!("{path}.x-google-audiences"),
                        "lists no audience",
                    ));
                }
                Ok(Some(audiences))
            }
            Some(_) => Err(ConfigError::new(
                format!("{path}.x-google-audiences"),
                "expected a comma-separated string",
            )),
            None if !default_check => Ok(None),
            None => match self.host {
                Some(host) => Ok(Some(vec![format!("https://{host}")])),
                None => Err(ConfigError::new(
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
    ) -> Result<Map<String, Value>, ConfigError> {
        let mut out = Map::new();
        let (jwks_name, jwks_value) = legacy(definition, "x-google-jwks_uri", "x-jwks_uri", path)?;
        let jwks_path = format!("{path}.{jwks_name}");
        let jwks_uri = match jwks_value {
            None => None,
            Some(Value::String(uri)) if uri.is_empty() => None,
            Some(Value::String(uri)) => {
                Some(HttpUri::parse(uri).map_err(|why| ConfigError::new(jwks_path.clone(), why))?)
            }
            Some(_) => return Err(ConfigError::new(jwks_path, "expected a URI")),
        };
        match jwks_uri {
            Some(uri) => {
                if let Some(body) = options.local_jwks.remove(&uri.uri) {
                    check_key_set(&body, &uri.uri)?;
                    out.insert("local_jwks".to_owned(), json!({"inline_string": body}));
                } else {
                    out.insert(
                        "remote_jwks".to_owned(),
                        json!({
                            "http_uri": {"uri": uri.uri, "cluster": options.cluster(&uri), "timeout": "5s"},
                            "cache_duration": format!("{}s", options.jwks_cache_seconds),
                        }),
                    );
                }
            }
            None => {
                if !issuer.starts_with("http://") && !issuer.starts_with("https://") {
                    return Err(ConfigError::new(
                        jwks_path,
                        format!(
                            "is required: the issuer {issuer:?} is not a URL to discover keys from"
                        ),
                    ));
                }
                let discovery = crate::keys::remote::discovery_uri(issuer).map_err(|why| {
                    ConfigError::new(
                        jwks_path.clone(),
                        format!("absent, and OpenID discovery is impossible: {why}"),
                    )
                })?;
                if let Some(document) = options.local_jwks.remove(&discovery.uri) {
                    // OpenID Connect Discovery §4.3, as for a fetched document (src/keys/remote.rs).
                    let found = parse_discovery(document.as_bytes(), &Limits::DEFAULT)
                        .and_then(|found| found.issuer_checked(issuer))
                        .map_err(|why| {
                            ConfigError::new(
                                format!("local_jwks.{}", discovery.uri),
                                why.to_string(),
                            )
                        })?;
                    let body = options
                        .local_jwks
                        .remove(&found.jwks_uri.uri)
                        .ok_or_else(|| {
                            ConfigError::new(
                                format!("local_jwks.{}", discovery.uri),
                                format!(
                                    "names jwks_uri {:?}, which local_jwks does not have",
                                    found.jwks_uri.uri
                                ),
                            )
                        })?;
                    check_key_set(&body, &found.jwks_uri.uri)?;
                    out.insert("local_jwks".to_owned(), json!({"inline_string": body}));
                } else {
                    out.insert(
                        "remote_jwks".to_owned(),
                        json!({
                            "http_uri": {"cluster": options.cluster(&discovery), "timeout": "5s"},
                            "cache_duration": format!("{}s", options.jwks_cache_seconds),
                        }),
                    );
                }
            }
        }
        Ok(out)
    }

    /// `x-google-endpoints: [{name, allowCors: true}]`.
    fn allow_cors(&self) -> Result<bool, ConfigError> {
        match self.root.get("x-google-endpoints") {
            None => Ok(false),
            Some(Value::Array(endpoints)) => Ok(endpoints
                .iter()
                .any(|endpoint| endpoint.get("allowCors").and_then(Value::as_bool) == Some(true))),
            Some(_) => Err(ConfigError::new(
                "openapi.x-google-endpoints",
                "expected a list",
            )),
        }
    }

    /// `x-google-allow: all` lets paths the document does not list through.
    fn x_google_allow_all(&self) -> Result<bool, ConfigError> {
        match self.root.get("x-google-allow") {
            None => Ok(false),
            Some(Value::String(value)) if value == "all" => Ok(true),
            Some(Value::String(value)) if value == "configured" => Ok(false),
            Some(_) => Err(ConfigError::new(
                "openapi.x-google-allow",
                "expected \"all\" or \"configured\"",
            )),
        }
    }
}

/// A `local_jwks` body that must be a usable key set; the error names its entry.
fn check_key_set(body: &str, uri: &str) -> Result<(), ConfigError> {
    crate::keys::KeySet::parse(body.as_bytes(), &Limits::DEFAULT)
        .map(|_| ())
        .map_err(|why| ConfigError::new(format!("local_jwks.{uri}"), why.to_string()))
}

/// `x-google-jwt-locations` (they replace the defaults), else ESPv2's defaults:
/// `Authorization: Bearer`, `X-Goog-Iap-Jwt-Assertion`, `?access_token=`.
fn locations(
    definition: &Map<String, Value>,
    path: &str,
) -> Result<Map<String, Value>, ConfigError> {
    let mut headers = Vec::new();
    let mut params = Vec::new();
    let mut cookies = Vec::new();
    match definition.get("x-google-jwt-locations") {
        None => {
            headers.push(json!({"name": "Authorization", "value_prefix": "Bearer "}));
            headers.push(json!({"name": "X-Goog-Iap-Jwt-Assertion"}));
            params.push(json!("access_token"));
        }
        Some(Value::Array(list)) => {
            for (index, location) in list.iter().enumerate() {
                let at = format!("{path}.x-google-jwt-locations[{index}]");
                let Value::Object(location) = location else {
                    return Err(ConfigError::new(at, "expected an object"));
                };
                let text = |name: &str| match location.get(name) {
                    None => Ok(None),
                    Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
                    Some(_) => Err(ConfigError::new(
                        format!("{at}.{name}"),
                        "expected a non-empty string",
                    )),
                };
                match (text("header")?, text("query")?, text("cookie")?) {
                    (Some(header), None, None) => {
                        if !crate::config::is_header_name(&header) {
                            return Err(ConfigError::new(
                                format!("{at}.header"),
                                "expected a header name",
                            ));
                        }
                        let mut entry = json!({"name": header});
                        if let (Some(prefix), Value::Object(entry)) =
                            (text("value_prefix")?, &mut entry)
                        {
                            entry.insert("value_prefix".to_owned(), Value::String(prefix));
                        }
                        headers.push(entry);
                    }
                    (None, Some(query), None) => params.push(Value::String(query)),
                    (None, None, Some(cookie)) => cookies.push(Value::String(cookie)),
                    _ => {
                        return Err(ConfigError::new(
                            at,
                            "give exactly one of header, query or cookie",
                        ))
                    }
                }
            }
            if headers.is_empty() && params.is_empty() && cookies.is_empty() {
                return Err(ConfigError::new(
                    format!("{path}.x-google-jwt-locations"),
                    "lists no location",
                ));
            }
        }
        Some(_) => {
            return Err(ConfigError::new(
                format!("{path}.x-google-jwt-locations"),
                "expected a list of {header, value_prefix} or {query} objects",
            ))
        }
    }
    let mut out = Map::new();
    if !headers.is_empty() {
        out.insert("from_headers".to_owned(), Value::Array(headers));
    }
    if !params.is_empty() {
        out.insert("from_params".to_owned(), Value::Array(params));
    }
    if !cookies.is_empty() {
        out.insert("from_cookies".to_owned(), Value::Array(cookies));
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
        return Err(ConfigError::new(
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
        (Some(_), Some(_)) => Err(ConfigError::new(
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
mod tests;
