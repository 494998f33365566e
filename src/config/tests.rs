use serde_json::{json, Value};

use std::time::Duration;

use super::*;
use crate::keys::KeySetFormat;

/// A small valid JWKS (an Ed25519 key from RFC 8037 §A.2).
fn jwks() -> String {
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})
    .to_string()
}

fn provider() -> Value {
    json!({"issuer": "https://issuer.test", "local_jwks": {"inline_string": jwks()}})
}

fn parse(config: Value) -> Result<Config, ConfigError> {
    Config::from_json(config.to_string().as_bytes())
}

fn error(config: Value) -> String {
    parse(config).unwrap_err().to_string()
}

#[test]
fn a_jwt_authn_config_compiles() {
    let config = parse(json!({
        "providers": {"p": {
            "issuer": "https://issuer.test",
            "audiences": ["https://api.test/"],
            "local_jwks": {"inline_string": jwks()},
            "from_headers": [{"name": "X-Token", "value_prefix": "Token "}],
            "from_params": ["jwt"],
            "from_cookies": ["session"],
            "forward": true,
            "forward_payload_header": "X-Payload",
            "claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}],
            "clock_skew_seconds": 0,
            "pad_forward_payload_header": false,
            "max_lifetime": "3600s",
            "jwt_cache_config": {"jwt_cache_size": 100},
        }},
        "rules": [
            {"match": {"prefix": "/health"}},
            {"match": {"path": "/a", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]},
             "requires": {"provider_name": "p"}},
            {"match": {"safe_regex": {"google_re2": {}, "regex": "/v[0-9]+/.*"}}, "requirement_name": "r"},
        ],
        "requirement_map": {"r": {"requires_any": {"requirements": [
            {"provider_and_audiences": {"provider_name": "p", "audiences": ["other"]}},
            {"allow_missing": {}},
        ]}}},
        "bypass_cors_preflight": true,
    }))
    .unwrap();
    let provider = &config.providers[0];
    assert_eq!(provider.claims.audiences, ["api.test"]);
    assert_eq!(provider.claims.clock_skew_seconds, 60);
    assert_eq!(provider.claims.max_lifetime_seconds, Some(3600));
    assert_eq!(provider.locations.len(), 3);
    assert!(
        matches!(&config.locations[0], Location::Header { name, value_prefix } if &**name == "x-token" && value_prefix == "Token ")
    );
    assert_eq!(config.output_headers, ["x-payload", "x-sub"]);
    assert!(config.rules[0].requirement.is_none());
    assert!(config.bypass_cors_preflight);
}

#[test]
fn defaults_are_jwt_authns() {
    let config = parse(json!({"providers": {"p": provider()}})).unwrap();
    assert_eq!(config.locations, Location::defaults());
    assert!(config.rules.is_empty());
    assert!(!config.providers[0].forward);
}

#[test]
fn lower_camel_case_is_accepted() {
    let config = parse(json!({
        "providers": {"p": {
            "localJwks": {"inlineString": jwks()},
            "fromHeaders": [{"name": "x-jwt", "valuePrefix": ""}],
            "claimToHeaders": [{"headerName": "x-sub", "claimName": "sub"}],
            "clockSkewSeconds": 5,
            "maxLifetime": {"seconds": 10, "nanos": 1},
        }},
        "bypassCorsPreflight": true,
    }))
    .unwrap();
    assert_eq!(config.providers[0].claims.clock_skew_seconds, 5);
    assert_eq!(config.providers[0].claims.max_lifetime_seconds, Some(11));
    assert_eq!(config.providers[0].claim_to_headers[0].header_name, "x-sub");
}

