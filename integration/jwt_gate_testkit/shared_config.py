"""The plugin configuration of the tests' shared `gate` listener (integration/conftest.py): seven
providers, each with an issuer of its own, and GATE_RULES: prefix, path, regex and header matches,
and every requirement form of jwt_authn."""

from __future__ import annotations

from .tokens import AUDIENCE, ISSUER, Keys

# The claims the "rsa" provider copies into headers, by header name.
CLAIM_HEADERS = {
    "x-sub": "sub",
    "x-n": "n",
    "x-flag": "flag",
    "x-roles": "roles",
    "x-team": "org.team",
    "x-role": "https://example.com/role",
}

OTHER_ISSUER = "https://other.test"

# What makes an OPTIONS request a CORS preflight (bypass_cors_preflight is on in gate_config).
CORS_PREFLIGHT = {"Origin": "https://app.test", "Access-Control-Request-Method": "POST"}


def gate_config(keys: Keys) -> dict:
    """Providers (each with its own issuer, so that an issuer picks exactly one):
    - rsa: every key, payload and claim headers, default token locations;
    - other: key rsa2 pinned to RS256, token in `x-other-token`, no payload header;
    - fwd: `forward` and a padded payload header; strict: `require_expiration`;
    - camel: written in lowerCamelCase; lifetime / lifetime_object: `max_lifetime` 300 s as
      "300s" and as {"seconds": 300}."""

    def provider(issuer: str, *kids: str, **fields) -> dict:
        return {
            "issuer": issuer,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks(*kids)},
            **fields,
        }

    everything_but_rsa2 = [kid for kid in keys.private if kid != "rsa2"]
    providers = {
        "rsa": provider(
            ISSUER,
            *everything_but_rsa2,
            forward_payload_header="x-jwt-payload",
            claim_to_headers=[
                {"header_name": h, "claim_name": c} for h, c in CLAIM_HEADERS.items()
            ],
        ),
        "other": {
            "issuer": OTHER_ISSUER,
            "audiences": [AUDIENCE],
            "local_jwks": {"inline_string": keys.jwks("rsa2", alg={"rsa2": "RS256"})},
            "from_headers": [{"name": "x-other-token"}],
        },
        "fwd": provider(
            "https://fwd.test",
            "rsa",
            forward=True,
            forward_payload_header="x-jwt-payload",
            pad_forward_payload_header=True,
        ),
        "strict": provider("https://strict.test", "rsa", require_expiration=True),
        "camel": {
            "issuer": "https://camel.test",
            "localJwks": {"inlineString": keys.jwks("rsa")},
            "forwardPayloadHeader": "x-jwt-payload",
            "claimToHeaders": [{"headerName": "x-sub", "claimName": "sub"}],
        },
        "lifetime": provider("https://lifetime.test", "rsa", max_lifetime="300s"),
        "lifetime_object": provider(
            "https://lifetime-object.test", "rsa", max_lifetime={"seconds": 300}
        ),
    }
    return {
        "providers": providers,
        "rules": GATE_RULES,
        "requirement_map": {"by_name": {"provider_name": "other"}},
        "bypass_cors_preflight": True,
    }


def rule(match: dict, requires: dict | None = None, **fields) -> dict:
    return {"match": match, **({"requires": requires} if requires is not None else {}), **fields}


# First match wins. Paths under /open match no rule.
GATE_RULES = [
    rule({"prefix": "/public"}),
    rule({"path": "/exact"}, {"provider_name": "rsa"}),
    rule({"safe_regex": {"regex": "/re/[0-9]+"}}, {"provider_name": "rsa"}),
    rule(
        {"prefix": "/method", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]},
        {"provider_name": "rsa"},
    ),
    rule({"prefix": "/first"}, {"provider_name": "other"}),
    rule({"prefix": "/first/second"}, {"provider_name": "rsa"}),  # shadowed by /first
    rule({"prefix": "/named"}, requirement_name="by_name"),
    rule(
        {"prefix": "/requires-any"},
        {"requires_any": {"requirements": [{"provider_name": "rsa"}, {"provider_name": "other"}]}},
    ),
    rule(
        {"prefix": "/requires-all"},
        {"requires_all": {"requirements": [{"provider_name": "rsa"}, {"provider_name": "other"}]}},
    ),
    rule(
        {"prefix": "/audiences"},
        {"provider_and_audiences": {"provider_name": "rsa", "audiences": ["override.test"]}},
    ),
    rule({"prefix": "/allow-missing"}, {"allow_missing": {}}),
    rule({"prefix": "/allow-failed"}, {"allow_missing_or_failed": {}}),
    rule(
        {"prefix": "/istio"},
        {"requires_any": {"requirements": [{"provider_name": "rsa"}, {"allow_missing": {}}]}},
    ),
    rule({"prefix": "/fwd"}, {"provider_name": "fwd"}),
    rule({"prefix": "/strict"}, {"provider_name": "strict"}),
    {"match": {"prefix": "/camel"}, "requires": {"providerName": "camel"}},
    rule({"prefix": "/lifetime-object"}, {"provider_name": "lifetime_object"}),
    rule({"prefix": "/lifetime"}, {"provider_name": "lifetime"}),
    rule({"prefix": "/api"}, {"provider_name": "rsa"}),
]
