"""Rule matching, side by side with Envoy's own jwt_authn: one Envoy, two listeners, the SAME
rules JSON, several hundred generated requests (fixed seed). Every matcher kind is in the rules
(prefix, path, path_separated_prefix, safe_regex, case_sensitive, header string/range/present
matchers, invert_match, treat_missing_header_as_empty, ignore_case, the deprecated forms, `host`
and `:authority`, `:method`, query parameters); the requests repeat headers, vary the case of
their names, put ports in the host, and send bytes that are not UTF-8. Each rule has its own
requirement, so a verdict tells which kind of rule applied; both filters must give the same."""

import random
from dataclasses import dataclass

import pytest

from jwt_gate_testkit.bootstrap import jwt_authn_filter, jwt_gate_filter
from jwt_gate_testkit.envoy import Listener, running_envoy
from jwt_gate_testkit.tokens import AUDIENCE, ISSUER

SEED = 20261206
REQUESTS = 400

# What a rule demands, and what each answer looks like (with a valid token for providers a and b
# in every request): `a`/`b` 200 with that provider's payload header upstream, `audience` 403,
# `missing` 401 (provider m reads a header no request has), `open` 200 with the token untouched.
A = {"provider_name": "a"}
B = {"provider_name": "b"}
AUDIENCE_MISMATCH = {"provider_and_audiences": {"provider_name": "a", "audiences": ["nobody"]}}
MISSING = {"provider_name": "m"}


def rule(match: dict, requires: dict | None = None) -> dict:
    return {"match": match, **({"requires": requires} if requires else {})}


def header(name: str, **matcher) -> dict:
    return {"name": name, **matcher}


def exact(value: str, **options) -> dict:
    return {"string_match": {"exact": value, **options}}


ID_REGEX = {"regex": "id-.{2}"}
NO = {"contains": "no"}

RULES = [
    # A prefix never reaches into the query: no request matches this one.
    rule({"prefix": "/public?debug"}, MISSING),
    rule({"path_separated_prefix": "/public"}),
    rule({"prefix": "/", "headers": [header("x-tenant", **exact("admin"))]}, A),
    rule({"prefix": "/", "headers": [header("host", **exact("admin.example"))]}, MISSING),
    rule({"prefix": "/", "headers": [header(":authority", string_match={"suffix": ":8080"})]}, B),
    rule(
        {
            "prefix": "/",
            "headers": [
                header("X-Role", string_match={"prefix": "ADM", "ignore_case": True}),
                header(":method", **exact("POST")),
            ],
        },
        AUDIENCE_MISMATCH,
    ),
    rule({"prefix": "/", "headers": [header("x-version", range_match={"start": 0, "end": 10})]}, B),
    rule(
        {
            "prefix": "/",
            "headers": [
                header("x-version", range_match={"start": "-100", "end": "100"}, invert_match=True)
            ],
        },
        MISSING,
    ),
    rule(
        {
            "prefix": "/",
            "headers": [header("x-debug", present_match=True)],
            "query_parameters": [{"name": "debug", "present_match": False}],
        },
        AUDIENCE_MISMATCH,
    ),
    # Two bytes, whatever they are: RE2 reads bytes as Latin-1 in Envoy.
    rule({"prefix": "/", "headers": [header("x-id", string_match={"safe_regex": ID_REGEX})]}, A),
    rule({"prefix": "/", "headers": [header("x-flag", string_match=NO, invert_match=True)]}, B),
    rule(
        {
            "prefix": "/",
            "headers": [
                header("x-opt", treat_missing_header_as_empty=True, **exact("")),
                header(":method", exact_match="DELETE"),
            ],
        },
        MISSING,
    ),
    rule(
        {
            "prefix": "/",
            "headers": [
                header(":method", **exact("PATCH")),
                header("x-absent", present_match=True, treat_missing_header_as_empty=True),
            ],
        },
        AUDIENCE_MISMATCH,
    ),
    rule({"prefix": "/", "headers": [header("x-legacy", prefix_match="v1", invert_match=True)]}, A),
    rule({"path": "/admin", "case_sensitive": False}, AUDIENCE_MISMATCH),
    rule({"safe_regex": {"regex": "/api/v[0-9]+/items"}}, B),
    rule(
        {
            "prefix": "/API",
            "case_sensitive": False,
            "query_parameters": [{"name": "mode", "string_match": {"exact": "fast"}}],
        },
        MISSING,
    ),
    rule({"prefix": "/api", "query_parameters": [{"name": "debug", **exact("1")}]}),
    rule({"path_separated_prefix": "/Api/V1", "case_sensitive": False}, A),
    rule({"prefix": "/api"}, AUDIENCE_MISMATCH),
    rule({"prefix": "/", "headers": [header("x-tenant", present_match=False)]}, B),
    rule({"prefix": "/"}),
]

