//! Configurations of other products, translated into jwt-gate's: OpenAPI 2.0 documents as Cloud
//! Endpoints and API Gateway read them (`openapi`), and, for the command line only, OCI API
//! Gateway deployments (`oci`) and Istio's RequestAuthentication and AuthorizationPolicy
//! (`istio`). A translation is never more open than its source.

#[cfg(not(target_arch = "wasm32"))]
pub mod istio;
#[cfg(not(target_arch = "wasm32"))]
pub mod oci;
pub mod openapi;
