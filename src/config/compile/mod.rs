//! The one compile step: a jwt_authn-form document ([`JwtAuthentication`], read from JSON or
//! produced by a translator) checked and turned into the [`Config`] the request path reads.
//! Every error names the field at fault in the document's jwt_authn form
//! (`rules[0].requires.provider_name: Required provider ['x'] is not configured.`).

mod condition;
mod provider;
mod remote_jwks;
mod requirement;
mod route;

#[cfg(test)]
pub(crate) use route::route_match_from_json;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::{AT_LEAST_ONE_PROVIDER, HTTP_STATUS};
use super::model::{self, JwtAuthentication};
use super::walk::join;
use super::{
    is_header_name, Config, ConfigError, ConfigWarning, Deny, Rule, DEFAULT_DPOP_REPLAY_CACHE_SIZE,
    DEFAULT_TOKEN_CACHE_MAX_TOKEN_BYTES, DEFAULT_TOKEN_CACHE_SIZE, MAX_DPOP_REPLAY_CACHE_SIZE,
    X_FORWARDED_AUTHORIZATION, X_HTTP_METHOD_OVERRIDE,
};
use crate::keys::replay::ReplayCache;
use crate::limits::Limits;
use crate::policy::api_key::{
    default_locations, parse_digest, Accepted, ApiKeyCheck, KeyLocation, MAX_DIGESTS, MAX_LOCATIONS,
};
use crate::policy::condition::{Condition, MAX_CONDITIONS};
use crate::policy::requirement::Requirement;
use crate::token::extractor::Location;
use requirement::Names;

/// Longest `deny.message` accepted, in bytes.
const MAX_DENY_MESSAGE: usize = 1024;

/// Most `api_keys` entries.
const MAX_API_KEYS: usize = 64;

impl Config {
    /// Checks and compiles a jwt_authn-form document. Its warnings are the configuration's.
    pub fn compile(document: &JwtAuthentication) -> Result<Self, ConfigError> {
        let limits = Limits::DEFAULT;
        let mut warnings = Vec::new();
        let api_keys = api_keys(&document.api_keys, &mut warnings)?;
        let mut locations: Vec<Location> = Vec::new();
        let mut providers = Vec::new();
        for (name, provider) in &document.providers {
            let at = join("providers", name);
            let mut context = provider::Context {
                locations: &mut locations,
                limits: &limits,
                warnings: &mut warnings,
            };
            providers.push(provider::compile(name, provider, &at, &mut context)?);
        }
        // Without API keys to check, there is nothing to check without a provider.
        if providers.is_empty() && api_keys.is_empty() {
            return Err(ConfigError::required("providers", AT_LEAST_ONE_PROVIDER));
        }
        let provider_names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        let names = Names {
            providers: &provider_names,
            api_keys: &api_keys,
        };
        let mut requirement_map = BTreeMap::new();
        for (name, entry) in &document.requirement_map {
            let at = join("requirement_map", name);
            let requirement = requirement::compile(&entry.requirement, &at, names)?;
            let conditions = condition::compile(&entry.when, &join(&at, "when"))?;
            if !conditions.is_empty() {
                condition::needs_token(Some(&requirement), &at)?;
            }
            requirement_map.insert(name.as_str(), (requirement, conditions));
        }
        let rules = document
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                compile_rule(rule, &format!("rules[{index}]"), names, &requirement_map)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !document
            .stat_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(ConfigError::invalid(
                "stat_prefix",
                "use letters, digits, '_' and '.' only",
            ));
        }
        let output_headers = output_headers(document, &providers, &locations)?;
        let replay_cache = sender_binding(document, &providers, &mut warnings)?;
        let (token_cache_size, token_cache_max_token_bytes) = token_cache(&providers, &limits);
        let keep_payloads = rules.iter().any(|rule| !rule.conditions.is_empty());
        provider::unrestricted_tenants(&providers, &rules, &mut warnings);
        Ok(Self {
            providers,
            locations,
            rules,
            api_keys,
            bypass_cors_preflight: document.bypass_cors_preflight,
            strip_failure_response: document.strip_failure_response,
            stat_prefix: document.stat_prefix.clone(),
            output_headers,
            limits,
            signature_verifier: document.signature_verifier.unwrap_or_default(),
            token_cache_size,
            token_cache_max_token_bytes,
            failure_response_format: document.failure_response_format.unwrap_or_default(),
            x_forwarded_authorization: document.x_forwarded_authorization,
            http_method_override: document.http_method_override,
            behind_trusted_proxy: document.behind_trusted_proxy,
            replay_cache,
            keep_payloads,
            warnings,
        })
    }
}

