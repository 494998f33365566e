//! What a request must satisfy: requirement trees (jwt_authn's `JwtRequirement`), route rules and
//! their matchers (Envoy's `RouteMatch`, jwt-gate's path templates), claim rules, claim
//! conditions (Istio's `when`), local API key checks, and what binds a token to its sender
//! (DPoP). Data and pure predicates; the authenticator evaluates them.

pub mod api_key;
pub mod binding;
pub mod claims;
pub mod condition;
pub mod requirement;
pub mod route;
pub mod template;
