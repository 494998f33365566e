//! Requirement trees (jwt_authn `JwtRequirement`): which tokens a request must carry, combined
//! with AND, OR and the two "allow" modes, plus jwt-gate's API key leaf. The authenticator
//! evaluates them (`authenticator::verifier`, after jwt_authn's `verifier.cc`).

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchecked_keys_always_pass_and_say_so() {
        let p = Requirement::Provider {
            provider: 0,
            audiences: None,
        };
        let key = |checked| Requirement::ApiKey {
            key: 0,
            name: "k0".to_owned(),
            checked,
        };
        let either = Requirement::Any(vec![p.clone(), key(false)]);
        assert!(either.always_passes());
        assert!(!Requirement::All(vec![p, key(false)]).always_passes());
        assert!(!key(true).always_passes());
        assert_eq!(
            either.describe(&["auth0"]),
            "(auth0 OR API key k0 (unchecked: passes))"
        );
    }
}
