//! Claim conditions: a rule's `when` (Istio's AuthorizationPolicy conditions on `request.auth.*`)
//! as data and one predicate, [`Condition::holds`], over a verified token's payload. The keys and
//! the matching are Istio's (`pilot/pkg/security/authz/model/generator.go` and
//! `matcher/string.go`): a value matches exactly, or is `abc*` (prefix), `*abc` (suffix) or `*`
//! (any non-empty value); a principal `<iss>/<sub>` is split at its last `/` and each half
//! matched on its own. Where Istio's metadata matchers see only strings, a number or boolean
//! claim is matched as its JSON text here, and `scope` and `scp` strings are space-delimited
//! lists (RFC 8693 §4.2, RFC 9068), as `allowed_scopes` reads them.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Most conditions in one rule.
pub const MAX_CONDITIONS: usize = 64;

/// Most values (`values` and `not_values` together) in one condition.
pub const MAX_VALUES: usize = 256;

/// Deepest claim path (`request.auth.claims[a][b]...`).
pub const MAX_CLAIM_DEPTH: usize = 16;

/// The keys jwt-gate reads, as error messages list them.
pub const KEYS: &str = "request.auth.principal, request.auth.audiences, request.auth.presenter \
                        or request.auth.claims[<name>]...";

/// One condition: the claim `key` names must have one of `values` (when given) and none of
/// `not_values`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Condition {
    /// What is compared.
    pub key: ConditionKey,
    /// The key as written (`request.auth.claims[groups]`), for logs and `jwt-gate check`.
    pub text: Arc<str>,
    /// One must match (none given: no such requirement).
    pub values: Vec<Matcher>,
    /// None may match.
    pub not_values: Vec<Matcher>,
}

/// What a condition compares.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ConditionKey {
    /// `request.auth.principal`: `<iss>/<sub>`.
    Principal,
    /// `request.auth.audiences`: the `aud` values.
    Audiences,
    /// `request.auth.presenter`: `azp`.
    Presenter,
    /// `request.auth.claims[a][b]...`: claim `a`, then member `b` of it, ...; each name literal.
    Claim(Vec<String>),
}

/// One configured value.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Matcher {
    /// For every key but the principal.
    Text(Pattern),
    /// For the principal: its issuer and subject, each matched on its own (Istio's split at
    /// the last `/`).
    Principal {
        /// Against `iss`.
        iss: Pattern,
        /// Against `sub`.
        sub: Pattern,
    },
}

/// Istio's value forms.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Pattern {
    /// `abc`.
    Exact(String),
    /// `abc*`: starts with `abc`.
    Prefix(String),
    /// `*abc`: ends with `abc`.
    Suffix(String),
    /// `*`: any non-empty value.
    NonEmpty,
}

impl Condition {
    /// A condition on `key` (as written) with `values` and `not_values`: refused when the key
    /// is not one jwt-gate reads, its brackets are malformed, or no value is given.
    pub fn parse(key: &str, values: &[String], not_values: &[String]) -> Result<Self, String> {
        let parsed = parse_key(key)?;
        if values.is_empty() && not_values.is_empty() {
            return Err(
                "give values or not_values (a condition without either checks nothing)".into(),
            );
        }
        if values.len().saturating_add(not_values.len()) > MAX_VALUES {
            return Err(format!("at most {MAX_VALUES} values"));
        }
        let matcher = |text: &String| match parsed {
            ConditionKey::Principal => principal_matcher(text),
            _ => Matcher::Text(Pattern::parse(text)),
        };
        Ok(Self {
            key: parsed.clone(),
            text: Arc::from(key),
            values: values.iter().map(matcher).collect(),
            not_values: not_values.iter().map(matcher).collect(),
        })
    }

