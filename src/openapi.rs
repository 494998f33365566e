//! OpenAPI 2.0 as the plugin configuration: `{"openapi": <document>, ...options}` is translated
//! into jwt_authn's form the way Google Service Management plus ESPv2 do it (the document's
//! `securityDefinitions` become providers, each operation's `security` becomes a rule on its
//! method and path template), with ESPv2's defaults: the token is forwarded, the backend gets
//! `X-Endpoint-API-UserInfo`, failures are `{"code":401,"message":"Jwt is missing"}`.
//!
//! Pure: the result is a [`serde_json::Value`] in jwt_authn's form (what `jwt-gate from-openapi`
//! prints), compiled by the same parser as any other configuration. Every error names the place
//! in the document: `openapi.paths./v1/shelves.get.security[0]: "api" is not in
//! securityDefinitions`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::config::{ConfigError, PathTemplate};
use crate::limits::Limits;
use crate::remote::{parse_discovery, HttpUri};

/// The operations (OpenAPI 2.0 `paths` item keys) that carry methods.
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// ESPv2's `--jwks_cache_duration_in_s` default.
const DEFAULT_JWKS_CACHE_SECONDS: u64 = 300;

/// ESPv2's `--jwt_cache_size` default.
const DEFAULT_JWT_CACHE_SIZE: u64 = 1000;

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
    passthrough: Map<String, Value>,
}

/// One JWT `securityDefinitions` entry, as jwt_authn's provider.
struct Definition {
    name: String,
    provider: Value,
}

