"""Check jwt-gate plugin configurations with the filter's own parser, without deploying them.

    .venv/bin/python tools/check_config.py FILE...

A FILE may be a plugin configuration (.json, given to the filter byte for byte); JSON or YAML
holding an OpenAPI 2.0 document (a plugin configuration as it is), an Envoy bootstrap, Envoy
`http_filters`, `clusters` or `listeners`, or Kubernetes manifests (Istio WasmPlugin and
TrafficExtension, Envoy Gateway EnvoyExtensionPolicy); or Markdown, whose ```json and ```yaml
blocks are read the same way. Every plugin configuration found is embedded in a minimal Envoy
bootstrap, with the clusters and filters found next to it, and checked by `envoy --mode
validate`: Envoy loads the built .wasm and runs jwt-gate's on_configure, so a configuration
passes only if jwt-gate itself accepts it, and a rejection prints jwt-gate's one-line reason.

Nothing is skipped: a file in which nothing can be checked fails, and so does a JSON or YAML
document that is none of the above (an OCI deployment says to translate it with `jwt-gate
from-oci` first). In Markdown, blocks that are none of the above, and OpenAPI documents, are
prose (examples, some of them schematic).

Envoy is $ENVOY, else .venv/bin/envoy, else `envoy` on the PATH; the module is $JWT_GATE_WASM,
else target/wasm32-wasip1/release/jwt_gate.wasm (`make build`). Local `.wasm` file names in the
files read are replaced by that module. Exit status: 0 when everything passed, 1 otherwise.

integration/test_deploy*.py use this module to check envoy/ and docs/.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
STRING_VALUE_TYPE = "type.googleapis.com/google.protobuf.StringValue"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
VALIDATE_TIMEOUT = 60.0


def envoy_binary() -> str:
    if os.environ.get("ENVOY"):
        return os.environ["ENVOY"]
    local = REPO / ".venv" / "bin" / "envoy"
    if local.is_file():
        return str(local)
    return shutil.which("envoy") or "envoy"


def wasm_module() -> Path:
    return (REPO / os.environ.get("JWT_GATE_WASM", "target/wasm32-wasip1/release/jwt_gate.wasm")).resolve()


# --- What a file holds ---------------------------------------------------------------------------


@dataclass
class PluginConfig:
    """One jwt-gate plugin configuration (JSON text) and where it was found."""

    where: str
    text: str

    def json(self) -> dict:
        return json.loads(self.text)


@dataclass
class Contents:
    """What was found in one or more files."""

    plugin_configs: list[PluginConfig] = field(default_factory=list)
    clusters: list[dict] = field(default_factory=list)
    # Envoy http_filters lists found alone (each becomes a listener of the check bootstrap).
    filter_chains: list[tuple[str, list[dict]]] = field(default_factory=list)
    # Envoy listeners found alone (added as they are to the check bootstrap).
    listeners: list[tuple[str, dict]] = field(default_factory=list)
    # Whole Envoy bootstraps (each is validated on its own).
    bootstraps: list[tuple[str, dict]] = field(default_factory=list)
    # Kubernetes objects, as parsed.
    manifests: list[tuple[str, dict]] = field(default_factory=list)
    # Documents that cannot be checked: (where, what they are and what to do).
    uncheckable: list[tuple[str, str]] = field(default_factory=list)

    def extend(self, other: Contents) -> None:
        self.plugin_configs += other.plugin_configs
        self.clusters += other.clusters
        self.filter_chains += other.filter_chains
        self.listeners += other.listeners
        self.bootstraps += other.bootstraps
        self.manifests += other.manifests
        self.uncheckable += other.uncheckable

    def checkable(self) -> bool:
        return bool(self.plugin_configs or self.clusters or self.filter_chains or self.listeners
                    or self.bootstraps)


@dataclass
class Block:
    """A fenced code block of a Markdown file."""

    language: str
    text: str
    line: int  # of the opening fence, 1-based


FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def fenced_blocks(markdown: str) -> list[Block]:
    return [
        Block(m.group(1).lower(), m.group(2), markdown.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(markdown)
    ]


def walk(node) -> Iterator:
    """Every dict and list inside `node`, `node` included."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def wasm_filter_configs(node) -> Iterator[str]:
    """The `configuration` string of every Envoy wasm filter config inside `node`."""
    for item in walk(node):
        if isinstance(item, dict) and item.get("@type") == WASM_TYPE:
            configuration = (item.get("config") or {}).get("configuration") or {}
            if configuration.get("@type") == STRING_VALUE_TYPE and "value" in configuration:
                yield configuration["value"]


