//! A rule's `match` (Envoy's `RouteMatch`, jwt-gate's `path_template`) and the matchers in it,
//! read as written.

use super::super::model::{
    HeaderMatchSpecifier, HeaderMatcher, Int64Range, PathSpecifier, QueryParameterMatchSpecifier,
    QueryParameterMatcher, RegexMatcher, RouteMatch, StringMatcher, StringPattern,
};
use super::super::walk::{one_of, optional, Field, Object};
use super::super::ConfigError;

/// `rules[].match`.
pub(crate) fn route_match(field: &Field<'_>) -> Result<RouteMatch, ConfigError> {
    let mut object = field.object()?;
    let given: Vec<&str> = PathSpecifier::NAMES
        .into_iter()
        .filter(|name| object.has(name))
        .collect();
    let path = match given.as_slice() {
        [name] => match object.take(name) {
            Some(value) => path_specifier(name, &value)?,
            None => return Err(field.required(format!("{name} is missing"))),
        },
        [] => {
            object.finish()?;
            return Err(field.required(format!(
                "one of {} is required",
                listed(&PathSpecifier::NAMES)
            )));
        }
        _ => {
            return Err(field.conflict(format!(
                "only one of {} may be given",
                listed(&PathSpecifier::NAMES)
            )))
        }
    };
    let route = RouteMatch {
        path,
        case_sensitive: optional(&mut object, "case_sensitive", Field::bool)?,
        headers: object
            .list("headers")?
            .iter()
            .map(header_matcher)
            .collect::<Result<_, _>>()?,
        query_parameters: object
            .list("query_parameters")?
            .iter()
            .map(query_parameter_matcher)
            .collect::<Result<_, _>>()?,
    };
    object.finish()?;
    Ok(route)
}

/// Envoy's `StringMatcher`: exactly one pattern, and `ignore_case`.
pub(crate) fn string_matcher(field: &Field<'_>) -> Result<StringMatcher, ConfigError> {
    let mut object = field.object()?;
    let ignore_case = object.bool("ignore_case")?;
    let mut patterns = Vec::new();
    for name in StringPattern::NAMES {
        let Some(value) = object.take(name) else {
            continue;
        };
        patterns.push(match name {
            "safe_regex" => StringPattern::SafeRegex(regex_matcher(&value)?),
            _ => {
                let text = value.string()?.to_owned();
                match name {
                    "exact" => StringPattern::Exact(text),
                    "prefix" => StringPattern::Prefix(text),
                    "suffix" => StringPattern::Suffix(text),
                    _ => StringPattern::Contains(text),
                }
            }
        });
    }
    object.finish()?;
    let listed = listed(&StringPattern::NAMES);
    match one_of(
        patterns,
        field,
        format!("only one of {listed} may be given"),
    )? {
        Some(pattern) => Ok(StringMatcher {
            pattern,
            ignore_case,
        }),
        None => Err(field.required(format!("one of {listed} is required"))),
    }
}

/// The path specifier `name` given as `value`.
fn path_specifier(name: &str, value: &Field<'_>) -> Result<PathSpecifier, ConfigError> {
    Ok(match name {
        "safe_regex" => PathSpecifier::SafeRegex(regex_matcher(value)?),
        "prefix" => PathSpecifier::Prefix(value.string()?.to_owned()),
        "path" => PathSpecifier::Path(value.string()?.to_owned()),
        "path_separated_prefix" => PathSpecifier::PathSeparatedPrefix(value.string()?.to_owned()),
        _ => PathSpecifier::PathTemplate(value.string()?.to_owned()),
    })
}

/// Envoy's `HeaderMatcher`.
fn header_matcher(field: &Field<'_>) -> Result<HeaderMatcher, ConfigError> {
    let mut object = field.object()?;
    let name = object
        .string("name")?
        .ok_or_else(|| field.required("name is required"))?
        .to_owned();
    let rule = header_rule(&mut object, field)?;
    let matcher = HeaderMatcher {
        name,
        rule,
        invert_match: object.bool("invert_match")?,
        treat_missing_header_as_empty: object.bool("treat_missing_header_as_empty")?,
    };
    object.finish()?;
    Ok(matcher)
}

/// The value rule of a header matcher: `present_match`, `range_match`, `string_match`, or the
/// deprecated `exact_match`, `prefix_match`, `suffix_match`, `contains_match`,
/// `safe_regex_match`; none is a presence check.
fn header_rule(
    object: &mut Object<'_>,
    field: &Field<'_>,
) -> Result<Option<HeaderMatchSpecifier>, ConfigError> {
    let mut rules = Vec::new();
    if let Some(present) = object.take("present_match") {
        rules.push(HeaderMatchSpecifier::PresentMatch(present.bool()?));
    }
    if let Some(range) = object.take("range_match") {
        rules.push(HeaderMatchSpecifier::RangeMatch(range_match(&range)?));
    }
    if let Some(matcher) = object.take("string_match") {
        rules.push(HeaderMatchSpecifier::StringMatch(string_matcher(&matcher)?));
    }
    for (name, rule) in [
        (
            "exact_match",
            HeaderMatchSpecifier::ExactMatch as fn(String) -> _,
        ),
        ("prefix_match", HeaderMatchSpecifier::PrefixMatch),
        ("suffix_match", HeaderMatchSpecifier::SuffixMatch),
        ("contains_match", HeaderMatchSpecifier::ContainsMatch),
    ] {
        if let Some(text) = object.take(name) {
            rules.push(rule(text.string()?.to_owned()));
        }
    }
    if let Some(regex) = object.take("safe_regex_match") {
        rules.push(HeaderMatchSpecifier::SafeRegexMatch(regex_matcher(&regex)?));
    }
    one_of(rules, field, "only one match rule may be given")
}

/// `{"start": N, "end": M}` (int64, as JSON numbers or strings; a missing bound is 0).
fn range_match(field: &Field<'_>) -> Result<Int64Range, ConfigError> {
    let mut object = field.object()?;
    let range = Int64Range {
        start: optional(&mut object, "start", Field::i64)?.unwrap_or_default(),
        end: optional(&mut object, "end", Field::i64)?.unwrap_or_default(),
    };
    object.finish()?;
    Ok(range)
}

/// Envoy's `QueryParameterMatcher`.
fn query_parameter_matcher(field: &Field<'_>) -> Result<QueryParameterMatcher, ConfigError> {
    let mut object = field.object()?;
    let name = object
        .string("name")?
        .ok_or_else(|| field.required("name is required"))?
        .to_owned();
    let present = optional(&mut object, "present_match", Field::bool)?
        .map(QueryParameterMatchSpecifier::PresentMatch);
    let string = optional(&mut object, "string_match", string_matcher)?
        .map(QueryParameterMatchSpecifier::StringMatch);
    let rule = one_of(
        present.into_iter().chain(string).collect(),
        field,
        "give present_match or string_match, not both",
    )?;
    object.finish()?;
    Ok(QueryParameterMatcher { name, rule })
}

/// `{"regex": "...", "google_re2": {}}`.
fn regex_matcher(field: &Field<'_>) -> Result<RegexMatcher, ConfigError> {
    let mut object = field.object()?;
    let regex = object
        .string("regex")?
        .ok_or_else(|| field.required("regex is required"))?
        .to_owned();
    let _ = object.take("google_re2");
    object.finish()?;
    Ok(RegexMatcher { regex })
}

/// `a, b or c`.
fn listed(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, others)) => format!("{} or {last}", others.join(", ")),
        None => String::new(),
    }
}
