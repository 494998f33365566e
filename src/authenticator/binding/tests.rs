//! DPoP and certificate-bound tokens through `authenticate_with`: every rule of RFC 9449 §4.3
//! broken one at a time, the answers of §7.1, the token cache, the replay cache shared by two
//! "workers" (two caches, one store), and RFC 8705's certificate binding.
//!
//! Keys are Ed25519 from fixed seeds (ring signs here, in the test only): the issuer's is seed
//! 1, the client's DPoP key seed 2, an attacker's seed 3.

use std::cell::Cell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};

use super::*;
use crate::authenticator::token_cache::TokenCache;
use crate::authenticator::{authenticate_with, Decision, Denial, HeaderOp, Outcome, Request};
use crate::keys::access::{KeyAccess, RemoteKeys, Wait};
use crate::keys::memory_store::MemoryStore;
use crate::keys::KeySet;
use crate::verify::RingVerifier;

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://issuer.test";
const URI: &str = "https://api.test/things/1";

fn key(seed: u8) -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
}

fn jwk(seed: u8) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key(seed).public_key().as_ref())})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn sign(header: &Value, payload: &Value, seed: u8) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = key(seed).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

/// The RFC 7638 thumbprint of seed's key, computed here from its definition.
fn jkt(seed: u8) -> String {
    let members = jwk(seed);
    let text = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        members["x"].as_str().unwrap()
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
}

/// An access token from the issuer, with `cnf` when given.
fn access_token(cnf: Option<Value>) -> String {
    let mut claims =
        json!({"iss": ISSUER, "sub": "alice", "iat": NOW, "exp": NOW + 600, "jti": "t"});
    if let Some(cnf) = cnf {
        claims["cnf"] = cnf;
    }
    sign(&json!({"alg": "EdDSA", "typ": "at+jwt"}), &claims, 1)
}

fn bound_token() -> String {
    access_token(Some(json!({ "jkt": jkt(2) })))
}

/// A proof signed by the client's key for `token`; `header` and `claims` overrides (null
/// removes a member).
fn proof_with(token: &str, header: Value, claims: Value, seed: u8) -> String {
    let mut h = json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk(2)});
    let mut c = json!({"jti": format!("{:x}", rand_id()), "htm": "GET", "htu": URI, "iat": NOW,
                       "ath": crate::token::dpop::access_token_hash(token)});
    for (target, overrides) in [(&mut h, header), (&mut c, claims)] {
        for (name, value) in overrides.as_object().unwrap() {
            if value.is_null() {
                target.as_object_mut().unwrap().remove(name);
            } else {
                target[name] = value.clone();
            }
        }
    }
    sign(&h, &c, seed)
}

fn proof(token: &str) -> String {
    proof_with(token, json!({}), json!({}), 2)
}

/// A fresh `jti` per proof (the process's own counter: tests run in parallel).
fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn config_with(dpop: Value, provider_extra: Value, top: Value) -> Config {
    let mut provider = json!({
        "issuer": ISSUER,
        "local_jwks": {"inline_string": json!({"keys": [jwk(1)]}).to_string()},
        "clock_skew": "0s",
        "dpop": dpop,
    });
    if provider["dpop"].is_null() {
        provider.as_object_mut().unwrap().remove("dpop");
    }
    for (name, value) in provider_extra.as_object().unwrap() {
        provider[name] = value.clone();
    }
    let mut config = json!({"providers": {"p": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]});
    for (name, value) in top.as_object().unwrap() {
        config[name] = value.clone();
    }
    Config::from_json(config.to_string().as_bytes()).unwrap()
}

fn config(dpop: Value) -> Config {
    config_with(dpop, json!({}), json!({}))
}

/// The connection of a test request.
#[derive(Default)]
struct Connection {
    tls: bool,
    certificate: Option<[u8; 32]>,
}

impl Downstream for Connection {
    fn is_tls(&self) -> bool {
        self.tls
    }
    fn client_certificate_sha256(&self) -> Option<[u8; 32]> {
        self.certificate
    }
}

/// One instance (a worker): its own token cache; the store is the process's.
struct Worker<'s> {
    store: &'s MemoryStore,
    cache: TokenCache,
}

