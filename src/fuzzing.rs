//! Entry points for the fuzz targets in `fuzz/`, natively compiled only. The same functions
//! replay the seed corpus and every input that ever crashed, as ordinary tests
//! (`tests/fuzz_corpus.rs`), so `make test` needs no nightly toolchain. None of them may panic,
//! whatever the input: that is the property fuzzing checks.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::authenticator::binding::{NoSender, Sender};
use crate::authenticator::token_cache::TokenCache;
use crate::authenticator::{authenticate_with, NoRemoteKeys, Request};
use crate::config::model::JwtAuthentication;
use crate::config::Config;
use crate::keys::memory_store::MemoryStore;
use crate::keys::{KeySet, KeySetFormat};
use crate::limits::Limits;
use crate::time::Time;
use crate::token::dpop::Proof;
use crate::token::Jwt;
use crate::verify::{verify_signature, RingVerifier};

/// The fixtures' time: tokens minted for it are valid then.
const NOW: Time = Time::from_seconds(1_700_000_000);

fn fixtures() -> &'static Value {
    static FIXTURES: OnceLock<Value> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        serde_json::from_str(include_str!("../tests/data/tokens.json")).unwrap_or_default()
    })
}

fn keys() -> &'static Option<KeySet> {
    static KEYS: OnceLock<Option<KeySet>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let inline = fixtures()
            .pointer("/provider/local_jwks/inline_string")?
            .as_str()?;
        KeySet::parse(inline.as_bytes(), &Limits::DEFAULT).ok()
    })
}

/// A configuration that exercises every location kind, matcher kind and requirement kind.
fn fixture_config() -> &'static Option<Config> {
    static CONFIG: OnceLock<Option<Config>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let provider = fixtures().get("provider")?.as_object()?.clone();
        let mut other = provider.clone();
        other.insert("issuer".into(), json!("https://other.test"));
        other.insert("from_headers".into(), json!([{"name": "x-token", "value_prefix": "Token "}]));
        other.insert("from_params".into(), json!(["jwt"]));
        other.insert("from_cookies".into(), json!(["session"]));
        other.insert("forward".into(), json!(true));
        other.insert("dpop".into(), json!({"max_proof_age": "10s"}));
        let mut p = provider;
        p.insert("forward_payload_header".into(), json!("x-jwt-payload"));
        p.insert("pad_forward_payload_header".into(), json!(true));
        p.insert(
            "claim_to_headers".into(),
            json!([{"header_name": "x-sub", "claim_name": "sub"}, {"header_name": "x-deep", "claim_name": "a.b"}]),
        );
        p.insert(
            "verify_claims".into(),
            json!([{"key": "tenant", "values": ["acme"], "is_required": false}]),
        );
        other.insert("forward_payload_header".into(), json!("x-user-info"));
        other.insert("forward_payload_header_format".into(), json!("esp_v1"));
        let config = json!({
            "providers": {"p": p, "q": other},
            "rules": [
                {"match": {"path": "/public"}},
                {"match": {"safe_regex": {"regex": "/v[0-9]+/.*"}, "headers": [{"name": ":method", "string_match": {"exact": "POST", "ignore_case": true}}]},
                 "requires": {"requires_all": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}]}}},
                {"match": {"prefix": "/any", "query_parameters": [{"name": "x", "present_match": true}]},
                 "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}, {"allow_missing": {}}]}}},
                {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
                {"match": {"path_template": "/t/{a}/{b=x/*}/{rest=**}"}, "requires": {"provider_name": "p"}, "allowed_scopes": ["read"]},
                {"match": {"prefix": "/aud"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["x"]}}},
                {"match": {"path_separated_prefix": "/seg", "case_sensitive": false, "headers": [
                    {"name": "host", "string_match": {"suffix": ":8080"}},
                    {"name": "x-n", "range_match": {"start": -5, "end": 5}, "invert_match": true, "treat_missing_header_as_empty": true},
                    {"name": "x-r", "string_match": {"safe_regex": {"regex": "\u{e9}.*"}}},
                    {"name": "x-c", "string_match": {"contains": "Ab", "ignore_case": true}}],
                  "query_parameters": [{"name": "q", "present_match": false}]},
                 "requires": {"provider_name": "q"}},
                {"match": {"prefix": "/when"}, "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}]}},
                 "when": [{"key": "request.auth.claims[scope]", "values": ["read*"]},
                          {"key": "request.auth.principal", "not_values": ["*/bob"]},
                          {"key": "request.auth.claims[a][b]", "not_values": ["x"]}]},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
            ],
            "bypass_cors_preflight": true,
            "failure_response_format": "json",
            "x_forwarded_authorization": true,
        });
        Config::from_json(config.to_string().as_bytes()).ok()
    })
}

