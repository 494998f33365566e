//! A `providers` entry (jwt_authn's `JwtProvider`) and its key source, read as written.

use super::super::model::{
    BackoffStrategy, ClaimLookup, DataSource, Dpop, HttpUri, JwksAsyncFetch, JwksSource,
    JwtCacheConfig, JwtClaimToHeader, JwtHeader, JwtProvider, KeySetFormat, PayloadFormat,
    RemoteJwks, RetryPolicy, VerifyClaim,
};
use super::super::walk::{one_of, optional, Field};
use super::super::ConfigError;
use super::route;

/// `providers.<name>`.
pub(super) fn jwt_provider(field: &Field<'_>) -> Result<JwtProvider, ConfigError> {
    let mut object = field.object()?;
    let mut provider = JwtProvider {
        issuer: object.string("issuer")?.unwrap_or_default().to_owned(),
        audiences: object.strings("audiences")?,
        require_expiration: object.bool("require_expiration")?,
        max_lifetime: optional(&mut object, "max_lifetime", Field::duration)?,
        clock_skew_seconds: optional(&mut object, "clock_skew_seconds", Field::u64)?
            .unwrap_or_default(),
        clock_skew: optional(&mut object, "clock_skew", Field::duration)?,
        subjects: optional(&mut object, "subjects", route::string_matcher)?,
        claim_lookup: optional(&mut object, "claim_lookup", claim_lookup)?,
        ..JwtProvider::default()
    };
    provider.verify_claims = object
        .list("verify_claims")?
        .iter()
        .map(verify_claim)
        .collect::<Result<_, _>>()?;
    let local = optional(&mut object, "local_jwks", data_source)?.map(JwksSource::LocalJwks);
    let remote = optional(&mut object, "remote_jwks", remote_jwks)?.map(JwksSource::RemoteJwks);
    provider.jwks_source = one_of(
        local.into_iter().chain(remote).collect(),
        field,
        "give local_jwks or remote_jwks, not both",
    )?;
    provider.forward = object.bool("forward")?;
    provider.from_headers = object
        .list("from_headers")?
        .iter()
        .map(jwt_header)
        .collect::<Result<_, _>>()?;
    provider.from_params = object.strings("from_params")?;
    provider.from_cookies = object.strings("from_cookies")?;
    provider.forward_payload_header = object
        .string("forward_payload_header")?
        .unwrap_or_default()
        .to_owned();
    provider.pad_forward_payload_header = object.bool("pad_forward_payload_header")?;
    provider.forward_payload_header_format =
        optional(&mut object, "forward_payload_header_format", payload_format)?;
    provider.claim_to_headers = object
        .list("claim_to_headers")?
        .iter()
        .map(claim_to_header)
        .collect::<Result<_, _>>()?;
    provider.clear_route_cache = object.bool("clear_route_cache")?;
    provider.jwt_cache_config = optional(&mut object, "jwt_cache_config", jwt_cache_config)?;
    provider.dpop = optional(&mut object, "dpop", dpop)?;
    provider.certificate_bound = object.bool("certificate_bound")?;
    object.finish()?;
    Ok(provider)
}

/// A `verify_claims` entry (`is_required` unless given as false).
fn verify_claim(entry: &Field<'_>) -> Result<VerifyClaim, ConfigError> {
    let mut object = entry.object()?;
    let claim = VerifyClaim {
        key: object.string("key")?.unwrap_or_default().to_owned(),
        values: object.strings("values")?,
        is_required: optional(&mut object, "is_required", Field::bool)?.unwrap_or(true),
    };
    object.finish()?;
    Ok(claim)
}

/// A `from_headers` entry.
fn jwt_header(header: &Field<'_>) -> Result<JwtHeader, ConfigError> {
    let mut object = header.object()?;
    let name = object
        .take("name")
        .ok_or_else(|| header.required("name is required"))?
        .string()?
        .to_owned();
    let value_prefix = object
        .string("value_prefix")?
        .unwrap_or_default()
        .to_owned();
    object.finish()?;
    Ok(JwtHeader { name, value_prefix })
}

/// A `claim_to_headers` entry.
fn claim_to_header(entry: &Field<'_>) -> Result<JwtClaimToHeader, ConfigError> {
    let mut object = entry.object()?;
    let header_name = object
        .take("header_name")
        .ok_or_else(|| entry.required("header_name is required"))?
        .string()?
        .to_owned();
    let claim_name = object.string("claim_name")?.unwrap_or_default().to_owned();
    object.finish()?;
    Ok(JwtClaimToHeader {
        header_name,
        claim_name,
    })
}

fn claim_lookup(field: &Field<'_>) -> Result<ClaimLookup, ConfigError> {
    match field.string()? {
        "path" => Ok(ClaimLookup::Path),
        "literal" => Ok(ClaimLookup::Literal),
        _ => Err(field.expected("\"path\" or \"literal\"")),
    }
}

