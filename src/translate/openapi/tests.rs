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

/// `printf %s good-key | sha256sum`.
const GOOD_KEY_DIGEST: &str = "b8ce88d57f4916859bcecb01b98b041299a759313987af89f9fc6608d7440537";

/// The document with `extra` options beside it (and the API key checked unless `extra` says).
fn translated(extra: Value) -> Value {
    translation(extra).json()
}

fn translation(extra: Value) -> Translation {
    let mut config = json!({"openapi": document(), "api_keys": {"sha256": [GOOD_KEY_DIGEST]}});
    if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
        config.extend(extra);
    }
    translate(&config).unwrap()
}

/// `document()` changed by `change`, translated with `options`.
fn with(change: impl Fn(&mut Value), options: Value) -> Result<Translation, ConfigError> {
    let mut doc = document();
    change(&mut doc);
    let mut config = json!({"openapi": doc});
    if let (Value::Object(config), Value::Object(options)) = (&mut config, options) {
        config.extend(options);
    }
    translate(&config)
}

/// `METHOD target requirement-or-deny` per rule.
fn summary(out: &Value) -> Vec<String> {
    out["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            let target = rule["match"]
                .get("path_template")
                .or_else(|| rule["match"].get("prefix"))
                .unwrap();
            let method = &rule["match"]["headers"][0]["string_match"]["exact"];
            let outcome = match rule.get("deny") {
                Some(deny) => format!("deny {}", deny["status"]),
                None => rule.get("requires").unwrap_or(&json!(null)).to_string(),
            };
            format!("{method} {target} {outcome}")
        })
        .collect()
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
    assert_eq!(
        summary(&out),
        [
            r#""GET" "/api/health" null"#,
            r#""GET" "/api/shelves/mine" {"provider_name":"auth0"}"#,
            r#""DELETE" "/api/shelves/{shelf}" {"requires_any":{"requirements":[{"api_key_name":"key"},{"provider_name":"sa"}]}}"#,
            r#""GET" "/api/shelves/{shelf}" {"requires_any":{"requirements":[{"provider_name":"auth0"},{"provider_name":"firebase"}]}}"#,
            r#""POST" "/api/shelves/{shelf}" {"api_key_name":"key"}"#,
            r#""PUT" "/api/shelves/{shelf}" {"requires_all":{"requirements":[{"provider_name":"auth0"},{"provider_name":"sa"}]}}"#,
            r#"null "/api/health" deny 405"#,
            r#"null "/api/shelves/mine" deny 405"#,
            r#"null "/api/shelves/{shelf}" deny 405"#,
            r#"null "/" deny 404"#,
        ]
    );
    let rules = out["rules"].as_array().unwrap();
    assert_eq!(
        rules[8]["deny"]["message"],
        "The current request is matched to the defined url template \"/api/shelves/{shelf}\" but its http method is not allowed"
    );
    assert_eq!(
        rules[9]["deny"],
        json!({"status": 404, "message": "The current request is not defined by this API."})
    );
    assert_eq!(
        out["api_keys"],
        json!({"key": {"from_params": ["key"], "sha256": [GOOD_KEY_DIGEST]}})
    );
    Config::from_value(&out).unwrap();
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
    let rules = out["rules"].as_array().unwrap();
    assert!(rules.iter().all(|rule| rule.get("deny").is_none()), "{out}");
}

