//! OCI API Gateway deployments, translated into jwt_authn's form (what `jwt-gate from-oci`
//! prints): the `JWT_AUTHENTICATION` or `TOKEN_AUTHENTICATION` policy, the routes'
//! `authorization` (`AUTHENTICATION_ONLY`, `ANY_OF` scopes, `ANONYMOUS`), and the header
//! transformations that hand token claims to the backend (`${request.auth[<claim>]}`).
//!
//! The translation fails closed. Every object is read against its OCI SDK model's fields
//! (`oracle/oci-python-sdk`, `src/oci/apigateway/models/`): an unknown field is an error naming
//! its JSON path; a known feature jwt-gate does not translate is a warning naming its path, or an
//! error where leaving it out would let in a request OCI refuses; a claim used anywhere jwt-gate
//! cannot reproduce is an error. A request no route takes (another path, or another method on a
//! listed path) gets OCI's 404.

mod headers;
mod model;
pub(super) mod read;
mod route;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::model::{
    ClaimLookup, DataSource, Deny, HeaderMatchSpecifier, HeaderMatcher, HttpUri as UriSpec,
    JwksSource, JwtAuthentication, JwtClaimToHeader, JwtHeader, JwtProvider, JwtRequirement,
    PathSpecifier, RemoteJwks, RequirementList, RequirementRule, RouteMatch, StringMatcher,
    StringPattern, VerifyClaim,
};
use crate::config::{is_header_name, ConfigError, ConfigWarning};
use crate::keys::remote::HttpUri;
use crate::keys::{KeySet, PublicKey};
use crate::limits::Limits;
use headers::{claim_headers, no_other_claim_uses};
use model::*;
use read::{join, non_empty_strings, tag, tag_named, warn, Node, Object};
use route::{Authorization, Route, CORS, LOGGING};

/// A translated deployment.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The configuration, in jwt_authn's form.
    pub config: JwtAuthentication,
    /// What the deployment does that the configuration does not, each naming its JSON path
    /// (`jwt-gate from-oci` prints them on standard error).
    pub warnings: Vec<ConfigWarning>,
}

/// Translates an OCI deployment (`{"pathPrefix", "specification": {...}}`) or a bare deployment
/// specification (`{"requestPolicies", "routes"}`).
pub fn translate(input: &Value) -> Result<Translation, ConfigError> {
    let mut warnings = Vec::new();
    let (prefix, specification) = deployment(input)?;
    let specification_object = specification.object(SPECIFICATION)?;
    if let Some(logging) = specification_object.get("loggingPolicies") {
        warn(&mut warnings, &logging, LOGGING);
    }
    let policy = authentication(&specification_object, &mut warnings)?;
    let routes = routes(&specification_object, &prefix, &policy, &mut warnings)?;
    let claim_to_headers = claim_headers(
        &routes,
        policy.token_header.as_deref(),
        &specification_object.path("routes"),
        &mut warnings,
    )?;
    no_other_claim_uses(&specification, &routes)?;
    let providers = providers(&policy, &claim_to_headers);
    let rules = rules(&routes, &any_provider(&providers));
    Ok(Translation {
        config: JwtAuthentication {
            providers,
            rules,
            ..JwtAuthentication::default()
        },
        warnings,
    })
}

/// The path prefix (without a trailing `/`) and the specification, of a deployment or of a
/// bare specification.
fn deployment(input: &Value) -> Result<(String, Node<'_>), ConfigError> {
    let root = Node::root(input);
    if !input.is_object() {
        return Err(root.expected("an OCI deployment or deployment specification (an object)"));
    }
    if input.get("specification").is_none() {
        if input.get("data").is_some() && input.get("routes").is_none() {
            return Err(ConfigError::invalid(
                "data",
                "this looks like OCI CLI output: give the deployment as the API and the console \
                 write it (camelCase fields: pathPrefix, specification, requestPolicies, ...)",
            ));
        }
        return Ok((String::new(), root));
    }
    let deployment = root.object(DEPLOYMENT)?;
    let prefix = match deployment.get("pathPrefix") {
        None => String::new(),
        Some(node) => {
            let prefix = node.string()?;
            if !prefix.starts_with('/') {
                return Err(node.expected("a path starting with '/'"));
            }
            prefix.trim_end_matches('/').to_owned()
        }
    };
    Ok((prefix, deployment.required("specification")?))
}

