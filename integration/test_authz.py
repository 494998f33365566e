"""Authorization on claims (`when`) and multi-tenant issuers (issuer templates) in a real Envoy,
with tokens minted by PyJWT and a multi-tenant key set served by a local identity provider, shaped
like Microsoft Entra ID's common keys (each key names its issuer, `{tenantid}` in the path).

- `when`: list, nested and namespaced claims, Istio's wildcards, `not_values`, missing claims,
  the principal split at its last `/`; a missing or invalid token is 401, conditions not met are
  403 `RBAC: access denied` with `error="insufficient_scope"`; cache hits are judged alike;
  counted in `authz_denied`, logged (debug) with the condition's key;
- templates: every tenant's token verifies with the one key set, fetched once; `tid` must be
  the tenant `iss` names; a key that names another issuer does not verify; a tenant restriction
  (`verify_claims` or `when`) holds on cache hits, and the load warns where there is none."""

from __future__ import annotations

import json

import pytest

from jwt_gate_testkit.bootstrap import bootstrap, jwt_gate_filter
from jwt_gate_testkit.client import Response, assert_denied
from jwt_gate_testkit.envoy import Envoy, Listener
from jwt_gate_testkit.servers import IdentityProvider
from jwt_gate_testkit.tokens import AUDIENCE, public_jwk

ENTRA = "https://login.microsoftonline.com/{tid}/v2.0"
KEYS_PATH = "/common/discovery/v2.0/keys"
TENANT_A = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_B = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
RBAC = "RBAC: access denied"


def issuer(tenant: str) -> str:
    return f"https://login.microsoftonline.com/{tenant}/v2.0"


def when(key: str, values=(), not_values=()) -> list[dict]:
    condition: dict = {"key": key}
    if values:
        condition["values"] = list(values)
    if not_values:
        condition["not_values"] = list(not_values)
    return [condition]


def rule(prefix: str, conditions: list[dict], provider: str = "entra") -> dict:
    return {
        "match": {"prefix": prefix},
        "requires": {"provider_name": provider},
        "when": conditions,
    }


def plugin_config(idp: IdentityProvider) -> dict:
    remote = {
        "http_uri": {"uri": idp.url(KEYS_PATH), "cluster": "idp", "timeout": "2s"},
        "cache_duration": "300s",
    }
    entra = {
        "issuer": ENTRA,
        "audiences": [AUDIENCE],
        "remote_jwks": remote,
        "claim_to_headers": [{"header_name": "x-tid", "claim_name": "tid"}],
    }
    return {
        "providers": {
            "entra": entra,
            "tenant_a_only": {
                **entra,
                "verify_claims": [{"key": "tid", "values": [TENANT_A]}],
            },
        },
        "requirement_map": {
            "tenant_a": {
                "provider_name": "entra",
                "when": when("request.auth.claims[tid]", [TENANT_A]),
            }
        },
        "rules": [
            rule("/admin", when("request.auth.claims[groups]", ["admins", "ops-*"])),
            rule("/tier", when("request.auth.claims[https://example.com/org][tier]", (), ["free"])),
            rule("/literal", when("request.auth.claims[realm_access.roles]", ["literal"])),
            rule("/nested", when("request.auth.claims[realm_access][roles]", ["nested"])),
            rule("/scope", when("request.auth.claims[scp]", ["orders.write"])),
            rule("/principal", when("request.auth.principal", [f"{issuer(TENANT_A)}/*"])),
            rule("/presenter", when("request.auth.presenter", ["*-client"])),
            {"match": {"prefix": "/tenant-a"}, "requirement_name": "tenant_a"},
            {"match": {"prefix": "/restricted"}, "requires": {"provider_name": "tenant_a_only"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "entra"}},
        ],
    }


@pytest.fixture(scope="module")
def idp():
    """An identity provider whose key set names its issuer per key, as Entra ID's does: its own
    key for login.microsoftonline.com tenants, another (`sts`) for sts.windows.net ones."""
    with IdentityProvider() as provider:
        entra_key = {
            **public_jwk(provider.rsa[provider.current_kid], provider.current_kid, "RS256"),
            "use": "sig",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        }
        sts_key = {
            **public_jwk(provider.stranger, "sts", "RS256"),
            "use": "sig",
            "issuer": "https://sts.windows.net/{tenantid}/",
        }
        provider.serve(KEYS_PATH, json.dumps({"keys": [entra_key, sts_key]}).encode())
        yield provider


@pytest.fixture(scope="module")
def gate(idp, echo, build):
    """One worker (so that a repeated token is a cache hit), debug logs for jwt-gate."""
    filters = {"gate": jwt_gate_filter(plugin_config(idp), build=build)}
    config = bootstrap(filters, echo.port, {"idp": idp.port})
    debug = ("--component-log-level", "wasm:debug,dynamic_modules:debug")
    envoy = Envoy(config, "authz", concurrency=1, args=debug)
    try:
        yield Listener(envoy.wait_ready(), "gate")
    finally:
        envoy.stop()


def mint(idp: IdentityProvider, tenant: str = TENANT_A, **claims) -> str:
    return idp.mint(iss=issuer(tenant), tid=tenant, azp="web-client", **claims)


@pytest.fixture(scope="module")
def tokens(idp):
    org = "https://example.com/org"
    return {
        "alice": mint(
            idp,
            groups=["admins", "dev"],
            scp="orders.read orders.write",
            **{org: {"tier": "gold"}, "realm_access.roles": ["literal"]},
            realm_access={"roles": ["nested"]},
        ),
        "bob": mint(idp, TENANT_B, sub="bob", groups=["ops-east"], **{org: {"tier": "free"}}),
        "carol": mint(idp, sub="carol"),
    }


