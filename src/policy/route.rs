//! Route matching for `rules[].match`, as Envoy 1.40's jwt_authn decides it: the path specifier
//! (`prefix`, `path`, `path_separated_prefix`, `safe_regex`, and jwt-gate's `path_template`),
//! `case_sensitive`, `headers` and `query_parameters`, over the raw header bytes Envoy hands us.
//!
//! What this follows, read in Envoy's sources (jwt_authn/matcher.cc, common/http/header_utility.cc,
//! common/common/matchers.cc, router/config_utility.cc; the 1.39 changelog entry for
//! `match_headers_individually`) and checked against Envoy 1.40 itself, case by case (the unit
//! tests below) and on generated requests (integration/test_rule_matching.py):
//! - jwt_authn's `matcher.cc`: every path specifier sees `:path` without its query and fragment
//!   (`Http::PathUtil::removeQueryAndFragment`, through `Matchers::PathMatcher`);
//!   `case_sensitive: false` folds ASCII case for `prefix`, `path` and `path_separated_prefix`,
//!   never for `safe_regex`; `path_separated_prefix` then needs the end of the path or a `/`
//!   right after the prefix.
//! - `Http::HeaderUtility` (header_utility.cc) with Envoy 1.39's
//!   `envoy.reloadable_features.match_headers_individually` (on by default, the fix completing
//!   CVE-2026-26308): a header sent several times is matched value by value, and the matcher
//!   matches when ANY value does; `invert_match` negates that (so an inverted matcher matches only
//!   when NO value does). Headers Envoy keeps inline (`user-agent`, `authorization`, ...) reach
//!   the filter already joined with `,`: the host hands us Envoy's header map as it is, so the
//!   joined value is what both filters see. A missing header matches nothing but a
//!   `present_match` expecting absence (either way round with `invert_match`), unless
//!   `treat_missing_header_as_empty` makes it one empty value (then `present_match: true`
//!   matches it). A matcher named `host` reads `:authority` (Envoy's header map maps one to the
//!   other); names compare case-insensitively, values are compared as sent (ports included).
//! - `range_match`: `absl::SimpleAtoi` (optional sign, base-10 digits, surrounding ASCII
//!   whitespace, no overflow), then `start <= value < end`.
//! - `Router::ConfigUtility::QueryParameterMatcher`: the query is split at `&` and at the first
//!   `=`, nothing is percent-decoded, only the FIRST occurrence of a name counts, a bare `name`
//!   has the value "", and `present_match: false` matches when the name is absent
//!   (`enable_new_query_param_present_match_behavior`, on in 1.40).
//! - Regexes: Envoy 1.40's RE2 matches byte by byte (Latin-1): `.` is one byte, even of a UTF-8
//!   or an invalid sequence, a non-ASCII pattern character is its UTF-8 bytes, and `\x{100}` is
//!   refused ("invalid escape sequence"). We run regex-lite on the same Latin-1 view
//!   (`Latin1Regex`), so non-UTF-8 values match as in Envoy instead of never. Not copied: RE2's
//!   program-size limit (Envoy refuses big patterns that jwt-gate accepts) and `\C`, which
//!   regex-lite refuses.

use std::borrow::Cow;

use regex_lite::Regex;
use serde_json::Value;

use super::template::PathTemplate;
use crate::config::walk::{Field, Object};
use crate::config::ConfigError;
use crate::request::split_path;

/// A compiled `match`.
#[derive(Clone, Debug)]
pub struct RouteMatch {
    path: PathMatch,
    case_sensitive: bool,
    headers: Vec<HeaderMatcher>,
    query_parameters: Vec<QueryMatcher>,
}

#[derive(Clone, Debug)]
enum PathMatch {
    Path(String),
    Prefix(String),
    /// The prefix, then the end of the path or a `/`.
    PathSeparatedPrefix(String),
    Regex(Latin1Regex),
    Template(PathTemplate),
}

/// Envoy's HeaderMatcher.
#[derive(Clone, Debug)]
pub struct HeaderMatcher {
    /// Lower case; `host` is stored as `:authority`.
    name: String,
    rule: HeaderRule,
    invert: bool,
    treat_missing_as_empty: bool,
}

#[derive(Clone, Debug)]
enum HeaderRule {
    /// `present_match` (also no rule at all, and the deprecated `exact_match: ""`).
    Present(bool),
    /// `range_match`: `start <= value < end`.
    Range {
        start: i64,
        end: i64,
    },
    String(StringMatcher),
}

