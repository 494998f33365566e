//! A strict walk over an OCI deployment: every object is read against the fields the OCI SDK
//! model declares for it, so a misspelled field (`verifyClaim`) is an error naming its JSON path,
//! with the nearest known name, instead of a check silently left out. `null` means "not set", as
//! in the OCI SDKs' JSON. The Istio translator walks its manifests with it too.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::config::{ConfigError, ConfigWarning};

/// One value of the deployment and its JSON path (`specification.routes[1].path`).
#[derive(Clone)]
pub(in crate::translate) struct Node<'a> {
    pub path: String,
    pub value: &'a Value,
}

/// An object whose members are all known fields.
#[derive(Clone)]
pub(in crate::translate) struct Object<'a> {
    path: String,
    members: &'a Map<String, Value>,
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Self {
        Self {
            path: String::new(),
            value,
        }
    }

    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.path.clone(), message)
    }

    /// A value of the wrong type or outside its set: `expected {what}`.
    pub fn expected(&self, what: impl Into<Cow<'static, str>>) -> ConfigError {
        ConfigError::expected(self.path.clone(), what)
    }

    /// The value as an object whose every non-null member is one of `known` (the OCI model's
    /// fields, in their JSON spelling).
    pub fn object(&self, known: &[&str]) -> Result<Object<'a>, ConfigError> {
        let Value::Object(members) = self.value else {
            return Err(self.expected("an object"));
        };
        for (name, value) in members {
            if value.is_null() || known.contains(&name.as_str()) {
                continue;
            }
            let path = join(&self.path, name);
            return Err(ConfigError::unknown_field(
                path,
                Some(match nearest(name, known) {
                    Some(near) => format!("did you mean {near}?"),
                    None => format!("known here: {}", known.join(", ")),
                }),
            ));
        }
        Ok(Object {
            path: self.path.clone(),
            members,
        })
    }

    pub fn string(&self) -> Result<&'a str, ConfigError> {
        self.value.as_str().ok_or_else(|| self.expected("a string"))
    }

    pub fn bool(&self) -> Result<bool, ConfigError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.expected("true or false"))
    }

    /// An integer in `min..=max`.
    pub fn integer(&self, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.value
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.expected(format!("an integer from {min} to {max}")))
    }

    /// The items of a list, each with its path (`routes[2]`).
    pub fn items(&self) -> Result<Vec<Node<'a>>, ConfigError> {
        let Value::Array(items) = self.value else {
            return Err(self.expected("a list"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                path: format!("{}[{index}]", self.path),
                value,
            })
            .collect())
    }

    /// A list of strings.
    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        let expected = || self.expected("a list of strings");
        let Value::Array(items) = self.value else {
            return Err(expected());
        };
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(expected)
    }
}

impl<'a> Object<'a> {
    /// Member `name`, unless absent or `null`.
    pub fn get(&self, name: &str) -> Option<Node<'a>> {
        self.members
            .get(name)
            .filter(|value| !value.is_null())
            .map(|value| Node {
                path: join(&self.path, name),
                value,
            })
    }

    /// Member `name`, which must be set.
    pub fn required(&self, name: &str) -> Result<Node<'a>, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::required(join(&self.path, name), "is required"))
    }

    /// The path of member `name` (set or not).
    pub fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The object's own path.
    pub fn at(&self) -> &str {
        &self.path
    }
}

/// The `type` member of a tagged OCI object (a policy, a key set, a validation policy), if set.
pub(super) fn tag<'a>(node: &Node<'a>) -> Result<Option<&'a str>, ConfigError> {
    tag_named(node, "type")
}

pub(in crate::translate) fn warn(warnings: &mut Vec<ConfigWarning>, node: &Node<'_>, why: &str) {
    warnings.push(ConfigWarning::new(node.path.clone(), why));
}

/// Member `name` of an object, as a string, if set.
pub(super) fn tag_named<'a>(node: &Node<'a>, name: &str) -> Result<Option<&'a str>, ConfigError> {
    let Value::Object(members) = node.value else {
        return Err(node.expected("an object"));
    };
    match members.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ConfigError::expected(join(&node.path, name), "a string")),
    }
}

/// `issuers` or `audiences`: a non-empty list of strings.
pub(super) fn non_empty_strings(
    object: &Object<'_>,
    name: &str,
) -> Result<Vec<String>, ConfigError> {
    let error =
        || ConfigError::invalid(object.path(name), "a non-empty list of strings is required");
    let node = object.get(name).ok_or_else(error)?;
    let strings = node.strings().map_err(|_| error())?;
    if strings.is_empty() {
        return Err(error());
    }
    Ok(strings)
}

/// `path.name`, or `name` at the root.
pub(in crate::translate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The known field `name` was probably meant to be: the same letters in another case or with
/// `-`/`_` (the OCI CLI writes kebab-case, Terraform snake_case), or a few edits away (two, three
/// for names of ten letters or more).
fn nearest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let squash = |text: &str| -> String {
        text.chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(name);
    if let Some(same) = known.iter().find(|k| squash(k) == squashed) {
        return Some(same);
    }
    // Names are short; a long one is nobody's typo.
    if name.chars().count() > 64 {
        return None;
    }
    known
        .iter()
        .map(|k| (edit_distance(&squashed, &squash(k)), *k))
        .filter(|(distance, _)| *distance <= if squashed.len() >= 10 { 3 } else { 2 })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous.get(j).copied().unwrap_or(usize::MAX);
            let delete = previous.get(j + 1).copied().unwrap_or(usize::MAX);
            let insert = current.get(j).copied().unwrap_or(usize::MAX);
            let cost = usize::from(ca != *cb);
            current.push(
                substitute
                    .saturating_add(cost)
                    .min(delete.saturating_add(1))
                    .min(insert.saturating_add(1)),
            );
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses() {
        let known = ["verifyClaims", "issuers", "audiences", "tokenHeader"];
        assert_eq!(nearest("verifyClaim", &known), Some("verifyClaims"));
        assert_eq!(nearest("verify-claims", &known), Some("verifyClaims"));
        assert_eq!(nearest("VERIFY_CLAIMS", &known), Some("verifyClaims"));
        assert_eq!(nearest("issuer", &known), Some("issuers"));
        assert_eq!(nearest("audience", &known), Some("audiences"));
        assert_eq!(nearest("tokenHeadr", &known), Some("tokenHeader"));
        assert_eq!(nearest("somethingElse", &known), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
