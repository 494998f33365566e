//! A rule's `when` (and a `requirement_map` entry's) compiled into [`Condition`]s, each error
//! naming the entry at fault (`rules[2].when[0].key: unknown key "source.ip": ...`); and the
//! check that the requirement beside them verifies a token for them to hold on.

use super::super::model;
use super::super::ConfigError;
use crate::policy::condition::{Condition, MAX_CONDITIONS};
use crate::policy::requirement::Requirement;

/// The `when` list at `at` (`rules[0].when`).
pub(super) fn compile(
    entries: &[model::Condition],
    at: &str,
) -> Result<Vec<Condition>, ConfigError> {
    if entries.len() > MAX_CONDITIONS {
        return Err(ConfigError::invalid(
            at,
            format!("at most {MAX_CONDITIONS} conditions"),
        ));
    }
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            Condition::parse(&entry.key, &entry.values, &entry.not_values)
                .map_err(|why| ConfigError::invalid(format!("{at}[{index}]"), why))
        })
        .collect()
}

/// Conditions hold on a verified token: the requirement they go with (at `at`) must verify one
/// (name a provider, or `allow_missing`/`allow_missing_or_failed`, which verify the tokens
/// present).
pub(super) fn needs_token(requirement: Option<&Requirement>, at: &str) -> Result<(), ConfigError> {
    if requirement.is_some_and(verifies_tokens) {
        return Ok(());
    }
    Err(ConfigError::required(
        at,
        "when needs a requirement that verifies a token (requires or requirement_name naming a \
         provider): its conditions hold on a verified token",
    ))
}

fn verifies_tokens(requirement: &Requirement) -> bool {
    match requirement {
        Requirement::Provider { .. }
        | Requirement::AllowMissing
        | Requirement::AllowMissingOrFailed => true,
        Requirement::All(children) | Requirement::Any(children) => {
            children.iter().any(verifies_tokens)
        }
        Requirement::ApiKey { .. } | Requirement::NoCheck => false,
    }
}
