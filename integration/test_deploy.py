"""Deployment files under envoy/: every Envoy config passes `envoy --mode validate` (which runs
jwt-gate's on_configure), every Kubernetes manifest parses and its embedded plugin configuration
passes jwt-gate's own check (`jwt-gate check --envoy`), the names that tie them together agree
(clusters, hosts, SNI, versions), and the Istio migration example behaves in a real Envoy.

The Istio and Envoy Gateway manifests are not applied to a cluster here (there is none): what
is checked is what jwt-gate and Envoy can check."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from jwt_gate_testkit.artifacts import ENVOY_BIN, REPO, SO, WASM, selected_builds
from jwt_gate_testkit.bootstrap import bootstrap, jwt_authn_filter, jwt_gate_filter
from jwt_gate_testkit.envoy import Envoy, Listener
from jwt_gate_testkit.servers import EchoHandler, IdentityProvider, Server
from jwt_gate_testkit.wasm import proxy_wasm_module

ENVOY_DIR = REPO / "envoy"
ISTIO_DIR = ENVOY_DIR / "istio"
GATEWAY_DIR = ENVOY_DIR / "envoy-gateway"
CARGO_VERSION = re.search(r'^version = "(.+)"$', (REPO / "Cargo.toml").read_text(), re.M).group(1)


def yaml_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.yaml"))


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


CLI = REPO / "target" / "release" / "jwt-gate"


def jwt_gate_check(*args, envoy: bool = False, wasm: Path = WASM) -> subprocess.CompletedProcess:
    """`jwt-gate check ARGS` as users run it, from the repository root; with `envoy`, also in
    the suite's Envoy with `wasm`, and with the built native module where a filter chain loads
    it (Envoy finds it in ENVOY_DYNAMIC_MODULES_SEARCH_PATH, which `check` passes on)."""
    assert CLI.is_file(), f"{CLI} not found: `make build` builds it"
    command = [str(CLI), "check", *map(str, args)]
    if envoy:
        command += ["--envoy", str(ENVOY_BIN), "--wasm", str(wasm)]
    environment = {**os.environ, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": str(SO.parent)}
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=600, env=environment
    )


def loads_native_module(finding: dict) -> bool:
    """Whether a finding is about a code block (from its line to its fence's end) that loads
    the native module: Envoy can check it only with the native build."""
    lines = (REPO / finding["file"]).read_text().splitlines()[finding["line"] - 1 :]
    block = lines[: next((n for n, line in enumerate(lines) if "```" in line), len(lines))]
    return any("DynamicModuleFilter" in line for line in block)


def findings(paths, envoy: bool = False) -> list[dict]:
    """`jwt-gate check --report json` on `paths` (made relative to the repository): what it
    found, checked and skipped, one finding each (file, line, path, kind, status, message, and
    the configuration or cluster as `value`)."""
    result = jwt_gate_check(*[rel(Path(p)) for p in paths], "--report", "json", envoy=envoy)
    assert result.stdout, result.stderr
    return json.loads(result.stdout)["findings"]


def where(finding: dict) -> str:
    return f"{finding['file']}:{finding['line']}: {finding['path']}: {finding['subject']}"


def configurations(paths) -> list[dict]:
    """The jwt-gate configurations `jwt-gate check` finds in `paths` and accepts (the checks are
    asserted elsewhere): findings with the configuration as `value`."""
    return [
        f
        for f in findings(paths)
        if f["kind"] == "configuration" and f["checker"] == "jwt-gate" and f["status"] == "ok"
    ]


def clusters(paths) -> list[dict]:
    return [f["value"] for f in findings(paths) if f["kind"] == "cluster"]


def manifests(paths) -> list[tuple[str, dict]]:
    """(file#index, document) of every Kubernetes object in `paths`."""
    return [
        (f"{rel(path)}#{index}", doc)
        for path in paths
        for index, doc in enumerate(
            d for d in yaml.safe_load_all(path.read_text()) if d is not None
        )
    ]


def assert_all_ok(found: list[dict]) -> None:
    failures = [f"{where(f)}:\n{f['message']}" for f in found if f["status"] == "error"]
    assert not failures, "\n\n".join(failures)


# --- Envoy bootstraps ----------------------------------------------------------------------------

BOOTSTRAPS = [
    path
    for path in yaml_files(ENVOY_DIR)
    if any(
        isinstance(d, dict) and "static_resources" in d
        for d in yaml.safe_load_all(path.read_text())
    )
]


# The bootstraps of the native build: Envoy finds the module in ENVOY_DYNAMIC_MODULES_SEARCH_PATH.
NATIVE_BOOTSTRAPS = [path for path in BOOTSTRAPS if "DynamicModuleFilter" in path.read_text()]
WASM_BOOTSTRAPS = [path for path in BOOTSTRAPS if path not in NATIVE_BOOTSTRAPS]


def test_the_bootstraps_are_the_expected_ones():
    assert [rel(p) for p in BOOTSTRAPS] == [
        "envoy/compose/envoy-native.yaml",
        "envoy/compose/envoy.yaml",
        "envoy/envoy-native.yaml",
        "envoy/envoy-remote-example.yaml",
        "envoy/envoy.yaml",
    ]
    assert [rel(p) for p in NATIVE_BOOTSTRAPS] == [
        "envoy/compose/envoy-native.yaml",
        "envoy/envoy-native.yaml",
    ]


@pytest.mark.wasm_only("the .wasm's bootstraps")
def test_envoy_bootstraps_validate():
    """`jwt-gate check --envoy` on each bootstrap of the .wasm: Envoy validates it whole with
    jwt-gate's local module pointed at the built one (the compose config names
    /etc/envoy/jwt_gate.wasm), and jwt-gate must log that it was configured; the configuration
    in it passes jwt-gate's parser, and Envoy again in a filter of its own."""
    found = findings(WASM_BOOTSTRAPS, envoy=True)
    assert_all_ok(found)
    summary = sorted((f["file"], f["kind"], f["checker"]) for f in found)
    assert summary == sorted(
        (rel(path), kind, checker)
        for path in WASM_BOOTSTRAPS
        for kind, checker in [
            ("bootstrap", "envoy"),
            ("configuration", "jwt-gate"),
            ("configuration", "envoy"),
        ]
    ), summary


def test_native_bootstraps_pass_jwt_gates_check():
    """The configuration in each native bootstrap (a dynamic-module filter's filter_config)
    passes jwt-gate's own parser, and is the one of its .wasm twin."""
    found = findings(NATIVE_BOOTSTRAPS)
    assert_all_ok(found)
    assert sorted((f["file"], f["kind"]) for f in found if f["checker"] == "jwt-gate") == [
        (rel(path), "configuration") for path in NATIVE_BOOTSTRAPS
    ]
    for path in NATIVE_BOOTSTRAPS:
        twin = path.with_name(path.name.replace("-native", ""))
        assert [f["value"] for f in configurations([path])] == [
            f["value"] for f in configurations([twin])
        ], f"{rel(path)} and {rel(twin)}"


def validates_with_jwt_gate(path, env=None):
    """`envoy --mode validate` of the bootstrap at `path`, from the repository root (with `env`
    added to the environment): it passes, and jwt-gate logs that it was configured."""
    result = subprocess.run(
        [str(ENVOY_BIN), "--mode", "validate", "-c", rel(path), "--log-level", "info"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jwt-gate: configured" in result.stdout + result.stderr


@pytest.mark.skipif("native" not in selected_builds(), reason="JWT_GATE_BUILDS has no native")
@pytest.mark.parametrize("path", NATIVE_BOOTSTRAPS, ids=rel)
def test_native_bootstraps_validate_as_documented(path):
    """`envoy --mode validate` from the root with ENVOY_DYNAMIC_MODULES_SEARCH_PATH at the built
    module's folder (as envoy/envoy-native.yaml's comment says): Envoy loads libjwt_gate.so and
    jwt-gate logs that it was configured."""
    text = path.read_text()
    if path.parent == ENVOY_DIR:
        command = "ENVOY_DYNAMIC_MODULES_SEARCH_PATH=target/release .venv/bin/envoy --mode validate"
        assert command in text
    validates_with_jwt_gate(path, {"ENVOY_DYNAMIC_MODULES_SEARCH_PATH": str(SO.parent)})


@pytest.mark.wasm_only("the .wasm's bootstraps")
def test_envoy_bootstraps_validate_as_documented():
    """As committed, from the root (they name target/wasm32-wasip1/release/jwt_gate.wasm)."""
    for path in WASM_BOOTSTRAPS:
        text = path.read_text()
        if "/etc/envoy/jwt_gate.wasm" in text:
            continue  # the compose config: the module's path in the container
        assert "target/wasm32-wasip1/release/jwt_gate.wasm" in text
        validates_with_jwt_gate(path)


def test_negative_control_check_needs_jwt_gate_to_run(tmp_path):
    """A module that loads and configures fine but is not jwt-gate: Envoy accepts everything, and
    the check still fails, because jwt-gate never said it was configured."""
    impostor = tmp_path / "jwt_gate.wasm"
    impostor.write_bytes(proxy_wasm_module(b"\x00\x41\x00\x0b"))  # continue
    result = jwt_gate_check(
        "envoy/envoy.yaml", "envoy/istio/wasmplugin.yaml", envoy=True, wasm=impostor
    )
    assert result.returncode == 1, result.stdout
    refused = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(refused) == 3, result.stdout  # the bootstrap, and each configuration alone
    assert all("jwt-gate never logged that it was configured" in line for line in refused)


def test_every_yaml_under_envoy_is_checked():
    """No file under envoy/ escapes the checks: each is a bootstrap, Kubernetes manifests or
    the compose file."""
    for path in yaml_files(ENVOY_DIR):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        kinds = {
            "bootstrap"
            if "static_resources" in d
            else "manifest"
            if "apiVersion" in d and "kind" in d
            else "compose"
            if "services" in d
            else "unknown"
            for d in docs
        }
        assert docs and kinds <= {"bootstrap", "manifest", "compose"}, (rel(path), kinds)


# --- Kubernetes manifests ------------------------------------------------------------------------

MANIFEST_FILES = yaml_files(ISTIO_DIR) + yaml_files(GATEWAY_DIR)
KNOWN_KINDS = {
    ("extensions.istio.io/v1alpha1", "WasmPlugin"),
    ("extensions.istio.io/v1alpha1", "TrafficExtension"),
    ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("security.istio.io/v1", "RequestAuthentication"),
    ("security.istio.io/v1", "AuthorizationPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyExtensionPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "EnvoyPatchPolicy"),
    ("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy"),
    ("networking.istio.io/v1alpha3", "EnvoyFilter"),
}


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=rel)
def test_manifest_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs
    for doc in docs:
        assert (doc["apiVersion"], doc["kind"]) in KNOWN_KINDS, (doc["apiVersion"], doc["kind"])
        assert doc["metadata"]["name"] and doc["metadata"]["namespace"]
        assert isinstance(doc["spec"], dict)


def test_plugin_configurations_in_manifests_pass_jwt_gates_check():
    """Every pluginConfig/config, through jwt-gate's parser and then in one Envoy (each alone if
    that fails), with the cluster the Envoy Gateway EnvoyPatchPolicy adds. The files with no
    jwt-gate configuration fail as such: a checker passes nothing it did not check."""
    found = findings(MANIFEST_FILES, envoy=True)
    checked = sorted(
        f"{f['file']}: {f['path']}: {f['subject']}: {f['checker']}"
        for f in found
        if f["kind"] == "configuration"
    )
    assert checked == [
        f"envoy/{file}: {path}: jwt-gate configuration ({kind} {name}): {checker}"
        for file, path, kind, name in [
            (
                "envoy-gateway/envoyextensionpolicy.yaml",
                "spec.wasm[0].config",
                "EnvoyExtensionPolicy",
                "default/jwt-gate",
            ),
            (
                "istio/migration/after.yaml",
                "spec.pluginConfig",
                "WasmPlugin",
                "istio-system/jwt-gate",
            ),
            (
                "istio/trafficextension.yaml",
                "spec.wasm.pluginConfig",
                "TrafficExtension",
                "istio-system/jwt-gate",
            ),
            ("istio/wasmplugin.yaml", "spec.pluginConfig", "WasmPlugin", "istio-system/jwt-gate"),
        ]
        for checker in ("envoy", "jwt-gate")
    ]
    [cluster] = [f for f in found if f["kind"] == "cluster"]
    assert (cluster["file"], cluster["checker"]) == (
        "envoy/envoy-gateway/jwks-cluster.yaml",
        "envoy",
    )
    assert_all_ok([f for f in found if f["kind"] != "file"])
    nothing = sorted(f["file"] for f in found if f["kind"] == "file" and f["status"] == "error")
    assert nothing == [
        "envoy/envoy-gateway/clienttrafficpolicy.yaml",
        "envoy/istio/idp-egress.yaml",
        "envoy/istio/migration/before.yaml",
        "envoy/istio/reject-underscore-headers.yaml",
    ]


def broken(config: dict, mutate) -> dict:
    config = copy.deepcopy(config)
    mutate(config)
    return config


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["providers"]["auth0"].update(audiences="https://auth0-jwt-authorizer"),
            "providers.auth0.audiences: expected a list of strings",
        ),
        (lambda c: c["providers"]["auth0"].update(issuers=["x"]), "providers.auth0.issuers"),
        (lambda c: c["rules"][1]["requires"].update(provider_name="okta"), "rules[1].requires"),
    ],
)
def test_negative_control_the_check_rejects_a_broken_manifest(tmp_path, mutate, message):
    """The same check fails, naming the field, when the WasmPlugin's pluginConfig is broken:
    jwt-gate's parser says so, and so does the module in Envoy. The check is not a rubber
    stamp."""
    doc = yaml.safe_load((ISTIO_DIR / "wasmplugin.yaml").read_text())
    doc["spec"]["pluginConfig"] = broken(doc["spec"]["pluginConfig"], mutate)
    path = tmp_path / "wasmplugin.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = jwt_gate_check(path, "--report", "json", envoy=True)
    assert result.returncode == 1
    verdicts = {
        f["checker"]: f["message"]
        for f in json.loads(result.stdout)["findings"]
        if f["kind"] == "configuration"
    }
    assert (
        verdicts["jwt-gate"].startswith("configuration rejected: ")
        and message in verdicts["jwt-gate"]
    )
    assert verdicts["envoy"].startswith(
        "envoy --mode validate refused it:\njwt-gate: configuration rejected: "
    )
    assert message in verdicts["envoy"], verdicts


def remote_clusters(config: dict) -> list[tuple[str, str, dict]]:
    """(provider, cluster, http_uri) of every remote_jwks of a plugin configuration."""
    return [
        (name, provider["remote_jwks"]["http_uri"]["cluster"], provider["remote_jwks"]["http_uri"])
        for name, provider in config["providers"].items()
        if "remote_jwks" in provider
    ]


def test_istio_cluster_names_agree_with_service_entry_and_destination_rule():
    """A remote_jwks cluster `outbound|<port>||<host>` exists in Istio only if a ServiceEntry
    declares <host> with <port>; it speaks TLS only if a DestinationRule originates it for that
    port, with SNI <host>; and the key set's URL must be on <host>."""
    docs = [doc for _, doc in manifests(yaml_files(ISTIO_DIR))]
    entries = [d for d in docs if d["kind"] == "ServiceEntry"]
    rules = [d for d in docs if d["kind"] == "DestinationRule"]
    checked = 0
    for found in configurations(yaml_files(ISTIO_DIR)):
        for provider, cluster, http_uri in remote_clusters(found["value"]):
            match = re.fullmatch(r"outbound\|(\d+)\|\|(.+)", cluster)
            assert match, f"{provider}: {cluster} is not an Istio outbound cluster name"
            port, host = int(match.group(1)), match.group(2)
            assert urllib.parse.urlsplit(http_uri["uri"]).hostname == host
            assert any(
                host in e["spec"]["hosts"]
                and any(p["number"] == port for p in e["spec"]["ports"])
                and e["spec"]["location"] == "MESH_EXTERNAL"
                and e["spec"]["resolution"] == "DNS"
                for e in entries
            ), f"no ServiceEntry for {host}:{port}"
            [tls] = [
                setting["tls"]
                for rule in rules
                if rule["spec"]["host"] == host
                for setting in rule["spec"]["trafficPolicy"]["portLevelSettings"]
                if setting["port"]["number"] == port
            ]
            assert tls["mode"] == "SIMPLE" and tls["sni"] == host
            assert tls["caCertificates"] and tls["subjectAltNames"] == [host]
            checked += 1
    assert checked == 3  # wasmplugin, trafficextension, migration/after


def test_istio_plugins_are_authn_phase_and_fail_closed():
    for label, doc in manifests(yaml_files(ISTIO_DIR)):
        spec = doc["spec"]
        if doc["kind"] == "WasmPlugin":
            assert (spec["phase"], spec["failStrategy"]) == ("AUTHN", "FAIL_CLOSE"), label
            assert spec["url"] == f"oci://ghcr.io/your-org/jwt-gate:{CARGO_VERSION}", label
        if doc["kind"] == "TrafficExtension":
            assert (spec["phase"], spec["wasm"]["failStrategy"]) == ("AUTHN", "FAIL_CLOSE"), label
            assert spec["wasm"]["url"] == f"oci://ghcr.io/your-org/jwt-gate:{CARGO_VERSION}", label


def test_envoy_gateway_policy_names_the_patched_cluster():
    [(_, policy)] = [
        m for m in manifests(yaml_files(GATEWAY_DIR)) if m[1]["kind"] == "EnvoyExtensionPolicy"
    ]
    [wasm] = policy["spec"]["wasm"]
    assert wasm["failOpen"] is False and wasm["rootID"] == "jwt_gate"
    assert wasm["code"] == {
        "type": "Image",
        "image": {"url": f"ghcr.io/your-org/jwt-gate:{CARGO_VERSION}"},
    }
    added = clusters(yaml_files(GATEWAY_DIR))
    names = {c["name"] for c in added}
    for provider, cluster, http_uri in remote_clusters(wasm["config"]):
        assert cluster in names, f"{provider}: no EnvoyPatchPolicy adds cluster {cluster}"
        [definition] = [c for c in added if c["name"] == cluster]
        assert_tls_cluster(definition, urllib.parse.urlsplit(http_uri["uri"]).hostname)


def cluster_address(cluster: dict) -> tuple[str, int]:
    [endpoint] = [
        e["endpoint"]["address"]["socket_address"]
        for group in cluster["load_assignment"]["endpoints"]
        for e in group["lb_endpoints"]
    ]
    return endpoint["address"], endpoint["port_value"]


def assert_tls_cluster(cluster: dict, host: str) -> None:
    """`cluster` reaches `host` on 443, originating TLS with SNI `host` and verifying the
    certificate (a CA bundle and the host's name as subject alternative name)."""
    assert cluster_address(cluster) == (host, 443), cluster["name"]
    socket = cluster["transport_socket"]
    assert socket["name"] == "envoy.transport_sockets.tls"
    tls = socket["typed_config"]
    assert tls["@type"].endswith("UpstreamTlsContext") and tls["sni"] == host
    validation = tls["common_tls_context"]["validation_context"]
    assert validation["trusted_ca"]["filename"]
    assert {"san_type": "DNS", "matcher": {"exact": host}} in validation[
        "match_typed_subject_alt_names"
    ]


def test_remote_example_cluster_verifies_the_issuer():
    """envoy-remote-example.yaml: the key set's host is the TLS cluster's host, and the cluster
    checks its certificate."""
    doc = yaml.safe_load((ENVOY_DIR / "envoy-remote-example.yaml").read_text())
    [found] = configurations([ENVOY_DIR / "envoy-remote-example.yaml"])
    clusters_by_name = {c["name"]: c for c in doc["static_resources"]["clusters"]}
    [(_, cluster, http_uri)] = remote_clusters(found["value"])
    assert_tls_cluster(clusters_by_name[cluster], urllib.parse.urlsplit(http_uri["uri"]).hostname)


def test_the_same_auth0_setup_everywhere():
    """The Auth0 example has one issuer, audience and key set URL in envoy/ (the Envoy example,
    Istio, Envoy Gateway)."""
    configs = [
        f["value"]
        for f in configurations([ENVOY_DIR / "envoy-remote-example.yaml", *MANIFEST_FILES])
    ]
    assert len(configs) == 5
    seen = {
        (p["issuer"], tuple(p["audiences"]), p["remote_jwks"]["http_uri"]["uri"])
        for config in configs
        for p in config["providers"].values()
    }
    assert seen == {
        (
            "https://dev-1234.auth0.com/",
            ("https://auth0-jwt-authorizer",),
            "https://dev-1234.auth0.com/.well-known/jwks.json",
        )
    }


# --- The Istio migration example, in a real Envoy -------------------------------------------------

JWT_METADATA = "envoy.filters.http.jwt_authn"
RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"


def istiod_jwt_authn(request_authentication: dict, jwks_uri: str, cluster: str) -> dict:
    """Envoy's jwt_authn as istiod compiles a RequestAuthentication of one jwtRule
    (`convertToEnvoyJwtConfig`): provider `origins-0` writing the payload to dynamic metadata
    for RBAC, one rule for every path, requires_any [origins-0, allow_missing], and CORS
    preflights let through."""
    [rule] = request_authentication["spec"]["jwtRules"]
    outputs = rule.get("outputClaimToHeaders", [])
    return {
        "providers": {
            "origins-0": {
                "issuer": rule["issuer"],
                "audiences": rule["audiences"],
                "remote_jwks": {
                    "http_uri": {"uri": jwks_uri, "cluster": cluster, "timeout": "5s"},
                    "cache_duration": "300s",
                },
                "payload_in_metadata": "payload",
                "claim_to_headers": [
                    {"header_name": o["header"], "claim_name": o["claim"]} for o in outputs
                ],
            }
        },
        "rules": [
            {
                "match": {"prefix": "/"},
                "requires": {
                    "requires_any": {
                        "requirements": [{"provider_name": "origins-0"}, {"allow_missing": {}}]
                    }
                },
            }
        ],
        "bypass_cors_preflight": True,
    }


def claim_matcher(path: list[str], value: dict) -> dict:
    """An RBAC principal on a claim of the payload jwt_authn wrote to dynamic metadata."""
    segments = [{"key": "payload"}] + [{"key": name} for name in path]
    return {"metadata": {"filter": JWT_METADATA, "path": segments, "value": value}}


def principal_matcher(principal: str) -> dict:
    """istiod's request principal: the issuer exactly, the subject exactly or (`*`) any."""
    iss, _, sub = principal.rpartition("/")
    sub_match = {"safe_regex": {"regex": ".+"}} if sub == "*" else {"exact": sub}
    return {
        "and_ids": {
            "ids": [
                claim_matcher(["iss"], {"string_match": {"exact": iss}}),
                claim_matcher(["sub"], {"string_match": sub_match}),
            ]
        }
    }


def rbac_filter(policy: dict) -> dict:
    """Envoy's RBAC filter for the subset of AuthorizationPolicy the migration example uses, as
    istiod generates it: `to.operation.paths` (exact, or a prefix `/x/*`),
    `from.source.requestPrincipals`, and `when` with notValues on a list claim (a NOT around
    the claim's list matcher, which an absent claim therefore meets). Rules are ORed; within a
    rule, everything is ANDed."""
    spec = policy["spec"]
    policies = {}
    for index, rule in enumerate(spec["rules"]):
        assert set(rule) <= {"from", "to", "when"}, rule
        permissions = [
            {"url_path": {"path": {"prefix": path[:-1]} if path.endswith("*") else {"exact": path}}}
            for to in rule.get("to", [])
            for path in to["operation"]["paths"]
        ]
        ids = [
            {
                "or_ids": {
                    "ids": [principal_matcher(p) for p in source["source"]["requestPrincipals"]]
                }
            }
            for source in rule.get("from", [])
        ]
        for condition in rule.get("when", []):
            assert set(condition) == {"key", "notValues"}, condition
            claim = re.fullmatch(r"request\.auth\.claims\[([^][]+)\]", condition["key"]).group(1)
            one_of = [
                claim_matcher([claim], {"list_match": {"one_of": {"string_match": {"exact": v}}}})
                for v in condition["notValues"]
            ]
            ids.append({"not_id": {"or_ids": {"ids": one_of}}})
        policies[f"rule-{index}"] = {
            "permissions": [{"or_rules": {"rules": permissions}}]
            if permissions
            else [{"any": True}],
            "principals": [{"and_ids": {"ids": ids}}] if ids else [{"any": True}],
        }
    return {
        "name": "envoy.filters.http.rbac",
        "typed_config": {"@type": RBAC, "rules": {"action": spec["action"], "policies": policies}},
    }


def test_istio_migration_before_and_after_in_envoy():
    """before.yaml as istiod compiles it (jwt_authn, then the DENY policy's and the ALLOW
    policy's RBAC filters, in Istio's order) on one listener; after.yaml's pluginConfig (what
    `jwt-gate from-istio before.yaml` prints) on another; both with the key set's URL pointed
    at a local identity provider that signs as the Auth0 issuer. Every request gets the same
    answer from both, but a request without a token where Istio's RBAC needs a principal:
    403 RBAC there, 401 "Jwt is missing" from jwt-gate, as after.yaml says."""
    before = list(yaml.safe_load_all((ISTIO_DIR / "migration" / "before.yaml").read_text()))
    after = {
        d["kind"]: d
        for d in yaml.safe_load_all((ISTIO_DIR / "migration" / "after.yaml").read_text())
    }
    [request_authentication] = [d for d in before if d["kind"] == "RequestAuthentication"]
    policies = {d["spec"]["action"]: d for d in before if d["kind"] == "AuthorizationPolicy"}
    config = copy.deepcopy(after["WasmPlugin"]["spec"]["pluginConfig"])
    provider = config["providers"]["auth0"]
    cluster = provider["remote_jwks"]["http_uri"]["cluster"]
    echo = Server(EchoHandler)
    with IdentityProvider(issuer=provider["issuer"]) as idp:
        provider["remote_jwks"]["http_uri"]["uri"] = idp.url("/jwks")
        istio = istiod_jwt_authn(request_authentication, idp.url("/jwks"), cluster)
        config_doc = bootstrap(
            {"before": jwt_authn_filter(istio), "after": jwt_gate_filter(config)},
            echo.port,
            {cluster: idp.port},
        )
        for listener in config_doc["static_resources"]["listeners"]:
            if listener["name"] == "before":
                manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
                manager["http_filters"][1:1] = [
                    rbac_filter(policies["DENY"]),
                    rbac_filter(policies["ALLOW"]),
                ]
        envoy = Envoy(config_doc, "istio-migration")
        try:
            envoy.wait_ready()
            listeners = {name: Listener(envoy, name) for name in ("before", "after")}
            audience = provider["audiences"][0]
            roles = "https://example.com/roles"
            good = idp.mint(aud=audience, sub="alice", **{roles: ["admin", "dev"]})
            tokens = {
                "admin": good,
                "viewer": idp.mint(aud=audience, sub="bob", **{roles: ["viewer"]}),
                "no roles": idp.mint(aud=audience, sub="carol"),
                "none": None,
                "forged": good[:-4] + "AAAA",
                "other audience": idp.mint(aud="someone-else", **{roles: ["admin"]}),
            }
            seen = {}
            for path in ("/api", "/admin/users", "/healthz"):
                for name, token in tokens.items():
                    answers = [
                        (r.status, r.text if r.status != 200 else r.upstream.path)
                        for r in (
                            listeners[x].request(path, token=token) for x in ("before", "after")
                        )
                    ]
                    seen[path, name] = answers
            missing = (401, "Jwt is missing")
            rbac = (403, "RBAC: access denied")
            for (path, name), (istio_answer, gate_answer) in seen.items():
                if name == "none" and path != "/healthz":
                    assert (istio_answer, gate_answer) == (rbac, missing), (path, name)
                else:
                    assert gate_answer == istio_answer, (path, name, seen)
            # What the matrix holds: the DENY policy's namespaced claim, the ALLOW policy's
            # principal, /healthz open, and jwt_authn's own failures.
            assert seen["/admin/users", "admin"][1] == (200, "/admin/users")
            assert seen["/admin/users", "viewer"][1] == rbac
            assert seen["/admin/users", "no roles"][1] == rbac
            assert seen["/api", "viewer"][1] == (200, "/api")
            assert seen["/healthz", "none"][1] == (200, "/healthz")
            assert seen["/api", "forged"][1] == (401, "Jwt verification fails")
            assert seen["/api", "other audience"][1] == (403, "Audiences in Jwt are not allowed")
            # The claim header: the token's own, never a client's.
            spoofed = listeners["after"].request("/api", token=good, headers={"x-jwt-sub": "root"})
            assert spoofed.upstream.header("x-jwt-sub") == "alice"
            denied = listeners["after"].request("/admin/users", token=tokens["viewer"])
            realm = f'Bearer realm="http://{denied.host}/admin/users"'
            assert denied.header("www-authenticate") == f'{realm}, error="insufficient_scope"'
        finally:
            envoy.stop()
            echo.close()


# --- jwt-gate check as users run it --------------------------------------------------------------


def test_check_command(tmp_path):
    """The command of docs/deploy.md: exit 0 and `ok` for a good file, with Envoy's verdict too;
    exit 1 and jwt-gate's reason for a bad one."""
    line = next(
        n
        for n, text in enumerate((ISTIO_DIR / "wasmplugin.yaml").read_text().splitlines(), 1)
        if text.strip() == "pluginConfig:"
    )
    good = jwt_gate_check("envoy/istio/wasmplugin.yaml", envoy=True)
    assert good.returncode == 0, good.stdout + good.stderr
    where = (
        f"envoy/istio/wasmplugin.yaml:{line}: spec.pluginConfig: "
        "jwt-gate configuration (WasmPlugin istio-system/jwt-gate)"
    )
    assert f"ok    {where}: configuration OK: 1 provider(s), 2 rule(s)\n" in good.stdout, (
        good.stdout
    )
    assert f"ok    {where}: envoy --mode validate accepted it\n" in good.stdout, good.stdout
    bad_file = tmp_path / "bad.json"
    bad_file.write_text('{"providers": {"p": {"issuer": "x", "remote_jwks": {}}}}')
    bad = jwt_gate_check(bad_file)
    assert bad.returncode == 1
    assert bad.stderr.startswith("jwt-gate: configuration rejected: providers.p.remote_jwks"), (
        bad.stderr
    )
