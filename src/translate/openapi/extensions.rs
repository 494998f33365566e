//! The members the OpenAPI 2.0 objects jwt-gate reads may carry: the specification's own fields,
//! and the Google extensions, each where it is valid. A misspelled or misplaced member reads as
//! absent, and that can change what is checked (`secuirty` or `Security` leaves operations
//! without a requirement; Service Management ignores an unknown extension, so
//! `x-google-jwks-uri` silently means OpenID discovery, `x-google-audience` the default
//! audience), so jwt-gate refuses every field the specification
//! does not give an object, every `x-google-*` it does not know, and every known one out of
//! place, naming its path and the spelling it probably meant. Other `x-` extensions (yours, or
//! other products') are left alone.

use serde_json::{Map, Value};

use crate::config::ConfigError;

/// Where an extension sits.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum Place {
    Root,
    Paths,
    PathItem,
    Operation,
    /// A `securityDefinitions` entry of type `oauth2`.
    JwtDefinition,
    /// A `securityDefinitions` entry of another type.
    OtherDefinition,
}

/// Every extension Cloud Endpoints (`/endpoints/docs/openapi/openapi-extensions`) and API
/// Gateway (`/api-gateway/docs/oasv2-extensions`) document for OpenAPI 2.0, plus ESP's legacy
/// names that Google's api-compiler still reads (`ExtensionNames.java`, `AuthRuleGenerator`),
/// with the places each is valid in.
const EXTENSIONS: &[(&str, &[Place])] = &[
    ("x-google-allow", &[Place::Root]),
    ("x-google-api-name", &[Place::Root]),
    ("x-google-audiences", &[Place::JwtDefinition]),
    ("x-google-backend", &[Place::Root, Place::Operation]),
    ("x-google-endpoints", &[Place::Root]),
    ("x-google-issuer", &[Place::JwtDefinition]),
    ("x-google-jwks_uri", &[Place::JwtDefinition]),
    ("x-google-jwt-locations", &[Place::JwtDefinition]),
    ("x-google-management", &[Place::Root]),
    ("x-google-quota", &[Place::Operation]),
    ("x-issuer", &[Place::JwtDefinition]),
    ("x-jwks_uri", &[Place::JwtDefinition]),
    ("x-security", &[Place::Root, Place::Operation]),
];

/// The fixed fields OpenAPI 2.0 gives each object jwt-gate reads (the Swagger, Path Item,
/// Operation and Security Scheme objects); `paths` has paths for keys instead.
const FIELDS: &[(Place, &[&str])] = &[
    (
        Place::Root,
        &[
            "swagger",
            "info",
            "host",
            "basePath",
            "schemes",
            "consumes",
            "produces",
            "paths",
            "definitions",
            "parameters",
            "responses",
            "securityDefinitions",
            "security",
            "tags",
            "externalDocs",
        ],
    ),
    (
        Place::PathItem,
        &[
            "$ref",
            "get",
            "put",
            "post",
            "delete",
            "options",
            "head",
            "patch",
            "parameters",
        ],
    ),
    (
        Place::Operation,
        &[
            "tags",
            "summary",
            "description",
            "externalDocs",
            "operationId",
            "consumes",
            "produces",
            "parameters",
            "responses",
            "schemes",
            "deprecated",
            "security",
        ],
    ),
    (Place::JwtDefinition, SECURITY_SCHEME),
    (Place::OtherDefinition, SECURITY_SCHEME),
];

/// The Security Scheme object's fields (of every type: a field of another type is ignored by
/// the specification's readers, never a change of what is checked).
const SECURITY_SCHEME: &[&str] = &[
    "type",
    "description",
    "name",
    "in",
    "flow",
    "authorizationUrl",
    "tokenUrl",
    "scopes",
];

