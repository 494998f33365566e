//! HTTP path templates, as Google's API infrastructure (ESP, ESPv2, `google.api.http`) and
//! OpenAPI write them: `/v1/shelves/{shelf}/books/{book}`, `/v1/{name=shelves/*/books/*}`,
//! `/v1/files/{path=**}`, `/v1/*/items`, `/v1/things:verb`.
//!
//! Matching follows ESPv2's generated routes: literal segments compare exactly, `*` and `{var}`
//! match one non-empty segment, `**` matches any number of segments and must come last, and a
//! single trailing `/` on the request path is ignored (before a `:verb`, ESPv2 accepts it before
//! the verb, `/{id}/:verb`; jwt-gate does not). Matching never allocates.
//! [`backend_readings`] gives the other paths a backend may route a request to (decoded, without
//! `;` parameters, without a trailing `/`), for the authenticator to refuse a request they would
//! send elsewhere.

use std::cmp::Reverse;

/// A compiled path template.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    verb: Option<String>,
}

#[derive(Clone, Debug, Eq, PartialEq)]
enum Segment {
    Literal(String),
    /// `*` or `{var}`: one non-empty segment.
    One,
    /// `prefix{var}suffix`: one segment with this text around a non-empty variable part.
    Partial {
        prefix: String,
        suffix: String,
    },
    /// `**`: the rest of the path, possibly nothing.
    Rest,
}

/// [`PathTemplate::specificity`]: per segment (kind, longer text first, text), then "no verb".
pub type Specificity<'a> = (Vec<(u8, Reverse<usize>, &'a str)>, bool);

/// Longest template accepted, in bytes.
const MAX_TEMPLATE_LEN: usize = 4096;