def manifest_plugin_configs(doc: dict) -> list[object]:
    """The plugin configurations a Kubernetes object carries, as parsed values."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind == "WasmPlugin":
        return [spec["pluginConfig"]] if "pluginConfig" in spec else []
    if kind == "TrafficExtension":
        wasm = spec.get("wasm") or {}
        return [wasm["pluginConfig"]] if "pluginConfig" in wasm else []
    if kind == "EnvoyExtensionPolicy":
        return [wasm["config"] for wasm in spec.get("wasm") or [] if "config" in wasm]
    return []


def manifest_clusters(doc: dict) -> list[dict]:
    """The clusters an Envoy Gateway EnvoyPatchPolicy adds."""
    if doc.get("kind") != "EnvoyPatchPolicy":
        return []
    return [
        patch["operation"]["value"]
        for patch in (doc.get("spec") or {}).get("jsonPatches") or []
        if patch.get("type") == "type.googleapis.com/envoy.config.cluster.v3.Cluster"
        and patch.get("operation", {}).get("op") == "add"
        and is_cluster(patch["operation"].get("value"))
    ]


def is_cluster(item) -> bool:
    return isinstance(item, dict) and "name" in item and (
        "load_assignment" in item or "loadAssignment" in item
    )


def classify(doc, where: str, markdown: bool = False) -> Contents:
    """What one parsed JSON/YAML document is. In Markdown (`markdown`), OpenAPI blocks are
    examples, as other products' are: the docs show schematic ones."""
    found = Contents()
    if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
        name = (doc.get("metadata") or {}).get("name", "?")
        label = f"{where}: {doc['kind']} {name}"
        found.manifests.append((label, doc))
        for config in manifest_plugin_configs(doc):
            text = config if isinstance(config, str) else json.dumps(config)
            found.plugin_configs.append(PluginConfig(label, text))
        found.clusters += manifest_clusters(doc)
    elif isinstance(doc, dict) and (
        "providers" in doc
        or not markdown and ("swagger" in doc or isinstance(doc.get("openapi"), dict))
    ):
        # The jwt_authn form, the OpenAPI form, or a bare OpenAPI 2.0 document: all plugin
        # configurations the filter reads as they are.
        found.plugin_configs.append(PluginConfig(where, json.dumps(doc)))
    elif isinstance(doc, dict) and "static_resources" in doc:
        found.bootstraps.append((where, doc))
        for text in wasm_filter_configs(doc):
            found.plugin_configs.append(PluginConfig(where, text))
    elif isinstance(doc, dict) and ("http_filters" in doc or "clusters" in doc or "listeners" in doc):
        found.listeners += [(where, item) for item in doc.get("listeners") or []]
        if "http_filters" in doc:
            found.filter_chains.append((where, doc["http_filters"]))
            for text in wasm_filter_configs(doc["http_filters"]):
                found.plugin_configs.append(PluginConfig(where, text))
        found.clusters += [c for c in doc.get("clusters") or [] if is_cluster(c)]
    elif isinstance(doc, list) and doc and all(is_cluster(item) for item in doc):
        found.clusters += doc
    else:
        found.uncheckable.append((where, foreign_format(doc) or NOTHING_TO_CHECK))
    return found


NOTHING_TO_CHECK = ("not a jwt-gate configuration, OpenAPI 2.0 document, Envoy bootstrap, filter "
                    "chain, cluster list or Kubernetes manifest")


def foreign_format(doc) -> str | None:
    """What another product's document is, and what to do with it; None if not recognised."""
    if isinstance(doc, dict) and isinstance(doc.get("openapi"), str):
        return (f"an OpenAPI {doc['openapi']} document: jwt-gate reads OpenAPI 2.0 "
                '(`swagger: "2.0"`) only')
    if isinstance(doc, dict) and (
        isinstance(doc.get("specification"), dict) or "routes" in doc or "requestPolicies" in doc
    ):
        return ("an OCI API Gateway deployment: translate it with `jwt-gate from-oci FILE`, then "
                "check what it prints")
    return None


