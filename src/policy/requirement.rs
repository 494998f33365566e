//! Requirement trees (jwt_authn `JwtRequirement` and its `verifier.cc`): which tokens a request
//! must carry, combined with AND, OR and the two "allow" modes, plus jwt-gate's API key leaf.

use crate::authenticator::error::AuthError;
use crate::config::{ConfigError, ConfigField};
use crate::policy::api_key::{Accepted, ApiKeyCheck};

/// A compiled `JwtRequirement`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Requirement {
    /// Every child must pass; the first failure is the result.
    All(Vec<Requirement>),
    /// jwt-gate's `api_key_name`: the request must carry a key this `api_keys` entry accepts
    /// (an `"unchecked"` entry passes every request).
    ApiKey {
        /// Index into `Config::api_keys`.
        key: usize,
        /// Its name there.
        name: String,
        /// `false` for an `"unchecked"` entry.
        checked: bool,
    },
    /// Tokens present must verify (against the provider their `iss` selects); none is fine.
    AllowMissing,
    /// Tokens present are verified (for their outputs), but the request passes regardless.
    AllowMissingOrFailed,
    /// One child must pass. `AllowMissing`/`AllowMissingOrFailed` children act as flags on the
    /// group's result.
    Any(Vec<Requirement>),
    /// No check (an empty requirement).
    NoCheck,
    /// A token of this provider must be present and valid; `audiences` replaces the provider's.
    Provider {
        /// Index into `Config::providers`.
        provider: usize,
        /// `provider_and_audiences` override, normalized.
        audiences: Option<Vec<String>>,
    },
}

/// What evaluating a requirement needs from the request: the per-provider and per-token checks.
pub trait Checks {
    /// Tokens at `provider`'s locations: none is `Missing`; every one found must verify.
    fn provider(&mut self, provider: usize, audiences: Option<&[String]>) -> Result<(), AuthError>;
    /// Every token at any location must verify against the provider its `iss` selects; no token
    /// at all is fine. `lenient`: the verdict will be ignored (`allow_missing_or_failed`), the
    /// checks run for the outputs of valid tokens.
    fn all_present(&mut self, lenient: bool) -> Result<(), AuthError>;
    /// The request carries a key `api_keys[key]` accepts.
    fn api_key(&mut self, key: usize) -> Result<(), AuthError>;
}

/// What requirements may name: providers and API key checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Names<'a> {
    /// Provider names, in index order.
    pub providers: &'a [&'a str],
    /// `api_keys`, in index order.
    pub api_keys: &'a [ApiKeyCheck],
}

impl Requirement {
    /// A one-line summary for people (`jwt-gate check`), with provider names.
    pub fn describe(&self, providers: &[&str]) -> String {
        let list = |children: &[Self], join: &str| {
            let parts: Vec<String> = children.iter().map(|c| c.describe(providers)).collect();
            format!("({})", parts.join(join))
        };
        match self {
            Self::All(children) => list(children, " AND "),
            Self::Any(children) => list(children, " OR "),
            Self::AllowMissing => "a valid token if any (allow_missing)".to_owned(),
            Self::AllowMissingOrFailed => "anything (allow_missing_or_failed)".to_owned(),
            Self::NoCheck => "nothing".to_owned(),
            Self::ApiKey {
                name,
                checked: true,
                ..
            } => format!("API key {name}"),
            Self::ApiKey { name, .. } => format!("API key {name} (unchecked: passes)"),
            Self::Provider {
                provider,
                audiences,
            } => {
                let name = providers.get(*provider).copied().unwrap_or("?");
                match audiences {
                    Some(audiences) => format!("{name} [audiences {}]", audiences.join(", ")),
                    None => name.to_owned(),
                }
            }
        }
    }

    /// Whether the tree lets every request through, whatever its tokens
    /// (`allow_missing_or_failed`, alone or as an alternative).
    pub fn always_passes(&self) -> bool {
        match self {
            Self::AllowMissingOrFailed | Self::NoCheck => true,
            Self::ApiKey { checked, .. } => !checked,
            Self::Any(children) => children.iter().any(Self::always_passes),
            Self::All(children) => children.iter().all(Self::always_passes),
            Self::AllowMissing | Self::Provider { .. } => false,
        }
    }