/// Envoy's QueryParameterMatcher.
#[derive(Clone, Debug)]
struct QueryMatcher {
    name: String,
    rule: QueryRule,
}

#[derive(Clone, Debug)]
enum QueryRule {
    Present(bool),
    String(StringMatcher),
}

/// Envoy's StringMatcher.
#[derive(Clone, Debug)]
pub struct StringMatcher {
    kind: StringKind,
    /// ASCII case folding for exact, prefix, suffix and contains (Envoy refuses it with a regex).
    ignore_case: bool,
}

#[derive(Clone, Debug)]
enum StringKind {
    Contains(String),
    Exact(String),
    Prefix(String),
    Regex(Latin1Regex),
    Suffix(String),
}

/// An RE2-syntax regex that must match a whole value, byte by byte as RE2 does in Envoy.
#[derive(Clone, Debug)]
struct Latin1Regex {
    /// The pattern as configured, for people.
    source: String,
    regex: Regex,
}

/// The path specifiers, in the order error messages list them.
const PATH_SPECIFIERS: [&str; 5] = [
    "prefix",
    "path",
    "path_separated_prefix",
    "safe_regex",
    "path_template",
];

/// Longest query parameter name Envoy accepts (`QueryParameterMatcher.name`, `max_bytes`).
const MAX_QUERY_NAME_BYTES: usize = 1024;

impl RouteMatch {
    pub(crate) fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let given: Vec<&str> = PATH_SPECIFIERS
            .into_iter()
            .filter(|s| object.has(s))
            .collect();
        let path = match given.as_slice() {
            [specifier] => {
                let Some(value) = object.take(specifier) else {
                    return Err(field.error(format!("{specifier} is missing")));
                };
                path_match(specifier, &value)?
            }
            [] => {
                object.finish()?;
                return Err(field.error(format!("one of {} is required", list_of_specifiers())));
            }
            _ => {
                return Err(
                    field.error(format!("only one of {} may be given", list_of_specifiers()))
                )
            }
        };
        let case_sensitive = match object.take("case_sensitive") {
            Some(flag) => flag.bool()?,
            None => true,
        };
        let headers = object
            .list("headers")?
            .iter()
            .map(HeaderMatcher::parse)
            .collect::<Result<_, _>>()?;
        let query_parameters = object
            .list("query_parameters")?
            .iter()
            .map(QueryMatcher::parse)
            .collect::<Result<_, _>>()?;
        object.finish()?;
        Ok(Self {
            path,
            case_sensitive,
            headers,
            query_parameters,
        })
    }

    /// A one-line summary for people (`jwt-gate check`): `GET template /v1/shelves/{shelf}`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for header in &self.headers {
            match (&header.rule, header.invert) {
                (
                    HeaderRule::String(StringMatcher {
                        kind: StringKind::Exact(value),
                        ..
                    }),
                    false,
                ) if header.name == ":method" => {
                    out.push_str(value);
                    out.push(' ');
                }
                _ => {}
            }
        }
        out.push_str(&match &self.path {
            PathMatch::Path(path) => format!("path {path}"),
            PathMatch::Prefix(prefix) => format!("prefix {prefix}"),
            PathMatch::PathSeparatedPrefix(prefix) => format!("path_separated_prefix {prefix}"),
            PathMatch::Regex(regex) => format!("regex {}", regex.source),
            PathMatch::Template(template) => format!("template {}", template.as_str()),
        });
        if !self.case_sensitive {
            out.push_str(" (any case)");
        }
        let others = self
            .headers
            .iter()
            .filter(|h| h.name != ":method")
            .map(|h| h.name.as_str())
            .chain(self.query_parameters.iter().map(|q| q.name.as_str()))
            .collect::<Vec<_>>();
        if !others.is_empty() {
            out.push_str(&format!(" + conditions on {}", others.join(", ")));
        }
        out
    }

    /// Whether a request with these headers (pseudo-headers included) matches.
    pub fn matches(&self, headers: &[(Vec<u8>, Vec<u8>)]) -> bool {
        let full_path = headers
            .iter()
            .find(|(name, _)| name.as_slice() == b":path")
            .map(|(_, value)| value.as_slice());
        // `path` is up to the first '?' or '#', as Envoy's removeQueryAndFragment cuts it.
        let (path, query) = split_path(full_path.unwrap_or_default());
        let path_ok = match &self.path {
            PathMatch::Prefix(prefix) => starts_with(path, prefix.as_bytes(), self.case_sensitive),
            PathMatch::PathSeparatedPrefix(prefix) => {
                starts_with(path, prefix.as_bytes(), self.case_sensitive)
                    && matches!(path.get(prefix.len()), None | Some(b'/'))
            }
            PathMatch::Path(exact) => {
                if self.case_sensitive {
                    path == exact.as_bytes()
                } else {
                    path.eq_ignore_ascii_case(exact.as_bytes())
                }
            }
            // Envoy's RegexMatcherImpl: no `:path` (CONNECT), no match.
            PathMatch::Regex(regex) => full_path.is_some() && regex.is_match(path),
            PathMatch::Template(template) => template.matches(path, self.case_sensitive),
        };
        path_ok
            && self.headers.iter().all(|matcher| matcher.matches(headers))
            && self
                .query_parameters
                .iter()
                .all(|matcher| matcher.matches(query))
    }
}

