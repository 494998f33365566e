use serde_json::{json, Value};

use super::*;
use crate::config::Config;

/// The documents of a YAML text.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| <Value as serde::Deserialize>::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect()
}

const AUTH0: &str = "
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: auth0, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules:
  - issuer: https://dev-1234.auth0.com/
    jwksUri: https://dev-1234.auth0.com/.well-known/jwks.json
    audiences: [https://auth0-jwt-authorizer]
    outputClaimToHeaders: [{header: x-jwt-sub, claim: sub}]
";

fn policy(spec: &str) -> String {
    format!(
        "{AUTH0}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: p, namespace: istio-system}}
spec:
{}",
        indent(spec)
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

/// The translation as JSON, after checking that it compiles.
fn translated(yaml: &str) -> Value {
    let translation = translate(&documents(yaml)).unwrap();
    Config::compile(&translation.config).unwrap();
    serde_json::to_value(&translation.config).unwrap()
}

fn rejected(yaml: &str) -> String {
    translate(&documents(yaml)).unwrap_err().to_string()
}

fn rules(yaml: &str) -> Value {
    translated(yaml)["rules"].clone()
}

const ANY_TOKEN: &str = "request_authentication";

#[test]
fn request_authentication_alone_is_istiods_configuration() {
    assert_eq!(
        translated(AUTH0),
        json!({
            "providers": {"auth0": {
                "issuer": "https://dev-1234.auth0.com/",
                "audiences": ["https://auth0-jwt-authorizer"],
                "remote_jwks": {"http_uri": {
                    "uri": "https://dev-1234.auth0.com/.well-known/jwks.json",
                    "cluster": "outbound|443||dev-1234.auth0.com",
                    "timeout": "5s"}},
                "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}],
            }},
            "requirement_map": {ANY_TOKEN: {"requires_any": {"requirements": [
                {"provider_name": "auth0"}, {"allow_missing": {}}]}}},
            "rules": [{"match": {"prefix": "/"}, "requirement_name": ANY_TOKEN}],
            "bypass_cors_preflight": true,
        })
    );
}

#[test]
fn every_jwt_rule_field_has_its_place() {
    let yaml = "
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: idps}
spec:
  jwtRules:
  - issuer: https://keycloak.example.com/realms/r
    fromHeaders: [{name: x-token, prefix: 'Token '}, {name: x-raw}]
    fromParams: [jwt]
    fromCookies: [session]
    outputPayloadToHeader: x-payload
    forwardOriginalToken: true
    timeout: 2s
    spaceDelimitedClaims: [scope]
  - issuer: https://idp.example
    jwks: '{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}'
";
    let config = translated(yaml);
    assert_eq!(
        config["providers"],
        json!({
            "idps-1": {
                "issuer": "https://keycloak.example.com/realms/r",
                // No jwksUri: discovered from the issuer, as istiod does.
                "remote_jwks": {"http_uri": {"cluster": "outbound|443||keycloak.example.com", "timeout": "2s"}},
                "forward": true,
                "from_headers": [{"name": "x-token", "value_prefix": "Token "}, {"name": "x-raw"}],
                "from_params": ["jwt"],
                "from_cookies": ["session"],
                "forward_payload_header": "x-payload",
            },
            "idps-2": {"issuer": "https://idp.example", "local_jwks": {"inline_string":
                "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}"}},
        })
    );
    // Several issuers: any one, or each one or none (istiod's tree).
    assert_eq!(
        config["requirement_map"][ANY_TOKEN],
        json!({"requires_any": {"requirements": [
            {"provider_name": "idps-1"},
            {"provider_name": "idps-2"},
            {"requires_all": {"requirements": [
                {"requires_any": {"requirements": [{"provider_name": "idps-1"}, {"allow_missing": {}}]}},
                {"requires_any": {"requirements": [{"provider_name": "idps-2"}, {"allow_missing": {}}]}},
            ]}},
        ]}})
    );
}

#[test]
fn allow_rules_become_rules_with_when() {
    let yaml = policy(
        "action: ALLOW
rules:
- to: [{operation: {paths: [/healthz]}}]
- from: [{source: {requestPrincipals: ['https://dev-1234.auth0.com//*']}}]
  to: [{operation: {paths: [/api/*], methods: [GET, POST]}}]
- to: [{operation: {paths: ['/admin/*']}}]
  when:
  - key: request.auth.claims[groups]
    values: [admins]
  - key: request.auth.claims[https://example.com/org][tier]
    notValues: [free]
- to: [{operation: {paths: [/static/logo.png], methods: [GET]}}]",
    );
    let config = translated(&yaml);
    assert_eq!(config.get("bypass_cors_preflight"), None);
    assert_eq!(
        config["rules"],
        json!([
            {"match": {"path": "/healthz"}, "requirement_name": ANY_TOKEN},
            {"match": {"prefix": "/api/", "headers": [{"name": ":method", "string_match": {"safe_regex": {"regex": "GET|POST"}}}]},
             "requirement_name": ANY_TOKEN,
             "when": [{"key": "request.auth.principal", "values": ["https://dev-1234.auth0.com//*"]}]},
            {"match": {"prefix": "/admin/"}, "requirement_name": ANY_TOKEN,
             "when": [{"key": "request.auth.claims[groups]", "values": ["admins"]},
                      {"key": "request.auth.claims[https://example.com/org][tier]", "not_values": ["free"]}]},
            {"match": {"path": "/static/logo.png", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
             "requirement_name": ANY_TOKEN},
            // Nothing else is allowed once an ALLOW policy exists.
            {"match": {"prefix": "/"}, "deny": {"status": 403, "message": "RBAC: access denied"}},
        ])
    );
}

#[test]
fn narrower_operations_come_first_and_take_every_rule_that_covers_them() {
    let yaml = policy(
        "rules:
- from: [{source: {requestPrincipals: ['*']}}]
- to: [{operation: {paths: [/public/*]}}]
- to: [{operation: {paths: [/public/*], methods: [GET]}}]",
    );
    // /public/* GET is inside /public/* (any method) inside everything: all three allow it,
    // one without conditions.
    assert_eq!(
        rules(&yaml),
        json!([
            {"match": {"prefix": "/public/", "headers": [{"name": ":method", "string_match": {"exact": "GET"}}]},
             "requirement_name": ANY_TOKEN},
            {"match": {"prefix": "/public/"}, "requirement_name": ANY_TOKEN},
            {"match": {"prefix": "/"}, "requirement_name": ANY_TOKEN,
             "when": [{"key": "request.auth.principal", "values": ["*"]}]},
        ])
    );
}

#[test]
fn deny_rules_deny_outright_or_on_the_opposite_condition() {
    let yaml = format!(
        "{}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: istio-system}}
spec:
  action: DENY
  rules:
  - from: [{{source: {{notRequestPrincipals: ['*']}}}}]
    to: [{{operation: {{notPaths: [/healthz]}}}}]
",
        policy("action: DENY\nrules:\n- to: [{operation: {paths: [/internal/*]}}]")
    );
    assert!(rejected(&yaml).starts_with(
        "document 3 (AuthorizationPolicy istio-system/require-jwt): spec.rules[0].to[0].operation.notPaths: not translated"
    ));
    let yaml = format!(
        "{}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: require-jwt, namespace: istio-system}}
spec:
  action: DENY
  rules:
  - from: [{{source: {{notRequestPrincipals: ['*']}}}}]
",
        policy("action: DENY\nrules:\n- to: [{operation: {paths: [/internal/*]}}]")
    );
    let translation = translate(&documents(&yaml)).unwrap();
    assert_eq!(
        serde_json::to_value(&translation.config.rules).unwrap(),
        json!([
            {"match": {"prefix": "/internal/"}, "deny": {"status": 403, "message": "RBAC: access denied"}},
            {"match": {"prefix": "/"}, "requirement_name": ANY_TOKEN,
             "when": [{"key": "request.auth.principal", "values": ["*"]}]},
        ])
    );
    // No token: Istio's notRequestPrincipals held and denied it; so does jwt-gate (401).
    assert!(
        translation.warnings.is_empty(),
        "{:?}",
        translation.warnings
    );
    // A DENY on a principal lets a request without a token through in Istio; jwt-gate asks
    // for one, and says so.
    let banned = policy(
        "action: DENY
rules:
- from: [{source: {requestPrincipals: ['https://evil.example/*']}}]",
    );
    let translation = translate(&documents(&banned)).unwrap();
    assert_eq!(
        serde_json::to_value(&translation.config.rules).unwrap(),
        json!([{"match": {"prefix": "/"}, "requirement_name": ANY_TOKEN,
                "when": [{"key": "request.auth.principal", "not_values": ["https://evil.example/*"]}]}])
    );
    assert_eq!(
        translation
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "document 2 (AuthorizationPolicy istio-system/p): spec.rules[0]: a DENY rule with a \
          condition becomes its opposite on a verified token: a request without a token gets 401 \
          here, where Istio's DENY let it through"
        ]
    );
    // Two conditions: "deny when both" is "allow when either fails", an OR.
    let two = policy(
        "action: DENY
rules:
- from: [{source: {requestPrincipals: ['a/*'], notRequestPrincipals: ['a/b']}}]",
    );
    assert!(
        rejected(&two).starts_with(
            "document 2 (AuthorizationPolicy istio-system/p): spec.rules[0]: a DENY rule with \
             more than one condition"
        ),
        "{}",
        rejected(&two)
    );
}

#[test]
fn an_allow_policy_without_rules_allows_nothing() {
    assert_eq!(
        rules(&policy("action: ALLOW")),
        json!([{"match": {"prefix": "/"}, "deny": {"status": 403, "message": "RBAC: access denied"}}])
    );
    // A DENY policy without rules denies nothing.
    assert_eq!(
        rules(&policy("action: DENY")),
        json!([{"match": {"prefix": "/"}, "requirement_name": ANY_TOKEN}])
    );
}

#[test]
fn sources_are_ored_only_as_one_principal_list() {
    let union = policy(
        "rules:
- from:
  - source: {requestPrincipals: ['iss-a/*']}
  - source: {requestPrincipals: ['iss-b/*']}",
    );
    assert_eq!(
        rules(&union)[0]["when"],
        json!([{"key": "request.auth.principal", "values": ["iss-a/*", "iss-b/*"]}])
    );
    let mixed = policy(
        "rules:
- from:
  - source: {requestPrincipals: ['iss-a/*']}
  - source: {notRequestPrincipals: ['iss-b/*']}",
    );
    assert_eq!(
        rejected(&mixed),
        "document 2 (AuthorizationPolicy istio-system/p): spec.rules[0].from: several sources \
         are ORed; jwt-gate translates that only for sources that each list requestPrincipals \
         alone"
    );
}

#[test]
fn what_jwt_gate_cannot_express_is_an_error_naming_the_document_and_field() {
    let at = "document 2 (AuthorizationPolicy istio-system/p): ";
    for (spec, field, starts) in [
        (
            "action: CUSTOM\nprovider: {name: ext}",
            "spec.action",
            "CUSTOM: jwt-gate decides ALLOW and DENY",
        ),
        ("action: AUDIT", "spec.action", "AUDIT:"),
        (
            "rules:\n- from: [{source: {ipBlocks: [10.0.0.0/8]}}]",
            "spec.rules[0].from[0].source.ipBlocks",
            "not translated",
        ),
        (
            "rules:\n- from: [{source: {namespaces: [prod]}}]",
            "spec.rules[0].from[0].source.namespaces",
            "not translated",
        ),
        (
            "rules:\n- to: [{operation: {hosts: [a.example]}}]",
            "spec.rules[0].to[0].operation.hosts",
            "not translated",
        ),
        (
            "rules:\n- to: [{operation: {ports: ['8080']}}]",
            "spec.rules[0].to[0].operation.ports",
            "not translated",
        ),
        (
            "rules:\n- when: [{key: source.ip, values: [10.0.0.1]}]",
            "spec.rules[0].when[0].key",
            "\"source.ip\" is not about the token",
        ),
        (
            "rules:\n- when: [{key: 'request.headers[x-user]', values: [a]}]",
            "spec.rules[0].when[0].key",
            "\"request.headers[x-user]\" is not about the token",
        ),
        (
            "rules:\n- when: [{key: 'request.auth.claims[groups', values: [a]}]",
            "spec.rules[0].when[0]",
            "\"request.auth.claims[groups\": expected",
        ),
        (
            "rules:\n- to: [{operation: {paths: ['/v1/{*}/x']}}]",
            "spec.rules[0].to[0].operation.paths",
            "\"/v1/{*}/x\": path templates",
        ),
        (
            "rules:\n- to: [{operation: {method: [GET]}}]",
            "spec.rules[0].to[0].operation.method",
            "unknown field (did you mean methods?)",
        ),
        (
            "rules:\n- when: [{key: 'request.auth.claims[permission]', values: [read]}]",
            "spec.rules[0].when[0].key",
            "Istio splits the permission claim",
        ),
    ] {
        let error = rejected(&policy(spec));
        let expected = format!("{at}{field}: {starts}");
        assert!(
            error.starts_with(&expected),
            "{error}\n  expected: {expected}"
        );
    }
}

#[test]
fn an_or_of_different_conditions_is_refused() {
    // /admin/* is allowed to admins by one rule and to any principal by another: Istio ORs
    // them; jwt-gate's when cannot.
    let or = policy(
        "rules:
- to: [{operation: {paths: [/admin/*]}}]
  when: [{key: 'request.auth.claims[groups]', values: [admins]}]
- from: [{source: {requestPrincipals: ['*']}}]",
    );
    assert!(
        rejected(&or).starts_with(
            "document 2 (AuthorizationPolicy istio-system/p): spec.rules[1]: allows requests \
             that document 2 (AuthorizationPolicy istio-system/p): spec.rules[0] allows too"
        ),
        "{}",
        rejected(&or)
    );
    // A prefix and a suffix share requests (/a/x.json), neither holding the other.
    let overlap = policy(
        "rules:
- to: [{operation: {paths: [/a/*]}}]
  when: [{key: 'request.auth.claims[groups]', values: [admins]}]
- to: [{operation: {paths: ['*.json']}}]",
    );
    assert!(rejected(&overlap).starts_with(
        "document 2 (AuthorizationPolicy istio-system/p): spec.rules[1]: its paths or methods \
         overlap those of document 2 (AuthorizationPolicy istio-system/p): spec.rules[0]"
    ));
    // Unless the two rules say the same.
    let same = policy(
        "rules:
- to: [{operation: {paths: [/a/*]}}]
- to: [{operation: {paths: ['*.json']}}]",
    );
    assert_eq!(
        rules(&same),
        json!([
            {"match": {"prefix": "/a/"}, "requirement_name": ANY_TOKEN},
            {"match": {"safe_regex": {"regex": ".*\\.json"}}, "requirement_name": ANY_TOKEN},
            {"match": {"prefix": "/"}, "deny": {"status": 403, "message": "RBAC: access denied"}},
        ])
    );
}

#[test]
fn manifests_are_istio_security_policies_of_one_workload() {
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n";
    assert_eq!(
        rejected(&format!("{AUTH0}---\n{service}")),
        "document 2: kind: \"Service\" of \"v1\": jwt-gate from-istio reads security.istio.io \
         RequestAuthentication and AuthorizationPolicy"
    );
    let other_workload = policy("selector: {matchLabels: {app: other}}");
    assert!(rejected(&other_workload).starts_with(
        "document 2 (AuthorizationPolicy istio-system/p): spec.selector: selects other workloads than document 1 (RequestAuthentication istio-system/auth0)"
    ));
    assert!(rejected(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {}\n"
    )
    .starts_with("no RequestAuthentication with jwtRules"));
    let typo = AUTH0.replace("audiences:", "audience:");
    assert_eq!(
        rejected(&typo),
        "document 1 (RequestAuthentication istio-system/auth0): spec.jwtRules[0].audience: unknown field (did you mean audiences?)"
    );
    let both = AUTH0.replace("audiences:", "jwks: '{}'\n    audiences:");
    assert_eq!(
        rejected(&both),
        "document 1 (RequestAuthentication istio-system/auth0): spec.jwtRules[0]: give jwksUri \
         or jwks, not both"
    );
    // A kubectl List is its items.
    let list = json!({"apiVersion": "v1", "kind": "List", "items": documents(AUTH0)});
    assert_eq!(
        translate(&[list]).unwrap().config,
        translate(&documents(AUTH0)).unwrap().config
    );
}

/// The pair of envoy/istio/migration: after.yaml's pluginConfig is what from-istio prints for
/// before.yaml.
#[test]
fn the_migration_examples_after_is_before_translated() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("envoy/istio/migration");
    let before = std::fs::read_to_string(root.join("before.yaml")).unwrap();
    let after = std::fs::read_to_string(root.join("after.yaml")).unwrap();
    let plugin = documents(&after)
        .into_iter()
        .find(|document| document["kind"] == "WasmPlugin")
        .unwrap()["spec"]["pluginConfig"]
        .clone();
    assert_eq!(translated(&before), plugin);
}