fn payload_format(field: &Field<'_>) -> Result<PayloadFormat, ConfigError> {
    match field.string()? {
        "payload" => Ok(PayloadFormat::Segment),
        "esp_v1" => Ok(PayloadFormat::EspV1),
        _ => Err(field.expected("\"payload\" or \"esp_v1\"")),
    }
}

/// jwt-gate's `dpop`: `{"required", "max_proof_age", "algorithms"}`.
fn dpop(field: &Field<'_>) -> Result<Dpop, ConfigError> {
    let mut object = field.object()?;
    let dpop = Dpop {
        required: object.bool("required")?,
        max_proof_age: optional(&mut object, "max_proof_age", Field::duration)?,
        algorithms: optional(&mut object, "algorithms", Field::strings)?,
    };
    object.finish()?;
    Ok(dpop)
}

fn jwt_cache_config(field: &Field<'_>) -> Result<JwtCacheConfig, ConfigError> {
    let mut object = field.object()?;
    let config = JwtCacheConfig {
        jwt_cache_size: optional(&mut object, "jwt_cache_size", Field::u64)?.unwrap_or_default(),
        jwt_max_token_size: optional(&mut object, "jwt_max_token_size", Field::u64)?
            .unwrap_or_default(),
    };
    object.finish()?;
    Ok(config)
}

/// `local_jwks`: a DataSource with `inline_string` or `inline_bytes` (base64).
fn data_source(field: &Field<'_>) -> Result<DataSource, ConfigError> {
    let mut object = field.object()?;
    let source = if let Some(inline) = object.take("inline_string") {
        DataSource::InlineString(inline.string()?.to_owned())
    } else if let Some(inline) = object.take("inline_bytes") {
        DataSource::InlineBytes(inline.string()?.to_owned())
    } else {
        object.finish()?;
        return Err(field.required("inline_string is required"));
    };
    object.finish()?;
    Ok(source)
}

/// `remote_jwks`.
fn remote_jwks(field: &Field<'_>) -> Result<RemoteJwks, ConfigError> {
    let mut object = field.object()?;
    let remote = RemoteJwks {
        http_uri: optional(&mut object, "http_uri", http_uri)?,
        cache_duration: optional(&mut object, "cache_duration", Field::duration)?,
        async_fetch: optional(&mut object, "async_fetch", async_fetch)?,
        retry_policy: optional(&mut object, "retry_policy", retry_policy)?,
        kid_refetch_interval: optional(&mut object, "kid_refetch_interval", Field::duration)?,
        max_stale: optional(&mut object, "max_stale", Field::duration)?,
        format: optional(&mut object, "format", key_set_format)?,
    };
    object.finish()?;
    Ok(remote)
}

fn http_uri(field: &Field<'_>) -> Result<HttpUri, ConfigError> {
    let mut object = field.object()?;
    let uri = HttpUri {
        cluster: object.string("cluster")?.unwrap_or_default().to_owned(),
        uri: object.string("uri")?.unwrap_or_default().to_owned(),
        timeout: optional(&mut object, "timeout", Field::duration)?,
    };
    object.finish()?;
    Ok(uri)
}

fn async_fetch(field: &Field<'_>) -> Result<JwksAsyncFetch, ConfigError> {
    let mut object = field.object()?;
    let fetch = JwksAsyncFetch {
        fast_listener: optional(&mut object, "fast_listener", Field::bool)?,
        failed_refetch_duration: optional(&mut object, "failed_refetch_duration", Field::duration)?,
    };
    object.finish()?;
    Ok(fetch)
}

fn retry_policy(field: &Field<'_>) -> Result<RetryPolicy, ConfigError> {
    let mut object = field.object()?;
    let policy = RetryPolicy {
        num_retries: optional(&mut object, "num_retries", Field::u64)?,
        retry_on: object.string("retry_on")?.unwrap_or_default().to_owned(),
        retry_back_off: optional(&mut object, "retry_back_off", |back_off| {
            let mut back_off_object = back_off.object()?;
            let strategy = BackoffStrategy {
                base_interval: optional(&mut back_off_object, "base_interval", Field::duration)?,
                max_interval: optional(&mut back_off_object, "max_interval", Field::duration)?,
            };
            back_off_object.finish()?;
            Ok(strategy)
        })?,
    };
    object.finish()?;
    Ok(policy)
}

/// A fetched document is read in the format the configuration names, never guessed.
fn key_set_format(field: &Field<'_>) -> Result<KeySetFormat, ConfigError> {
    match field.string()? {
        "jwks" => Ok(KeySetFormat::Jwks),
        "pem" => Ok(KeySetFormat::Pem),
        _ => Err(field.expected("\"jwks\" (a JWK set or an x509 certificate map) or \"pem\"")),
    }
}