/// The deployment's `requestPolicies`: its authentication policy, and warnings or errors for
/// the others.
fn authentication(
    specification: &Object<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Policy, ConfigError> {
    let policies = specification
        .get("requestPolicies")
        .map(|node| node.object(REQUEST_POLICIES))
        .transpose()?;
    if let Some(policies) = &policies {
        deployment_policies(policies, warnings)?;
    }
    match policies.as_ref().and_then(|p| p.get("authentication")) {
        Some(node) => Policy::parse(&node, warnings),
        None => Err(ConfigError::invalid(
            join(&specification.path("requestPolicies"), "authentication"),
            "no authentication policy (jwt-gate translates JWT_AUTHENTICATION and \
             TOKEN_AUTHENTICATION)",
        )),
    }
}

/// The deployment's routes, read; backends are Envoy's business (one warning).
fn routes(
    specification: &Object<'_>,
    prefix: &str,
    policy: &Policy,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<Route>, ConfigError> {
    let nodes = match specification.get("routes") {
        Some(node) => node.items()?,
        None => Vec::new(),
    };
    let mut routes = Vec::new();
    for node in &nodes {
        routes.push(Route::parse(
            node,
            prefix,
            policy.anonymous_allowed,
            warnings,
        )?);
    }
    no_route_twice(&routes, &specification.path("routes"))?;
    if nodes
        .iter()
        .any(|route| route.value.get("backend").is_some_and(|b| !b.is_null()))
    {
        warnings.push(ConfigWarning::new(
            specification.path("routes[*].backend"),
            BACKEND,
        ));
    }
    Ok(routes)
}

/// A token of any of the providers.
fn any_provider(providers: &BTreeMap<String, JwtProvider>) -> JwtRequirement {
    let mut names: Vec<JwtRequirement> = providers
        .keys()
        .map(|name| JwtRequirement::ProviderName(name.clone()))
        .collect();
    match (names.pop(), names.is_empty()) {
        (Some(only), true) => only,
        (last, _) => {
            names.extend(last);
            JwtRequirement::RequiresAny(RequirementList {
                requirements: names,
            })
        }
    }
}

/// One provider per allowed issuer (OCI allows five), all alike but for `issuer`: `oci`, or
/// `oci_1`, `oci_2`, ...
fn providers(
    policy: &Policy,
    claim_to_headers: &[JwtClaimToHeader],
) -> BTreeMap<String, JwtProvider> {
    let mut providers = BTreeMap::new();
    for (index, issuer) in policy.issuers.iter().enumerate() {
        let name = if policy.issuers.len() == 1 {
            "oci".to_owned()
        } else {
            format!("oci_{}", index + 1)
        };
        let provider = JwtProvider {
            issuer: issuer.clone(),
            claim_to_headers: claim_to_headers.to_vec(),
            ..policy.provider.clone()
        };
        providers.insert(name, provider);
    }
    providers
}

/// OCI's answer to a request no route of the deployment takes: 404. OCI documents no 405: a
/// route is a path and its methods, and a listed path with a method its route does not list is
/// a request no route takes (the body OCI sends is not documented: jwt-gate's is `Not Found`).
pub const NOT_FOUND: &str = "Not Found";

/// One rule per route and method, the most specific path first whatever the deployment's order
/// (a `/{rest*}` listed before `/admin` must not decide for `/admin`); after each path's rules,
/// OCI's 404 for the methods its routes do not list, so that another method on `/admin` is not
/// taken by a less specific route (OCI does not document which it would do: this is the closed
/// reading); and OCI's 404 for every path no route lists.
fn rules(routes: &[Route], required: &JwtRequirement) -> Vec<RequirementRule> {
    let mut by_specificity: Vec<&Route> = routes.iter().collect();
    by_specificity.sort_by(|a, b| a.parsed.specificity().cmp(&b.parsed.specificity()));
    let mut paths: Vec<&Route> = Vec::new();
    for route in by_specificity {
        if !paths
            .iter()
            .any(|seen| seen.parsed.same_pattern(&route.parsed))
        {
            paths.push(route);
        }
    }
    let mut rules = Vec::new();
    for path in paths {
        let same_path = || {
            routes
                .iter()
                .filter(|r| r.parsed.same_pattern(&path.parsed))
        };
        for route in same_path() {
            for method in &route.methods {
                rules.push(route_rule(route, method.as_deref(), required));
            }
        }
        if !same_path().any(|route| route.methods.contains(&None)) {
            rules.push(not_found(PathSpecifier::PathTemplate(
                path.template.clone(),
            )));
        }
    }
    rules.push(not_found(PathSpecifier::Prefix("/".to_owned())));
    rules
}

/// The rule of one route for one method (`None`: any).
fn route_rule(route: &Route, method: Option<&str>, required: &JwtRequirement) -> RequirementRule {
    let requires = match route.authorization {
        Authorization::Anonymous => None,
        Authorization::AuthenticationOnly | Authorization::AnyOf(_) => Some(required.clone()),
    };
    let allowed_scopes = match &route.authorization {
        Authorization::AnyOf(scopes) => scopes.clone(),
        _ => Vec::new(),
    };
    let headers = method.map(|method| HeaderMatcher {
        name: ":method".to_owned(),
        rule: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
            pattern: StringPattern::Exact(method.to_owned()),
            ignore_case: false,
        })),
        ..HeaderMatcher::default()
    });
    RequirementRule {
        route: RouteMatch {
            path: PathSpecifier::PathTemplate(route.template.clone()),
            case_sensitive: None,
            headers: headers.into_iter().collect(),
            query_parameters: Vec::new(),
        },
        requires,
        requirement_name: None,
        allowed_scopes,
        deny: None,
        when: Vec::new(),
    }
}

