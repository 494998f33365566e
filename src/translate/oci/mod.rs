//! OCI API Gateway deployments, translated into jwt_authn's form (what `jwt-gate from-oci`
//! prints): the `JWT_AUTHENTICATION` or `TOKEN_AUTHENTICATION` policy, the routes'
//! `authorization` (`AUTHENTICATION_ONLY`, `ANY_OF` scopes, `ANONYMOUS`), and the header
//! transformations that hand token claims to the backend (`${request.auth[<claim>]}`).
//!
//! The translation fails closed. Every object is read against its OCI SDK model's fields
//! (`oracle/oci-python-sdk`, `src/oci/apigateway/models/`): an unknown field is an error naming
//! its JSON path; a known feature jwt-gate does not translate is a warning naming its path, or an
//! error where leaving it out would let in a request OCI refuses; a claim used anywhere jwt-gate
//! cannot reproduce is an error. Paths the deployment does not list need a token (OCI answers 404
//! there; jwt-gate cannot).

mod headers;
mod model;
mod read;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::config::{is_header_name, ConfigError, ConfigWarning};
use crate::keys::remote::HttpUri;
use crate::keys::{KeySet, PublicKey};
use crate::limits::Limits;
use crate::policy::template::PathTemplate;
use headers::{claim_headers, no_other_claim_uses};
use model::*;
use read::{join, Node, Object};

/// A translated deployment.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The configuration, in jwt_authn's form.
    pub config: Value,
    /// What the deployment does that the configuration does not, each naming its JSON path
    /// (`jwt-gate from-oci` prints them on standard error).
    pub warnings: Vec<ConfigWarning>,
}

/// Translates an OCI deployment (`{"pathPrefix", "specification": {...}}`) or a bare deployment
/// specification (`{"requestPolicies", "routes"}`).
pub fn translate(input: &Value) -> Result<Translation, ConfigError> {
    let root = Node::root(input);
    if !input.is_object() {
        return Err(
            root.error("expected an OCI deployment or deployment specification (an object)")
        );
    }
    let mut warnings = Vec::new();
    let (prefix, specification) = if input.get("specification").is_some() {
        let deployment = root.object(DEPLOYMENT)?;
        let prefix = match deployment.get("pathPrefix") {
            None => String::new(),
            Some(node) => {
                let prefix = node.string()?;
                if !prefix.starts_with('/') {
                    return Err(node.error("expected a path starting with '/'"));
                }
                prefix.trim_end_matches('/').to_owned()
            }
        };
        (prefix, deployment.required("specification")?)
    } else {
        if input.get("data").is_some() && input.get("routes").is_none() {
            return Err(ConfigError::new(
                "data",
                "this looks like OCI CLI output: give the deployment as the API and the console \
                 write it (camelCase fields: pathPrefix, specification, requestPolicies, ...)",
            ));
        }
        (String::new(), root)
    };
    let specification_object = specification.object(SPECIFICATION)?;
    if let Some(logging) = specification_object.get("loggingPolicies") {
        warn(&mut warnings, &logging, LOGGING);
    }
    let policies = specification_object
        .get("requestPolicies")
        .map(|node| node.object(REQUEST_POLICIES))
        .transpose()?;
    if let Some(policies) = &policies {
        deployment_policies(policies, &mut warnings)?;
    }
    let policy = match policies.as_ref().and_then(|p| p.get("authentication")) {
        Some(node) => Policy::parse(&node, &mut warnings)?,
        None => {
            return Err(ConfigError::new(
                join(
                    &specification_object.path("requestPolicies"),
                    "authentication",
                ),
                "no authentication policy (jwt-gate translates JWT_AUTHENTICATION and \
                 TOKEN_AUTHENTICATION)",
            ))
        }
    };

    let routes = match specification_object.get("routes") {
        Some(node) => node.items()?,
        None => Vec::new(),
    };
    let mut parsed = Vec::new();
    for route in &routes {
        parsed.push(Route::parse(route, &prefix, &policy, &mut warnings)?);
    }
    if routes
        .iter()
        .any(|route| route.value.get("backend").is_some_and(|b| !b.is_null()))
    {
        warnings.push(ConfigWarning::new(
            join(&specification.path, "routes[*].backend"),
            BACKEND,
        ));
    }
    let routes_path = join(&specification.path, "routes");
    let claim_to_headers = claim_headers(&parsed, &policy, &routes_path, &mut warnings)?;
    no_other_claim_uses(&specification, &parsed)?;

    let providers = providers(&policy, &claim_to_headers);
    let names: Vec<&String> = providers.keys().collect();
    let required = match names.as_slice() {
        [name] => json!({ "provider_name": name }),
        names => json!({"requires_any": {"requirements":
            names.iter().map(|n| json!({"provider_name": n})).collect::<Vec<_>>()}}),
    };
    let rules = rules(&parsed, &required);
    Ok(Translation {
        config: json!({"providers": providers, "rules": rules}),
        warnings,
    })
}

