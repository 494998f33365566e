//! Authenticator tests with tokens minted by PyJWT (`tests/data/tokens.json`).

use serde_json::{json, Value};

use super::*;
use crate::authenticator::token_cache::TokenCache;
use crate::keys::KeySet;
use crate::token::claims::claim;
use crate::verify::RingVerifier;

fn fixtures() -> Value {
    serde_json::from_str(include_str!("../../tests/data/tokens.json")).unwrap()
}

fn token(name: &str) -> String {
    fixtures()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["name"] == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn now() -> Time {
    Time::from_seconds(fixtures()["now"].as_u64().unwrap())
}

/// A config whose providers all use the fixture keys, with `extra` merged into provider "p".
fn config(extra: Value, rules: Value) -> Config {
    let mut provider = fixtures()["provider"].clone();
    for (key, value) in extra.as_object().unwrap() {
        provider[key] = value.clone();
    }
    let mut other = fixtures()["provider"].clone();
    other["issuer"] = json!("https://other.test");
    other["from_headers"] = json!([{"name": "x-other-token"}]);
    let config = json!({"providers": {"p": provider, "q": other}, "rules": rules});
    Config::from_json(config.to_string().as_bytes()).unwrap()
}

fn run(config: &Config, headers: &[(&str, &str)]) -> Outcome {
    let headers: Vec<(Vec<u8>, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    authenticate(
        config,
        Request {
            headers: &crate::request::borrow_headers(&headers),
        },
        now(),
        &NoRemoteKeys,
        &RingVerifier,
        &mut TokenCache::new(0, 0, [7; 16]),
    )
}

fn require_p() -> Value {
    json!([{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}])
}

fn allowed(outcome: &Outcome) -> (&[HeaderOp], Option<&[u8]>) {
    match &outcome.decision {
        Decision::Allow { header_ops, path } => (header_ops, path.as_deref()),
        other => panic!("not allowed: {other:?}"),
    }
}

fn denied(outcome: &Outcome) -> &Denial {
    match &outcome.decision {
        Decision::Deny(denial) => denial,
        other => panic!("not denied: {other:?}"),
    }
}

#[test]
fn missing_token_gets_a_realm_without_the_query() {
    let config = config(json!({}), require_p());
    let outcome = run(
        &config,
        &[
            (":path", "/a/b?access_token=x.y"),
            (":authority", "api.test"),
            (":scheme", "https"),
        ],
    );
    let denial = denied(&outcome);
    // The query parameter is not a token (x.y has two parts): it fails to parse.
    assert_eq!(
        denial.body,
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
    );
    assert_eq!(
        denial.www_authenticate.as_deref(),
        Some("Bearer realm=\"https://api.test/a/b\", error=\"invalid_token\"")
    );
    let missing = run(&config, &[(":path", "/a?q=1"), (":authority", "api.test")]);
    let denial = denied(&missing);
    assert_eq!(
        (denial.status, denial.body.as_ref()),
        (401, "Jwt is missing")
    );
    assert_eq!(
        denial.www_authenticate.as_deref(),
        Some("Bearer realm=\"http://api.test/a\"")
    );
}

#[test]
fn the_realm_percent_encodes_what_could_break_its_quoted_string() {
    let config = config(json!({}), require_p());
    let outcome = run(
        &config,
        &[
            (":path", "/a\"b\\c d\u{e9}?access_token=never-shown"),
            (":authority", "api.test"),
        ],
    );
    assert_eq!(
        denied(&outcome).www_authenticate.as_deref(),
        Some("Bearer realm=\"http://api.test/a%22b%5Cc%20d%C3%A9\", error=\"invalid_token\"")
    );
}

#[test]
fn success_outputs_and_token_removal() {
    let config = config(
        json!({
            "forward_payload_header": "x-jwt-payload",
            "pad_forward_payload_header": true,
            "claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}, {"header_name": "x-missing", "claim_name": "nope"}],
        }),
        require_p(),
    );
    let token = token("RS256 valid");
    let bearer = format!("Bearer {token}");
    let outcome = run(
        &config,
        &[
            (":path", "/"),
            ("authorization", &bearer),
            ("x-sub", "spoofed"),
        ],
    );
    let (ops, path) = allowed(&outcome);
    let payload = token.split('.').nth(1).unwrap();
    let mut padded = payload.to_owned();
    while padded.len() % 4 != 0 {
        padded.push('=');
    }
    assert_eq!(
        ops,
        [
            // Only the spoofed copy that was sent costs a removal.
            HeaderOp::Remove("x-sub".into()),
            HeaderOp::Remove("authorization".into()),
            HeaderOp::Add("x-jwt-payload".into(), padded.into_bytes()),
            HeaderOp::Add("x-sub".into(), b"alice".to_vec()),
        ]
    );
    assert_eq!(path, None);
}

#[test]
fn query_tokens_are_removed_from_the_path_unless_forwarded() {
    let token = token("ES256 valid");
    let path = format!("/x?a=1&access_token={token}&b=2");
    let outcome = run(&config(json!({}), require_p()), &[(":path", &path)]);
    assert_eq!(allowed(&outcome).1, Some(&b"/x?a=1&b=2"[..]));
    let outcome = run(
        &config(json!({"forward": true}), require_p()),
        &[(":path", &path)],
    );
    assert_eq!(allowed(&outcome), (&[][..], None));
}

#[test]
fn every_token_present_must_verify() {
    let config = config(json!({}), require_p());
    let good = format!("Bearer {}", token("RS256 valid"));
    let bad_query = format!("/?access_token={}", token("wrong aud"));
    let outcome = run(&config, &[(":path", &bad_query), ("authorization", &good)]);
    assert_eq!(denied(&outcome).status, 403);
    let two = run(
        &config,
        &[
            (":path", "/"),
            ("authorization", &good),
            ("authorization", &good),
        ],
    );
    assert_eq!(denied(&two).body, "Found multiple Jwt tokens");
}

#[test]
fn rules_select_requirements_and_no_match_means_no_check() {
    let rules = json!([
        {"match": {"prefix": "/public"}},
        {"match": {"prefix": "/either"}, "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}]}}},
        {"match": {"prefix": "/both"}, "requires": {"requires_all": {"requirements": [{"provider_name": "p"}, {"provider_name": "q"}]}}},
        {"match": {"prefix": "/optional"}, "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"allow_missing": {}}]}}},
        {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
        {"match": {"prefix": "/aud"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["other"]}}},
    ]);
    let config = config(
        json!({"claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}]}),
        rules,
    );
    let good = format!("Bearer {}", token("RS256 valid"));
    let expired = format!("Bearer {}", token("expired beyond skew"));
    let status = |path: &str, headers: &[(&str, &str)]| {
        let mut all = vec![(":path", path)];
        all.extend_from_slice(headers);
        match run(&config, &all).decision {
            Decision::Allow { .. } => 200,
            Decision::Deny(denial) => denial.status,
            Decision::Wait(_) => 0,
        }
    };
    assert_eq!(status("/public", &[]), 200);
    assert_eq!(status("/unmatched", &[]), 200);
    assert_eq!(status("/either", &[("authorization", &good)]), 200);
    assert_eq!(status("/either", &[]), 401);
    assert_eq!(status("/both", &[("authorization", &good)]), 401);
    assert_eq!(status("/optional", &[]), 200);
    assert_eq!(status("/optional", &[("authorization", &good)]), 200);
    assert_eq!(status("/optional", &[("authorization", &expired)]), 401);
    assert_eq!(status("/lenient", &[("authorization", &expired)]), 200);
    assert_eq!(status("/aud", &[("authorization", &good)]), 403);
    // allow_missing_or_failed still forwards the outputs of a valid token.
    let outcome = run(&config, &[(":path", "/lenient"), ("authorization", &good)]);
    assert!(allowed(&outcome)
        .0
        .contains(&HeaderOp::Add("x-sub".into(), b"alice".to_vec())));
}

#[test]
fn spoofed_output_headers_are_removed_on_unchecked_routes_too() {
    let config = config(
        json!({"forward_payload_header": "x-jwt-payload"}),
        json!([]),
    );
    let outcome = run(&config, &[(":path", "/"), ("x-jwt-payload", "forged")]);
    assert_eq!(
        allowed(&outcome).0,
        [HeaderOp::Remove("x-jwt-payload".into())]
    );
}

#[test]
fn cors_preflight_bypass() {
    let rules = require_p();
    let mut config = config(json!({}), rules);
    let preflight = [
        (":path", "/"),
        (":method", "OPTIONS"),
        ("origin", "https://a"),
        ("access-control-request-method", "GET"),
    ];
    assert_eq!(denied(&run(&config, &preflight)).body, "Jwt is missing");
    config.bypass_cors_preflight = true;
    let outcome = run(&config, &preflight);
    assert!(outcome.cors_preflight_bypassed);
    allowed(&outcome);
    assert!(!run(&config, &preflight[..3]).cors_preflight_bypassed);
}

#[test]
fn strip_failure_response_leaves_only_the_status() {
    let mut config = config(json!({}), require_p());
    config.strip_failure_response = true;
    let denial = denied(&run(&config, &[(":path", "/")])).clone();
    assert_eq!(
        (denial.status, denial.body.as_ref(), denial.www_authenticate),
        (401, "", None)
    );
}

#[test]
fn claim_values() {
    let payload: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "s": "x", "n": 7, "f": 1.5, "b": true, "list": ["a", 2, false], "nested": {"a": {"b": "deep"}},
        "https://example.com/role": "admin", "obj": {"k": "v"}, "bad": "a\nb", "null": null,
        "commas": ["a,b", "c"], "comma": "user,admin", "joined": ["user", "admin"],
        "control list": ["a", "b\u{0}"], "control comma": "a,\nb", "tab": "a\tb",
        "looks encoded": "WyJhZG1pbiJd", "list looks encoded": ["user", "WyJhZG1pbiJd"],
        "empty": "", "empty list": [], "list of empty": [""], "two empty": ["", ""],
    }))
    .unwrap();
    let value = |name: &str| {
        claim(&payload, name)
            .and_then(claim_header_value)
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(value("s").as_deref(), Some("x"));
    assert_eq!(value("n").as_deref(), Some("7"));
    assert_eq!(value("f").as_deref(), Some("1.5"));
    assert_eq!(value("b").as_deref(), Some("true"));
    assert_eq!(value("list").as_deref(), Some("a,2,false"));
    assert_eq!(value("nested.a.b").as_deref(), Some("deep"));
    assert_eq!(value("https://example.com/role").as_deref(), Some("admin"));
    assert_eq!(value("obj").as_deref(), Some("eyJrIjoidiJ9"));
    assert_eq!(value("commas").as_deref(), Some("WyJhLGIiLCJjIl0="));
    // A string with a comma never passes for a list: it is one base64 element, `"user,admin"`.
    assert_eq!(value("comma").as_deref(), Some("InVzZXIsYWRtaW4i"));
    assert_eq!(value("joined").as_deref(), Some("user,admin"));
    assert_eq!(value("control list"), None);
    assert_eq!(value("control comma"), None);
    assert_eq!(value("tab").as_deref(), Some("a\tb"));
    assert_eq!(value("bad"), None);
    assert_eq!(value("null"), None);
    assert_eq!(value("absent"), None);
    // A string that is itself base64 of JSON is encoded too, so that it cannot pass for the
    // value it decodes to: `WyJhZG1pbiJd` is `["admin"]`.
    assert_eq!(
        value("looks encoded").as_deref(),
        Some("Ild5SmhaRzFwYmlKZCI=")
    );
    assert_eq!(
        value("list looks encoded").as_deref(),
        Some("WyJ1c2VyIiwiV3lKaFpHMXBiaUpkIl0=")
    );
    // No value, no header (jwt_authn adds none for an empty string either).
    assert_eq!(value("empty"), None);
    assert_eq!(value("empty list"), None);
    assert_eq!(value("list of empty"), None);
    assert_eq!(value("two empty").as_deref(), Some(","));
}

/// A claim header as docs/configuration.md tells a backend to read it: a value that decodes
/// (standard base64, padding optional) to JSON text is that JSON; any other value, split at
/// commas, is a list of strings (one string for a string claim).
fn read_claim_header(header: &[u8]) -> Value {
    let decoded = LENIENT_STANDARD
        .decode(header)
        .ok()
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok());
    decoded.unwrap_or_else(|| {
        let text = std::str::from_utf8(header).unwrap();
        Value::Array(text.split(',').map(|part| json!(part)).collect())
    })
}

/// A string claim's one element, or a list claim's elements.
fn claim_elements(value: &Value) -> Value {
    match value {
        Value::Array(_) => value.clone(),
        other => json!([other]),
    }
}

#[test]
fn claim_headers_read_back_as_the_claims_values() {
    // Every string of up to 3 characters from an alphabet with a comma, a quote, a space and
    // `=`; strings that are (or start like) base64 of JSON; and lists of them. Read back as the
    // docs say, each header gives exactly the claim's elements, so no two claims with different
    // elements give one header (a string and the list of just that string have the same).
    let alphabet = ["a", ",", "\"", " ", "="];
    let mut strings = vec![String::new()];
    for _ in 0..3 {
        let longer: Vec<String> = strings
            .iter()
            .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
            .collect();
        strings.extend(longer);
    }
    let encoded_looking = [
        "InVzZXIsYWRtaW4i", // "user,admin"
        "WyJhZG1pbiJd",     // ["admin"]
        "WyJhZG1pbiJdCg",   // `["admin"]` and a newline, unpadded
        "W10=",             // []
        "W10",              // [] unpadded
        "IiI=",             // ""
        "e30=",             // {}
        "MTIz",             // 123
        "dHJ1ZQ==",         // true
        "bnVsbA",           // null
        "ICJh",             // ` "a`: a JSON string's start after a space
        "W1s=",             // `[[`: a list that no parser finishes
        "TmFO",             // NaN (Python's json reads it)
        "MWU0MDA=",         // 1e400: JSON, though out of f64's range
        "IDEyIA",           // ` 12 `
        "IGFi",             // ` ab`: not JSON, stays plain
        "MDE=",             // `01`: not JSON, stays plain
        "Mike",             // `2)` and a control byte: not JSON, stays plain
        "YWRtaW4=",         // `admin`: not JSON, stays plain
        "user",             // valid base64 of bytes that are not JSON
    ];
    strings.extend(encoded_looking.iter().map(|s| s.to_string()));
    strings.sort();
    strings.dedup();
    let few: Vec<&String> = strings
        .iter()
        .take(40)
        .chain(
            strings
                .iter()
                .filter(|s| encoded_looking.contains(&s.as_str())),
        )
        .collect();
    let mut values: Vec<Value> = strings.iter().map(|s| json!(s)).collect();
    values.extend([
        json!([]),
        json!(7),
        json!(-1.5),
        json!(true),
        json!({"a": ","}),
    ]);
    for a in &few {
        values.push(json!([a]));
        for b in &few {
            values.push(json!([a, b]));
            values.push(json!([a, b, 1]));
        }
    }
    let mut seen: std::collections::HashMap<Vec<u8>, Value> = Default::default();
    for value in &values {
        let Some(header) = claim_header_value(value) else {
            // No value, no header: only "", [] and [""].
            assert!(
                [json!(""), json!([]), json!([""])].contains(value),
                "{value} gave no header"
            );
            continue;
        };
        let read = read_claim_header(&header);
        let text = String::from_utf8_lossy(&header);
        let elements = |value: &Value| match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Value::String(_) => item.clone(),
                        other => json!(other.to_string()),
                    })
                    .collect(),
            ),
            Value::String(_) => json!([value]),
            other => json!([other.to_string()]),
        };
        assert!(
            read == *value || read == elements(value),
            "{value} -> {text} -> {read}"
        );
        if let Some(other) = seen.insert(header.clone(), value.clone()) {
            assert_eq!(
                claim_elements(&other),
                claim_elements(value),
                "{other} and {value} -> {text}"
            );
        }
    }
    // Plain where nothing could be misread, as documented.
    for (value, header) in [
        (json!("user"), "user"),
        (json!("YWRtaW4="), "YWRtaW4="),
        (json!(["user", "admin"]), "user,admin"),
        (json!(7), "7"),
        (json!(true), "true"),
    ] {
        assert_eq!(
            claim_header_value(&value).unwrap(),
            header.as_bytes(),
            "{value}"
        );
    }
}

