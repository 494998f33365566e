//! jwt-gate: JWT authentication for Envoy, as a proxy-wasm HTTP filter.
//!
//! The crate has two layers. The **core** (every module but `hosts`) decides: it parses the
//! plugin configuration, extracts and parses tokens, parses key sets, verifies signatures, checks
//! claims and evaluates requirement trees. It never touches proxy-wasm, a clock or the network;
//! time and bytes come in as arguments and decisions go out as values, so it is tested natively
//! with `cargo test`. The **host adapters** (`hosts`, compiled for their host only) are the one
//! place that talks to Envoy. ARCHITECTURE.md draws the map.

pub mod authenticator;
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod json;
pub mod keys;
pub mod limits;
pub mod policy;
pub mod request;
pub mod time;
pub mod token;
pub mod translate;
pub mod verify;

mod hosts;

pub use authenticator::{
    authenticate, authenticate_with, Decision, Denial, HeaderOp, Outcome, Request,
};
pub use config::{Config, ConfigError, ConfigWarning};
pub use time::Time;