#[test]
fn backend_auth_moves_authorization() {
    let mut doc = document();
    doc["x-google-backend"] = json!({"address": "https://backend.run.app"});
    let keys = json!({"sha256": [GOOD_KEY_DIGEST]});
    let out = translate(&json!({"openapi": doc, "api_keys": keys}))
        .unwrap()
        .json();
    assert_eq!(out["x_forwarded_authorization"], true);
    doc["x-google-backend"] = json!({"address": "https://backend.run.app", "disable_auth": true});
    let out = translate(&json!({"openapi": doc, "api_keys": keys}))
        .unwrap()
        .json();
    assert!(out.get("x_forwarded_authorization").is_none());
    doc["paths"]["/health"]["get"]["x-google-backend"] = json!({"address": "https://b.run.app"});
    let out = translate(&json!({"openapi": doc, "api_keys": keys}))
        .unwrap()
        .json();
    assert_eq!(out["x_forwarded_authorization"], true);
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
                d["securityDefinitions"] = json!({"b": {"type": "basic"}});
                d["security"] = json!([{"b": []}]);
                d["paths"] = json!({"/a": {"get": {}}});
            }),
            "openapi: no operation requires a JWT or an API key",
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
        let error = with(change, json!({"api_keys": "unchecked"}))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(expected),
            "got {error:?}, expected {expected:?}"
        );
    }
    let error = translate(&json!({"openapi": document(), "api_keys": "unchecked",
        "local_jwks": {"https://typo.test/jwks": "{}"}}))
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with(
            "local_jwks.https://typo.test/jwks: is the key set of no securityDefinition"
        ),
        "{error}"
    );
    let error = translate(&json!({"openapi": document(), "api_keys": "unchecked", "local_jwks": {"https://tenant.auth0.com/.well-known/jwks.json": "{\"keys\": 7}"}}))
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
    let out = translate(&json!({"openapi": doc, "api_keys": "unchecked"}))
        .unwrap()
        .json();
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
    let out = translate(&json!({"openapi": doc, "api_keys": "unchecked"}))
        .unwrap()
        .json();
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
fn unlisted_operations_get_espv2s_404_and_405() {
    let mut doc = document();
    doc.as_object_mut().unwrap().remove("security");
    let out = translate(&json!({"openapi": doc, "api_keys": "unchecked"}))
        .unwrap()
        .json();
    let rules = out["rules"].as_array().unwrap();
    assert_eq!(
        rules.last().unwrap(),
        &json!({"match": {"prefix": "/"}, "deny": {"status": 404,
            "message": "The current request is not defined by this API."}})
    );
    // Without a top-level requirement, an operation without security needs nothing (as in
    // ESPv2); what the document does not list is refused all the same.
    assert!(summary(&out).contains(&r#""GET" "/api/shelves/mine" null"#.to_owned()));
    assert_eq!(out["http_method_override"], true);
}

#[test]
fn letting_unlisted_operations_through_is_a_warning() {
    let keys = json!({"sha256": [GOOD_KEY_DIGEST]});
    for (options, path) in [
        (
            json!({"allow_unlisted_operations": true, "api_keys": keys}),
            "allow_unlisted_operations",
        ),
        (json!({"api_keys": keys}), "openapi.x-google-allow"),
    ] {
        let translation = with(|d| d["x-google-allow"] = json!("all"), options).unwrap();
        assert!(summary(&translation.json())
            .iter()
            .all(|rule| !rule.contains("deny")));
        let warning = translation
            .warnings
            .iter()
            .find(|w| w.path == path)
            .unwrap();
        assert!(
            warning.message.starts_with(
                "requests the document does not list pass unchecked, HEAD on an operation defined only for GET included"
            ),
            "{warning}"
        );
    }
    // Said explicitly, false wins over the document's x-google-allow.
    let translation = with(
        |d| d["x-google-allow"] = json!("all"),
        json!({"allow_unlisted_operations": false, "api_keys": keys}),
    )
    .unwrap();
    assert!(summary(&translation.json())
        .last()
        .unwrap()
        .ends_with("deny 404"));
    assert!(
        translation
            .warnings
            .iter()
            .all(|w| !w.message.contains("HEAD")),
        "{:?}",
        translation.warnings
    );
}

#[test]
fn api_keys_are_refused_unless_configured() {
    let error = with(|_| {}, json!({})).unwrap_err().to_string();
    assert_eq!(
        error,
        "openapi: DELETE /api/shelves/{shelf}, POST /api/shelves/{shelf} require API key \"key\", \
         which jwt-gate cannot check; set \"api_keys\" (see docs/openapi.md)"
    );
    // One operation, with its operationId; the key ANDed with a JWT counts too.
    let error = with(
        |d| {
            d["paths"] = json!({"/shelves": {"get": {"operationId": "listShelves",
                "security": [{"auth0": [], "key": []}]}}});
        },
        json!({}),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "openapi: GET /api/shelves (listShelves) requires API key \"key\", which jwt-gate \
         cannot check; set \"api_keys\" (see docs/openapi.md)"
    );
    // Through the filter's own parser, and with a long list.
    let mut doc = document();
    doc["paths"] = json!({});
    for index in 0..7 {
        doc["paths"][format!("/k{index}")] = json!({"get": {"security": [{"key": []}]}});
    }
    let error = Config::from_json(json!({"openapi": doc}).to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("openapi: GET /api/k0, GET /api/k1, GET /api/k2, GET /api/k3, GET /api/k4 and 2 more require API key \"key\""),
        "{error}"
    );
}

#[test]
fn checked_api_keys_follow_openapi_semantics() {
    let translation = with(
        |d| {
            d["securityDefinitions"]["header_key"] =
                json!({"type": "apiKey", "name": "X-Key", "in": "header"});
            d["securityDefinitions"]["default_key"] = json!({"type": "apiKey"});
            d["paths"] = json!({
                "/both": {"get": {"security": [{"header_key": [], "auth0": []}]}},
                "/either": {"get": {"security": [{"key": []}, {"auth0": []}]}},
                "/default": {"get": {"security": [{"default_key": []}]}},
            });
        },
        json!({"api_keys": {"sha256": [GOOD_KEY_DIGEST.to_uppercase()]}}),
    )
    .unwrap();
    let out = &translation.json();
    assert_eq!(
        &summary(out)[..3],
        [
            r#""GET" "/api/both" {"requires_all":{"requirements":[{"provider_name":"auth0"},{"api_key_name":"header_key"}]}}"#,
            r#""GET" "/api/default" {"api_key_name":"default_key"}"#,
            r#""GET" "/api/either" {"requires_any":{"requirements":[{"api_key_name":"key"},{"provider_name":"auth0"}]}}"#,
        ]
    );
    assert_eq!(
        out["api_keys"],
        json!({
            "default_key": {"from_params": ["key", "api_key"], "from_headers": [{"name": "x-api-key"}],
                            "sha256": [GOOD_KEY_DIGEST]},
            "header_key": {"from_headers": [{"name": "X-Key"}], "sha256": [GOOD_KEY_DIGEST]},
            "key": {"from_params": ["key"], "sha256": [GOOD_KEY_DIGEST]},
        })
    );
    // A key alone may replace the JWT on /either, which Cloud Endpoints would not allow.
    assert_eq!(translation.warnings.len(), 1, "{:?}", translation.warnings);
    assert_eq!(translation.warnings[0].path, "openapi.paths./either.get");
    assert!(translation.warnings[0]
        .message
        .starts_with("GET /api/either: an API key alone passes"));
    let config = Config::from_value(out).unwrap();
    assert_eq!(config.api_keys.len(), 3);
}

#[test]
fn unchecked_api_keys_are_a_logged_choice() {
    let translation = with(
        |d| {
            d["paths"]["/shelves/{shelf}"]["put"]["security"] = json!([{"auth0": [], "key": []}]);
        },
        json!({"api_keys": "unchecked"}),
    )
    .unwrap();
    let warnings: Vec<String> = translation
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "openapi.paths./shelves/{shelf}.delete: DELETE /api/shelves/{shelf}: API key \"key\" \
             not checked (\"api_keys\": \"unchecked\"): the operation is open to anyone",
            "openapi.paths./shelves/{shelf}.post: POST /api/shelves/{shelf}: API key \"key\" \
             not checked (\"api_keys\": \"unchecked\"): the operation is open to anyone",
            "openapi.paths./shelves/{shelf}.put: PUT /api/shelves/{shelf}: API key \"key\" \
             not checked (\"api_keys\": \"unchecked\"): its JWT requirement still applies",
        ]
    );
    assert_eq!(translation.json()["api_keys"], json!({"key": "unchecked"}));
    // The filter logs them, and the jwt_authn form says "unchecked" itself.
    let mut config = json!({"openapi": document(), "api_keys": "unchecked"});
    config["openapi"]["paths"]["/shelves/{shelf}"]["put"]["security"] =
        json!([{"auth0": [], "key": []}]);
    let loaded = Config::from_json(config.to_string().as_bytes()).unwrap();
    assert_eq!(loaded.warnings.len(), 4, "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[3].path, "api_keys.key");
    let direct = Config::from_value(&translation.json()).unwrap();
    assert_eq!(direct.warnings.len(), 1);
}

#[test]
fn api_key_definitions_and_options_are_checked() {
    let keys = json!({"api_keys": {"sha256": [GOOD_KEY_DIGEST]}});
    for (change, expected) in [
        (
            json!({"type": "apiKey", "name": "k"}),
            "openapi.securityDefinitions.key: give both in and name, or neither",
        ),
        (
            json!({"type": "apiKey", "name": "k", "in": "cookie"}),
            "openapi.securityDefinitions.key.in: expected \"query\" or \"header\"",
        ),
        (
            json!({"type": "apiKey", "name": "bad header", "in": "header"}),
            "openapi.securityDefinitions.key.name: expected a header name",
        ),
        (
            json!({"type": "apikey", "name": "k", "in": "query"}),
            "openapi.securityDefinitions.key.type: expected \"oauth2\", \"apiKey\" or \"basic\"",
        ),
    ] {
        let error = with(
            move |d| d["securityDefinitions"]["key"] = change.clone(),
            keys.clone(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with(expected), "{error}");
    }
    for (option, expected) in [
        (json!("none"), "api_keys: expected \"unchecked\" or"),
        (json!({"sha256": []}), "api_keys.sha256: lists no digest"),
        (
            json!({"sha256": ["abc"]}),
            "api_keys.sha256[0]: expected the hex SHA-256 digest",
        ),
        (json!({"sha265": []}), "api_keys.sha265: unknown field"),
    ] {
        let error = with(|_| {}, json!({ "api_keys": option }))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{error}");
    }
    let error = with(
        |d| {
            d["paths"]["/shelves/{shelf}"]
                .as_object_mut()
                .unwrap()
                .retain(|method, _| method == "get");
        },
        keys,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "api_keys: no operation of the document requires an API key"
    );
}

#[test]
fn basic_schemes_are_left_to_the_backend_with_a_warning() {
    let translation = with(
        |d| {
            d["securityDefinitions"]["basic"] = json!({"type": "basic"});
            d["paths"]["/health"]["get"]["security"] = json!([{"basic": []}, {"auth0": []}]);
        },
        json!({"api_keys": "unchecked"}),
    )
    .unwrap();
    // As ESP: a basic alternative adds nothing, so the JWT one stands.
    assert!(summary(&translation.json())
        .contains(&r#""GET" "/api/health" {"provider_name":"auth0"}"#.to_owned()));
    assert!(translation
        .warnings
        .iter()
        .any(|w| w.path == "openapi.securityDefinitions.basic"));
}

#[test]
fn misspelled_or_misplaced_google_extensions_are_refused() {
    let keys = json!({"api_keys": {"sha256": [GOOD_KEY_DIGEST]}});
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|d| {
                let auth0 = d["securityDefinitions"]["auth0"].as_object_mut().unwrap();
                let uri = auth0.remove("x-google-jwks_uri").unwrap();
                auth0.insert("x-google-jwks-uri".into(), uri);
            }),
            "openapi.securityDefinitions.auth0.x-google-jwks-uri: unknown extension: did you mean x-google-jwks_uri?",
        ),
        (
            Box::new(|d| {
                let auth0 = d["securityDefinitions"]["auth0"].as_object_mut().unwrap();
                let audiences = auth0.remove("x-google-audiences").unwrap();
                auth0.insert("x-google-audience".into(), audiences);
            }),
            "openapi.securityDefinitions.auth0.x-google-audience: unknown extension: did you mean x-google-audiences?",
        ),
        (
            Box::new(|d| d["paths"]["/health"]["get"]["x-google-issuer"] = json!("x")),
            "openapi.paths./health.get.x-google-issuer: x-google-issuer is not valid in an operation",
        ),
        (
            Box::new(|d| d["securityDefinitions"]["key"]["x-google-issuer"] = json!("x")),
            "openapi.securityDefinitions.key.x-google-issuer: x-google-issuer is not valid in a securityDefinitions entry of this type",
        ),
        (
            Box::new(|d| d["x-google-allowed"] = json!("all")),
            "openapi.x-google-allowed: unknown extension: did you mean x-google-allow?",
        ),
        (
            Box::new(|d| d["paths"]["x-google-backend"] = json!({})),
            "openapi.paths.x-google-backend: x-google-backend is not valid in paths",
        ),
        (
            Box::new(|d| d["paths"]["/health"]["x-google-quota"] = json!({})),
            "openapi.paths./health.x-google-quota: x-google-quota is not valid in a path item",
        ),
        (
            Box::new(|d| {
                d["securityDefinitions"]["auth0"]["x-issuer"] = json!("https://tenant.auth0.com/");
            }),
            "openapi.securityDefinitions.auth0.x-issuer: give x-google-issuer only",
        ),
    ];
    for (change, expected) in cases {
        let error = with(change, keys.clone()).unwrap_err().to_string();
        assert!(
            error.starts_with(expected),
            "got {error:?}, expected {expected:?}"
        );
    }
    // ESP's legacy names still work, as Google's api-compiler reads them.
    let translation = with(
        |d| {
            let auth0 = d["securityDefinitions"]["auth0"].as_object_mut().unwrap();
            let issuer = auth0.remove("x-google-issuer").unwrap();
            let uri = auth0.remove("x-google-jwks_uri").unwrap();
            auth0.insert("x-issuer".into(), issuer);
            auth0.insert("x-jwks_uri".into(), uri);
        },
        keys,
    )
    .unwrap();
    assert_eq!(
        translation.json()["providers"]["auth0"]["remote_jwks"]["http_uri"]["uri"],
        "https://tenant.auth0.com/.well-known/jwks.json"
    );
}

#[test]
fn unknown_fields_are_refused_naming_the_place() {
    // The review's cases: a misspelled or capitalised `security` used to be ignored, leaving
    // the operations it should have covered without a requirement.
    let keys = json!({"api_keys": {"sha256": [GOOD_KEY_DIGEST]}});
    let moved = |from: &'static str, to: &'static str| {
        move |d: &mut Value| {
            let security = d.as_object_mut().unwrap().remove(from).unwrap();
            d[to] = security;
        }
    };
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(moved("security", "secuirty")),
            "openapi.secuirty: unknown field (did you mean security?)",
        ),
        (
            Box::new(moved("security", "Security")),
            "openapi.Security: unknown field (did you mean security?)",
        ),
        (
            Box::new(|d| {
                let get = &mut d["paths"]["/shelves/{shelf}"]["get"];
                let security = get.as_object_mut().unwrap().remove("security").unwrap();
                get["Security"] = security;
            }),
            "openapi.paths./shelves/{shelf}.get.Security: unknown field (did you mean security?)",
        ),
        (
            Box::new(|d| {
                let item = d["paths"]["/health"].as_object_mut().unwrap();
                let get = item.remove("get").unwrap();
                item.insert("GET".into(), get);
            }),
            "openapi.paths./health.GET: unknown field (did you mean get?)",
        ),
        (
            Box::new(|d| d["paths"]["/health"]["security"] = json!([])),
            "openapi.paths./health.security: unknown field (a path item has $ref, get, put, post, delete, options, head, patch, parameters, and x- extensions)",
        ),
        (
            Box::new(|d| d["securityDefinitions"]["key"]["In"] = json!("header")),
            "openapi.securityDefinitions.key.In: unknown field (did you mean in?)",
        ),
    ];
    for (change, expected) in cases {
        let error = with(change, keys.clone()).unwrap_err();
        assert_eq!(error.to_string(), expected);
    }
    // The specification's other fields and extensions of other products pass.
    let documented = with(
        |d| {
            d["info"] = json!({"title": "Bookstore", "version": "1"});
            d["schemes"] = json!(["https"]);
            d["produces"] = json!(["application/json"]);
            d["definitions"] = json!({"Shelf": {"type": "object"}});
            d["x-amazon-apigateway-policy"] = json!({});
            d["paths"]["/health"]["parameters"] = json!([]);
            let get = &mut d["paths"]["/health"]["get"];
            get["operationId"] = json!("Health");
            get["summary"] = json!("Is it up?");
            get["responses"] = json!({"200": {"description": "OK"}});
            get["x-internal"] = json!(true);
            d["securityDefinitions"]["auth0"]["scopes"] = json!({});
        },
        keys,
    );
    assert!(documented.is_ok(), "{:?}", documented.err());
}