    /// Whether the condition holds on a verified token's payload: some value matches (when
    /// `values` are given) and no `not_values` does. An absent claim matches nothing, so a
    /// condition with `values` fails on it and one with only `not_values` holds (Istio's).
    pub fn holds(&self, payload: &Map<String, Value>) -> bool {
        // What the key finds, read once: the principal's halves, or the claim's texts.
        let text = |name: &str| payload.get(name).and_then(Value::as_str);
        let principal = match self.key {
            ConditionKey::Principal => text("iss").zip(text("sub")),
            _ => None,
        };
        let texts = claim_texts(&self.key, payload);
        let matches = |matcher: &Matcher| match matcher {
            Matcher::Principal { iss, sub } => principal
                .is_some_and(|(issuer, subject)| iss.matches(issuer) && sub.matches(subject)),
            Matcher::Text(pattern) => texts.iter().any(|text| pattern.matches(text)),
        };
        (self.values.is_empty() || self.values.iter().any(matches))
            && !self.not_values.iter().any(matches)
    }

    /// A one-line summary for people (`jwt-gate check`).
    pub fn describe(&self) -> String {
        let list = |matchers: &[Matcher]| {
            matchers
                .iter()
                .map(Matcher::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self.values.is_empty(), self.not_values.is_empty()) {
            (false, true) => format!("{} in [{}]", self.text, list(&self.values)),
            (true, _) => format!("{} not in [{}]", self.text, list(&self.not_values)),
            (false, false) => format!(
                "{} in [{}] and not in [{}]",
                self.text,
                list(&self.values),
                list(&self.not_values)
            ),
        }
    }
}

impl Pattern {
    /// Istio's reading of a value: `*` any non-empty value, `*abc` a suffix, `abc*` a prefix,
    /// anything else exact.
    pub fn parse(text: &str) -> Self {
        if text == "*" {
            Self::NonEmpty
        } else if let Some(suffix) = text.strip_prefix('*') {
            Self::Suffix(suffix.to_owned())
        } else if let Some(prefix) = text.strip_suffix('*') {
            Self::Prefix(prefix.to_owned())
        } else {
            Self::Exact(text.to_owned())
        }
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Self::Exact(exact) => text == exact,
            Self::Prefix(prefix) => text.starts_with(prefix.as_str()),
            Self::Suffix(suffix) => text.ends_with(suffix.as_str()),
            Self::NonEmpty => !text.is_empty(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Exact(text) => text.clone(),
            Self::Prefix(text) => format!("{text}*"),
            Self::Suffix(text) => format!("*{text}"),
            Self::NonEmpty => "*".to_owned(),
        }
    }
}

impl Matcher {
    fn describe(&self) -> String {
        match self {
            Self::Text(pattern) => pattern.describe(),
            Self::Principal { iss, sub } => format!("{}/{}", iss.describe(), sub.describe()),
        }
    }
}

/// `request.auth.principal`, `...audiences`, `...presenter` or `...claims[a][b]...`.
fn parse_key(key: &str) -> Result<ConditionKey, String> {
    match key {
        "request.auth.principal" => return Ok(ConditionKey::Principal),
        "request.auth.audiences" => return Ok(ConditionKey::Audiences),
        "request.auth.presenter" => return Ok(ConditionKey::Presenter),
        _ => {}
    }
    let Some(mut rest) = key.strip_prefix("request.auth.claims") else {
        return Err(format!(
            "unknown key {key:?}: jwt-gate's conditions are on the verified token ({KEYS})"
        ));
    };
    let malformed = || {
        format!(
            "{key:?}: expected request.auth.claims[<name>], or [<name>][<member>]... for nested \
             claims (a name is literal and has no [ or ])"
        )
    };
    let mut path = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(malformed)?;
        let end = inner.find(']').ok_or_else(malformed)?;
        let (name, after) = inner.split_at(end);
        if name.is_empty() || name.contains('[') {
            return Err(malformed());
        }
        path.push(name.to_owned());
        rest = after.get(1..).unwrap_or_default();
    }
    if path.is_empty() {
        return Err(malformed());
    }
    if path.len() > MAX_CLAIM_DEPTH {
        return Err(format!("{key:?}: at most {MAX_CLAIM_DEPTH} nested names"));
    }
    Ok(ConditionKey::Claim(path))
}

