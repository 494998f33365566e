use serde_json::json;

use super::*;
use crate::config::Config;

fn document() -> Value {
    json!({
        "swagger": "2.0",
        "host": "bookstore.endpoints.p.cloud.goog",
        "basePath": "/api",
        "security": [{"auth0": []}],
        "securityDefinitions": {
            "auth0": {
                "type": "oauth2", "flow": "implicit", "authorizationUrl": "",
                "x-google-issuer": "https://tenant.auth0.com/",
                "x-google-jwks_uri": "https://tenant.auth0.com/.well-known/jwks.json",
                "x-google-audiences": " a , b,,c ",
            },
            "firebase": {
                "type": "oauth2",
                "x-google-issuer": "https://securetoken.google.com/p",
            },
            "sa": {
                "type": "oauth2",
                "x-google-issuer": "sa@p.iam.gserviceaccount.com",
                "x-google-jwks_uri": "https://www.googleapis.com/robot/v1/metadata/x509/sa@p.iam.gserviceaccount.com",
            },
            "key": {"type": "apiKey", "name": "key", "in": "query"},
        },
        "paths": {
            "/shelves/{shelf}": {
                "get": {"security": [{"auth0": []}, {"firebase": []}]},
                "put": {"security": [{"auth0": [], "sa": []}]},
                "delete": {"security": [{"key": []}, {"sa": []}]},
                "post": {"security": [{"key": []}]},
            },
            "/shelves/mine": {"get": {}},
            "/health": {"get": {"security": []}},
            "x-extension": {"ignored": true},
        },
    })
}

/// A symmetric key file: 34 bytes of key, base64url.
const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";

fn translated(extra: Value) -> Value {
    let mut config = json!({"openapi": document()});
    if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
        config.extend(extra);
    }
    translate(&config).unwrap()
}

#[test]
fn providers_follow_espv2() {
    let out = translated(json!({}));
    let auth0 = &out["providers"]["auth0"];
    assert_eq!(auth0["issuer"], "https://tenant.auth0.com/");
    assert_eq!(auth0["audiences"], json!(["a", "b", "c"]));
    assert_eq!(
        auth0["remote_jwks"]["http_uri"],
        json!({"uri": "https://tenant.auth0.com/.well-known/jwks.json",
               "cluster": "jwt-provider-cluster-tenant.auth0.com:443", "timeout": "5s"})
    );
    assert_eq!(auth0["remote_jwks"]["cache_duration"], "300s");
    assert_eq!(auth0["forward"], true);
    assert_eq!(auth0["forward_payload_header"], "X-Endpoint-API-UserInfo");
    assert_eq!(
        auth0["from_headers"],
        json!([{"name": "Authorization", "value_prefix": "Bearer "},
               {"name": "X-Goog-Iap-Jwt-Assertion"}])
    );
    assert_eq!(auth0["from_params"], json!(["access_token"]));
    // No jwks_uri: OpenID discovery through the issuer's cluster; default audience.
    let firebase = &out["providers"]["firebase"];
    assert_eq!(
        firebase["remote_jwks"]["http_uri"],
        json!({"cluster": "jwt-provider-cluster-securetoken.google.com:443", "timeout": "5s"})
    );
    assert_eq!(
        firebase["audiences"],
        json!(["https://bookstore.endpoints.p.cloud.goog"])
    );
    assert!(out["providers"].get("key").is_none());
    assert_eq!(out["failure_response_format"], "json");
    assert!(out.get("x_forwarded_authorization").is_none());
    Config::from_value(&out).unwrap();
}