#[test]
fn x_security_is_read_as_esp_read_it() {
    // ESP's documents: API keys in security, JWT requirements (with audiences) in x-security.
    let legacy = |d: &mut Value| {
        d["security"] = json!([{"key": []}]);
        d["x-security"] = json!([{"auth0": {"audiences": []}}]);
        d["paths"] = json!({
            "/inherited": {"get": {}},
            "/own": {"get": {"x-security": [
                {"auth0": {"audiences": ["special"]}},
                {"firebase": {"audiences": []}},
            ]}},
            "/public": {"get": {"security": []}},
            "/jwt-only": {"get": {"security": [], "x-security": [{"sa": {"audiences": []}}]}},
        });
    };
    let out = with(legacy, json!({"api_keys": {"sha256": [GOOD_KEY_DIGEST]}}))
        .unwrap()
        .json();
    assert_eq!(
        &summary(&out)[..4],
        [
            r#""GET" "/api/inherited" {"requires_all":{"requirements":[{"provider_name":"auth0"},{"api_key_name":"key"}]}}"#,
            r#""GET" "/api/jwt-only" {"provider_name":"sa"}"#,
            r#""GET" "/api/own" {"requires_all":{"requirements":[{"requires_any":{"requirements":[{"provider_and_audiences":{"audiences":["special"],"provider_name":"auth0"}},{"provider_name":"firebase"}]}},{"api_key_name":"key"}]}}"#,
            r#""GET" "/api/public" null"#,
        ]
    );
    Config::from_value(&out).unwrap();
    for (change, expected) in [
        (
            json!([{"auth0": []}]),
            "openapi.paths./own.get.x-security[0].auth0.audiences: expected a list of audiences",
        ),
        (
            json!([{"auth0": {"audiences": []}, "sa": {"audiences": []}}]),
            "openapi.paths./own.get.x-security[0]: expected an object naming one definition",
        ),
        (
            json!([{"key": {"audiences": []}}]),
            "openapi.paths./own.get.x-security[0].key: \"key\" is not an oauth2 definition",
        ),
    ] {
        let error = with(
            move |d| {
                legacy(d);
                d["paths"]["/own"]["get"]["x-security"] = change.clone();
            },
            json!({"api_keys": "unchecked"}),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with(expected), "{error}");
    }
    // Beside JWT schemes in security, x-security would mean something else to ESP: refused.
    let error = with(
        |d| {
            legacy(d);
            d["paths"]["/own"]["get"]["security"] = json!([{"sa": []}]);
        },
        json!({"api_keys": "unchecked"}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("openapi.paths./own.get.x-security: ESP's legacy x-security beside a security list that names JWT schemes"),
        "{error}"
    );
}
