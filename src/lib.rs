//! jwt-gate: JWT authentication for Envoy, as a proxy-wasm HTTP filter.
//!
//! The crate has two layers. The **core** (every module but `hosts`) decides: it parses the
//! plugin configuration, extracts and parses tokens, parses key sets, verifies signatures, checks
//! claims and evaluates requirement trees. It never touches proxy-wasm, a clock or the network;
//! time and bytes come in as arguments and decisions go out as values, so it is tested natively
//! with `cargo test`. The **host adapters** (`hosts`, compiled for their host only) are the one
//! place that talks to Envoy. ARCHITECTURE.md draws the map.

#[forbid(unsafe_code)]
pub mod authenticator;
#[forbid(unsafe_code)]
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
#[forbid(unsafe_code)]
pub mod fuzzing;
#[forbid(unsafe_code)]
pub mod json;
#[forbid(unsafe_code)]
pub mod keys;
#[forbid(unsafe_code)]
pub mod limits;
#[forbid(unsafe_code)]
pub mod policy;
#[forbid(unsafe_code)]
pub mod request;
#[forbid(unsafe_code)]
pub mod time;
#[forbid(unsafe_code)]
pub mod token;
#[forbid(unsafe_code)]
pub mod translate;
#[forbid(unsafe_code)]
pub mod verify;

mod hosts;

pub use authenticator::{
    authenticate, authenticate_with, Decision, Denial, HeaderOp, Outcome, Request,
};
pub use config::{Config, ConfigError, ConfigWarning};
pub use time::Time;
