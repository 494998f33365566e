//! A provider (jwt_authn's `JwtProvider`) compiled into a [`Provider`]: claim rules, key source,
//! token locations (shared between providers), what it hands the backend, and how its tokens
//! are bound to their sender (`dpop`, `certificate_bound`).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::super::model::{self, JwksSource, JwtProvider};
use super::super::walk::join;
use super::super::{ClaimToHeader, ConfigError, ConfigWarning, KeySource, Provider};
use super::{remote_jwks, route};
use crate::keys::KeySet;
use crate::limits::Limits;
use crate::policy::binding::{DpopPolicy, ASYMMETRIC};
use crate::policy::claims::{normalize_audience, ClaimCheck, ClaimRules};
use crate::policy::condition::{Condition, ConditionKey, Matcher, Pattern};
use crate::policy::requirement::Requirement;
use crate::policy::route::StringMatcher;
use crate::token::algorithm::Algorithm;
use crate::token::claims::ClaimLookup;
use crate::token::extractor::Location;
use crate::token::issuer::IssuerTemplate;

/// What compiling a provider adds to, or reads from, the whole configuration.
pub(super) struct Context<'c> {
    /// Every distinct token location so far; providers refer to them by index.
    pub locations: &'c mut Vec<Location>,
    pub limits: &'c Limits,
    pub warnings: &'c mut Vec<ConfigWarning>,
}

/// The provider `name` at `at`.
pub(super) fn compile(
    name: &str,
    provider: &JwtProvider,
    at: &str,
    context: &mut Context<'_>,
) -> Result<Provider, ConfigError> {
    let (issuer, issuer_template) = issuer(provider, at)?;
    let lookup = match provider.claim_lookup {
        None | Some(model::ClaimLookup::Path) => ClaimLookup::Path,
        Some(model::ClaimLookup::Literal) => ClaimLookup::Literal,
    };
    let claims = ClaimRules {
        audiences: provider
            .audiences
            .iter()
            .map(|aud| normalize_audience(aud).to_owned())
            .collect(),
        // jwt_authn: 0 (or unset) means the default of 60 seconds. jwt-gate's `clock_skew` (a
        // Duration) may say 0s and mean it (OCI's default).
        clock_skew_seconds: match (provider.clock_skew, provider.clock_skew_seconds) {
            (Some(skew), _) => whole_seconds(skew),
            (None, 0) => 60,
            (None, seconds) => seconds,
        },
        require_expiration: provider.require_expiration,
        max_lifetime_seconds: provider.max_lifetime.map(whole_seconds),
        subjects: provider
            .subjects
            .as_ref()
            .map(|subjects| self::subjects(subjects, &join(at, "subjects")))
            .transpose()?,
        verify_claims: verify_claims(&provider.verify_claims, lookup, at)?,
        issuer,
        issuer_template,
    };
    let keys = match &provider.jwks_source {
        Some(JwksSource::LocalJwks(source)) => {
            KeySource::Local(local_jwks(source, &join(at, "local_jwks"), context.limits)?)
        }
        Some(JwksSource::RemoteJwks(remote)) if claims.issuer_template.is_some() && !has_uri(remote) => {
            return Err(ConfigError::required(
                join(at, "remote_jwks.http_uri.uri"),
                "uri is required with a templated issuer: keys cannot be discovered from a template",
            ))
        }
        Some(JwksSource::RemoteJwks(remote)) => KeySource::Remote(remote_jwks::compile(
            remote,
            claims.issuer.as_deref(),
            &join(at, "remote_jwks"),
            context.warnings,
        )?),
        None => {
            return Err(ConfigError::required(
                at,
                "local_jwks or remote_jwks is required",
            ))
        }
    };
    let mut locations = locations(provider, at, context.locations)?;
    let dpop = provider
        .dpop
        .as_ref()
        .map(|dpop| {
            let location = index_of(context.locations, dpop_location());
            if !locations.contains(&location) {
                locations.push(location);
            }
            self::dpop(dpop, location, claims.clock_skew_seconds, &join(at, "dpop"))
        })
        .transpose()?;
    let forward_payload_header = match provider.forward_payload_header.as_str() {
        // jwt_authn: an empty string means "not set".
        "" => None,
        header => Some(header_name(header, &join(at, "forward_payload_header"))?),
    };
    Ok(Provider {
        name: name.to_owned(),
        claims,
        keys,
        locations,
        forward: provider.forward,
        forward_payload_header,
        pad_forward_payload_header: provider.pad_forward_payload_header,
        payload_format: provider.forward_payload_header_format.unwrap_or_default(),
        claim_to_headers: claim_to_headers(&provider.claim_to_headers, lookup, at)?,
        cache: cache(provider.jwt_cache_config.as_ref()),
        dpop,
        certificate_bound: provider.certificate_bound,
    })
}

