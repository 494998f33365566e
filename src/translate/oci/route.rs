//! A deployment's routes: each route's path (as a path template), methods and `authorization`,
//! its header transformations (read in `headers`), and warnings for the policies jwt-gate leaves
//! to Envoy or to the backend.

use super::model::{METHODS, ROUTE, ROUTE_REQUEST_POLICIES, ROUTE_RESPONSE_POLICIES};
use super::read::{join, non_empty_strings, tag, warn, Node, Object};
use crate::config::{ConfigError, ConfigWarning};
use crate::policy::template::PathTemplate;

// What a known, untranslated feature means here.
pub(super) const LOGGING: &str =
    "not translated: access and execution logs are Envoy's (access_log)";
pub(super) const CORS: &str = "not translated: CORS is Envoy's (the cors filter); a preflight \
                                (OPTIONS) is judged like any request, so it gets 404 where no \
                                route lists OPTIONS, unless the configuration sets \
                                bypass_cors_preflight";
const VALIDATION: &str = "not translated: jwt-gate does not validate requests, so the backend \
                          gets requests OCI would refuse as invalid";
const CACHE: &str = "not translated: jwt-gate does not cache responses";

/// A route's authorization.
pub(super) enum Authorization {
    AuthenticationOnly,
    AnyOf(Vec<String>),
    /// OCI does not authenticate an ANONYMOUS route: a token, valid or not, is not looked at
    /// and `request.auth` stays empty (OCI's troubleshooting page "Header transformations do
    /// not work as expected").
    Anonymous,
}

/// One route, read.
pub(super) struct Route {
    /// The route's `path`, for messages.
    pub(super) path: String,
    pub(super) template: String,
    pub(super) parsed: PathTemplate,
    /// `None`: any method.
    pub(super) methods: Vec<Option<String>>,
    pub(super) authorization: Authorization,
    /// `setHeaders` items whose value is one claim: (header, claim, the value's JSON path).
    pub(super) claim_headers: Vec<(String, String, String)>,
    /// Other request header transformations: (header, JSON path, what is done to it).
    pub(super) header_changes: Vec<(String, String, &'static str)>,
}

impl Route {
    /// `routes[i]` under the deployment's path `prefix`; `anonymous_allowed`: the
    /// authentication policy lets ANONYMOUS routes be.
    pub(super) fn parse(
        node: &Node<'_>,
        prefix: &str,
        anonymous_allowed: bool,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Self, ConfigError> {
        let route = node.object(ROUTE)?;
        let path_node = route.required("path")?;
        let path = path_node.string()?.to_owned();
        if !path.starts_with('/') {
            return Err(path_node.expected("a path starting with '/'"));
        }
        let template = format!("{prefix}{}", template_of(&path));
        let parsed = PathTemplate::parse(&template).map_err(|why| path_node.error(why))?;
        let mut out = Self {
            path,
            template,
            parsed,
            methods: methods(&route)?,
            authorization: Authorization::AuthenticationOnly,
            claim_headers: Vec::new(),
            header_changes: Vec::new(),
        };
        if let Some(policies) = route.get("requestPolicies") {
            out.request_policies(&policies, anonymous_allowed, warnings)?;
        }
        untranslated_policies(&route, warnings)?;
        Ok(out)
    }

    /// The route's `requestPolicies`: its authorization, its header transformations, and
    /// warnings for the rest.
    fn request_policies(
        &mut self,
        node: &Node<'_>,
        anonymous_allowed: bool,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let policies = node.object(ROUTE_REQUEST_POLICIES)?;
        if let Some(authorization) = policies.get("authorization") {
            self.authorization = authorization_of(&authorization, anonymous_allowed)?;
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
            self.header_transformations(&transformations, warnings)?;
        }
        Ok(())
    }
}

/// The route's `methods`: `None` for any method (none listed, or `ANY`).
fn methods(route: &Object<'_>) -> Result<Vec<Option<String>>, ConfigError> {
    let Some(node) = route.get("methods") else {
        return Ok(vec![None]);
    };
    let mut methods = Vec::new();
    for item in node.items()? {
        let method = item.string()?;
        if !METHODS.contains(&method) {
            return Err(item.expected(format!("one of {}", METHODS.join(", "))));
        }
        methods.push(method.to_owned());
    }
    if methods.is_empty() {
        return Err(node.expected("at least one method"));
    }
    if methods.iter().any(|m| m == "ANY") {
        return Ok(vec![None]);
    }
    Ok(methods.into_iter().map(Some).collect())
}

/// Warnings for what a route does that jwt-gate leaves to Envoy or the backend: response
/// policies, logging, an unverified backend certificate.
fn untranslated_policies(
    route: &Object<'_>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
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
    Ok(())
}

/// A route's `authorization` policy.
fn authorization_of(
    node: &Node<'_>,
    anonymous_allowed: bool,
) -> Result<Authorization, ConfigError> {
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
            if !anonymous_allowed {
                return Err(ConfigError::invalid(
                    join(&node.path, "type"),
                    "ANONYMOUS needs isAnonymousAccessAllowed: true in the authentication policy",
                ));
            }
            Ok(Authorization::Anonymous)
        }
        other => Err(ConfigError::invalid(
            join(&node.path, "type"),
            format!(
                "{}: expected AUTHENTICATION_ONLY, ANY_OF or ANONYMOUS",
                other.map_or_else(|| "missing".to_owned(), |t| format!("{t:?}"))
            ),
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
