//! The fields of each OCI object `jwt-gate from-oci` reads, as the OCI SDK models declare them
//! (`oracle/oci-python-sdk`, `src/oci/apigateway/models/`: each model's `attribute_map`).
//! Anything else in a deployment is an unknown field.

pub(super) const DEPLOYMENT: &[&str] = &[
    "pathPrefix",
    "specification",
    // Descriptive: who, where and when, nothing that decides a request.
    "id",
    "gatewayId",
    "displayName",
    "compartmentId",
    "endpoint",
    "timeCreated",
    "timeUpdated",
    "lifecycleState",
    "lifecycleDetails",
    "locks",
    "freeformTags",
    "definedTags",
    "systemTags",
];
pub(super) const SPECIFICATION: &[&str] = &["requestPolicies", "loggingPolicies", "routes"];
pub(super) const REQUEST_POLICIES: &[&str] = &[
    "authentication",
    "rateLimiting",
    "cors",
    "mutualTls",
    "usagePlans",
    "dynamicAuthentication",
];
pub(super) const JWT_AUTHENTICATION: &[&str] = &[
    "type",
    "isAnonymousAccessAllowed",
    "tokenHeader",
    "tokenQueryParam",
    "tokenAuthScheme",
    "maxClockSkewInSeconds",
    "issuers",
    "audiences",
    "verifyClaims",
    "publicKeys",
];
pub(super) const TOKEN_AUTHENTICATION: &[&str] = &[
    "type",
    "isAnonymousAccessAllowed",
    "tokenHeader",
    "tokenQueryParam",
    "tokenAuthScheme",
    "maxClockSkewInSeconds",
    "validationPolicy",
    "validationFailurePolicy",
];
pub(super) const REMOTE_JWKS: &[&str] = &[
    "type",
    "uri",
    "isSslVerifyDisabled",
    "maxCacheDurationInHours",
];
pub(super) const TOKEN_REMOTE_JWKS: &[&str] = &[
    "type",
    "uri",
    "isSslVerifyDisabled",
    "maxCacheDurationInHours",
    "additionalValidationPolicy",
];
pub(super) const STATIC_KEYS: &[&str] = &["type", "keys"];
pub(super) const TOKEN_STATIC_KEYS: &[&str] = &["type", "keys", "additionalValidationPolicy"];
pub(super) const ADDITIONAL_VALIDATION: &[&str] = &["issuers", "audiences", "verifyClaims"];
pub(super) const CLAIM: &[&str] = &["key", "values", "isRequired"];
pub(super) const JSON_WEB_KEY: &[&str] =
    &["kid", "format", "kty", "use", "key_ops", "alg", "n", "e"];
pub(super) const PEM_KEY: &[&str] = &["kid", "format", "key"];
pub(super) const ROUTE: &[&str] = &[
    "path",
    "methods",
    "requestPolicies",
    "responsePolicies",
    "loggingPolicies",
    "backend",
];
pub(super) const METHODS: &[&str] = &[
    "ANY", "HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
];
pub(super) const ROUTE_REQUEST_POLICIES: &[&str] = &[
    "authorization",
    "cors",
    "queryParameterValidations",
    "headerValidations",
    "bodyValidation",
    "headerTransformations",
    "queryParameterTransformations",
    "responseCacheLookup",
];
pub(super) const ROUTE_RESPONSE_POLICIES: &[&str] =
    &["headerTransformations", "responseCacheStore"];
pub(super) const HEADER_TRANSFORMATIONS: &[&str] =
    &["setHeaders", "renameHeaders", "filterHeaders"];
pub(super) const ITEMS: &[&str] = &["items"];
pub(super) const SET_HEADER: &[&str] = &["name", "values", "ifExists"];
pub(super) const RENAME_HEADER: &[&str] = &["from", "to"];
pub(super) const FILTER_HEADERS: &[&str] = &["type", "items"];
pub(super) const FILTER_HEADER: &[&str] = &["name"];
