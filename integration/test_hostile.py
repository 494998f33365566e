"""The hostile-input suite (integration/data/hostile.json, minted by generate_hostile.py) through a
real Envoy with two workers: RFC 8725 and the jwt_tool catalogue (alg none, signature stripping,
key confusion, header keys and key URLs, kid injection), psychic ECDSA signatures, malformed
base64url and JSON, non-UTF-8 bytes, sizes around jwt-gate's 64 KiB and Envoy's 60 KiB limits,
many tokens in many locations, paths, and key sets of thousands of keys served by an identity
provider.

Each case is one request and the answer it must get: status, body (jwt_authn's text), and exactly
one jwt-gate counter moved (`allowed`, or `denied` and its `denied_by_reason`), or none at all when
Envoy answers itself. Afterwards both workers still serve valid tokens and no VM failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from jwt_gate_testkit.artifacts import REPO
from jwt_gate_testkit.bootstrap import bootstrap, jwt_gate_filter
from jwt_gate_testkit.client import Response, assert_denied, raw_request, wait_for
from jwt_gate_testkit.docs import yaml_blocks
from jwt_gate_testkit.envoy import (
    WASM_HEALTH,
    Envoy,
    Listener,
    connections_per_worker,
    vm_failures,
    wasm_health,
)
from jwt_gate_testkit.servers import IdentityProvider, Server
from jwt_gate_testkit.tokens import public_jwk

DATA = Path(__file__).resolve().parent / "data" / "hostile.json"
DOCUMENT = json.loads(DATA.read_text())
CASES = {case["name"]: case for case in DOCUMENT["cases"]}
LISTENERS = ("hostile", "big", "normalized")
WORKERS = 2  # jwt_gate_testkit's Envoy runs --concurrency 2
KEYS_PATH = "/many-keys"

# HttpConnectionManager fields per listener: "big" raises Envoy's 60 KiB request-header limit
# above jwt-gate's 64 KiB token limit; "normalized" has Envoy normalize paths before filters.
CONNECTION_MANAGER = {
    "hostile": {},
    "big": {"max_request_headers_kb": 96},
    "normalized": {
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
    },
}


def expand(value: str | list) -> str:
    """A string of hostile.json: as is, or the concatenation of its pieces (see the generator)."""
    if isinstance(value, str):
        return value
    return "".join(p if isinstance(p, str) else p["repeat"] * p["times"] for p in value)


def latin1(value: str | list) -> bytes:
    """hostile.json's bytes-as-text: one character per byte."""
    return expand(value).encode("latin-1")


def key_set(size: int, signer: dict, position: str, decoys: list[dict]) -> bytes:
    """A JWK set of `size` keys: the signer's and decoy P-256 keys, the signer first or last."""
    others = decoys[: size - 1]
    keys = [signer, *others] if position == "first" else [*others, signer]
    return json.dumps({"keys": keys}).encode()


@dataclass
class Hostile:
    """The Envoy under test, its listeners, and the health figures it started with."""

    envoy: Envoy
    listeners: dict[str, Listener]
    health: dict[str, int]
    idps: dict[str, IdentityProvider]

    def send(self, case: dict) -> Response:
        listener = self.listeners[case.get("listener", "hostile")]
        if "raw" in case:
            return raw_request(listener.port, latin1(case["raw"]))
        headers = [(name, latin1(value)) for name, value in case.get("headers", [])]
        if "token" in case:
            headers.append(("Authorization", b"Bearer " + latin1(case["token"])))
        path = expand(case.get("path", "/api/x"))
        return listener.request(path, headers=headers)

    def counters(self) -> dict[str, int]:
        """jwt-gate's decision counters (not the key gauges, which move on their own)."""
        return {
            name: value
            for name, value in self.envoy.gate_stats().items()
            if name.startswith(("jwt_gate.allowed", "jwt_gate.denied"))
        }


@pytest.fixture(scope="module")
def hostile(echo: Server, build: str) -> Iterator[Hostile]:
    """One Envoy (--concurrency 2) with the suite's plugin configuration on three listeners, and
    one identity provider per remote provider, serving its key set of thousands of keys."""
    remote = DOCUMENT["remote_providers"]
    most = max(spec["keys"] for spec in remote.values())
    decoys = [
        {**public_jwk(ec.generate_private_key(ec.SECP256R1()), f"decoy-{n}"), "use": "sig"}
        for n in range(most - 1)
    ]
    idps = {name: IdentityProvider() for name in remote}
    try:
        config = json.loads(json.dumps(DOCUMENT["config"]))
        for name, spec in remote.items():
            idp = idps[name]
            keys = key_set(spec["keys"], spec["signer"], spec["signer_position"], decoys)
            idp.serve(KEYS_PATH, keys)
            http_uri = {"uri": idp.url(KEYS_PATH), "cluster": f"idp_{name}", "timeout": "2s"}
            config["providers"][name] = {
                "issuer": DOCUMENT["issuer"],
                "audiences": [DOCUMENT["audience"]],
                "remote_jwks": {"http_uri": http_uri},
            }
        filters = {name: jwt_gate_filter(config, build=build) for name in LISTENERS}
        clusters = {f"idp_{name}": idp.port for name, idp in idps.items()}
        envoy_config = bootstrap(filters, echo.port, clusters, managers=CONNECTION_MANAGER)
        with Envoy(envoy_config, "hostile") as envoy:
            listeners = {name: Listener(envoy, name) for name in LISTENERS}
            yield Hostile(envoy, listeners, wasm_health(envoy), idps)
    finally:
        for idp in idps.values():
            idp.stop()


