use serde_json::json;

use super::*;
use crate::authenticator::{authenticate, Decision, NoRemoteKeys, Request};
use crate::config::Config;
use crate::time::UnixTime;
use crate::token_cache::TokenCache;
use crate::verify::RingVerifier;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../tests/data/oci_deployment.json")).unwrap()
}

#[test]
fn deployment_cases() {
    let file = fixture();
    let translated = translate(&file["deployment"]).unwrap();
    let config = Config::from_value(&translated).unwrap();
    let now = UnixTime(file["now"].as_u64().unwrap());
    let mut failures = Vec::new();
    for case in file["cases"].as_array().unwrap() {
        let mut headers = vec![
            (
                b":method".to_vec(),
                case["method"].as_str().unwrap().as_bytes().to_vec(),
            ),
            (
                b":path".to_vec(),
                case["path"].as_str().unwrap().as_bytes().to_vec(),
            ),
        ];
        if let Some(token) = case["token"].as_str() {
            headers.push((
                b"authorization".to_vec(),
                format!("Bearer {token}").into_bytes(),
            ));
        }
        let outcome = authenticate(
            &config,
            Request { headers: &headers },
            now,
            &NoRemoteKeys,
            &RingVerifier,
            &mut TokenCache::new(10, 8192),
        );
        let got = match outcome.decision {
            Decision::Allow { .. } => "ok".to_owned(),
            Decision::Deny(denial) => format!("{} {}", denial.status, denial.body),
            Decision::Wait(wait) => format!("{wait:?}"),
        };
        if got != case["expect"] {
            failures.push(format!(
                "{}: expected {}, got {got:?}",
                case["name"], case["expect"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn translation_shape() {
    let out = translate(&fixture()["deployment"]).unwrap();
    let providers = out["providers"].as_object().unwrap();
    assert_eq!(providers.keys().collect::<Vec<_>>(), ["oci_1", "oci_2"]);
    let first = &out["providers"]["oci_1"];
    assert_eq!(first["issuer"], "https://tenant.auth0.com/");
    assert_eq!(first["clock_skew"], "10s");
    assert_eq!(
        first["from_headers"],
        json!([{"name": "Authorization", "value_prefix": "Bearer "}])
    );
    let jwks: Value =
        serde_json::from_str(first["local_jwks"]["inline_string"].as_str().unwrap()).unwrap();
    assert_eq!(jwks["keys"][1]["kid"], "pem-1");
    assert_eq!(jwks["keys"][1]["kty"], "RSA");
    assert!(jwks["keys"][0].get("format").is_none());
    let rules = out["rules"].as_array().unwrap();
    assert_eq!(rules[0]["match"]["path_template"], "/v1/pets");
    assert_eq!(rules[3]["match"]["path_template"], "/v1/public/{rest=**}");
    assert_eq!(rules[3]["requires"], json!({"allow_missing_or_failed": {}}));
    assert_eq!(rules[1]["allowed_scopes"], json!(["pets:write", "admin"]));
    assert_eq!(rules.last().unwrap()["match"], json!({"prefix": "/"}));
}

#[test]
fn remote_jwks_and_query_tokens() {
    let spec = json!({
        "requestPolicies": {"authentication": {
            "type": "TOKEN_AUTHENTICATION",
            "tokenQueryParam": "token",
            "validationPolicy": {
                "type": "REMOTE_JWKS",
                "uri": "https://tenant.auth0.com/.well-known/jwks.json",
                "maxCacheDurationInHours": 2,
                "additionalValidationPolicy": {"issuers": ["https://tenant.auth0.com/"], "audiences": ["api"]},
            },
        }},
        "routes": [{"path": "/a", "methods": ["GET"]}],
    });
    let out = translate(&spec).unwrap();
    let oci = &out["providers"]["oci"];
    assert_eq!(oci["from_params"], json!(["token"]));
    assert_eq!(oci["clock_skew"], "0s");
    assert_eq!(
        oci["remote_jwks"],
        json!({"http_uri": {"uri": "https://tenant.auth0.com/.well-known/jwks.json",
                            "cluster": "jwt-provider-cluster-tenant.auth0.com:443", "timeout": "5s"},
               "cache_duration": "7200s"})
    );
    Config::from_value(&out).unwrap();
}

#[test]
fn errors_name_the_field() {
    let error = |spec: Value| translate(&spec).unwrap_err().to_string();
    let auth = |policy: Value| json!({"requestPolicies": {"authentication": policy}, "routes": []});
    assert_eq!(
        error(json!({"routes": []})),
        "requestPolicies.authentication: no authentication policy"
    );
    assert!(error(auth(json!({"type": "CUSTOM_AUTHENTICATION"})))
        .starts_with("requestPolicies.authentication.type: \"CUSTOM_AUTHENTICATION\""));
    assert_eq!(
        error(auth(
            json!({"type": "JWT_AUTHENTICATION", "audiences": ["a"], "tokenHeader": "Authorization"})
        )),
        "requestPolicies.authentication.issuers: a non-empty list of strings is required"
    );
    assert!(error(auth(json!({
        "type": "TOKEN_AUTHENTICATION", "tokenHeader": "Authorization",
        "validationPolicy": {"type": "REMOTE_DISCOVERY",
            "additionalValidationPolicy": {"issuers": ["i"], "audiences": ["a"]}},
    })))
    .contains("REMOTE_DISCOVERY is token introspection"));
    let mut spec = fixture()["deployment"].clone();
    spec["specification"]["requestPolicies"]["authentication"]["isAnonymousAccessAllowed"] =
        json!(false);
    assert_eq!(
        error(spec),
        "specification.routes[2].requestPolicies.authorization.type: ANONYMOUS needs isAnonymousAccessAllowed: true in the authentication policy"
    );
}

#[test]
fn specific_routes_decide_whatever_the_listed_order() {
    let mut deployment = fixture()["deployment"].clone();
    deployment["specification"]["routes"] = json!([
        {"path": "/{rest*}", "methods": ["ANY"],
         "requestPolicies": {"authorization": {"type": "ANONYMOUS"}}},
        {"path": "/admin", "methods": ["GET"]},
    ]);
    let out = translate(&deployment).unwrap();
    let rules = out["rules"].as_array().unwrap();
    assert_eq!(rules[0]["match"]["path_template"], "/v1/admin");
    assert_eq!(
        rules[0]["requires"],
        json!({"requires_any": {"requirements": [{"provider_name": "oci_1"}, {"provider_name": "oci_2"}]}})
    );
    assert_eq!(rules[1]["match"]["path_template"], "/v1/{rest=**}");
}
