use serde_json::json;

use super::*;
use crate::authenticator::token_cache::TokenCache;
use crate::authenticator::{authenticate, Decision, HeaderOp, NoRemoteKeys, Request};
use crate::config::Config;
use crate::time::Time;
use crate::verify::RingVerifier;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../../../tests/data/oci_deployment.json")).unwrap()
}

/// The configuration of a translation that must succeed.
fn config_of(input: &Value) -> Value {
    translate(input).unwrap().json()
}

/// The message of a translation that must fail.
fn error_of(input: &Value) -> String {
    translate(input).unwrap_err().to_string()
}

/// The warnings of a translation that must succeed.
fn warnings_of(input: &Value) -> Vec<String> {
    translate(input)
        .unwrap()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A bare specification with a remote-JWKS TOKEN_AUTHENTICATION policy and `routes`.
fn spec(routes: Value) -> Value {
    json!({
        "requestPolicies": {"authentication": {
            "type": "TOKEN_AUTHENTICATION",
            "tokenHeader": "Authorization",
            "tokenAuthScheme": "Bearer",
            "isAnonymousAccessAllowed": true,
            "validationPolicy": {
                "type": "REMOTE_JWKS",
                "uri": "https://tenant.auth0.com/.well-known/jwks.json",
                "additionalValidationPolicy": {"issuers": ["https://tenant.auth0.com/"], "audiences": ["api"]},
            },
        }},
        "routes": routes,
    })
}

/// One route on `/a` with these request policies.
fn route_with(policies: Value) -> Value {
    spec(json!([{"path": "/a", "methods": ["GET"], "requestPolicies": policies}]))
}

/// One route on `/a` setting these headers.
fn setting(items: Value) -> Value {
    route_with(json!({"headerTransformations": {"setHeaders": {"items": items}}}))
}

#[test]
fn deployment_cases() {
    let file = fixture();
    let translated = config_of(&file["deployment"]);
    let config = Config::from_value(&translated).unwrap();
    let now = Time::from_seconds(file["now"].as_u64().unwrap());
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
            Request {
                headers: &crate::request::borrow_headers(&headers),
            },
            now,
            &NoRemoteKeys,
            &RingVerifier,
            &mut TokenCache::new(10, 8192, [7; 16]),
        );
        let got = match outcome.decision {
            Decision::Allow { header_ops, .. } => {
                let adds: serde_json::Map<String, Value> = header_ops
                    .iter()
                    .filter_map(|op| match op {
                        HeaderOp::Add(name, value) => Some((
                            name.to_string(),
                            Value::String(String::from_utf8(value.clone()).unwrap()),
                        )),
                        _ => None,
                    })
                    .collect();
                if Value::Object(adds.clone()) == case["adds"] {
                    "ok".to_owned()
                } else {
                    format!("ok, adding {adds:?}")
                }
            }
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
    let out = config_of(&fixture()["deployment"]);
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
    assert_eq!(rules[5]["match"]["path_template"], "/v1/public/{rest=**}");
    // OCI does not authenticate an ANONYMOUS route: no check at all.
    assert!(rules[5].get("requires").is_none());
    assert_eq!(first["claim_lookup"], "literal");
    assert_eq!(
        first["claim_to_headers"],
        json!([{"header_name": "x-groups", "claim_name": "groups"},
               {"header_name": "x-team", "claim_name": "app.team"},
               {"header_name": "x-user", "claim_name": "sub"}])
    );
    assert_eq!(rules[2]["allowed_scopes"], json!(["pets:write", "admin"]));
    assert_eq!(rules.last().unwrap()["match"], json!({"prefix": "/"}));
}

/// `METHOD target outcome` per rule: what a translation decides, in order.
fn rule_lines(out: &Value) -> Vec<String> {
    out["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            let target = rule["match"].get("path_template").map_or_else(
                || format!("prefix {}", rule["match"]["prefix"]),
                ToString::to_string,
            );
            let method = rule["match"]["headers"][0]["string_match"]["exact"]
                .as_str()
                .unwrap_or("*");
            let outcome = match (rule.get("deny"), rule.get("requires")) {
                (Some(deny), _) => format!("deny {} {}", deny["status"], deny["message"]),
                (None, Some(_)) if rule.get("allowed_scopes").is_some() => {
                    format!("token with one of {}", rule["allowed_scopes"])
                }
                (None, Some(_)) => "token".to_owned(),
                (None, None) => "no check".to_owned(),
            };
            format!("{method} {target} {outcome}")
        })
        .collect()
}