#[test]
fn what_decodes_to_json() {
    let encoded = |text: &str| STANDARD.encode(text);
    for json in [
        "\"a",
        "[",
        "{\"x",
        " [1] ",
        "\t\"\"\r\n",
        "true",
        "false",
        "null",
        "NaN",
        "Infinity",
        "-Infinity",
        "0",
        "-0",
        "12",
        "1.5",
        "-1.5e-7",
        "1E+9",
        "1e400",
        " 7 ",
    ] {
        assert!(decodes_to_json(encoded(json).as_bytes()), "{json:?}");
        let unpadded = encoded(json).trim_end_matches('=').to_owned();
        assert!(decodes_to_json(unpadded.as_bytes()), "{json:?} unpadded");
    }
    for text in [
        "01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "tru", "nul", "nan", "12a", "a", "", "  ",
    ] {
        assert!(!decodes_to_json(encoded(text).as_bytes()), "{text:?}");
    }
    for plain in [
        "user",
        "alice",
        "bob1",
        "Mike",
        "admin",
        "Dave",
        "a,b",
        "not base64!",
    ] {
        assert!(!decodes_to_json(plain.as_bytes()), "{plain}");
    }
}

#[test]
fn a_number_or_boolean_never_reads_as_base64_of_json() {
    // The claim above relies on it: a number's text decodes (if at all) to a first byte over
    // 0x7f, which no JSON text starts with; `true`'s and `false`'s likewise or not at all.
    let mut texts: Vec<String> = ["true", "false", "0", "-0", "1e300", "-1.5e-7"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    texts.extend((0..20_000).map(|n| n.to_string()));
    texts.extend((0..2_000).map(|n| format!("{}", f64::from(n) * 0.37)));
    for text in texts {
        assert!(!decodes_to_json(text.as_bytes()), "{text}");
    }
}

#[test]
fn underscore_spellings_of_owned_headers_are_removed_on_every_request() {
    let mut provider = fixtures()["provider"].clone();
    provider["forward_payload_header"] = json!("x-jwt-payload");
    provider["claim_to_headers"] = json!([{"header_name": "x-user", "claim_name": "sub"}]);
    let rules = json!([
        {"match": {"prefix": "/delete", "headers": [{"name": ":method", "string_match": {"exact": "DELETE"}}]},
         "requires": {"provider_name": "p"}},
        {"match": {"prefix": "/public"}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
    ]);
    let config = json!({"providers": {"p": provider}, "rules": rules,
        "x_forwarded_authorization": true, "http_method_override": true});
    let config = Config::from_json(config.to_string().as_bytes()).unwrap();
    let smuggled = [
        ("X_Jwt_Payload", "e30"),
        ("x-jwt_payload", "e30"),
        ("X_User", "admin"),
        ("X_Forwarded_Authorization", "Bearer forged"),
        ("X_HTTP_Method_Override", "DELETE"),
        ("x_user", "root"),
        ("x_custom", "kept"),
        ("x-users", "kept"),
    ];
    let removed: Vec<HeaderOp> = [
        "x_jwt_payload",
        "x-jwt_payload",
        "x_user",
        "x_forwarded_authorization",
        "x_http_method_override",
    ]
    .map(|name| HeaderOp::Remove(name.into()))
    .to_vec();
    let auth = bearer("RS256 valid");
    let request = |path: &'static str, with_token: bool| {
        let mut headers = vec![(":path", path), (":method", "POST")];
        headers.extend(smuggled);
        headers.extend(with_token.then_some(("authorization", auth.as_str())));
        headers
    };
    // No check, not matched as DELETE: the underscore override is not obeyed, only removed.
    let outcome = run(&config, &request("/public/x", false));
    assert_eq!(allowed(&outcome).0, removed);
    let outcome = run(&config, &request("/delete/x", false));
    assert_eq!(denied(&outcome).body, "Jwt is missing");
    // Verified: removals first, then the genuine outputs.
    let outcome = run(&config, &request("/x", true));
    let ops = allowed(&outcome).0;
    assert_eq!(ops[..removed.len()], removed[..]);
    assert!(ops.contains(&HeaderOp::Add("x-user".into(), b"alice".to_vec())));
    // The dash spelling is obeyed (and removed), as before.
    let mut with_override = request("/delete/x", false);
    with_override.push(("x-http-method-override", "delete"));
    assert_eq!(denied(&run(&config, &with_override)).body, "Jwt is missing");
}

#[test]
fn twins_of_token_headers_are_removed_on_every_request() {
    // Provider p reads `x-token`, the OpenAPI form's default `x-goog-iap-jwt-assertion`, and
    // `x_under` (a location spelled with `_`); q reads `x-other`. (Two locations that are each
    // other's twins are refused at load: `two_token_headers_a_backend_reads_as_one_are_refused`.)
    let build = |forward: bool| {
        let mut provider = fixtures()["provider"].clone();
        provider["from_headers"] = json!([
            {"name": "x-token"}, {"name": "x-goog-iap-jwt-assertion"}, {"name": "x_under"},
        ]);
        provider["forward"] = json!(forward);
        let mut other = fixtures()["provider"].clone();
        other["issuer"] = json!("https://other.test");
        other["from_headers"] = json!([{"name": "x-other"}]);
        let rules = json!([
            {"match": {"prefix": "/open"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ]);
        let config = json!({"providers": {"p": provider, "q": other}, "rules": rules});
        Config::from_json(config.to_string().as_bytes()).unwrap()
    };
    let token = token("RS256 valid");
    let twins = [
        ("X_Token", "forged"),
        ("x_token", "forged"),
        ("x_goog_iap_jwt_assertion", "forged"),
        ("X-Goog_Iap-Jwt_Assertion", "forged"),
        ("x-under", "forged"),
    ];
    let kept = [
        ("x-tokens", "1"),
        ("x_custom", "1"),
        ("x-twin", "1"),
        ("x_twin", "1"),
    ];
    let removed_twins: Vec<HeaderOp> = [
        "x_token",
        "x_goog_iap_jwt_assertion",
        "x-goog_iap-jwt_assertion",
        "x-under",
    ]
    .map(|name| HeaderOp::Remove(name.into()))
    .to_vec();
    let request = |path: &'static str, location: Option<&'static str>| {
        let mut headers = vec![(":path", path)];
        headers.extend(twins);
        headers.extend(kept);
        headers.extend(location.map(|name| (name, token.as_str())));
        headers
    };
    let removed = build(false);
    // Unchecked: the twins go, the locations' own headers stay (nothing verified them).
    let outcome = run(&removed, &request("/open", Some("x-token")));
    assert_eq!(allowed(&outcome).0, removed_twins);
    // Verified at each location: the twins go, then the location's own header.
    for location in ["x-token", "x-goog-iap-jwt-assertion", "x_under"] {
        let outcome = run(&removed, &request("/api", Some(location)));
        let mut expected = removed_twins.clone();
        expected.push(HeaderOp::Remove(location.into()));
        assert_eq!(allowed(&outcome).0, expected, "{location}");
    }
    // Denied requests are answered, not forwarded.
    let outcome = run(&removed, &request("/api", None));
    assert_eq!(denied(&outcome).body, "Jwt is missing");
    // `forward: true` keeps the verified token's header; its twins go all the same.
    let outcome = run(&build(true), &request("/api", Some("x-token")));
    assert_eq!(allowed(&outcome).0, removed_twins);
}

#[test]
fn a_token_location_may_not_be_an_output_under_another_spelling() {
    let mut provider = fixtures()["provider"].clone();
    provider["from_headers"] = json!([{"name": "x_token"}]);
    provider["claim_to_headers"] = json!([{"header_name": "X-Token", "claim_name": "sub"}]);
    let config = json!({"providers": {"p": provider}});
    let error = Config::from_json(config.to_string().as_bytes()).unwrap_err();
    assert!(
        error.to_string().starts_with(
            "providers: header \"x_token\" is both a token location and an output (\"x-token\""
        ),
        "{error}"
    );
    let mut provider = fixtures()["provider"].clone();
    provider["from_headers"] = json!([{"name": "x-http-method-override"}]);
    let config = json!({"providers": {"p": provider}, "http_method_override": true});
    assert!(Config::from_json(config.to_string().as_bytes()).is_err());
}

#[test]
fn subjects_restrict_sub_on_misses_and_cache_hits() {
    let rules = require_p();
    let counting = Counting::default();
    let decide = |config: &Config, cache: &mut TokenCache, token: &str| {
        let headers = [
            (b":path".to_vec(), b"/".to_vec()),
            (b"authorization".to_vec(), bearer(token).into_bytes()),
        ];
        authenticate(
            config,
            Request {
                headers: &crate::request::borrow_headers(&headers),
            },
            now(),
            &NoRemoteKeys,
            &counting,
            cache,
        )
        .decision
    };
    let status = |decision: Decision| match decision {
        Decision::Allow { .. } => 200,
        Decision::Deny(denial) => {
            assert_eq!(
                (denial.body.as_ref(), denial.error.reason()),
                ("Jwt verification fails", "jwt_subject_not_allowed")
            );
            denial.status
        }
        Decision::Wait(_) => 0,
    };
    for (subjects, expected) in [
        (json!({"exact": "alice"}), 200),
        (json!({"exact": "ALICE"}), 401),
        (json!({"exact": "ALICE", "ignore_case": true}), 200),
        (json!({"prefix": "ali"}), 200),
        (json!({"suffix": "ice"}), 200),
        (json!({"contains": "lic"}), 200),
        (json!({"safe_regex": {"regex": "a.*e"}}), 200),
        (json!({"safe_regex": {"regex": "lic"}}), 401),
        (json!({"prefix": "spiffe://example.org/"}), 401),
    ] {
        let config = config(json!({ "subjects": subjects }), rules.clone());
        let mut cache = TokenCache::new(10, 8192, [7; 16]);
        let first = status(decide(&config, &mut cache, "RS256 valid"));
        let second = status(decide(&config, &mut cache, "RS256 valid"));
        assert_eq!((first, second), (expected, expected), "{subjects}");
    }
    // A mismatch is found before the signature is checked, as in jwt_authn.
    let calls = counting.0.get();
    let bob = config(json!({"subjects": {"exact": "bob"}}), rules.clone());
    let mut cache = TokenCache::new(10, 8192, [7; 16]);
    assert_eq!(status(decide(&bob, &mut cache, "RS256 bad signature")), 401);
    assert_eq!(counting.0.get(), calls);
    // A cache hit is checked against `subjects` again. The entry is planted for a token whose
    // signature is bad, so that only a hit can let it through.
    let verified = Arc::new(Verified {
        claims: Jwt::parse(&token("RS256 valid"), &bob.limits)
            .unwrap()
            .claims,
        claim_headers: Vec::new(),
        scopes: Vec::new(),
        payload_header: None,
        confirmation: Default::default(),
        payload: None,
    });
    cache.insert(&token("RS256 bad signature"), 0, 0, now(), verified);
    let alice = config(json!({"subjects": {"exact": "alice"}}), rules.clone());
    assert_eq!(
        status(decide(&alice, &mut cache, "RS256 bad signature")),
        200
    );
    assert_eq!(status(decide(&bob, &mut cache, "RS256 bad signature")), 401);
    assert_eq!(counting.0.get(), calls, "hits, no signature check");
    // No `sub` is matched as the empty string (jwt_authn's `jwt_->sub_`).
    let mut claims = Jwt::parse(&token("RS256 valid"), &bob.limits)
        .unwrap()
        .claims;
    claims.sub = None;
    let empty = config(json!({"subjects": {"exact": ""}}), rules.clone());
    let provider = &empty.providers[0];
    assert_eq!(provider.claims.check(&claims, now(), None), Ok(()));
    let prefixed = config(json!({"subjects": {"prefix": "a"}}), rules);
    assert_eq!(
        prefixed.providers[0].claims.check(&claims, now(), None),
        Err(crate::policy::claims::ClaimsError::SubjectNotAllowed)
    );
}

/// A remote provider "r" whose keys are the fixture keys, in whatever state the test says.
struct FakeRemote {
    keys: Option<KeySet>,
    pending: bool,
    kid_refetch_allowed: bool,
}

impl RemoteKeys for FakeRemote {
    fn key_set(&self, _provider: usize) -> KeyAccess<'_> {
        match (&self.keys, self.pending) {
            (Some(keys), _) => KeyAccess::Ready {
                keys,
                version: 1,
                kid_refetch_allowed: self.kid_refetch_allowed,
            },
            (None, true) => KeyAccess::Pending,
            (None, false) => KeyAccess::Failed,
        }
    }
}

fn remote_config() -> Config {
    let config = json!({
        "providers": {"r": {"issuer": "https://issuer.test", "audiences": ["api.test"],
            "remote_jwks": {"http_uri": {"uri": "https://issuer.test/jwks", "cluster": "idp"}}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "r"}}],
    });
    Config::from_json(config.to_string().as_bytes()).unwrap()
}

fn fixture_keys() -> KeySet {
    let inline = fixtures()["provider"]["local_jwks"]["inline_string"]
        .as_str()
        .unwrap()
        .to_owned();
    KeySet::parse(inline.as_bytes(), &crate::limits::Limits::DEFAULT).unwrap()
}

fn run_remote(remote: &FakeRemote, token_name: &str) -> Decision {
    let bearer = format!("Bearer {}", token(token_name));
    let headers = [
        (b":path".to_vec(), b"/".to_vec()),
        (b"authorization".to_vec(), bearer.into_bytes()),
    ];
    authenticate(
        &remote_config(),
        Request {
            headers: &crate::request::borrow_headers(&headers),
        },
        now(),
        remote,
        &RingVerifier,
        &mut TokenCache::new(0, 0, [7; 16]),
    )
    .decision
}

#[test]
fn remote_keys_wait_verify_or_fail() {
    let ready = FakeRemote {
        keys: Some(fixture_keys()),
        pending: false,
        kid_refetch_allowed: true,
    };
    assert!(matches!(
        run_remote(&ready, "ES256 valid"),
        Decision::Allow { .. }
    ));
    let pending = FakeRemote {
        keys: None,
        pending: true,
        kid_refetch_allowed: false,
    };
    assert_eq!(
        run_remote(&pending, "ES256 valid"),
        Decision::Wait(Wait::Keys(0))
    );
    let failed = FakeRemote {
        keys: None,
        pending: false,
        kid_refetch_allowed: false,
    };
    match run_remote(&failed, "ES256 valid") {
        Decision::Deny(denial) => assert_eq!(
            (denial.status, denial.body.as_ref()),
            (401, "Jwks remote fetch is failed")
        ),
        other => panic!("{other:?}"),
    }
    // Claims are checked before keys are needed: an expired token never waits.
    assert!(matches!(
        run_remote(&pending, "expired beyond skew"),
        Decision::Deny(_)
    ));
}

#[test]
fn unknown_kid_waits_for_one_refetch_only_when_allowed() {
    let allowed = FakeRemote {
        keys: Some(fixture_keys()),
        pending: false,
        kid_refetch_allowed: true,
    };
    assert_eq!(
        run_remote(&allowed, "unknown kid"),
        Decision::Wait(Wait::KidRefetch(0))
    );
    let limited = FakeRemote {
        kid_refetch_allowed: false,
        ..allowed
    };
    match run_remote(&limited, "unknown kid") {
        Decision::Deny(denial) => assert_eq!(
            denial.body,
            "Jwks doesn't have key to match kid or alg from Jwt"
        ),
        other => panic!("{other:?}"),
    }
    // A bad signature under a known kid is not a reason to refetch.
    let allowed = FakeRemote {
        kid_refetch_allowed: true,
        ..limited
    };
    assert!(matches!(
        run_remote(&allowed, "RS256 bad signature"),
        Decision::Deny(_)
    ));
}

/// Counts signature checks, and answers with ring.
#[derive(Default)]
struct Counting(std::cell::Cell<usize>);

impl SignatureVerifier for Counting {
    fn verify(
        &self,
        alg: crate::token::algorithm::Algorithm,
        key: &crate::keys::PublicKey,
        message: &[u8],
        sig: &[u8],
    ) -> bool {
        self.0.set(self.0.get() + 1);
        RingVerifier.verify(alg, key, message, sig)
    }
}

#[test]
fn cached_tokens_skip_the_signature_but_not_the_claims() {
    let config = config(
        json!({"claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}]}),
        json!([
            {"match": {"prefix": "/aud"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["other"]}}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ]),
    );
    let bearer = format!("Bearer {}", token("RS256 valid"));
    let headers = vec![(b"authorization".to_vec(), bearer.into_bytes())];
    let with_path = |path: &str| {
        let mut all = headers.clone();
        all.push((b":path".to_vec(), path.as_bytes().to_vec()));
        all
    };
    let counting = Counting::default();
    let mut cache = TokenCache::new(10, 8192, [7; 16]);
    let mut decide = |path: &str, at: Time| {
        let request = with_path(path);
        authenticate(
            &config,
            Request {
                headers: &crate::request::borrow_headers(&request),
            },
            at,
            &NoRemoteKeys,
            &counting,
            &mut cache,
        )
        .decision
    };
    let first = decide("/", now());
    let second = decide("/", now());
    assert_eq!(first, second, "a hit gives the same outputs");
    assert!(
        matches!(&first, Decision::Allow { header_ops, .. } if header_ops.contains(&HeaderOp::Add("x-sub".into(), b"alice".to_vec())))
    );
    assert_eq!(counting.0.get(), 1, "one signature check for two requests");
    // The audience and the time are checked again on every hit.
    assert!(matches!(decide("/aud", now()), Decision::Deny(denial) if denial.status == 403));
    let later = Time::from_seconds(now().seconds() + 3600 + 61);
    assert!(
        matches!(decide("/", later), Decision::Deny(denial) if denial.body == "Jwt is expired")
    );
    assert_eq!(counting.0.get(), 1);
}

#[test]
fn a_key_rotation_makes_cached_tokens_misses() {
    let counting = Counting::default();
    let mut cache = TokenCache::new(10, 8192, [7; 16]);
    let bearer = format!("Bearer {}", token("ES256 valid"));
    let headers = [
        (b":path".to_vec(), b"/".to_vec()),
        (b"authorization".to_vec(), bearer.into_bytes()),
    ];
    let keys = fixture_keys();
    struct Versioned<'k>(&'k KeySet, u64);
    impl RemoteKeys for Versioned<'_> {
        fn key_set(&self, _provider: usize) -> KeyAccess<'_> {
            KeyAccess::Ready {
                keys: self.0,
                version: self.1,
                kid_refetch_allowed: false,
            }
        }
    }
    let config = remote_config();
    for version in [1, 1, 2] {
        let outcome = authenticate(
            &config,
            Request {
                headers: &crate::request::borrow_headers(&headers),
            },
            now(),
            &Versioned(&keys, version),
            &counting,
            &mut cache,
        );
        assert!(matches!(outcome.decision, Decision::Allow { .. }));
    }
    assert_eq!(
        counting.0.get(),
        2,
        "version 1 checked once, version 2 again"
    );
}