/// Refuses a member of `object` that is neither a field the specification gives it nor an `x-`
/// extension, an unknown `x-google-*` member, a known extension out of place, and near misses
/// of the token-checking ones (`x-audiences`, `x-google-jwks-uri`).
pub(super) fn check(
    object: &Map<String, Value>,
    place: Place,
    path: &str,
) -> Result<(), ConfigError> {
    for key in object.keys() {
        if !key.get(..2).is_some_and(|x| x.eq_ignore_ascii_case("x-")) {
            field(key, place, path)?;
            continue;
        }
        let at = || format!("{path}.{key}");
        if let Some((name, places)) = EXTENSIONS.iter().find(|(name, _)| name == key) {
            if places.contains(&place) {
                continue;
            }
            let homes: Vec<&str> = places.iter().map(|p| p.describe()).collect();
            return Err(ConfigError::invalid(
                at(),
                format!(
                    "{name} is not valid in {}: it belongs in {}",
                    place.describe(),
                    homes.join(" or ")
                ),
            ));
        }
        let (short, google) = short_name(key);
        let suggestion = EXTENSIONS
            .iter()
            .map(|(name, _)| (*name, distance(&short, &short_name(name).0)))
            .filter(|(_, d)| *d <= 2 && *d * 3 <= short.len())
            .min_by_key(|(_, d)| *d)
            .map(|(name, _)| name);
        let token_checking = matches!(place, Place::JwtDefinition)
            && suggestion.is_some_and(|name| {
                EXTENSIONS
                    .iter()
                    .any(|(known, places)| *known == name && places.contains(&place))
            });
        if google || token_checking {
            let hint =
                suggestion.map_or_else(String::new, |name| format!(": did you mean {name}?"));
            return Err(ConfigError::invalid(
                at(),
                format!(
                    "unknown extension{hint} (jwt-gate refuses Google extensions it does not \
                     know: Service Management would ignore it, and that changes what is checked)"
                ),
            ));
        }
    }
    Ok(())
}

/// A member that is not an extension: one of the object's fields, or an error naming it with
/// the field or extension it was probably meant to be.
fn field(key: &str, place: Place, path: &str) -> Result<(), ConfigError> {
    let Some((_, fields)) = FIELDS.iter().find(|(known, _)| *known == place) else {
        return Ok(());
    };
    if fields.contains(&key) {
        return Ok(());
    }
    // Compared in lower case with `-` for `_`: `Security`, `base_path`, `x_google_issuer`.
    let canonical = |name: &str| name.to_ascii_lowercase().replace('_', "-");
    let key_canonical = canonical(key);
    let extensions = EXTENSIONS
        .iter()
        .filter(|(_, places)| places.contains(&place))
        .map(|(name, _)| *name);
    let hint = fields
        .iter()
        .copied()
        .chain(extensions)
        .map(|name| (name, distance(&key_canonical, &canonical(name))))
        .filter(|(_, d)| *d <= 2 && *d * 3 <= key_canonical.len())
        .min_by_key(|(_, d)| *d)
        .map_or_else(
            || {
                format!(
                    "{} has {}, and x- extensions",
                    place.describe(),
                    fields.join(", ")
                )
            },
            |(name, _)| format!("did you mean {name}?"),
        );
    Err(ConfigError::unknown_field(
        format!("{path}.{key}"),
        Some(hint),
    ))
}

impl Place {
    fn describe(self) -> &'static str {
        match self {
            Self::Root => "the document's top level",
            Self::Paths => "paths",
            Self::PathItem => "a path item",
            Self::Operation => "an operation",
            Self::JwtDefinition => "a securityDefinitions entry of type oauth2",
            Self::OtherDefinition => "a securityDefinitions entry of this type",
        }
    }
}

/// The part after `x-` (and after `google`/`goog`), lower-case with `-` for `_`; and whether
/// the name looks like Google's.
fn short_name(key: &str) -> (String, bool) {
    let canonical = key.to_ascii_lowercase().replace('_', "-");
    let rest = canonical.strip_prefix("x-").unwrap_or(&canonical);
    for prefix in ["google", "goog"] {
        if let Some(short) = rest.strip_prefix(prefix) {
            return (short.trim_start_matches('-').to_owned(), true);
        }
    }
    (rest.to_owned(), false)
}

