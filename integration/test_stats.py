"""The filter's counters in Envoy's admin /stats. Every counter name the tests rely on is here."""

from harness import CORS_PREFLIGHT, Envoy


def gate_counters(envoy: Envoy) -> dict[str, int]:
    """jwt-gate's counters by their own name (Envoy 1.40 lists them as `wasmcustom.jwt_gate.*`)."""
    stats = envoy.stats("jwt_gate")
    return {
        name.removeprefix("wasmcustom."): value
        for name, value in stats.items()
        if "jwt_gate." in name and not name.startswith("wasm.")
    }


def test_counters_follow_decisions(gate, keys):
    before = gate_counters(gate.envoy)
    assert gate.request("/api/x", token=keys.mint()).status == 200
    assert gate.request("/api/y", token=keys.mint("ES256")).status == 200
    assert gate.request("/api/x").status == 401
    assert gate.request("/api/x", token=keys.mint(exp=1)).status == 401
    assert gate.request("/api/x", token=keys.mint(aud="other.test")).status == 403
    assert gate.request("/api/x", method="OPTIONS", headers=CORS_PREFLIGHT).status == 200
    after = gate_counters(gate.envoy)

    changed = {
        name: after[name] - before.get(name, 0)
        for name in after
        if after[name] != before.get(name, 0)
    }
    assert changed == {
        "jwt_gate.allowed": 3,  # as in jwt_authn, a bypassed preflight is allowed too
        "jwt_gate.denied": 3,
        "jwt_gate.cors_preflight_bypassed": 1,
        "jwt_gate.denied_by_reason.jwt_missing": 1,
        "jwt_gate.denied_by_reason.jwt_expired": 1,
        "jwt_gate.denied_by_reason.jwt_audience_not_allowed": 1,
    }
