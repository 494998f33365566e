//! The entry point: which form the plugin configuration is in, and the path from its bytes to
//! a [`Config`]: jwt_authn's JSON is read, the OpenAPI form translated, and either compiled.

use serde_json::Value;

use super::{read, Config, ConfigError, ConfigErrorKind};
use crate::json;
use crate::limits::Limits;
use crate::translate::openapi;

impl Config {
    /// Parses and compiles the plugin configuration: jwt_authn's JSON, the OpenAPI form
    /// `{"openapi": <document>, ...options}`, or a bare OpenAPI 2.0 document (`{"swagger":
    /// "2.0", ...}`, the OpenAPI form without options).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.trim_ascii().is_empty() {
            return Err(ConfigError::new("", ConfigErrorKind::Empty));
        }
        let value = json::parse(bytes, Limits::DEFAULT.max_configuration_json_depth)
            .map_err(|error| ConfigError::new("", ConfigErrorKind::Json(error)))?;
        let translation = if value.get("openapi").is_some() {
            openapi::translate(&value)?
        } else if value.get("swagger").is_some() {
            openapi::translate(&serde_json::json!({ "openapi": value }))?
        } else {
            return Self::from_value(&value);
        };
        // The translator's warnings (choices it made for the document) come first.
        let mut config = Self::compile(&translation.config)?;
        let mut warnings = translation.warnings;
        warnings.append(&mut config.warnings);
        config.warnings = warnings;
        Ok(config)
    }

    /// Reads and compiles an already parsed jwt_authn-form configuration.
    pub fn from_value(value: &Value) -> Result<Self, ConfigError> {
        Self::compile(&read::jwt_authentication(value)?)
    }
}
