//! Requirements (jwt_authn's `JwtRequirement`) compiled into [`Requirement`] trees: names
//! resolved to the providers and API key checks they refer to.

use super::super::model::{self, JwtRequirement};
use super::super::walk::join;
use super::super::{ConfigError, ConfigErrorKind};
use crate::policy::api_key::{Accepted, ApiKeyCheck};
use crate::policy::claims::normalize_audience;
use crate::policy::requirement::Requirement;

/// What requirements may name: providers and API key checks.
#[derive(Clone, Copy, Debug)]
pub(super) struct Names<'a> {
    /// Provider names, in index order.
    pub providers: &'a [&'a str],
    /// `api_keys`, in index order.
    pub api_keys: &'a [ApiKeyCheck],
}

/// The requirement at `at`.
pub(super) fn compile(
    requirement: &JwtRequirement,
    at: &str,
    names: Names<'_>,
) -> Result<Requirement, ConfigError> {
    Ok(match requirement {
        JwtRequirement::ProviderName(name) => Requirement::Provider {
            provider: provider_index(name, &join(at, "provider_name"), names)?,
            audiences: None,
        },
        JwtRequirement::ProviderAndAudiences(model::ProviderWithAudiences {
            provider_name,
            audiences,
        }) => {
            let at = join(at, "provider_and_audiences");
            let provider = provider_index(provider_name, &join(&at, "provider_name"), names)?;
            // An empty list means the provider's own audiences (Envoy), never "any audience".
            let audiences: Vec<String> = audiences
                .iter()
                .map(|aud| normalize_audience(aud).to_owned())
                .collect();
            Requirement::Provider {
                provider,
                audiences: (!audiences.is_empty()).then_some(audiences),
            }
        }
        JwtRequirement::RequiresAny(list) => {
            Requirement::Any(children(list, &join(at, "requires_any"), names)?)
        }
        JwtRequirement::RequiresAll(list) => {
            Requirement::All(children(list, &join(at, "requires_all"), names)?)
        }
        JwtRequirement::AllowMissing(_) => Requirement::AllowMissing,
        JwtRequirement::AllowMissingOrFailed(_) => Requirement::AllowMissingOrFailed,
        JwtRequirement::ApiKeyName(name) => {
            let key = names
                .api_keys
                .iter()
                .position(|check| check.name == *name)
                .ok_or_else(|| {
                    ConfigError::new(
                        join(at, "api_key_name"),
                        ConfigErrorKind::UnknownApiKey(name.clone()),
                    )
                })?;
            let checked = names
                .api_keys
                .get(key)
                .is_some_and(|check| check.accepted != Accepted::Unchecked);
            Requirement::ApiKey {
                key,
                name: name.clone(),
                checked,
            }
        }
        JwtRequirement::NoCheck(_) => Requirement::NoCheck,
    })
}

/// The requirements of a `requires_any` or `requires_all` group: at least one.
fn children(
    list: &model::RequirementList,
    at: &str,
    names: Names<'_>,
) -> Result<Vec<Requirement>, ConfigError> {
    let children = list
        .requirements
        .iter()
        .enumerate()
        .map(|(index, child)| compile(child, &format!("{at}.requirements[{index}]"), names))
        .collect::<Result<Vec<_>, _>>()?;
    if children.is_empty() {
        return Err(ConfigError::required(
            at,
            "requirements must list at least one requirement",
        ));
    }
    Ok(children)
}

fn provider_index(name: &str, at: &str, names: Names<'_>) -> Result<usize, ConfigError> {
    names
        .providers
        .iter()
        .position(|p| *p == name)
        .ok_or_else(|| ConfigError::new(at, ConfigErrorKind::UnknownProvider(name.to_owned())))
}
