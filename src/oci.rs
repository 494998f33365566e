//! OCI API Gateway's JWT policy, translated (placeholder while written).
