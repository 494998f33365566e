//! OCI API Gateway's JWT policy, translated into jwt_authn's form (what `jwt-gate from-oci`
//! prints): a deployment's `requestPolicies.authentication` of type `JWT_AUTHENTICATION` (or
//! `TOKEN_AUTHENTICATION` with a JWKS or static-key validation policy) and its routes'
//! `authorization` (`AUTHENTICATION_ONLY`, `ANY_OF` scopes, `ANONYMOUS`).
//!
//! One provider per allowed issuer (OCI allows up to five), all sharing the keys, audiences,
//! `verifyClaims` and clock skew; routes become rules on their path and methods, and paths the
//! deployment does not list need a token (OCI answers 404 for them; jwt-gate fails closed).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::config::{ConfigError, PathTemplate};
use crate::jwks::{KeySet, PublicKey};
use crate::limits::Limits;
use crate::remote::HttpUri;

/// Translates an OCI deployment (`{"pathPrefix", "specification": {...}}`) or a bare deployment
/// specification (`{"requestPolicies", "routes"}`).
pub fn translate(deployment: &Value) -> Result<Value, ConfigError> {
    let (prefix, specification, at) = match deployment.get("specification") {
        Some(specification) => {
            let prefix = match deployment.get("pathPrefix") {
                None => "",
                Some(Value::String(prefix)) if prefix.starts_with('/') => {
                    prefix.trim_end_matches('/')
                }
                Some(_) => {
                    return Err(ConfigError::new(
                        "pathPrefix",
                        "expected a path starting with '/'",
                    ))
                }
            };
            (prefix, specification, "specification.")
        }
        None => ("", deployment, ""),
    };
    let policy_path = format!("{at}requestPolicies.authentication");
    let policy = specification
        .get("requestPolicies")
        .and_then(|p| p.get("authentication"))
        .ok_or_else(|| ConfigError::new(policy_path.clone(), "no authentication policy"))?;
    let policy = Policy::parse(policy, &policy_path)?;

    let mut providers = Map::new();
    for (index, issuer) in policy.issuers.iter().enumerate() {
        let name = if policy.issuers.len() == 1 {
            "oci".to_owned()
        } else {
            format!("oci_{}", index + 1)
        };
        let mut provider = policy.provider.clone();
        provider.insert("issuer".to_owned(), Value::String(issuer.clone()));
        providers.insert(name, Value::Object(provider));
    }
    let names: Vec<&String> = providers.keys().collect();
    let required = if names.len() == 1 {
        json!({"provider_name": names.first().map(|n| n.as_str()).unwrap_or_default()})
    } else {
        json!({"requires_any": {"requirements": names.iter().map(|n| json!({"provider_name": n})).collect::<Vec<_>>()}})
    };

    let mut rules = Vec::new();
    let routes_path = format!("{at}routes");
    let routes = match specification.get("routes") {
        None => Vec::new(),
        Some(Value::Array(routes)) => routes.iter().collect(),
        Some(_) => return Err(ConfigError::new(routes_path, "expected a list")),
    };
    for (index, route) in routes.into_iter().enumerate() {
        let route_path = format!("{routes_path}[{index}]");
        let path = route
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ConfigError::new(format!("{route_path}.path"), "is required"))?;
        let template = format!("{prefix}{}", template_of(path));
        let parsed = PathTemplate::parse(&template)
            .map_err(|why| ConfigError::new(format!("{route_path}.path"), why))?;
        let authorization = route
            .get("requestPolicies")
            .and_then(|p| p.get("authorization"));
        let (requires, scopes) = match authorization
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str)
        {
            None | Some("AUTHENTICATION_ONLY") => (Some(required.clone()), None),
            Some("ANY_OF") => {
                let scopes = authorization
                    .and_then(|a| a.get("allowedScope"))
                    .and_then(Value::as_array)
                    .filter(|s| !s.is_empty() && s.iter().all(Value::is_string))
                    .ok_or_else(|| {
                        ConfigError::new(
                            format!("{route_path}.requestPolicies.authorization.allowedScope"),
                            "ANY_OF needs a list of scopes",
                        )
                    })?;
                (Some(required.clone()), Some(scopes.clone()))
            }
            Some("ANONYMOUS") => {
                if !policy.anonymous_allowed {
                    return Err(ConfigError::new(
                        format!("{route_path}.requestPolicies.authorization.type"),
                        "ANONYMOUS needs isAnonymousAccessAllowed: true in the authentication policy",
                    ));
                }
                // A token, when present, is still verified so its claims reach the backend.
                (Some(json!({"allow_missing_or_failed": {}})), None)
            }
            Some(other) => {
                return Err(ConfigError::new(
                    format!("{route_path}.requestPolicies.authorization.type"),
                    format!("{other:?} is not supported (AUTHENTICATION_ONLY, ANY_OF, ANONYMOUS)"),
                ))
            }
        };
        let methods: Vec<String> = match route.get("methods") {
            None => vec!["ANY".to_owned()],
            Some(Value::Array(methods)) => methods
                .iter()
                .map(|m| m.as_str().map(str::to_ascii_uppercase))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ConfigError::new(format!("{route_path}.methods"), "expected method names")
                })?,
            Some(_) => {
                return Err(ConfigError::new(
                    format!("{route_path}.methods"),
                    "expected a list",
                ))
            }
        };
        let any_method = methods.iter().any(|m| m == "ANY");
        let method_matchers: Vec<Option<String>> = if any_method {
            vec![None]
        } else {
            methods.into_iter().map(Some).collect()
        };
        for method in method_matchers {
            let any = method.is_none();
            let mut matcher = Map::new();
            matcher.insert("path_template".to_owned(), Value::String(template.clone()));
            if let Some(method) = method {
                matcher.insert(
                    "headers".to_owned(),
                    json!([{"name": ":method", "string_match": {"exact": method}}]),
                );
            }
            let mut rule = Map::new();
            rule.insert("match".to_owned(), Value::Object(matcher));
            let order = (parsed.clone(), any);
            if let Some(requires) = &requires {
                rule.insert("requires".to_owned(), requires.clone());
            }
            if let Some(scopes) = &scopes {
                rule.insert("allowed_scopes".to_owned(), Value::Array(scopes.clone()));
            }
            rules.push((order, Value::Object(rule)));
        }
    }
    // The most specific route first, whatever the deployment's order: a `/{rest*}` listed
    // before `/admin` must not decide for `/admin`. Method-specific rules before `ANY`.
    rules.sort_by(|(a, _), (b, _)| {
        a.0.specificity()
            .cmp(&b.0.specificity())
            .then(a.1.cmp(&b.1))
    });
    let mut rules: Vec<Value> = rules.into_iter().map(|(_, rule)| rule).collect();
    rules.push(json!({"match": {"prefix": "/"}, "requires": required}));
    Ok(json!({"providers": providers, "rules": rules}))
}