#[test]
fn errors_name_the_field_at_fault() {
    let cases = [
        (json!({"providers": {"auth0": {"audiences": "api", "local_jwks": {"inline_string": jwks()}}}}),
         "providers.auth0.audiences: expected a list of strings"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()}, "no_such_field": 1}}}),
         "providers.p.no_such_field: unknown field"),
        (json!({"providers": {"p": {"remote_jwks": {}}}}),
         "providers.p.remote_jwks: http_uri is required"),
        (json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/keys"}}}}}),
         "providers.p.remote_jwks.http_uri: cluster is required"),
        (json!({"providers": {"p": {"remote_jwks": {"http_uri": {"cluster": "idp"}}}}}),
         "providers.p.remote_jwks.http_uri: uri is required when the provider has no issuer"),
        (json!({"providers": {"p": {"remote_jwks": {"http_uri": {"cluster": "idp", "uri": "idp/keys"}}}}}),
         "providers.p.remote_jwks.http_uri.uri: \"idp/keys\" is not an absolute http or https URI"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()}, "remote_jwks": {}}}}),
         "providers.p: give local_jwks or remote_jwks, not both"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()}, "payload_in_metadata": "x"}}}),
         "providers.p.payload_in_metadata: proxy-wasm filters cannot write dynamic metadata"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": "{\"keys\":[]}"}}}}),
         "providers.p.local_jwks.inline_string: Jwks doesn't have any valid public key"),
        (json!({"providers": {"p": {"local_jwks": {"filename": "/etc/jwks.json"}}}}),
         "providers.p.local_jwks.filename: files cannot be read inside the wasm VM: use inline_string"),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "x"}}]}),
         "rules[0].requires.provider_name: Required provider ['x'] is not configured."),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {"prefix": "/"}, "requirement_name": "x"}],
                "requirement_map": {"a": {"provider_name": "p"}}}),
         "rules[0].requirement_name: Wrong requirement_name: x. It should be one of [a]"),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {"safe_regex": {"regex": "("}}}]}),
         "rules[0].match.safe_regex: invalid regex"),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {"safe_regex": {"regex": "/\\p{Greek}+"}}}]}),
         "rules[0].match.safe_regex: invalid regex"),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {"prefix": "/", "path": "/a"}}]}),
         "rules[0].match: only one of prefix, path, path_separated_prefix, safe_regex or path_template may be given"),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {}}]}),
         "rules[0].match: one of prefix, path, path_separated_prefix, safe_regex or path_template is required"),
        (json!({"providers": {"p": provider()}, "rules": [{"match": {"prefix": "/"},
                "requires": {"requires_any": {"requirements": [{"provider_name": "p"}, {"allow_missing": {}, "provider_name": "p"}]}}}]}),
         "rules[0].requires.requires_any.requirements[1]: give only one kind of requirement"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()}, "max_lifetime": "ten minutes"}}}),
         "providers.p.max_lifetime: expected a duration"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()}, "forward_payload_header": "bad header"}}}),
         "providers.p.forward_payload_header: expected a header name"),
        (json!({"providers": {}}), "providers: at least one provider is required"),
        (json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()},
                "claim_to_headers": [{"header_name": "authorization", "claim_name": "sub"}]}}}),
         "providers: header \"authorization\" is both a token location and an output"),
        (json!({"providers": {"p": provider()}, "rules": "x"}), "rules: expected a list"),
    ];
    for (config, expected) in cases {
        let got = error(config);
        assert!(
            got.starts_with(expected),
            "got {got:?}, expected {expected:?}"
        );
    }
    assert_eq!(
        Config::from_json(b" \n").unwrap_err(),
        ConfigError::new("", ConfigErrorKind::Empty)
    );
    let twice = Config::from_json(b"{\"providers\":1,\"providers\":2}").unwrap_err();
    assert_eq!(
        twice.kind,
        ConfigErrorKind::Json(crate::json::JsonError::DuplicateMember("providers".into()))
    );
    assert_eq!(twice.to_string(), "member \"providers\" appears twice");
}

fn request(path: &str, method: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (b":path".to_vec(), path.as_bytes().to_vec()),
        (b":method".to_vec(), method.as_bytes().to_vec()),
    ]
}

#[test]
fn route_matching() {
    let config = parse(json!({
        "providers": {"p": provider()},
        "rules": [
            {"match": {"path": "/exact"}},
            {"match": {"prefix": "/API", "case_sensitive": false}},
            {"match": {"safe_regex": {"regex": "/v[0-9]+/items"}}},
            {"match": {"prefix": "/", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]}},
            {"match": {"prefix": "/", "query_parameters": [{"name": "debug", "present_match": true}]}},
        ],
    }))
    .unwrap();
    let first_match = |path: &str, method: &str| {
        let headers = request(path, method);
        config.rules.iter().position(|rule| {
            rule.route
                .matches(&crate::request::borrow_headers(&headers))
        })
    };
    assert_eq!(first_match("/exact", "GET"), Some(0));
    assert_eq!(first_match("/exact?q=1", "GET"), Some(0));
    assert_eq!(first_match("/exact/more", "GET"), None);
    assert_eq!(first_match("/api/x", "GET"), Some(1));
    assert_eq!(first_match("/v12/items", "GET"), Some(2));
    assert_eq!(first_match("/v12/items/x", "GET"), None);
    assert_eq!(first_match("/other", "POST"), Some(3));
    assert_eq!(first_match("/other?debug=1", "GET"), Some(4));
    assert_eq!(first_match("/other", "GET"), None);
}