/// The top-level DPoP fields: the replay cache's bound (1 to
/// [`MAX_DPOP_REPLAY_CACHE_SIZE`]), and warnings for fields that do nothing without a provider's
/// `dpop`.
fn sender_binding(
    document: &JwtAuthentication,
    providers: &[super::Provider],
    warnings: &mut Vec<ConfigWarning>,
) -> Result<ReplayCache, ConfigError> {
    let size = document
        .dpop_replay_cache_size
        .unwrap_or(DEFAULT_DPOP_REPLAY_CACHE_SIZE);
    if !(1..=MAX_DPOP_REPLAY_CACHE_SIZE).contains(&size) {
        return Err(ConfigError::expected(
            "dpop_replay_cache_size",
            format!("a number of proofs from 1 to {MAX_DPOP_REPLAY_CACHE_SIZE}"),
        ));
    }
    if !providers.iter().any(|provider| provider.dpop.is_some()) {
        for (field, given) in [
            ("behind_trusted_proxy", document.behind_trusted_proxy),
            (
                "dpop_replay_cache_size",
                document.dpop_replay_cache_size.is_some(),
            ),
        ] {
            if given {
                warnings.push(ConfigWarning::new(
                    field,
                    "does nothing: no provider has dpop",
                ));
            }
        }
    }
    Ok(ReplayCache::new(
        usize::try_from(size).unwrap_or(usize::MAX),
    ))
}

/// The verified-token cache: the largest `jwt_cache_size` (bounded) and `jwt_max_token_size`
/// of any provider, or the defaults.
fn token_cache(providers: &[super::Provider], limits: &Limits) -> (usize, usize) {
    let size = providers
        .iter()
        .filter_map(|p| p.cache.0)
        .max()
        .unwrap_or(DEFAULT_TOKEN_CACHE_SIZE)
        .min(limits.max_token_cache_entries);
    let max_token_bytes = providers
        .iter()
        .filter_map(|p| p.cache.1)
        .max()
        .unwrap_or(DEFAULT_TOKEN_CACHE_MAX_TOKEN_BYTES);
    (size, max_token_bytes)
}

