//! A typed walk over the configuration JSON that names the field at fault in every error
//! (`providers.auth0.audiences: expected a list of strings`). Field names are accepted in
//! snake_case (Envoy YAML) and in lowerCamelCase (proto3 JSON); `null` means "not set".

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{ConfigError, ConfigErrorKind};

/// A JSON object being read; every member must be read or the walk fails on `finish`.
pub(crate) struct Object<'a> {
    path: String,
    members: BTreeMap<String, &'a Value>,
}

/// One value and where it is.
#[derive(Clone)]
pub(crate) struct Field<'a> {
    pub path: String,
    pub value: &'a Value,
}

/// jwt_authn fields jwt-gate knows but does not implement, and why.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "filter_state_rules",
        "not supported: a proxy-wasm filter cannot read another filter's filter state as a \
         requirement selector; use rules with header matchers",
    ),
    (
        "failed_status_in_metadata",
        "proxy-wasm filters cannot write dynamic metadata",
    ),
    (
        "header_in_metadata",
        "proxy-wasm filters cannot write dynamic metadata",
    ),
    (
        "normalize_payload_in_metadata",
        "proxy-wasm filters cannot write dynamic metadata",
    ),
    (
        "payload_in_metadata",
        "proxy-wasm filters cannot write dynamic metadata: use forward_payload_header or \
         claim_to_headers",
    ),
    (
        "connect_matcher",
        "not supported: jwt-gate matches requests by path",
    ),
    (
        "path_match_policy",
        "not supported: use jwt-gate's path_template",
    ),
    (
        "grpc",
        "not supported: match the content-type header (prefix application/grpc)",
    ),
    (
        "tls_context",
        "not supported: a rule cannot depend on the connection's TLS state",
    ),
    (
        "dynamic_metadata",
        "not supported: a rule cannot depend on dynamic metadata",
    ),
    (
        "filter_state",
        "not supported: a rule cannot depend on filter state",
    ),
    ("cel_expr_config", "not supported"),
    (
        "runtime_fraction",
        "refused: a rule that applies to a random fraction of requests makes authentication random",
    ),
    (
        "filename",
        "files cannot be read inside the wasm VM: use inline_string",
    ),
    (
        "environment_variable",
        "the wasm VM cannot read environment variables: use inline_string",
    ),
    (
        "extract_only_without_validation",
        "refused: it forwards claims without checking the signature, and jwt-gate forwards only \
         verified claims",
    ),
];

impl<'a> Object<'a> {
    pub fn new(field: &Field<'a>) -> Result<Self, ConfigError> {
        let Value::Object(map) = field.value else {
            return Err(field.expected("an object"));
        };
        let mut members = BTreeMap::new();
        for (name, value) in map {
            let snake = snake_case(name);
            if value.is_null() {
                continue;
            }
            if members.insert(snake.clone(), value).is_some() {
                return Err(ConfigError::new(
                    join(&field.path, &snake),
                    ConfigErrorKind::GivenTwice,
                ));
            }
        }
        Ok(Self {
            path: field.path.clone(),
            members,
        })
    }

    /// Takes member `name` (snake_case) if present.
    pub fn take(&mut self, name: &str) -> Option<Field<'a>> {
        self.members.remove(name).map(|value| Field {
            path: join(&self.path, name),
            value,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    /// Fails on the first member nobody took.
    pub fn finish(self) -> Result<(), ConfigError> {
        let Some(name) = self.members.keys().next() else {
            return Ok(());
        };
        let path = join(&self.path, name);
        Err(match UNSUPPORTED.iter().find(|(known, _)| known == name) {
            Some((_, why)) => ConfigError::new(path, ConfigErrorKind::Refused(why)),
            None => ConfigError::unknown_field(path, None),
        })
    }

    pub fn string(&mut self, name: &str) -> Result<Option<&'a str>, ConfigError> {
        self.take(name).map(|field| field.string()).transpose()
    }

    pub fn bool(&mut self, name: &str) -> Result<bool, ConfigError> {
        Ok(self
            .take(name)
            .map(|field| field.bool())
            .transpose()?
            .unwrap_or(false))
    }

    pub fn strings(&mut self, name: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .take(name)
            .map(|field| field.strings())
            .transpose()?
            .unwrap_or_default())
    }

    pub fn list(&mut self, name: &str) -> Result<Vec<Field<'a>>, ConfigError> {
        Ok(self
            .take(name)
            .map(|field| field.list())
            .transpose()?
            .unwrap_or_default())
    }
}

impl<'a> Field<'a> {
    pub fn root(value: &'a Value) -> Self {
        Self {
            path: String::new(),
            value,
        }
    }

    /// A value of the wrong type or outside its set: `expected {what}`.
    pub fn expected(&self, what: impl Into<Cow<'static, str>>) -> ConfigError {
        ConfigError::expected(self.path.clone(), what)
    }

    /// A member or a choice that must be given here.
    pub fn required(&self, message: impl Into<Cow<'static, str>>) -> ConfigError {
        ConfigError::required(self.path.clone(), message)
    }

    /// Members given here that exclude each other.
    pub fn conflict(&self, message: impl Into<Cow<'static, str>>) -> ConfigError {
        ConfigError::conflict(self.path.clone(), message)
    }

