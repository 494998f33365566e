//! A rule's `when`: once its requirement passed, one verified token that satisfied the
//! requirement must meet every condition. No such token at all is a missing token (401, as
//! `allowed_scopes` answers it); tokens that all fail some condition are 403, naming (for the
//! debug log only) the first condition the first token failed.

use std::sync::Arc;

use super::error::AuthError;
use super::token_cache::Verified;
use crate::policy::condition::Condition;

/// Whether one of `satisfying` (the tokens that satisfied the requirement, in the order they
/// verified) meets every condition.
pub(super) fn authorize<'v>(
    conditions: &[Condition],
    satisfying: impl Iterator<Item = &'v Verified>,
) -> Result<(), AuthError> {
    let mut failed: Option<&Condition> = None;
    for verified in satisfying {
        // A payload is kept whenever a rule has conditions; a token without one (which cannot
        // happen) meets none of them.
        let Some(payload) = &verified.payload else {
            failed = failed.or(conditions.first());
            continue;
        };
        match conditions
            .iter()
            .find(|condition| !condition.holds(payload))
        {
            None => return Ok(()),
            Some(condition) => failed = failed.or(Some(condition)),
        }
    }
    match failed {
        None => Err(AuthError::Missing),
        Some(condition) => Err(AuthError::ConditionNotMet(Arc::clone(&condition.text))),
    }
}