/// OCI's 404 for the requests `path` matches (any method).
fn not_found(path: PathSpecifier) -> RequirementRule {
    RequirementRule {
        route: RouteMatch {
            path,
            case_sensitive: None,
            headers: Vec::new(),
            query_parameters: Vec::new(),
        },
        requires: None,
        requirement_name: None,
        allowed_scopes: Vec::new(),
        deny: Some(Deny {
            status: 404,
            message: NOT_FOUND.to_owned(),
        }),
        when: Vec::new(),
    }
}

/// Two routes that take the same requests (one path pattern, a method in common; `ANY` has
/// every method): which one decides would depend on their order, and an ANONYMOUS one listed
/// first would open the other. Refused, as the OpenAPI translation refuses two operations on
/// one path and method.
fn no_route_twice(routes: &[Route], at: &str) -> Result<(), ConfigError> {
    for (index, route) in routes.iter().enumerate() {
        let earlier = routes.iter().take(index).enumerate();
        for (other_index, other) in earlier {
            if !route.parsed.same_pattern(&other.parsed) {
                continue;
            }
            let shared = route.methods.iter().find(|method| {
                method.is_none() || other.methods.contains(method) || other.methods.contains(&None)
            });
            if let Some(method) = shared {
                let method = match (method, other.methods.first()) {
                    (Some(method), _) => method.clone(),
                    (None, Some(Some(method))) => method.clone(),
                    (None, _) => "ANY".to_owned(),
                };
                return Err(ConfigError::invalid(
                    format!("{at}[{index}]"),
                    format!(
                        "{method} {} is also routes[{other_index}]'s ({}): two routes for one \
                         path and method would leave which one applies to their order; give \
                         each path and method one route",
                        route.path, other.path
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// What the deployment's routes go to: not jwt-gate's business.
const BACKEND: &str = "not translated: jwt-gate decides who may pass, Envoy's route_config where \
                       requests go";

/// The authentication policy, as the provider fields every issuer shares.
struct Policy {
    issuers: Vec<String>,
    anonymous_allowed: bool,
    /// Where tokens are read, lower-case when a header (a claim header must not be it).
    token_header: Option<String>,
    /// What the providers of every issuer share.
    provider: JwtProvider,
}

impl Policy {
    fn parse(node: &Node<'_>, warnings: &mut Vec<ConfigWarning>) -> Result<Self, ConfigError> {
        let policy = match tag(node)? {
            Some("JWT_AUTHENTICATION") => node.object(JWT_AUTHENTICATION)?,
            Some("TOKEN_AUTHENTICATION") => node.object(TOKEN_AUTHENTICATION)?,
            other => {
                return Err(ConfigError::invalid(
                    join(&node.path, "type"),
                    format!(
                        "{}: expected JWT_AUTHENTICATION or TOKEN_AUTHENTICATION (authorizer \
                         functions, CUSTOM_AUTHENTICATION, are not translated)",
                        other.map_or_else(|| "missing".to_owned(), |t| format!("{t:?}"))
                    ),
                ))
            }
        };
        let (keys, claims) = keys_and_claims(&policy, warnings)?;
        let issuers = non_empty_strings(&claims, "issuers")?;
        let mut provider = JwtProvider {
            audiences: non_empty_strings(&claims, "audiences")?,
            ..JwtProvider::default()
        };
        let token_header = token_location(&policy, &mut provider)?;
        let skew = match policy.get("maxClockSkewInSeconds") {
            Some(node) => node.integer(0, 120)?,
            None => 0,
        };
        provider.clock_skew = Some(Duration::from_secs(skew));
        if let Some(checks) = claims.get("verifyClaims") {
            provider.verify_claims = verify_claims(&checks, warnings)?;
        }
        provider.forward = true;
        // OCI reads a claim name with a dot as one top-level claim, never a path.
        provider.claim_lookup = Some(ClaimLookup::Literal);
        provider.jwks_source = Some(keys.translate(warnings)?);
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

/// Where a policy's keys are, and the object with its claim rules: the policy itself for
/// JWT_AUTHENTICATION; TOKEN_AUTHENTICATION keeps both in `validationPolicy`.
fn keys_and_claims<'a>(
    policy: &Object<'a>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(KeysNode<'a>, Object<'a>), ConfigError> {
    let Some(validation) = policy.get("validationPolicy") else {
        return Ok((
            KeysNode::Jwt(policy.required("publicKeys")?),
            policy.clone(),
        ));
    };
    if let Some(failure) = policy.get("validationFailurePolicy") {
        failure_policy(&failure, warnings)?;
    }
    let fields = validation_fields(&validation)?;
    let claims = validation
        .object(fields)?
        .required("additionalValidationPolicy")?
        .object(ADDITIONAL_VALIDATION)?;
    Ok((KeysNode::Token(validation), claims))
}

/// `tokenHeader` (with `tokenAuthScheme`) or `tokenQueryParam`, as the provider's one token
/// location; the header's name, lower-case.
fn token_location(
    policy: &Object<'_>,
    provider: &mut JwtProvider,
) -> Result<Option<String>, ConfigError> {
    let scheme = policy.get("tokenAuthScheme");
    match (policy.get("tokenHeader"), policy.get("tokenQueryParam")) {
        (Some(header), None) => {
            let name = header.string()?;
            if !is_header_name(&name.to_ascii_lowercase()) {
                return Err(header.expected("a header name"));
            }
            let value_prefix = match scheme {
                Some(scheme) => match scheme.string()? {
                    "" => String::new(),
                    scheme => format!("{scheme} "),
                },
                None => String::new(),
            };
            provider.from_headers = vec![JwtHeader {
                name: name.to_owned(),
                value_prefix,
            }];
            Ok(Some(name.to_ascii_lowercase()))
        }
        (None, Some(param)) => {
            if let Some(scheme) = scheme {
                return Err(scheme.error("goes with tokenHeader, not tokenQueryParam"));
            }
            provider.from_params = vec![param.string()?.to_owned()];
            Ok(None)
        }
        _ => Err(ConfigError::invalid(
            policy.at(),
            "give exactly one of tokenHeader or tokenQueryParam",
        )),
    }
}

/// The fields of a TOKEN_AUTHENTICATION `validationPolicy`, by its type.
fn validation_fields(validation: &Node<'_>) -> Result<&'static [&'static str], ConfigError> {
    let error = |message: &str| ConfigError::invalid(join(&validation.path, "type"), message);
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
    /// The provider's key source.
    fn translate(&self, warnings: &mut Vec<ConfigWarning>) -> Result<JwksSource, ConfigError> {
        let (node, remote_fields, static_fields) = match self {
            Self::Jwt(node) => (node, REMOTE_JWKS, STATIC_KEYS),
            Self::Token(node) => (node, TOKEN_REMOTE_JWKS, TOKEN_STATIC_KEYS),
        };
        match tag(node)? {
            Some("REMOTE_JWKS") => remote_jwks(&node.object(remote_fields)?, warnings),
            Some("STATIC_KEYS") => {
                let keys = node.object(static_fields)?;
                let jwks = static_keys(&keys.required("keys")?)?;
                Ok(JwksSource::LocalJwks(DataSource::InlineString(
                    jwks.to_string(),
                )))
            }
            _ => Err(ConfigError::expected(
                join(&node.path, "type"),
                "REMOTE_JWKS or STATIC_KEYS",
            )),
        }
    }
}

/// A REMOTE_JWKS key set: fetched through the cluster `jwt-gate envoy-config` writes for its
/// host, cached `maxCacheDurationInHours`.
fn remote_jwks(
    keys: &Object<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<JwksSource, ConfigError> {
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
    Ok(JwksSource::RemoteJwks(RemoteJwks {
        http_uri: Some(UriSpec {
            uri: uri.uri,
            cluster: format!("jwt-provider-cluster-{host}:{port}"),
            timeout: Some(Duration::from_secs(5)),
        }),
        cache_duration: Some(Duration::from_secs(hours * 3600)),
        ..RemoteJwks::default()
    }))
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

/// `verifyClaims`, in jwt-gate's spelling.
fn verify_claims(
    node: &Node<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<VerifyClaim>, ConfigError> {
    let mut out = Vec::new();
    for item in node.items()? {
        let claim = item.object(CLAIM)?;
        let key = claim.required("key")?;
        if key.string()?.is_empty() {
            return Err(key.expected("a claim name"));
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
        out.push(VerifyClaim {
            key: key.string()?.to_owned(),
            values,
            is_required: required,
        });
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
                return Err(ConfigError::expected(
                    join(&item.path, "format"),
                    "JSON_WEB_KEY or PEM",
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
            return Err(pem.expected("an RSA public key (OCI accepts RSA only)"));
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

#[cfg(test)]
impl Translation {
    /// The configuration as the command line prints it.
    fn json(&self) -> Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