#[test]
fn remote_jwks_with_jwt_authn_fields_and_extensions() {
    let config = parse(json!({"providers": {
        "fixed": {"issuer": "https://issuer.test", "remote_jwks": {
            "http_uri": {"uri": "https://issuer.test/jwks", "cluster": "idp", "timeout": "2s"},
            "cache_duration": {"seconds": 600},
            "async_fetch": {"fast_listener": true, "failed_refetch_duration": "2s"},
            "retry_policy": {"num_retries": 3, "retry_back_off": {"base_interval": "0.5s", "max_interval": "20s"}},
            "kid_refetch_interval": "10s",
            "max_stale": "3600s",
        }},
        "discovered": {"issuer": "https://accounts.test/", "remote_jwks": {"http_uri": {"cluster": "accounts"}}},
    }}))
    .unwrap();
    let remote = |index: usize| match &config.providers[index].keys {
        KeySource::Remote(remote) => remote.clone(),
        KeySource::Local(_) => panic!("local"),
    };
    let discovered = remote(0);
    assert_eq!(discovered.jwks_uri, None);
    assert_eq!(
        discovered.discovery_uri.unwrap().path,
        "/.well-known/openid-configuration"
    );
    assert_eq!(discovered.cache_duration, Duration::from_secs(300));
    assert_eq!(discovered.timeout, Duration::from_secs(5));
    assert_eq!(discovered.format, KeySetFormat::Jwks);
    let fixed = remote(1);
    assert_eq!(fixed.jwks_uri.unwrap().authority, "issuer.test");
    let seconds = Duration::from_secs;
    assert_eq!(
        (fixed.timeout, fixed.cache_duration),
        (seconds(2), seconds(600))
    );
    assert_eq!(
        (fixed.backoff_base, fixed.backoff_max),
        (Duration::from_millis(500), seconds(20))
    );
    assert_eq!(
        (fixed.kid_refetch_interval, fixed.max_stale),
        (seconds(10), seconds(3_600))
    );
}

/// Issue 12 §3: jwt_authn's durations are milliseconds (Envoy's own example says
/// `base_interval: 0.01s`); none is rounded to whole seconds any more.
#[test]
fn remote_jwks_durations_keep_milliseconds() {
    let remote = |fields: Value| -> Result<(RemoteJwks, Vec<ConfigWarning>), ConfigError> {
        let mut remote_jwks = json!({"http_uri": {"uri": "https://issuer.test/jwks", "cluster": "idp", "timeout": "0.25s"}});
        if let (Value::Object(remote_jwks), Value::Object(fields)) = (&mut remote_jwks, fields) {
            remote_jwks.extend(fields);
        }
        let config = parse(json!({"providers": {"p": {"remote_jwks": remote_jwks}}}))?;
        match &config.providers[0].keys {
            KeySource::Remote(remote) => Ok((remote.clone(), config.warnings)),
            KeySource::Local(_) => panic!("local"),
        }
    };
    let ms = Duration::from_millis;
    let (fixed, warnings) = remote(json!({
        "cache_duration": "0.5s",
        "retry_policy": {"retry_back_off": {"base_interval": "0.01s", "max_interval": "0.2s"}},
    }))
    .unwrap();
    assert_eq!(warnings, []);
    assert_eq!(
        (
            fixed.timeout,
            fixed.cache_duration,
            fixed.backoff_base,
            fixed.backoff_max
        ),
        (ms(250), ms(500), ms(10), ms(200))
    );
    let (from_async, _) = remote(json!({"async_fetch": {"fast_listener": true, "failed_refetch_duration": {"nanos": 50_000_000}}})).unwrap();
    assert_eq!(from_async.backoff_base, ms(50));
    for (fields, path) in [
        (
            json!({"cache_duration": "0s"}),
            "providers.p.remote_jwks.cache_duration",
        ),
        (
            json!({"async_fetch": {"fast_listener": true, "failed_refetch_duration": "0.0001s"}}),
            "providers.p.remote_jwks.async_fetch.failed_refetch_duration",
        ),
        (
            json!({"retry_policy": {"retry_back_off": {"base_interval": "0s"}}}),
            "providers.p.remote_jwks.retry_policy.retry_back_off.base_interval",
        ),
    ] {
        let error = remote(fields).unwrap_err();
        assert_eq!(
            (error.path.as_str(), error.kind.to_string().as_str()),
            (path, "must be at least 1ms")
        );
    }
    // jwt_authn's 0 means no timeout; jwt-gate waits 60 s at most, and says so.
    for timeout in ["0s", "120s"] {
        let config = parse(json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://issuer.test/jwks", "cluster": "idp", "timeout": timeout}}}}})).unwrap();
        let KeySource::Remote(remote) = &config.providers[0].keys else {
            panic!("local")
        };
        assert_eq!(remote.timeout, Duration::from_secs(60), "{timeout}");
        assert_eq!(config.warnings.len(), 1, "{timeout}");
        assert_eq!(
            config.warnings[0].path,
            "providers.p.remote_jwks.http_uri.timeout"
        );
    }
}

#[test]
fn remote_jwks_format() {
    let format = |format: Value| {
        parse(json!({"providers": {"p": {"remote_jwks": {
            "http_uri": {"uri": "https://issuer.test/keys.pem", "cluster": "idp"}, "format": format,
        }}}}))
        .map(|config| match &config.providers[0].keys {
            KeySource::Remote(remote) => remote.format,
            KeySource::Local(_) => panic!("local"),
        })
    };
    assert_eq!(format(json!("pem")), Ok(KeySetFormat::Pem));
    assert_eq!(format(json!("jwks")), Ok(KeySetFormat::Jwks));
    assert_eq!(format(Value::Null), Ok(KeySetFormat::Jwks));
    for refused in [json!("symmetric"), json!("auto"), json!(1)] {
        let error = format(refused.clone()).unwrap_err();
        assert_eq!(error.path, "providers.p.remote_jwks.format", "{refused}");
    }
}

#[test]
fn empty_forward_payload_header_means_unset() {
    let config = parse(json!({"providers": {"p": {"local_jwks": {"inline_string": jwks()}, "forward_payload_header": ""}}})).unwrap();
    assert_eq!(config.providers[0].forward_payload_header, None);
}

#[test]
fn async_fetch_without_fast_listener_is_a_warning() {
    let remote = |async_fetch: Value| {
        json!({"providers": {"p": {"issuer": "https://issuer.test", "remote_jwks": {
            "http_uri": {"uri": "https://issuer.test/jwks", "cluster": "idp"},
            "async_fetch": async_fetch,
        }}}})
    };
    for async_fetch in [json!({}), json!({"fast_listener": false})] {
        let warnings = parse(remote(async_fetch)).unwrap().warnings;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(
            warnings[0].path,
            "providers.p.remote_jwks.async_fetch.fast_listener"
        );
        assert!(warnings[0].message.contains("cannot hold Envoy's listener"));
    }
    let config = parse(remote(json!({"fast_listener": true}))).unwrap();
    assert_eq!(config.warnings, []);
}

#[test]
fn retry_counts_and_conditions_are_warnings_naming_the_field() {
    let with = |retry_policy: Value| {
        parse(
            json!({"providers": {"p": {"issuer": "https://issuer.test", "remote_jwks": {
                "http_uri": {"uri": "https://issuer.test/jwks", "cluster": "idp"},
                "retry_policy": retry_policy,
            }}}}),
        )
        .unwrap()
        .warnings
    };
    let warnings = with(json!({"num_retries": 3, "retry_on": "5xx,reset",
                               "retry_back_off": {"base_interval": "0.01s"}}));
    let at = "providers.p.remote_jwks.retry_policy";
    assert_eq!(
        warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            format!("{at}.num_retries: 3: not used: jwt-gate makes one attempt per key fetch and, after a failed one, tries again after the back-off (retry_back_off), as many times as it takes"),
            format!("{at}.retry_on: \"5xx,reset\": not used: jwt-gate retries after every failed key fetch (no answer, a status other than 200, a document it cannot use), after the back-off (retry_back_off)"),
        ]
    );
    // `num_retries: 0` asks for no retry: jwt-gate still retries, so that is said too.
    assert_eq!(with(json!({"num_retries": 0})).len(), 1);
    // The back-off alone is used, and silent.
    assert_eq!(
        with(json!({"retry_back_off": {"base_interval": "2s", "max_interval": "9s"}})),
        []
    );
}

