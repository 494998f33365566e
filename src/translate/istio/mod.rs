//! Istio's JWT policies, translated into jwt_authn's form (what `jwt-gate from-istio` prints):
//! `RequestAuthentication` `jwtRules` become providers, required as istiod requires them (a
//! token that is present must be valid, none is fine); `AuthorizationPolicy` `ALLOW` and `DENY`
//! rules on `request.auth.*` become rules with `when` (see [`routes`] for how Istio's "any rule
//! allows, any rule denies" becomes jwt-gate's "the first rule that matches decides").
//!
//! The translation fails closed: every object is read against the fields of its Istio API
//! message (`istio/api`, `security/v1beta1/request_authentication.proto` and
//! `authorization_policy.proto`); what jwt-gate cannot express (source IPs and namespaces, hosts
//! and ports, `CUSTOM` and `AUDIT` actions, conditions on anything but the verified token, an OR
//! of different conditions on one request) is an error naming the document and the field, never
//! left out.

mod routes;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::model::{
    DataSource, Empty, HttpUri, JwksSource, JwtAuthentication, JwtClaimToHeader, JwtHeader,
    JwtProvider, JwtRequirement, NamedRequirement, RemoteJwks, RequirementList,
};
use crate::config::walk::Field;
use crate::config::{ConfigError, ConfigWarning};
use crate::keys::remote;
use crate::translate::oci::read::Node;
use routes::Policies;
pub use routes::REQUIREMENT;

/// Most documents read (List items included).
const MAX_DOCUMENTS: usize = 256;

/// A translation.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The configuration, in jwt_authn's form.
    pub config: JwtAuthentication,
    /// What the translation does differently from Istio where jwt-gate is stricter, each naming
    /// its document and field (`jwt-gate from-istio` prints them on standard error).
    pub warnings: Vec<ConfigWarning>,
}

const REQUEST_AUTHENTICATION: &[&str] = &["selector", "targetRef", "targetRefs", "jwtRules"];
const JWT_RULE: &[&str] = &[
    "issuer",
    "audiences",
    "jwksUri",
    "jwks",
    "fromHeaders",
    "fromParams",
    "fromCookies",
    "outputPayloadToHeader",
    "outputClaimToHeaders",
    "forwardOriginalToken",
    "timeout",
    "spaceDelimitedClaims",
];
const MANIFEST: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Translates Istio manifests (a YAML file's documents, in order; a `List` is its items) that
/// apply to one workload.
pub fn translate(documents: &[Value]) -> Result<Translation, ConfigError> {
    let manifests = manifests(documents)?;
    let mut warnings = Vec::new();
    same_workload(&manifests)?;
    let mut providers = BTreeMap::new();
    let mut split_claims: Vec<String> = Vec::new();
    let mut policies = Policies::default();
    for manifest in &manifests {
        let spec = manifest.spec()?;
        let located = |error: ConfigError| manifest.locate(error);
        match manifest.kind {
            Kind::RequestAuthentication => {
                request_authentication(manifest, &spec, &mut providers, &mut split_claims)
                    .map_err(located)?;
            }
            Kind::AuthorizationPolicy => {
                routes::authorization_policy(&manifest.label, &spec, &mut policies, &mut warnings)
                    .map_err(located)?;
            }
        }
    }
    if providers.is_empty() {
        return Err(ConfigError::required(
            "",
            "no RequestAuthentication with jwtRules: jwt-gate needs the issuers whose tokens it \
             verifies",
        ));
    }
    policies.check_split_claims(&split_claims)?;
    let rules = policies.rules()?;
    let names: Vec<String> = providers.keys().cloned().collect();
    Ok(Translation {
        config: JwtAuthentication {
            providers,
            requirement_map: BTreeMap::from([(
                REQUIREMENT.to_owned(),
                NamedRequirement {
                    requirement: istiod_requirement(&names),
                    when: Vec::new(),
                },
            )]),
            // istiod lets preflights through jwt_authn; Envoy's RBAC filter does not: with
            // authorization policies, preflights are checked like any request.
            bypass_cors_preflight: policies.is_empty(),
            rules,
            ..JwtAuthentication::default()
        },
        warnings,
    })
}

/// What istiod requires (`convertToEnvoyJwtConfig`): one provider, or none (a missing token
/// passes, a present one must be valid); several: any one, or each one or none.
fn istiod_requirement(names: &[String]) -> JwtRequirement {
    let provider = |name: &String| JwtRequirement::ProviderName(name.clone());
    let or_missing = |name: &String| {
        JwtRequirement::RequiresAny(RequirementList {
            requirements: vec![provider(name), JwtRequirement::AllowMissing(Empty {})],
        })
    };
    match names {
        [one] => or_missing(one),
        _ => JwtRequirement::RequiresAny(RequirementList {
            requirements: names
                .iter()
                .map(provider)
                .chain(std::iter::once(JwtRequirement::RequiresAll(
                    RequirementList {
                        requirements: names.iter().map(or_missing).collect(),
                    },
                )))
                .collect(),
        }),
    }
}

/// The two kinds read.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Kind {
    RequestAuthentication,
    AuthorizationPolicy,
}