/// Istio's principal value: split at the last `/` into issuer and subject patterns
/// (`requestPrincipalGenerator`): `*` both present; `*x/sub` an issuer suffix and an exact
/// subject (`*/sub`: any issuer); `iss/x*` an exact issuer and a subject prefix (`iss/*`: any
/// subject); without a `/`, `*x` is a subject suffix and `x*` an issuer prefix.
fn principal_matcher(value: &str) -> Matcher {
    let (iss, sub, found) = match value.rfind('/') {
        Some(at) => (
            value.get(..at).unwrap_or_default(),
            value.get(at + 1..).unwrap_or_default(),
            true,
        ),
        None => (value, "", false),
    };
    let exact = |text: &str| Pattern::Exact(text.to_owned());
    let (iss, sub) = if value == "*" {
        (Pattern::NonEmpty, Pattern::NonEmpty)
    } else if let Some(trimmed) = value.strip_prefix('*') {
        if found {
            let iss = match iss.strip_prefix('*') {
                Some("") => Pattern::NonEmpty,
                Some(suffix) => Pattern::Suffix(suffix.to_owned()),
                None => exact(iss),
            };
            (iss, exact(sub))
        } else {
            (Pattern::NonEmpty, Pattern::Suffix(trimmed.to_owned()))
        }
    } else if let Some(trimmed) = value.strip_suffix('*') {
        if found {
            let sub = match sub.strip_suffix('*') {
                Some("") => Pattern::NonEmpty,
                Some(prefix) => Pattern::Prefix(prefix.to_owned()),
                None => exact(sub),
            };
            (exact(iss), sub)
        } else {
            (Pattern::Prefix(trimmed.to_owned()), Pattern::NonEmpty)
        }
    } else {
        (exact(iss), exact(sub))
    };
    Matcher::Principal { iss, sub }
}

