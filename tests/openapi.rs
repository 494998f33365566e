//! OpenAPI 2.0 configurations end to end through the core: `openapi_bookstore.json` (minted by
//! `generate_openapi.py` with PyJWT) holds a bookstore document, its key sets as `local_jwks`, and
//! requests with the status, the ESPv2 JSON body (and whether it carries `WWW-Authenticate`) and
//! the exact `X-Endpoint-API-UserInfo` the backend must see: JWT and API key requirements, ESPv2's
//! 404 and 405 outside the document, and a percent-encoded path that would reach another
//! operation once decoded. The same file drives `integration/test_openapi.py` in a real Envoy.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{json, Value};

use jwt_gate::authenticator::token_cache::TokenCache;
use jwt_gate::authenticator::NoRemoteKeys;
use jwt_gate::verify::RingVerifier;
use jwt_gate::{authenticate, Config, Decision, HeaderOp, Request, Time};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn request(case: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut headers = vec![
        (
            b":method".to_vec(),
            case["method"].as_str().unwrap().as_bytes().to_vec(),
        ),
        (
            b":path".to_vec(),
            case["path"].as_str().unwrap().as_bytes().to_vec(),
        ),
        (b":scheme".to_vec(), b"http".to_vec()),
        (b":authority".to_vec(), b"bookstore.test".to_vec()),
    ];
    for (name, value) in case["headers"].as_object().unwrap() {
        headers.push((
            name.to_ascii_lowercase().into_bytes(),
            value.as_str().unwrap().as_bytes().to_vec(),
        ));
    }
    headers
}

/// The user info the upstream would see after the header operations: `None` if removed or never
/// set.
fn user_info_after(headers: &[(Vec<u8>, Vec<u8>)], ops: &[HeaderOp], name: &str) -> Option<String> {
    let mut value = headers
        .iter()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap());
    for op in ops {
        match op {
            HeaderOp::Remove(n) if &**n == name => value = None,
            HeaderOp::Add(n, v) if &**n == name => {
                assert!(value.is_none(), "{name} added twice");
                value = Some(String::from_utf8(v.clone()).unwrap());
            }
            _ => {}
        }
    }
    value
}

#[test]
fn bookstore_cases() {
    let file = load("openapi_bookstore.json");
    let config = Config::from_json(file["config"].to_string().as_bytes()).unwrap();
    let now = Time::from_seconds(file["now"].as_u64().unwrap());
    let mut cache = TokenCache::new(1_000, 64 * 1024, [7; 16]);
    let mut failures = Vec::new();
    let cases = file["cases"].as_array().unwrap();
    for case in cases {
        let headers = request(case);
        for round in ["", " (cached)"] {
            let outcome = authenticate(
                &config,
                Request {
                    headers: &jwt_gate::request::borrow_headers(&headers),
                },
                now,
                &NoRemoteKeys,
                &RingVerifier,
                &mut cache,
            );
            let (status, body, user_info, method, challenge) = match &outcome.decision {
                Decision::Allow { header_ops, .. } => (
                    200,
                    None,
                    user_info_after(&headers, header_ops, "x-endpoint-api-userinfo"),
                    header_ops.iter().find_map(|op| match op {
                        HeaderOp::Set(name, value) if &**name == ":method" => {
                            Some(String::from_utf8(value.clone()).unwrap())
                        }
                        _ => None,
                    }),
                    None,
                ),
                Decision::Deny(denial) => (
                    denial.status,
                    Some(denial.body.to_string()),
                    None,
                    None,
                    Some(denial.www_authenticate.is_some()),
                ),
                Decision::Wait(wait) => panic!("{wait:?}"),
            };
            let got = json!({"status": status, "body": body, "userinfo": user_info,
                "method": method, "challenge": challenge});
            let expected = json!({
                "status": case["status"],
                "body": case.get("body"),
                "userinfo": case["userinfo"],
                "method": case.get("upstream_method"),
                "challenge": case.get("challenge"),
            });
            if got != expected {
                failures.push(format!(
                    "{}{round}:\n  expected {expected}\n  got      {got}",
                    case["name"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
