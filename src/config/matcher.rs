//! Route matching for `rules[].match`: Envoy's RouteMatch subset jwt-gate supports (prefix, path,
//! safe_regex, case_sensitive, headers, query_parameters), over raw header bytes, plus jwt-gate's
//! `path_template` (Google's HTTP path templates, as ESPv2 matches OpenAPI paths). Regexes use RE2
//! syntax (`regex-lite`: ASCII classes, as RE2's `\d`, `\w`, `\s`; no `\p{..}`).

use regex_lite::Regex;

use super::template::PathTemplate;
use super::walk::{Field, Object};
use super::ConfigError;
use crate::extractor::split_path;

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
    Regex(Regex),
    Template(PathTemplate),
}

/// Envoy's HeaderMatcher.
#[derive(Clone, Debug)]
pub struct HeaderMatcher {
    name: String,
    rule: ValueRule,
    invert: bool,
    treat_missing_as_empty: bool,
}

#[derive(Clone, Debug)]
struct QueryMatcher {
    name: String,
    rule: ValueRule,
}

#[derive(Clone, Debug)]
enum ValueRule {
    Present(bool),
    String(StringMatcher),
}

/// Envoy's StringMatcher.
#[derive(Clone, Debug)]
pub struct StringMatcher {
    kind: StringKind,
    ignore_case: bool,
}

#[derive(Clone, Debug)]
enum StringKind {
    Contains(String),
    Exact(String),
    Prefix(String),
    Regex(Regex),
    Suffix(String),
}

impl RouteMatch {
    pub(crate) fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let specifiers = ["prefix", "path", "safe_regex", "path_template"];
        let given: Vec<&str> = specifiers.into_iter().filter(|s| object.has(s)).collect();
        let path = match given.as_slice() {
            ["prefix"] => {
                PathMatch::Prefix(object.string("prefix")?.unwrap_or_default().to_owned())
            }
            ["path"] => PathMatch::Path(object.string("path")?.unwrap_or_default().to_owned()),
            ["safe_regex"] => match object.take("safe_regex") {
                Some(regex) => PathMatch::Regex(regex_matcher(&regex)?),
                None => return Err(field.error("safe_regex is missing")),
            },
            ["path_template"] => match object.take("path_template") {
                Some(template) => PathMatch::Template(
                    PathTemplate::parse(template.string()?).map_err(|why| template.error(why))?,
                ),
                None => return Err(field.error("path_template is missing")),
            },
            [] => {
                object.finish()?;
                return Err(
                    field.error("one of prefix, path, safe_regex or path_template is required")
                );
            }
            _ => {
                return Err(field
                    .error("only one of prefix, path, safe_regex or path_template may be given"))
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
                    ValueRule::String(StringMatcher {
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
            PathMatch::Regex(regex) => format!("regex {}", regex.as_str()),
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
        let full_path = header_value(headers, ":path").unwrap_or_default();
        let (path, query) = split_path(&full_path);
        let path_ok = match &self.path {
            PathMatch::Prefix(prefix) => {
                starts_with(&full_path, prefix.as_bytes(), self.case_sensitive)
            }
            PathMatch::Path(exact) => {
                if self.case_sensitive {
                    path == exact.as_bytes()
                } else {
                    path.eq_ignore_ascii_case(exact.as_bytes())
                }
            }
            // Envoy refuses non-UTF-8 paths; a non-UTF-8 header value matches no regex.
            PathMatch::Regex(regex) => std::str::from_utf8(path).is_ok_and(|p| regex.is_match(p)),
            PathMatch::Template(template) => template.matches(path, self.case_sensitive),
        };
        path_ok
            && self.headers.iter().all(|matcher| matcher.matches(headers))
            && self
                .query_parameters
                .iter()
                .all(|matcher| matcher.matches(query.unwrap_or_default()))
    }
}

impl HeaderMatcher {
    fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let name = object
            .string("name")?
            .ok_or_else(|| field.error("name is required"))?
            .to_ascii_lowercase();
        let rule = value_rule(&mut object, field, true)?;
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
        let value = header_value(headers, &self.name);
        let matched = match (&value, &self.rule) {
            (None, _) if self.treat_missing_as_empty => self.rule.matches(Some(b"")),
            (None, ValueRule::Present(expected)) => !expected,
            (None, ValueRule::String(_)) => return false,
            (Some(value), rule) => rule.matches(Some(value)),
        };
        matched != self.invert
    }
}

impl QueryMatcher {
    fn parse(field: &Field<'_>) -> Result<Self, ConfigError> {
        let mut object = field.object()?;
        let name = object
            .string("name")?
            .ok_or_else(|| field.error("name is required"))?
            .to_owned();
        let rule = value_rule(&mut object, field, false)?;
        object.finish()?;
        Ok(Self { name, rule })
    }

    fn matches(&self, query: &[u8]) -> bool {
        let value = query.split(|&b| b == b'&').find_map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            (halves.next() == Some(self.name.as_bytes())).then(|| halves.next().unwrap_or_default())
        });
        match (value, &self.rule) {
            (None, ValueRule::Present(expected)) => !expected,
            (None, ValueRule::String(_)) => false,
            (Some(value), rule) => rule.matches(Some(value)),
        }
    }
}

