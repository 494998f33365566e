"""Plugin configuration: the forms accepted (lowerCamelCase, both duration forms), and what happens
to Envoy when jwt-gate rejects one (Envoy 1.40: the process exits with status 1 within about a
second, before /ready, logging jwt-gate's message and "Unable to create Wasm plugin jwt_gate")."""

import base64
import json
import os
import time

import pytest

from jwt_gate_testkit.tokens import AUDIENCE, ISSUER, segments


def test_lower_camel_case_fields(gate, keys):
    token = keys.mint(iss="https://camel.test")
    upstream = gate.request("/camel", token=token).upstream
    assert (upstream.header("x-sub"), upstream.header("x-jwt-payload")) == (
        "alice",
        segments(token)[1],
    )
    assert gate.request("/camel").status == 401


@pytest.mark.parametrize(
    "path, issuer",
    [("/lifetime", "https://lifetime.test"), ("/lifetime-object", "https://lifetime-object.test")],
)
def test_max_lifetime_as_string_and_as_object(gate, keys, path, issuer):
    """max_lifetime is 300 s, written "300s" for one provider and {"seconds": 300} for the other."""
    now = int(time.time())
    assert gate.request(path, token=keys.mint(iss=issuer, exp=now + 100)).status == 200
    assert gate.request(path, token=keys.mint(iss=issuer, exp=now + 3600)).status == 401


def provider(keys, **fields) -> dict:
    return {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline_string": keys.jwks("rsa")},
        **fields,
    }


REJECTED = {
    "audiences not a list": (
        lambda keys: {"providers": {"auth0": provider(keys, audiences="api.test")}},
        "providers.auth0.audiences: expected a list of strings",
    ),
    "unknown provider": (
        lambda keys: {
            "providers": {"p": provider(keys)},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "nope"}}],
        },
        "rules[0].requires.provider_name",
    ),
    "unknown field": (
        lambda keys: {"providers": {"p": provider(keys, no_such_field=1)}},
        "providers.p.no_such_field",
    ),
    "not JSON": (lambda keys: "{providers:", "invalid JSON"),
}


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_config_stops_envoy(refused, keys, case, build):
    config, message = REJECTED[case]
    log = refused(config(keys), "rejected")
    envoy_says = {
        "wasm": "Unable to create Wasm plugin jwt_gate",
        "native": "Failed to create filter config: Failed to initialize dynamic module",
    }[build]
    assert message in log and envoy_says in log, log[-2000:]


def test_keys_beyond_the_limit_are_logged_not_silently_dropped(gate_listener, keys):
    """A key set of 300 keys: the first 256 are used (the RSA key first, so tokens verify), the
    other 44 ignored with a warning that says so."""
    fillers = [
        {
            "kty": "oct",
            "kid": f"filler-{i}",
            "k": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        }
        for i in range(299)
    ]
    jwks = json.dumps({"keys": [json.loads(keys.jwks("rsa"))["keys"][0], *fillers]})
    config = {
        "providers": {
            "big": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "local_jwks": {"inline_string": jwks},
            }
        }
    }
    gate = gate_listener(config, "key-limit")
    assert gate.request("/", token=keys.mint()).status == 200
    warning = "jwt-gate: providers.big: 44 key(s) beyond the limit of 256 ignored"
    assert gate.envoy.log_lines(warning), gate.envoy.log_tail()


def test_retry_counts_and_conditions_log_a_warning_at_load(gate_listener, idp):
    """`retry_policy.num_retries` and `retry_on` limit the retries of one fetch in jwt_authn;
    jwt-gate retries every failed fetch after the back-off, without limit. The configuration
    loads (the back-off is used) and the log names each field and what jwt-gate does instead;
    they used to be accepted in silence."""
    config = {
        "providers": {
            "idp": {
                "issuer": idp.issuer,
                "audiences": [AUDIENCE],
                "remote_jwks": {
                    "http_uri": {"uri": idp.url("/jwks"), "cluster": "idp", "timeout": "2s"},
                    "retry_policy": {
                        "num_retries": 3,
                        "retry_on": "5xx,reset",
                        "retry_back_off": {"base_interval": "0.01s", "max_interval": "1s"},
                    },
                },
            }
        }
    }
    gate = gate_listener(config, "retry-policy", clusters={"idp": idp.port})
    assert gate.request("/", token=idp.mint()).status == 200
    at = "jwt-gate: providers.idp.remote_jwks.retry_policy"
    for warning in (
        f"{at}.num_retries: 3: not used: jwt-gate makes one attempt per key fetch and, after a "
        "failed one, tries again after the back-off (retry_back_off), as many times as it takes",
        f'{at}.retry_on: "5xx,reset": not used: jwt-gate retries after every failed key fetch',
    ):
        assert gate.envoy.log_lines(warning), gate.envoy.log_tail()
