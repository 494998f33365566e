//! `jwt-gate`: the command-line companion of the filter (native only).
//!
//! ```text
//! jwt-gate check FILE...           every jwt-gate configuration in the files, with the filter's parser
//! jwt-gate from-openapi OPENAPI    the jwt_authn-form configuration ESPv2 would derive
//! jwt-gate from-oci DEPLOYMENT     the same for an OCI API Gateway deployment's JWT policy
//! jwt-gate from-istio MANIFESTS    the same for Istio's RequestAuthentication and AuthorizationPolicy
//! jwt-gate envoy-config CONFIG     a complete Envoy bootstrap running the filter with CONFIG
//! jwt-gate COMMAND --help, jwt-gate --version
//! ```
//! Inputs are JSON (read with the filter's parser) unless named `.yaml`/`.yml` or `--format yaml`;
//! outputs are JSON (configurations) and YAML (the bootstrap).

#![forbid(unsafe_code)]

#[cfg(not(target_arch = "wasm32"))]
mod check;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod hints;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
