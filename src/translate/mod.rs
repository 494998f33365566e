//! Configurations of other products, translated into jwt-gate's: OpenAPI 2.0 documents as Cloud
//! Endpoints and API Gateway read them (`openapi`), and OCI API Gateway deployments (`oci`,
//! for the command line only). A translation is never more open than its source.

#[cfg(not(target_arch = "wasm32"))]
pub mod oci;
pub mod openapi;
