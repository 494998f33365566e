//! Issuer templates: an issuer whose path has `{name}` segments
//! (`https://login.microsoftonline.com/{tid}/v2.0`), as a provider's `issuer` (each `{name}` binds
//! the claim `name`) and as the `issuer` member Microsoft Entra ID puts on each key of its common
//! key set (`https://login.microsoftonline.com/{tenantid}/v2.0`). A `{name}` stands for exactly
//! one non-empty path segment: no `/`, `?` or `#`. The scheme and host are always literal.

/// An issuer, literal or with `{name}` path segments.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IssuerTemplate {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, Eq, PartialEq)]
enum Part {
    Literal(String),
    Segment(String),
}

/// Longest placeholder name (a claim name).
const MAX_NAME_BYTES: usize = 64;

/// Most placeholders in one template.
const MAX_SEGMENTS: usize = 8;

impl IssuerTemplate {
    /// Parses `text`. Without `{` or `}` it is a literal issuer. A placeholder must be a whole
    /// path segment (after `scheme://host/`, followed by `/` or the end), named with letters,
    /// digits, `_` or `-`, each name once.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.contains(['{', '}']) {
            return Ok(Self {
                text: text.to_owned(),
                parts: vec![Part::Literal(text.to_owned())],
            });
        }
        let path_start = text
            .find("://")
            .and_then(|scheme| {
                let after = scheme + 3;
                text.get(after..)?.find('/').map(|slash| after + slash)
            })
            .ok_or("a template must be a URL with {name} in its path (scheme://host/{name}/...)")?;
        let (origin, path) = text.split_at(path_start);
        if origin.contains(['{', '}']) {
            return Err("the scheme and host of a template must be literal".to_owned());
        }
        let mut parts = vec![Part::Literal(origin.to_owned())];
        let mut names: Vec<&str> = Vec::new();
        let mut literal = String::new();
        // `path` starts with `/`; each segment is literal or one whole `{name}`.
        for segment in path.split('/').skip(1) {
            literal.push('/');
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let valid = !name.is_empty()
                        && name.len() <= MAX_NAME_BYTES
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if !valid {
                        return Err(format!(
                            "{{{name}}}: a placeholder is named with letters, digits, '_' or '-'"
                        ));
                    }
                    if names.contains(&name) {
                        return Err(format!("{{{name}}} is given twice"));
                    }
                    names.push(name);
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                    parts.push(Part::Segment(name.to_owned()));
                }
                None if segment.contains(['{', '}']) => {
                    return Err(format!(
                        "{segment:?}: a placeholder is a whole path segment, such as /{{tid}}/"
                    ));
                }
                None => literal.push_str(segment),
            }
        }
        if names.len() > MAX_SEGMENTS {
            return Err(format!("at most {MAX_SEGMENTS} placeholders"));
        }
        parts.push(Part::Literal(literal));
        parts.retain(|part| !matches!(part, Part::Literal(text) if text.is_empty()));
        Ok(Self {
            text: text.to_owned(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it has placeholders (else it matches one issuer exactly).
    pub fn is_template(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Segment(_)))
    }

    /// The placeholder names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Segment(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// If `issuer` matches, what each placeholder matched, in order: (name, segment).
    pub fn captures<'i>(&self, issuer: &'i str) -> Option<Vec<(&str, &'i str)>> {
        let mut rest = issuer;
        let mut captures = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                Part::Segment(name) => {
                    let end = rest.find('/').unwrap_or(rest.len());
                    let (value, after) = rest.split_at(end);
                    if value.is_empty() || value.contains(['?', '#']) {
                        return None;
                    }
                    captures.push((name.as_str(), value));
                    rest = after;
                }
            }
        }
        rest.is_empty().then_some(captures)
    }

    /// Whether `issuer` matches.
    pub fn matches(&self, issuer: &str) -> bool {
        self.captures(issuer).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRA: &str = "https://login.microsoftonline.com/{tid}/v2.0";

    #[test]
    fn a_placeholder_is_one_non_empty_segment() {
        let template = IssuerTemplate::parse(ENTRA).unwrap();
        assert!(template.is_template());
        assert_eq!(template.names().collect::<Vec<_>>(), ["tid"]);
        assert_eq!(
            template.captures("https://login.microsoftonline.com/72f988bf/v2.0"),
            Some(vec![("tid", "72f988bf")])
        );
        for other in [
            "https://login.microsoftonline.com//v2.0",
            "https://login.microsoftonline.com/a/b/v2.0",
            "https://login.microsoftonline.com/a?x/v2.0",
            "https://login.microsoftonline.com/a#x/v2.0",
            "https://login.microsoftonline.com/a/v2.0/",
            "https://login.microsoftonline.com/a/v2.1",
            "https://login.microsoftonline.com.evil/a/v2.0",
            "http://login.microsoftonline.com/a/v2.0",
            "",
        ] {
            assert_eq!(template.captures(other), None, "{other}");
        }
        let last = IssuerTemplate::parse("https://sts.example/{tenant}").unwrap();
        assert_eq!(
            last.captures("https://sts.example/acme"),
            Some(vec![("tenant", "acme")])
        );
        assert!(!last.matches("https://sts.example/acme/"));
        let two = IssuerTemplate::parse("https://idp.example/{org}/realms/{realm}/").unwrap();
        assert_eq!(
            two.captures("https://idp.example/o1/realms/r1/"),
            Some(vec![("org", "o1"), ("realm", "r1")])
        );
    }

    #[test]
    fn literal_issuers_match_exactly() {
        let literal = IssuerTemplate::parse("https://issuer.test/").unwrap();
        assert!(!literal.is_template());
        assert!(literal.matches("https://issuer.test/"));
        assert!(!literal.matches("https://issuer.test"));
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "https://{tenant}.example/",
            "https://login.example/x{tid}/v2.0",
            "https://login.example/{tid}x/v2.0",
            "https://login.example/{}/v2.0",
            "https://login.example/{t.id}/v2.0",
            "https://login.example/{tid}/{tid}",
            "https://login.example/{tid/v2.0",
            "https://login.example/tid}/v2.0",
            "{tid}",
        ] {
            assert!(IssuerTemplate::parse(bad).is_err(), "{bad}");
        }
        assert!(IssuerTemplate::parse("https://login.example").is_ok());
    }
}
