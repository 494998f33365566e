//! Known-answer vectors, driven from data files:
//! - `rfc7515.json`, `rfc7520.json`: the RFCs' JWS examples (signature level; some payloads are
//!   not JSON), each also checked to fail with one signature bit flipped;
//! - `tokens.json`: tokens minted by PyJWT (`generate_tokens.py`) for every algorithm and for
//!   hostile cases, run through the whole authenticator with the verdict jwt_authn would give;
//! - `keysets.json`: key set documents in every format (`generate_keysets.py`), inline (formats
//!   detected) and fetched (`remote_jwks.format`), with a token each.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{json, Value};

use jwt_gate::authenticator::token_cache::TokenCache;
use jwt_gate::authenticator::NoRemoteKeys;
use jwt_gate::keys::{KeySet, KeySetError, KeySetFormat};
use jwt_gate::limits::Limits;
use jwt_gate::token::{Jws, Jwt};
use jwt_gate::verify::{verify_signature, RingVerifier, VerifyError};
use jwt_gate::{authenticate, Config, Decision, Request, Time};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn check_jws(token: &str, jwks: &Value) -> Result<(), String> {
    let limits = Limits::DEFAULT;
    let keys = KeySet::parse(jwks.to_string().as_bytes(), &limits).map_err(|e| e.to_string())?;
    let jws = Jws::parse(token, &limits).map_err(|e| e.to_string())?;
    verify_signature(&jws, &keys, &RingVerifier).map_err(|e| e.to_string())
}

fn flip_signature_bit(token: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn run_rfc_file(name: &str) -> usize {
    let file = load(name);
    let vectors = file["vectors"].as_array().unwrap();
    for vector in vectors {
        let label = vector["name"].as_str().unwrap();
        let token = vector["token"].as_str().unwrap();
        match vector["expect"].as_str().unwrap() {
            "valid" => {
                assert_eq!(check_jws(token, &vector["jwks"]), Ok(()), "{name} {label}");
                assert_eq!(
                    check_jws(&flip_signature_bit(token), &vector["jwks"]),
                    Err(VerifyError::InvalidSignature.to_string()),
                    "{name} {label} with a flipped bit"
                );
                if vector["payload_is_json"].as_bool().unwrap() {
                    assert!(
                        Jwt::parse(token, &Limits::DEFAULT).is_ok(),
                        "{name} {label}"
                    );
                }
            }
            "reject" => assert_eq!(
                check_jws(token, &vector["jwks"]),
                Err(vector["error"].as_str().unwrap().to_owned()),
                "{name} {label}"
            ),
            other => panic!("{name} {label}: unknown expectation {other}"),
        }
    }
    vectors.len()
}

#[test]
fn rfc7515_appendix_a() {
    assert_eq!(run_rfc_file("rfc7515.json"), 5);
}

#[test]
fn rfc7520_section_4() {
    assert_eq!(run_rfc_file("rfc7520.json"), 4);
}

#[test]
fn minted_tokens_get_jwt_authn_verdicts() {
    let file = load("tokens.json");
    let config = json!({
        "providers": {"p": file["provider"]},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    });
    let config = Config::from_json(config.to_string().as_bytes()).unwrap();
    let now = Time::from_seconds(file["now"].as_u64().unwrap());
    let cases = file["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut cache = TokenCache::new(1_000, 64 * 1024, [7; 16]);
    for case in cases {
        let token = case["token"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let headers = vec![
            (b":path".to_vec(), b"/".to_vec()),
            (b":authority".to_vec(), b"api.test".to_vec()),
            (
                b"authorization".to_vec(),
                format!("Bearer {token}").into_bytes(),
            ),
        ];
        // Twice, through one cache: a cached verdict must be the verdict.
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
            let got = match outcome.decision {
                Decision::Allow { .. } => "ok".to_owned(),
                Decision::Deny(denial) => denial.body.into_owned(),
                Decision::Wait(wait) => format!("wait {wait:?}"),
            };
            if got != expect {
                failures.push(format!(
                    "{}{round}: expected {expect:?}, got {got:?}",
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
    assert!(cases.len() > 50);
}

#[test]
fn key_set_formats_are_detected() {
    let file = load("keysets.json");
    let cases = file["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let document = case["document"].as_str().unwrap();
        let parsed = KeySet::parse(document.as_bytes(), &Limits::DEFAULT);
        let expect = case["expect"].as_str().unwrap();
        if let Some(kind) = expect.strip_prefix("error:") {
            assert_error_kind(&parsed, kind, name);
            continue;
        }
        let keys = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
        check_key_set_case(case, &keys, name);
    }
    assert!(cases.len() >= 15);
}

/// Fetched documents: only the configured format, never a bare secret; a JWK set without a
/// usable key is a key set of none (the issuer withdrew its keys), not an error.
#[test]
fn fetched_key_sets_are_in_the_configured_format() {
    let file = load("keysets.json");
    let cases = file["cases"].as_array().unwrap();
    let mut seen = (0, 0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let document = case["document"].as_str().unwrap();
        for (format, label) in [(KeySetFormat::Jwks, "jwks"), (KeySetFormat::Pem, "pem")] {
            let parsed = KeySet::parse_fetched(document.as_bytes(), format, &Limits::DEFAULT);
            let context = format!("{name}, fetched as {label}: {parsed:?}");
            match case["fetched"][label].as_str().unwrap() {
                error if error.starts_with("error:") => {
                    assert_error_kind(&parsed, &error["error:".len()..], &context);
                    seen.0 += 1;
                }
                "none" => {
                    assert!(
                        parsed.as_ref().is_ok_and(|set| set.keys.is_empty()),
                        "{context}"
                    );
                    seen.1 += 1;
                }
                "keys" => {
                    let keys = parsed.unwrap_or_else(|e| panic!("{name} as {label}: {e}"));
                    check_key_set_case(case, &keys, &context);
                    seen.2 += 1;
                }
                other => panic!("{name}: unknown expectation {other}"),
            }
        }
    }
    assert!(seen.0 > 10 && seen.1 >= 2 && seen.2 >= 10, "{seen:?}");
}

/// `parsed` is an error of variant `kind` (`NoValidKeys`, `Pem`, ...).
fn assert_error_kind(parsed: &Result<KeySet, KeySetError>, kind: &str, context: &str) {
    let Err(error) = parsed else {
        panic!("{context}: parsed, expected {kind}");
    };
    let debug = format!("{error:?}");
    let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
    assert_eq!(variant, kind, "{context}: {error}");
}

/// The case's token verifies with `keys` as its `expect` says, and not with one bit flipped.
fn check_key_set_case(case: &Value, keys: &KeySet, name: &str) {
    let expect = case["expect"].as_str().unwrap();
    let token = case["token"].as_str().unwrap();
    let jwt = Jwt::parse(token, &Limits::DEFAULT).unwrap();
    let verify = |jws: &Jws<'_>| verify_signature(jws, keys, &RingVerifier);
    let expected = match expect {
        "ok" => Ok(()),
        "kid_alg_mismatch" => Err(VerifyError::KidAlgMismatch),
        other => panic!("{name}: unknown expectation {other}"),
    };
    assert_eq!(verify(&jwt.jws), expected, "{name}");
    if expected.is_ok() {
        let mut forged = jwt.jws.clone();
        forged.signature[0] ^= 1;
        assert_eq!(
            verify(&forged),
            Err(VerifyError::InvalidSignature),
            "{name} forged"
        );
    }
}