impl PathTemplate {
    /// Parses a template; the error says what is wrong with it.
    pub fn parse(template: &str) -> Result<Self, String> {
        if template.len() > MAX_TEMPLATE_LEN {
            return Err(format!("longer than {MAX_TEMPLATE_LEN} bytes"));
        }
        let Some(rest) = template.strip_prefix('/') else {
            return Err(format!("{template:?} must start with '/'"));
        };
        // A trailing '/' is ignored when matching, so `/v1/items/` is `/v1/items`.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        // The verb is what follows the last ':' outside braces, after the last '/'.
        let mut depth = 0usize;
        let mut verb_at = None;
        for (index, byte) in rest.bytes().enumerate() {
            match byte {
                b'{' => depth += 1,
                b'}' => depth = depth.saturating_sub(1),
                b'/' if depth == 0 => verb_at = None,
                b':' if depth == 0 => verb_at = Some(index),
                _ => {}
            }
        }
        let (body, verb) = match verb_at {
            Some(at) => {
                let verb = rest.get(at + 1..).unwrap_or_default();
                if verb.is_empty() || verb.contains(['{', '}', '/', '*']) {
                    return Err(format!("{template:?} has an invalid verb"));
                }
                (rest.get(..at).unwrap_or_default(), Some(verb.to_owned()))
            }
            None => (rest, None),
        };

        let bad = |why: &str| format!("{template:?}: {why}");
        let mut segments = Vec::new();
        let mut start = 0;
        while !body.is_empty() {
            // One segment: a variable `{...}` or text up to the next '/'.
            let tail = body.get(start..).unwrap_or_default();
            if let Some(open) = tail.strip_prefix('{') {
                let close = open.find('}').ok_or_else(|| bad("unclosed '{'"))?;
                let after = open.get(close + 1..).unwrap_or_default();
                if after.is_empty() || after.starts_with('/') {
                    variable(open.get(..close).unwrap_or_default(), &mut segments)
                        .map_err(|why| bad(&why))?;
                    if after.is_empty() {
                        break;
                    }
                    start += close + 3;
                    continue;
                }
                // `{name}.json`: a variable with text around it, within one segment.
            }
            let end = tail.find('/').unwrap_or(tail.len());
            let text = tail.get(..end).unwrap_or_default();
            let segment = if text.contains('{') {
                partial(text)
            } else {
                literal_or_wildcard(text)
            };
            segments.push(segment.map_err(|why| bad(&why))?);
            if end == tail.len() {
                break;
            }
            start += end + 1;
        }
        if let Some(position) = segments.iter().position(|s| *s == Segment::Rest) {
            if position + 1 != segments.len() {
                return Err(bad("'**' may only be the last segment"));
            }
        }
        Ok(Self {
            source: template.to_owned(),
            segments,
            verb,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `path` (the request path without its query string) matches.
    pub fn matches(&self, path: &[u8], case_sensitive: bool) -> bool {
        let Some(mut rest) = path.strip_prefix(b"/") else {
            return false;
        };
        if let Some(verb) = &self.verb {
            let suffix_len = verb.len() + 1;
            let Some(split) = rest.len().checked_sub(suffix_len) else {
                return false;
            };
            let (head, tail) = rest.split_at(split);
            match tail.split_first() {
                Some((b':', name)) if equal(name, verb.as_bytes(), case_sensitive) => {}
                _ => return false,
            }
            rest = head;
        } else if let Some(trimmed) = rest.strip_suffix(b"/") {
            // One trailing slash is ignored.
            rest = trimmed;
        }
        let mut parts = (!rest.is_empty()).then(|| rest.split(|&b| b == b'/'));
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One => match parts.as_mut().and_then(Iterator::next) {
                    Some(part) if !part.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(text) => match parts.as_mut().and_then(Iterator::next) {
                    Some(part) if equal(part, text.as_bytes(), case_sensitive) => {}
                    _ => return false,
                },
                Segment::Partial { prefix, suffix } => {
                    let Some(part) = parts.as_mut().and_then(Iterator::next) else {
                        return false;
                    };
                    let fits = part.len() > prefix.len() + suffix.len()
                        && part
                            .get(..prefix.len())
                            .is_some_and(|p| equal(p, prefix.as_bytes(), case_sensitive))
                        && part
                            .get(part.len() - suffix.len()..)
                            .is_some_and(|s| equal(s, suffix.as_bytes(), case_sensitive));
                    if !fits {
                        return false;
                    }
                }
            }
        }
        parts.is_none_or(|mut parts| parts.next().is_none())
    }

    /// Ordering key for "more specific first" (ESPv2's route order): literal segments before
    /// partial ones (`{name}.json`, longer text first), before `{var}`/`*`, before `**`, segment
    /// by segment; at equal segments, a template with a `:verb` first.
    pub fn specificity(&self) -> Specificity<'_> {
        let segments = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => (0, Reverse(0), text.as_str()),
                Segment::Partial { prefix, suffix } => {
                    (1, Reverse(prefix.len() + suffix.len()), prefix.as_str())
                }
                Segment::One => (2, Reverse(0), ""),
                Segment::Rest => (3, Reverse(0), ""),
            })
            .collect();
        (segments, self.verb.is_none())
    }

    /// Whether two templates match exactly the same paths (variable names aside).
    pub fn same_pattern(&self, other: &Self) -> bool {
        self.segments == other.segments && self.verb == other.verb
    }
}

/// How backends may read a request path otherwise than as sent, for the rules to be asked again:
/// [`BackendReadings::paths`] are the other readings, [`BackendReadings::encoded_slash`] says the
/// path has a `%2F`, which no reading makes safe (one backend sees one segment `a/b`, another two,
/// a third resolves `%2F..%2F` to another directory).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct BackendReadings {
    /// Each distinct `:path` (query string unchanged) a backend may route, other than as sent.
    pub paths: Vec<Vec<u8>>,
    /// The path part has `%2F` (or `%2f`).
    pub encoded_slash: bool,
}

