//! jwt-gate: JWT authentication for Envoy, as a proxy-wasm HTTP filter.
//!
//! The crate has two layers. The **core** (every module but `filter`) decides: it parses the
//! plugin configuration, extracts and parses tokens, parses key sets, verifies signatures, checks
//! claims and evaluates requirement trees. It never touches proxy-wasm, a clock or the network;
//! time and bytes come in as arguments and decisions go out as values, so it is tested natively
//! with `cargo test`. The **host adapter** (`filter`, compiled for wasm32 only) is the one place
//! that talks to Envoy through proxy-wasm.

pub mod algorithm;
pub mod api_key;
pub mod authenticator;
pub mod claims;
pub mod config;
pub mod der;
pub mod error;
pub mod extractor;
pub mod foreign;
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod json;
pub mod jwks;
pub mod jwks_cache;
pub mod limits;
#[cfg(not(target_arch = "wasm32"))]
pub mod oci;
pub mod openapi;
pub mod remote;
pub mod requirement;
pub mod time;
pub mod token;
pub mod token_cache;
pub mod verify;

#[cfg(target_arch = "wasm32")]
mod filter;

pub use authenticator::{authenticate, Decision, Denial, HeaderOp, Outcome, Request};
pub use config::{Config, ConfigError, ConfigWarning};
pub use time::UnixTime;