def read_file(path: Path) -> Contents:
    """Everything found in one file (raises on JSON/YAML that does not parse)."""
    rel = display(path)
    text = path.read_text()
    found = Contents()
    if path.suffix == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        contents = classify(doc, rel) if doc is not None else Contents()
        envoy_or_kubernetes = (contents.bootstraps or contents.filter_chains or contents.listeners
                               or contents.clusters or contents.manifests)
        if envoy_or_kubernetes or (doc is not None and foreign_format(doc)):
            found.extend(contents)
        else:
            # A plugin configuration (or what should be one) goes to the filter as written, so
            # that jwt-gate's parser, not Python's, decides on trailing commas, duplicate members
            # and the like, and says what is wrong.
            found.plugin_configs.append(PluginConfig(rel, text))
    elif path.suffix in (".yaml", ".yml"):
        for index, doc in enumerate(yaml.safe_load_all(text)):
            if doc is not None:
                found.extend(classify(doc, f"{rel}#{index}"))
    elif path.suffix == ".md":
        for block in fenced_blocks(text):
            where = f"{rel}:{block.line}"
            if block.language == "json":
                try:
                    doc = json.loads(block.text)
                except json.JSONDecodeError:
                    continue  # a fragment, not a document
                found.extend(prose_allowed(classify(doc, where, markdown=True)))
            elif block.language in ("yaml", "yml"):
                for doc in yaml.safe_load_all(block.text):
                    if doc is not None:
                        found.extend(prose_allowed(classify(doc, where, markdown=True)))
    else:
        raise ValueError(f"{rel}: not .json, .yaml, .yml or .md")
    return found


def prose_allowed(found: Contents) -> Contents:
    """In Markdown, a block that is nothing to check is an example, not an error."""
    found.uncheckable = []
    return found


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --- Bootstraps ----------------------------------------------------------------------------------


def jwt_gate_filter(plugin_config: str, wasm: Path) -> dict:
    return {
        "name": "jwt_gate",
        "typed_config": {
            "@type": WASM_TYPE,
            "config": {
                "name": "jwt_gate",
                "root_id": "jwt_gate",
                "vm_config": {
                    "vm_id": "jwt_gate",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm)}},
                },
                "configuration": {"@type": STRING_VALUE_TYPE, "value": plugin_config},
                "failure_policy": "FAIL_CLOSED",
            },
        },
    }


def with_local_wasm(node, wasm: Path):
    """A copy of `node` whose local `.wasm` code file names all point at `wasm`."""
    node = copy.deepcopy(node)
    for item in walk(node):
        if isinstance(item, dict) and isinstance(item.get("local"), dict):
            filename = item["local"].get("filename", "")
            if filename.endswith(".wasm"):
                item["local"]["filename"] = str(wasm)
    return node


def listener(name: str, http_filters: list[dict]) -> dict:
    names = [f.get("name") for f in http_filters]
    if "envoy.filters.http.router" not in names:
        http_filters = [*http_filters, ROUTER]
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
                        }
                    ],
                }
            ]
        },
        "http_filters": http_filters,
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }


def unique_clusters(clusters: Iterable[dict]) -> list[dict]:
    """`clusters` with exact duplicates dropped; two different clusters of one name raise."""
    by_name: dict[str, dict] = {}
    for cluster in clusters:
        previous = by_name.setdefault(cluster["name"], cluster)
        if previous != cluster:
            raise ValueError(f"two different clusters named {cluster['name']!r}")
    return list(by_name.values())


def check_bootstrap(
    plugin_configs: Iterable[str] = (),
    filter_chains: Iterable[list[dict]] = (),
    clusters: Iterable[dict] = (),
    wasm: Path | None = None,
    extra_listeners: Iterable[dict] = (),
) -> dict:
    """A bootstrap with one listener per plugin configuration and per filter chain (on port 0 of
    127.0.0.1, never bound by `--mode validate`), and `clusters`."""
    wasm = wasm or wasm_module()
    listeners = [listener(f"config_{i}", [jwt_gate_filter(text, wasm)]) for i, text in enumerate(plugin_configs)]
    listeners += [
        listener(f"chain_{i}", with_local_wasm(chain, wasm)) for i, chain in enumerate(filter_chains)
    ]
    listeners += [with_local_wasm(item, wasm) for item in extra_listeners]
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": listeners, "clusters": unique_clusters(clusters)},
    }


