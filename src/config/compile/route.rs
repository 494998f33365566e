//! A rule's `match` compiled into a [`RouteMatch`], with the checks Envoy's proto validation
//! makes (`min_len`, `path_separated_prefix`'s pattern) and regexes built as RE2 reads them.

use super::super::model::{
    self, HeaderMatchSpecifier, PathSpecifier, QueryParameterMatchSpecifier, StringPattern,
};
use super::super::walk::join;
use super::super::ConfigError;
use crate::limits::Limits;
use crate::policy::route::{
    HeaderMatcher, HeaderRule, Latin1Regex, PathMatch, QueryMatcher, QueryRule, RouteMatch,
    StringKind, StringMatcher,
};
use crate::policy::template::PathTemplate;

/// Longest query parameter name Envoy accepts (`QueryParameterMatcher.name`, `max_bytes`).
const MAX_QUERY_NAME_BYTES: usize = 1024;

/// The `match` at `at`.
pub(crate) fn route_match(route: &model::RouteMatch, at: &str) -> Result<RouteMatch, ConfigError> {
    Ok(RouteMatch {
        path: path_match(&route.path, at)?,
        case_sensitive: route.case_sensitive.unwrap_or(true),
        headers: route
            .headers
            .iter()
            .enumerate()
            .map(|(index, matcher)| header_matcher(matcher, &indexed(at, "headers", index)))
            .collect::<Result<_, _>>()?,
        query_parameters: route
            .query_parameters
            .iter()
            .enumerate()
            .map(|(index, matcher)| query_matcher(matcher, &indexed(at, "query_parameters", index)))
            .collect::<Result<_, _>>()?,
    })
}

/// A `StringMatcher` at `at`.
pub(crate) fn string_matcher(
    matcher: &model::StringMatcher,
    at: &str,
) -> Result<StringMatcher, ConfigError> {
    let kind = match &matcher.pattern {
        StringPattern::Exact(text) => StringKind::Exact(text.clone()),
        StringPattern::SafeRegex(regex) => {
            if matcher.ignore_case {
                // Envoy's own words; it refuses the configuration too.
                return Err(ConfigError::invalid(
                    at,
                    "ignore_case has no effect for safe_regex.",
                ));
            }
            StringKind::Regex(regex_of(regex, &join(at, "safe_regex"))?)
        }
        // Envoy: `min_len: 1` for all but exact.
        StringPattern::Prefix(text)
        | StringPattern::Suffix(text)
        | StringPattern::Contains(text)
            if text.is_empty() =>
        {
            let name = match &matcher.pattern {
                StringPattern::Prefix(_) => "prefix",
                StringPattern::Suffix(_) => "suffix",
                _ => "contains",
            };
            return Err(ConfigError::invalid(
                at,
                format!("{name} must not be empty"),
            ));
        }
        StringPattern::Prefix(text) => StringKind::Prefix(text.clone()),
        StringPattern::Suffix(text) => StringKind::Suffix(text.clone()),
        StringPattern::Contains(text) => StringKind::Contains(text.clone()),
    };
    Ok(StringMatcher {
        kind,
        ignore_case: matcher.ignore_case,
    })
}

fn path_match(path: &PathSpecifier, at: &str) -> Result<PathMatch, ConfigError> {
    Ok(match path {
        PathSpecifier::Prefix(prefix) => PathMatch::Prefix(prefix.clone()),
        PathSpecifier::Path(path) => PathMatch::Path(path.clone()),
        PathSpecifier::PathSeparatedPrefix(prefix) => {
            // Envoy's validation: `pattern: "^[^?#]+[^?#/]$"`.
            if prefix.chars().count() < 2 || prefix.contains(['?', '#']) || prefix.ends_with('/') {
                return Err(ConfigError::invalid(
                    join(at, "path_separated_prefix"),
                    format!(
                        "{prefix:?} must have at least 2 characters, no '?' or '#', and must not \
                         end with '/'"
                    ),
                ));
            }
            PathMatch::PathSeparatedPrefix(prefix.clone())
        }
        PathSpecifier::SafeRegex(regex) => {
            PathMatch::Regex(regex_of(regex, &join(at, "safe_regex"))?)
        }
        PathSpecifier::PathTemplate(template) => PathMatch::Template(
            PathTemplate::parse(template)
                .map_err(|why| ConfigError::invalid(join(at, "path_template"), why))?,
        ),
    })
}