impl<'s> Worker<'s> {
    fn new(store: &'s MemoryStore) -> Self {
        Self {
            store,
            cache: TokenCache::new(100, 8192, [7; 16]),
        }
    }

    fn send(
        &mut self,
        config: &Config,
        headers: &[(&str, &str)],
        connection: &Connection,
    ) -> Outcome {
        self.send_with(
            config,
            headers,
            connection,
            &crate::keys::access::NoRemoteKeys,
        )
    }

    fn send_with(
        &mut self,
        config: &Config,
        headers: &[(&str, &str)],
        connection: &Connection,
        remote: &dyn RemoteKeys,
    ) -> Outcome {
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":path".to_vec(), b"/things/1?q=1".to_vec()),
            (b":authority".to_vec(), b"api.test".to_vec()),
        ];
        for (name, value) in headers {
            if name.starts_with(':') {
                all.retain(|(n, _)| n != name.as_bytes());
            }
            all.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        }
        authenticate_with(
            config,
            Request {
                headers: &crate::request::borrow_headers(&all),
            },
            Time::from_seconds(NOW),
            remote,
            &RingVerifier,
            &mut self.cache,
            Sender {
                downstream: connection,
                replay_store: self.store,
            },
        )
    }
}

fn tls() -> Connection {
    Connection {
        tls: true,
        certificate: None,
    }
}

fn dpop_request<'a>(token: &'a str, proof: &'a str) -> Vec<(&'a str, String)> {
    vec![
        ("authorization", format!("DPoP {token}")),
        ("dpop", proof.to_owned()),
    ]
}

fn send(config: &Config, headers: &[(&str, String)]) -> Outcome {
    let store = MemoryStore::new();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Worker::new(&store).send(config, &headers, &tls())
}

fn denial(outcome: &Outcome) -> &Denial {
    match &outcome.decision {
        Decision::Deny(denial) => denial,
        other => panic!("not denied: {other:?}"),
    }
}

fn allowed(outcome: &Outcome) -> &[HeaderOp] {
    match &outcome.decision {
        Decision::Allow { header_ops, .. } => header_ops,
        other => panic!("not allowed: {other:?}"),
    }
}

/// (status, reason, WWW-Authenticate).
fn answer(outcome: &Outcome) -> (u16, &'static str, Option<&str>) {
    let denial = denial(outcome);
    (
        denial.status,
        denial.error.reason(),
        denial.www_authenticate.as_deref(),
    )
}

const ALGS: &str = "ES256 ES384 ES512 EdDSA PS256 PS384 PS512 RS256 RS384 RS512";

fn invalid_proof() -> String {
    format!("DPoP algs=\"{ALGS}\", error=\"invalid_dpop_proof\"")
}

fn invalid_token() -> String {
    format!("DPoP algs=\"{ALGS}\", error=\"invalid_token\"")
}

#[test]
fn a_bound_token_with_its_proof_passes_and_neither_reaches_the_backend() {
    let config = config(json!({}));
    let token = bound_token();
    let outcome = send(&config, &dpop_request(&token, &proof(&token)));
    let ops = allowed(&outcome);
    assert!(ops.contains(&HeaderOp::Remove("dpop".into())), "{ops:?}");
    assert!(
        ops.contains(&HeaderOp::Remove("authorization".into())),
        "{ops:?}"
    );

    let forwarding = config_with(json!({}), json!({"forward": true}), json!({}));
    let outcome = send(&forwarding, &dpop_request(&token, &proof(&token)));
    assert!(allowed(&outcome).is_empty(), "forward keeps both");
}