#[test]
fn subjects_is_a_string_matcher_on_sub() {
    let with = |subjects: Value| {
        let mut p = provider();
        p["subjects"] = subjects;
        parse(json!({"providers": {"p": p}}))
    };
    for ok in [
        json!({"exact": "spiffe://example.org/ns/a/sa/b"}),
        json!({"prefix": "spiffe://example.org/", "ignore_case": true}),
        json!({"safe_regex": {"google_re2": {}, "regex": "spiffe://example\\.org/.*"}}),
        json!({"suffix": "/sa/b"}),
        json!({"contains": "/ns/"}),
    ] {
        let config = with(ok.clone()).unwrap();
        assert!(config.providers[0].claims.subjects.is_some(), "{ok}");
    }
    assert!(parse(json!({"providers": {"p": provider()}}))
        .unwrap()
        .providers[0]
        .claims
        .subjects
        .is_none());
    for (bad, expected) in [
        (
            json!("spiffe://x"),
            "providers.p.subjects: expected an object",
        ),
        (json!({}), "providers.p.subjects: one of exact, prefix"),
        (
            json!({"exact": "a", "prefix": "b"}),
            "providers.p.subjects: only one of",
        ),
        (
            json!({"exakt": "a"}),
            "providers.p.subjects.exakt: unknown field",
        ),
        (
            json!({"safe_regex": {"regex": "("}}),
            "providers.p.subjects.safe_regex: invalid regex",
        ),
        (
            json!({"prefix": ""}),
            "providers.p.subjects.prefix: must not be empty",
        ),
        (
            json!({"contains": "", "ignore_case": true}),
            "providers.p.subjects.contains: must not be empty",
        ),
    ] {
        let got = with(bad).unwrap_err().to_string();
        assert!(
            got.starts_with(expected),
            "got {got:?}, expected {expected:?}"
        );
    }
}

#[test]
fn output_headers_include_the_method_override_it_obeys() {
    let config = parse(
        json!({"providers": {"p": provider()}, "http_method_override": true,
        "x_forwarded_authorization": true}),
    )
    .unwrap();
    assert_eq!(
        config.output_headers,
        ["x-forwarded-authorization", "x-http-method-override"]
    );
    let config = parse(json!({"providers": {"p": provider()}})).unwrap();
    assert_eq!(config.output_headers, [] as [&str; 0]);
}