fn header_matcher(matcher: &model::HeaderMatcher, at: &str) -> Result<HeaderMatcher, ConfigError> {
    // Envoy: `min_len: 1`, `well_known_regex: HTTP_HEADER_NAME, strict: false`.
    let name = &matcher.name;
    if name.is_empty() || name.contains(['\0', '\r', '\n']) {
        return Err(ConfigError::invalid(
            at,
            format!("name {name:?} is not a header name"),
        ));
    }
    let string = |kind| {
        HeaderRule::String(StringMatcher {
            kind,
            ignore_case: false,
        })
    };
    let rule = match &matcher.rule {
        // Envoy: a matcher with no rule matches when the header is present, and so does an
        // empty `exact_match`.
        None => HeaderRule::Present(true),
        Some(HeaderMatchSpecifier::ExactMatch(text)) if text.is_empty() => {
            HeaderRule::Present(true)
        }
        Some(HeaderMatchSpecifier::PresentMatch(present)) => HeaderRule::Present(*present),
        Some(HeaderMatchSpecifier::RangeMatch(range)) => HeaderRule::Range {
            start: range.start,
            end: range.end,
        },
        Some(HeaderMatchSpecifier::StringMatch(inner)) => {
            HeaderRule::String(string_matcher(inner, &join(at, "string_match"))?)
        }
        Some(HeaderMatchSpecifier::ExactMatch(text)) => string(StringKind::Exact(text.clone())),
        Some(
            HeaderMatchSpecifier::PrefixMatch(text)
            | HeaderMatchSpecifier::SuffixMatch(text)
            | HeaderMatchSpecifier::ContainsMatch(text),
        ) if text.is_empty() => {
            let name = match &matcher.rule {
                Some(HeaderMatchSpecifier::PrefixMatch(_)) => "prefix_match",
                Some(HeaderMatchSpecifier::SuffixMatch(_)) => "suffix_match",
                _ => "contains_match",
            };
            return Err(ConfigError::invalid(
                at,
                format!("{name} must not be empty"),
            ));
        }
        Some(HeaderMatchSpecifier::PrefixMatch(text)) => string(StringKind::Prefix(text.clone())),
        Some(HeaderMatchSpecifier::SuffixMatch(text)) => string(StringKind::Suffix(text.clone())),
        Some(HeaderMatchSpecifier::ContainsMatch(text)) => {
            string(StringKind::Contains(text.clone()))
        }
        Some(HeaderMatchSpecifier::SafeRegexMatch(regex)) => string(StringKind::Regex(regex_of(
            regex,
            &join(at, "safe_regex_match"),
        )?)),
    };
    Ok(HeaderMatcher::new(
        name,
        rule,
        matcher.invert_match,
        matcher.treat_missing_header_as_empty,
    ))
}

fn query_matcher(
    matcher: &model::QueryParameterMatcher,
    at: &str,
) -> Result<QueryMatcher, ConfigError> {
    if matcher.name.is_empty() || matcher.name.len() > MAX_QUERY_NAME_BYTES {
        return Err(ConfigError::invalid(
            at,
            format!("name must have 1 to {MAX_QUERY_NAME_BYTES} bytes"),
        ));
    }
    let rule = match &matcher.rule {
        Some(QueryParameterMatchSpecifier::PresentMatch(present)) => QueryRule::Present(*present),
        Some(QueryParameterMatchSpecifier::StringMatch(inner)) => {
            QueryRule::String(string_matcher(inner, &join(at, "string_match"))?)
        }
        // Envoy: no rule is a presence check.
        None => QueryRule::Present(true),
    };
    Ok(QueryMatcher {
        name: matcher.name.clone(),
        rule,
    })
}

/// A `RegexMatcher` at `at`: the whole value must match (Envoy semantics).
fn regex_of(regex: &model::RegexMatcher, at: &str) -> Result<Latin1Regex, ConfigError> {
    if regex.regex.is_empty() {
        return Err(ConfigError::invalid(at, "regex must not be empty"));
    }
    Latin1Regex::new(&regex.regex, Limits::DEFAULT.max_regex_program_bytes)
        .map_err(|error| ConfigError::invalid(at, format!("invalid regex: {error}")))
}

/// `at.name[index]`.
fn indexed(at: &str, name: &str, index: usize) -> String {
    format!("{}[{index}]", join(at, name))
}

/// A `match` read from JSON and compiled, as a rule at the root of a document would be.
#[cfg(test)]
pub(crate) fn route_match_from_json(value: &serde_json::Value) -> Result<RouteMatch, ConfigError> {
    let read = super::super::read::route::route_match(&super::super::walk::Field::root(value))?;
    route_match(&read, "")
}