impl ValueRule {
    fn matches(&self, value: Option<&[u8]>) -> bool {
        match (self, value) {
            (Self::Present(expected), value) => value.is_some() == *expected,
            (Self::String(matcher), Some(value)) => matcher.matches(value),
            (Self::String(_), None) => false,
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
                let text = if ignore_case {
                    text.to_ascii_lowercase()
                } else {
                    text.to_owned()
                };
                kinds.push(match name {
                    "exact" => StringKind::Exact(text),
                    "prefix" => StringKind::Prefix(text),
                    "suffix" => StringKind::Suffix(text),
                    _ => StringKind::Contains(text),
                });
            }
        }
        if let Some(regex) = object.take("safe_regex") {
            kinds.push(StringKind::Regex(regex_matcher(&regex)?));
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
        let lowered;
        let value = if self.ignore_case && !matches!(self.kind, StringKind::Regex(_)) {
            lowered = value.to_ascii_lowercase();
            &lowered[..]
        } else {
            value
        };
        match &self.kind {
            StringKind::Exact(text) => value == text.as_bytes(),
            StringKind::Prefix(text) => value.starts_with(text.as_bytes()),
            StringKind::Suffix(text) => value.ends_with(text.as_bytes()),
            StringKind::Contains(text) => {
                text.is_empty()
                    || value
                        .windows(text.len())
                        .any(|window| window == text.as_bytes())
            }
            StringKind::Regex(regex) => std::str::from_utf8(value).is_ok_and(|v| regex.is_match(v)),
        }
    }
}

/// The value rule of a header or query parameter matcher: `present_match`, `string_match`, or
/// (headers only) the deprecated `exact_match`, `prefix_match`, `suffix_match`, `contains_match`,
/// `safe_regex_match`.
fn value_rule(
    object: &mut Object<'_>,
    field: &Field<'_>,
    legacy: bool,
) -> Result<ValueRule, ConfigError> {
    let mut rules = Vec::new();
    if let Some(present) = object.take("present_match") {
        rules.push(ValueRule::Present(present.bool()?));
    }
    if let Some(matcher) = object.take("string_match") {
        rules.push(ValueRule::String(StringMatcher::parse(&matcher)?));
    }
    if legacy {
        for (name, kind) in [
            ("exact_match", "exact"),
            ("prefix_match", "prefix"),
            ("suffix_match", "suffix"),
            ("contains_match", "contains"),
        ] {
            if let Some(text) = object.take(name) {
                let text = text.string()?.to_owned();
                rules.push(ValueRule::String(StringMatcher {
                    kind: match kind {
                        "exact" => StringKind::Exact(text),
                        "prefix" => StringKind::Prefix(text),
                        "suffix" => StringKind::Suffix(text),
                        _ => StringKind::Contains(text),
                    },
                    ignore_case: false,
                }));
            }
        }
        if let Some(regex) = object.take("safe_regex_match") {
            rules.push(ValueRule::String(StringMatcher {
                kind: StringKind::Regex(regex_matcher(&regex)?),
                ignore_case: false,
            }));
        }
    }
    let mut rules = rules.into_iter();
    match (rules.next(), rules.next()) {
        (Some(rule), None) => Ok(rule),
        // Envoy: a matcher with no rule matches when the header is present.
        (None, _) => Ok(ValueRule::Present(true)),
        _ => Err(field.error("only one match rule may be given")),
    }
}

/// `{"regex": "...", "google_re2": {}}`: the whole value must match (Envoy semantics).
fn regex_matcher(field: &Field<'_>) -> Result<Regex, ConfigError> {
    let mut object = field.object()?;
    let pattern = object
        .string("regex")?
        .ok_or_else(|| field.error("regex is required"))?;
    let _ = object.take("google_re2");
    object.finish()?;
    regex_lite::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|error| field.error(format!("invalid regex: {error}")))
}

fn header_value(headers: &[(Vec<u8>, Vec<u8>)], name: &str) -> Option<Vec<u8>> {
    let values: Vec<&[u8]> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
        .collect();
    (!values.is_empty()).then(|| values.join(&b','))
}

fn starts_with(value: &[u8], prefix: &[u8], case_sensitive: bool) -> bool {
    match value.get(..prefix.len()) {
        Some(head) if case_sensitive => head == prefix,
        Some(head) => head.eq_ignore_ascii_case(prefix),
        None => false,
    }
}