/// One manifest and where it is.
struct Manifest<'a> {
    /// `document 2 (AuthorizationPolicy istio-system/require-jwt)`.
    label: String,
    kind: Kind,
    namespace: String,
    name: String,
    root: Node<'a>,
}

impl<'a> Manifest<'a> {
    fn spec(&self) -> Result<Node<'a>, ConfigError> {
        match self.root.value.get("spec") {
            Some(value) if !value.is_null() => Ok(Node {
                path: "spec".to_owned(),
                value,
            }),
            _ => Err(self.locate(ConfigError::required("spec", "is required"))),
        }
    }

    /// `error` at this document: its path prefixed with the document's label.
    fn locate(&self, error: ConfigError) -> ConfigError {
        let path = if error.path.is_empty() {
            self.label.clone()
        } else {
            format!("{}: {}", self.label, error.path)
        };
        ConfigError::new(path, error.kind)
    }
}

/// The manifests of the documents, `List`s expanded, each checked for its kind.
fn manifests(documents: &[Value]) -> Result<Vec<Manifest<'_>>, ConfigError> {
    let mut out = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let number = index + 1;
        if document.get("kind").and_then(Value::as_str) == Some("List") {
            let items = Node {
                path: "items".to_owned(),
                value: document.get("items").unwrap_or(&Value::Null),
            };
            let items = items.items().map_err(|error| {
                ConfigError::new(format!("document {number}: {}", error.path), error.kind)
            })?;
            for (item_index, item) in items.into_iter().enumerate() {
                let place = format!("document {number} item {}", item_index + 1);
                out.push(manifest(item.value, &place)?);
            }
        } else {
            out.push(manifest(document, &format!("document {number}"))?);
        }
        if out.len() > MAX_DOCUMENTS {
            return Err(ConfigError::invalid(
                "",
                format!("at most {MAX_DOCUMENTS} documents"),
            ));
        }
    }
    Ok(out)
}

fn manifest<'a>(value: &'a Value, place: &str) -> Result<Manifest<'a>, ConfigError> {
    let at = |error: ConfigError| {
        let path = if error.path.is_empty() {
            place.to_owned()
        } else {
            format!("{place}: {}", error.path)
        };
        ConfigError::new(path, error.kind)
    };
    let root = Node::root(value);
    let object = root.object(MANIFEST).map_err(at)?;
    let text = |name: &str| -> Result<String, ConfigError> {
        Ok(match object.get(name) {
            Some(node) => node.string().map_err(at)?.to_owned(),
            None => String::new(),
        })
    };
    let api_version = text("apiVersion")?;
    let kind_text = text("kind")?;
    let kind = match (api_version.split('/').next(), kind_text.as_str()) {
        (Some("security.istio.io"), "RequestAuthentication") => Kind::RequestAuthentication,
        (Some("security.istio.io"), "AuthorizationPolicy") => Kind::AuthorizationPolicy,
        _ => {
            return Err(at(ConfigError::invalid(
                "kind",
                format!(
                    "{kind_text:?} of {api_version:?}: jwt-gate from-istio reads \
                     security.istio.io RequestAuthentication and AuthorizationPolicy"
                ),
            )))
        }
    };
    let metadata = value.get("metadata");
    let field = |name: &str| {
        metadata
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (namespace, name) = (field("namespace"), field("name"));
    let label = format!(
        "{place} ({kind_text} {}{name})",
        if namespace.is_empty() {
            String::new()
        } else {
            format!("{namespace}/")
        }
    );
    Ok(Manifest {
        label,
        kind,
        namespace,
        name,
        root,
    })
}

