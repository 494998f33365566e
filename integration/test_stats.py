"""The filter's counters in Envoy's admin /stats. Every counter name the tests rely on is here."""

from jwt_gate_testkit.shared_config import CORS_PREFLIGHT


def test_counters_follow_decisions(gate, keys):
    before = gate.envoy.gate_stats()
    assert gate.request("/api/x", token=keys.mint()).status == 200
    assert gate.request("/api/y", token=keys.mint("ES256")).status == 200
    assert gate.request("/api/x").status == 401
    assert gate.request("/api/x", token=keys.mint(exp=1)).status == 401
    assert gate.request("/api/x", token=keys.mint(aud="other.test")).status == 403
    assert gate.request("/api/x", method="OPTIONS", headers=CORS_PREFLIGHT).status == 200
    after = gate.envoy.gate_stats()

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
        # Four tokens, each new to the worker's cache (the expired one and the one for another
        # audience are looked up before their claims are checked).
        "jwt_gate.token_cache_miss": 4,
    }