#[test]
fn every_rule_of_the_proof_broken_one_at_a_time() {
    let config = config(json!({"max_proof_age": "60s", "algorithms": ["EdDSA", "ES256"]}));
    let algs = "EdDSA ES256";
    let token = bound_token();
    let other_token = access_token(Some(json!({"jkt": jkt(2), "jti": "other"})));
    let mut private = jwk(2);
    private["d"] = json!(URL_SAFE_NO_PAD.encode([2u8; 32]));
    let hs256 = {
        let header = b64(&json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk(2)}));
        let claims = b64(&json!({"jti": "h", "htm": "GET", "htu": URI, "iat": NOW,
                                  "ath": crate::token::dpop::access_token_hash(&token)}));
        format!("{header}.{claims}.c2ln")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "htm",
            proof_with(&token, json!({}), json!({"htm": "POST"}), 2),
            "dpop_htm_mismatch",
        ),
        (
            "htm case",
            proof_with(&token, json!({}), json!({"htm": "get"}), 2),
            "dpop_htm_mismatch",
        ),
        (
            "htu path",
            proof_with(
                &token,
                json!({}),
                json!({"htu": "https://api.test/things/2"}),
                2,
            ),
            "dpop_htu_mismatch",
        ),
        (
            "htu host",
            proof_with(
                &token,
                json!({}),
                json!({"htu": "https://evil.test/things/1"}),
                2,
            ),
            "dpop_htu_mismatch",
        ),
        (
            "htu scheme",
            proof_with(
                &token,
                json!({}),
                json!({"htu": "http://api.test/things/1"}),
                2,
            ),
            "dpop_htu_mismatch",
        ),
        (
            "htu port",
            proof_with(
                &token,
                json!({}),
                json!({"htu": "https://api.test:8443/things/1"}),
                2,
            ),
            "dpop_htu_mismatch",
        ),
        (
            "stale",
            proof_with(&token, json!({}), json!({"iat": NOW - 61}), 2),
            "dpop_proof_too_old",
        ),
        (
            "future",
            proof_with(&token, json!({}), json!({"iat": NOW + 61}), 2),
            "dpop_proof_from_the_future",
        ),
        (
            "ath",
            proof_with(&other_token, json!({}), json!({}), 2),
            "dpop_ath_mismatch",
        ),
        (
            "no ath",
            proof_with(&token, json!({}), json!({"ath": null}), 2),
            "dpop_ath_mismatch",
        ),
        (
            "private jwk",
            proof_with(&token, json!({"jwk": private}), json!({}), 2),
            "dpop_proof_key_invalid",
        ),
        (
            "alg none",
            proof_with(&token, json!({"alg": "none"}), json!({}), 2),
            "dpop_proof_alg_not_allowed",
        ),
        ("HS256", hs256, "dpop_proof_alg_not_allowed"),
        (
            "typ JWT",
            proof_with(&token, json!({"typ": "JWT"}), json!({}), 2),
            "dpop_proof_malformed",
        ),
        (
            "no jti",
            proof_with(&token, json!({}), json!({"jti": null}), 2),
            "dpop_proof_malformed",
        ),
        (
            "signed by another key",
            proof_with(&token, json!({}), json!({}), 3),
            "dpop_proof_verification_fails",
        ),
        ("not a JWT", "x.y".to_owned(), "dpop_proof_malformed"),
    ];
    for (name, proof, reason) in cases {
        let outcome = send(&config, &dpop_request(&token, &proof));
        let expected = format!("DPoP algs=\"{algs}\", error=\"invalid_dpop_proof\"");
        assert_eq!(
            answer(&outcome),
            (401, reason, Some(expected.as_str())),
            "{name}"
        );
    }
    // An algorithm jwt-gate verifies, but not on the provider's list.
    let only_es256 = config_with(json!({"algorithms": ["ES256"]}), json!({}), json!({}));
    let outcome = send(&only_es256, &dpop_request(&token, &proof(&token)));
    assert_eq!(answer(&outcome).1, "dpop_proof_alg_not_allowed");
}

#[test]
fn the_window_is_max_proof_age_plus_the_clock_skew_both_ways() {
    let config = config_with(
        json!({"max_proof_age": "60s"}),
        json!({"clock_skew": "10s"}),
        json!({}),
    );
    let token = bound_token();
    for (iat, pass) in [
        (NOW - 70, true),
        (NOW - 71, false),
        (NOW + 70, true),
        (NOW + 71, false),
    ] {
        let proof = proof_with(&token, json!({}), json!({ "iat": iat }), 2);
        let outcome = send(&config, &dpop_request(&token, &proof));
        assert_eq!(
            matches!(outcome.decision, Decision::Allow { .. }),
            pass,
            "{iat}"
        );
    }
}