#[test]
fn rules_are_ordered_and_combined() {
    let out = translated(json!({}));
    let rules = out["rules"].as_array().unwrap();
    let summary: Vec<String> = rules
        .iter()
        .map(|rule| {
            let target = rule["match"]
                .get("path_template")
                .or_else(|| rule["match"].get("prefix"))
                .unwrap();
            let method = &rule["match"]["headers"][0]["string_match"]["exact"];
            format!(
                "{} {} {}",
                method,
                target,
                rule.get("requires").unwrap_or(&json!(null))
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            r#""GET" "/api/health" null"#,
            r#""GET" "/api/shelves/mine" {"provider_name":"auth0"}"#,
            r#""DELETE" "/api/shelves/{shelf}" {"provider_name":"sa"}"#,
            r#""GET" "/api/shelves/{shelf}" {"requires_any":{"requirements":[{"provider_name":"auth0"},{"provider_name":"firebase"}]}}"#,
            r#""POST" "/api/shelves/{shelf}" null"#,
            r#""PUT" "/api/shelves/{shelf}" {"requires_all":{"requirements":[{"provider_name":"auth0"},{"provider_name":"sa"}]}}"#,
            r#"null "/" {"provider_name":"auth0"}"#,
        ]
    );
}

#[test]
fn options_change_the_output() {
    let out = translated(json!({
        "local_jwks": {"https://tenant.auth0.com/.well-known/jwks.json": SECRET},
        "jwks_clusters": {"securetoken.google.com": "firebase_keys"},
        "generated_header_prefix": "X-Apigateway-",
        "userinfo_format": "esp_v1",
        "jwt_pad_forward_payload_header": true,
        "jwks_cache_duration_in_s": 60,
        "disable_jwt_audience_service_name_check": true,
        "allow_unlisted_operations": true,
        "x_forwarded_authorization": true,
        "stat_prefix": "bookstore",
    }));
    let auth0 = &out["providers"]["auth0"];
    assert_eq!(auth0["local_jwks"], json!({"inline_string": SECRET}));
    // The flag drops only the default audience, never the document's own.
    assert_eq!(auth0["audiences"], json!(["a", "b", "c"]));
    assert!(out["providers"]["firebase"].get("audiences").is_none());
    assert_eq!(auth0["forward_payload_header"], "X-Apigateway-API-UserInfo");
    assert_eq!(auth0["forward_payload_header_format"], "esp_v1");
    assert_eq!(auth0["pad_forward_payload_header"], true);
    let firebase = &out["providers"]["firebase"];
    assert_eq!(
        firebase["remote_jwks"]["http_uri"]["cluster"],
        "firebase_keys"
    );
    assert_eq!(firebase["remote_jwks"]["cache_duration"], "60s");
    assert_eq!(out["x_forwarded_authorization"], true);
    assert_eq!(out["stat_prefix"], "bookstore");
    let last = out["rules"].as_array().unwrap().last().unwrap().clone();
    assert!(last["match"].get("prefix").is_none(), "{last}");
}

#[test]
fn backend_auth_moves_authorization() {
    let mut doc = document();
    doc["x-google-backend"] = json!({"address": "https://backend.run.app"});
    let out = translate(&json!({"openapi": doc})).unwrap();
    assert_eq!(out["x_forwarded_authorization"], true);
    doc["x-google-backend"] = json!({"address": "https://backend.run.app", "disable_auth": true});
    let out = translate(&json!({"openapi": doc})).unwrap();
    assert!(out.get("x_forwarded_authorization").is_none());
}

#[test]
fn errors_name_the_place_in_the_document() {
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|d| d["swagger"] = json!("3.0")),
            "openapi.swagger: expected \"2.0\": an OpenAPI 2.0 document",
        ),
        (
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("swagger");
                d["openapi"] = json!("3.0.3");
            }),
            "openapi.openapi: OpenAPI 3 documents are not supported yet",
        ),
        (
            Box::new(|d| d["paths"]["/health"]["get"]["security"] = json!([{"nope": []}])),
            "openapi.paths./health.get.security[0]: \"nope\" is not in securityDefinitions",
        ),
        (
            Box::new(|d| d["securityDefinitions"]["firebase"]["x-google-issuer"] = json!("https://tenant.auth0.com/")),
            "openapi.securityDefinitions.firebase.x-google-issuer: \"https://tenant.auth0.com/\" is also the issuer of \"auth0\"",
        ),
        (
            Box::new(|d| {
                d["securityDefinitions"]["auth0"]
                    .as_object_mut()
                    .unwrap()
                    .remove("x-google-issuer");
            }),
            "openapi.securityDefinitions.auth0.x-google-issuer: is required",
        ),
        (
            Box::new(|d| {
                d["securityDefinitions"]["sa"]
                    .as_object_mut()
                    .unwrap()
                    .remove("x-google-jwks_uri");
            }),
            "openapi.securityDefinitions.sa.x-google-jwks_uri: is required: the issuer \"sa@p.iam.gserviceaccount.com\" is not a URL",
        ),
        (
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("host");
            }),
            "openapi.securityDefinitions.firebase.x-google-audiences: is required when the document has no host",
        ),
        (
            Box::new(|d| d["paths"]["/shelves/{shelf}/{x=**}/y"] = json!({"get": {}})),
            "openapi.paths./shelves/{shelf}/{x=**}/y: \"/api/shelves/{shelf}/{x=**}/y\": '**' may only be the last segment",
        ),
        (
            Box::new(|d| {
                d["securityDefinitions"]["auth0"]["x-google-jwt-locations"] =
                    json!([{"header": "X-Token", "query": "t"}]);
            }),
            "openapi.securityDefinitions.auth0.x-google-jwt-locations[0]: give exactly one of header, query or cookie",
        ),
        (
            Box::new(|d| {
                d["securityDefinitions"] = json!({"key": {"type": "apiKey", "name": "key", "in": "query"}});
                d["security"] = json!([{"key": []}]);
                d["paths"] = json!({"/a": {"get": {}}});
            }),
            "openapi: no operation requires a JWT",
        ),
        (
            Box::new(|d| d["paths"]["/shelves/{id}"] = json!({"get": {"security": []}})),
            "openapi.paths./api/shelves/{shelf}: GET /api/shelves/{id} and GET /api/shelves/{shelf} are the same operation",
        ),
        (
            Box::new(|d| {
                d["securityDefinitions"]["auth0"]["x-google-jwt-locations"] =
                    json!([{"header": "X Token"}]);
            }),
            "openapi.securityDefinitions.auth0.x-google-jwt-locations[0].header: expected a header name",
        ),
    ];
    for (change, expected) in cases {
        let mut doc = document();
        change(&mut doc);
        let error = translate(&json!({"openapi": doc})).unwrap_err().to_string();
        assert!(
            error.starts_with(expected),
            "got {error:?}, expected {expected:?}"
        );
    }
    let error =
        translate(&json!({"openapi": document(), "local_jwks": {"https://typo.test/jwks": "{}"}}))
            .unwrap_err()
            .to_string();
    assert!(
        error.starts_with(
            "local_jwks.https://typo.test/jwks: is the key set of no securityDefinition"
        ),
        "{error}"
    );
    let error = translate(&json!({"openapi": document(), "local_jwks": {"https://tenant.auth0.com/.well-known/jwks.json": "{\"keys\": 7}"}}))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("local_jwks.https://tenant.auth0.com/.well-known/jwks.json: "),
        "{error}"
    );
    let error = translate(&json!({"openapi": "3.0.3", "info": {}}))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(
            "openapi: this is an OpenAPI 3.0.3 document: OpenAPI 3 is not supported yet"
        ),
        "{error}"
    );
    let error = translate(&json!({"openapi": document(), "jwks_cluster": {}}))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("jwks_cluster: unknown field next to openapi"),
        "{error}"
    );
}

