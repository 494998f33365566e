//! Header transformations that hand token claims to the backend: a `setHeaders` value that is
//! exactly `${request.auth[<claim>]}` becomes a `claim_to_headers` entry; any other use of a claim
//! is refused, and other header changes are warned about (they are Envoy's to make).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::model::{
    FILTER_HEADER, FILTER_HEADERS, HEADER_TRANSFORMATIONS, ITEMS, RENAME_HEADER, SET_HEADER,
};
use super::read::warn;
use super::read::{join, Node};
use super::route::{Authorization, Route};
use crate::config::model::JwtClaimToHeader;
use crate::config::{is_header_name, ConfigError, ConfigWarning};

impl Route {
    /// A route's request `headerTransformations`: `setHeaders` items that hand one claim to
    /// the backend become claim headers; everything else is recorded, to be refused when it
    /// touches a claim header and reported otherwise.
    pub(super) fn header_transformations(
        &mut self,
        node: &Node<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let transformations = node.object(HEADER_TRANSFORMATIONS)?;
        if let Some(set) = transformations.get("setHeaders") {
            for item in set.object(ITEMS)?.required("items")?.items()? {
                self.set_header(&item, warnings)?;
            }
        }
        if let Some(rename) = transformations.get("renameHeaders") {
            for item in rename.object(ITEMS)?.required("items")?.items()? {
                let object = item.object(RENAME_HEADER)?;
                for end in ["from", "to"] {
                    let name = header_name(&object.required(end)?)?;
                    self.header_changes
                        .push((name, item.path.clone(), "renames"));
                }
            }
        }
        if let Some(filter) = transformations.get("filterHeaders") {
            let object = filter.object(FILTER_HEADERS)?;
            let blocks = match object.required("type")?.string()? {
                "BLOCK" => true,
                "ALLOW" => false,
                _ => return Err(ConfigError::expected(object.path("type"), "BLOCK or ALLOW")),
            };
            for item in object.required("items")?.items()? {
                let name = header_name(&item.object(FILTER_HEADER)?.required("name")?)?;
                if blocks {
                    self.header_changes
                        .push((name, item.path.clone(), "removes"));
                }
            }
            if !blocks {
                warn(
                    warnings,
                    &filter,
                    "not translated: jwt-gate does not filter headers, so the backend gets \
                     headers OCI would have removed",
                );
            }
        }
        Ok(())
    }

    /// One `setHeaders` item: a claim header when its one value is exactly one claim.
    fn set_header(
        &mut self,
        item: &Node<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        let object = item.object(SET_HEADER)?;
        let name = header_name(&object.required("name")?)?;
        let if_exists = match object.get("ifExists") {
            None => "OVERWRITE",
            Some(node) => match node.string()? {
                mode @ ("OVERWRITE" | "APPEND" | "SKIP") => mode,
                _ => return Err(node.expected("OVERWRITE, APPEND or SKIP")),
            },
        };
        let values = object.required("values")?.items()?;
        let claim = match values.as_slice() {
            [only] => claim_reference(only, &self.path)?,
            _ => match values.iter().find(|v| uses_a_claim(v.value)) {
                Some(value) => {
                    return Err(value.error(format!(
                        "route {}: a header set from a claim takes exactly one value, \
                         ${{request.auth[<claim>]}}",
                        self.path
                    )))
                }
                None => None,
            },
        };
        let Some((claim, value_path)) = claim else {
            self.header_changes.push((name, item.path.clone(), "sets"));
            return Ok(());
        };
        if if_exists != "OVERWRITE" {
            warnings.push(ConfigWarning::new(
                object.path("ifExists"),
                format!(
                    "{if_exists}: jwt-gate always replaces {name}: a copy the client sent never \
                     reaches the backend"
                ),
            ));
        }
        if matches!(self.authorization, Authorization::Anonymous) {
            warnings.push(ConfigWarning::new(
                value_path.clone(),
                format!(
                    "route {} is ANONYMOUS: OCI does not authenticate it, so request.auth is \
                     empty there; jwt-gate removes a {name} the client sent and sets none",
                    self.path
                ),
            ));
        }
        self.claim_headers.push((name, claim, value_path));
        Ok(())
    }
}

const REQUEST_AUTH: &str = "request.auth";

/// Whether a value uses OCI's `request.auth` context table (the token's claims).
fn uses_a_claim(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.contains(REQUEST_AUTH))
}

