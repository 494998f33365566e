//! JSON to the jwt_authn-form document ([`JwtAuthentication`]): the strict walk's types,
//! member names (snake_case or lowerCamelCase), unknown and refused fields, `oneof`s and
//! keyword values, each error naming its path. Whether the values make sense together is the
//! compile step's to say.

mod provider;
pub(super) mod route;

use serde_json::Value;

use super::error::{AT_LEAST_ONE_PROVIDER, HTTP_STATUS};
use super::model::{
    ApiKey, ApiKeyDigests, ApiKeyHeader, Condition, Deny, Empty, FailureFormat, JwtAuthentication,
    JwtRequirement, NamedRequirement, ProviderWithAudiences, RequirementList, RequirementRule,
    Unchecked, VerifierChoice,
};
use super::walk::{one_of, Field, Object};
use super::ConfigError;

/// Reads a parsed jwt_authn-form configuration.
pub(crate) fn jwt_authentication(value: &Value) -> Result<JwtAuthentication, ConfigError> {
    let root = Field::root(value);
    let mut object = root.object()?;
    let mut document = JwtAuthentication::default();
    if let Some(map) = object.take("api_keys") {
        for (name, field) in map.entries()? {
            document.api_keys.insert(name.to_owned(), api_key(&field)?);
        }
    }
    // Without API keys to check, there is nothing to check without a provider: said first, as
    // it is what a document in another format (an OCI deployment, a bootstrap) lacks.
    if !object.has("providers") && document.api_keys.is_empty() {
        return Err(ConfigError::required("providers", AT_LEAST_ONE_PROVIDER));
    }
    if let Some(map) = object.take("providers") {
        for (name, field) in map.entries()? {
            let provider = provider::jwt_provider(&field)?;
            document.providers.insert(name.to_owned(), provider);
        }
    }
    if let Some(map) = object.take("requirement_map") {
        for (name, field) in map.entries()? {
            document
                .requirement_map
                .insert(name.to_owned(), named_requirement(&field)?);
        }
    }
    for field in object.list("rules")? {
        document.rules.push(rule(&field)?);
    }
    document.bypass_cors_preflight = object.bool("bypass_cors_preflight")?;
    document.strip_failure_response = object.bool("strip_failure_response")?;
    document.stat_prefix = object.string("stat_prefix")?.unwrap_or_default().to_owned();
    document.failure_response_format = object
        .take("failure_response_format")
        .map(|field| failure_response_format(&field))
        .transpose()?;
    document.x_forwarded_authorization = object.bool("x_forwarded_authorization")?;
    document.http_method_override = object.bool("http_method_override")?;
    document.signature_verifier = object
        .take("signature_verifier")
        .map(|field| signature_verifier(&field))
        .transpose()?;
    document.behind_trusted_proxy = object.bool("behind_trusted_proxy")?;
    document.dpop_replay_cache_size = object
        .take("dpop_replay_cache_size")
        .map(|field| field.u64())
        .transpose()?;
    object.finish()?;
    Ok(document)
}

/// `failure_response_format`: `"text"` or `"json"`.
pub(crate) fn failure_response_format(field: &Field<'_>) -> Result<FailureFormat, ConfigError> {
    match field.string()? {
        "text" => Ok(FailureFormat::Text),
        "json" => Ok(FailureFormat::Json),
        _ => Err(field.expected("\"text\" or \"json\"")),
    }
}

/// `signature_verifier`: `"auto"` or `"ring"`.
pub(crate) fn signature_verifier(field: &Field<'_>) -> Result<VerifierChoice, ConfigError> {
    match field.string()? {
        "auto" => Ok(VerifierChoice::Auto),
        "ring" => Ok(VerifierChoice::Ring),
        _ => Err(field.expected("\"auto\" or \"ring\"")),
    }
}

/// `api_keys.<name>`: `"unchecked"`, or `{"from_params": [...], "from_headers": [{"name": ...}],
/// "sha256": [...]}`.
fn api_key(field: &Field<'_>) -> Result<ApiKey, ConfigError> {
    if let Some(text) = field.value.as_str() {
        if text != "unchecked" {
            return Err(field.expected("\"unchecked\" or an object with sha256"));
        }
        return Ok(ApiKey::Unchecked(Unchecked));
    }
    let mut object = field.object()?;
    let from_params = object.strings("from_params")?;
    let mut from_headers = Vec::new();
    for header in object.list("from_headers")? {
        let mut header_object = header.object()?;
        let name = header_object.string("name")?.unwrap_or_default().to_owned();
        header_object.finish()?;
        from_headers.push(ApiKeyHeader { name });
    }
    let sha256 = object
        .take("sha256")
        .ok_or_else(|| field.required("sha256 (the digests of the accepted keys) is required"))?;
    let sha256 = sha256
        .list()?
        .iter()
        .map(|entry| entry.string().map(str::to_owned))
        .collect::<Result<_, _>>()?;
    object.finish()?;
    Ok(ApiKey::Digests(ApiKeyDigests {
        from_params,
        from_headers,
        sha256,
    }))
}

