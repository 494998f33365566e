//! An operation's security, as OpenAPI 2.0 states it: the `security` list is an OR of
//! requirement objects, the schemes inside one object are an AND. JWT schemes become
//! `provider_name` leaves, `apiKey` schemes `api_key_name` leaves; `basic` is the backend's
//! business (as in Cloud Endpoints). ESP's legacy `x-security` is read as Google's api-compiler
//! read it: JWT alternatives with their own audiences.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::config::model::{
    ApiKeyDigests, ApiKeyHeader, JwtRequirement, ProviderWithAudiences, RequirementList,
};
use crate::config::{is_header_name, ConfigError};

/// What a `securityDefinitions` entry is.
#[derive(Clone, Debug)]
pub(super) enum Scheme {
    /// `type: oauth2` with `x-google-issuer`: a provider.
    Jwt,
    /// `type: apiKey`: where the key is read, as an `api_keys` entry without digests.
    ApiKey(ApiKeyDigests),
    /// `type: basic`: neither jwt-gate nor ESP checks it.
    Basic,
}

/// One thing a request must carry.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(super) enum Need {
    /// A token of this definition; `x-security` may give the audiences.
    Jwt {
        name: String,
        audiences: Option<Vec<String>>,
    },
    /// A key of this `apiKey` definition.
    Key(String),
}

/// Alternatives (OR), each a list of needs (AND).
pub(super) type Alternatives = Vec<Vec<Need>>;

/// An operation's requirement: every clause must pass (`x-security` AND `security`); no clause
/// is no check.
#[derive(Clone, Debug, Default)]
pub(super) struct Requirement {
    clauses: Vec<Alternatives>,
}