#[test]
fn requests_no_route_takes_get_ocis_404() {
    // Each listed path: its methods' rules, then 404 for any other method (HEAD included where
    // only GET is listed); an ANY route needs none; then 404 for every path not listed.
    assert_eq!(
        rule_lines(&config_of(&fixture()["deployment"])),
        [
            r#"GET "/v1/pets" token"#,
            r#"* "/v1/pets" deny 404 "Not Found""#,
            r#"DELETE "/v1/pets/{petId}" token with one of ["pets:write","admin"]"#,
            r#"PUT "/v1/pets/{petId}" token with one of ["pets:write","admin"]"#,
            r#"* "/v1/pets/{petId}" deny 404 "Not Found""#,
            r#"* "/v1/public/{rest=**}" no check"#,
            r#"* prefix "/" deny 404 "Not Found""#,
        ]
    );
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
    let out = config_of(&spec);
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
    let error = |spec: Value| error_of(&spec);
    let auth = |policy: Value| json!({"requestPolicies": {"authentication": policy}, "routes": []});
    assert_eq!(
        error(json!({"routes": []})),
        "requestPolicies.authentication: no authentication policy (jwt-gate translates JWT_AUTHENTICATION and TOKEN_AUTHENTICATION)"
    );
    assert!(error(auth(json!({"type": "CUSTOM_AUTHENTICATION"})))
        .starts_with("requestPolicies.authentication.type: \"CUSTOM_AUTHENTICATION\""));
    assert_eq!(
        error(auth(json!({
            "type": "JWT_AUTHENTICATION", "audiences": ["a"], "tokenHeader": "Authorization",
            "publicKeys": {"type": "REMOTE_JWKS", "uri": "https://i.test/jwks"},
        }))),
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
    let out = config_of(&deployment);
    let rules = out["rules"].as_array().unwrap();
    assert_eq!(rules[0]["match"]["path_template"], "/v1/admin");
    assert_eq!(
        rules[0]["requires"],
        json!({"requires_any": {"requirements": [{"provider_name": "oci_1"}, {"provider_name": "oci_2"}]}})
    );
    // Another method on /admin is not the anonymous wildcard's: OCI's 404 comes first.
    assert_eq!(
        rule_lines(&out)[1..],
        [
            r#"* "/v1/admin" deny 404 "Not Found""#,
            r#"* "/v1/{rest=**}" no check"#,
            r#"* prefix "/" deny 404 "Not Found""#,
        ]
    );
}

#[test]
fn two_routes_for_one_path_and_method_are_refused() {
    // The reviewer's pair: the ANONYMOUS route listed second used to lose to the first, or win
    // when listed first; either way the order decided who may pass.
    let anonymous = json!({"type": "ANONYMOUS"});
    let scoped = json!({"type": "ANY_OF", "allowedScope": ["admin"]});
    for (first, second, expected) in [
        (
            json!({"path": "/a", "methods": ["GET"], "requestPolicies": {"authorization": scoped}}),
            json!({"path": "/a", "methods": ["GET"], "requestPolicies": {"authorization": anonymous}}),
            "routes[1]: GET /a is also routes[0]'s (/a)",
        ),
        (
            json!({"path": "/things/{id}", "methods": ["GET", "POST"]}),
            json!({"path": "/things/{name}", "methods": ["PUT", "POST"]}),
            "routes[1]: POST /things/{name} is also routes[0]'s (/things/{id})",
        ),
        (
            json!({"path": "/a", "methods": ["DELETE"]}),
            json!({"path": "/a", "methods": ["ANY"]}),
            "routes[1]: DELETE /a is also routes[0]'s (/a)",
        ),
        (
            json!({"path": "/a"}),
            json!({"path": "/a/", "methods": ["GET"]}),
            "routes[1]: GET /a/ is also routes[0]'s (/a)",
        ),
    ] {
        let message = error_of(&spec(json!([first, second])));
        assert!(
            message.starts_with(expected)
                && message.ends_with("give each path and method one route"),
            "{message}"
        );
    }
    // One path, different methods, in two routes: fine, and one 404 rule for the others.
    let out = config_of(&spec(json!([
        {"path": "/a", "methods": ["GET"]},
        {"path": "/a", "methods": ["POST"], "requestPolicies": {"authorization": {"type": "ANONYMOUS"}}},
    ])));
    assert_eq!(
        rule_lines(&out),
        [
            r#"GET "/a" token"#,
            r#"POST "/a" no check"#,
            r#"* "/a" deny 404 "Not Found""#,
            r#"* prefix "/" deny 404 "Not Found""#,
        ]
    );
}

#[test]
fn unknown_fields_are_errors_with_the_nearest_name() {
    // The typo of the issue: without strictness, the claim checks were silently dropped.
    let mut deployment = fixture()["deployment"].clone();
    let policy = &mut deployment["specification"]["requestPolicies"]["authentication"];
    policy["verifyClaim"] = policy["verifyClaims"].take();
    assert_eq!(
        error_of(&deployment),
        "specification.requestPolicies.authentication.verifyClaim: unknown field (did you mean verifyClaims?)"
    );
    let mut token = spec(json!([]));
    token["requestPolicies"]["authentication"]["validationPolicy"]["additionalValidationPolicy"]
        ["verifyClaims"] = json!([{"key": "tenant", "values": ["a"], "is_required": true}]);
    assert_eq!(
        error_of(&token),
        "requestPolicies.authentication.validationPolicy.additionalValidationPolicy.verifyClaims[0].is_required: unknown field (did you mean isRequired?)"
    );
    for (input, path) in [
        (
            spec(json!([{"path": "/a", "requestPolicy": {}}])),
            "routes[0].requestPolicy: unknown field (did you mean requestPolicies?)",
        ),
        (
            route_with(json!({"authorization": {"type": "ANY_OF", "allowedScopes": ["x"]}})),
            "routes[0].requestPolicies.authorization.allowedScopes: unknown field (did you mean allowedScope?)",
        ),
        (
            setting(json!([{"name": "X-User", "value": ["${request.auth[sub]}"]}])),
            "routes[0].requestPolicies.headerTransformations.setHeaders.items[0].value: unknown field (did you mean values?)",
        ),
        (
            json!({"pathPrefix": "/v1", "specification": {"routes": []}, "path-prefix": "/v2"}),
            "path-prefix: unknown field (did you mean pathPrefix?)",
        ),
        (
            json!({"data": {"path-prefix": "/v1"}}),
            "data: this looks like OCI CLI output: give the deployment as the API and the console write it (camelCase fields: pathPrefix, specification, requestPolicies, ...)",
        ),
        (
            spec(json!([{"path": "/a", "methods": ["get"]}])),
            "routes[0].methods[0]: expected one of ANY, HEAD, GET, POST, PUT, PATCH, DELETE, OPTIONS",
        ),
    ] {
        assert_eq!(error_of(&input), path);
    }
    // Bounds are checked, not clamped.
    for (field, value, message) in [
        (
            "maxCacheDurationInHours",
            json!(0),
            "expected an integer from 1 to 24",
        ),
        (
            "maxCacheDurationInHours",
            json!(25),
            "expected an integer from 1 to 24",
        ),
        ("isSslVerifyDisabled", json!("no"), "expected true or false"),
    ] {
        let mut input = spec(json!([]));
        input["requestPolicies"]["authentication"]["validationPolicy"][field] = value;
        assert_eq!(
            error_of(&input),
            format!("requestPolicies.authentication.validationPolicy.{field}: {message}")
        );
    }
    let mut skew = spec(json!([]));
    skew["requestPolicies"]["authentication"]["maxClockSkewInSeconds"] = json!(121);
    assert_eq!(
        error_of(&skew),
        "requestPolicies.authentication.maxClockSkewInSeconds: expected an integer from 0 to 120"
    );
    // `null` is "not set", as the OCI SDKs write it.
    let mut nulls = spec(json!([{"path": "/a", "methods": null, "backend": null}]));
    nulls["requestPolicies"]["cors"] = Value::Null;
    assert!(warnings_of(&nulls).is_empty());
}

#[test]
fn untranslated_features_warn_naming_their_path() {
    let mut input = spec(json!([{
        "path": "/a",
        "methods": ["POST"],
        "backend": {"type": "HTTP_BACKEND", "url": "https://b.test/a", "isSslVerifyDisabled": true},
        "loggingPolicies": {"accessLog": {"isEnabled": true}},
        "requestPolicies": {
            "cors": {"allowedOrigins": ["*"]},
            "bodyValidation": {"required": true, "content": {}},
            "headerValidations": {"headers": [{"name": "x-id", "required": true}]},
            "responseCacheLookup": {"type": "SIMPLE_LOOKUP_POLICY"},
        },
        "responsePolicies": {"headerTransformations": {"filterHeaders": {"type": "BLOCK", "items": [{"name": "server"}]}}},
    }]));
    let policies = &mut input["requestPolicies"];
    policies["rateLimiting"] = json!({"rateInRequestsPerSecond": 10, "rateKey": "CLIENT_IP"});
    policies["cors"] = json!({"allowedOrigins": ["*"]});
    policies["mutualTls"] = json!({"isVerifiedCertificateRequired": true});
    policies["authentication"]["validationPolicy"]["isSslVerifyDisabled"] = json!(true);
    policies["authentication"]["validationFailurePolicy"] =
        json!({"type": "MODIFY_RESPONSE", "responseCode": "403"});
    let warnings = warnings_of(&input);
    let paths: Vec<&str> = warnings
        .iter()
        .map(|w| w.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "requestPolicies.rateLimiting",
            "requestPolicies.cors",
            "requestPolicies.mutualTls",
            "requestPolicies.authentication.validationFailurePolicy",
            "requestPolicies.authentication.validationPolicy.isSslVerifyDisabled",
            "routes[0].requestPolicies.cors",
            "routes[0].requestPolicies.headerValidations",
            "routes[0].requestPolicies.bodyValidation",
            "routes[0].requestPolicies.responseCacheLookup",
            "routes[0].responsePolicies.headerTransformations",
            "routes[0].loggingPolicies",
            "routes[0].backend.isSslVerifyDisabled",
            "routes[*].backend",
        ],
        "{warnings:#?}"
    );
    assert!(warnings.iter().any(|w| w.contains(
        "isSslVerifyDisabled: true: not translated: the key server's certificate is verified"
    )));
    // Still a working configuration.
    Config::from_value(&config_of(&input)).unwrap();
}