/// The readings of `full_path` (a `:path`, with its query string) that backends are known to
/// route on: percent-decoded (most frameworks decode before routing); without `;` parameters in
/// each segment (servlet containers and Spring drop them: `1:purge;x` is `1:purge`); without one
/// trailing `/` (frameworks that ignore it, where a `:verb` template does not); and their
/// combinations, in either order of decoding and dropping parameters.
pub fn backend_readings(full_path: &[u8]) -> BackendReadings {
    let (path, query) = full_path.split_at(path_end(full_path));
    let encoded_slash = path.windows(3).any(|w| w.eq_ignore_ascii_case(b"%2f"));
    // The usual path reads one way only: nothing to decode, drop or trim.
    let trailing_slash = path.len() > 1 && path.ends_with(b"/");
    if !(path.contains(&b'%') || path.contains(&b';') || trailing_slash) {
        return BackendReadings::default();
    }
    let decode = |p: &[u8]| decode_path(p).unwrap_or_else(|| p.to_vec());
    let trim = |p: &[u8]| match p.strip_suffix(b"/") {
        Some(trimmed) if !trimmed.is_empty() => trimmed.to_vec(),
        _ => p.to_vec(),
    };
    let decoded = decode(path);
    let stripped = without_parameters(path);
    let decoded_stripped = without_parameters(&decoded);
    let stripped_decoded = decode(&stripped);
    let candidates = [
        trim(path),
        trim(&decoded),
        trim(&stripped),
        trim(&decoded_stripped),
        trim(&stripped_decoded),
        decoded,
        stripped,
        decoded_stripped,
        stripped_decoded,
    ];
    let mut paths: Vec<Vec<u8>> = Vec::new();
    for candidate in candidates {
        if candidate != path && !paths.contains(&candidate) {
            paths.push(candidate);
        }
    }
    for reading in &mut paths {
        reading.extend_from_slice(query);
    }
    BackendReadings {
        paths,
        encoded_slash,
    }
}

/// Where the path part of a `:path` ends: at its query string or fragment.
fn path_end(full_path: &[u8]) -> usize {
    full_path
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(full_path.len())
}

/// A path with each segment's `;` parameters removed (`/a;x=1/b;y` is `/a/b`).
fn without_parameters(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for (index, segment) in path.split(|&b| b == b'/').enumerate() {
        if index > 0 {
            out.push(b'/');
        }
        let kept = segment.split(|&b| b == b';').next().unwrap_or_default();
        out.extend_from_slice(kept);
    }
    out
}

/// A path part, percent-decoded (`%3F` and `%23` kept); `None` when decoding changes nothing.
fn decode_path(path: &[u8]) -> Option<Vec<u8>> {
    if !path.contains(&b'%') {
        return None;
    }
    let mut out = Vec::with_capacity(path.len());
    let mut changed = false;
    let mut index = 0;
    while let Some(&byte) = path.get(index) {
        let hex = |at: usize| path.get(at).and_then(|&c| char::from(c).to_digit(16));
        let decoded = match (byte, hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => u8::try_from(high * 16 + low)
                .ok()
                .filter(|b| *b != b'?' && *b != b'#'),
            _ => None,
        };
        match decoded {
            Some(decoded) => {
                out.push(decoded);
                changed = true;
                index += 3;
            }
            None => {
                out.push(byte);
                index += 1;
            }
        }
    }
    changed.then_some(out)
}