/// Levenshtein distance, for names of a few dozen bytes (longer ones are never near misses).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX / 4;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, &y) in b.iter().enumerate() {
            let substitute = previous.get(j).copied().unwrap_or(0) + usize::from(x != y);
            let delete = previous.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = current.get(j).copied().unwrap_or(0) + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error(member: &str, place: Place) -> Option<String> {
        let object = json!({ member: "v" });
        check(object.as_object().unwrap(), place, "openapi.here")
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn known_extensions_in_their_place_pass() {
        for (name, places) in EXTENSIONS {
            for place in *places {
                assert_eq!(error(name, *place), None, "{name}");
            }
        }
        assert_eq!(
            error("x-amazon-apigateway-integration", Place::Operation),
            None
        );
        assert_eq!(error("x-internal-note", Place::JwtDefinition), None);
        assert_eq!(error("description", Place::JwtDefinition), None);
    }

    #[test]
    fn near_misses_say_what_was_meant() {
        for (typo, meant, place) in [
            (
                "x-google-jwks-uri",
                "x-google-jwks_uri",
                Place::JwtDefinition,
            ),
            (
                "x-google-audience",
                "x-google-audiences",
                Place::JwtDefinition,
            ),
            ("x-google-issuers", "x-google-issuer", Place::JwtDefinition),
            ("X-Google-Issuer", "x-google-issuer", Place::JwtDefinition),
            ("x-goog-issuer", "x-google-issuer", Place::JwtDefinition),
            (
                "x-google_jwt_locations",
                "x-google-jwt-locations",
                Place::JwtDefinition,
            ),
            ("x-google-alow", "x-google-allow", Place::Root),
            ("x-audiences", "x-google-audiences", Place::JwtDefinition),
            ("x-jwks-uri", "x-google-jwks_uri", Place::JwtDefinition),
        ] {
            let error = error(typo, place).unwrap_or_default();
            assert!(
                error.starts_with(&format!(
                    "openapi.here.{typo}: unknown extension: did you mean {meant}?"
                )),
                "{typo}: {error}"
            );
        }
        let error = error("x-google-frobnicate", Place::Operation).unwrap();
        assert!(
            error.starts_with("openapi.here.x-google-frobnicate: unknown extension (jwt-gate"),
            "{error}"
        );
    }

    #[test]
    fn known_extensions_out_of_place_are_refused() {
        assert_eq!(
            error("x-google-issuer", Place::Operation).unwrap(),
            "openapi.here.x-google-issuer: x-google-issuer is not valid in an operation: it \
             belongs in a securityDefinitions entry of type oauth2"
        );
        assert!(error("x-google-backend", Place::PathItem)
            .unwrap()
            .ends_with("it belongs in the document's top level or an operation"));
        assert!(error("x-google-audiences", Place::OtherDefinition).is_some());
        assert!(error("x-security", Place::PathItem).is_some());
    }

    #[test]
    fn fields_of_the_specification_pass_in_their_object() {
        for (place, fields) in FIELDS {
            for field in *fields {
                assert_eq!(error(field, *place), None, "{field}");
            }
        }
        // `paths` holds paths, checked where they are read.
        assert_eq!(error("/v1/things", Place::Paths), None);
    }

    #[test]
    fn unknown_fields_are_refused_with_what_was_meant() {
        for (typo, meant, place) in [
            ("secuirty", "security", Place::Root),
            ("Security", "security", Place::Root),
            ("securty", "security", Place::Operation),
            ("SECURITY", "security", Place::Operation),
            ("securityDefinition", "securityDefinitions", Place::Root),
            ("base_path", "basePath", Place::Root),
            ("GET", "get", Place::PathItem),
            ("Post", "post", Place::PathItem),
            ("operationID", "operationId", Place::Operation),
            ("In", "in", Place::OtherDefinition),
            ("x_google_issuer", "x-google-issuer", Place::JwtDefinition),
            (
                "google-audiences",
                "x-google-audiences",
                Place::JwtDefinition,
            ),
        ] {
            assert_eq!(
                error(typo, place).as_deref(),
                Some(
                    format!("openapi.here.{typo}: unknown field (did you mean {meant}?)").as_str()
                ),
                "{typo}"
            );
        }
        assert_eq!(
            error("frobnicate", Place::PathItem).as_deref(),
            Some(
                "openapi.here.frobnicate: unknown field (a path item has $ref, get, put, post, \
                 delete, options, head, patch, parameters, and x- extensions)"
            )
        );
    }

    #[test]
    fn distances() {
        assert_eq!(distance("audience", "audiences"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("issuer", "issuer"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