/// The claim a `setHeaders` value hands to the backend, with the value's path: `Some` for
/// exactly `${request.auth[<claim>]}`, `None` for a value without `request.auth`; an error for
/// anything else that uses a claim (mixed text, a nested table, two claims).
fn claim_reference(node: &Node<'_>, route: &str) -> Result<Option<(String, String)>, ConfigError> {
    let text = node.string()?;
    if !text.contains(REQUEST_AUTH) {
        return Ok(None);
    }
    let claim = text
        .strip_prefix("${request.auth[")
        .and_then(|rest| rest.strip_suffix("]}"))
        .filter(|claim| !claim.is_empty() && !claim.contains(['[', ']', '{', '}', '$']));
    match claim {
        Some(claim) => Ok(Some((claim.to_owned(), node.path.clone()))),
        None => Err(node.error(format!(
            "route {route}: {text:?} cannot be translated: only a value that is exactly one \
             ${{request.auth[<claim>]}} becomes a claim header (claim_to_headers)"
        ))),
    }
}

/// Every route's claim headers, as one `claim_to_headers` list (sorted by header): jwt-gate sets
/// them wherever a token verified, where OCI sets each on the routes that list it. Refused: one
/// header from two claims, the token's own header, and a claim header another transformation
/// sets, renames or removes.
pub(super) fn claim_headers(
    routes: &[Route],
    token_header: Option<&str>,
    routes_path: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Vec<JwtClaimToHeader>, ConfigError> {
    let mut headers: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for route in routes {
        for (header, claim, at) in &route.claim_headers {
            if token_header == Some(header.as_str()) {
                return Err(ConfigError::invalid(
                    at.clone(),
                    format!("route {}: {header} is where tokens are read (tokenHeader): a claim cannot be written there", route.path),
                ));
            }
            match headers.get(header.as_str()) {
                Some((other, other_at)) if other != claim => {
                    return Err(ConfigError::invalid(
                        at.clone(),
                        format!(
                        "route {}: {header} is set from claim {claim:?} here and from {other:?} \
                             at {other_at}: jwt-gate sets a header from one claim wherever a token \
                             verified",
                        route.path
                    ),
                    ))
                }
                _ => {
                    headers.insert(header, (claim, at));
                }
            }
        }
    }
    let mut untranslated = BTreeSet::new();
    for route in routes {
        for (header, at, change) in &route.header_changes {
            if let Some((_, claim_at)) = headers.get(header.as_str()) {
                return Err(ConfigError::invalid(
                    at.clone(),
                    format!(
                        "route {}: {change} {header}, which {claim_at} sets from a token claim: \
                         jwt-gate sets claim headers itself and cannot do this too",
                        route.path
                    ),
                ));
            }
            untranslated.insert(at.clone());
        }
    }
    for at in untranslated {
        warnings.push(ConfigWarning::new(
            at,
            "not translated: jwt-gate changes no header but the claim headers (Envoy's route \
             request_headers_to_add and request_headers_to_remove can)",
        ));
    }
    if !headers.is_empty() && routes.iter().any(|r| r.claim_headers.is_empty()) {
        warnings.push(ConfigWarning::new(
            routes_path,
            format!(
                "claim headers ({}) are set on every route where a token verified, also on the \
                 routes that do not set them in OCI",
                headers.keys().copied().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    Ok(headers
        .into_iter()
        .map(|(header, (claim, _))| JwtClaimToHeader {
            header_name: header.to_owned(),
            claim_name: claim.to_owned(),
        })
        .collect())
}

/// A claim (`request.auth[...]`) used anywhere but a translated `setHeaders` value (a query
/// parameter, a backend URL, a response header, a routing selector) is refused: jwt-gate can
/// only hand claims to the backend as request headers.
pub(super) fn no_other_claim_uses(
    specification: &Node<'_>,
    routes: &[Route],
) -> Result<(), ConfigError> {
    let translated: BTreeSet<&str> = routes
        .iter()
        .flat_map(|route| route.claim_headers.iter().map(|(_, _, at)| at.as_str()))
        .collect();
    let mut stack = vec![specification.clone()];
    // Bounded by the document: each value is visited once.
    while let Some(node) = stack.pop() {
        match node.value {
            Value::String(text)
                if uses_a_claim(node.value) && !translated.contains(node.path.as_str()) =>
            {
                return Err(node.error(format!(
                    "{text:?} uses a token claim where jwt-gate cannot: it hands claims to the \
                     backend only as request headers (setHeaders)"
                )));
            }
            Value::Object(members) => stack.extend(members.iter().map(|(name, value)| Node {
                path: join(&node.path, name),
                value,
            })),
            Value::Array(_) => stack.extend(node.items()?),
            _ => {}
        }
    }
    Ok(())
}

/// A header name, lower-cased.
fn header_name(node: &Node<'_>) -> Result<String, ConfigError> {
    let name = node.string()?.to_ascii_lowercase();
    if !is_header_name(&name) {
        return Err(node.expected("a header name"));
    }
    Ok(name)
}