fn equal(a: &[u8], b: &[u8], case_sensitive: bool) -> bool {
    if case_sensitive {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

/// A variable name: a field path such as `shelf` or `book.name`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// `name` or `name=segments`; a variable without `=` is one segment.
fn variable(inner: &str, segments: &mut Vec<Segment>) -> Result<(), String> {
    let (name, pattern) = match inner.split_once('=') {
        Some((name, pattern)) => (name, Some(pattern)),
        None => (inner, None),
    };
    let name_ok = valid_name(name);
    if !name_ok {
        return Err(format!("invalid variable name {name:?}"));
    }
    match pattern {
        None => segments.push(Segment::One),
        Some("") => return Err(format!("variable {name:?} has an empty pattern")),
        Some(pattern) => {
            for part in pattern.split('/') {
                if part.contains(['{', '}']) {
                    return Err(format!("variables cannot nest (in {name:?})"));
                }
                segments.push(literal_or_wildcard(part)?);
            }
        }
    }
    Ok(())
}

/// `prefix{name}suffix` (OpenAPI allows `/files/{name}.{ext}`-like paths; one variable per
/// segment here).
fn partial(text: &str) -> Result<Segment, String> {
    let invalid =
        || format!("invalid segment {text:?}: at most one {{variable}} with text around it");
    let (prefix, rest) = text.split_once('{').ok_or_else(invalid)?;
    let (name, suffix) = rest.split_once('}').ok_or_else(invalid)?;
    let name_ok = valid_name(name);
    if !name_ok || prefix.contains(['}', '*']) || suffix.contains(['{', '}', '*']) {
        return Err(invalid());
    }
    Ok(Segment::Partial {
        prefix: prefix.to_owned(),
        suffix: suffix.to_owned(),
    })
}

fn literal_or_wildcard(text: &str) -> Result<Segment, String> {
    match text {
        "" => Err("empty segment ('//')".to_owned()),
        "*" => Ok(Segment::One),
        "**" => Ok(Segment::Rest),
        _ if text.contains(['{', '}', '*']) => Err(format!("invalid segment {text:?}")),
        _ => Ok(Segment::Literal(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(template: &str, path: &str) -> bool {
        PathTemplate::parse(template)
            .unwrap()
            .matches(path.as_bytes(), true)
    }

    #[test]
    fn literal_and_variables() {
        let t = "/v1/shelves/{shelf}/books/{book}";
        assert!(matches(t, "/v1/shelves/1/books/2"));
        assert!(matches(t, "/v1/shelves/1/books/2/"));
        assert!(!matches(t, "/v1/shelves/1/books/2//"));
        assert!(!matches(t, "/v1/shelves/1/books"));
        assert!(!matches(t, "/v1/shelves//books/2"));
        assert!(!matches(t, "/v1/shelves/1/books/2/3"));
        assert!(!matches(t, "/V1/shelves/1/books/2"));
        assert!(PathTemplate::parse(t)
            .unwrap()
            .matches(b"/V1/Shelves/1/BOOKS/2", false));
    }

    #[test]
    fn root_and_exact() {
        assert!(matches("/", "/"));
        assert!(!matches("/", "/a"));
        assert!(matches("/healthz", "/healthz"));
        assert!(matches("/healthz", "/healthz/"));
        assert!(!matches("/healthz", "/healthzz"));
        assert!(!matches("/healthz", "healthz"));
        assert!(!matches("/healthz", ""));
    }

    #[test]
    fn wildcards() {
        assert!(matches("/v1/{name=shelves/*}", "/v1/shelves/7"));
        assert!(!matches("/v1/{name=shelves/*}", "/v1/shelves/7/books"));
        assert!(matches("/v1/files/{path=**}", "/v1/files/a/b/c.txt"));
        assert!(matches("/v1/files/{path=**}", "/v1/files/"));
        assert!(matches("/v1/files/**", "/v1/files/x"));
        assert!(matches("/v1/*/items", "/v1/x/items"));
        assert!(!matches("/v1/*/items", "/v1/x/y/items"));
        assert!(matches("/**", "/anything/at/all"));
    }

    #[test]
    fn a_trailing_slash_in_the_template_is_ignored() {
        assert!(matches("/v1/items/", "/v1/items"));
        assert!(matches("/v1/items/", "/v1/items/"));
        assert!(matches("/", "/"));
    }

    #[test]
    fn verbs_and_longer_partials_sort_first() {
        let key = |t: &str| PathTemplate::parse(t).unwrap();
        assert!(key("/v1/{id}:secret").specificity() < key("/v1/{id}").specificity());
        assert!(key("/f/{a}.tar.json").specificity() < key("/f/{a}.json").specificity());
        assert!(key("/x/{id}").same_pattern(&key("/x/{name}")));
        assert!(!key("/x/{id}").same_pattern(&key("/x/{id}:v")));
    }

    #[test]
    fn variables_within_a_segment() {
        let t = "/files/{name}.json";
        assert!(matches(t, "/files/report.json"));
        assert!(!matches(t, "/files/.json"));
        assert!(!matches(t, "/files/report.xml"));
        assert!(!matches(t, "/files/a/b.json"));
        assert!(matches("/v{version}/items", "/v2/items"));
        assert!(!matches("/v{version}/items", "/v/items"));
        assert!(matches("/a/x{id}y", "/a/x1y"));
    }

    #[test]
    fn verbs() {
        let t = "/v1/{name=operations/*}:cancel";
        assert!(matches(t, "/v1/operations/42:cancel"));
        assert!(!matches(t, "/v1/operations/42"));
        assert!(!matches(t, "/v1/operations/42:undelete"));
        assert!(matches("/v1/things:batchGet", "/v1/things:batchGet"));
    }

    fn readings(path: &str) -> Vec<String> {
        backend_readings(path.as_bytes())
            .paths
            .into_iter()
            .map(|p| String::from_utf8(p).unwrap())
            .collect()
    }

    #[test]
    fn paths_decode_as_a_backend_decodes_them() {
        assert_eq!(readings("/v1/things/1%3Apurge"), ["/v1/things/1:purge"]);
        assert_eq!(readings("/v1/a%2fb%2Fc"), ["/v1/a/b/c"]);
        assert_eq!(readings("/v1/%70urge?x=%3A"), ["/v1/purge?x=%3A"]);
        // `%3F` and `%23` would end the path: kept; so is what is not an escape.
        assert_eq!(readings("/v1/a%3Fb%23c"), [] as [&str; 0]);
        assert_eq!(readings("/v1/a%zz%4"), [] as [&str; 0]);
        assert_eq!(readings("/v1/a?x=%3A;y/"), [] as [&str; 0]);
        // Decoded once, as a backend decodes.
        assert_eq!(readings("/v1/%25%32%46"), ["/v1/%2F"]);
        assert_eq!(
            backend_readings(b"/v1/%ff%00").paths,
            [b"/v1/\xff\x00".to_vec()]
        );
    }

    #[test]
    fn paths_read_without_parameters_and_a_trailing_slash() {
        // The review's requests: each reads as the `:purge` verb somewhere.
        assert_eq!(readings("/v1/things/1:purge/"), ["/v1/things/1:purge"]);
        assert_eq!(readings("/v1/things/1:purge;x"), ["/v1/things/1:purge"]);
        assert_eq!(
            readings("/v1/things/1:purge%2F"),
            ["/v1/things/1:purge", "/v1/things/1:purge/"]
        );
        assert_eq!(readings("/v1/a;p=1/b;q?s=1"), ["/v1/a/b?s=1"]);
        // An encoded `;` is a parameter once decoded, and not before.
        assert_eq!(
            readings("/v1/x%3Bp;q"),
            ["/v1/x;p;q", "/v1/x%3Bp", "/v1/x", "/v1/x;p"]
        );
        // The usual paths read one way.
        for path in ["/", "/v1/things/1", "/v1/things/1:purge", "/v1/a?b=c;d/"] {
            assert_eq!(
                backend_readings(path.as_bytes()),
                BackendReadings::default()
            );
        }
    }

    #[test]
    fn encoded_slashes_are_flagged() {
        for (path, flagged) in [
            ("/v1/a%2Fb", true),
            ("/v1/a%2fb", true),
            ("/v1/a/b", false),
            ("/v1/%252F", false),
            ("/v1/a?next=%2F", false),
        ] {
            assert_eq!(
                backend_readings(path.as_bytes()).encoded_slash,
                flagged,
                "{path}"
            );
        }
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in [
            "v1/x",
            "/v1//x",
            "/v1/{x",
            "/v1/{}",
            "/v1/{x=}",
            "/v1/**/x",
            "/v1/{x={y}}",
            "/v1/{a}{b}",
            "/v1/{a}.{b}",
            "/v1/{x=y/*}.json",
            "/v1/a//",
            "/v1/x:",
            "/v1/x*y",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn specific_templates_sort_first() {
        let mut templates = vec![
            "/v1/{x=**}",
            "/v1/shelves/{shelf}",
            "/v1/shelves/special",
            "/v1/{a}/{b}",
        ];
        templates.sort_by(|a, b| {
            let a = PathTemplate::parse(a).unwrap();
            let b = PathTemplate::parse(b).unwrap();
            a.specificity().cmp(&b.specificity())
        });
        assert_eq!(
            templates,
            [
                "/v1/shelves/special",
                "/v1/shelves/{shelf}",
                "/v1/{a}/{b}",
                "/v1/{x=**}"
            ]
        );
    }
}
