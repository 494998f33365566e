//! Route matching against what Envoy 1.40's jwt_authn answered for the same rule and request
//! (each case was run through Envoy; integration/test_rule_matching.py keeps checking it there).

use serde_json::{json, Value};

use super::*;
use crate::config::compile::route_match_from_json;
use crate::request::Header;

fn route(match_: Value) -> RouteMatch {
    route_match_from_json(&match_).unwrap()
}

fn refused(match_: Value) -> String {
    route_match_from_json(&match_).unwrap_err().to_string()
}

/// A GET of `path` to host `api.test`, plus `headers` (names as HTTP/2 sends them: lower case).
fn request<'a>(path: &'a str, headers: &[(&'a str, &'a [u8])]) -> Vec<Header<'a>> {
    let mut all: Vec<Header<'a>> = vec![
        (b":path", path.as_bytes()),
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"api.test"),
    ];
    all.extend(
        headers
            .iter()
            .map(|(name, value)| (name.as_bytes(), *value)),
    );
    all
}

/// Whether a rule with this one header matcher (on any path) matches `x-t` with these values.
fn header_matches(matcher: Value, values: &[&[u8]]) -> bool {
    let mut matcher = matcher;
    matcher["name"] = json!("x-t");
    let headers: Vec<(&str, &[u8])> = values.iter().map(|value| ("x-t", *value)).collect();
    route(json!({"prefix": "/", "headers": [matcher]})).matches(&request("/", &headers))
}

#[test]
fn a_repeated_header_matches_when_any_value_does() {
    let admin = json!({"string_match": {"exact": "admin"}});
    assert!(header_matches(admin.clone(), &[b"user", b"admin"]));
    assert!(header_matches(admin.clone(), &[b"admin", b"user"]));
    assert!(!header_matches(admin.clone(), &[b"user", b"user"]));
    // The joined spelling is not a value that was sent.
    let joined = json!({"string_match": {"exact": "user,admin"}});
    assert!(!header_matches(joined.clone(), &[b"user", b"admin"]));
    assert!(header_matches(joined, &[b"user,admin"]));
    for kind in [
        json!({"prefix": "adm"}),
        json!({"suffix": "min"}),
        json!({"contains": "dmi"}),
        json!({"safe_regex": {"regex": "a.*n"}}),
    ] {
        assert!(header_matches(
            json!({"string_match": kind}),
            &[b"user", b"admin"]
        ));
    }
    let range = json!({"range_match": {"start": 0, "end": 10}});
    assert!(header_matches(range, &[b"20", b"5"]));
}

#[test]
fn invert_match_matches_only_when_no_value_does() {
    let not_admin = json!({"string_match": {"exact": "admin"}, "invert_match": true});
    assert!(!header_matches(not_admin.clone(), &[b"user", b"admin"]));
    assert!(!header_matches(not_admin.clone(), &[b"admin", b"user"]));
    assert!(header_matches(not_admin.clone(), &[b"user", b"user"]));
    let out_of_range = json!({"range_match": {"start": 0, "end": 10}, "invert_match": true});
    assert!(!header_matches(out_of_range, &[b"20", b"5"]));
    let absent = json!({"present_match": true, "invert_match": true});
    assert!(!header_matches(absent, &[b"a", b"b"]));
}

#[test]
fn a_missing_header_matches_only_a_check_for_absence() {
    let table = [
        // (matcher, matches when x-t is missing)
        (json!({"string_match": {"exact": "admin"}}), false),
        (
            json!({"string_match": {"exact": "admin"}, "invert_match": true}),
            false,
        ),
        (
            json!({"range_match": {"start": 0, "end": 10}, "invert_match": true}),
            false,
        ),
        (json!({"present_match": true}), false),
        (json!({"present_match": true, "invert_match": true}), true),
        (json!({"present_match": false}), true),
        (json!({"present_match": false, "invert_match": true}), false),
        (json!({}), false),
    ];
    for (matcher, expected) in table {
        assert_eq!(header_matches(matcher.clone(), &[]), expected, "{matcher}");
    }
}

#[test]
fn treat_missing_header_as_empty_makes_it_one_empty_value() {
    let table = [
        (
            json!({"string_match": {"exact": "admin"}, "invert_match": true}),
            true,
        ),
        (json!({"string_match": {"exact": ""}}), true),
        (
            json!({"range_match": {"start": 0, "end": 10}, "invert_match": true}),
            true,
        ),
        (json!({"present_match": true}), true),
        (json!({"present_match": true, "invert_match": true}), false),
        (json!({"present_match": false}), false),
        (json!({"present_match": false, "invert_match": true}), true),
    ];
    for (mut matcher, expected) in table {
        matcher["treat_missing_header_as_empty"] = json!(true);
        assert_eq!(header_matches(matcher.clone(), &[]), expected, "{matcher}");
    }
}