/// `printf %s good-key | sha256sum`.
const GOOD_KEY_DIGEST: &str = "b8ce88d57f4916859bcecb01b98b041299a759313987af89f9fc6608d7440537";

#[test]
fn api_keys_and_deny_rules_parse() {
    let config = parse(json!({
        "api_keys": {
            "defaults": {"sha256": [GOOD_KEY_DIGEST]},
            "header": {"from_headers": [{"name": "X-Key"}], "sha256": [GOOD_KEY_DIGEST]},
        },
        "rules": [
            {"match": {"prefix": "/a"}, "requires": {"api_key_name": "header"}},
            {"match": {"prefix": "/"}, "deny": {"status": 404, "message": "no"}},
        ],
    }))
    .unwrap();
    assert!(config.providers.is_empty());
    assert_eq!(
        config.api_keys[0].locations,
        crate::policy::api_key::default_locations()
    );
    assert_eq!(
        config.api_keys[1].locations,
        [crate::policy::api_key::KeyLocation::Header("x-key".into())]
    );
    assert_eq!(config.rules[1].deny.as_ref().map(|d| d.status), Some(404));
    assert!(!config.rules[0].path_template);
}

#[test]
fn bad_api_keys_and_deny_rules_name_the_field() {
    let key = json!({"sha256": [GOOD_KEY_DIGEST]});
    for (body, expected) in [
        (
            json!({"api_keys": {"k": key}, "rules": [{"match": {"prefix": "/"}, "requires": {"api_key_name": "x"}}]}),
            "rules[0].requires.api_key_name: \"x\" is not in api_keys",
        ),
        (
            json!({"api_keys": {"k": {"sha256": ["00"]}}}),
            "api_keys.k.sha256[0]: expected the lower-case hex SHA-256 digest",
        ),
        (
            json!({"api_keys": {"k": {"sha256": []}}}),
            "api_keys.k.sha256: expected 1 to 1000 digests",
        ),
        (
            json!({"api_keys": {"k": {}}}),
            "api_keys.k: sha256 (the digests",
        ),
        (
            json!({"api_keys": {"k": "none"}}),
            "api_keys.k: expected \"unchecked\"",
        ),
        (
            json!({"api_keys": {"k": {"sha256": [GOOD_KEY_DIGEST], "key": "x"}}}),
            "api_keys.k.key: unknown field",
        ),
        (
            json!({"api_keys": {"k": key}, "rules": [{"match": {"prefix": "/"}, "deny": {"status": 200, "message": "x"}}]}),
            "rules[0].deny.status: expected an HTTP status from 400 to 599",
        ),
        (
            json!({"api_keys": {"k": key}, "rules": [{"match": {"prefix": "/"}, "deny": {"status": 404}}]}),
            "rules[0].deny: message (the response body) is required",
        ),
        (
            json!({"api_keys": {"k": key}, "rules": [{"match": {"prefix": "/"}, "deny": {"status": 404, "message": "x"},
                "requires": {"api_key_name": "k"}}]}),
            "rules[0]: a rule that denies checks nothing",
        ),
        (
            json!({"rules": []}),
            "providers: at least one provider is required",
        ),
    ] {
        let error = error(body);
        assert!(error.starts_with(expected), "{error}");
    }
}

#[test]
fn refused_jwt_authn_fields_say_why() {
    let mut requires = provider();
    requires["payload_in_metadata"] = json!("p");
    assert!(error(json!({"providers": {"p": requires}}))
        .starts_with("providers.p.payload_in_metadata: proxy-wasm filters cannot write"));
    let rule = |requires: Value| {
        json!({"providers": {"p": provider()},
            "rules": [{"match": {"prefix": "/"}, "requires": requires}]})
    };
    assert!(error(rule(json!({"extract_only_without_validation": {}}))).starts_with(
        "rules[0].requires.extract_only_without_validation: refused: it forwards claims without checking the signature"
    ));
    let fraction = json!({"providers": {"p": provider()}, "rules": [{"match": {"prefix": "/",
        "runtime_fraction": {"default_value": {"numerator": 50}}}}]});
    assert!(error(fraction).starts_with("rules[0].match.runtime_fraction: refused"));
}