impl HeaderMatcher {
    fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let name = object
            .string("name")?
            .ok_or_else(|| field.error("name is required"))?;
        // Envoy: `min_len: 1`, `well_known_regex: HTTP_HEADER_NAME, strict: false`.
        if name.is_empty() || name.contains(['\0', '\r', '\n']) {
            return Err(field.error(format!("name {name:?} is not a header name")));
        }
        let name = match name.to_ascii_lowercase() {
            host if host == "host" => ":authority".to_owned(),
            name => name,
        };
        let rule = header_rule(&mut object, field)?;
        let invert = object.bool("invert_match")?;
        let treat_missing_as_empty = object.bool("treat_missing_header_as_empty")?;
        object.finish()?;
        Ok(Self {
            name,
            rule,
            invert,
            treat_missing_as_empty,
        })
    }

    fn matches(&self, headers: &[(Vec<u8>, Vec<u8>)]) -> bool {
        let mut values = headers
            .iter()
            .filter(|(name, _)| self.reads(name))
            .map(|(_, value)| value.as_slice())
            .peekable();
        let matched = if values.peek().is_some() {
            values.any(|value| self.rule.matches(value))
        } else if self.treat_missing_as_empty {
            self.rule.matches(b"")
        } else {
            // A missing header matches only a `present_match` that expects absence: inverting
            // any other rule does not make it match (Envoy's HeaderDataBaseImpl).
            return matches!(self.rule, HeaderRule::Present(present) if present == self.invert);
        };
        matched != self.invert
    }

    /// Whether the header called `name` is one this matcher reads.
    fn reads(&self, name: &[u8]) -> bool {
        name.eq_ignore_ascii_case(self.name.as_bytes())
            || (self.name == ":authority" && name.eq_ignore_ascii_case(b"host"))
    }
}

impl HeaderRule {
    /// Whether one value of a present header matches.
    fn matches(&self, value: &[u8]) -> bool {
        match self {
            Self::Present(expected) => *expected,
            Self::Range { start, end } => {
                simple_atoi(value).is_some_and(|number| *start <= number && number < *end)
            }
            Self::String(matcher) => matcher.matches(value),
        }
    }
}

impl QueryMatcher {
    fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let name = object
            .string("name")?
            .ok_or_else(|| field.error("name is required"))?;
        if name.is_empty() || name.len() > MAX_QUERY_NAME_BYTES {
            return Err(field.error(format!("name must have 1 to {MAX_QUERY_NAME_BYTES} bytes")));
        }
        let present = object.take("present_match");
        let string = object.take("string_match");
        let rule = match (present, string) {
            (Some(present), None) => QueryRule::Present(present.bool()?),
            (None, Some(matcher)) => QueryRule::String(StringMatcher::parse(&matcher)?),
            // Envoy: no rule is a presence check.
            (None, None) => QueryRule::Present(true),
            (Some(_), Some(_)) => {
                return Err(field.error("give present_match or string_match, not both"))
            }
        };
        object.finish()?;
        Ok(Self {
            name: name.to_owned(),
            rule,
        })
    }

    fn matches(&self, query: Option<&[u8]>) -> bool {
        // Only the first occurrence of the name counts, as in Envoy.
        let first = query
            .unwrap_or_default()
            .split(|&b| b == b'&')
            .find_map(|pair| {
                let (name, value) = match pair.iter().position(|&b| b == b'=') {
                    Some(equals) => (pair.get(..equals)?, pair.get(equals + 1..)?),
                    None => (pair, &b""[..]),
                };
                (name == self.name.as_bytes()).then_some(value)
            });
        match &self.rule {
            QueryRule::Present(expected) => first.is_some() == *expected,
            QueryRule::String(matcher) => first.is_some_and(|value| matcher.matches(value)),
        }
    }
}