    /// Evaluates the tree.
    pub fn evaluate(&self, checks: &mut dyn Checks) -> Result<(), AuthError> {
        match self {
            Self::NoCheck | Self::ApiKey { checked: false, .. } => Ok(()),
            Self::ApiKey { key, .. } => checks.api_key(*key),
            Self::Provider {
                provider,
                audiences,
            } => checks.provider(*provider, audiences.as_deref()),
            Self::AllowMissing => checks.all_present(false),
            Self::AllowMissingOrFailed => {
                // Verified for the outputs of valid tokens; the verdict does not matter.
                let _ = checks.all_present(true);
                Ok(())
            }
            Self::All(children) => children.iter().try_for_each(|child| child.evaluate(checks)),
            Self::Any(children) => {
                let mut allow_missing = false;
                let mut allow_failed = false;
                let mut best: Option<AuthError> = None;
                let flags_only = children
                    .iter()
                    .all(|child| matches!(child, Self::AllowMissing | Self::AllowMissingOrFailed));
                if flags_only {
                    // Only flags: the group is the most lenient of them, evaluated for real (so
                    // a present token is still verified), as Envoy builds it.
                    let lenient = children.contains(&Self::AllowMissingOrFailed);
                    let alone = if lenient {
                        Self::AllowMissingOrFailed
                    } else {
                        Self::AllowMissing
                    };
                    return alone.evaluate(checks);
                }
                for child in children {
                    match child {
                        Self::AllowMissing => allow_missing = true,
                        Self::AllowMissingOrFailed => allow_failed = true,
                        _ => match child.evaluate(checks) {
                            Ok(()) => return Ok(()),
                            Err(error) => {
                                // Envoy keeps the last of the most specific errors.
                                if best
                                    .as_ref()
                                    .is_none_or(|b| error.specificity() >= b.specificity())
                                {
                                    best = Some(error);
                                }
                            }
                        },
                    }
                }
                if allow_failed {
                    return Ok(());
                }
                match best {
                    None => Ok(()),
                    Some(AuthError::Missing) if allow_missing => Ok(()),
                    Some(error) => Err(error),
                }
            }
        }
    }

    pub(crate) fn parse(field: &ConfigField<'_>, names: Names<'_>) -> Result<Self, ConfigError> {
        let providers = names.providers;
        let mut object = field.object()?;
        let mut found = Vec::new();
        if let Some(name) = object.take("provider_name") {
            found.push(Self::Provider {
                provider: provider_index(&name, providers)?,
                audiences: None,
            });
        }
        if let Some(name_field) = object.take("api_key_name") {
            let name = name_field.string()?;
            let key = names
                .api_keys
                .iter()
                .position(|check| check.name == name)
                .ok_or_else(|| name_field.error(format!("{name:?} is not in api_keys")))?;
            let checked = names
                .api_keys
                .get(key)
                .is_some_and(|check| check.accepted != Accepted::Unchecked);
            found.push(Self::ApiKey {
                key,
                name: name.to_owned(),
                checked,
            });
        }
        if let Some(inner) = object.take("provider_and_audiences") {
            let mut inner_object = inner.object()?;
            let name = inner_object
                .take("provider_name")
                .ok_or_else(|| inner.error("provider_name is required"))?;
            let provider = provider_index(&name, providers)?;
            let audiences: Vec<String> = inner_object
                .strings("audiences")?
                .iter()
                .map(|aud| crate::policy::claims::normalize_audience(aud).to_owned())
                .collect();
            inner_object.finish()?;
            // An empty list means the provider's own audiences (Envoy), never "any audience".
            found.push(Self::Provider {
                provider,
                audiences: (!audiences.is_empty()).then_some(audiences),
            });
        }
        for (name, combine) in [
            ("requires_any", Self::Any as fn(Vec<Self>) -> Self),
            ("requires_all", Self::All),
        ] {
            if let Some(group) = object.take(name) {
                let mut group_object = group.object()?;
                let children = group_object
                    .list("requirements")?
                    .iter()
                    .map(|child| Self::parse(child, names))
                    .collect::<Result<Vec<_>, _>>()?;
                if children.is_empty() {
                    return Err(group.error("requirements must list at least one requirement"));
                }
                group_object.finish()?;
                found.push(combine(children));
            }
        }
        for (name, flag) in [
            ("allow_missing", Self::AllowMissing),
            ("allow_missing_or_failed", Self::AllowMissingOrFailed),
        ] {
            if let Some(empty) = object.take(name) {
                empty.object()?.finish()?;
                found.push(flag);
            }
        }
        object.finish()?;
        let mut found = found.into_iter();
        match (found.next(), found.next()) {
            (None, _) => Ok(Self::NoCheck),
            (Some(requirement), None) => Ok(requirement),
            _ => Err(field.error("give only one kind of requirement")),
        }
    }
}