#[test]
fn what_would_let_in_a_request_oci_refuses_is_an_error() {
    let with = |name: &str, value: Value| {
        let mut input = spec(json!([]));
        input["requestPolicies"][name] = value;
        error_of(&input)
    };
    assert!(with("usagePlans", json!({"tokenLocations": ["request.headers[client-id]"]}))
        .starts_with("requestPolicies.usagePlans: usage plans (subscribers' client tokens) are not checked by jwt-gate"));
    assert!(
        with("dynamicAuthentication", json!({"selectionSource": {}}))
            .starts_with("requestPolicies.dynamicAuthentication: several authentication servers")
    );
    let mut oauth2 = spec(json!([]));
    oauth2["requestPolicies"]["authentication"]["validationFailurePolicy"] =
        json!({"type": "OAUTH2", "scopes": ["openid"]});
    assert!(error_of(&oauth2).starts_with(
        "requestPolicies.authentication.validationFailurePolicy: not translated: jwt-gate answers a failure with 401 or 403"
    ));
}

#[test]
fn claims_handed_to_the_backend_become_claim_headers() {
    let out = config_of(&setting(json!([
        {"name": "X-User", "values": ["${request.auth[sub]}"], "ifExists": "OVERWRITE"},
        {"name": "X-Roles", "values": ["${request.auth[https://example.com/roles]}"]},
    ])));
    let oci = &out["providers"]["oci"];
    assert_eq!(
        oci["claim_to_headers"],
        json!([{"header_name": "x-roles", "claim_name": "https://example.com/roles"},
               {"header_name": "x-user", "claim_name": "sub"}])
    );
    assert_eq!(oci["claim_lookup"], "literal");
    let config = Config::from_value(&out).unwrap();
    assert!(config.output_headers.contains(&"x-user".to_owned()));

    // Literal values and other transformations are Envoy's: warned, not translated.
    let warnings = warnings_of(&route_with(json!({"headerTransformations": {
        "setHeaders": {"items": [
            {"name": "X-User", "values": ["${request.auth[sub]}"], "ifExists": "SKIP"},
            {"name": "X-Env", "values": ["prod"]},
        ]},
        "renameHeaders": {"items": [{"from": "X-A", "to": "X-B"}]},
        "filterHeaders": {"type": "ALLOW", "items": [{"name": "X-User"}]},
    }})));
    let at = "routes[0].requestPolicies.headerTransformations";
    assert_eq!(
        warnings,
        [
            format!("{at}.setHeaders.items[0].ifExists: SKIP: jwt-gate always replaces x-user: a copy the client sent never reaches the backend"),
            format!("{at}.filterHeaders: not translated: jwt-gate does not filter headers, so the backend gets headers OCI would have removed"),
            format!("{at}.renameHeaders.items[0]: not translated: jwt-gate changes no header but the claim headers (Envoy's route request_headers_to_add and request_headers_to_remove can)"),
            format!("{at}.setHeaders.items[1]: not translated: jwt-gate changes no header but the claim headers (Envoy's route request_headers_to_add and request_headers_to_remove can)"),
        ]
    );

    // On an ANONYMOUS route OCI leaves request.auth empty: the header is set nowhere there, but
    // it is an output header, so a client-sent copy never passes.
    let anonymous = spec(json!([
        {"path": "/open", "requestPolicies": {"authorization": {"type": "ANONYMOUS"},
            "headerTransformations": {"setHeaders": {"items": [{"name": "X-User", "values": ["${request.auth[sub]}"]}]}}}},
    ]));
    let warnings = warnings_of(&anonymous);
    assert!(
        warnings[0].starts_with("routes[0].requestPolicies.headerTransformations.setHeaders.items[0].values[0]: route /open is ANONYMOUS"),
        "{warnings:?}"
    );
    let out = config_of(&anonymous);
    assert_eq!(
        out["rules"][0],
        json!({"match": {"path_template": "/open"}})
    );
    assert_eq!(
        out["providers"]["oci"]["claim_to_headers"],
        json!([{"header_name": "x-user", "claim_name": "sub"}])
    );
}