def forbidden(response: Response) -> None:
    assert (response.status, response.text) == (403, RBAC), response.text[:300]
    realm = f'Bearer realm="http://{response.host}{response.path}"'
    assert response.header("www-authenticate") == f'{realm}, error="insufficient_scope"'


# (path, token) -> status: 200 from the echo backend, 403 the conditions not met.
CASES = {
    # A list claim: any element against any value; `ops-*` a prefix.
    ("/admin", "alice"): 200,
    ("/admin", "bob"): 200,
    ("/admin", "carol"): 403,
    # A namespaced claim's member; not_values hold on a missing claim.
    ("/tier", "alice"): 200,
    ("/tier", "bob"): 403,
    ("/tier", "carol"): 200,
    # Inside brackets a name is literal: `realm_access.roles` is that claim, not a path.
    ("/literal", "alice"): 200,
    ("/literal", "carol"): 403,
    ("/nested", "alice"): 200,
    ("/nested", "bob"): 403,
    # scp: a space-delimited list.
    ("/scope", "alice"): 200,
    ("/scope", "bob"): 403,
    # The principal: the issuer exactly (split at the last `/`), any subject.
    ("/principal", "alice"): 200,
    ("/principal", "bob"): 403,
    # A suffix wildcard.
    ("/presenter", "carol"): 200,
    # A requirement_map entry's conditions.
    ("/tenant-a", "alice"): 200,
    ("/tenant-a", "bob"): 403,
}


@pytest.mark.parametrize("path, name", CASES)
def test_when_conditions(gate, tokens, path, name):
    response = gate.request(path, token=tokens[name])
    if CASES[path, name] == 200:
        assert response.upstream.path == path
    else:
        forbidden(response)


def test_no_token_or_an_invalid_one_is_401_not_403(gate, tokens, idp):
    assert_denied(gate.request("/admin"), 401, "Jwt is missing")
    alice = tokens["alice"]
    assert_denied(gate.request("/admin", token=alice[:-4] + "AAAA"), 401, "Jwt verification fails")
    expired = mint(idp, groups=["admins"], exp=1)
    assert_denied(gate.request("/admin", token=expired), 401, "Jwt is expired")


def test_conditions_hold_on_cache_hits_and_are_counted_and_logged(gate, tokens):
    envoy = gate.envoy
    before = envoy.gate_stats()
    for _ in range(3):
        assert gate.request("/admin", token=tokens["alice"]).status == 200
        forbidden(gate.request("/admin", token=tokens["carol"]))
    after = envoy.gate_stats()
    gained = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    # One worker: each token verified once, then hits, judged on the same claims.
    assert gained["jwt_gate.token_cache_hit"] >= 4, gained
    assert gained["jwt_gate.authz_denied"] == 3, gained
    assert gained["jwt_gate.denied_by_reason.authz_denied"] == 3, gained
    line = "no verified token that satisfied the requirement meets the condition on "
    logged = envoy.log_lines(line + "request.auth.claims[groups]")
    assert logged, envoy.log_tail()
    assert "carol" not in "".join(logged), "the log names the key, never a claim value"


def test_every_tenant_verifies_with_one_key_set_fetched_once(gate, tokens, idp):
    for name, tenant in (("alice", TENANT_A), ("bob", TENANT_B)):
        assert gate.request("/", token=tokens[name]).upstream.header("x-tid") == tenant
        assert gate.request("/restricted", token=tokens["alice"]).status == 200
    # One fetch per provider (two here use the key set), none per tenant.
    assert idp.hits(KEYS_PATH) == 2


@pytest.mark.parametrize(
    "tid, iss",
    [
        (TENANT_B, issuer(TENANT_A)),  # tid of another tenant
        (None, issuer(TENANT_A)),  # no tid
        (7, issuer("7")),  # tid not a string
        (TENANT_A, f"https://login.microsoftonline.com/{TENANT_A}/x/v2.0"),  # two segments
        ("", issuer("")),  # an empty segment
        (TENANT_A, "https://login.microsoftonline.com.evil/72f988bf/v2.0"),  # another host
    ],
)
def test_tid_must_be_the_tenant_iss_names(gate, idp, tid, iss):
    token = idp.mint(iss=iss, tid=tid, groups=["admins"])
    assert_denied(gate.request("/", token=token), 401, "Jwt issuer is not configured")


def test_a_key_that_names_another_issuer_does_not_verify(gate, idp):
    token = mint(idp, kid="sts", key=idp.stranger)
    assert_denied(gate.request("/", token=token), 401, "Jwt verification fails")


def test_a_cached_verdict_is_never_another_tenants(gate, tokens):
    for _ in range(2):
        assert gate.request("/restricted", token=tokens["alice"]).status == 200
        assert_denied(
            gate.request("/restricted", token=tokens["bob"]), 403, "Claim tid in Jwt is not allowed"
        )
        forbidden(gate.request("/tenant-a", token=tokens["bob"]))


def test_an_unrestricted_template_is_a_warning_at_load(gate):
    """One warning (each VM logs its configuration's), for the provider no tenant restriction
    holds on: `tenant_a_only` has verify_claims on tid."""
    warnings = gate.envoy.log_lines("accepts every tenant")
    assert warnings
    assert {line.partition("jwt-gate: ")[2] for line in warnings} == {
        f'providers.entra.issuer: "{ENTRA}" accepts every tenant: restrict {{tid}} with '
        'verify_claims ({"key": "tid", "values": [...]}) or a when condition on '
        "request.auth.claims[tid]"
    }