#[test]
fn two_proofs_are_refused() {
    let config = config(json!({}));
    let token = bound_token();
    let (first, second) = (proof(&token), proof(&token));
    let mut headers = dpop_request(&token, &first);
    headers.push(("dpop", second.clone()));
    assert_eq!(
        answer(&send(&config, &headers)),
        (401, "dpop_proof_multiple", Some(invalid_proof().as_str()))
    );
    let both = format!("{first}, {second}");
    let joined = dpop_request(&token, &both);
    assert_eq!(answer(&send(&config, &joined)).1, "dpop_proof_multiple");
}

#[test]
fn token_problems_are_invalid_token() {
    let config = config(json!({}));
    let token = bound_token();
    // Bound to another key.
    let other = access_token(Some(json!({ "jkt": jkt(3) })));
    let outcome = send(&config, &dpop_request(&other, &proof(&other)));
    assert_eq!(
        answer(&outcome),
        (401, "dpop_key_mismatch", Some(invalid_token().as_str()))
    );
    // Not bound at all, under the DPoP scheme.
    let plain = access_token(None);
    let outcome = send(&config, &dpop_request(&plain, &proof(&plain)));
    assert_eq!(answer(&outcome).1, "dpop_token_not_bound");
    // No proof.
    let outcome = send(&config, &[("authorization", format!("DPoP {token}"))]);
    assert_eq!(
        answer(&outcome),
        (401, "dpop_proof_missing", Some(invalid_token().as_str()))
    );
    // A bound token as a bearer token, with or without its proof.
    for headers in [
        vec![("authorization", format!("Bearer {token}"))],
        vec![
            ("authorization", format!("Bearer {token}")),
            ("dpop", proof(&token)),
        ],
    ] {
        let outcome = send(&config, &headers);
        assert_eq!(
            answer(&outcome),
            (
                401,
                "dpop_bound_token_as_bearer",
                Some(invalid_token().as_str())
            )
        );
    }
    // A token that verifies no longer is no binding question: the token's own answer, in the
    // scheme it came with.
    let dot = token.rfind('.').unwrap();
    let flipped = if &token[dot + 1..dot + 2] == "A" {
        "B"
    } else {
        "A"
    };
    let forged = format!("{}{flipped}{}", &token[..=dot], &token[dot + 2..]);
    let outcome = send(&config, &dpop_request(&forged, &proof(&forged)));
    assert_eq!(
        answer(&outcome),
        (
            401,
            "jwt_verification_fails",
            Some(invalid_token().as_str())
        )
    );
    // `cnf` of the wrong shape.
    let odd = access_token(Some(json!("jkt")));
    let outcome = send(&config, &[("authorization", format!("Bearer {odd}"))]);
    assert_eq!(answer(&outcome).1, "jwt_cnf_malformed");
}

#[test]
fn bearer_tokens_work_unless_dpop_is_required() {
    let allowed_config = config(json!({}));
    let plain = access_token(None);
    let bearer = [("authorization", format!("Bearer {plain}"))];
    assert!(matches!(
        send(&allowed_config, &bearer).decision,
        Decision::Allow { .. }
    ));
    let query = format!("/things/1?access_token={plain}");
    let outcome = send(&allowed_config, &[(":path", query.clone())]);
    assert!(matches!(outcome.decision, Decision::Allow { .. }));

    let required = config(json!({"required": true}));
    for headers in [bearer.to_vec(), vec![(":path", query)]] {
        let outcome = send(&required, &headers);
        assert_eq!(
            answer(&outcome),
            (401, "dpop_required", Some(invalid_token().as_str()))
        );
    }
    let bound = bound_token();
    let outcome = send(&required, &dpop_request(&bound, &proof(&bound)));
    assert!(matches!(outcome.decision, Decision::Allow { .. }));
    // A provider without dpop takes no DPoP-bound token: it would be a bearer token there.
    let without = config_with(Value::Null, json!({}), json!({}));
    let outcome = send(&without, &[("authorization", format!("Bearer {bound}"))]);
    assert_eq!(
        answer(&outcome),
        (
            401,
            "dpop_bound_token_as_bearer",
            Some("Bearer realm=\"http://api.test/things/1\", error=\"invalid_token\"")
        )
    );
}