impl Requirement {
    pub fn new(clauses: Vec<Alternatives>) -> Self {
        Self {
            clauses: clauses.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }

    pub fn is_none(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The `apiKey` schemes it names.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.needs()
            .filter_map(|need| match need {
                Need::Key(name) => Some(name.as_str()),
                Need::Jwt { .. } => None,
            })
            .collect()
    }

    /// Whether a request with no token passes once every API key counts as met.
    pub fn open_without_keys(&self) -> bool {
        self.clauses.iter().all(|clause| {
            clause
                .iter()
                .any(|all| all.iter().all(|need| matches!(need, Need::Key(_))))
        })
    }

    /// Whether some clause lets an API key alone stand in for a JWT (`[{key: []}, {jwt: []}]`).
    pub fn key_instead_of_jwt(&self) -> bool {
        self.clauses.iter().any(|clause| {
            let key_only = |all: &Vec<Need>| all.iter().all(|need| matches!(need, Need::Key(_)));
            clause.iter().any(key_only) && !clause.iter().all(key_only)
        })
    }

    /// jwt_authn's form: `provider_name`, `provider_and_audiences`, `api_key_name` leaves;
    /// `requires_all` for AND (tokens before keys, as ESPv2 runs jwt_authn before its key
    /// check), `requires_any` for OR.
    pub fn to_requirement(&self) -> Option<JwtRequirement> {
        let clauses: Vec<JwtRequirement> = self
            .clauses
            .iter()
            .map(|clause| {
                group(
                    JwtRequirement::RequiresAny,
                    clause.iter().map(|all| and(all)).collect(),
                )
            })
            .collect();
        (!clauses.is_empty()).then(|| group(JwtRequirement::RequiresAll, clauses))
    }

    fn needs(&self) -> impl Iterator<Item = &Need> {
        self.clauses.iter().flatten().flatten()
    }
}

fn and(needs: &[Need]) -> JwtRequirement {
    let (jwts, keys): (Vec<&Need>, Vec<&Need>) = needs
        .iter()
        .partition(|need| matches!(need, Need::Jwt { .. }));
    group(
        JwtRequirement::RequiresAll,
        jwts.into_iter().chain(keys).map(leaf).collect(),
    )
}

fn leaf(need: &Need) -> JwtRequirement {
    match need {
        Need::Jwt {
            name,
            audiences: None,
        } => JwtRequirement::ProviderName(name.clone()),
        Need::Jwt {
            name,
            audiences: Some(audiences),
        } => JwtRequirement::ProviderAndAudiences(ProviderWithAudiences {
            provider_name: name.clone(),
            audiences: audiences.clone(),
        }),
        Need::Key(name) => JwtRequirement::ApiKeyName(name.clone()),
    }
}

/// One child stands alone; several are grouped by `kind`.
fn group(
    kind: fn(RequirementList) -> JwtRequirement,
    mut children: Vec<JwtRequirement>,
) -> JwtRequirement {
    if children.len() == 1 {
        if let Some(only) = children.pop() {
            return only;
        }
    }
    kind(RequirementList {
        requirements: children,
    })
}

/// A `security` list: `[]` (or only `{}` and `basic` objects, which ESP adds nothing for) is
/// `None`.
pub(super) fn alternatives(
    list: &Value,
    path: &str,
    schemes: &BTreeMap<String, Scheme>,
) -> Result<Option<Alternatives>, ConfigError> {
    let Value::Array(objects) = list else {
        return Err(ConfigError::expected(
            path,
            "a list of security requirements",
        ));
    };
    let mut out = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let at = format!("{path}[{index}]");
        let Value::Object(names) = object else {
            return Err(ConfigError::expected(at, "an object"));
        };
        let mut all = Vec::new();
        for name in names.keys() {
            match schemes.get(name) {
                Some(Scheme::Jwt) => all.push(Need::Jwt {
                    name: name.clone(),
                    audiences: None,
                }),
                Some(Scheme::ApiKey(_)) => all.push(Need::Key(name.clone())),
                Some(Scheme::Basic) => {}
                None => {
                    return Err(ConfigError::invalid(
                        at,
                        format!("{name:?} is not in securityDefinitions"),
                    ))
                }
            }
        }
        if !all.is_empty() {
            out.push(all);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// ESP's legacy `x-security`: `[{"<definition>": {"audiences": [...]}}, ...]`, alternatives of
/// one JWT definition each (an empty `audiences` keeps the definition's own), as Google's
/// api-compiler reads it (`AuthRuleGenerator`, `AuthRequirementValidator`).
pub(super) fn x_security(
    value: &Value,
    path: &str,
    schemes: &BTreeMap<String, Scheme>,
) -> Result<Alternatives, ConfigError> {
    let Value::Array(objects) = value else {
        return Err(ConfigError::expected(
            path,
            "a list of {\"<definition>\": {\"audiences\": [...]}} objects",
        ));
    };
    let mut out = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let at = format!("{path}[{index}]");
        let entries = match object {
            Value::Object(entries) if entries.len() == 1 => entries,
            _ => {
                return Err(ConfigError::expected(
                    at,
                    "an object naming one definition (x-security has no AND)",
                ))
            }
        };
        for (name, requirement) in entries {
            let at = format!("{at}.{name}");
            if !matches!(schemes.get(name), Some(Scheme::Jwt)) {
                return Err(ConfigError::invalid(
                    at,
                    format!("{name:?} is not an oauth2 definition with x-google-issuer"),
                ));
            }
            let audiences = match requirement.get("audiences") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>(),
                _ => None,
            }
            .ok_or_else(|| {
                ConfigError::expected(
                    format!("{at}.audiences"),
                    "a list of audiences ([] keeps the definition's own)",
                )
            })?;
            out.push(vec![Need::Jwt {
                name: name.clone(),
                audiences: (!audiences.is_empty()).then_some(audiences),
            }]);
        }
    }
    Ok(out)
}

/// Where an `apiKey` definition's key is read: its `in` and `name`; a definition with neither
/// gets ESPv2's defaults (the `key` and `api_key` query parameters, the `x-api-key` header).
pub(super) fn api_key_locations(
    definition: &Map<String, Value>,
    path: &str,
) -> Result<ApiKeyDigests, ConfigError> {
    let text = |field: &str| match definition.get(field) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.as_str())),
        Some(_) => Err(ConfigError::expected(
            format!("{path}.{field}"),
            "a non-empty string",
        )),
    };
    let mut out = ApiKeyDigests::default();
    let header = |name: &str| ApiKeyHeader {
        name: name.to_owned(),
    };
    match (text("in")?, text("name")?) {
        (None, None) => {
            out.from_params = vec!["key".to_owned(), "api_key".to_owned()];
            out.from_headers = vec![header("x-api-key")];
        }
        (Some("query"), Some(name)) => out.from_params = vec![name.to_owned()],
        (Some("header"), Some(name)) => {
            if !is_header_name(name) {
                return Err(ConfigError::expected(
                    format!("{path}.name"),
                    "a header name",
                ));
            }
            out.from_headers = vec![header(name)];
        }
        (Some(_), Some(_)) => {
            return Err(ConfigError::expected(
                format!("{path}.in"),
                "\"query\" or \"header\"",
            ))
        }
        _ => {
            return Err(ConfigError::invalid(
                path,
                "give both in and name, or neither (ESPv2's places: ?key=, ?api_key=, x-api-key)",
            ))
        }
    }
    Ok(out)
}