# --- Running Envoy -------------------------------------------------------------------------------


@dataclass
class Result:
    ok: bool
    log: str

    @property
    def rejections(self) -> list[str]:
        """jwt-gate's own rejection messages."""
        return sorted(
            {
                line.split("jwt-gate: configuration rejected: ", 1)[1]
                for line in self.log.splitlines()
                if "jwt-gate: configuration rejected: " in line
            }
        )

    def summary(self, lines: int = 15) -> str:
        """The rejections, or else the log's last lines (without the extension listing)."""
        if self.rejections:
            return "\n".join(self.rejections)
        kept = [line for line in self.log.splitlines() if "]   " not in line]
        return "\n".join(kept[-lines:])


def validate(config: dict | Path, cwd: Path = REPO, timeout: float = VALIDATE_TIMEOUT) -> Result:
    """`envoy --mode validate` of a bootstrap (a dict is written to a temporary file)."""
    with tempfile.TemporaryDirectory(prefix="jwt-gate-check-") as tmp:
        if isinstance(config, dict):
            path = Path(tmp) / "bootstrap.json"
            path.write_text(json.dumps(config))
        else:
            path = config
        command = [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "info"]
        try:
            process = subprocess.run(
                command, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as error:
            return Result(False, f"envoy --mode validate timed out after {timeout} s\n{error.stderr or ''}")
    return Result(process.returncode == 0, process.stdout + process.stderr)


def check_contents(found: Contents, wasm: Path | None = None) -> list[tuple[str, Result]]:
    """A verdict for each bootstrap, plugin configuration and filter chain of `found`.

    Each bootstrap is validated on its own. The plugin configurations (wherever they were found),
    the filter chains, clusters and listeners are validated together in one Envoy; when that
    fails, each one alone, so that every failure is pinned on its source."""
    wasm = wasm or wasm_module()
    results = [
        (f"{where}: Envoy bootstrap", validate(with_local_wasm(bootstrap, wasm)))
        for where, bootstrap in found.bootstraps
    ]
    # Every plugin configuration is also checked alone, in a filter that loads the local module:
    # one inside a bootstrap or a filter chain that loads the module from a remote source would
    # otherwise never reach jwt-gate (`--mode validate` does not fetch remote code).
    loose = found.plugin_configs
    chains = found.filter_chains
    extra = [item for _, item in found.listeners]
    if not loose and not chains and not found.clusters and not extra:
        return results
    labels = [f"{c.where}: jwt-gate configuration" for c in loose]
    labels += [f"{where}: http_filters" for where, _ in chains]
    if found.clusters or extra:
        names = ", ".join(sorted({c["name"] for c in found.clusters} | {x["name"] for x in extra}))
        labels.append(f"clusters and listeners {names}")
    together = validate(
        check_bootstrap([c.text for c in loose], [chain for _, chain in chains], found.clusters, wasm, extra)
    )
    if together.ok or len(labels) == 1:
        return results + [(label, together) for label in labels]
    alone = [validate(check_bootstrap([c.text], (), found.clusters, wasm)) for c in loose]
    alone += [validate(check_bootstrap((), [chain], found.clusters, wasm)) for _, chain in chains]
    if found.clusters or extra:
        alone.append(validate(check_bootstrap((), (), found.clusters, wasm, extra)))
    return results + list(zip(labels, alone))


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    wasm = wasm_module()
    if not wasm.is_file():
        print(f"{display(wasm)} not found: run `make build` (or set JWT_GATE_WASM)", file=sys.stderr)
        return 1
    failed = False
    for name in argv:
        try:
            found = read_file(Path(name))
        except (OSError, ValueError, yaml.YAMLError) as error:
            print(f"FAIL {name}: {error}")
            failed = True
            continue
        for where, why in found.uncheckable:
            print(f"FAIL {where}: cannot be checked: {why}")
            failed = True
        results = check_contents(found, wasm)
        if not results and not found.uncheckable:
            print(f"FAIL {name}: nothing to check (no jwt-gate configuration, bootstrap, filter chain, "
                  "cluster or listener found)")
            failed = True
        for label, result in results:
            print(f"{'ok  ' if result.ok else 'FAIL'} {label}")
            if not result.ok:
                print("     " + result.summary().replace("\n", "\n     "))
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