#[test]
fn a_request_without_credentials_gets_the_bare_challenge() {
    let allowed_config = config(json!({"algorithms": ["ES256"]}));
    let outcome = send(&allowed_config, &[]);
    assert_eq!(
        answer(&outcome),
        (
            401,
            "jwt_missing",
            Some("Bearer realm=\"http://api.test/things/1\", DPoP algs=\"ES256\"")
        )
    );
    let required = config(json!({"required": true, "algorithms": ["ES256"]}));
    assert_eq!(answer(&send(&required, &[])).2, Some("DPoP algs=\"ES256\""));
}

#[test]
fn the_token_cache_keeps_the_token_and_checks_the_proof_every_time() {
    let config = config(json!({}));
    let store = MemoryStore::new();
    let mut worker = Worker::new(&store);
    let token = bound_token();
    let first = proof(&token);
    let headers = |proof: &str| {
        vec![
            ("authorization".to_owned(), format!("DPoP {token}")),
            ("dpop".to_owned(), proof.to_owned()),
        ]
    };
    let send = |worker: &mut Worker<'_>, headers: &[(String, String)]| {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        worker.send(&config, &headers, &tls())
    };
    assert!(matches!(
        send(&mut worker, &headers(&first)).decision,
        Decision::Allow { .. }
    ));
    assert_eq!(worker.cache.take_counts().misses, 1);
    // The token is a cache hit now; its proof is still checked.
    assert_eq!(
        answer(&send(&mut worker, &headers(&first))).1,
        "dpop_replayed"
    );
    let wrong = proof_with(&token, json!({}), json!({"htm": "POST"}), 2);
    assert_eq!(
        answer(&send(&mut worker, &headers(&wrong))).1,
        "dpop_htm_mismatch"
    );
    assert!(matches!(
        send(&mut worker, &headers(&proof(&token))).decision,
        Decision::Allow { .. }
    ));
    assert_eq!(worker.cache.take_counts().hits, 3);
}

#[test]
fn a_proof_accepted_by_one_worker_is_refused_by_another() {
    let config = config(json!({}));
    let store = MemoryStore::new();
    config.replay_cache.prepare(&store);
    let (mut one, mut two) = (Worker::new(&store), Worker::new(&store));
    let token = bound_token();
    let proof = proof(&token);
    let headers = [("authorization", format!("DPoP {token}")), ("dpop", proof)];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert!(matches!(
        one.send(&config, &headers, &tls()).decision,
        Decision::Allow { .. }
    ));
    let replayed = two.send(&config, &headers, &tls());
    assert_eq!(
        answer(&replayed),
        (401, "dpop_replayed", Some(invalid_proof().as_str()))
    );
}

#[test]
fn a_full_or_missing_replay_cache_fails_closed_with_503() {
    let config = config_with(json!({}), json!({}), json!({"dpop_replay_cache_size": 1}));
    let store = MemoryStore::new();
    let mut worker = Worker::new(&store);
    let token = bound_token();
    for (expected, _) in [(None, 0), (Some("dpop_replay_cache_full"), 1)] {
        let proof = proof(&token);
        let headers = [("authorization", format!("DPoP {token}")), ("dpop", proof)];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let outcome = worker.send(&config, &headers, &tls());
        match expected {
            None => assert!(matches!(outcome.decision, Decision::Allow { .. })),
            Some(reason) => assert_eq!(answer(&outcome), (503, reason, None)),
        }
    }
    // A host without a store: no proof can be remembered, none is accepted.
    let authorization = format!("DPoP {token}");
    let dpop = proof_with(
        &token,
        json!({}),
        json!({"htu": "http://api.test/things/1"}),
        2,
    );
    let outcome = crate::authenticator::authenticate(
        &config,
        Request {
            headers: &[
                (b":path", b"/things/1"),
                (b":authority", b"api.test"),
                (b":method", b"GET"),
                (b"authorization", authorization.as_bytes()),
                (b"dpop", dpop.as_bytes()),
            ],
        },
        Time::from_seconds(NOW),
        &crate::keys::access::NoRemoteKeys,
        &RingVerifier,
        &mut TokenCache::new(0, 0, [0; 16]),
    );
    assert_eq!(
        answer(&outcome),
        (503, "dpop_replay_cache_unavailable", None)
    );
}

