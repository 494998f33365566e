"""What the backend receives: payload and claim headers, the token removed (or forwarded), spoofed
headers dropped; and where tokens are taken from."""

import base64
import json
import re
import textwrap
import urllib.parse

import pytest

from jwt_gate_testkit.artifacts import REPO
from jwt_gate_testkit.client import assert_denied
from jwt_gate_testkit.shared_config import CLAIM_HEADERS
from jwt_gate_testkit.tokens import b64url, segments

FWD_ISSUER = "https://fwd.test"


def test_payload_header_is_the_payload_segment_as_sent(gate, keys):
    token = keys.mint()
    upstream = gate.request("/api/x", token=token).upstream
    assert upstream.header("x-jwt-payload") == segments(token)[1]


def test_padded_payload_header(gate, keys):
    # Grow a claim until the segment needs padding, so that padding is visible.
    token = next(
        t
        for t in (keys.mint(iss=FWD_ISSUER, pad="x" * n) for n in range(4))
        if len(segments(t)[1]) % 4
    )
    payload = segments(token)[1]
    upstream = gate.request("/fwd", token=token).upstream
    assert upstream.header("x-jwt-payload") == payload + "=" * (-len(payload) % 4)


def test_claims_to_headers(gate, keys):
    token = keys.mint(
        sub="alice",
        n=42,
        flag=True,
        roles=["a", "b"],
        org={"team": "core"},
        **{"https://example.com/role": "admin"},
    )
    upstream = gate.request("/api/x", token=token).upstream  # claims: see CLAIM_HEADERS
    received = {name: upstream.header(name) for name in CLAIM_HEADERS}
    assert received == {
        "x-sub": "alice",
        "x-n": "42",
        "x-flag": "true",
        "x-roles": "a,b",
        "x-team": "core",
        "x-role": "admin",
    }
    false = gate.request("/api/x", token=keys.mint(flag=False)).upstream
    assert false.header("x-flag") == "false"


def test_a_string_claim_never_passes_for_a_list(gate, keys):
    """Split at commas, a claim header gives back the claim's values: a list comma-joined, a
    string with a comma as one base64-of-JSON element (jwt_authn's encoding of what it cannot
    write plainly), so a backend splitting x-roles never reads two roles out of one string."""

    def roles(value) -> str | None:
        return gate.request("/api/x", token=keys.mint(roles=value)).upstream.header("x-roles")

    assert roles(["user", "admin"]) == "user,admin"
    assert roles("user") == "user"
    string = roles("user,admin")
    assert "," not in string
    assert json.loads(base64.b64decode(string)) == "user,admin"
    element = roles(["a,admin", "b"])
    assert json.loads(base64.b64decode(element)) == ["a,admin", "b"]