@pytest.mark.parametrize("name", CASES)
def test_hostile_input(hostile: Hostile, name: str) -> None:
    """The case's status and body; exactly its counter moved (none when Envoy answered itself);
    for a 200, what the backend received."""
    case = CASES[name]
    expect = case["expect"]
    before = hostile.counters()
    response = hostile.send(case)
    after = hostile.counters()
    moved = {key: value - before.get(key, 0) for key, value in after.items()}
    moved = {key: delta for key, delta in moved.items() if delta}
    context = f"{name}: got {response.status} {response.text[:200]!r}, counters moved {moved}"

    assert response.status == expect["status"], context
    # The realm names the path jwt-gate saw: the one sent, unless Envoy normalized it or the
    # request was sent raw.
    as_sent = "raw" not in case and case.get("listener") != "normalized"
    if "body" in expect and as_sent:
        assert_denied(response, expect["status"], expect["body"])
    elif "body" in expect:
        assert response.text == expect["body"], context
    if "reason" in expect:
        reason = f"jwt_gate.denied_by_reason.{expect['reason']}"
        assert moved == {"jwt_gate.denied": 1, reason: 1}, context
    elif response.status == 200:
        assert moved == {"jwt_gate.allowed": 1}, context
    else:
        assert moved == {}, f"jwt-gate saw a request Envoy should have answered: {context}"
    if response.status == 200 and response.header("content-type") == "application/json":
        upstream = response.upstream
        for header, value in expect.get("upstream", {}).items():
            assert upstream.header(header) == value, f"{context}: upstream {header}"
        if "upstream_path" in expect:
            assert upstream.path == expect["upstream_path"], context


def test_the_corpus_covers_every_attack_class() -> None:
    """A regenerated hostile.json still has every class of attack the suite is about."""
    classes = {case["class"] for case in DOCUMENT["cases"]}
    required = {
        "alg-none", "alg-confusion", "signature-strip", "signature-length", "psychic-signature",
        "ecdsa-encoding", "key-confusion", "header-keys", "kid-injection", "base64url", "json",
        "crit", "size", "many-tokens", "non-utf8", "path", "key-set-size",
    }  # fmt: skip
    assert required <= classes, f"missing: {required - classes}"
    assert all(case["expect"]["status"] in (200, 400, 401, 403, 431) for case in CASES.values())


def test_big_key_sets_keep_their_first_256_keys(hostile: Hostile) -> None:
    """The 3,000-key sets were fetched and cut to 256 keys; the 5,000-key set (over 512 KiB) was
    refused, and only its fetches failed."""
    stats = hostile.envoy.gate_stats()
    provider = "jwt_gate.provider.{}.{}".format
    assert stats[provider("remote_first", "jwks_keys")] == 256
    assert stats[provider("remote_last", "jwks_keys")] == 256
    assert stats[provider("remote_oversize", "jwks_keys")] == 0
    assert stats[provider("remote_oversize", "jwks_fetch_failed")] >= 1

    def only_oversize_failed() -> bool:  # read again if a retry fell between the two counters
        stats = hostile.envoy.gate_stats()
        oversize = stats[provider("remote_oversize", "jwks_fetch_failed")]
        return stats["jwt_gate.jwks_fetch_failed"] == oversize

    assert wait_for(only_oversize_failed, timeout=2), hostile.envoy.gate_stats()
    lines = hostile.envoy.log_lines("providers.remote_oversize: key fetch from")
    assert lines and "over the limit" in lines[-1], lines[-3:]


def test_every_worker_still_serves_valid_tokens(hostile: Hostile) -> None:
    """After the suite, on each listener: 40 fresh connections with a valid token, spread over
    both workers, all 200."""
    token = expand(CASES["control: valid RS256"]["token"])
    for name, listener in hostile.listeners.items():
        before = connections_per_worker(hostile.envoy, name, WORKERS)
        statuses = [listener.request("/api/x", token=token).status for _ in range(40)]
        after = connections_per_worker(hostile.envoy, name, WORKERS)
        spread = [now - then for now, then in zip(after, before, strict=True)]
        assert statuses == [200] * 40, f"{name}: {statuses}"
        assert all(spread), f"{name}: connections per worker {spread}"


def test_no_vm_failed(hostile: Hostile) -> None:
    """The wasm VM stats are where they were after start-up (no VM trapped, was re-created or
    reloaded), no 5xx was answered, and jwt-gate counted nothing but decisions, fetches and
    token-cache lookups."""
    envoy = hostile.envoy
    assert not vm_failures(envoy), "\n".join(vm_failures(envoy)[:5])
    assert wasm_health(envoy) == hostile.health
    assert set(WASM_HEALTH) <= set(hostile.health)
    for name in LISTENERS:
        key = f"http.{name}.downstream_rq_5xx"
        assert envoy.stats(f"^{key}$") == {key: 0}
    expected = (
        "allowed",
        "denied",
        "jwks_fetch_success",
        "jwks_fetch_failed",
        "token_cache_hit",
        "token_cache_miss",
    )
    unexpected = {
        name: value
        for name, value in envoy.gate_stats().items()
        if value
        and not name.removeprefix("jwt_gate.").startswith(expected)
        and ".jwks_" not in name  # per-provider fetch counters and key gauges
    }
    assert not unexpected, unexpected


def test_the_documented_path_normalization_is_the_tested_one() -> None:
    """docs/security.md's HttpConnectionManager snippet is the "normalized" listener's."""
    documented = [
        block
        for block in yaml_blocks(REPO / "docs" / "security.md")
        if isinstance(block, dict) and "normalize_path" in block
    ]
    assert documented == [CONNECTION_MANAGER["normalized"]]