/// Longest `dpop.max_proof_age`: a longer window is a longer replay window and a larger cache.
const MAX_PROOF_AGE_SECONDS: u64 = 3_600;

/// Where DPoP-bound tokens come: `Authorization: DPoP <token>` (RFC 9449 §7.1).
fn dpop_location() -> Location {
    Location::Header {
        name: "authorization".into(),
        value_prefix: "DPoP ".to_owned(),
    }
}

/// jwt-gate's `dpop`: a proof may be `max_proof_age` (default 60 s) plus the clock skew away
/// from now, either way; its algorithm one of `algorithms` (default: every asymmetric one).
fn dpop(
    dpop: &model::Dpop,
    location: usize,
    clock_skew_seconds: u64,
    at: &str,
) -> Result<DpopPolicy, ConfigError> {
    let max_proof_age = match dpop.max_proof_age.map(whole_seconds) {
        None => DEFAULT_MAX_PROOF_AGE_SECONDS,
        Some(seconds @ 1..=MAX_PROOF_AGE_SECONDS) => seconds,
        Some(_) => {
            return Err(ConfigError::expected(
                join(at, "max_proof_age"),
                format!("a duration from 1s to {MAX_PROOF_AGE_SECONDS}s"),
            ))
        }
    };
    let algorithms = match &dpop.algorithms {
        None => ASYMMETRIC.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(ConfigError::expected(
                join(at, "algorithms"),
                "at least one algorithm (leave it out for every asymmetric one)",
            ))
        }
        Some(names) => {
            let mut algorithms = Vec::new();
            for (index, name) in names.iter().enumerate() {
                let algorithm = Algorithm::from_name(name)
                    .filter(|algorithm| ASYMMETRIC.contains(algorithm))
                    .ok_or_else(|| {
                        ConfigError::expected(
                            format!("{}[{index}]", join(at, "algorithms")),
                            "an asymmetric JWS algorithm: ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256, RS384 or RS512",
                        )
                    })?;
                if !algorithms.contains(&algorithm) {
                    algorithms.push(algorithm);
                }
            }
            algorithms
        }
    };
    Ok(DpopPolicy {
        required: dpop.required,
        window_seconds: max_proof_age.saturating_add(clock_skew_seconds),
        algorithms,
        location,
    })
}

/// `dpop.max_proof_age` when not given.
pub(crate) const DEFAULT_MAX_PROOF_AGE_SECONDS: u64 = 60;

/// A warning for each templated provider that some rule lets through for every tenant: the
/// provider has no `verify_claims` entry with values on a claim one of its `{name}` segments
/// binds, and a rule whose requirement takes its tokens has no `when` condition that admits
/// only some values of such a claim (or only exact issuers of `request.auth.principal`).
pub(super) fn unrestricted_tenants(
    providers: &[Provider],
    rules: &[super::super::Rule],
    warnings: &mut Vec<ConfigWarning>,
) {
    for (index, provider) in providers.iter().enumerate() {
        let Some(template) = &provider.claims.issuer_template else {
            continue;
        };
        let names: Vec<&str> = template.names().collect();
        let checked = provider
            .claims
            .verify_claims
            .iter()
            .any(|check| !check.values.is_empty() && names.contains(&&*check.name));
        let open_rule = rules.iter().any(|rule| {
            rule.requirement
                .as_ref()
                .is_some_and(|requirement| takes_tokens_of(requirement, index))
                && !rule
                    .conditions
                    .iter()
                    .any(|condition| restricts(condition, &names))
        });
        if checked || !open_rule {
            continue;
        }
        let first = names.first().copied().unwrap_or_default();
        warnings.push(ConfigWarning::new(
            join(&join("providers", &provider.name), "issuer"),
            format!(
                "{:?} accepts every tenant: restrict {{{first}}} with verify_claims \
                 ({{\"key\": \"{first}\", \"values\": [...]}}) or a when condition on \
                 request.auth.claims[{first}]",
                template.as_str()
            ),
        ));
    }
}

