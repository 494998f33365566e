"""Which rule applies to a request (first match wins) and what its requirement demands; CORS
preflights. The rules are shared_config.GATE_RULES, except for the header smuggling cases, which run
side by side with Envoy's jwt_authn (integration/test_rule_matching.py compares every matcher)."""

import pytest

from jwt_gate_testkit.bootstrap import jwt_authn_filter, jwt_gate_filter
from jwt_gate_testkit.client import assert_denied
from jwt_gate_testkit.envoy import Listener, running_envoy
from jwt_gate_testkit.shared_config import CORS_PREFLIGHT, OTHER_ISSUER, rule
from jwt_gate_testkit.tokens import AUDIENCE, ISSUER


@pytest.fixture(scope="module")
def tokens(keys):
    """Tokens by name, and the headers that carry them (provider "other" reads x-other-token)."""
    rsa, other = keys.mint(), keys.mint(kid="rsa2", iss=OTHER_ISSUER)
    return {
        "none": [],
        "rsa": [("Authorization", f"Bearer {rsa}")],
        "other": [("x-other-token", other)],
        "both": [("Authorization", f"Bearer {rsa}"), ("x-other-token", other)],
        "expired": [("Authorization", f"Bearer {keys.mint(exp=1)}")],
        "override audience": [("Authorization", f"Bearer {keys.mint(aud='override.test')}")],
    }


# (method, path, token name) -> status. A 200 comes from the echo backend.
CASES = {
    # No rule matches, or the rule has no requirement: no check at all.
    ("GET", "/open/x", "none"): 200,
    ("GET", "/open/x", "expired"): 200,
    ("GET", "/public/x", "none"): 200,
    ("GET", "/public/x", "expired"): 200,
    # path: exact, without the query.
    ("GET", "/exact", "none"): 401,
    ("GET", "/exact?q=1", "none"): 401,
    ("GET", "/exact", "rsa"): 200,
    ("GET", "/exact/more", "none"): 200,
    # safe_regex: the whole path.
    ("GET", "/re/123", "none"): 401,
    ("GET", "/re/123", "rsa"): 200,
    ("GET", "/re/abc", "none"): 200,
    ("GET", "/re/123/x", "none"): 200,
    # headers: the rule applies to POST only.
    ("POST", "/method", "none"): 401,
    ("POST", "/method", "rsa"): 200,
    ("GET", "/method", "none"): 200,
    # First match wins: /first (provider other) shadows /first/second (provider rsa).
    ("GET", "/first/second", "other"): 200,
    ("GET", "/first/second", "rsa"): 401,
    # requirement_name -> requirement_map["by_name"] = provider other.
    ("GET", "/named", "other"): 200,
    ("GET", "/named", "rsa"): 401,
    ("GET", "/named", "none"): 401,
    # requires_any: either provider.
    ("GET", "/requires-any", "rsa"): 200,
    ("GET", "/requires-any", "other"): 200,
    ("GET", "/requires-any", "none"): 401,
    ("GET", "/requires-any", "expired"): 401,
    # requires_all: both providers.
    ("GET", "/requires-all", "both"): 200,
    ("GET", "/requires-all", "rsa"): 401,
    ("GET", "/requires-all", "other"): 401,
    # provider_and_audiences replaces the provider's audiences.
    ("GET", "/audiences", "override audience"): 200,
    ("GET", "/audiences", "rsa"): 403,
    # allow_missing: no token passes, a bad one does not.
    ("GET", "/allow-missing", "none"): 200,
    ("GET", "/allow-missing", "rsa"): 200,
    ("GET", "/allow-missing", "expired"): 401,
    # allow_missing_or_failed: everything passes.
    ("GET", "/allow-failed", "none"): 200,
    ("GET", "/allow-failed", "rsa"): 200,
    ("GET", "/allow-failed", "expired"): 200,
    # Istio's shape: requires_any [provider, allow_missing].
    ("GET", "/istio", "none"): 200,
    ("GET", "/istio", "rsa"): 200,
    ("GET", "/istio", "expired"): 401,
}


@pytest.mark.parametrize("method, path, token", CASES)
def test_rule_and_requirement(gate, tokens, method, path, token):
    response = gate.request(path, method=method, headers=tokens[token])
    assert response.status == CASES[method, path, token], response.text[:200]
    if response.status == 200:
        assert response.upstream.path == path


