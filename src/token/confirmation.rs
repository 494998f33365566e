//! A token's confirmation claim (`cnf`, RFC 7800): the key or certificate its sender must prove
//! it holds. jwt-gate reads two confirmation methods: `jkt`, the RFC 7638 thumbprint of a DPoP
//! key (RFC 9449 §6), and `x5t#S256`, the SHA-256 of a mutual-TLS client certificate (RFC 8705
//! §3.1). Other members are left alone.

use serde_json::{Map, Value};

/// What a token's `cnf` binds it to (nothing, for a bearer token).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Confirmation {
    /// `cnf.jkt`: the base64url thumbprint of the DPoP key the token is bound to.
    pub jkt: Option<String>,
    /// `cnf["x5t#S256"]`: the base64url SHA-256 of the DER client certificate it is bound to.
    pub x5t_s256: Option<String>,
}

/// `cnf` is not an object, or `jkt` or `x5t#S256` in it is not a string.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct MalformedConfirmation;

impl Confirmation {
    /// The confirmation of a verified token's payload.
    pub fn from_payload(payload: &Map<String, Value>) -> Result<Self, MalformedConfirmation> {
        let Some(cnf) = payload.get("cnf") else {
            return Ok(Self::default());
        };
        let Value::Object(cnf) = cnf else {
            return Err(MalformedConfirmation);
        };
        let member = |name: &str| match cnf.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(MalformedConfirmation),
        };
        Ok(Self {
            jkt: member("jkt")?,
            x5t_s256: member("x5t#S256")?,
        })
    }

    /// Whether the token is bound to its sender in a way jwt-gate checks.
    pub fn binds(&self) -> bool {
        self.jkt.is_some() || self.x5t_s256.is_some()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(payload: Value) -> Result<Confirmation, MalformedConfirmation> {
        Confirmation::from_payload(payload.as_object().unwrap())
    }

    #[test]
    fn reads_jkt_and_the_certificate_thumbprint() {
        assert_eq!(read(json!({"sub": "a"})), Ok(Confirmation::default()));
        let both = read(json!({"cnf": {"jkt": "k", "x5t#S256": "c", "kid": 7}})).unwrap();
        assert_eq!(
            (both.jkt.as_deref(), both.x5t_s256.as_deref()),
            (Some("k"), Some("c"))
        );
        assert!(both.binds());
        assert!(!read(json!({"cnf": {"jwk": {}}})).unwrap().binds());
        for bad in [
            json!({"cnf": "k"}),
            json!({"cnf": {"jkt": 1}}),
            json!({"cnf": {"x5t#S256": ["c"]}}),
        ] {
            assert_eq!(read(bad.clone()), Err(MalformedConfirmation), "{bad}");
        }
    }
}