impl StringMatcher {
    pub(crate) fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let ignore_case = object.bool("ignore_case")?;
        let mut kinds = Vec::new();
        for name in ["exact", "prefix", "suffix", "contains"] {
            if let Some(text) = object.string(name)? {
                // Envoy: `min_len: 1` for all but exact.
                if text.is_empty() && name != "exact" {
                    return Err(field.error(format!("{name} must not be empty")));
                }
                let text = text.to_owned();
                kinds.push(match name {
                    "exact" => StringKind::Exact(text),
                    "prefix" => StringKind::Prefix(text),
                    "suffix" => StringKind::Suffix(text),
                    _ => StringKind::Contains(text),
                });
            }
        }
        if let Some(regex) = object.take("safe_regex") {
            if ignore_case {
                // Envoy's own words; it refuses the configuration too.
                return Err(field.error("ignore_case has no effect for safe_regex."));
            }
            kinds.push(StringKind::Regex(Latin1Regex::parse(&regex)?));
        }
        object.finish()?;
        let mut kinds = kinds.into_iter();
        match (kinds.next(), kinds.next()) {
            (Some(kind), None) => Ok(Self { kind, ignore_case }),
            (None, _) => {
                Err(field.error("one of exact, prefix, suffix, contains or safe_regex is required"))
            }
            _ => Err(field
                .error("only one of exact, prefix, suffix, contains or safe_regex may be given")),
        }
    }

    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        let same = |a: &[u8], b: &[u8]| {
            if self.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match &self.kind {
            StringKind::Exact(text) => same(value, text.as_bytes()),
            StringKind::Prefix(text) => value
                .get(..text.len())
                .is_some_and(|head| same(head, text.as_bytes())),
            StringKind::Suffix(text) => value
                .len()
                .checked_sub(text.len())
                .and_then(|start| value.get(start..))
                .is_some_and(|tail| same(tail, text.as_bytes())),
            // `windows(0)` would panic; an empty `contains` is refused at load anyway.
            StringKind::Contains(text) => {
                text.is_empty()
                    || value
                        .windows(text.len())
                        .any(|window| same(window, text.as_bytes()))
            }
            StringKind::Regex(regex) => regex.is_match(value),
        }
    }
}

impl Latin1Regex {
    /// `{"regex": "...", "google_re2": {}}`: the whole value must match (Envoy semantics).
    fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let pattern = object
            .string("regex")?
            .ok_or_else(|| field.error("regex is required"))?;
        if pattern.is_empty() {
            return Err(field.error("regex must not be empty"));
        }
        let _ = object.take("google_re2");
        object.finish()?;
        let latin1 = latin1(pattern.as_bytes());
        let regex = regex_lite::RegexBuilder::new(&format!("^(?:{latin1})$"))
            .size_limit(crate::limits::Limits::DEFAULT.max_regex_program_bytes)
            .build()
            .map_err(|error| field.error(format!("invalid regex: {error}")))?;
        Ok(Self {
            source: pattern.to_owned(),
            regex,
        })
    }

    fn is_match(&self, value: &[u8]) -> bool {
        self.regex.is_match(&latin1(value))
    }
}

/// Each byte as the character of the same number (Latin-1), as RE2 reads text in Envoy. ASCII,
/// the common case, is borrowed; other bytes cost one allocation.
fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => Cow::Owned(bytes.iter().copied().map(char::from).collect()),
    }
}

/// The path specifier `name` given as `value`.
fn path_match(name: &str, value: &Field<'_>) -> Result<PathMatch, ConfigError> {
    Ok(match name {
        "prefix" => PathMatch::Prefix(value.string()?.to_owned()),
        "path" => PathMatch::Path(value.string()?.to_owned()),
        "path_separated_prefix" => {
            let prefix = value.string()?;
            // Envoy's validation: `pattern: "^[^?#]+[^?#/]$"`.
            let characters = prefix.chars().count();
            if characters < 2 || prefix.contains(['?', '#']) || prefix.ends_with('/') {
                return Err(value.error(format!(
                    "{prefix:?} must have at least 2 characters, no '?' or '#', and must not end \
                     with '/'"
                )));
            }
            PathMatch::PathSeparatedPrefix(prefix.to_owned())
        }
        "safe_regex" => PathMatch::Regex(Latin1Regex::parse(value)?),
        _ => PathMatch::Template(
            PathTemplate::parse(value.string()?).map_err(|why| value.error(why))?,
        ),
    })
}