/// The document model holds every field the reader reads: a document printed (as `jwt-gate
/// from-openapi` prints one) reads back as itself.
#[test]
fn documents_print_as_they_read() {
    let document = json!({
        "api_keys": {"k": {"from_params": ["key"], "from_headers": [{"name": "X-Key"}], "sha256": [GOOD_KEY_DIGEST]},
                     "open": "unchecked"},
        "providers": {
            "local": {"issuer": "https://issuer.test", "audiences": ["a"], "local_jwks": {"inline_bytes": "e30="},
                      "subjects": {"prefix": "spiffe://x/", "ignore_case": true}, "require_expiration": true,
                      "max_lifetime": "0.5s", "clock_skew_seconds": 5, "clock_skew": "0s", "claim_lookup": "literal",
                      "verify_claims": [{"key": "tenant", "values": ["acme"], "is_required": false}],
                      "forward": true, "from_headers": [{"name": "x-t", "value_prefix": "T "}],
                      "from_params": ["t"], "from_cookies": ["c"], "forward_payload_header": "x-p",
                      "pad_forward_payload_header": true, "forward_payload_header_format": "esp_v1",
                      "claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}], "clear_route_cache": true,
                      "jwt_cache_config": {"jwt_cache_size": 10, "jwt_max_token_size": 20},
                      "dpop": {"required": true, "max_proof_age": "30s", "algorithms": ["ES256"]},
                      "certificate_bound": true},
            "remote": {"remote_jwks": {"http_uri": {"uri": "https://i.test/k", "cluster": "c", "timeout": "2s"},
                       "cache_duration": {"seconds": 60, "nanos": 5}, "async_fetch": {"fast_listener": true,
                       "failed_refetch_duration": "1s"}, "retry_policy": {"num_retries": 3, "retry_on": "5xx",
                       "retry_back_off": {"base_interval": "0.01s", "max_interval": "9s"}},
                       "kid_refetch_interval": "30s", "max_stale": "60s", "format": "pem"}},
        },
        "requirement_map": {"r": {"requires_all": {"requirements": [{"provider_name": "local"}, {"api_key_name": "k"}, {}]},
                                  "when": [{"key": "request.auth.claims[groups]", "values": ["admins"], "not_values": ["x"]}]},
                            "open": {}},
        "rules": [
            {"match": {"path": "/c"}, "requires": {"provider_name": "local"},
             "when": [{"key": "request.auth.principal", "not_values": ["*"]}]},
            {"match": {"path_template": "/a/{x}", "case_sensitive": false,
                       "headers": [{"name": "h1", "range_match": {"start": -1, "end": 9}, "invert_match": true},
                                   {"name": "h2", "exact_match": "e"}, {"name": "h3", "safe_regex_match": {"regex": "r"}},
                                   {"name": "h4", "treat_missing_header_as_empty": true}],
                       "query_parameters": [{"name": "q", "string_match": {"safe_regex": {"regex": "s"}}}, {"name": "p"}]},
             "requirement_name": "r", "allowed_scopes": ["read"]},
            {"match": {"safe_regex": {"regex": "/b"}}, "requires": {"provider_and_audiences":
                {"provider_name": "remote", "audiences": ["x"]}}},
            {"match": {"prefix": "/"}, "deny": {"status": 404, "message": "no"}},
        ],
        "bypass_cors_preflight": true, "strip_failure_response": true, "stat_prefix": "s.p",
        "failure_response_format": "json", "x_forwarded_authorization": true, "http_method_override": true,
        "signature_verifier": "ring", "behind_trusted_proxy": true, "dpop_replay_cache_size": 5000,
    });
    let read = read::jwt_authentication(&document).unwrap();
    let printed = serde_json::to_value(&read).unwrap();
    assert_eq!(
        read::jwt_authentication(&printed).unwrap(),
        read,
        "{printed:#}"
    );
}

#[test]
fn dpop_and_certificate_binding_compile_with_their_defaults() {
    let mut p = provider();
    p["dpop"] = json!({});
    p["certificate_bound"] = json!(true);
    let config = parse(json!({"providers": {"p": p}})).unwrap();
    let compiled = &config.providers[0];
    let dpop = compiled.dpop.as_ref().unwrap();
    assert!(!dpop.required);
    assert_eq!(dpop.window_seconds, 60 + 60, "max_proof_age and clock skew");
    assert_eq!(dpop.algorithms, crate::policy::binding::ASYMMETRIC);
    assert!(compiled.certificate_bound);
    assert_eq!(
        config.locations[dpop.location],
        Location::Header {
            name: "authorization".into(),
            value_prefix: "DPoP ".into()
        }
    );
    assert_eq!(compiled.locations.len(), 3, "Bearer, access_token and DPoP");
    assert_eq!(config.replay_cache.capacity(), 99_968, "781 slices of 128");
    assert!(config.warnings.is_empty());

    let mut p = provider();
    p["clock_skew"] = json!("0s");
    p["dpop"] = json!({"required": true, "max_proof_age": "0.5s", "algorithms": ["EdDSA", "ES256", "EdDSA"]});
    let config = parse(json!({"providers": {"p": p}, "dpop_replay_cache_size": 10})).unwrap();
    let dpop = config.providers[0].dpop.as_ref().unwrap();
    assert!(dpop.required);
    assert_eq!(dpop.window_seconds, 1, "rounded up to whole seconds");
    assert_eq!(
        dpop.algorithms,
        [
            crate::token::algorithm::Algorithm::EdDsa,
            crate::token::algorithm::Algorithm::Es256
        ]
    );
    assert_eq!(config.replay_cache.capacity(), 10);
}