/// `api_keys`, in name order; an `"unchecked"` entry is a warning.
fn api_keys(
    entries: &BTreeMap<String, model::ApiKey>,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<ApiKeyCheck>, ConfigError> {
    if entries.len() > MAX_API_KEYS {
        return Err(ConfigError::invalid(
            "api_keys",
            format!("at most {MAX_API_KEYS} entries"),
        ));
    }
    let mut checks = Vec::new();
    for (name, entry) in entries {
        let at = join("api_keys", name);
        let accepted = match entry {
            model::ApiKey::Unchecked(_) => {
                warnings.push(ConfigWarning::new(
                    at,
                    "\"unchecked\": every requirement naming this API key counts as met; \
                     requests pass without a key",
                ));
                checks.push(ApiKeyCheck {
                    name: name.clone(),
                    locations: Vec::new(),
                    accepted: Accepted::Unchecked,
                });
                continue;
            }
            model::ApiKey::Digests(digests) => digests,
        };
        checks.push(ApiKeyCheck {
            name: name.clone(),
            locations: api_key_locations(accepted, &at)?,
            accepted: Accepted::Digests(api_key_digests(&accepted.sha256, &join(&at, "sha256"))?),
        });
    }
    Ok(checks)
}

/// Where an API key is read: the parameters, then the headers; none given: ESPv2's places.
fn api_key_locations(
    entry: &model::ApiKeyDigests,
    at: &str,
) -> Result<Vec<KeyLocation>, ConfigError> {
    let mut locations: Vec<KeyLocation> = entry
        .from_params
        .iter()
        .cloned()
        .map(KeyLocation::Param)
        .collect();
    for (index, header) in entry.from_headers.iter().enumerate() {
        let name = header.name.to_ascii_lowercase();
        if !is_header_name(&name) {
            return Err(ConfigError::required(
                format!("{at}.from_headers[{index}]"),
                "name (a header name) is required",
            ));
        }
        locations.push(KeyLocation::Header(name));
    }
    if locations.is_empty() {
        locations = default_locations();
    }
    if locations.len() > MAX_LOCATIONS
        || locations.iter().any(|location| match location {
            KeyLocation::Param(name) | KeyLocation::Header(name) => name.is_empty(),
        })
    {
        return Err(ConfigError::expected(
            at,
            format!("at most {MAX_LOCATIONS} non-empty locations"),
        ));
    }
    Ok(locations)
}

fn api_key_digests(sha256: &[String], at: &str) -> Result<Vec<[u8; 32]>, ConfigError> {
    let digests = sha256
        .iter()
        .enumerate()
        .map(|(index, text)| {
            parse_digest(text).ok_or_else(|| {
                ConfigError::expected(
                    format!("{at}[{index}]"),
                    "the lower-case hex SHA-256 digest of a key (64 digits)",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if digests.is_empty() || digests.len() > MAX_DIGESTS {
        return Err(ConfigError::expected(
            at,
            format!(
                "1 to {MAX_DIGESTS} digests (\"unchecked\" lets requests through without a key)"
            ),
        ));
    }
    Ok(digests)
}

/// One entry of `rules`.
fn compile_rule(
    rule: &model::RequirementRule,
    at: &str,
    names: Names<'_>,
    requirement_map: &BTreeMap<&str, (Requirement, Vec<Condition>)>,
) -> Result<Rule, ConfigError> {
    let route = route::route_match(&rule.route, &join(at, "match"))?;
    let path_template = matches!(rule.route.path, model::PathSpecifier::PathTemplate(_));
    let deny = rule
        .deny
        .as_ref()
        .map(|deny| compile_deny(deny, &join(at, "deny")))
        .transpose()?;
    let (requirement, mut conditions) = match (&rule.requires, &rule.requirement_name) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::conflict(
                at,
                "give requires or requirement_name, not both",
            ))
        }
        (Some(requires), None) => (
            Some(requirement::compile(
                requires,
                &join(at, "requires"),
                names,
            )?),
            Vec::new(),
        ),
        (None, Some(name)) => {
            let (requirement, conditions) =
                requirement_map.get(name.as_str()).cloned().ok_or_else(|| {
                    ConfigError::new(
                        join(at, "requirement_name"),
                        super::ConfigErrorKind::UnknownRequirement {
                            name: name.clone(),
                            known: requirement_map.keys().map(|k| (*k).to_owned()).collect(),
                        },
                    )
                })?;
            (Some(requirement), conditions)
        }
        (None, None) => (None, Vec::new()),
    };
    let requirement = requirement.filter(|requirement| *requirement != Requirement::NoCheck);
    // The entry's conditions, then the rule's own: all must hold on one token.
    conditions.extend(condition::compile(&rule.when, &join(at, "when"))?);
    if conditions.len() > MAX_CONDITIONS {
        return Err(ConfigError::invalid(
            join(at, "when"),
            format!("at most {MAX_CONDITIONS} conditions, with the requirement_map entry's"),
        ));
    }
    if !conditions.is_empty() {
        if rule.deny.is_some() {
            return Err(ConfigError::conflict(
                at,
                "a rule that denies checks nothing: give deny alone, or when with a requirement",
            ));
        }
        condition::needs_token(requirement.as_ref(), at)?;
    }
    if !rule.allowed_scopes.is_empty() && requirement.is_none() {
        return Err(ConfigError::required(
            at,
            "allowed_scopes needs a requirement (requires or requirement_name) to check tokens",
        ));
    }
    if deny.is_some() && (requirement.is_some() || !rule.allowed_scopes.is_empty()) {
        return Err(ConfigError::conflict(
            at,
            "a rule that denies checks nothing: give deny alone, or requires without deny",
        ));
    }
    Ok(Rule {
        route,
        requirement,
        allowed_scopes: rule.allowed_scopes.clone(),
        deny,
        path_template,
        conditions,
    })
}

/// A rule's `deny`: `{"status": 400..599, "message": "..."}`.
fn compile_deny(deny: &model::Deny, at: &str) -> Result<Deny, ConfigError> {
    if !(400..=599).contains(&deny.status) {
        return Err(ConfigError::expected(join(at, "status"), HTTP_STATUS));
    }
    if deny.message.is_empty() || deny.message.len() > MAX_DENY_MESSAGE {
        return Err(ConfigError::expected(
            join(at, "message"),
            format!("1 to {MAX_DENY_MESSAGE} bytes of text"),
        ));
    }
    Ok(Deny {
        status: deny.status,
        message: Arc::from(deny.message.as_str()),
    })
}

/// Every header jwt-gate writes or obeys, lower case, sorted. One that is also where some
/// provider reads tokens (under any spelling with `_` for `-`) would be stripped from every
/// request (anti-spoofing), silently breaking that provider: refused.
fn output_headers(
    document: &JwtAuthentication,
    providers: &[super::Provider],
    locations: &[Location],
) -> Result<Vec<String>, ConfigError> {
    let mut output_headers: Vec<String> = providers
        .iter()
        .flat_map(|p| {
            p.forward_payload_header
                .iter()
                .cloned()
                .chain(p.claim_to_headers.iter().map(|c| c.header_name.clone()))
        })
        .chain(
            document
                .x_forwarded_authorization
                .then(|| X_FORWARDED_AUTHORIZATION.to_owned()),
        )
        .chain(
            document
                .http_method_override
                .then(|| X_HTTP_METHOD_OVERRIDE.to_owned()),
        )
        .collect();
    output_headers.sort();
    output_headers.dedup();
    let header_names: Vec<&str> = locations
        .iter()
        .filter_map(|location| match location {
            Location::Header { name, .. } => Some(&**name),
            _ => None,
        })
        .collect();
    // Two token headers a CGI-style backend reads as one (`x-token` and `x_token`): whichever
    // verified, the backend could read the other.
    for (index, name) in header_names.iter().enumerate() {
        let twin = header_names.iter().skip(index + 1).find(|other| {
            other != &name && crate::request::same_header_name(name.as_bytes(), other.as_bytes())
        });
        if let Some(twin) = twin {
            return Err(ConfigError::conflict(
                "providers",
                format!("token headers {name:?} and {twin:?} are one header to a backend that reads '_' as '-': use one spelling"),
            ));
        }
    }
    for location in locations {
        if let Location::Header { name, .. } = location {
            let output = output_headers.iter().find(|output| {
                crate::request::same_header_name(name.as_bytes(), output.as_bytes())
            });
            if let Some(output) = output {
                return Err(ConfigError::conflict(
                    "providers",
                    format!("header {name:?} is both a token location and an output ({output:?}: forward_payload_header, claim_to_headers, x_forwarded_authorization or http_method_override), which jwt-gate removes from every request"),
                ));
            }
        }
    }
    Ok(output_headers)
}