#[test]
fn claim_uses_that_cannot_be_translated_are_refused_naming_route_and_item() {
    let at = "routes[0].requestPolicies.headerTransformations";
    for (items, expected) in [
        (
            json!([{"name": "Authorization", "values": ["Bearer ${request.auth[sub]}"]}]),
            format!("{at}.setHeaders.items[0].values[0]: route /a: \"Bearer ${{request.auth[sub]}}\" cannot be translated: only a value that is exactly one ${{request.auth[<claim>]}} becomes a claim header (claim_to_headers)"),
        ),
        (
            json!([{"name": "X-Id", "values": ["${request.auth[id_token_claims][sub]}"]}]),
            format!("{at}.setHeaders.items[0].values[0]: route /a: \"${{request.auth[id_token_claims][sub]}}\" cannot be translated: only a value that is exactly one ${{request.auth[<claim>]}} becomes a claim header (claim_to_headers)"),
        ),
        (
            json!([{"name": "X-Id", "values": ["${request.auth[sub]}", "${request.auth[email]}"]}]),
            format!("{at}.setHeaders.items[0].values[0]: route /a: a header set from a claim takes exactly one value, ${{request.auth[<claim>]}}"),
        ),
        (
            json!([{"name": "X-Id", "values": ["${request.auth[sub]}"]}, {"name": "x-id", "values": ["${request.auth[email]}"]}]),
            format!("{at}.setHeaders.items[1].values[0]: route /a: x-id is set from claim \"email\" here and from \"sub\" at {at}.setHeaders.items[0].values[0]: jwt-gate sets a header from one claim wherever a token verified"),
        ),
        (
            json!([{"name": "authorization", "values": ["${request.auth[sub]}"]}]),
            format!("{at}.setHeaders.items[0].values[0]: route /a: authorization is where tokens are read (tokenHeader): a claim cannot be written there"),
        ),
        (
            json!([{"name": "X-User", "values": ["${request.auth[sub]}"]}, {"name": "X-User", "values": ["nobody"]}]),
            format!("{at}.setHeaders.items[1]: route /a: sets x-user, which {at}.setHeaders.items[0].values[0] sets from a token claim: jwt-gate sets claim headers itself and cannot do this too"),
        ),
    ] {
        assert_eq!(error_of(&setting(items)), expected);
    }
    // Renaming or blocking a claim header, on any route.
    let claim_route = json!({"path": "/a", "requestPolicies": {"headerTransformations": {"setHeaders": {"items": [
        {"name": "X-User", "values": ["${request.auth[sub]}"]}]}}}});
    for (transformation, item) in [
        (
            json!({"renameHeaders": {"items": [{"from": "x-user", "to": "X-Principal"}]}}),
            "renameHeaders.items[0]: route /b: renames x-user",
        ),
        (
            json!({"renameHeaders": {"items": [{"from": "X-Principal", "to": "X-USER"}]}}),
            "renameHeaders.items[0]: route /b: renames x-user",
        ),
        (
            json!({"filterHeaders": {"type": "BLOCK", "items": [{"name": "X-User"}]}}),
            "filterHeaders.items[0]: route /b: removes x-user",
        ),
    ] {
        let input = spec(
            json!([claim_route, {"path": "/b", "requestPolicies": {"headerTransformations": transformation}}]),
        );
        assert!(
            error_of(&input).starts_with(&format!(
                "routes[1].requestPolicies.headerTransformations.{item}, which routes[0]"
            )),
            "{}",
            error_of(&input)
        );
    }
    // A claim in a query parameter, a backend URL, a response header: nowhere jwt-gate writes.
    for (route, path) in [
        (
            json!({"path": "/a", "requestPolicies": {"queryParameterTransformations": {"setQueryParameters": {"items": [
                {"name": "user", "values": ["${request.auth[sub]}"]}]}}}}),
            "routes[0].requestPolicies.queryParameterTransformations.setQueryParameters.items[0].values[0]",
        ),
        (
            json!({"path": "/a", "backend": {"type": "HTTP_BACKEND", "url": "https://b.test/${request.auth[tenant]}/a"}}),
            "routes[0].backend.url",
        ),
        (
            json!({"path": "/a", "responsePolicies": {"headerTransformations": {"setHeaders": {"items": [
                {"name": "X-User", "values": ["${request.auth[sub]}"]}]}}}}),
            "routes[0].responsePolicies.headerTransformations.setHeaders.items[0].values[0]",
        ),
    ] {
        let message = error_of(&spec(json!([route])));
        assert!(
            message.starts_with(&format!("{path}: ")) && message.ends_with("uses a token claim where jwt-gate cannot: it hands claims to the backend only as request headers (setHeaders)"),
            "{message}"
        );
    }
}

