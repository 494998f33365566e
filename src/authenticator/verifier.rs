//! Evaluating a requirement tree for one request (jwt_authn's `verifier.cc`): AND stops at the
//! first failure, OR reports the most specific error, and `allow_missing` /
//! `allow_missing_or_failed` act as flags on their group, as Envoy builds them.

use super::error::AuthError;
use crate::policy::requirement::Requirement;

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
    /// A point to come back to if the requirement about to be evaluated fails: the tokens that
    /// satisfied the tree so far (a rule's `when` holds on one of those).
    fn mark(&self) -> usize {
        0
    }
    /// Forgets what was recorded since `mark`: a `requires_any` branch that failed satisfied
    /// nothing, whatever tokens verified on its way.
    fn rollback(&mut self, _mark: usize) {}
}

/// Evaluates a requirement tree against one request's checks.
pub fn evaluate(requirement: &Requirement, checks: &mut dyn Checks) -> Result<(), AuthError> {
    match requirement {
        Requirement::NoCheck | Requirement::ApiKey { checked: false, .. } => Ok(()),
        Requirement::ApiKey { key, .. } => checks.api_key(*key),
        Requirement::Provider {
            provider,
            audiences,
        } => checks.provider(*provider, audiences.as_deref()),
        Requirement::AllowMissing => checks.all_present(false),
        Requirement::AllowMissingOrFailed => {
            // Verified for the outputs of valid tokens; the verdict does not matter.
            let _ = checks.all_present(true);
            Ok(())
        }
        Requirement::All(children) => children
            .iter()
            .try_for_each(|child| evaluate(child, checks)),
        Requirement::Any(children) => {
            let mut allow_missing = false;
            let mut allow_failed = false;
            let mut best: Option<AuthError> = None;
            let flags_only = children.iter().all(|child| {
                matches!(
                    child,
                    Requirement::AllowMissing | Requirement::AllowMissingOrFailed
                )
            });
            if flags_only {
                // Only flags: the group is the most lenient of them, evaluated for real (so
                // a present token is still verified), as Envoy builds it.
                let lenient = children.contains(&Requirement::AllowMissingOrFailed);
                let alone = if lenient {
                    Requirement::AllowMissingOrFailed
                } else {
                    Requirement::AllowMissing
                };
                return evaluate(&alone, checks);
            }
            for child in children {
                let mark = checks.mark();
                match child {
                    Requirement::AllowMissing => allow_missing = true,
                    Requirement::AllowMissingOrFailed => allow_failed = true,
                    _ => match evaluate(child, checks) {
                        Ok(()) => return Ok(()),
                        Err(error) => {
                            checks.rollback(mark);
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
        evaluate(
            requirement,
            &mut Fake {
                results: results.to_vec(),
                present,
                keys: Vec::new(),
                calls: 0,
            },
        )
    }

    const EXPIRED: AuthError = AuthError::Claims(ClaimsError::Expired {
        exp: 1,
        now: crate::time::Time::from_seconds(2),
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
        assert_eq!(evaluate(&all, &mut fake), Err(EXPIRED));
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
        evaluate(
            requirement,
            &mut Fake {
                results: results.to_vec(),
                present: Ok(()),
                keys: keys.to_vec(),
                calls: 0,
            },
        )
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
        assert_eq!(evaluate(&either, &mut fake), Ok(()));
    }
}