#[test]
fn the_scheme_is_the_connections_unless_a_trusted_proxy_says() {
    let token = bound_token();
    let http_proof = |token: &str| {
        proof_with(
            token,
            json!({}),
            json!({"htu": "http://api.test/things/1"}),
            2,
        )
    };
    let store = MemoryStore::new();
    let plain = Connection::default();
    let send = |config: &Config, proof: &str, extra: &[(&str, &str)], connection: &Connection| {
        let mut headers = vec![
            ("authorization", format!("DPoP {token}")),
            ("dpop", proof.to_owned()),
        ];
        headers.extend(extra.iter().map(|(n, v)| (*n, (*v).to_owned())));
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Worker::new(&store).send(config, &headers, connection)
    };
    let direct = config(json!({}));
    // A client's X-Forwarded-Proto (or :scheme) does not change the connection's scheme.
    let forged = [("x-forwarded-proto", "https"), (":scheme", "https")];
    assert_eq!(
        answer(&send(&direct, &proof(&token), &forged, &plain)).1,
        "dpop_htu_mismatch"
    );
    assert!(matches!(
        send(&direct, &http_proof(&token), &forged, &plain).decision,
        Decision::Allow { .. }
    ));
    // Behind a trusted proxy, X-Forwarded-Proto names it: one value, http or https.
    let proxied = config_with(json!({}), json!({}), json!({"behind_trusted_proxy": true}));
    let https = [("x-forwarded-proto", "HTTPS")];
    assert!(matches!(
        send(&proxied, &proof(&token), &https, &plain).decision,
        Decision::Allow { .. }
    ));
    assert!(matches!(
        send(&proxied, &http_proof(&token), &[], &plain).decision,
        Decision::Allow { .. }
    ));
    for bad in [
        &[("x-forwarded-proto", "https, http")][..],
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-proto", "https"),
        ],
        &[("x-forwarded-proto", "ftp")],
    ] {
        assert_eq!(
            answer(&send(&proxied, &proof(&token), bad, &plain)).1,
            "dpop_htu_mismatch",
            "{bad:?}"
        );
    }
}

#[test]
fn htm_is_the_method_the_client_sent_not_an_override() {
    let config = config_with(json!({}), json!({}), json!({"http_method_override": true}));
    let token = bound_token();
    let store = MemoryStore::new();
    let proof = proof_with(&token, json!({}), json!({"htm": "POST"}), 2);
    let headers = [
        ("authorization", format!("DPoP {token}")),
        ("dpop", proof),
        (":method", "POST".to_owned()),
        ("x-http-method-override", "DELETE".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert!(matches!(
        Worker::new(&store).send(&config, &headers, &tls()).decision,
        Decision::Allow { .. }
    ));
}

/// Keys that are pending until told otherwise.
struct Pending<'k>(&'k KeySet, Cell<bool>);

impl RemoteKeys for Pending<'_> {
    fn key_set(&self, _provider: usize) -> KeyAccess<'_> {
        if self.1.get() {
            KeyAccess::Ready {
                keys: self.0,
                version: 1,
                kid_refetch_allowed: false,
            }
        } else {
            KeyAccess::Pending
        }
    }
}

