//! A rule's `when`: once its requirement passed, one verified token that satisfied the
//! requirement must meet every condition. No such token at all is a missing token (401, as
//! `allowed_scopes` answers it); tokens that all fail some condition are 403, naming (for the
//! debug log only) the first condition the first token failed.

use std::sync::Arc;

use super::error::AuthError;
use super::token_cache::Verified;
use crate::policy::condition::Condition;

/// Whether one of `satisfying` (the tokens that satisfied the requirement, in the order they
/// verified) meets every condition.
pub(super) fn authorize<'v>(
    conditions: &[Condition],
    satisfying: impl Iterator<Item = &'v Verified>,
) -> Result<(), AuthError> {
    let mut failed: Option<&Condition> = None;
    for verified in satisfying {
        // A payload is kept whenever a rule has conditions; a token without one (which cannot
        // happen) meets none of them.
        let Some(payload) = &verified.payload else {
            failed = failed.or(conditions.first());
            continue;
        };
        match conditions
            .iter()
            .find(|condition| !condition.holds(payload))
        {
            None => return Ok(()),
            Some(condition) => failed = failed.or(Some(condition)),
        }
    }
    match failed {
        None => Err(AuthError::Missing),
        Some(condition) => Err(AuthError::ConditionNotMet(Arc::clone(&condition.text))),
    }
}

#[cfg(test)]
mod tests {
    //! `when` and issuer templates end to end through `authenticate`, with the tokens of
    //! `tests/data/authz_tokens.json` (minted by PyJWT; each case lists its claims there).

    use std::cell::Cell;

    use serde_json::{json, Value};

    use super::super::token_cache::TokenCache;
    use super::super::{authenticate, Decision, NoRemoteKeys, Request};
    use crate::config::Config;
    use crate::time::Time;
    use crate::token::algorithm::Algorithm;
    use crate::verify::{RingVerifier, SignatureVerifier};

    const ENTRA: &str = "https://login.microsoftonline.com/{tid}/v2.0";

    fn fixtures() -> Value {
        serde_json::from_str(include_str!("../../tests/data/authz_tokens.json")).unwrap()
    }

    fn token(name: &str) -> String {
        let fixtures = fixtures();
        let case = fixtures["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|case| case["name"] == name)
            .unwrap_or_else(|| panic!("no fixture {name}"))
            .clone();
        case["token"].as_str().unwrap().to_owned()
    }

    fn tenant(index: usize) -> String {
        fixtures()["tenants"][index].as_str().unwrap().to_owned()
    }

    fn now() -> Time {
        Time::from_seconds(fixtures()["now"].as_u64().unwrap())
    }

    /// Providers `entra` (the template, `Authorization`), `plain` (`x-plain`) and `other`
    /// (`x-other`), all on the fixture keys; `entra` gets `extra`.
    fn config(extra: Value, rules: Value) -> Config {
        let keys = json!({"inline_string": fixtures()["keys"]});
        let mut entra = json!({"issuer": ENTRA, "audiences": ["api://orders"], "local_jwks": keys});
        for (key, value) in extra.as_object().unwrap() {
            entra[key] = value.clone();
        }
        let config = json!({
            "providers": {
                "entra": entra,
                "plain": {"issuer": "https://issuer.test", "local_jwks": keys,
                          "from_headers": [{"name": "x-plain"}]},
                "other": {"issuer": "https://other.test", "local_jwks": keys,
                          "from_headers": [{"name": "x-other"}]},
            },
            "rules": rules,
        });
        Config::from_json(config.to_string().as_bytes()).unwrap()
    }

    /// Counts signature checks, and answers with ring.
    #[derive(Default)]
    struct Counting(Cell<usize>);

    impl SignatureVerifier for Counting {
        fn verify(
            &self,
            alg: Algorithm,
            key: &crate::keys::PublicKey,
            message: &[u8],
            sig: &[u8],
        ) -> bool {
            self.0.set(self.0.get() + 1);
            RingVerifier.verify(alg, key, message, sig)
        }
    }

    /// (status, body, WWW-Authenticate) of a request to `path` with `headers` (200: allowed).
    fn answer(
        config: &Config,
        cache: &mut TokenCache,
        verifier: &dyn SignatureVerifier,
        path: &str,
        headers: &[(&str, String)],
    ) -> (u16, String, Option<String>) {
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = headers
            .iter()
            .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
            .collect();
        all.push((b":path".to_vec(), path.as_bytes().to_vec()));
        all.push((b":authority".to_vec(), b"api.test".to_vec()));
        let outcome = authenticate(
            config,
            Request {
                headers: &crate::request::borrow_headers(&all),
            },
            now(),
            &NoRemoteKeys,
            verifier,
            cache,
        );
        match outcome.decision {
            Decision::Allow { .. } => (200, String::new(), None),
            Decision::Deny(denial) => (
                denial.status,
                denial.body.into_owned(),
                denial.www_authenticate,
            ),
            Decision::Wait(wait) => panic!("waits for {wait:?}"),
        }
    }

    fn bearer(name: &str) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {}", token(name)))]
    }

