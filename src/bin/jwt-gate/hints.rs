//! What a document given to a command is when it is another product's format, and which
//! command reads it.

use serde_json::Value;

/// `message`, and on the next line what `input` is if `command` does not read it.
pub fn with_hint(message: String, input: &Value, command: &str) -> String {
    match foreign_format(input, command) {
        Some(hint) => format!("{message}\n  {hint}"),
        None => message,
    }
}

/// What `input` is when it is not what `command` reads, and what to do with it.
fn foreign_format(input: &Value, command: &str) -> Option<String> {
    let Value::Object(object) = input else {
        return None;
    };
    let has = |name: &str| object.contains_key(name);
    let is_oci = has("specification")
        && object
            .get("specification")
            .is_some_and(|s| s.get("routes").is_some() || s.get("requestPolicies").is_some())
        || !has("providers") && (has("routes") || has("requestPolicies"));
    let openapi_version = object.get("openapi").and_then(Value::as_str);
    let hint = if is_oci && command != "from-oci" {
        "this is an OCI API Gateway deployment: `jwt-gate from-oci FILE` translates it (then \
         check what it prints)"
            .to_owned()
    } else if let Some(version) = openapi_version {
        format!(
            "this is an OpenAPI {version} document: jwt-gate reads OpenAPI 2.0 (`swagger: \"2.0\"`, \
             Cloud Endpoints' form) only"
        )
    } else if has("swagger") && command == "from-oci" {
        "this is an OpenAPI 2.0 document: `jwt-gate from-openapi FILE` translates it, and the \
         filter reads it as it is"
            .to_owned()
    } else if has("providers") && command == "from-oci" {
        "this is already jwt-gate's configuration: `jwt-gate check FILE` checks it".to_owned()
    } else if has("static_resources") || has("dynamic_resources") {
        "this is an Envoy bootstrap: `jwt-gate check FILE` checks the jwt-gate configurations in \
         it (and, with --envoy, the whole bootstrap in Envoy)"
            .to_owned()
    } else if object
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|version| version.starts_with("security.istio.io/"))
        && command != "from-istio"
    {
        format!(
            "this is an Istio {}: `jwt-gate from-istio FILE` translates RequestAuthentication and \
             AuthorizationPolicy manifests into jwt-gate's configuration",
            object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("policy")
        )
    } else if has("apiVersion") && has("kind") {
        format!(
            "this is a Kubernetes {}: `jwt-gate check FILE` checks the jwt-gate configuration it \
             carries (and, with --envoy, in Envoy)",
            object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("manifest")
        )
    } else if has("typed_config")
        || object
            .get("@type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("JwtAuthentication"))
    {
        "this is an Envoy filter entry: give the contents of Envoy jwt_authn's typed_config \
         (providers, rules), without @type"
            .to_owned()
    } else if command == "check" && !object.is_empty() && !has("providers") && !has("swagger") {
        "this is none of what `jwt-gate check` reads: a jwt-gate configuration, an OpenAPI 2.0 \
         document, an Envoy bootstrap, http_filters, listeners or clusters, or a Kubernetes \
         manifest (see `jwt-gate check --help`)"
            .to_owned()
    } else {
        return None;
    };
    Some(hint)
}