fn bearer(name: &str) -> String {
    format!("Bearer {}", token(name))
}

const RICH: &str = "rich claims (scope, tenant, roles, namespaced claim)";

#[test]
fn verify_claims_need_the_listed_values() {
    let check = |checks: Value, name: &str| {
        let config = config(json!({"verify_claims": checks}), require_p());
        let auth = bearer(name);
        match run(&config, &[(":path", "/"), ("authorization", &auth)]).decision {
            Decision::Allow { .. } => "ok".to_owned(),
            Decision::Deny(denial) => format!("{} {}", denial.status, denial.body),
            Decision::Wait(wait) => format!("{wait:?}"),
        }
    };
    let ok = |checks: Value| assert_eq!(check(checks.clone(), RICH), "ok", "{checks}");
    ok(json!([{"key": "tenant", "values": ["globex", "acme"]}]));
    ok(json!([{"key": "roles", "values": ["dev"]}]));
    ok(json!([{"key": "level", "values": ["3"]}]));
    ok(json!([{"key": "https://example.com/roles", "values": ["editor"]}]));
    ok(json!([{"key": "realm.team", "values": ["blue"]}]));
    ok(json!([{"key": "email", "is_required": true}]));
    ok(json!([{"key": "department", "values": ["x"], "is_required": false}]));
    ok(json!([{"key": "tenant", "values": ["acme"]}, {"key": "roles", "values": ["admin"]}]));
    assert_eq!(
        check(json!([{"key": "tenant", "values": ["globex"]}]), RICH),
        "403 Claim tenant in Jwt is not allowed"
    );
    assert_eq!(
        check(json!([{"key": "department", "values": ["x"]}]), RICH),
        "403 Claim department is missing in Jwt"
    );
    assert_eq!(
        check(json!([{"key": "roles", "values": ["root"]}]), RICH),
        "403 Claim roles in Jwt is not allowed"
    );
    // A forged token learns nothing about the claim checks.
    assert_eq!(
        check(
            json!([{"key": "tenant", "values": ["globex"]}]),
            "RS256 bad signature"
        ),
        "401 Jwt verification fails"
    );
}