/// Translates a plugin configuration with an `openapi` member into jwt_authn's form.
pub fn translate(config: &Value) -> Result<Value, ConfigError> {
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

    let definitions = document.definitions(&mut options)?;
    let jwt_names: BTreeSet<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
    let all_schemes = document.scheme_names();

    let top_security = document.root.get("security");
    let top_requirement = match top_security {
        Some(list) => requirement(list, "openapi.security", &jwt_names, &all_schemes)?,
        None => None,
    };
    let allow_cors = document.allow_cors()?;
    let mut operations = Vec::new();
    let mut moves_authorization = backend_auth(document.root.get("x-google-backend"));
    let Some(Value::Object(paths)) = document.root.get("paths") else {
        return Err(ConfigError::new(
            "openapi.paths",
            "expected an object of paths",
        ));
    };
    for (path, item) in paths {
        if !path.starts_with('/') {
            // `x-` extensions live beside the paths.
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
        let template_text = format!("{}{}", document.base_path, path);
        let template = PathTemplate::parse(&template_text)
            .map_err(|why| ConfigError::new(item_path.clone(), why))?;
        let mut has_options = false;
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            has_options |= method == "options";
            let operation_path = format!("{item_path}.{method}");
            let Value::Object(operation) = operation else {
                return Err(ConfigError::new(operation_path, "expected an object"));
            };
            moves_authorization |= backend_auth(operation.get("x-google-backend"));
            let required = match operation.get("security") {
                Some(list) => requirement(
                    list,
                    &format!("{operation_path}.security"),
                    &jwt_names,
                    &all_schemes,
                )?,
                None => top_requirement.clone(),
            };
            operations.push((
                template.clone(),
                template_text.clone(),
                method.to_ascii_uppercase(),
                required,
            ));
        }
        // ESPv2 with `allowCors`: every path gets an unauthenticated OPTIONS method.
        if allow_cors && !has_options {
            operations.push((template, template_text, "OPTIONS".to_owned(), None));
        }
    }
    // ESPv2's route order: literal segments before variables before `**`, then by method.
    operations.sort_by(|a, b| {
        a.0.specificity()
            .cmp(&b.0.specificity())
            .then_with(|| a.2.cmp(&b.2))
    });
    // Two operations on the same pattern and method (`/x/{id}` and `/x/{name}`): which one
    // applies would depend on variable names. ESPv2 refuses them too.
    for pair in operations.windows(2) {
        if let [first, second] = pair {
            if first.2 == second.2 && first.0.same_pattern(&second.0) {
                return Err(ConfigError::new(
                    format!("openapi.paths.{}", second.1),
                    format!(
                        "{} {} and {} {} are the same operation",
                        first.2, first.1, second.2, second.1
                    ),
                ));
            }
        }
    }
    let mut rules: Vec<Value> = operations
        .into_iter()
        .map(|(_, template, method, required)| {
            let mut rule = json!({
                "match": {
                    "path_template": template,
                    "headers": [{"name": ":method", "string_match": {"exact": method}}],
                },
            });
            if let (Some(required), Value::Object(rule)) = (required, &mut rule) {
                rule.insert("requires".to_owned(), required);
            }
            rule
        })
        .collect();
    let allow_unlisted = match options.allow_unlisted {
        Some(allow) => allow,
        None => document.x_google_allow_all()?,
    };
    if !allow_unlisted {
        // Fail closed: the top-level requirement, or without one a token of any definition.
        let required = top_requirement.or_else(|| match jwt_names.len() {
            0 => None,
            1 => jwt_names
                .iter()
                .next()
                .map(|name| json!({"provider_name": name})),
            _ => Some(json!({"requires_any": {"requirements": jwt_names
                .iter()
                .map(|name| json!({"provider_name": name}))
                .collect::<Vec<_>>()}})),
        });
        if let Some(required) = required {
            rules.push(json!({"match": {"prefix": "/"}, "requires": required}));
        }
    }
    if rules.iter().all(|rule| rule.get("requires").is_none()) {
        return Err(ConfigError::new(
            "openapi",
            "no operation requires a JWT (no security, or only non-JWT schemes): nothing for jwt-gate to check",
        ));
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
    out.insert("rules".to_owned(), Value::Array(rules));
    out.insert(
        "failure_response_format".to_owned(),
        Value::String(options.failure_response_format.clone()),
    );
    // ESPv2's header sanitizer: `X-HTTP-Method-Override` becomes the method before routing.
    out.insert("http_method_override".to_owned(), Value::Bool(true));
    if options
        .x_forwarded_authorization
        .unwrap_or(moves_authorization)
    {
        out.insert("x_forwarded_authorization".to_owned(), Value::Bool(true));
    }
    out.extend(options.passthrough);
    Ok(Value::Object(out))
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
        Ok(Self {
            root,
            host,
            base_path,
        })
    }

    fn scheme_names(&self) -> BTreeSet<&'a str> {
        match self.root.get("securityDefinitions") {
            Some(Value::Object(definitions)) => definitions.keys().map(String::as_str).collect(),
            _ => BTreeSet::new(),
        }
    }

    /// The JWT definitions (`type: oauth2` with `x-google-issuer`) as providers.
    fn definitions(&self, options: &mut Options) -> Result<Vec<Definition>, ConfigError> {
        let definitions = match self.root.get("securityDefinitions") {
            None => return Ok(Vec::new()),
            Some(Value::Object(definitions)) => definitions,
            Some(_) => {
                return Err(ConfigError::new(
                    "openapi.securityDefinitions",
                    "expected an object",
                ))
            }
        };
        let mut out = Vec::new();
        let mut issuers: BTreeMap<String, String> = BTreeMap::new();
        for (name, definition) in definitions {
            let path = format!("openapi.securityDefinitions.{name}");
            let Value::Object(definition) = definition else {
                return Err(ConfigError::new(path, "expected an object"));
            };
            // apiKey and basic schemes are Service Control's and the backend's business.
            if definition.get("type").and_then(Value::as_str) != Some("oauth2") {
                continue;
            }
            let issuer = match definition.get("x-google-issuer") {
                Some(Value::String(issuer)) if !issuer.is_empty() => issuer.clone(),
                _ => {
                    return Err(ConfigError::new(
                        format!("{path}.x-google-issuer"),
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
        Ok(out)
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
        let jwks_path = format!("{path}.x-google-jwks_uri");
        let jwks_uri = match definition.get("x-google-jwks_uri") {
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
                let discovery = crate::remote::discovery_uri(issuer).map_err(|why| {
                    ConfigError::new(
                        jwks_path.clone(),
                        format!("absent, and OpenID discovery is impossible: {why}"),
                    )
                })?;
                if let Some(document) = options.local_jwks.remove(&discovery.uri) {
                    // OpenID Connect Discovery §4.3, as for a fetched document (src/remote.rs).
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
    crate::jwks::KeySet::parse(body.as_bytes(), &Limits::DEFAULT)
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

/// A `security` list as a jwt_authn requirement: the objects are alternatives (OR), the JWT
/// schemes within one object are all required (AND); `[]` is no requirement. Alternatives of
/// only non-JWT schemes (API keys, which jwt-gate does not check) are left out: beside a JWT
/// alternative they would make the operation anonymous (Endpoints does not support OR with an
/// API key either); alone, the operation needs no JWT.
fn requirement(
    list: &Value,
    path: &str,
    jwt_names: &BTreeSet<&str>,
    all_schemes: &BTreeSet<&str>,
) -> Result<Option<Value>, ConfigError> {
    let Value::Array(alternatives) = list else {
        return Err(ConfigError::new(
            path,
            "expected a list of security requirements",
        ));
    };
    let mut any = Vec::new();
    for (index, alternative) in alternatives.iter().enumerate() {
        let at = format!("{path}[{index}]");
        let Value::Object(schemes) = alternative else {
            return Err(ConfigError::new(at, "expected an object"));
        };
        let mut all = Vec::new();
        for name in schemes.keys() {
            if jwt_names.contains(name.as_str()) {
                all.push(json!({"provider_name": name}));
            } else if !all_schemes.contains(name.as_str()) {
                return Err(ConfigError::new(
                    at,
                    format!("{name:?} is not in securityDefinitions"),
                ));
            }
        }
        match all.len() {
            0 => {}
            1 => any.extend(all),
            _ => any.push(json!({"requires_all": {"requirements": all}})),
        }
    }
    if any.is_empty() {
        return Ok(None);
    }
    Ok(Some(if any.len() == 1 {
        any.pop().unwrap_or_default()
    } else {
        json!({"requires_any": {"requirements": any}})
    }))
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
