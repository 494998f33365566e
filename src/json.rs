//! Strict JSON for untrusted documents: duplicate member names are an error (RFC 8725 §3.1 and
//! RFC 7515 §4: a verifier and another party must not read different claims from one token), and
//! nesting depth is bounded.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a document is not acceptable JSON.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum JsonError {
    /// A member name appears twice in one object.
    DuplicateMember(String),
    /// Not JSON, or trailing bytes after the value.
    Syntax(String),
    /// Nested deeper than the limit.
    TooDeep,
}

/// Parses `bytes` as one JSON value, rejecting duplicate member names and nesting deeper than
/// `max_depth` (an object or array counts one level).
pub fn parse(bytes: &[u8], max_depth: usize) -> Result<Value, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed {
        depth_left: max_depth,
    }
    .deserialize(&mut deserializer)
    .map_err(classify)?;
    deserializer.end().map_err(classify)?;
    Ok(value)
}

const DUPLICATE: &str = "duplicate member ";
const TOO_DEEP: &str = "nested too deeply";

fn classify(error: serde_json::Error) -> JsonError {
    let text = error.to_string();
    if let Some(rest) = text.strip_prefix(DUPLICATE) {
        let name = rest.split(" at line").next().unwrap_or(rest);
        JsonError::DuplicateMember(name.to_owned())
    } else if text.starts_with(TOO_DEEP) {
        JsonError::TooDeep
    } else {
        JsonError::Syntax(text)
    }
}

struct StrictSeed {
    depth_left: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl StrictSeed {
    fn nested<E: de::Error>(&self) -> Result<Self, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(Self { depth_left }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> Visitor<'de> for StrictSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictSeed {
            depth_left: child.depth_left,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.nested()?;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format_args!("{DUPLICATE}{name}")));
            }
            let value = map.next_value_seed(StrictSeed {
                depth_left: child.depth_left,
            })?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateMember(name) => write!(f, "member {name:?} appears twice"),
            Self::Syntax(detail) => write!(f, "invalid JSON: {detail}"),
            Self::TooDeep => f.write_str("JSON nested too deeply"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_documents() {
        let value = parse(br#"{"a":[1,-2,3.5,"x",null,true],"b":{"c":{}}}"#, 8).unwrap();
        assert_eq!(value["a"][3], "x");
        assert_eq!(value["b"]["c"], Value::Object(Map::new()));
    }

    #[test]
    fn rejects_duplicate_members_at_any_depth() {
        assert_eq!(
            parse(br#"{"iss":"a","iss":"b"}"#, 8),
            Err(JsonError::DuplicateMember("iss".into()))
        );
        assert!(matches!(
            parse(br#"{"x":{"k":1,"k":1}}"#, 8),
            Err(JsonError::DuplicateMember(_))
        ));
        // Escapes decode before comparison: "\u0069ss" is "iss".
        assert!(matches!(
            parse(br#"{"iss":"a","\u0069ss":"b"}"#, 8),
            Err(JsonError::DuplicateMember(_))
        ));
    }

    #[test]
    fn bounds_depth() {
        assert!(parse(b"[[[]]]", 3).is_ok());
        assert_eq!(parse(b"[[[[]]]]", 3), Err(JsonError::TooDeep));
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes(), 32), Err(JsonError::TooDeep));
    }

    #[test]
    fn rejects_trailing_bytes_and_garbage() {
        assert!(matches!(parse(b"{} {}", 8), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b"\xff", 8), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b"", 8), Err(JsonError::Syntax(_))));
    }
}