#[test]
fn present_match_and_the_deprecated_forms() {
    assert!(header_matches(json!({}), &[b""]));
    assert!(!header_matches(json!({"present_match": false}), &[b"a"]));
    // An empty exact_match matches any value; an empty string_match exact only "".
    assert!(header_matches(json!({"exact_match": ""}), &[b"zz"]));
    assert!(!header_matches(
        json!({"string_match": {"exact": ""}}),
        &[b"zz"]
    ));
    assert!(header_matches(json!({"exact_match": "a"}), &[b"a"]));
    assert!(header_matches(json!({"prefix_match": "a"}), &[b"ab"]));
    assert!(header_matches(json!({"suffix_match": "b"}), &[b"ab"]));
    assert!(header_matches(json!({"contains_match": "b"}), &[b"abc"]));
    assert!(header_matches(
        json!({"safe_regex_match": {"regex": "a+"}}),
        &[b"aa"]
    ));
    assert!(!header_matches(
        json!({"safe_regex_match": {"regex": "a+"}}),
        &[b"aab"]
    ));
}

#[test]
fn range_match_reads_integers_as_absl_simple_atoi() {
    let range = || json!({"range_match": {"start": -5, "end": "10"}});
    for value in ["5", "+5", "05", "-5", "9", " 7 ", "\t0"] {
        assert!(header_matches(range(), &[value.as_bytes()]), "{value:?}");
    }
    for value in [
        "10",
        "-6",
        "5.0",
        "",
        "5\t5",
        "0x5",
        "five",
        "1e1",
        "--1",
        "+",
        "99999999999999999999",
    ] {
        assert!(!header_matches(range(), &[value.as_bytes()]), "{value:?}");
    }
    assert_eq!(simple_atoi(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(simple_atoi(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(simple_atoi(b"9223372036854775808"), None);
}

#[test]
fn string_match_ignore_case_folds_ascii_only() {
    let exact = json!({"string_match": {"exact": "ADMIN", "ignore_case": true}});
    assert!(header_matches(exact, &[b"admin"]));
    let e_acute = json!({"string_match": {"exact": "\u{c9}", "ignore_case": true}});
    assert!(!header_matches(e_acute, &["\u{e9}".as_bytes()]));
    let contains = json!({"string_match": {"contains": "MiN", "ignore_case": true}});
    assert!(header_matches(contains, &[b"xADMINx"]));
    let suffix = json!({"string_match": {"suffix": "IN", "ignore_case": true}});
    assert!(header_matches(suffix.clone(), &[b"admin"]));
    assert!(!header_matches(suffix, &[b"n"]));
}

#[test]
fn regexes_read_bytes_as_latin1_as_re2_does_in_envoy() {
    let regex = |pattern: &str| json!({"string_match": {"safe_regex": {"regex": pattern}}});
    // One byte is one character, whether or not the bytes are UTF-8.
    assert!(header_matches(regex("a."), &[b"a\xe9"]));
    assert!(!header_matches(regex("a."), &["a\u{e9}".as_bytes()]));
    assert!(header_matches(regex("a.."), &["a\u{e9}".as_bytes()]));
    assert!(header_matches(regex("a[^x]"), &[b"a\xff"]));
    assert!(header_matches(regex("a\\xe9"), &[b"a\xe9"]));
    // A non-ASCII pattern character is its UTF-8 bytes.
    assert!(header_matches(regex("a\u{e9}"), &["a\u{e9}".as_bytes()]));
    assert!(!header_matches(regex("a\u{e9}"), &[b"a\xe9"]));
    // Classes are ASCII; case folding too.
    assert!(!header_matches(regex("\\w+"), &[b"\xe9"]));
    assert!(header_matches(regex("(?i)A"), &[b"a"]));
    assert!(!header_matches(regex("(?i)\\x{c9}"), &[b"\xe9"]));
    // The whole value, even with a multi-line flag inside.
    assert!(!header_matches(regex("b"), &[b"abc"]));
    assert!(!header_matches(regex("(?m)a$"), &[b"a\nb"]));
}

#[test]
fn host_is_authority_and_names_ignore_case() {
    for name in ["host", "Host", ":authority", ":Authority"] {
        let rule = route(json!({"prefix": "/", "headers": [
            {"name": name, "string_match": {"exact": "admin.example"}}]}));
        assert!(rule.matches(&[(b":path", b"/"), (b":authority", b"admin.example"),]));
        // Another host (as an HTTP/1 host adapter would name it) is read the same way.
        assert!(rule.matches(&[(b":path", b"/"), (b"Host", b"admin.example"),]));
        // The value is compared as sent: port included, case kept.
        for other in [&b"admin.example:80"[..], b"ADMIN.example"] {
            assert!(!rule.matches(&[(b":path", b"/"), (b":authority", other),]));
        }
    }
    let rule = route(json!({"prefix": "/", "headers": [
        {"name": "X-Tenant", "string_match": {"exact": "a"}}]}));
    assert!(rule.matches(&request("/", &[("X-TENANT", b"a")])));
}

#[test]
fn pseudo_headers_are_headers() {
    let header = |name: &str, value: &str| {
        route(json!({"prefix": "/", "headers": [{"name": name, "string_match": {"exact": value}}]}))
    };
    assert!(header(":method", "GET").matches(&request("/", &[])));
    assert!(!header(":method", "get").matches(&request("/", &[])));
    assert!(header(":scheme", "http").matches(&request("/", &[])));
    // A header matcher on :path sees the query string.
    assert!(header(":path", "/q?x=1").matches(&request("/q?x=1", &[])));
}

#[test]
fn path_specifiers_ignore_the_query_and_fragment() {
    let matches = |match_: Value, path: &str| route(match_).matches(&request(path, &[]));
    assert!(!matches(json!({"prefix": "/a?b"}), "/a?b=1"));
    assert!(matches(json!({"prefix": "/a"}), "/a?b=1"));
    assert!(matches(json!({"prefix": ""}), "/"));
    assert!(matches(
        json!({"prefix": "/ABC", "case_sensitive": false}),
        "/abc/x"
    ));
    assert!(!matches(json!({"prefix": "/ABC"}), "/abc/x"));
    assert!(matches(json!({"path": "/a"}), "/a?x"));
    assert!(matches(json!({"path": "/a"}), "/a#x"));
    assert!(matches(
        json!({"path": "/a", "case_sensitive": false}),
        "/A"
    ));
    assert!(!matches(json!({"path": "/a"}), "/a/"));
    assert!(matches(
        json!({"safe_regex": {"regex": "/r/[0-9]+"}}),
        "/r/1?x"
    ));
    // case_sensitive does not apply to regexes.
    assert!(!matches(
        json!({"safe_regex": {"regex": "/r/[0-9]+"}, "case_sensitive": false}),
        "/R/1"
    ));
    // No :path at all (CONNECT): the path is "", but a regex never matches.
    assert!(route(json!({"prefix": ""})).matches(&[]));
    assert!(route(json!({"path": ""})).matches(&[]));
    assert!(!route(json!({"prefix": "/"})).matches(&[]));
    assert!(!route(json!({"safe_regex": {"regex": ".*"}})).matches(&[]));
}

#[test]
fn path_separated_prefix_matches_whole_segments() {
    let public = route(json!({"path_separated_prefix": "/public"}));
    for path in [
        "/public",
        "/public/",
        "/public/x",
        "/public?x=1",
        "/public#x",
        "/public//x",
    ] {
        assert!(public.matches(&request(path, &[])), "{path}");
    }
    for path in [
        "/publicity",
        "/public-x",
        "/public%2Fx",
        "/PUBLIC/x",
        "/",
        "/pub",
        "x/public",
    ] {
        assert!(!public.matches(&request(path, &[])), "{path}");
    }
    let any_case = route(json!({"path_separated_prefix": "/Public", "case_sensitive": false}));
    assert!(any_case.matches(&request("/PUBLIC/x", &[])));
    assert!(!any_case.matches(&request("/PUBLICITY", &[])));
    assert!(route(json!({"pathSeparatedPrefix": "ab"})).matches(&request("ab/c", &[])));
}

#[test]
fn path_separated_prefix_is_validated_as_envoy_does() {
    for bad in ["", "/", "a", "/public/", "/a?b", "/a#b", "?a"] {
        assert!(
            refused(json!({"path_separated_prefix": bad})).starts_with("path_separated_prefix: "),
            "{bad:?}"
        );
    }
    for good in ["/a", "ab", "/a/b", "/\u{e9}", "//a"] {
        route(json!({"path_separated_prefix": good}));
    }
}

#[test]
fn query_parameters_as_envoy_reads_them() {
    let query = |matcher: Value, path: &str| {
        let mut matcher = matcher;
        matcher["name"] = json!("x");
        route(json!({"prefix": "/", "query_parameters": [matcher]})).matches(&request(path, &[]))
    };
    let one = json!({"string_match": {"exact": "1"}});
    // The first occurrence only.
    assert!(!query(one.clone(), "/?x=2&x=1"));
    assert!(query(one.clone(), "/?x=1&x=2"));
    assert!(query(one.clone(), "/?y=0&&x=1"));
    assert!(!query(one.clone(), "/?X=1"));
    assert!(!query(one, "/#?x=1"));
    // Nothing is decoded; the value runs to the next '&' and may hold '='.
    assert!(!query(
        json!({"string_match": {"exact": "a b"}}),
        "/?x=a%20b"
    ));
    assert!(query(json!({"string_match": {"exact": "a+b"}}), "/?x=a+b"));
    assert!(query(json!({"string_match": {"exact": "1=2"}}), "/?x=1=2"));
    assert!(
        !route(json!({"prefix": "/", "query_parameters": [{"name": "xA"}]}))
            .matches(&request("/?x%41=1", &[]))
    );
    // Presence: a bare name is present with the value "".
    assert!(query(json!({"present_match": true}), "/?x"));
    assert!(query(json!({"string_match": {"exact": ""}}), "/?x"));
    assert!(query(json!({}), "/?=1&x"));
    assert!(!query(json!({}), "/"));
    assert!(query(json!({"present_match": false}), "/"));
    assert!(query(json!({"present_match": false}), "/?y=1"));
    assert!(!query(json!({"present_match": false}), "/?x=1"));
}

#[test]
fn configurations_envoy_refuses_are_refused() {
    let header = |matcher: Value| refused(json!({"prefix": "/", "headers": [matcher]}));
    assert_eq!(
        header(
            json!({"name": "x", "string_match": {"safe_regex": {"regex": "a"}, "ignore_case": true}})
        ),
        "headers[0].string_match: ignore_case has no effect for safe_regex."
    );
    for kind in ["prefix", "suffix", "contains"] {
        assert_eq!(
            header(json!({"name": "x", "string_match": {kind: ""}})),
            format!("headers[0].string_match: {kind} must not be empty")
        );
        assert_eq!(
            header(json!({"name": "x", format!("{kind}_match"): ""})),
            format!("headers[0]: {kind}_match must not be empty")
        );
    }
    assert_eq!(
        header(json!({"name": "x", "string_match": {"safe_regex": {"regex": ""}}})),
        "headers[0].string_match.safe_regex: regex must not be empty"
    );
    assert!(header(json!({"name": "", "present_match": true})).starts_with("headers[0]: name"));
    assert_eq!(
        header(json!({"name": "x", "present_match": true, "range_match": {"start": 1}})),
        "headers[0]: only one match rule may be given"
    );
    assert_eq!(
        header(json!({"name": "x", "range_match": {"start": 1.5}})),
        "headers[0].range_match.start: expected a 64-bit integer"
    );
    assert_eq!(
        header(json!({"name": "x", "range_match": {"begin": 1}})),
        "headers[0].range_match.begin: unknown field"
    );
    let query = |matcher: Value| refused(json!({"prefix": "/", "query_parameters": [matcher]}));
    assert_eq!(
        query(json!({"name": ""})),
        "query_parameters[0]: name must have 1 to 1024 bytes"
    );
    assert_eq!(
        query(json!({"name": "x", "present_match": true, "string_match": {"exact": "a"}})),
        "query_parameters[0]: give present_match or string_match, not both"
    );
    assert_eq!(
        refused(json!({"prefix": "/", "path_separated_prefix": "/a"})),
        "only one of prefix, path, path_separated_prefix, safe_regex or path_template may be \
         given"
    );
}

#[test]
fn describe_names_the_path_specifier() {
    let describe = |match_: Value| route(match_).describe();
    assert_eq!(
        describe(json!({"path_separated_prefix": "/public"})),
        "path_separated_prefix /public"
    );
    assert_eq!(
        describe(json!({"safe_regex": {"regex": "/v[0-9]+"}})),
        "regex /v[0-9]+"
    );
    assert_eq!(
        describe(json!({"prefix": "/", "case_sensitive": false, "headers": [
            {"name": ":method", "string_match": {"exact": "POST"}},
            {"name": "Host", "range_match": {"start": 1, "end": 2}}]})),
        "POST prefix / (any case) + conditions on :authority"
    );
}