def test_valid_token_is_forwarded_under_allow_missing_or_failed(gate, tokens):
    upstream = gate.request("/allow-failed", headers=tokens["rsa"]).upstream
    assert upstream.header("x-sub") == "alice"


def test_failed_token_forwards_nothing_under_allow_missing_or_failed(gate, tokens):
    upstream = gate.request("/allow-failed", headers=tokens["expired"]).upstream
    assert (upstream.header("x-jwt-payload"), upstream.header("x-sub")) == (None, None)


def test_requires_any_reports_the_most_specific_error(gate, tokens):
    assert_denied(gate.request("/requires-any", headers=tokens["expired"]), 401, "Jwt is expired")
    assert_denied(gate.request("/requires-any"), 401, "Jwt is missing")


def test_cors_preflight_bypasses_the_check(gate):
    response = gate.request("/api/x", method="OPTIONS", headers=CORS_PREFLIGHT)
    assert response.upstream.method == "OPTIONS"


@pytest.mark.parametrize("header", CORS_PREFLIGHT)
def test_options_without_preflight_headers_is_checked(gate, header):
    headers = {name: value for name, value in CORS_PREFLIGHT.items() if name != header}
    assert_denied(gate.request("/api/x", method="OPTIONS", headers=headers), 401, "Jwt is missing")


# Rules a request must not slip past by repeating a header or by naming the host: the admin
# tenant needs a token (written both ways round), and so does the admin host; the rest is open.
ADMIN_HOST = {"exact": "admin.example"}
SMUGGLING_RULES = [
    rule(
        {"prefix": "/h", "headers": [{"name": "x-tenant", "string_match": {"exact": "admin"}}]},
        {"provider_name": "p"},
    ),
    rule(
        {
            "prefix": "/i",
            "headers": [
                {"name": "x-tenant", "string_match": {"exact": "admin"}, "invert_match": True}
            ],
        }
    ),
    rule({"prefix": "/i"}, {"provider_name": "p"}),
    rule(
        {"prefix": "/host", "headers": [{"name": "host", "string_match": ADMIN_HOST}]},
        {"provider_name": "p"},
    ),
    rule({"prefix": "/"}),
]

# (path, headers) -> status from both filters, without a token.
SMUGGLING_CASES = [
    ("/h", [("x-tenant", "user"), ("x-tenant", "admin")], 401),
    ("/h", [("X-Tenant", "admin"), ("x-tenant", "user")], 401),
    ("/h", [("x-tenant", "user"), ("X-TENANT", "admin"), ("x-tenant", "guest")], 401),
    ("/h", [("x-tenant", "user")], 200),
    ("/h", [("x-tenant", "user,admin")], 200),  # one value, and it is not "admin"
    ("/i", [("x-tenant", "user"), ("x-tenant", "admin")], 401),
    ("/i", [("x-tenant", "user"), ("x-tenant", "guest")], 200),
    ("/host", [("Host", "admin.example")], 401),
    ("/host", [("Host", "www.example")], 200),
    ("/host", [("Host", "admin.example:8443")], 200),  # Envoy compares the port too
]


@pytest.fixture(scope="module")
def smuggling_pair(keys, echo, build):
    config = {
        "providers": {
            "p": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "local_jwks": {"inline_string": keys.jwks("rsa")},
            }
        },
        "rules": SMUGGLING_RULES,
    }
    listeners = {
        "jwt_gate": jwt_gate_filter(config, build=build),
        "jwt_authn": jwt_authn_filter(config),
    }
    with running_envoy(listeners, echo.port, "smuggling") as envoy:
        yield Listener(envoy, "jwt_gate"), Listener(envoy, "jwt_authn")


@pytest.mark.parametrize("path, headers, status", SMUGGLING_CASES)
def test_repeated_headers_and_host_cannot_skip_a_rule(smuggling_pair, path, headers, status):
    """Envoy matches each value of a repeated header (any one matches; an inverted matcher needs
    none to), and answers a `host` matcher from :authority; jwt-gate once matched the values
    joined with commas and had no `host` header, so these requests skipped the token check."""
    gate, native = smuggling_pair
    answers = (gate.request(path, headers=headers), native.request(path, headers=headers))
    assert [answer.status for answer in answers] == [status, status], answers[0].text[:200]
    if status == 401:
        assert_denied(answers[0], 401, "Jwt is missing")