/// The policies of one workload: those that select workloads (`selector`, `targetRef`,
/// `targetRefs`) must select the same ones; namespace-wide ones apply to every workload.
fn same_workload(manifests: &[Manifest<'_>]) -> Result<(), ConfigError> {
    let mut first: Option<(&Manifest<'_>, Value)> = None;
    for manifest in manifests {
        let spec = manifest.root.value.get("spec");
        let selection: serde_json::Map<String, Value> = ["selector", "targetRef", "targetRefs"]
            .iter()
            .filter_map(|name| {
                let value = spec?.get(*name).filter(|v| !v.is_null())?;
                Some(((*name).to_owned(), value.clone()))
            })
            .collect();
        if selection.is_empty() {
            continue;
        }
        let selection = Value::Object(selection);
        match &first {
            None => first = Some((manifest, selection)),
            Some((other, selected)) if *selected != selection => {
                return Err(manifest.locate(ConfigError::invalid(
                    "spec.selector",
                    format!(
                        "selects other workloads than {}: translate the policies of one \
                         workload at a time",
                        other.label
                    ),
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A `RequestAuthentication`'s `jwtRules`, each a provider.
fn request_authentication(
    manifest: &Manifest<'_>,
    spec: &Node<'_>,
    providers: &mut BTreeMap<String, JwtProvider>,
    split_claims: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let object = spec.object(REQUEST_AUTHENTICATION)?;
    let Some(rules) = object.get("jwtRules") else {
        return Ok(());
    };
    let rules = rules.items()?;
    let base = if manifest.name.is_empty() {
        "istio".to_owned()
    } else {
        manifest.name.clone()
    };
    for (index, rule) in rules.iter().enumerate() {
        let mut name = if rules.len() == 1 {
            base.clone()
        } else {
            format!("{base}-{}", index + 1)
        };
        if providers.contains_key(&name) {
            name = format!("{}-{name}", manifest.namespace);
        }
        if providers.contains_key(&name) {
            return Err(rule.error(format!(
                "a second provider named {name:?}: give the manifests distinct names"
            )));
        }
        providers.insert(name, jwt_rule(rule, split_claims)?);
    }
    Ok(())
}

/// One `jwtRules` entry.
fn jwt_rule(rule: &Node<'_>, split_claims: &mut Vec<String>) -> Result<JwtProvider, ConfigError> {
    let object = rule.object(JWT_RULE)?;
    let string = |name: &str| -> Result<String, ConfigError> {
        object
            .get(name)
            .map(|node| node.string().map(str::to_owned))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let strings = |name: &str| -> Result<Vec<String>, ConfigError> {
        object
            .get(name)
            .map(|node| node.strings())
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let issuer = string("issuer")?;
    if issuer.contains(['{', '}']) {
        return Err(ConfigError::invalid(
            object.path("issuer"),
            "an issuer with { or } would be a template in jwt-gate, which Istio's is not",
        ));
    }
    let timeout = match object.get("timeout") {
        Some(node) => Some(
            Field {
                path: node.path.clone(),
                value: node.value,
            }
            .duration()?,
        ),
        None => None,
    };
    let jwks_source = match (object.get("jwksUri"), object.get("jwks")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::conflict(
                object.at(),
                "give jwksUri or jwks, not both",
            ))
        }
        (None, Some(jwks)) => {
            JwksSource::LocalJwks(DataSource::InlineString(jwks.string()?.to_owned()))
        }
        (uri, None) => {
            let (text, at) = match &uri {
                Some(node) => (node.string()?.to_owned(), node.path.clone()),
                // No jwksUri: istiod discovers it from the issuer; jwt-gate does the same.
                None if !issuer.is_empty() => (issuer.clone(), object.path("issuer")),
                None => {
                    return Err(ConfigError::required(
                        object.at(),
                        "jwksUri (or jwks, or an issuer to discover the keys from) is required",
                    ))
                }
            };
            let parsed =
                remote::HttpUri::parse(&text).map_err(|why| ConfigError::invalid(at, why))?;
            let (host, port) = parsed.host_and_port();
            JwksSource::RemoteJwks(RemoteJwks {
                http_uri: Some(HttpUri {
                    uri: if uri.is_some() { text } else { String::new() },
                    // The cluster Istio has for the host: a ServiceEntry's, or a Service's.
                    cluster: format!("outbound|{port}||{host}"),
                    timeout: Some(timeout.unwrap_or(std::time::Duration::from_secs(5))),
                }),
                ..RemoteJwks::default()
            })
        }
    };
    let mut from_headers = Vec::new();
    if let Some(headers) = object.get("fromHeaders") {
        for header in headers.items()? {
            let header_object = header.object(&["name", "prefix"])?;
            from_headers.push(JwtHeader {
                name: header_object.required("name")?.string()?.to_owned(),
                value_prefix: header_object
                    .get("prefix")
                    .map(|node| node.string().map(str::to_owned))
                    .transpose()?
                    .unwrap_or_default(),
            });
        }
    }
    let mut claim_to_headers = Vec::new();
    if let Some(outputs) = object.get("outputClaimToHeaders") {
        for output in outputs.items()? {
            let output_object = output.object(&["header", "claim"])?;
            claim_to_headers.push(JwtClaimToHeader {
                header_name: output_object.required("header")?.string()?.to_owned(),
                claim_name: output_object.required("claim")?.string()?.to_owned(),
            });
        }
    }
    split_claims.extend(strings("spaceDelimitedClaims")?);
    Ok(JwtProvider {
        issuer,
        audiences: strings("audiences")?,
        jwks_source: Some(jwks_source),
        forward: object
            .get("forwardOriginalToken")
            .map(|node| node.bool())
            .transpose()?
            .unwrap_or(false),
        from_headers,
        from_params: strings("fromParams")?,
        from_cookies: strings("fromCookies")?,
        forward_payload_header: string("outputPayloadToHeader")?,
        claim_to_headers,
        ..JwtProvider::default()
    })
}

#[cfg(test)]
mod tests;