/// Whether a requirement may accept a token of provider `index`: it names it, or lets any
/// provider's token through (`allow_missing`, `allow_missing_or_failed`).
fn takes_tokens_of(requirement: &Requirement, index: usize) -> bool {
    match requirement {
        Requirement::Provider { provider, .. } => *provider == index,
        Requirement::AllowMissing | Requirement::AllowMissingOrFailed => true,
        Requirement::All(children) | Requirement::Any(children) => {
            children.iter().any(|child| takes_tokens_of(child, index))
        }
        Requirement::ApiKey { .. } | Requirement::NoCheck => false,
    }
}

/// Whether a condition admits only some values of a claim in `names` (or only exact issuers).
fn restricts(condition: &Condition, names: &[&str]) -> bool {
    let exact = |matcher: &Matcher| match matcher {
        Matcher::Text(pattern) => !matches!(pattern, Pattern::NonEmpty),
        Matcher::Principal { iss, .. } => matches!(iss, Pattern::Exact(_)),
    };
    let on_a_name = match &condition.key {
        ConditionKey::Claim(path) => {
            matches!(path.as_slice(), [name] if names.contains(&name.as_str()))
        }
        ConditionKey::Principal => true,
        ConditionKey::Audiences | ConditionKey::Presenter => false,
    };
    on_a_name && !condition.values.is_empty() && condition.values.iter().all(exact)
}

/// The exact issuer (`None`: any), or the template of an issuer with `{name}` segments.
fn issuer(
    provider: &JwtProvider,
    at: &str,
) -> Result<(Option<String>, Option<IssuerTemplate>), ConfigError> {
    if !provider.issuer.contains(['{', '}']) {
        // jwt_authn: an empty issuer is any issuer.
        return Ok((
            Some(provider.issuer.clone()).filter(|issuer| !issuer.is_empty()),
            None,
        ));
    }
    let template = IssuerTemplate::parse(&provider.issuer)
        .map_err(|why| ConfigError::invalid(join(at, "issuer"), why))?;
    Ok((None, Some(template)))
}

fn has_uri(remote: &model::RemoteJwks) -> bool {
    remote
        .http_uri
        .as_ref()
        .is_some_and(|http_uri| !http_uri.uri.is_empty())
}

/// jwt_authn checks `sub` with its StringMatcher (exact, prefix, suffix, contains, safe_regex;
/// ignore_case), e.g. a SPIFFE ID prefix for JWT-SVIDs.
fn subjects(matcher: &model::StringMatcher, at: &str) -> Result<StringMatcher, ConfigError> {
    // Envoy's proto validation: prefix, suffix and contains need a character (an empty one
    // would match every `sub`).
    let empty = match &matcher.pattern {
        model::StringPattern::Prefix(text) if text.is_empty() => Some("prefix"),
        model::StringPattern::Suffix(text) if text.is_empty() => Some("suffix"),
        model::StringPattern::Contains(text) if text.is_empty() => Some("contains"),
        _ => None,
    };
    if let Some(kind) = empty {
        return Err(ConfigError::invalid(
            join(at, kind),
            "must not be empty (it would match every sub)",
        ));
    }
    route::string_matcher(matcher, at)
}

/// jwt-gate's `verify_claims`; `lookup` is how their keys find their claim.
fn verify_claims(
    entries: &[model::VerifyClaim],
    lookup: ClaimLookup,
    at: &str,
) -> Result<Vec<ClaimCheck>, ConfigError> {
    let mut checks = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry_at = format!("{}[{index}]", join(at, "verify_claims"));
        if entry.key.is_empty() {
            return Err(ConfigError::required(
                entry_at,
                "key (the claim name) is required",
            ));
        }
        if entry.values.is_empty() && !entry.is_required {
            return Err(ConfigError::invalid(
                entry_at,
                "checks nothing: give values, or is_required: true",
            ));
        }
        checks.push(ClaimCheck {
            name: Arc::from(entry.key.as_str()),
            values: entry.values.clone(),
            required: entry.is_required,
            lookup,
        });
    }
    Ok(checks)
}

