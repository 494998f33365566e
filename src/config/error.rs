//! What a configuration can get wrong ([`ConfigError`]: where, and a [`ConfigErrorKind`]) and
//! what it should be told while it loads ([`ConfigWarning`]). The texts are the ones users,
//! tests and docs quote: `providers.auth0.audiences: expected a list of strings`.

use std::borrow::Cow;
use std::fmt;

use crate::json::JsonError;

/// What a configuration without providers and API keys lacks (read and compile both say it).
pub(crate) const AT_LEAST_ONE_PROVIDER: &str = "at least one provider is required";

/// What a `deny.status` must be (read and compile both say it).
pub(crate) const HTTP_STATUS: &str = "an HTTP status from 400 to 599";

/// A configuration that cannot be used, and the field at fault.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConfigError {
    /// Where: `providers.auth0.audiences`, `rules[2].requires.provider_name` (empty: the whole
    /// document).
    pub path: String,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a configuration field. Each displays as the message users see.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum ConfigErrorKind {
    /// The plugin configuration has no bytes but whitespace.
    Empty,
    /// Not JSON, a member given twice, or nested too deeply.
    Json(JsonError),
    /// A member this object does not have; the hint names what was probably meant.
    UnknownField {
        /// `did you mean verifyClaims?`, or the fields known here.
        hint: Option<String>,
    },
    /// A jwt_authn member jwt-gate knows and refuses, and why.
    Refused(&'static str),
    /// A member given both in snake_case and in lowerCamelCase.
    GivenTwice,
    /// A value of the wrong type, or outside the values allowed: `expected {0}`.
    Expected(Cow<'static, str>),
    /// A member or a choice that must be given (the whole message).
    Required(Cow<'static, str>),
    /// Members given together that exclude each other (the whole message).
    Conflict(Cow<'static, str>),
    /// A requirement names a provider that is not configured (jwt_authn's words).
    UnknownProvider(String),
    /// `requirement_name` names no `requirement_map` entry (jwt_authn's words).
    UnknownRequirement {
        /// The name given.
        name: String,
        /// The entries there are.
        known: Vec<String>,
    },
    /// A requirement names an API key check that `api_keys` does not have.
    UnknownApiKey(String),
    /// A value that cannot be used, and why (the whole message): a regex, a URI, a key set, a
    /// document a translator cannot translate.
    Invalid(String),
}

impl ConfigError {
    /// An error of `kind` at `path`.
    pub fn new(path: impl Into<String>, kind: ConfigErrorKind) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }

    /// A value that cannot be used: `message` says why.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(path, ConfigErrorKind::Invalid(message.into()))
    }

    /// A value of the wrong type or outside its set: `expected {what}`.
    pub fn expected(path: impl Into<String>, what: impl Into<Cow<'static, str>>) -> Self {
        Self::new(path, ConfigErrorKind::Expected(what.into()))
    }

    /// A member or a choice that must be given.
    pub fn required(path: impl Into<String>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(path, ConfigErrorKind::Required(message.into()))
    }

    /// Members that exclude each other.
    pub fn conflict(path: impl Into<String>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(path, ConfigErrorKind::Conflict(message.into()))
    }

    /// A member this object does not have.
    pub fn unknown_field(path: impl Into<String>, hint: Option<String>) -> Self {
        Self::new(path, ConfigErrorKind::UnknownField { hint })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => {
                f.write_str("the plugin configuration is empty: expected jwt_authn's JSON")
            }
            Self::Json(error) => write!(f, "{error}"),
            Self::UnknownField { hint: None } => f.write_str("unknown field"),
            Self::UnknownField { hint: Some(hint) } => write!(f, "unknown field ({hint})"),
            Self::Refused(why) => f.write_str(why),
            Self::GivenTwice => f.write_str("given twice (in snake_case and lowerCamelCase)"),
            Self::Expected(what) => write!(f, "expected {what}"),
            Self::Required(message) | Self::Conflict(message) => f.write_str(message),
            Self::UnknownProvider(name) => {
                write!(f, "Required provider ['{name}'] is not configured.")
            }
            Self::UnknownRequirement { name, known } => write!(
                f,
                "Wrong requirement_name: {name}. It should be one of [{}]",
                known.join(",")
            ),
            Self::UnknownApiKey(name) => write!(f, "{name:?} is not in api_keys"),
            Self::Invalid(message) => f.write_str(message),
        }
    }
}

/// A configuration that loads, but does something its author should know about.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConfigWarning {
    /// Where: `providers.auth0.remote_jwks.async_fetch.fast_listener`.
    pub path: String,
    /// What it means.
    pub message: String,
}

impl ConfigWarning {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}