/// What the authentication policy says, as the provider fields every issuer shares.
struct Policy {
    issuers: Vec<String>,
    anonymous_allowed: bool,
    provider: Map<String, Value>,
}

impl Policy {
    fn parse(policy: &Value, at: &str) -> Result<Self, ConfigError> {
        let field = |name: &str| format!("{at}.{name}");
        let kind = policy
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // TOKEN_AUTHENTICATION keeps keys and claim rules in `validationPolicy`.
        let (keys, claims, claims_at) = match kind {
            "JWT_AUTHENTICATION" => (policy.get("publicKeys"), policy, at.to_owned()),
            "TOKEN_AUTHENTICATION" => {
                if policy.get("validationFailurePolicy").is_some() {
                    return Err(ConfigError::new(
                        field("validationFailurePolicy"),
                        "is not supported by jwt-gate (failures are 401 or 403 with WWW-Authenticate)",
                    ));
                }
                let validation = policy.get("validationPolicy");
                let additional = validation
                    .and_then(|v| v.get("additionalValidationPolicy"))
                    .unwrap_or(&Value::Null);
                (
                    validation,
                    additional,
                    field("validationPolicy.additionalValidationPolicy"),
                )
            }
            other => {
                return Err(ConfigError::new(
                    field("type"),
                    format!("{other:?}: expected JWT_AUTHENTICATION or TOKEN_AUTHENTICATION"),
                ))
            }
        };
        let strings =
            |value: Option<&Value>, name: &str, at: &str| -> Result<Vec<String>, ConfigError> {
                value
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
                    .filter(|items: &Vec<String>| !items.is_empty())
                    .ok_or_else(|| {
                        ConfigError::new(
                            format!("{at}.{name}"),
                            "a non-empty list of strings is required",
                        )
                    })
            };
        let issuers = strings(claims.get("issuers"), "issuers", &claims_at)?;
        let audiences = strings(claims.get("audiences"), "audiences", &claims_at)?;

        let mut provider = Map::new();
        provider.insert("audiences".to_owned(), json!(audiences));
        match (
            policy.get("tokenHeader").and_then(Value::as_str),
            policy.get("tokenQueryParam").and_then(Value::as_str),
        ) {
            (Some(header), None) => {
                let scheme = policy
                    .get("tokenAuthScheme")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let mut entry = json!({"name": header});
                if let (false, Value::Object(entry)) = (scheme.is_empty(), &mut entry) {
                    entry.insert(
                        "value_prefix".to_owned(),
                        Value::String(format!("{scheme} ")),
                    );
                }
                provider.insert("from_headers".to_owned(), json!([entry]));
            }
            (None, Some(param)) => {
                provider.insert("from_params".to_owned(), json!([param]));
            }
            _ => {
                return Err(ConfigError::new(
                    at,
                    "give exactly one of tokenHeader or tokenQueryParam",
                ))
            }
        }
        let skew = policy
            .get("maxClockSkewInSeconds")
            .map(|s| s.as_u64().filter(|s| *s <= 120))
            .unwrap_or(Some(0))
            .ok_or_else(|| ConfigError::new(field("maxClockSkewInSeconds"), "expected 0 to 120"))?;
        provider.insert("clock_skew".to_owned(), Value::String(format!("{skew}s")));
        if let Some(checks) = claims.get("verifyClaims") {
            let checks = checks.as_array().ok_or_else(|| {
                ConfigError::new(format!("{claims_at}.verifyClaims"), "expected a list")
            })?;
            // In jwt-gate's spelling (the parser takes OCI's camelCase too).
            let checks: Vec<Value> = checks
                .iter()
                .map(|check| {
                    let mut out = Map::new();
                    for (from, to) in [
                        ("key", "key"),
                        ("values", "values"),
                        ("isRequired", "is_required"),
                    ] {
                        if let Some(value) = check.get(from) {
                            out.insert(to.to_owned(), value.clone());
                        }
                    }
                    Value::Object(out)
                })
                .collect();
            provider.insert("verify_claims".to_owned(), Value::Array(checks));
        }
        provider.insert("forward".to_owned(), Value::Bool(true));

        let keys_at = if kind == "JWT_AUTHENTICATION" {
            field("publicKeys")
        } else {
            field("validationPolicy")
        };
        let keys = keys.ok_or_else(|| ConfigError::new(keys_at.clone(), "is required"))?;
        match keys.get("type").and_then(Value::as_str) {
            Some("REMOTE_JWKS") => {
                let uri = keys
                    .get("uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ConfigError::new(format!("{keys_at}.uri"), "is required"))?;
                let uri = HttpUri::parse(uri)
                    .map_err(|why| ConfigError::new(format!("{keys_at}.uri"), why))?;
                let (host, port) = uri.host_and_port();
                let hours = keys
                    .get("maxCacheDurationInHours")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .clamp(1, 24);
                provider.insert(
                    "remote_jwks".to_owned(),
                    json!({
                        "http_uri": {"uri": uri.uri, "cluster": format!("jwt-provider-cluster-{host}:{port}"), "timeout": "5s"},
                        "cache_duration": format!("{}s", hours * 3600),
                    }),
                );
            }
            Some("STATIC_KEYS") => {
                let jwks = static_keys(keys.get("keys"), &format!("{keys_at}.keys"))?;
                provider.insert(
                    "local_jwks".to_owned(),
                    json!({"inline_string": jwks.to_string()}),
                );
            }
            Some("REMOTE_DISCOVERY") => {
                return Err(ConfigError::new(
                    format!("{keys_at}.type"),
                    "REMOTE_DISCOVERY is token introspection (RFC 7662), which jwt-gate does not do: use REMOTE_JWKS with the provider's jwks_uri",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    format!("{keys_at}.type"),
                    "expected REMOTE_JWKS or STATIC_KEYS",
                ))
            }
        }
        Ok(Self {
            issuers,
            anonymous_allowed: policy
                .get("isAnonymousAccessAllowed")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            provider,
        })
    }
}

/// OCI's static keys as a JWK set: `JSON_WEB_KEY` entries as they are (without `format`), `PEM`
/// entries converted to RSA JWKs with their `kid`.
fn static_keys(keys: Option<&Value>, at: &str) -> Result<Value, ConfigError> {
    let keys = keys
        .and_then(Value::as_array)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ConfigError::new(at, "a non-empty list of keys is required"))?;
    let mut out = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let key_at = format!("{at}[{index}]");
        let Value::Object(key) = key else {
            return Err(ConfigError::new(key_at, "expected an object"));
        };
        let kid = key
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| ConfigError::new(format!("{key_at}.kid"), "is required"))?;
        match key.get("format").and_then(Value::as_str) {
            Some("JSON_WEB_KEY") => {
                let mut jwk = key.clone();
                jwk.remove("format");
                out.push(Value::Object(jwk));
            }
            Some("PEM") => {
                let pem = key
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ConfigError::new(format!("{key_at}.key"), "is required"))?;
                let set = KeySet::parse(pem.as_bytes(), &Limits::DEFAULT)
                    .map_err(|why| ConfigError::new(format!("{key_at}.key"), why.to_string()))?;
                let Some(PublicKey::Rsa { n, e, .. }) = set.keys.first().map(|k| &k.key) else {
                    return Err(ConfigError::new(
                        format!("{key_at}.key"),
                        "expected an RSA public key (OCI accepts RSA only)",
                    ));
                };
                let mut jwk = json!({
                    "kty": "RSA",
                    "kid": kid,
                    "n": URL_SAFE_NO_PAD.encode(n),
                    "e": URL_SAFE_NO_PAD.encode(e),
                    "use": "sig",
                });
                if let (Some(alg), Value::Object(jwk)) = (key.get("alg"), &mut jwk) {
                    jwk.insert("alg".to_owned(), alg.clone());
                }
                out.push(jwk);
            }
            _ => {
                return Err(ConfigError::new(
                    format!("{key_at}.format"),
                    "expected JSON_WEB_KEY or PEM",
                ))
            }
        }
    }
    Ok(json!({"keys": out}))
}

/// OCI path parameters: `{name}` is one segment, `{name*}` the rest of the path.
fn template_of(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let (head, tail) = rest.split_at(open);
        out.push_str(head);
        match tail.find('}') {
            Some(close) => {
                let inner = tail.get(1..close).unwrap_or_default();
                match inner.strip_suffix('*') {
                    Some(name) => {
                        out.push('{');
                        out.push_str(name);
                        out.push_str("=**}");
                    }
                    None => {
                        out.push('{');
                        out.push_str(inner);
                        out.push('}');
                    }
                }
                rest = tail.get(close + 1..).unwrap_or_default();
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
