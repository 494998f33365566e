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

use super::template::PathTemplate;
use crate::request::{split_path, Header};

/// A compiled `match` (built by `config`'s compile step).
#[derive(Clone, Debug)]
pub struct RouteMatch {
    pub(crate) path: PathMatch,
    pub(crate) case_sensitive: bool,
    pub(crate) headers: Vec<HeaderMatcher>,
    pub(crate) query_parameters: Vec<QueryMatcher>,
}

/// The path specifier.
#[derive(Clone, Debug)]
pub(crate) enum PathMatch {
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

/// What a header matcher asks of each value.
#[derive(Clone, Debug)]
pub(crate) enum HeaderRule {
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
pub(crate) struct QueryMatcher {
    pub(crate) name: String,
    pub(crate) rule: QueryRule,
}

/// What a query parameter matcher asks of the first value.
#[derive(Clone, Debug)]
pub(crate) enum QueryRule {
    Present(bool),
    String(StringMatcher),
}

/// Envoy's StringMatcher.
#[derive(Clone, Debug)]
pub struct StringMatcher {
    pub(crate) kind: StringKind,
    /// ASCII case folding for exact, prefix, suffix and contains (Envoy refuses it with a regex).
    pub(crate) ignore_case: bool,
}

/// A string matcher's pattern.
#[derive(Clone, Debug)]
pub(crate) enum StringKind {
    Contains(String),
    Exact(String),
    Prefix(String),
    Regex(Latin1Regex),
    Suffix(String),
}

/// An RE2-syntax regex that must match a whole value, byte by byte as RE2 does in Envoy.
#[derive(Clone, Debug)]
pub(crate) struct Latin1Regex {
    /// The pattern as configured, for people.
    source: String,
    regex: Regex,
}

impl RouteMatch {
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
    pub fn matches(&self, headers: &[Header<'_>]) -> bool {
        let full_path = headers
            .iter()
            .find(|(name, _)| *name == b":path")
            .map(|(_, value)| *value);
        self.matches_with_path(headers, full_path)
    }

    /// [`Self::matches`] with `full_path` as the request's `:path`, wherever a matcher reads it:
    /// the one the caller found once for every rule, or another form of it (percent-decoded),
    /// without copying the headers.
    pub fn matches_with_path(&self, headers: &[Header<'_>], full_path: Option<&[u8]>) -> bool {
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
            && self
                .headers
                .iter()
                .all(|matcher| matcher.matches(headers, full_path))
            && self
                .query_parameters
                .iter()
                .all(|matcher| matcher.matches(query))
    }
}

impl HeaderMatcher {
    /// A matcher on header `name` (any case; `host` reads `:authority`, as Envoy's header map
    /// has it).
    pub(crate) fn new(
        name: &str,
        rule: HeaderRule,
        invert: bool,
        treat_missing_as_empty: bool,
    ) -> Self {
        let name = match name.to_ascii_lowercase() {
            host if host == "host" => ":authority".to_owned(),
            name => name,
        };
        Self {
            name,
            rule,
            invert,
            treat_missing_as_empty,
        }
    }

    /// `full_path` stands for the value of `:path`.
    fn matches(&self, headers: &[Header<'_>], full_path: Option<&[u8]>) -> bool {
        let mut values = headers
            .iter()
            .filter(|(name, _)| self.reads(name))
            .map(|(name, value)| match *name {
                b":path" => full_path.unwrap_or(value),
                _ => *value,
            })
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
    /// `pattern` (RE2 syntax), which must match a whole value (Envoy semantics), compiled to at
    /// most `size_limit` bytes; the error says why it cannot be.
    pub(crate) fn new(pattern: &str, size_limit: usize) -> Result<Self, regex_lite::Error> {
        let latin1 = latin1(pattern.as_bytes());
        let regex = regex_lite::RegexBuilder::new(&format!("^(?:{latin1})$"))
            .size_limit(size_limit)
            .build()?;
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