/// One entry of `rules`.
fn rule(field: &Field<'_>) -> Result<RequirementRule, ConfigError> {
    let mut object = field.object()?;
    let route_field = object
        .take("match")
        .ok_or_else(|| field.required("match is required"))?;
    let route = route::route_match(&route_field)?;
    let deny = object
        .take("deny")
        .map(|deny| self::deny(&deny))
        .transpose()?;
    let requires = object.take("requires");
    let requirement_name = object.take("requirement_name");
    if requires.is_some() && requirement_name.is_some() {
        return Err(field.conflict("give requires or requirement_name, not both"));
    }
    let requires = requires.map(|field| requirement(&field)).transpose()?;
    let requirement_name = requirement_name
        .map(|field| field.string().map(str::to_owned))
        .transpose()?;
    let allowed_scopes = object.strings("allowed_scopes")?;
    let when = conditions(&mut object)?;
    object.finish()?;
    Ok(RequirementRule {
        route,
        requires,
        requirement_name,
        allowed_scopes,
        deny,
        when,
    })
}

/// A `requirement_map` entry: a requirement, with jwt-gate's `when` beside its members.
fn named_requirement(field: &Field<'_>) -> Result<NamedRequirement, ConfigError> {
    let mut object = field.object()?;
    let when = conditions(&mut object)?;
    Ok(NamedRequirement {
        requirement: requirement_members(object, field)?,
        when,
    })
}

/// `when`: `[{"key": "request.auth.claims[groups]", "values": [...], "not_values": [...]}]`
/// (Istio's `notValues` too).
fn conditions(object: &mut Object<'_>) -> Result<Vec<Condition>, ConfigError> {
    object
        .list("when")?
        .iter()
        .map(|entry| {
            let mut condition = entry.object()?;
            let key = condition
                .take("key")
                .ok_or_else(|| entry.required("key is required"))?
                .string()?
                .to_owned();
            let read = Condition {
                key,
                values: condition.strings("values")?,
                not_values: condition.strings("not_values")?,
            };
            condition.finish()?;
            Ok(read)
        })
        .collect()
}

/// A rule's `deny`: `{"status": 400..599, "message": "..."}`.
fn deny(field: &Field<'_>) -> Result<Deny, ConfigError> {
    let mut object = field.object()?;
    let status_field = object
        .take("status")
        .ok_or_else(|| field.required("status is required"))?;
    let status = status_field
        .u64()
        .ok()
        .and_then(|status| u16::try_from(status).ok())
        .ok_or_else(|| status_field.expected(HTTP_STATUS))?;
    let message = object
        .take("message")
        .ok_or_else(|| field.required("message (the response body) is required"))?
        .string()?
        .to_owned();
    object.finish()?;
    Ok(Deny { status, message })
}

/// A `JwtRequirement`: exactly one kind, or none (no check).
fn requirement(field: &Field<'_>) -> Result<JwtRequirement, ConfigError> {
    requirement_members(field.object()?, field)
}

/// The members of the `JwtRequirement` object at `field`.
fn requirement_members(
    mut object: Object<'_>,
    field: &Field<'_>,
) -> Result<JwtRequirement, ConfigError> {
    let mut found = Vec::new();
    if let Some(name) = object.take("provider_name") {
        found.push(JwtRequirement::ProviderName(name.string()?.to_owned()));
    }
    if let Some(name) = object.take("api_key_name") {
        found.push(JwtRequirement::ApiKeyName(name.string()?.to_owned()));
    }
    if let Some(inner) = object.take("provider_and_audiences") {
        let mut inner_object = inner.object()?;
        let provider_name = inner_object
            .take("provider_name")
            .ok_or_else(|| inner.required("provider_name is required"))?
            .string()?
            .to_owned();
        let audiences = inner_object.strings("audiences")?;
        inner_object.finish()?;
        found.push(JwtRequirement::ProviderAndAudiences(
            ProviderWithAudiences {
                provider_name,
                audiences,
            },
        ));
    }
    for (name, combine) in [
        (
            "requires_any",
            JwtRequirement::RequiresAny as fn(RequirementList) -> JwtRequirement,
        ),
        ("requires_all", JwtRequirement::RequiresAll),
    ] {
        if let Some(group) = object.take(name) {
            let mut group_object = group.object()?;
            let requirements = group_object
                .list("requirements")?
                .iter()
                .map(requirement)
                .collect::<Result<_, _>>()?;
            group_object.finish()?;
            found.push(combine(RequirementList { requirements }));
        }
    }
    for (name, flag) in [
        ("allow_missing", JwtRequirement::AllowMissing(Empty {})),
        (
            "allow_missing_or_failed",
            JwtRequirement::AllowMissingOrFailed(Empty {}),
        ),
    ] {
        if let Some(empty) = object.take(name) {
            empty.object()?.finish()?;
            found.push(flag);
        }
    }
    object.finish()?;
    one_of(found, field, "give only one kind of requirement")
        .map(|found| found.unwrap_or(JwtRequirement::NoCheck(Empty {})))
}