/// Parses `data` as a token and verifies it against the fixture keys; parses it as a DPoP
/// proof, and sends it as both a DPoP-bound token and its proof.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let (Ok(jwt), Some(keys)) = (Jwt::parse(text, &Limits::DEFAULT), keys()) {
        let _ = verify_signature(&jwt.jws, keys, &RingVerifier);
    }
    let _ = Proof::parse(data, &Limits::DEFAULT);
    request(format!("/\nauthorization:Bearer {text}").as_bytes());
    // As a DPoP proof, with itself as the token (`other` takes DPoP-bound tokens).
    request(format!("/\nauthorization:DPoP {text}\ndpop:{text}").as_bytes());
}

/// Parses `data` as a key set document: inline, and fetched in each format.
pub fn key_set(data: &[u8]) {
    let _ = KeySet::parse(data, &Limits::DEFAULT);
    for format in [KeySetFormat::Jwks, KeySetFormat::Pem] {
        let _ = KeySet::parse_fetched(data, format, &Limits::DEFAULT);
    }
}

/// Parses `data` as a plugin configuration; as JSON, also translates it as an OpenAPI document,
/// as an OCI deployment and as Istio manifests (a list: its documents), and checks each
/// translation as the command line prints it.
pub fn config(data: &[u8]) {
    let _ = Config::from_json(data);
    if let Ok(value) = crate::json::parse(data, 64) {
        if let Ok(translated) =
            crate::translate::openapi::translate(&json!({"openapi": value.clone()}))
        {
            printed_as_compiled(&translated.config);
        }
        if let Ok(translated) = crate::translate::oci::translate(&value) {
            printed_as_compiled(&translated.config);
        }
        let documents = match &value {
            Value::Array(documents) => documents.clone(),
            document => vec![document.clone()],
        };
        if let Ok(translated) = crate::translate::istio::translate(&documents) {
            printed_as_compiled(&translated.config);
        }
    }
}

/// What `jwt-gate from-openapi`, `from-oci` and `from-istio` print loads as the translation
/// itself does: both or neither, with the same warnings.
fn printed_as_compiled(document: &JwtAuthentication) {
    let compiled = Config::compile(document).map(|config| config.warnings);
    let printed = serde_json::to_value(document).unwrap_or_default();
    let reread = Config::from_value(&printed).map(|config| config.warnings);
    assert_eq!(
        compiled.is_ok(),
        reread.is_ok(),
        "{compiled:?} but printed: {reread:?}"
    );
    if let (Ok(compiled), Ok(reread)) = (compiled, reread) {
        assert_eq!(compiled, reread);
    }
}

/// `data` as a path template (first line) and request paths (the other lines): parsed, then
/// matched both case-sensitively and not, as sent and as backends may read them.
pub fn template(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let Some(Ok(text)) = lines.next().map(std::str::from_utf8) else {
        return;
    };
    if let Ok(template) = crate::policy::template::PathTemplate::parse(text) {
        let _ = template.specificity();
        for path in lines.take(64) {
            let readings = crate::policy::template::backend_readings(path);
            for path in std::iter::once(path).chain(readings.paths.iter().map(Vec::as_slice)) {
                let _ = template.matches(path, true);
                let _ = template.matches(path, false);
            }
        }
    }
}

/// `data` as a request: the first line is `:path`, each further line `name:value` (raw bytes).
pub fn request(data: &[u8]) {
    let Some(config) = fixture_config() else {
        return;
    };
    let mut lines = data.split(|&b| b == b'\n');
    let path = lines.next().unwrap_or_default();
    let mut headers = vec![
        (b":path".to_vec(), path.to_vec()),
        (b":authority".to_vec(), b"api.test".to_vec()),
        (b":scheme".to_vec(), b"https".to_vec()),
    ];
    for line in lines.take(64) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        headers.push((
            name.to_ascii_lowercase(),
            value.get(1..).unwrap_or_default().to_vec(),
        ));
    }
    let mut cache = TokenCache::new(16, 8 * 1024, [7; 16]);
    let store = MemoryStore::new();
    let sender = Sender {
        downstream: &NoSender,
        replay_store: &store,
    };
    for _ in 0..2 {
        let _ = authenticate_with(
            config,
            Request {
                headers: &crate::request::borrow_headers(&headers),
            },
            NOW,
            &NoRemoteKeys,
            &RingVerifier,
            &mut cache,
            sender,
        );
    }
}

#[cfg(test)]
mod tests {
    /// The fixture must load: `request` does nothing at all without it.
    #[test]
    fn fixture_config_loads() {
        assert!(super::fixture_config().is_some());
    }
}