/// One provider per allowed issuer (OCI allows five), all alike but for `issuer`: `oci`, or
/// `oci_1`, `oci_2`, ...
fn providers(policy: &Policy, claim_to_headers: &[Value]) -> Map<String, Value> {
    let mut providers = Map::new();
    for (index, issuer) in policy.issuers.iter().enumerate() {
        let name = if policy.issuers.len() == 1 {
            "oci".to_owned()
        } else {
            format!("oci_{}", index + 1)
        };
        let mut provider = policy.provider.clone();
        provider.insert("issuer".to_owned(), Value::String(issuer.clone()));
        if !claim_to_headers.is_empty() {
            provider.insert(
                "claim_to_headers".to_owned(),
                Value::Array(claim_to_headers.to_vec()),
            );
        }
        providers.insert(name, Value::Object(provider));
    }
    providers
}

/// One rule per route and method, the most specific first, then a last rule that requires a
/// token everywhere else (OCI answers 404 there).
fn rules(routes: &[Route], required: &Value) -> Vec<Value> {
    let mut rules = Vec::new();
    for route in routes {
        let requires = match route.authorization {
            Authorization::Anonymous => None,
            Authorization::AuthenticationOnly | Authorization::AnyOf(_) => Some(required),
        };
        for method in &route.methods {
            let mut matcher = Map::new();
            matcher.insert("path_template".to_owned(), json!(route.template));
            if let Some(method) = method {
                matcher.insert(
                    "headers".to_owned(),
                    json!([{"name": ":method", "string_match": {"exact": method}}]),
                );
            }
            let mut rule = Map::new();
            rule.insert("match".to_owned(), Value::Object(matcher));
            if let Some(requires) = requires {
                rule.insert("requires".to_owned(), requires.clone());
            }
            if let Authorization::AnyOf(scopes) = &route.authorization {
                rule.insert("allowed_scopes".to_owned(), json!(scopes));
            }
            rules.push(((&route.parsed, method.is_none()), Value::Object(rule)));
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
    rules
}

// What a known, untranslated feature means here.
const LOGGING: &str = "not translated: access and execution logs are Envoy's (access_log)";
const CORS: &str = "not translated: CORS is Envoy's (the cors filter); preflight requests need a \
                    token unless the configuration sets bypass_cors_preflight";
const VALIDATION: &str = "not translated: jwt-gate does not validate requests, so the backend \
                          gets requests OCI would refuse as invalid";
const CACHE: &str = "not translated: jwt-gate does not cache responses";
const BACKEND: &str = "not translated: jwt-gate decides who may pass, Envoy's route_config where \
                       requests go";

/// The authentication policy, as the provider fields every issuer shares.
struct Policy {
    issuers: Vec<String>,
    anonymous_allowed: bool,
    /// Where tokens are read, lower-case when a header (a claim header must not be it).
    token_header: Option<String>,
    provider: Map<String, Value>,
}

impl Policy {
    fn parse(node: &Node<'_>, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let policy = match tag(node)? {
            Some("JWT_AUTHENTICATION") => node.object(JWT_AUTHENTICATION)?,
            Some("TOKEN_AUTHENTICATION") => node.object(TOKEN_AUTHENTICATION)?,
            other => {
                return Err(ConfigError::new(
                    join(&node.path, "type"),
                    format!(
                        "{}: expected JWT_AUTHENTICATION or TOKEN_AUTHENTICATION (authorizer \
                         functions, CUSTOM_AUTHENTICATION, are not translated)",
                        other.map_or_else(|| "missing".to_owned(), |t| format!("{t:?}"))
                    ),
                ))
            }
        };
        // TOKEN_AUTHENTICATION keeps keys and claim rules in `validationPolicy`.
        let (keys, claims) = match policy.get("validationPolicy") {
            None => (
                KeysNode::Jwt(policy.required("publicKeys")?),
                policy.clone(),
            ),
            Some(validation) => {
                if let Some(failure) = policy.get("validationFailurePolicy") {
                    failure_policy(&failure, warnings)?;
                }
                let fields = validation_fields(&validation)?;
                let claims = validation
                    .object(fields)?
                    .required("additionalValidationPolicy")?
                    .object(ADDITIONAL_VALIDATION)?;
                (KeysNode::Token(validation), claims)
            }
        };
        let issuers = non_empty_strings(&claims, "issuers")?;
        let audiences = non_empty_strings(&claims, "audiences")?;

        let mut provider = Map::new();
        provider.insert("audiences".to_owned(), json!(audiences));
        let scheme = policy.get("tokenAuthScheme");
        let token_header = match (policy.get("tokenHeader"), policy.get("tokenQueryParam")) {
            (Some(header), None) => {
                let name = header.string()?;
                if !is_header_name(&name.to_ascii_lowercase()) {
                    return Err(header.error("expected a header name"));
                }
                let mut entry = Map::new();
                entry.insert("name".to_owned(), json!(name));
                if let Some(scheme) = scheme {
                    let scheme = scheme.string()?;
                    if !scheme.is_empty() {
                        entry.insert("value_prefix".to_owned(), json!(format!("{scheme} ")));
                    }
                }
                provider.insert("from_headers".to_owned(), json!([entry]));
                Some(name.to_ascii_lowercase())
            }
            (None, Some(param)) => {
                if let Some(scheme) = scheme {
                    return Err(scheme.error("goes with tokenHeader, not tokenQueryParam"));
                }
                provider.insert("from_params".to_owned(), json!([param.string()?]));
                None
            }
            _ => {
                return Err(ConfigError::new(
                    policy.at(),
                    "give exactly one of tokenHeader or tokenQueryParam",
                ))
            }
        };
        let skew = match policy.get("maxClockSkewInSeconds") {
            Some(node) => node.integer(0, 120)?,
            None => 0,
        };
        provider.insert("clock_skew".to_owned(), json!(format!("{skew}s")));
        if let Some(checks) = claims.get("verifyClaims") {
            provider.insert(
                "verify_claims".to_owned(),
                Value::Array(verify_claims(&checks, warnings)?),
            );
        }
        provider.insert("forward".to_owned(), Value::Bool(true));
        // OCI reads a claim name with a dot as one top-level claim, never a path.
        provider.insert("claim_lookup".to_owned(), json!("literal"));
        keys.translate(&mut provider, warnings)?;
        let anonymous_allowed = match policy.get("isAnonymousAccessAllowed") {
            Some(node) => node.bool()?,
            None => false,
        };
        Ok(Self {
            issuers,
            anonymous_allowed,
            token_header,
            provider,
        })
    }
}

/// The fields of a TOKEN_AUTHENTICATION `validationPolicy`, by its type.
fn validation_fields(validation: &Node<'_>) -> Result<&'static [&'static str], ConfigError> {
    let error = |message: &str| ConfigError::new(join(&validation.path, "type"), message);
    match tag(validation)? {
        Some("REMOTE_JWKS") => Ok(TOKEN_REMOTE_JWKS),
        Some("STATIC_KEYS") => Ok(TOKEN_STATIC_KEYS),
        Some("REMOTE_DISCOVERY") => Err(error(
            "REMOTE_DISCOVERY is token introspection (RFC 7662), which jwt-gate does not do: use \
             REMOTE_JWKS with the provider's jwks_uri",
        )),
        _ => Err(error("expected REMOTE_JWKS or STATIC_KEYS")),
    }
}

/// Where a policy's keys are: `publicKeys` of a JWT_AUTHENTICATION policy, or the
/// `validationPolicy` of a TOKEN_AUTHENTICATION one (whose fields it shares, and
/// `additionalValidationPolicy`).
enum KeysNode<'a> {
    Jwt(Node<'a>),
    Token(Node<'a>),
}

impl KeysNode<'_> {
    fn translate(
        &self,
        provider: &mut Map<String, Value>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let (node, remote_fields, static_fields) = match self {
            Self::Jwt(node) => (node, REMOTE_JWKS, STATIC_KEYS),
            Self::Token(node) => (node, TOKEN_REMOTE_JWKS, TOKEN_STATIC_KEYS),
        };
        match tag(node)? {
            Some("REMOTE_JWKS") => {
                let keys = node.object(remote_fields)?;
                let uri_node = keys.required("uri")?;
                let uri = HttpUri::parse(uri_node.string()?).map_err(|why| uri_node.error(why))?;
                let (host, port) = uri.host_and_port();
                let hours = match keys.get("maxCacheDurationInHours") {
                    Some(node) => node.integer(1, 24)?,
                    None => 1,
                };
                if let Some(disabled) = keys.get("isSslVerifyDisabled") {
                    if disabled.bool()? {
                        warnings.push(ConfigWarning::new(
                            disabled.path,
                            "true: not translated: the key server's certificate is verified (the \
                             cluster `jwt-gate envoy-config` writes checks it against --ca and the \
                             host name; give --ca the CA that signed it)",
                        ));
                    }
                }
                provider.insert(
                    "remote_jwks".to_owned(),
                    json!({
                        "http_uri": {"uri": uri.uri, "cluster": format!("jwt-provider-cluster-{host}:{port}"), "timeout": "5s"},
                        "cache_duration": format!("{}s", hours * 3600),
                    }),
                );
            }
            Some("STATIC_KEYS") => {
                let keys = node.object(static_fields)?;
                let jwks = static_keys(&keys.required("keys")?)?;
                provider.insert(
                    "local_jwks".to_owned(),
                    json!({"inline_string": jwks.to_string()}),
                );
            }
            _ => {
                return Err(ConfigError::new(
                    join(&node.path, "type"),
                    "expected REMOTE_JWKS or STATIC_KEYS",
                ))
            }
        }
        Ok(())
    }
}

/// A TOKEN_AUTHENTICATION policy's `validationFailurePolicy`: a reshaped response is left to
/// Envoy (a warning); a login flow cannot be had (an error).
fn failure_policy(node: &Node<'_>, warnings: &mut Vec<ConfigWarning>) -> Result<(), ConfigError> {
    match tag(node)? {
        Some("MODIFY_RESPONSE") => {
            warn(
                warnings,
                node,
                "not translated: failures get jwt_authn's 401 or 403 with WWW-Authenticate \
                 (Envoy's local_reply_config can reshape them)",
            );
            Ok(())
        }
        _ => Err(node.error(
            "not translated: jwt-gate answers a failure with 401 or 403; it runs no login flow \
             (OAUTH2)",
        )),
    }
}

/// `issuers` or `audiences`: a non-empty list of strings.
fn non_empty_strings(object: &Object<'_>, name: &str) -> Result<Vec<String>, ConfigError> {
    let error = || ConfigError::new(object.path(name), "a non-empty list of strings is required");
    let node = object.get(name).ok_or_else(error)?;
    let strings = node.strings().map_err(|_| error())?;
    if strings.is_empty() {
        return Err(error());
    }
    Ok(strings)
}

/// `verifyClaims`, in jwt-gate's spelling.
fn verify_claims(
    node: &Node<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<Value>, ConfigError> {
    let mut out = Vec::new();
    for item in node.items()? {
        let claim = item.object(CLAIM)?;
        let key = claim.required("key")?;
        if key.string()?.is_empty() {
            return Err(key.error("expected a claim name"));
        }
        let values = match claim.get("values") {
            Some(values) => values.strings()?,
            None => Vec::new(),
        };
        let required = match claim.get("isRequired") {
            Some(flag) => flag.bool()?,
            None => {
                warnings.push(ConfigWarning::new(
                    claim.path("isRequired"),
                    "not given: translated as true (the claim must be present); say which you \
                     mean",
                ));
                true
            }
        };
        if values.is_empty() && !required {
            return Err(item.error("checks nothing: give values, or isRequired: true"));
        }
        out.push(json!({"key": key.value, "values": values, "is_required": required}));
    }
    Ok(out)
}

/// The deployment-wide request policies other than `authentication`.
fn deployment_policies(
    policies: &Object<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    if let Some(usage_plans) = policies.get("usagePlans") {
        return Err(usage_plans.error(
            "usage plans (subscribers' client tokens) are not checked by jwt-gate: requests \
             without a client token would pass; remove usagePlans to translate the rest",
        ));
    }
    if let Some(dynamic) = policies.get("dynamicAuthentication") {
        return Err(dynamic.error(
            "several authentication servers chosen per request are not translated: translate \
             each server's policy as a deployment of its own",
        ));
    }
    if let Some(node) = policies.get("rateLimiting") {
        warn(
            warnings,
            &node,
            "not translated: rate limits are Envoy's (the local_ratelimit filter)",
        );
    }
    if let Some(node) = policies.get("cors") {
        warn(warnings, &node, CORS);
    }
    if let Some(node) = policies.get("mutualTls") {
        warn(
            warnings,
            &node,
            "not translated: jwt-gate does not see client certificates; require and verify them \
             in the listener's TLS (require_client_certificate, match_typed_subject_alt_names \
             for allowedSans) or clients without one get in",
        );
    }
    Ok(())
}

/// A route's authorization.
enum Authorization {
    AuthenticationOnly,
    AnyOf(Vec<String>),
    /// OCI does not authenticate an ANONYMOUS route: a token, valid or not, is not looked at
    /// and `request.auth` stays empty (OCI's troubleshooting page "Header transformations do
    /// not work as expected").
    Anonymous,
}

/// One route, read.
struct Route {
    /// The route's `path`, for messages.
    path: String,
    template: String,
    parsed: PathTemplate,
    /// `None`: any method.
    methods: Vec<Option<String>>,
    authorization: Authorization,
    /// `setHeaders` items whose value is one claim: (header, claim, the value's JSON path).
    claim_headers: Vec<(String, String, String)>,
    /// Other request header transformations: (header, JSON path, what is done to it).
    header_changes: Vec<(String, String, &'static str)>,
}

impl Route {
    fn parse(
        node: &Node<'_>,
        prefix: &str,
        policy: &Policy,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        let route = node.object(ROUTE)?;
        let path_node = route.required("path")?;
        let path = path_node.string()?.to_owned();
        if !path.starts_with('/') {
            return Err(path_node.error("expected a path starting with '/'"));
        }
        let template = format!("{prefix}{}", template_of(&path));
        let parsed = PathTemplate::parse(&template).map_err(|why| path_node.error(why))?;
        let methods = match route.get("methods") {
            None => vec![None],
            Some(node) => {
                let mut methods = Vec::new();
                for item in node.items()? {
                    let method = item.string()?;
                    if !METHODS.contains(&method) {
                        return Err(item.error(format!("expected one of {}", METHODS.join(", "))));
                    }
                    methods.push(method.to_owned());
                }
                if methods.is_empty() {
                    return Err(node.error("expected at least one method"));
                }
                if methods.iter().any(|m| m == "ANY") {
                    vec![None]
                } else {
                    methods.into_iter().map(Some).collect()
                }
            }
        };
        let mut out = Self {
            path,
            template,
            parsed,
            methods,
            authorization: Authorization::AuthenticationOnly,
            claim_headers: Vec::new(),
            header_changes: Vec::new(),
        };
        if let Some(policies) = route.get("requestPolicies") {
            let policies = policies.object(ROUTE_REQUEST_POLICIES)?;
            if let Some(authorization) = policies.get("authorization") {
                out.authorization = authorization_of(&authorization, policy)?;
            }
            for (name, why) in [
                ("cors", CORS),
                ("queryParameterValidations", VALIDATION),
                ("headerValidations", VALIDATION),
                ("bodyValidation", VALIDATION),
                (
                    "queryParameterTransformations",
                    "not translated: jwt-gate does not change query parameters",
                ),
                ("responseCacheLookup", CACHE),
            ] {
                if let Some(node) = policies.get(name) {
                    warn(warnings, &node, why);
                }
            }
            if let Some(transformations) = policies.get("headerTransformations") {
                out.header_transformations(&transformations, warnings)?;
            }
        }
        if let Some(policies) = route.get("responsePolicies") {
            let policies = policies.object(ROUTE_RESPONSE_POLICIES)?;
            if let Some(node) = policies.get("headerTransformations") {
                warn(
                    warnings,
                    &node,
                    "not translated: jwt-gate does not change responses",
                );
            }
            if let Some(node) = policies.get("responseCacheStore") {
                warn(warnings, &node, CACHE);
            }
        }
        if let Some(node) = route.get("loggingPolicies") {
            warn(warnings, &node, LOGGING);
        }
        if let Some(backend) = route.get("backend") {
            if let Some(disabled) = backend.value.get("isSslVerifyDisabled") {
                if disabled.as_bool() == Some(true) {
                    warnings.push(ConfigWarning::new(
                        join(&backend.path, "isSslVerifyDisabled"),
                        "true: the backend is Envoy's business: verify its certificate in the \
                         upstream cluster's TLS context",
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// A route's `authorization` policy.
fn authorization_of(node: &Node<'_>, policy: &Policy) -> Result<Authorization, ConfigError> {
    match tag(node)? {
        Some("AUTHENTICATION_ONLY") => {
            node.object(&["type"])?;
            Ok(Authorization::AuthenticationOnly)
        }
        Some("ANY_OF") => {
            let object = node.object(&["type", "allowedScope"])?;
            let scopes = non_empty_strings(&object, "allowedScope")?;
            Ok(Authorization::AnyOf(scopes))
        }
        Some("ANONYMOUS") => {
            node.object(&["type"])?;
            if !policy.anonymous_allowed {
                return Err(ConfigError::new(
                    join(&node.path, "type"),
                    "ANONYMOUS needs isAnonymousAccessAllowed: true in the authentication policy",
                ));
            }
            Ok(Authorization::Anonymous)
        }
        other => Err(ConfigError::new(
            join(&node.path, "type"),
            format!(
                "{}: expected AUTHENTICATION_ONLY, ANY_OF or ANONYMOUS",
                other.map_or_else(|| "missing".to_owned(), |t| format!("{t:?}"))
            ),
        )),
    }
}

/// The `type` member of a tagged OCI object (a policy, a key set, a validation policy), if set.
fn tag<'a>(node: &Node<'a>) -> Result<Option<&'a str>, ConfigError> {
    tag_named(node, "type")
}

fn warn(warnings: &mut Vec<ConfigWarning>, node: &Node<'_>, why: &str) {
    warnings.push(ConfigWarning::new(node.path.clone(), why));
}

/// OCI's static keys as a JWK set: `JSON_WEB_KEY` entries as they are (without `format`), `PEM`
/// entries converted to RSA JWKs with their `kid`.
fn static_keys(node: &Node<'_>) -> Result<Value, ConfigError> {
    let items = node.items()?;
    if items.is_empty() {
        return Err(node.error("a non-empty list of keys is required"));
    }
    let mut out = Vec::new();
    for item in items {
        let format = match tag_named(&item, "format")? {
            Some("JSON_WEB_KEY") => JSON_WEB_KEY,
            Some("PEM") => PEM_KEY,
            _ => {
                return Err(ConfigError::new(
                    join(&item.path, "format"),
                    "expected JSON_WEB_KEY or PEM",
                ))
            }
        };
        let key = item.object(format)?;
        let kid = key.required("kid")?;
        let kid = kid.string()?;
        if format == JSON_WEB_KEY {
            let mut jwk = item.value.as_object().cloned().unwrap_or_default();
            jwk.remove("format");
            jwk.retain(|_, value| !value.is_null());
            out.push(Value::Object(jwk));
            continue;
        }
        let pem = key.required("key")?;
        let set = KeySet::parse(pem.string()?.as_bytes(), &Limits::DEFAULT)
            .map_err(|why| pem.error(why.to_string()))?;
        let Some(PublicKey::Rsa { n, e, .. }) = set.keys.first().map(|k| &k.key) else {
            return Err(pem.error("expected an RSA public key (OCI accepts RSA only)"));
        };
        out.push(json!({
            "kty": "RSA",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(n),
            "e": URL_SAFE_NO_PAD.encode(e),
            "use": "sig",
        }));
    }
    Ok(json!({ "keys": out }))
}

/// Member `name` of an object, as a string, if set.
fn tag_named<'a>(node: &Node<'a>, name: &str) -> Result<Option<&'a str>, ConfigError> {
    let Value::Object(members) = node.value else {
        return Err(node.error("expected an object"));
    };
    match members.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ConfigError::new(
            join(&node.path, name),
            "expected a string",
        )),
    }
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