#[test]
fn custom_locations_replace_the_defaults() {
    let mut doc = document();
    doc["securityDefinitions"]["auth0"]["x-google-jwt-locations"] = json!([
        {"header": "X-Token", "value_prefix": "jwt "},
        {"query": "jwt"},
        {"cookie": "session"},
    ]);
    let out = translate(&json!({"openapi": doc})).unwrap();
    let auth0 = &out["providers"]["auth0"];
    assert_eq!(
        auth0["from_headers"],
        json!([{"name": "X-Token", "value_prefix": "jwt "}])
    );
    assert_eq!(auth0["from_params"], json!(["jwt"]));
    assert_eq!(auth0["from_cookies"], json!(["session"]));
}

#[test]
fn allow_cors_adds_unauthenticated_options() {
    let mut doc = document();
    doc["x-google-endpoints"] =
        json!([{"name": "bookstore.endpoints.p.cloud.goog", "allowCors": true}]);
    let out = translate(&json!({"openapi": doc})).unwrap();
    let options: Vec<&Value> = out["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["match"]["headers"][0]["string_match"]["exact"] == "OPTIONS")
        .collect();
    assert_eq!(options.len(), 3);
    assert!(options.iter().all(|rule| rule.get("requires").is_none()));
}

#[test]
fn unlisted_operations_fail_closed_without_top_level_security() {
    let mut doc = document();
    doc.as_object_mut().unwrap().remove("security");
    let out = translate(&json!({"openapi": doc})).unwrap();
    let last = out["rules"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "auth0"}, {"provider_name": "firebase"}, {"provider_name": "sa"}]}}})
    );
    assert_eq!(out["http_method_override"], true);
}