#[test]
fn verify_claims_in_the_configuration_are_checked() {
    let bad = |checks: Value| {
        let mut provider = fixtures()["provider"].clone();
        provider["verify_claims"] = checks;
        let config = json!({"providers": {"p": provider}});
        Config::from_json(config.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(json!([{"values": ["a"]}])),
        "providers.p.verify_claims[0]: key (the claim name) is required"
    );
    assert_eq!(
        bad(json!([{"key": "a", "is_required": false}])),
        "providers.p.verify_claims[0]: checks nothing: give values, or is_required: true"
    );
    // OCI's own spelling is accepted as is.
    let mut provider = fixtures()["provider"].clone();
    provider["verifyClaims"] = json!([{"key": "tenant", "values": ["acme"], "isRequired": true}]);
    let config = json!({"providers": {"p": provider}});
    assert!(Config::from_json(config.to_string().as_bytes()).is_ok());
}

#[test]
fn allowed_scopes_need_one_granted_scope() {
    let rules = |scopes: Value| json!([{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}, "allowed_scopes": scopes}]);
    let verdict = |scopes: Value, name: &str| {
        let config = config(json!({}), rules(scopes));
        let auth = bearer(name);
        match run(&config, &[(":path", "/"), ("authorization", &auth)]).decision {
            Decision::Allow { .. } => "ok".to_owned(),
            Decision::Deny(denial) => format!(
                "{} {} | {}",
                denial.status,
                denial.body,
                denial.www_authenticate.unwrap_or_default()
            ),
            Decision::Wait(wait) => format!("{wait:?}"),
        }
    };
    assert_eq!(verdict(json!(["admin", "write:books"]), RICH), "ok");
    assert_eq!(verdict(json!(["read:books"]), "scp list (Okta)"), "ok");
    assert_eq!(
        verdict(json!(["delete:books"]), RICH),
        "403 Scopes in Jwt are not allowed | Bearer realm=\"http:///\", error=\"insufficient_scope\""
    );
    assert_eq!(
        verdict(json!(["read:books"]), "RS256 valid"),
        "403 Scopes in Jwt are not allowed | Bearer realm=\"http:///\", error=\"insufficient_scope\""
    );
    // A requirement that lets a missing token through still has no scopes to offer.
    let config = config(
        json!({}),
        json!([{"match": {"prefix": "/"}, "requires": {"allow_missing": {}}, "allowed_scopes": ["x"]}]),
    );
    assert_eq!(
        denied(&run(&config, &[(":path", "/")])).body,
        "Jwt is missing"
    );
    // Scopes without a requirement are a configuration error.
    let mut provider = fixtures()["provider"].clone();
    provider["issuer"] = json!("https://issuer.test");
    let bad = json!({"providers": {"p": provider}, "rules": [{"match": {"prefix": "/"}, "allowed_scopes": ["x"]}]});
    assert_eq!(
        Config::from_json(bad.to_string().as_bytes())
            .unwrap_err()
            .to_string(),
        "rules[0]: allowed_scopes needs a requirement (requires or requirement_name) to check tokens"
    );
}