    fn status(config: &Config, path: &str, headers: &[(&str, String)]) -> u16 {
        let mut cache = TokenCache::new(0, 0, [7; 16]);
        answer(config, &mut cache, &RingVerifier, path, headers).0
    }

    fn authz_rules() -> Value {
        let rule = |prefix: &str, when: Value| json!({"match": {"prefix": prefix}, "requires": {"provider_name": "entra"}, "when": when});
        json!([
            rule("/admin", json!([{"key": "request.auth.claims[groups]", "values": ["admins", "ops-*"]}])),
            rule("/free", json!([{"key": "request.auth.claims[https://example.com/org][tier]", "not_values": ["free"]}])),
            rule("/literal", json!([{"key": "request.auth.claims[realm_access.roles]", "values": ["literal"]}])),
            rule("/nested", json!([{"key": "request.auth.claims[realm_access][roles]", "values": ["nested"]}])),
            rule("/scope", json!([{"key": "request.auth.claims[scp]", "values": ["orders.write"]}])),
            rule("/level", json!([{"key": "request.auth.claims[level]", "values": ["3"]}])),
            rule("/principal", json!([{"key": "request.auth.principal", "values": ["*/alice"]}])),
            // As in Istio, a `*` inside a value is literal.
            rule("/middle", json!([{"key": "request.auth.principal", "values": ["https://login.microsoftonline.com/*/v2.0/alice"]}])),
            rule("/tenant-a", json!([{"key": "request.auth.principal", "values": [format!("https://login.microsoftonline.com/{}/v2.0/*", tenant(0))]}])),
            rule("/presenter", json!([{"key": "request.auth.presenter", "values": ["web-*"]},
                                      {"key": "request.auth.audiences", "values": ["api://orders"]}])),
            rule("/both", json!([{"key": "request.auth.claims[groups]", "values": ["*"], "not_values": ["dev"]}])),
            {"match": {"prefix": "/istio"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "entra"}, {"allow_missing": {}}]}},
             "when": [{"key": "request.auth.claims[groups]", "values": ["admins"]}]},
        ])
    }

    #[test]
    fn conditions_on_list_nested_and_namespaced_claims() {
        let config = config(json!({}), authz_rules());
        let (alice, bob, carol) = (
            bearer("alice of tenant A"),
            bearer("bob of tenant B"),
            bearer("carol of tenant A, no groups"),
        );
        for (path, token, expected) in [
            ("/admin", &alice, 200),
            ("/admin", &bob, 200),
            ("/admin", &carol, 403),
            ("/free", &alice, 200),
            ("/free", &bob, 403),
            ("/free", &carol, 200),
            ("/literal", &alice, 200),
            ("/literal", &bob, 403),
            ("/nested", &alice, 200),
            ("/scope", &alice, 200),
            ("/scope", &bob, 403),
            ("/level", &alice, 200),
            ("/principal", &alice, 200),
            ("/principal", &bob, 403),
            ("/middle", &alice, 403),
            ("/tenant-a", &alice, 200),
            ("/tenant-a", &bob, 403),
            ("/presenter", &alice, 200),
            ("/both", &alice, 403),
            ("/both", &bob, 200),
            ("/both", &carol, 403),
            ("/istio", &alice, 200),
            ("/istio", &bob, 403),
        ] {
            assert_eq!(status(&config, path, token), expected, "{path} {token:?}");
        }
    }

    #[test]
    fn missing_and_invalid_tokens_are_401_unmet_conditions_403() {
        let config = config(json!({}), authz_rules());
        let mut cache = TokenCache::new(0, 0, [7; 16]);
        let mut ask = |path: &str, headers: &[(&str, String)]| {
            answer(&config, &mut cache, &RingVerifier, path, headers)
        };
        let forbidden = ask("/admin", &bearer("carol of tenant A, no groups"));
        assert_eq!(
            forbidden,
            (
                403,
                "RBAC: access denied".to_owned(),
                Some("Bearer realm=\"http://api.test/admin\", error=\"insufficient_scope\"".into())
            )
        );
        assert_eq!(ask("/admin", &[]).0, 401);
        assert_eq!(ask("/admin", &[]).1, "Jwt is missing");
        // allow_missing lets a request without a token through the requirement; `when` still
        // needs a token that satisfied it.
        assert_eq!(ask("/istio", &[]).1, "Jwt is missing");
        let mut forged = token("alice of tenant A");
        forged.truncate(forged.len() - 4);
        forged.push_str("AAAA");
        let forged = [("authorization", format!("Bearer {forged}"))];
        assert_eq!(ask("/admin", &forged).1, "Jwt verification fails");
    }

    #[test]
    fn the_error_names_the_failed_key_for_the_log_only() {
        let config = config(json!({}), authz_rules());
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = bearer("carol of tenant A, no groups")
            .into_iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.into_bytes()))
            .collect();
        all.push((b":path".to_vec(), b"/admin".to_vec()));
        let outcome = authenticate(
            &config,
            Request {
                headers: &crate::request::borrow_headers(&all),
            },
            now(),
            &NoRemoteKeys,
            &RingVerifier,
            &mut TokenCache::new(0, 0, [7; 16]),
        );
        let Decision::Deny(denial) = outcome.decision else {
            panic!("allowed");
        };
        assert_eq!(denial.error.reason(), "authz_denied");
        assert_eq!(
            denial.error.detail().as_deref(),
            Some("no verified token that satisfied the requirement meets the condition on request.auth.claims[groups]")
        );
        assert!(!denial.body.contains("groups"));
    }

    #[test]
    fn conditions_hold_on_cache_hits_without_a_signature_check() {
        let config = config(json!({}), authz_rules());
        let counting = Counting::default();
        let mut cache = TokenCache::new(10, 8192, [7; 16]);
        let mut ask =
            |path: &str, name: &str| answer(&config, &mut cache, &counting, path, &bearer(name)).0;
        assert_eq!(ask("/admin", "alice of tenant A"), 200);
        assert_eq!(ask("/admin", "carol of tenant A, no groups"), 403);
        let checks = counting.0.get();
        for _ in 0..2 {
            assert_eq!(ask("/admin", "alice of tenant A"), 200);
            assert_eq!(ask("/free", "alice of tenant A"), 200);
            assert_eq!(ask("/admin", "carol of tenant A, no groups"), 403);
            assert_eq!(ask("/nested", "carol of tenant A, no groups"), 403);
        }
        assert_eq!(counting.0.get(), checks, "every one a hit");
    }

    #[test]
    fn only_a_token_that_satisfied_the_requirement_counts() {
        let admins = json!([{"key": "request.auth.claims[groups]", "values": ["admins"]}]);
        let config = config(
            json!({}),
            json!([
                // The plain token verifies in the first branch, which then fails (no x-other
                // token): only bob's, from the second branch, satisfied the requirement.
                {"match": {"prefix": "/any"}, "when": admins, "requires": {"requires_any": {"requirements": [
                    {"requires_all": {"requirements": [{"provider_name": "plain"}, {"provider_name": "other"}]}},
                    {"provider_name": "entra"}]}}},
                // Both satisfied it: dave's (admins) is enough.
                {"match": {"prefix": "/all"}, "when": admins, "requires": {"requires_all": {"requirements": [
                    {"provider_name": "entra"}, {"provider_name": "plain"}]}}},
            ]),
        );
        let mut headers = bearer("bob of tenant B");
        headers.push(("x-plain", token("plain issuer")));
        assert_eq!(status(&config, "/any", &headers), 403);
        assert_eq!(status(&config, "/all", &headers), 200);
        assert_eq!(status(&config, "/all", &bearer("bob of tenant B")), 401);
    }

    #[test]
    fn a_template_takes_every_tenant_with_a_bound_claim() {
        let config = config(
            json!({}),
            json!([{"match": {"prefix": "/"}, "requires": {"provider_name": "entra"}}]),
        );
        let check = |name: &str| {
            let mut cache = TokenCache::new(0, 0, [7; 16]);
            answer(&config, &mut cache, &RingVerifier, "/", &bearer(name)).1
        };
        assert_eq!(check("alice of tenant A"), "");
        assert_eq!(check("bob of tenant B"), "");
        for name in [
            "tid of another tenant",
            "no tid",
            "tid is a number",
            "iss with an extra segment",
            "iss with an empty segment",
            "plain issuer",
        ] {
            assert_eq!(check(name), "Jwt issuer is not configured", "{name}");
        }
        // Entra's keys name their issuer: a key of another issuer does not verify this one's.
        assert_eq!(
            check("signed by the key of another issuer"),
            "Jwt verification fails"
        );
        // A key that names no issuer verifies any (the provider's issuer check still holds).
        assert_eq!(check("entra issuer signed by a key that names none"), "");
    }

    #[test]
    fn templated_and_plain_providers_coexist() {
        let config = config(
            json!({}),
            json!([{"match": {"prefix": "/"}, "requires": {"allow_missing": {}}}]),
        );
        // With allow_missing the token's iss picks its provider: plain reads x-plain only.
        assert_eq!(status(&config, "/", &bearer("alice of tenant A")), 200);
        assert_eq!(
            status(&config, "/", &[("x-plain", token("plain issuer"))]),
            200
        );
        assert_eq!(
            status(&config, "/", &[("x-plain", token("alice of tenant A"))]),
            401
        );
        assert_eq!(status(&config, "/", &bearer("tid of another tenant")), 401);
    }

    #[test]
    fn a_cached_verdict_is_never_another_tenants() {
        let restricted = config(
            json!({"verify_claims": [{"key": "tid", "values": [tenant(0)]}]}),
            json!([{"match": {"prefix": "/"}, "requires": {"provider_name": "entra"}}]),
        );
        let mut cache = TokenCache::new(10, 8192, [7; 16]);
        let mut ask =
            |name: &str| answer(&restricted, &mut cache, &RingVerifier, "/", &bearer(name));
        assert_eq!(ask("alice of tenant A").0, 200);
        assert_eq!(ask("alice of tenant A").0, 200);
        assert_eq!(
            ask("bob of tenant B"),
            (
                403,
                "Claim tid in Jwt is not allowed".to_owned(),
                Some("Bearer realm=\"http://api.test/\", error=\"invalid_token\"".into())
            )
        );
        assert_eq!(
            ask("tid of another tenant").1,
            "Jwt issuer is not configured"
        );
        assert_eq!(ask("alice of tenant A").0, 200);
    }
}