fn list_of_specifiers() -> String {
    match PATH_SPECIFIERS.split_last() {
        Some((last, others)) => format!("{} or {last}", others.join(", ")),
        None => String::new(),
    }
}

/// The value rule of a header matcher: `present_match`, `range_match`, `string_match`, or the
/// deprecated `exact_match`, `prefix_match`, `suffix_match`, `contains_match`,
/// `safe_regex_match`; none is a presence check.
fn header_rule(object: &mut Object<'_>, field: &Field<'_>) -> Result<HeaderRule, ConfigError> {
    let mut rules = Vec::new();
    if let Some(present) = object.take("present_match") {
        rules.push(HeaderRule::Present(present.bool()?));
    }
    if let Some(range) = object.take("range_match") {
        rules.push(range_rule(&range)?);
    }
    if let Some(matcher) = object.take("string_match") {
        rules.push(HeaderRule::String(StringMatcher::parse(&matcher)?));
    }
    for name in [
        "exact_match",
        "prefix_match",
        "suffix_match",
        "contains_match",
    ] {
        let Some(text) = object.take(name) else {
            continue;
        };
        let text = text.string()?.to_owned();
        let kind = match name {
            // Envoy: an empty `exact_match` matches any value of a present header.
            "exact_match" if text.is_empty() => {
                rules.push(HeaderRule::Present(true));
                continue;
            }
            "exact_match" => StringKind::Exact(text),
            _ if text.is_empty() => return Err(field.error(format!("{name} must not be empty"))),
            "prefix_match" => StringKind::Prefix(text),
            "suffix_match" => StringKind::Suffix(text),
            _ => StringKind::Contains(text),
        };
        rules.push(HeaderRule::String(StringMatcher {
            kind,
            ignore_case: false,
        }));
    }
    if let Some(regex) = object.take("safe_regex_match") {
        rules.push(HeaderRule::String(StringMatcher {
            kind: StringKind::Regex(Latin1Regex::parse(&regex)?),
            ignore_case: false,
        }));
    }
    let mut rules = rules.into_iter();
    match (rules.next(), rules.next()) {
        (Some(rule), None) => Ok(rule),
        // Envoy: a matcher with no rule matches when the header is present.
        (None, _) => Ok(HeaderRule::Present(true)),
        _ => Err(field.error("only one match rule may be given")),
    }
}

/// `{"start": N, "end": M}` (int64, as JSON numbers or strings; a missing bound is 0).
fn range_rule(field: &Field<'_>) -> Result<HeaderRule, ConfigError> {
    let mut object = field.object()?;
    let mut bound = |name: &str| -> Result<i64, ConfigError> {
        let Some(value) = object.take(name) else {
            return Ok(0);
        };
        match value.value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| value.error("expected a 64-bit integer"))
    };
    let start = bound("start")?;
    let end = bound("end")?;
    object.finish()?;
    Ok(HeaderRule::Range { start, end })
}

/// `absl::SimpleAtoi` into an `i64`: surrounding ASCII whitespace (`absl::ascii_isspace`), an
/// optional sign, then base-10 digits only; `None` on anything else or on overflow.
fn simple_atoi(value: &[u8]) -> Option<i64> {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = value.iter().position(|b| !space(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |last| last + 1);
    let value = value.get(start..end).unwrap_or_default();
    let (negative, digits) = match value.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, value),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |number, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(digit - b'0');
        let number = number.checked_mul(10)?;
        if negative {
            number.checked_sub(digit)
        } else {
            number.checked_add(digit)
        }
    })
}

fn starts_with(value: &[u8], prefix: &[u8], case_sensitive: bool) -> bool {
    match value.get(..prefix.len()) {
        Some(head) if case_sensitive => head == prefix,
        Some(head) => head.eq_ignore_ascii_case(prefix),
        None => false,
    }
}

#[cfg(test)]
mod tests;