#[test]
fn json_failures_and_clock_skew() {
    let mut config = config(json!({"clock_skew": "0s"}), require_p());
    config.failure_response_format = crate::config::FailureFormat::Json;
    let denial = denied(&run(&config, &[(":path", "/")])).clone();
    assert_eq!(denial.body, r#"{"code":401,"message":"Jwt is missing"}"#);
    assert_eq!(denial.content_type, "application/json");
    // "expired within skew" is 59 s past exp: with a zero skew it is expired.
    let auth = bearer("expired within skew");
    let denial = denied(&run(&config, &[(":path", "/"), ("authorization", &auth)])).clone();
    assert_eq!(denial.body, r#"{"code":401,"message":"Jwt is expired"}"#);
}

#[test]
fn esp_v1_user_info_wraps_the_claims() {
    use base64::engine::general_purpose::URL_SAFE;
    let config = config(
        json!({"forward_payload_header": "x-endpoint-api-userinfo", "forward_payload_header_format": "esp_v1"}),
        require_p(),
    );
    let auth = bearer(RICH);
    let outcome = run(&config, &[(":path", "/"), ("authorization", &auth)]);
    let (ops, _) = allowed(&outcome);
    let value = ops
        .iter()
        .find_map(|op| match op {
            HeaderOp::Add(name, value) if &**name == "x-endpoint-api-userinfo" => {
                Some(value.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(value.len() % 4, 0, "padded");
    let info: Value = serde_json::from_slice(&URL_SAFE.decode(&value).unwrap()).unwrap();
    let text = String::from_utf8(URL_SAFE.decode(&value).unwrap()).unwrap();
    assert!(
        text.starts_with("{\"claims\":\"{") && text.contains("\"issuer\":"),
        "{text}"
    );
    assert_eq!(info["issuer"], "https://issuer.test");
    assert_eq!(info["id"], "alice");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["audiences"], json!(["api.test", "other"]));
    let claims: Value = serde_json::from_str(info["claims"].as_str().unwrap()).unwrap();
    assert_eq!(claims["tenant"], "acme");
}

#[test]
fn x_forwarded_authorization_carries_the_callers_credential() {
    let mut config = config(json!({"forward": false}), require_p());
    config.x_forwarded_authorization = true;
    config
        .output_headers
        .push(X_FORWARDED_AUTHORIZATION.to_owned());
    let auth = bearer("RS256 valid");
    let outcome = run(
        &config,
        &[
            (":path", "/"),
            ("authorization", &auth),
            ("x-forwarded-authorization", "Bearer spoofed"),
        ],
    );
    let (ops, _) = allowed(&outcome);
    assert!(ops.contains(&HeaderOp::Remove("x-forwarded-authorization".into())));
    assert!(ops.contains(&HeaderOp::Remove("authorization".into())));
    assert!(ops.contains(&HeaderOp::Add(
        "x-forwarded-authorization".into(),
        auth.clone().into_bytes()
    )));
    // Without Authorization, a client's copy is removed and nothing is added.
    let rules = json!([{"match": {"prefix": "/public"}}, {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]);
    let mut config = super::tests::config(json!({}), rules);
    config.x_forwarded_authorization = true;
    config
        .output_headers
        .push(X_FORWARDED_AUTHORIZATION.to_owned());
    let outcome = run(
        &config,
        &[
            (":path", "/public"),
            ("x-forwarded-authorization", "Bearer spoofed"),
        ],
    );
    let (ops, _) = allowed(&outcome);
    assert_eq!(ops, [HeaderOp::Remove("x-forwarded-authorization".into())]);
}

#[test]
fn too_many_tokens_pass_only_where_the_verdict_cannot_matter() {
    let rules = json!([
        {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
    ]);
    let mut config = config(json!({}), rules);
    config.limits.max_tokens_per_request = 1;
    let auth = bearer("RS256 valid");
    let query = format!("?access_token={}", token("RS256 valid"));
    let lenient = format!("/lenient{query}");
    let strict = format!("/strict{query}");
    let outcome = run(&config, &[(":path", &lenient), ("authorization", &auth)]);
    assert!(
        matches!(outcome.decision, Decision::Allow { .. }),
        "{outcome:?}"
    );
    let outcome = run(&config, &[(":path", &strict), ("authorization", &auth)]);
    assert_eq!(denied(&outcome).body, "Found multiple Jwt tokens");
}

/// A config from a whole JSON body (providers use the fixture keys).
fn config_with(mut body: Value) -> Config {
    if body.get("providers").is_some() {
        body["providers"] = json!({"p": fixtures()["provider"]});
    }
    Config::from_json(body.to_string().as_bytes()).unwrap()
}

/// `printf %s good-key | sha256sum`.
const GOOD_KEY_DIGEST: &str = "b8ce88d57f4916859bcecb01b98b041299a759313987af89f9fc6608d7440537";

#[test]
fn api_keys_get_espv2s_answers() {
    let config = config_with(json!({
        "providers": {},
        "api_keys": {"k": {"from_params": ["key"], "from_headers": [{"name": "X-Api-Key"}],
                           "sha256": [GOOD_KEY_DIGEST]}},
        "rules": [
            {"match": {"prefix": "/both"}, "requires": {"requires_all": {"requirements": [
                {"provider_name": "p"}, {"api_key_name": "k"}]}}},
            {"match": {"prefix": "/"}, "requires": {"api_key_name": "k"}},
        ],
        "failure_response_format": "json",
    }));
    assert!(matches!(
        run(&config, &[(":path", "/a?key=good-key")]).decision,
        Decision::Allow { .. }
    ));
    assert!(matches!(
        run(&config, &[(":path", "/a"), ("x-api-key", "good-key")]).decision,
        Decision::Allow { .. }
    ));
    let missing = run(&config, &[(":path", "/a"), (":authority", "api.test")]);
    let denial = denied(&missing);
    assert_eq!(denial.status, 401);
    assert_eq!(
        denial.body,
        "{\"code\":401,\"message\":\"UNAUTHENTICATED: Method doesn't allow unregistered callers \
         (callers without established identity). Please use API Key or other form of API \
         consumer identity to call this API.\"}"
    );
    assert_eq!(denial.www_authenticate, None);
    let wrong = run(&config, &[(":path", "/a?key=bad-key")]);
    let denial = denied(&wrong);
    assert_eq!(
        (denial.status, denial.body.as_ref()),
        (
            400,
            "{\"code\":400,\"message\":\"INVALID_ARGUMENT: API key not valid. Please pass a valid API key.\"}"
        )
    );
    assert_eq!(denial.error.reason(), "api_key_not_valid");
    // Both: the token first (ESPv2 runs jwt_authn before its key check), then the key.
    let bearer = format!("Bearer {}", token("RS256 valid"));
    let denial = run(&config, &[(":path", "/both?key=bad-key")]);
    assert_eq!(
        denied(&denial).body,
        "{\"code\":401,\"message\":\"Jwt is missing\"}"
    );
    let denial = run(
        &config,
        &[(":path", "/both?key=bad-key"), ("authorization", &bearer)],
    );
    assert_eq!(denied(&denial).status, 400);
    let passed = run(
        &config,
        &[(":path", "/both?key=good-key"), ("authorization", &bearer)],
    );
    assert!(matches!(passed.decision, Decision::Allow { .. }));
}

#[test]
fn an_unchecked_api_key_passes_and_is_a_warning() {
    let config = config_with(json!({
        "api_keys": {"k": "unchecked"},
        "rules": [{"match": {"prefix": "/"}, "requires": {"api_key_name": "k"}}],
    }));
    assert_eq!(config.warnings.len(), 1);
    assert_eq!(config.warnings[0].path, "api_keys.k");
    assert!(matches!(
        run(&config, &[(":path", "/a")]).decision,
        Decision::Allow { .. }
    ));
}

#[test]
fn deny_rules_answer_with_their_status() {
    let config = config_with(json!({
        "providers": {},
        "rules": [
            {"match": {"path_template": "/v1/things/{id}", "headers": [
                {"name": ":method", "string_match": {"exact": "GET"}}]}},
            {"match": {"path_template": "/v1/things/{id}"},
             "deny": {"status": 405, "message": "method not allowed"}},
            {"match": {"prefix": "/"},
             "deny": {"status": 404, "message": "The current request is not defined by this API."}},
        ],
        "failure_response_format": "json",
        "x_forwarded_authorization": true,
    }));
    assert!(matches!(
        run(&config, &[(":path", "/v1/things/1"), (":method", "GET")]).decision,
        Decision::Allow { .. }
    ));
    let head = run(&config, &[(":path", "/v1/things/1"), (":method", "HEAD")]);
    assert_eq!(
        (denied(&head).status, denied(&head).body.as_ref()),
        (405, "{\"code\":405,\"message\":\"method not allowed\"}")
    );
    let unknown = run(&config, &[(":path", "/v2"), (":method", "GET")]);
    let denial = denied(&unknown);
    assert_eq!(denial.status, 404);
    assert_eq!(denial.www_authenticate, None);
    assert_eq!(denial.error.reason(), "rule_denied");
}

#[test]
fn a_path_that_decodes_to_another_template_is_refused() {
    let rules = json!([
        {"match": {"path_template": "/v1/things/{id}:purge"}, "requires": {"provider_name": "p"}},
        {"match": {"path_template": "/v1/things/{id}"}},
        {"match": {"path_template": "/v1/files/{name=**}"}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
    ]);
    let config = config(json!({}), rules);
    for path in [
        "/v1/things/1%3Apurge",
        "/v1/things/1%3apurge?x=1",
        "/v1/things/1:%70urge",
        "/v1/things/a%2Fb",
        // Read by backends that ignore a trailing slash or drop `;` parameters as `:purge`.
        "/v1/things/1:purge/",
        "/v1/things/1:purge;x",
        "/v1/things/1:purge;x/",
        "/v1/things/1%3Apurge%3Bx",
        // An encoded slash in a path a template judges, whichever rule it reads as.
        "/v1/things/1:purge%2F",
        "/v1/files/a%2Fb",
        "/v1/files/a%2F..%2F..%2Fadmin",
    ] {
        let outcome = run(&config, &[(":path", path)]);
        let denial = denied(&outcome);
        assert_eq!(
            (denial.status, denial.body.as_ref()),
            (
                400,
                "The request path is ambiguous: a backend may read it as another path"
            ),
            "{path}"
        );
        assert_eq!(denial.error.reason(), "path_ambiguous");
    }
    // The same rule either way: no ambiguity.
    for path in [
        "/v1/things/a%20b",
        "/v1/things/1%3Aother",
        "/v1/things/1?next=%3Apurge",
        "/v1/things/1/",
        "/v1/things/1;v=2",
        "/v1/things/1?x=:purge;/",
        "/v1/files/a;b/",
    ] {
        assert!(
            matches!(
                run(&config, &[(":path", path)]).decision,
                Decision::Allow { .. }
            ),
            "{path}"
        );
    }
    // Rules without templates match as jwt_authn does, on the path as sent.
    let plain = config_with(json!({
        "providers": {},
        "rules": [{"match": {"path": "/a/b"}, "requires": {"provider_name": "p"}}],
    }));
    assert!(matches!(
        run(&plain, &[(":path", "/a%2Fb")]).decision,
        Decision::Allow { .. }
    ));
}

#[test]
fn the_decoded_path_replaces_path_for_every_matcher_that_reads_it() {
    // A header matcher on `:path` sees the decoded path too, as if the request had been sent
    // decoded: `/v1/things/a%20b` chooses rule 0 as sent (it contains `%`) and rule 1 decoded.
    let rules = json!([
        {"match": {"path_template": "/v1/things/{id}",
                   "headers": [{"name": ":path", "string_match": {"contains": "%"}}]},
         "requires": {"provider_name": "p"}},
        {"match": {"path_template": "/v1/things/{id}"}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
    ]);
    let config = config(json!({}), rules);
    let headers = [(":path", "/v1/things/a%20b"), ("x-other", "1")];
    let denial = denied(&run(&config, &headers)).clone();
    assert_eq!(denial.error, AuthError::AmbiguousPath);
    // Other headers are read as sent, and the path as sent decides the rule.
    assert!(matches!(
        run(&config, &[(":path", "/v1/things/ab")]).decision,
        Decision::Allow { .. }
    ));
    assert_eq!(
        denied(&run(&config, &[(":path", "/v2/x%20y")])).body,
        "Jwt is missing"
    );
}

#[test]
fn two_token_headers_a_backend_reads_as_one_are_refused() {
    let mut first = fixtures()["provider"].clone();
    first["from_headers"] = json!([{"name": "x-token"}]);
    let mut second = fixtures()["provider"].clone();
    second["from_headers"] = json!([{"name": "X_Token"}]);
    let config = json!({"providers": {"a": first, "b": second}});
    let error = Config::from_json(config.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "providers: token headers \"x-token\" and \"x_token\" are one header to a backend that reads '_' as '-': use one spelling"
    );
    let mut same = fixtures()["provider"].clone();
    same["from_headers"] = json!([{"name": "X-Token"}]);
    let mut first = fixtures()["provider"].clone();
    first["from_headers"] = json!([{"name": "x-token"}]);
    let config = json!({"providers": {"a": first, "b": same}});
    assert!(Config::from_json(config.to_string().as_bytes()).is_ok());
}