#[test]
fn bad_dpop_fields_name_the_field() {
    let with = |dpop: Value| {
        let mut p = provider();
        p["dpop"] = dpop;
        error(json!({"providers": {"p": p}}))
    };
    assert_eq!(
        with(json!({"algorithms": ["ES256", "HS256"]})),
        "providers.p.dpop.algorithms[1]: expected an asymmetric JWS algorithm: ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256, RS384 or RS512"
    );
    assert!(with(json!({"algorithms": ["none"]})).starts_with("providers.p.dpop.algorithms[0]: "));
    assert!(with(json!({"algorithms": []}))
        .starts_with("providers.p.dpop.algorithms: expected at least one"));
    for age in ["0s", "3601s"] {
        assert_eq!(
            with(json!({ "max_proof_age": age })),
            "providers.p.dpop.max_proof_age: expected a duration from 1s to 3600s"
        );
    }
    assert_eq!(
        with(json!({"require": true})),
        "providers.p.dpop.require: unknown field"
    );
    assert_eq!(
        with(json!({"required": "yes"})),
        "providers.p.dpop.required: expected true or false"
    );
    for size in [json!(0), json!(1_000_001), json!(-1)] {
        assert!(
            error(json!({"providers": {"p": provider()}, "dpop_replay_cache_size": size}))
                .starts_with("dpop_replay_cache_size: expected "),
            "{size}"
        );
    }
}

#[test]
fn top_level_dpop_fields_without_a_dpop_provider_are_warnings() {
    let config = parse(
        json!({"providers": {"p": provider()}, "behind_trusted_proxy": true,
                              "dpop_replay_cache_size": 10}),
    )
    .unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "behind_trusted_proxy: does nothing: no provider has dpop",
            "dpop_replay_cache_size: does nothing: no provider has dpop"
        ]
    );
}

#[test]
fn when_conditions_compile_on_rules_and_requirement_map_entries() {
    let config = parse(json!({
        "providers": {"p": provider()},
        "requirement_map": {"admins": {"provider_name": "p",
            "when": [{"key": "request.auth.claims[groups]", "values": ["admins"]}]}},
        "rules": [
            {"match": {"prefix": "/admin"}, "requirement_name": "admins",
             "when": [{"key": "request.auth.claims[tier]", "notValues": ["free"]}]},
            {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "p"}, {"allow_missing": {}}]}},
             "when": [{"key": "request.auth.presenter", "values": ["web"]}]},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ],
    }))
    .unwrap();
    let keys: Vec<Vec<&str>> = config
        .rules
        .iter()
        .map(|rule| rule.conditions.iter().map(|c| &*c.text).collect())
        .collect();
    assert_eq!(
        keys,
        [
            vec!["request.auth.claims[groups]", "request.auth.claims[tier]"],
            vec!["request.auth.presenter"],
            vec![],
        ]
    );
    assert!(config.keep_payloads);
    assert!(
        !parse(json!({"providers": {"p": provider()}}))
            .unwrap()
            .keep_payloads
    );
}

#[test]
fn bad_when_conditions_name_the_rule() {
    let rules = |rule: Value| json!({"providers": {"p": provider()}, "rules": [rule]});
    let with = |when: Value| {
        error(rules(
            json!({"match": {"prefix": "/"}, "requires": {"provider_name": "p"}, "when": when}),
        ))
    };
    assert!(
        with(json!([{"key": "source.ip", "values": ["10.0.0.1"]}]))
            .starts_with("rules[0].when[0]: unknown key \"source.ip\""),
        "{}",
        with(json!([{"key": "source.ip", "values": ["10.0.0.1"]}]))
    );
    assert!(with(json!([{"key": "request.auth.claims[groups", "values": ["a"]}]))
        .starts_with("rules[0].when[0]: \"request.auth.claims[groups\": expected request.auth.claims[<name>]"));
    assert_eq!(
        with(json!([{"key": "request.auth.claims[g]", "values": []}])),
        "rules[0].when[0]: give values or not_values (a condition without either checks nothing)"
    );
    assert_eq!(
        with(json!([{"values": ["a"]}])),
        "rules[0].when[0]: key is required"
    );
    assert_eq!(
        with(json!([{"key": "request.auth.presenter", "value": ["a"]}])),
        "rules[0].when[0].value: unknown field"
    );
    let no_requirement = json!({"match": {"prefix": "/"},
        "when": [{"key": "request.auth.presenter", "values": ["a"]}]});
    assert!(error(rules(no_requirement))
        .starts_with("rules[0]: when needs a requirement that verifies a token"));
    let empty_requirement = json!({"match": {"prefix": "/"}, "requires": {},
        "when": [{"key": "request.auth.presenter", "values": ["a"]}]});
    assert!(error(rules(empty_requirement))
        .starts_with("rules[0]: when needs a requirement that verifies a token"));
    let with_deny = json!({"match": {"prefix": "/"}, "deny": {"status": 403, "message": "no"},
        "when": [{"key": "request.auth.presenter", "values": ["a"]}]});
    assert!(error(rules(with_deny)).starts_with("rules[0]: a rule that denies checks nothing"));
    let entry = json!({"providers": {"p": provider()},
        "requirement_map": {"open": {"when": [{"key": "request.auth.presenter", "values": ["a"]}]}}});
    assert!(error(entry).starts_with("requirement_map.open: when needs a requirement"));
    let entry_key = json!({"providers": {"p": provider()},
        "requirement_map": {"r": {"provider_name": "p", "when": [{"key": "request.headers[x]", "values": ["a"]}]}}});
    assert!(error(entry_key).starts_with("requirement_map.r.when[0]: unknown key"));
    let many: Vec<Value> = (0..=crate::policy::condition::MAX_CONDITIONS)
        .map(|_| json!({"key": "request.auth.presenter", "values": ["a"]}))
        .collect();
    assert_eq!(with(json!(many)), "rules[0].when: at most 64 conditions");
}