    pub fn object(&self) -> Result<Object<'a>, ConfigError> {
        Object::new(self)
    }

    pub fn string(&self) -> Result<&'a str, ConfigError> {
        self.value.as_str().ok_or_else(|| self.expected("a string"))
    }

    pub fn bool(&self) -> Result<bool, ConfigError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.expected("true or false"))
    }

    pub fn strings(&self) -> Result<Vec<String>, ConfigError> {
        let expected = || self.expected("a list of strings");
        let Value::Array(items) = self.value else {
            return Err(expected());
        };
        items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(expected))
            .collect()
    }

    pub fn list(&self) -> Result<Vec<Field<'a>>, ConfigError> {
        let Value::Array(items) = self.value else {
            return Err(self.expected("a list"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| Field {
                path: format!("{}[{index}]", self.path),
                value,
            })
            .collect())
    }

    /// A map's entries in document order of their keys (sorted, as serde_json keeps them).
    pub fn entries(&self) -> Result<Vec<(&'a str, Field<'a>)>, ConfigError> {
        let Value::Object(map) = self.value else {
            return Err(self.expected("an object"));
        };
        Ok(map
            .iter()
            .map(|(key, value)| {
                (
                    key.as_str(),
                    Field {
                        path: join(&self.path, key),
                        value,
                    },
                )
            })
            .collect())
    }

    /// A non-negative integer (proto3 JSON also writes 64-bit integers as strings).
    pub fn u64(&self) -> Result<u64, ConfigError> {
        match self.value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.expected("a non-negative integer"))
    }

    /// A signed 64-bit integer (also as a string, as proto3 JSON writes int64).
    pub fn i64(&self) -> Result<i64, ConfigError> {
        match self.value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.expected("a 64-bit integer"))
    }

    /// A protobuf Duration, exact to the nanosecond as protobuf's: `"300s"`, `"0.01s"` (Envoy's
    /// own examples write `base_interval: 0.01s`), or `{"seconds": 300, "nanos": 10000000}`.
    /// Negative durations are refused (no jwt_authn duration may be negative).
    pub fn duration(&self) -> Result<Duration, ConfigError> {
        let expected =
            || self.expected("a duration such as \"300s\", \"0.5s\" or {\"seconds\": 300}");
        let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
        match self.value {
            Value::String(text) => {
                let number = text.strip_suffix('s').ok_or_else(expected)?;
                let (whole, fraction) = match number.split_once('.') {
                    Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
                    Some(_) => return Err(expected()),
                    None => (number, ""),
                };
                if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
                    return Err(expected());
                }
                let seconds: u64 = whole.parse().map_err(|_| expected())?;
                let nanos: u32 = format!("{fraction:0<9}").parse().map_err(|_| expected())?;
                Ok(Duration::new(seconds, nanos))
            }
            Value::Object(_) => {
                let mut object = self.object()?;
                let seconds = object
                    .take("seconds")
                    .map(|f| f.u64())
                    .transpose()?
                    .unwrap_or(0);
                let nanos = match object.take("nanos") {
                    Some(field) => u32::try_from(field.u64()?)
                        .ok()
                        .filter(|&nanos| nanos < 1_000_000_000)
                        .ok_or_else(|| field.expected("0 to 999999999 nanoseconds"))?,
                    None => 0,
                };
                object.finish()?;
                Ok(Duration::new(seconds, nanos))
            }
            _ => Err(expected()),
        }
    }
}

/// The one member of a `oneof` given, if any; more than one is an error.
pub(crate) fn one_of<T>(
    found: Vec<T>,
    field: &Field<'_>,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Result<Option<T>, ConfigError> {
    let mut found = found.into_iter();
    match (found.next(), found.next()) {
        (found, None) => Ok(found),
        _ => Err(field.conflict(message)),
    }
}

/// The value of member `name` of `object` read by `read`, if given.
pub(crate) fn optional<'a, T>(
    object: &mut Object<'a>,
    name: &str,
    read: impl FnOnce(&Field<'a>) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    object.take(name).map(|field| read(&field)).transpose()
}
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// `fromHeaders` -> `from_headers`; snake_case names are unchanged.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn duration(value: Value) -> Result<Duration, ConfigError> {
        Field::root(&value).duration()
    }

    #[test]
    fn durations_keep_their_precision() {
        let ms = Duration::from_millis;
        assert_eq!(duration(json!("0.01s")), Ok(ms(10)));
        assert_eq!(duration(json!("1.5s")), Ok(ms(1_500)));
        assert_eq!(duration(json!("300s")), Ok(ms(300_000)));
        assert_eq!(duration(json!("0.000000001s")), Ok(Duration::from_nanos(1)));
        assert_eq!(
            duration(json!({"seconds": 1, "nanos": 10_000_000})),
            Ok(ms(1_010))
        );
        assert_eq!(duration(json!({"nanos": "500000000"})), Ok(ms(500)));
        let not_a_duration = ConfigErrorKind::Expected(
            "a duration such as \"300s\", \"0.5s\" or {\"seconds\": 300}".into(),
        );
        for bad in [
            json!("1"),
            json!("-1s"),
            json!("+1s"),
            json!("1.s"),
            json!(".5s"),
            json!("0.0000000001s"),
            json!("1e3s"),
            json!(1),
        ] {
            let error = duration(bad.clone()).unwrap_err();
            assert_eq!(
                (error.path.as_str(), &error.kind),
                ("", &not_a_duration),
                "{bad}"
            );
        }
        for (bad, path, kind) in [
            (
                json!({"seconds": -1}),
                "seconds",
                ConfigErrorKind::Expected("a non-negative integer".into()),
            ),
            (
                json!({"nanos": 1_000_000_000}),
                "nanos",
                ConfigErrorKind::Expected("0 to 999999999 nanoseconds".into()),
            ),
            (
                json!({"minutes": 1}),
                "minutes",
                ConfigErrorKind::UnknownField { hint: None },
            ),
        ] {
            assert_eq!(
                duration(bad.clone()),
                Err(ConfigError::new(path, kind)),
                "{bad}"
            );
        }
    }
}