#[test]
fn a_request_that_waits_for_keys_does_not_replay_its_own_proof() {
    let local = json!({"issuer": ISSUER, "local_jwks": {"inline_string": json!({"keys": [jwk(1)]}).to_string()},
                       "clock_skew": "0s", "dpop": {}});
    let remote = json!({"issuer": "https://remote.test", "from_headers": [{"name": "x-other"}],
                        "remote_jwks": {"http_uri": {"uri": "https://remote.test/keys", "cluster": "c", "timeout": "1s"}}});
    let config = json!({"providers": {"p": local, "r": remote},
        "rules": [{"match": {"prefix": "/"}, "requires": {"requires_all": {"requirements": [
            {"provider_name": "p"}, {"provider_name": "r"}]}}}]});
    let config = Config::from_json(config.to_string().as_bytes()).unwrap();
    let keys = KeySet::parse(
        json!({"keys": [jwk(1)]}).to_string().as_bytes(),
        &config.limits,
    )
    .unwrap();
    let other = sign(
        &json!({"alg": "EdDSA"}),
        &json!({"iss": "https://remote.test", "exp": NOW + 60}),
        1,
    );
    let token = bound_token();
    let proof = proof(&token);
    let headers = [
        ("authorization", format!("DPoP {token}")),
        ("dpop", proof),
        ("x-other", other),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let store = MemoryStore::new();
    let mut worker = Worker::new(&store);
    let remote = Pending(&keys, Cell::new(false));
    let first = worker.send_with(&config, &headers, &tls(), &remote);
    assert_eq!(first.decision, Decision::Wait(Wait::Keys(1)));
    remote.1.set(true);
    let second = worker.send_with(&config, &headers, &tls(), &remote);
    assert!(
        matches!(second.decision, Decision::Allow { .. }),
        "{:?}",
        second.decision
    );
    let third = worker.send_with(&config, &headers, &tls(), &remote);
    assert_eq!(answer(&third).1, "dpop_replayed");
}

fn certificate_sha256(n: u8) -> [u8; 32] {
    [n; 32]
}

fn x5t(n: u8) -> String {
    URL_SAFE_NO_PAD.encode(certificate_sha256(n))
}

#[test]
fn certificate_bound_tokens_need_their_certificate() {
    let bound = config_with(Value::Null, json!({"certificate_bound": true}), json!({}));
    let open = config_with(Value::Null, json!({}), json!({}));
    let store = MemoryStore::new();
    let with_certificate = Connection {
        tls: true,
        certificate: Some(certificate_sha256(1)),
    };
    let without = tls();
    let send = |config: &Config, token: &str, connection: &Connection| {
        let headers = [("authorization", format!("Bearer {token}"))];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Worker::new(&store).send(config, &headers, connection)
    };
    let mine = access_token(Some(json!({ "x5t#S256": x5t(1) })));
    let theirs = access_token(Some(json!({ "x5t#S256": x5t(2) })));
    let unbound = access_token(None);
    let bearer_error = Some("Bearer realm=\"http://api.test/things/1\", error=\"invalid_token\"");
    assert!(matches!(
        send(&bound, &mine, &with_certificate).decision,
        Decision::Allow { .. }
    ));
    assert_eq!(
        answer(&send(&bound, &theirs, &with_certificate)),
        (401, "certificate_mismatch", bearer_error)
    );
    assert_eq!(
        answer(&send(&bound, &mine, &without)),
        (401, "certificate_missing", bearer_error)
    );
    assert_eq!(
        answer(&send(&bound, &unbound, &with_certificate)),
        (401, "certificate_binding_missing", bearer_error)
    );
    // A provider that does not require binding still holds a bound token to its certificate.
    assert!(matches!(
        send(&open, &unbound, &without).decision,
        Decision::Allow { .. }
    ));
    assert!(matches!(
        send(&open, &mine, &with_certificate).decision,
        Decision::Allow { .. }
    ));
    assert_eq!(
        answer(&send(&open, &mine, &without)).1,
        "certificate_missing"
    );
    assert_eq!(
        answer(&send(&open, &theirs, &with_certificate)).1,
        "certificate_mismatch"
    );
}

#[test]
fn hex_digests_as_envoy_writes_them() {
    let hex = "00ff".repeat(16);
    let mut expected = [0u8; 32];
    for pair in expected.chunks_mut(2) {
        pair[1] = 0xff;
    }
    assert_eq!(sha256_from_hex(hex.as_bytes()), Some(expected));
    assert_eq!(
        sha256_from_hex(hex.to_uppercase().as_bytes()),
        Some(expected)
    );
    for bad in ["", "00", &"0g".repeat(32), &"00".repeat(33)] {
        assert_eq!(sha256_from_hex(bad.as_bytes()), None, "{bad}");
    }
}