#[test]
fn issuer_templates_need_a_key_uri_and_warn_when_every_tenant_passes() {
    let entra = |extra: Value| {
        let mut provider = json!({"issuer": "https://login.microsoftonline.com/{tid}/v2.0",
            "remote_jwks": {"http_uri": {"uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
                                         "cluster": "entra"}}});
        for (key, value) in extra.as_object().unwrap() {
            provider[key] = value.clone();
        }
        provider
    };
    let rules = json!([{"match": {"prefix": "/"}, "requires": {"provider_name": "entra"}}]);
    let open = parse(json!({"providers": {"entra": entra(json!({}))}, "rules": rules})).unwrap();
    let template = open.providers[0].claims.issuer_template.as_ref().unwrap();
    assert_eq!(
        template.as_str(),
        "https://login.microsoftonline.com/{tid}/v2.0"
    );
    assert_eq!(open.providers[0].claims.issuer, None);
    assert_eq!(
        open.warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["providers.entra.issuer: \"https://login.microsoftonline.com/{tid}/v2.0\" accepts every \
          tenant: restrict {tid} with verify_claims ({\"key\": \"tid\", \"values\": [...]}) or a \
          when condition on request.auth.claims[tid]"]
    );
    let checked = json!({"verify_claims": [{"key": "tid", "values": ["72f988bf"]}]});
    let by_claims = parse(json!({"providers": {"entra": entra(checked)}, "rules": rules})).unwrap();
    assert!(by_claims.warnings.is_empty(), "{:?}", by_claims.warnings);
    let by_when = parse(json!({"providers": {"entra": entra(json!({}))}, "rules": [
        {"match": {"prefix": "/"}, "requires": {"provider_name": "entra"},
         "when": [{"key": "request.auth.claims[tid]", "values": ["72f988bf"]}]}]}))
    .unwrap();
    assert!(by_when.warnings.is_empty(), "{:?}", by_when.warnings);
    // A restriction on one rule leaves the others open.
    let one_rule = parse(json!({"providers": {"entra": entra(json!({}))}, "rules": [
        {"match": {"prefix": "/a"}, "requires": {"provider_name": "entra"},
         "when": [{"key": "request.auth.claims[tid]", "values": ["72f988bf"]}]},
        {"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "entra"}, {"allow_missing": {}}]}}}]}))
    .unwrap();
    assert_eq!(one_rule.warnings.len(), 1);
    // `*` admits every tenant: still a warning.
    let any = parse(json!({"providers": {"entra": entra(json!({}))}, "rules": [
        {"match": {"prefix": "/"}, "requires": {"provider_name": "entra"},
         "when": [{"key": "request.auth.claims[tid]", "values": ["*"]}]}]}))
    .unwrap();
    assert_eq!(any.warnings.len(), 1);

    let discovery = json!({"remote_jwks": {"http_uri": {"cluster": "entra"}}});
    assert_eq!(
        error(json!({"providers": {"entra": entra(discovery)}})),
        "providers.entra.remote_jwks.http_uri.uri: uri is required with a templated issuer: keys \
         cannot be discovered from a template"
    );
    for (bad, why) in [
        (
            "https://{tenant}.example.com/",
            "the scheme and host of a template must be literal",
        ),
        (
            "https://login.example/x{tid}/v2.0",
            "\"x{tid}\": a placeholder is a whole path segment, such as /{tid}/",
        ),
        ("https://login.example/{tid}/{tid}", "{tid} is given twice"),
    ] {
        assert_eq!(
            error(json!({"providers": {"entra": entra(json!({"issuer": bad}))}})),
            format!("providers.entra.issuer: {why}")
        );
    }
    // Inline keys are fine with a template.
    let inline = json!({"providers": {"entra": {"issuer": "https://login.example/{tid}/v2.0",
                                               "local_jwks": {"inline_string": jwks()}}}});
    assert!(parse(inline).is_ok());
}