fn provider_index(name: &ConfigField<'_>, providers: &[&str]) -> Result<usize, ConfigError> {
    let text = name.string()?;
    providers
        .iter()
        .position(|p| *p == text)
        .ok_or_else(|| name.error(format!("Required provider ['{text}'] is not configured.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::claims::ClaimsError;

    /// Provider `i` answers `results[i]`; `all_present` answers `present`.
    struct Fake {
        results: Vec<Result<(), AuthError>>,
        present: Result<(), AuthError>,
        keys: Vec<Result<(), AuthError>>,
        calls: usize,
    }

    impl Checks for Fake {
        fn provider(&mut self, provider: usize, _: Option<&[String]>) -> Result<(), AuthError> {
            self.calls += 1;
            self.results[provider].clone()
        }
        fn all_present(&mut self, _lenient: bool) -> Result<(), AuthError> {
            self.present.clone()
        }
        fn api_key(&mut self, key: usize) -> Result<(), AuthError> {
            self.calls += 1;
            self.keys[key].clone()
        }
    }

    fn p(provider: usize) -> Requirement {
        Requirement::Provider {
            provider,
            audiences: None,
        }
    }

    fn eval(
        requirement: &Requirement,
        results: &[Result<(), AuthError>],
        present: Result<(), AuthError>,
    ) -> Result<(), AuthError> {
        requirement.evaluate(&mut Fake {
            results: results.to_vec(),
            present,
            keys: Vec::new(),
            calls: 0,
        })
    }

    const EXPIRED: AuthError = AuthError::Claims(ClaimsError::Expired {
        exp: 1,
        now: crate::time::UnixTime(2),
    });
    const UNKNOWN: AuthError = AuthError::Claims(ClaimsError::IssuerNotAllowed);

    #[test]
    fn any_reports_the_most_specific_error() {
        let any = Requirement::Any(vec![p(0), p(1), p(2)]);
        assert_eq!(
            eval(
                &any,
                &[
                    Err(AuthError::Missing),
                    Err(UNKNOWN),
                    Err(AuthError::Missing)
                ],
                Ok(())
            ),
            Err(UNKNOWN)
        );
        assert_eq!(
            eval(
                &any,
                &[Err(AuthError::Missing), Err(UNKNOWN), Err(EXPIRED)],
                Ok(())
            ),
            Err(EXPIRED)
        );
        assert_eq!(
            eval(&any, &[Err(EXPIRED), Ok(()), Err(EXPIRED)], Ok(())),
            Ok(())
        );
    }

    #[test]
    fn istio_shape_allows_missing_but_not_invalid() {
        let istio = Requirement::Any(vec![p(0), Requirement::AllowMissing]);
        assert_eq!(eval(&istio, &[Err(AuthError::Missing)], Ok(())), Ok(()));
        assert_eq!(eval(&istio, &[Err(EXPIRED)], Ok(())), Err(EXPIRED));
        assert_eq!(eval(&istio, &[Err(UNKNOWN)], Ok(())), Err(UNKNOWN));
        let lenient = Requirement::Any(vec![p(0), Requirement::AllowMissingOrFailed]);
        assert_eq!(eval(&lenient, &[Err(EXPIRED)], Err(EXPIRED)), Ok(()));
    }

    #[test]
    fn any_of_flags_only_still_verifies_present_tokens() {
        let flags = Requirement::Any(vec![Requirement::AllowMissing, Requirement::AllowMissing]);
        assert_eq!(eval(&flags, &[], Err(EXPIRED)), Err(EXPIRED));
        assert_eq!(eval(&flags, &[], Ok(())), Ok(()));
        let lenient = Requirement::Any(vec![
            Requirement::AllowMissing,
            Requirement::AllowMissingOrFailed,
        ]);
        assert_eq!(eval(&lenient, &[], Err(EXPIRED)), Ok(()));
    }

    #[test]
    fn any_keeps_the_last_of_equally_specific_errors() {
        let forbidden = AuthError::Claims(ClaimsError::AudienceNotAllowed);
        let any = Requirement::Any(vec![p(0), p(1)]);
        assert_eq!(
            eval(&any, &[Err(EXPIRED), Err(forbidden.clone())], Ok(())),
            Err(forbidden)
        );
    }

    #[test]
    fn all_stops_at_the_first_failure() {
        let all = Requirement::All(vec![p(0), p(1)]);
        let mut fake = Fake {
            results: vec![Err(EXPIRED), Ok(())],
            present: Ok(()),
            keys: Vec::new(),
            calls: 0,
        };
        assert_eq!(all.evaluate(&mut fake), Err(EXPIRED));
        assert_eq!(fake.calls, 1);
        assert_eq!(eval(&all, &[Ok(()), Ok(())], Ok(())), Ok(()));
    }

    #[test]
    fn allow_modes_alone() {
        assert_eq!(
            eval(&Requirement::AllowMissing, &[], Err(EXPIRED)),
            Err(EXPIRED)
        );
        assert_eq!(eval(&Requirement::AllowMissing, &[], Ok(())), Ok(()));
        assert_eq!(
            eval(&Requirement::AllowMissingOrFailed, &[], Err(EXPIRED)),
            Ok(())
        );
    }

    fn key(key: usize, checked: bool) -> Requirement {
        Requirement::ApiKey {
            key,
            name: format!("k{key}"),
            checked,
        }
    }

    fn eval_keys(
        requirement: &Requirement,
        results: &[Result<(), AuthError>],
        keys: &[Result<(), AuthError>],
    ) -> Result<(), AuthError> {
        requirement.evaluate(&mut Fake {
            results: results.to_vec(),
            present: Ok(()),
            keys: keys.to_vec(),
            calls: 0,
        })
    }

    #[test]
    fn api_keys_combine_as_openapi_security_does() {
        // One object, two schemes: both must pass (the JWT first, as ESPv2 runs jwt_authn first).
        let both = Requirement::All(vec![p(0), key(0, true)]);
        assert_eq!(
            eval_keys(&both, &[Ok(())], &[Err(AuthError::ApiKeyMissing)]),
            Err(AuthError::ApiKeyMissing)
        );
        assert_eq!(eval_keys(&both, &[Err(EXPIRED)], &[Ok(())]), Err(EXPIRED));
        assert_eq!(eval_keys(&both, &[Ok(())], &[Ok(())]), Ok(()));
        // Two objects: either passes; a key that is not valid beats a missing token.
        let either = Requirement::Any(vec![p(0), key(0, true)]);
        assert_eq!(
            eval_keys(&either, &[Err(AuthError::Missing)], &[Ok(())]),
            Ok(())
        );
        assert_eq!(
            eval_keys(
                &either,
                &[Err(AuthError::Missing)],
                &[Err(AuthError::ApiKeyNotValid)]
            ),
            Err(AuthError::ApiKeyNotValid)
        );
        assert_eq!(
            eval_keys(&either, &[Err(EXPIRED)], &[Err(AuthError::ApiKeyMissing)]),
            Err(EXPIRED)
        );
    }

    #[test]
    fn an_unchecked_key_passes_without_asking() {
        let mut fake = Fake {
            results: vec![Err(AuthError::Missing)],
            present: Ok(()),
            keys: vec![Err(AuthError::ApiKeyMissing)],
            calls: 0,
        };
        let either = Requirement::Any(vec![p(0), key(0, false)]);
        assert_eq!(either.evaluate(&mut fake), Ok(()));
        assert!(either.always_passes());
        assert!(!Requirement::All(vec![p(0), key(0, false)]).always_passes());
        assert!(!key(0, true).always_passes());
        assert_eq!(
            either.describe(&["auth0"]),
            "(auth0 OR API key k0 (unchecked: passes))"
        );
    }
}