/// `local_jwks`: parsed once, at configure time.
fn local_jwks(
    source: &model::DataSource,
    at: &str,
    limits: &Limits,
) -> Result<KeySet, ConfigError> {
    let (at, bytes) = match source {
        model::DataSource::InlineString(text) => {
            (join(at, "inline_string"), text.as_bytes().to_vec())
        }
        model::DataSource::InlineBytes(base64) => {
            let at = join(at, "inline_bytes");
            let bytes = STANDARD
                .decode(base64)
                .map_err(|_| ConfigError::expected(at.clone(), "base64"))?;
            (at, bytes)
        }
    };
    KeySet::parse(&bytes, limits).map_err(|error| ConfigError::invalid(at, error.to_string()))
}

/// The provider's token locations (jwt_authn's defaults when it names none), as indexes into
/// `all`, where each distinct location is kept once.
fn locations(
    provider: &JwtProvider,
    at: &str,
    all: &mut Vec<Location>,
) -> Result<Vec<usize>, ConfigError> {
    let mut own = Vec::new();
    for (index, header) in provider.from_headers.iter().enumerate() {
        own.push(Location::Header {
            name: header_name(
                &header.name,
                &format!("{}[{index}].name", join(at, "from_headers")),
            )?
            .into(),
            value_prefix: header.value_prefix.clone(),
        });
    }
    own.extend(provider.from_params.iter().cloned().map(Location::Param));
    own.extend(provider.from_cookies.iter().cloned().map(Location::Cookie));
    if own.is_empty() {
        own.extend(Location::defaults());
    }
    Ok(own
        .into_iter()
        .map(|location| index_of(all, location))
        .collect())
}

/// The index of `location` in `all`, where each distinct location is kept once.
fn index_of(all: &mut Vec<Location>, location: Location) -> usize {
    match all.iter().position(|l| *l == location) {
        Some(index) => index,
        None => {
            all.push(location);
            all.len() - 1
        }
    }
}

fn claim_to_headers(
    entries: &[model::JwtClaimToHeader],
    lookup: ClaimLookup,
    at: &str,
) -> Result<Vec<ClaimToHeader>, ConfigError> {
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry_at = format!("{}[{index}]", join(at, "claim_to_headers"));
        let header_name = header_name(&entry.header_name, &join(&entry_at, "header_name"))?;
        if entry.claim_name.is_empty() {
            return Err(ConfigError::required(entry_at, "claim_name is required"));
        }
        out.push(ClaimToHeader {
            header_name,
            claim_name: entry.claim_name.clone(),
            lookup,
        });
    }
    Ok(out)
}

/// `jwt_cache_config`: (`jwt_cache_size`, `jwt_max_token_size`), 0 meaning the default.
fn cache(config: Option<&model::JwtCacheConfig>) -> (Option<usize>, Option<usize>) {
    let to_usize = |v: u64| (v > 0).then(|| usize::try_from(v).unwrap_or(usize::MAX));
    config.map_or((None, None), |config| {
        (
            to_usize(config.jwt_cache_size),
            to_usize(config.jwt_max_token_size),
        )
    })
}

/// A header name we may write: lower-cased, an RFC 9110 token, not a pseudo-header.
fn header_name(name: &str, at: &str) -> Result<String, ConfigError> {
    let name = name.to_ascii_lowercase();
    if !super::super::is_header_name(&name) {
        return Err(ConfigError::expected(at, "a header name"));
    }
    Ok(name)
}

/// A Duration in whole seconds, rounded up (a positive duration never becomes zero), for the
/// fields compared with a token's times, which are whole seconds (`max_lifetime`,
/// `clock_skew`).
pub(super) fn whole_seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(
            whole_seconds(Duration::from_millis(10)),
            1,
            "rounded up where whole seconds are needed"
        );
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 0);
    }
}