PATHS = [
    "/",
    "/public",
    "/public/",
    "/public/x",
    "/publicity",
    "/PUBLIC/x",
    "/public?debug=1",
    "/admin",
    "/Admin",
    "/admin/",
    "/admin?x=1",
    "/api",
    "/api/v1",
    "/api/v1/items",
    "/API/V1/ITEMS",
    "/api/v12/items?debug=1",
    "/api/v1x",
    "/api/v2/items/more",
    "/apix",
]
QUERIES = [
    "",
    "",
    "?debug=1",
    "?debug",
    "?debug=0&debug=1",
    "?mode=fast",
    "?Mode=fast",
    "?mode=fas%74",
    "?x=1&mode=fast",
]
HOSTS = [
    "api.test",
    "api.test:8080",
    "admin.example",
    "ADMIN.example",
    "admin.example:443",
    "internal.test:8080",
]
METHODS = ["GET", "GET", "POST", "DELETE", "PUT", "PATCH"]
# Header values, some repeated or case-varied at generation time.
VALUES = {
    "x-tenant": ["admin", "user", "Admin", "user,admin", ""],
    "x-role": ["admin", "ADMIN", "administrator", "user", "xadmin"],
    "x-version": ["5", "+5", "05", "-3", "12", "150", "-150", "abc", "5.0", "1e3", ""],
    "x-debug": ["1", ""],
    "x-id": ["id-ab", "id-a", "id-abc", b"id-\xe9\xe9", "id-\u00e9".encode(), b"id-\xff"],
    "x-flag": ["yes", "no", "not", "maybe"],
    "x-opt": ["", "x"],
    "x-legacy": ["v1", "v12", "v2", "x"],
}


@dataclass
class Request:
    method: str
    path: str
    headers: list[tuple[str, str | bytes]]

    def __str__(self) -> str:
        lines = [f"{self.method} {self.path}"] + [f"  {n}: {v!r}" for n, v in self.headers]
        return "\n".join(lines)


def case_variant(rng: random.Random, name: str) -> str:
    return rng.choice([name, name.upper(), name.title(), name.capitalize()])


def generate(rng: random.Random, count: int) -> list[Request]:
    requests = []
    for _ in range(count):
        headers: list[tuple[str, str | bytes]] = [("Host", rng.choice(HOSTS))]
        for name in rng.sample(sorted(VALUES), rng.randint(0, 4)):
            for _ in range(rng.choice([1, 1, 2, 3])):
                headers.append((case_variant(rng, name), rng.choice(VALUES[name])))
        rng.shuffle(headers)
        path = rng.choice(PATHS)
        if "?" not in path:
            path += rng.choice(QUERIES)
        requests.append(Request(rng.choice(METHODS), path, headers))
    return requests


def verdict(response) -> str:
    """The status, and for a 200 which requirement's trace reached the backend."""
    if response.status != 200:
        return str(response.status)
    upstream = response.upstream
    if upstream.header("x-payload-a") is not None:
        return "200 a"
    if upstream.header("x-payload-b") is not None:
        return "200 b"
    return "200 open" if upstream.header("authorization") else "200 ?"


@pytest.fixture(scope="module")
def pair(keys, echo, build):
    def provider(**fields) -> dict:
        return {
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("rsa")},
            **fields,
        }

    config = {
        "providers": {
            "a": provider(forward_payload_header="x-payload-a"),
            "b": provider(forward_payload_header="x-payload-b"),
            "m": provider(from_headers=[{"name": "x-m-token"}]),
        },
        "rules": RULES,
    }
    listeners = {
        "jwt_gate": jwt_gate_filter(config, build=build),
        "jwt_authn": jwt_authn_filter(config),
    }
    with running_envoy(listeners, echo.port, "rule-matching") as envoy:
        yield Listener(envoy, "jwt_gate"), Listener(envoy, "jwt_authn")


def test_rules_match_as_in_jwt_authn(pair, keys):
    gate, native = pair
    token = keys.mint()
    mismatches, seen = [], {}
    for request in generate(random.Random(SEED), REQUESTS):
        answers = []
        for listener in (gate, native):
            response = listener.request(
                request.path, method=request.method, headers=request.headers, token=token
            )
            body = "" if response.status == 200 else response.text[:60]
            answers.append((verdict(response), body))
        (got, got_body), (expected, expected_body) = answers
        seen[expected] = seen.get(expected, 0) + 1
        if got != expected:
            mismatches.append(
                f"{request}\n  jwt-gate: {got} {got_body!r}"
                f"\n  jwt_authn: {expected} {expected_body!r}"
            )
    report = f"{len(mismatches)} of {REQUESTS} requests differ:\n\n" + "\n\n".join(mismatches[:15])
    assert not mismatches, report
    # The corpus reaches every kind of answer often enough to tell rules apart.
    kinds = ("200 a", "200 b", "200 open", "401", "403")
    assert all(seen.get(kind, 0) >= 20 for kind in kinds), seen
