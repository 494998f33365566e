//! What a request must satisfy: requirement trees (jwt_authn's `JwtRequirement`), route rules and
//! their matchers (Envoy's `RouteMatch`, jwt-gate's path templates), claim rules, claim
//! conditions (Istio's `when`), and local API key checks. Data and pure predicates; the
//! authenticator evaluates them.

pub mod api_key;
pub mod claims;
pub mod condition;
pub mod requirement;
pub mod route;
pub mod template;