#[test]
fn verify_claims_say_what_they_mean() {
    let mut input = spec(json!([]));
    input["requestPolicies"]["authentication"]["validationPolicy"]["additionalValidationPolicy"]
        ["verifyClaims"] = json!([{"key": "tenant", "values": ["acme"]}]);
    assert_eq!(
        warnings_of(&input),
        ["requestPolicies.authentication.validationPolicy.additionalValidationPolicy.verifyClaims[0].isRequired: not given: translated as true (the claim must be present); say which you mean"]
    );
    assert_eq!(
        config_of(&input)["providers"]["oci"]["verify_claims"],
        json!([{"key": "tenant", "values": ["acme"], "is_required": true}])
    );
}

#[test]
fn claim_lookup_literal_never_reaches_into_nested_objects() {
    use crate::token::claims::ClaimLookup;
    let payload: serde_json::Map<String, Value> = serde_json::from_value(
        json!({"a.b": "literal", "c": {"d": "nested"}, "e": {"f": "nested"}, "e.f": "both"}),
    )
    .unwrap();
    assert_eq!(
        ClaimLookup::Literal.find(&payload, "a.b"),
        Some(&json!("literal"))
    );
    assert_eq!(ClaimLookup::Literal.find(&payload, "c.d"), None);
    assert_eq!(
        ClaimLookup::Path.find(&payload, "c.d"),
        Some(&json!("nested"))
    );
    assert_eq!(
        ClaimLookup::Path.find(&payload, "e.f"),
        Some(&json!("both"))
    );
    let provider = |lookup: Value| {
        let mut config = config_of(&spec(json!([])));
        config["providers"]["oci"]["claim_lookup"] = lookup;
        Config::from_value(&config)
    };
    let config = provider(json!("literal")).unwrap();
    assert_eq!(
        config.providers[0].claims.verify_claims.len(),
        0,
        "no checks in this spec"
    );
    assert_eq!(
        provider(json!("path")).unwrap().providers[0]
            .claim_to_headers
            .len(),
        0
    );
    assert_eq!(
        provider(json!("nested")).unwrap_err().to_string(),
        "providers.oci.claim_lookup: expected \"path\" or \"literal\""
    );
}