/// The texts a claim key finds in a payload: a string as is (`scope` and `scp` at the top
/// level split at spaces), a number or boolean as its JSON text, a list's elements each so;
/// nothing for an absent or `null` claim, an object, or an element that is itself a list or
/// an object.
fn claim_texts<'p>(key: &ConditionKey, payload: &'p Map<String, Value>) -> Vec<Cow<'p, str>> {
    let (value, delimited) = match key {
        ConditionKey::Audiences => (payload.get("aud"), false),
        ConditionKey::Presenter => (payload.get("azp"), false),
        ConditionKey::Claim(path) => {
            let delimited = matches!(path.as_slice(), [name] if name == "scope" || name == "scp");
            (walk(payload, path), delimited)
        }
        ConditionKey::Principal => (None, false),
    };
    let text = |item: &'p Value| match item {
        Value::String(text) => Some(Cow::Borrowed(text.as_str())),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        Value::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    };
    match value {
        Some(Value::String(string)) if delimited => {
            string.split_ascii_whitespace().map(Cow::Borrowed).collect()
        }
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(other) => text(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Member `path[0]` of the payload, then member `path[1]` of that, ...
fn walk<'p>(payload: &'p Map<String, Value>, path: &[String]) -> Option<&'p Value> {
    let (first, rest) = path.split_first()?;
    let mut current = payload.get(first.as_str())?;
    for name in rest {
        current = current.as_object()?.get(name.as_str())?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn payload(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn condition(key: &str, values: &[&str], not_values: &[&str]) -> Condition {
        let owned = |list: &[&str]| list.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        Condition::parse(key, &owned(values), &owned(not_values)).unwrap()
    }

    fn alice() -> Map<String, Value> {
        payload(json!({
            "iss": "https://issuer.example",
            "sub": "alice",
            "aud": ["api://orders", "other"],
            "azp": "web-client",
            "groups": ["admins", "ops-east"],
            "scope": "read:orders write:orders",
            "scp": ["a b"],
            "level": 3,
            "verified": true,
            "empty": "",
            "https://example.com/org": {"tier": "gold", "teams": ["blue"]},
            "realm_access.roles": ["literal"],
            "realm_access": {"roles": ["nested"]},
            "nothing": null,
            "object": {"a": 1},
        }))
    }

    #[test]
    fn values_match_exactly_or_by_istios_wildcards() {
        let holds =
            |values: &[&str]| condition("request.auth.claims[groups]", values, &[]).holds(&alice());
        assert!(holds(&["admins"]));
        assert!(holds(&["nobody", "ops-*"]));
        assert!(holds(&["*-east"]));
        assert!(holds(&["*"]));
        assert!(!holds(&["admin"]));
        assert!(!holds(&["ops"]));
        assert!(!holds(&["a*s"]), "a star inside a value is literal");
        let on = |key: &str, values: &[&str]| condition(key, values, &[]).holds(&alice());
        assert!(
            !on("request.auth.claims[empty]", &["*"]),
            "* needs a non-empty value"
        );
        assert!(on("request.auth.claims[empty]", &[""]));
    }

    #[test]
    fn not_values_fail_on_any_match_and_hold_on_an_absent_claim() {
        let tier = "request.auth.claims[https://example.com/org][tier]";
        assert!(condition(tier, &[], &["free"]).holds(&alice()));
        assert!(!condition(tier, &[], &["gold"]).holds(&alice()));
        assert!(!condition(tier, &["*"], &["g*"]).holds(&alice()));
        assert!(condition(tier, &["gold"], &["free"]).holds(&alice()));
        let absent = "request.auth.claims[tenant]";
        assert!(condition(absent, &[], &["acme"]).holds(&alice()));
        assert!(!condition(absent, &["*"], &[]).holds(&alice()));
        assert!(!condition(absent, &["acme"], &["x"]).holds(&alice()));
        for nothing in ["nothing", "object"] {
            let key = format!("request.auth.claims[{nothing}]");
            assert!(!condition(&key, &["*"], &[]).holds(&alice()), "{nothing}");
            assert!(condition(&key, &[], &["*"]).holds(&alice()), "{nothing}");
        }
    }

    #[test]
    fn names_in_brackets_are_literal_and_nest() {
        let on = |key: &str, values: &[&str]| condition(key, values, &[]).holds(&alice());
        assert!(on("request.auth.claims[realm_access.roles]", &["literal"]));
        assert!(!on("request.auth.claims[realm_access.roles]", &["nested"]));
        assert!(on("request.auth.claims[realm_access][roles]", &["nested"]));
        assert!(on(
            "request.auth.claims[https://example.com/org][teams]",
            &["blue"]
        ));
        assert!(!on(
            "request.auth.claims[https://example.com/org][tier][x]",
            &["*"]
        ));
        assert!(on("request.auth.claims[level]", &["3"]));
        assert!(on("request.auth.claims[verified]", &["true"]));
    }

    #[test]
    fn scope_and_scp_strings_are_space_delimited() {
        let on = |key: &str, values: &[&str]| condition(key, values, &[]).holds(&alice());
        assert!(on("request.auth.claims[scope]", &["write:orders"]));
        assert!(!on(
            "request.auth.claims[scope]",
            &["read:orders write:orders"]
        ));
        // A list is a list: its elements are not split.
        assert!(on("request.auth.claims[scp]", &["a b"]));
        assert!(!on("request.auth.claims[scp]", &["a"]));
        let nested = payload(json!({"org": {"scope": "a b"}}));
        assert!(condition("request.auth.claims[org][scope]", &["a b"], &[]).holds(&nested));
    }

    #[test]
    fn audiences_and_presenter() {
        let on = |key: &str, values: &[&str]| condition(key, values, &[]).holds(&alice());
        assert!(on("request.auth.audiences", &["api://orders"]));
        assert!(on("request.auth.audiences", &["oth*"]));
        assert!(!on("request.auth.audiences", &["api://billing"]));
        assert!(on("request.auth.presenter", &["web-client"]));
        assert!(!on("request.auth.presenter", &["web"]));
    }

    #[test]
    fn principals_split_at_the_last_slash_as_istio_does() {
        let principal = |values: &[&str], iss: &str, sub: &str| {
            let token = payload(json!({"iss": iss, "sub": sub}));
            condition("request.auth.principal", values, &[]).holds(&token)
        };
        let iss = "https://issuer.example";
        assert!(principal(&["https://issuer.example/alice"], iss, "alice"));
        assert!(principal(&["https://issuer.example/*"], iss, "bob"));
        // `iss/*` pins the issuer: a longer issuer whose text starts the same does not match.
        assert!(!principal(
            &["https://issuer.example/*"],
            "https://issuer.example/t",
            "x"
        ));
        assert!(principal(&["https://issuer.example/al*"], iss, "alice"));
        assert!(principal(&["*/alice"], "anyone", "alice"));
        assert!(principal(&["*.example/alice"], iss, "alice"));
        assert!(!principal(&["*.example/alice"], iss, "bob"));
        assert!(principal(&["*"], iss, "alice"));
        assert!(!principal(&["*"], iss, ""));
        assert!(principal(&["issuer*"], "issuer.example", "alice"));
        // Split at its last `/`: issuer `https:/`, subject prefix `iss`.
        assert!(!principal(&["https://iss*"], iss, "alice"));
        assert!(principal(&["*ice"], iss, "alice"));
        // Auth0's issuer ends in `/`: its principal has two.
        assert!(principal(
            &["https://x.auth0.com//*"],
            "https://x.auth0.com/",
            "a"
        ));
        assert!(!principal(
            &["https://x.auth0.com/*"],
            "https://x.auth0.com/",
            "a"
        ));
        let no_sub = payload(json!({"iss": iss}));
        assert!(!condition("request.auth.principal", &["*"], &[]).holds(&no_sub));
        assert!(condition("request.auth.principal", &[], &["*"]).holds(&no_sub));
    }

    #[test]
    fn keys_are_checked() {
        for bad in [
            "request.auth.claims",
            "request.auth.claims[]",
            "request.auth.claims[a",
            "request.auth.claims[a]b",
            "request.auth.claims[a][]",
            "request.auth.claims[a[b]]",
            "request.auth.claims.groups",
            "request.headers[x-user]",
            "source.ip",
            "request.auth.principals",
        ] {
            assert!(Condition::parse(bad, &["x".into()], &[]).is_err(), "{bad}");
        }
        let deep = format!("request.auth.claims{}", "[a]".repeat(MAX_CLAIM_DEPTH + 1));
        assert!(Condition::parse(&deep, &["x".into()], &[]).is_err());
        assert!(Condition::parse("request.auth.presenter", &[], &[]).is_err());
        let many: Vec<String> = (0..=MAX_VALUES).map(|n| n.to_string()).collect();
        assert!(Condition::parse("request.auth.presenter", &many, &[]).is_err());
        assert_eq!(
            condition("request.auth.claims[a:b/c.d][e]", &["x"], &[]).key,
            ConditionKey::Claim(vec!["a:b/c.d".into(), "e".into()])
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            condition("request.auth.claims[groups]", &["admins", "ops-*"], &[]).describe(),
            "request.auth.claims[groups] in [admins, ops-*]"
        );
        assert_eq!(
            condition("request.auth.principal", &["*/x"], &["a/*"]).describe(),
            "request.auth.principal in [*/x] and not in [a/*]"
        );
        assert_eq!(
            condition("request.auth.claims[t]", &[], &["free"]).describe(),
            "request.auth.claims[t] not in [free]"
        );
    }
}