def documented_reader():
    """`read_claim_header`, the Python docs/configuration.md gives backends, run as written."""
    text = (REPO / "docs" / "configuration.md").read_text()
    fence = re.compile(r"^[ \t]*```python\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
    [block] = [b for b in fence.findall(text) if "def read_claim_header" in b]
    namespace: dict = {}
    exec(textwrap.dedent(block), namespace)
    return namespace["read_claim_header"]


@pytest.mark.parametrize(
    "claim",
    [
        "WyJhZG1pbiJd",  # the base64 of ["admin"], as a string
        "InVzZXIsYWRtaW4i",  # the base64 of "user,admin"
        "TmFO",  # the base64 of NaN, which Python's json reads
        ["user", "WyJhZG1pbiJd"],
        "user,admin",
        ["a,admin", "b"],
    ],
)
def test_a_claim_header_reads_back_as_the_claim(gate, keys, claim):
    """Read with the docs' own Python, x-roles gives back the claim exactly. A string that is
    itself base64 of JSON used to be sent as is, so a backend decoding x-roles read `["admin"]`
    out of the string "WyJhZG1pbiJd"; it is encoded now, like a string with a comma."""
    upstream = gate.request("/api/x", token=keys.mint(roles=claim)).upstream
    read = documented_reader()(upstream.header("x-roles"))
    assert read == claim or read == [claim], upstream.header("x-roles")


@pytest.mark.parametrize("claim", ["", [], [""]])
def test_an_empty_claim_adds_no_header(gate, keys, claim):
    """No value, no header (jwt_authn adds none for an empty string either): "", [] and [""]
    used to give one empty x-roles, which no backend could tell apart."""
    upstream = gate.request("/api/x", token=keys.mint(roles=claim)).upstream
    assert upstream.header("x-roles") is None


def test_missing_claims_add_no_header(gate, keys):
    upstream = gate.request("/api/x", token=keys.mint(sub=None)).upstream
    assert {name: upstream.header(name) for name in CLAIM_HEADERS} == dict.fromkeys(CLAIM_HEADERS)


def test_authorization_is_removed_upstream(gate, keys):
    upstream = gate.request("/api/x", token=keys.mint()).upstream
    assert upstream.header("authorization") is None


def test_authorization_is_kept_with_forward(gate, keys):
    token = keys.mint(iss=FWD_ISSUER)
    upstream = gate.request("/fwd", token=token).upstream
    assert upstream.header("authorization") == f"Bearer {token}"


def test_query_token_is_accepted_and_removed(gate, keys):
    token = keys.mint()
    upstream = gate.request(f"/api/q?x=1&access_token={token}&y=2").upstream
    path, _, query = upstream.path.partition("?")
    assert path == "/api/q"
    assert urllib.parse.parse_qsl(query) == [("x", "1"), ("y", "2")]
    assert upstream.header("x-jwt-payload") == segments(token)[1]


def test_query_token_is_kept_with_forward(gate, keys):
    path = f"/fwd/q?x=1&access_token={keys.mint(iss=FWD_ISSUER)}&y=2"
    assert gate.request(path).upstream.path == path


SPOOFED = [("x-jwt-payload", b64url({"sub": "admin"})), ("x-sub", "admin"), ("X-Sub", "root")]


@pytest.mark.parametrize(
    "path", ["/open/x", "/public/x", "/allow-missing/x", "/allow-failed/x", "/istio/x"]
)
def test_spoofed_headers_are_dropped_without_token(gate, path):
    upstream = gate.request(path, headers=SPOOFED).upstream
    assert (upstream.header("x-sub"), upstream.header("x-jwt-payload")) == (None, None)


@pytest.mark.parametrize(
    "path, verified",
    [("/api/x", True), ("/allow-missing/x", True), ("/open/x", False), ("/public/x", False)],
)
def test_spoofed_headers_are_dropped_next_to_a_valid_token(gate, keys, path, verified):
    """/api and allow_missing verify the token and forward its payload; a route without a
    requirement (or no rule at all) verifies nothing and forwards nothing; the spoofed values
    never pass."""
    token = keys.mint(sub=None)  # no sub claim: no genuine x-sub either
    upstream = gate.request(path, headers=SPOOFED, token=token).upstream
    assert upstream.header("x-sub") is None
    assert upstream.header("x-jwt-payload") == (segments(token)[1] if verified else None)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(gate, keys, scheme):
    response = gate.request("/api/x", headers={"Authorization": f"{scheme} {keys.mint()}"})
    assert response.status == 200, response.text


@pytest.mark.parametrize("value", ["Foo Bearer {token}", "Basic {token}", "{token}"])
def test_scheme_must_start_the_value(gate, keys, value):
    response = gate.request("/api/x", headers={"Authorization": value.format(token=keys.mint())})
    assert_denied(response, 401, "Jwt is missing")


@pytest.mark.parametrize("value", ["Basic abc, Bearer {token}", "Bearer {token}, Basic abc"])
def test_a_token_location_holds_one_credential(gate, keys, value):
    # Two Authorization headers reach the filter joined by a comma: refuse, do not guess.
    response = gate.request("/api/x", headers={"Authorization": value.format(token=keys.mint())})
    assert_denied(response, 401, "Found multiple Jwt tokens")


def test_header_and_query_tokens_must_both_verify(gate, keys):
    good, expired = keys.mint(), keys.mint(exp=1)
    assert gate.request(f"/api/x?access_token={good}", token=good).status == 200
    assert_denied(gate.request(f"/api/x?access_token={expired}", token=good), 401, "Jwt is expired")
    assert_denied(gate.request(f"/api/x?access_token={good}", token=expired), 401, "Jwt is expired")
