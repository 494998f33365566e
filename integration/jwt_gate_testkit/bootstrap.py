"""The one builder of Envoy bootstraps. Every bootstrap that a test, the benchmarks or the soak
writes comes from `bootstrap()`: listeners on 127.0.0.1 with one HTTP filter each (jwt-gate from
`jwt_gate_filter()`, as the .wasm or the native module; Envoy's own jwt_authn from
`jwt_authn_filter()`; or none) before the router, the echo backend or Envoy's own answer behind
them, static clusters, and optionally the listeners served by file-based LDS. Callers change what
is left with `managers` (HttpConnectionManager fields by listener) rather than by editing the
result."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .artifacts import WASM
from .servers import free_port

ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
HTTP_CONNECTION_MANAGER = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
JWT_AUTHN = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
DYNAMIC_MODULE_FILTER = (
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
)
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"


def bootstrap(
    listeners: dict[str, dict | None],
    backend_port: int | None = None,
    clusters: dict[str, int | dict] | None = None,
    *,
    managers: dict[str, dict] | None = None,
    lds: ListenerFile | None = None,
) -> dict:
    """A bootstrap with admin on a free port of 127.0.0.1, and one listener per name of
    `listeners` on a free port of 127.0.0.1 too, running that HTTP filter (None: no filter) then
    the router. Its connection manager's and listener's stat_prefix is the listener's name.

    - `backend_port`: every route goes to the STATIC cluster `backend`, 127.0.0.1:<port>
      (connect_timeout 2s); None: no backend, Envoy answers every request 200 "ok\\n" itself;
    - `clusters`: more clusters by name: a port (a STATIC cluster to 127.0.0.1:<port>,
      connect_timeout 1s, as an identity provider needs) or a whole cluster of that name;
    - `managers`: HttpConnectionManager fields by listener name, set over the defaults
      (`route_config`, `max_request_headers_kb`, `access_log`, `headers_with_underscores()`...);
    - `lds`: the listeners go to that file-based LDS source (written now) instead of
      static_resources, each on a fixed free port, so that an update keeps its address and Envoy
      changes the filter chain in place.

    Envoy's default for header names with underscores (ALLOW) is kept, so that tests see what
    jwt-gate itself does with such headers; the bootstraps jwt-gate ships say REJECT_REQUEST."""
    managers = managers or {}
    unknown = set(managers) - set(listeners)
    assert not unknown, f"managers for listeners that do not exist: {sorted(unknown)}"
    built = [
        listener(name, http_filter, backend_port is not None, managers.get(name, {}))
        for name, http_filter in listeners.items()
    ]
    config: dict = {"admin": {"address": address(0)}, "static_resources": {}}
    if lds is None:
        config["static_resources"]["listeners"] = built
    else:
        for item in built:
            item["address"] = address(free_port())
        lds.write(built)
        config["node"] = {"id": "jwt-gate-test", "cluster": "jwt-gate-test"}
        config["dynamic_resources"] = {"lds_config": lds.config_source()}
    all_clusters = (
        [static_cluster("backend", backend_port, "2s")] if backend_port is not None else []
    )
    for name, cluster in (clusters or {}).items():
        if isinstance(cluster, dict):
            assert cluster["name"] == name, f"cluster {cluster['name']} given as {name}"
            all_clusters.append(cluster)
        else:
            all_clusters.append(static_cluster(name, cluster))
    if all_clusters:
        config["static_resources"]["clusters"] = all_clusters
    return config


def jwt_gate_filter(
    plugin_config: dict | str,
    wasm: Path = WASM,
    *,
    build: str = "wasm",
    name: str = "jwt_gate",
    failure_policy: str = "FAIL_CLOSED",
    code: dict | None = None,
) -> dict:
    """The jwt-gate filter of `build` ("wasm": the proxy-wasm module `wasm`; "native": the dynamic
    module libjwt_gate.so, which Envoy finds in ENVOY_DYNAMIC_MODULES_SEARCH_PATH, set by
    `Envoy`); `plugin_config` is the JwtAuthentication JSON, the same for both (a string is passed
    through as is, to test configs that are not valid JSON or that a dict cannot express).
    The rest is the .wasm's alone: `name` is the plugin's and its VM's (listeners with different
    names get VMs of their own), `failure_policy` what Envoy does when the VM fails, `code`
    replaces the module's local file (`{"remote": ...}`: Envoy fetches it)."""
    value = plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config)
    if build == "native":
        assert code is None and failure_policy == "FAIL_CLOSED", "wasm-only options for native"
        return native_filter(value)
    assert build == "wasm", f"unknown build {build!r}"
    return {
        "name": "jwt_gate",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": "jwt_gate",
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": code or {"local": {"filename": str(wasm)}},
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": value,
                },
                "failure_policy": failure_policy,
            },
        },
    }


def native_filter(value: str) -> dict:
    """jwt-gate as Envoy's dynamic-module HTTP filter, configured with the plugin JSON `value`
    (module and filter both named jwt_gate: Envoy loads lib<name>.so; metrics_namespace jwt_gate
    names its metrics `jwt_gate.*`, as docs/metrics.md says)."""
    return {
        "name": "jwt_gate",
        "typed_config": {
            "@type": DYNAMIC_MODULE_FILTER,
            "dynamic_module_config": {
                "name": "jwt_gate",
                "do_not_close": True,
                "metrics_namespace": "jwt_gate",
            },
            "filter_name": "jwt_gate",
            "filter_config": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": value,
            },
        },
    }


def jwt_authn_filter(config: dict) -> dict:
    """Envoy's native jwt_authn with the same JSON."""
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {"@type": JWT_AUTHN, **config},
    }


def route_config(cluster: str | None = "backend") -> dict:
    """Every path to `cluster`; None: Envoy answers every request 200 "ok\\n" itself."""
    if cluster is None:
        action = {"direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}
    else:
        action = {"route": {"cluster": cluster}}
    route = {"match": {"prefix": "/"}, **action}
    return {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]}


def headers_with_underscores(action: str) -> dict:
    """The connection manager fields for `headers_with_underscores_action` (`REJECT_REQUEST`,
    `DROP_HEADER`), for `bootstrap(managers=...)`."""
    return {"common_http_protocol_options": {"headers_with_underscores_action": action}}


class ListenerFile:
    """Envoy's file-based LDS source: `directory/lds.json`, a DiscoveryResponse of listeners,
    replaced atomically (written beside it, then renamed: Envoy watches the directory).
    `listeners`: the ones last written, by name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "lds.json"
        self.version = 0
        self.listeners: dict[str, dict] = {}

    def config_source(self) -> dict:
        return {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": str(self.path),
                "watched_directory": {"path": str(self.directory)},
            },
        }

    def write(self, listeners: list[dict]) -> None:
        self.version += 1
        document = {
            "version_info": str(self.version),
            "resources": [{"@type": LISTENER_TYPE, **item} for item in listeners],
        }
        temporary = self.directory / f".lds-{self.version}.tmp"
        temporary.write_text(json.dumps(document))
        os.replace(temporary, self.path)
        self.listeners = {item["name"]: item for item in listeners}


def connection_manager(config: dict, name: str) -> dict:
    """The HttpConnectionManager of listener `name` in a bootstrap from `bootstrap()`."""
    for candidate in config["static_resources"]["listeners"]:
        if candidate["name"] == name:
            return candidate["filter_chains"][0]["filters"][0]["typed_config"]
    raise KeyError(name)


def address(port: int) -> dict:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def static_cluster(name: str, port: int, connect_timeout: str = "1s") -> dict:
    """A STATIC cluster of one endpoint, 127.0.0.1:`port`."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(port)}}]}],
        },
    }


def listener(name: str, http_filter: dict | None, to_backend: bool, fields: dict) -> dict:
    """A listener on a free port of 127.0.0.1: `http_filter` (if any) then the router, every path
    to the backend (or answered by Envoy), then `fields` over the connection manager's."""
    manager = {
        "@type": HTTP_CONNECTION_MANAGER,
        "stat_prefix": name,
        "route_config": route_config("backend" if to_backend else None),
        "http_filters": [*([http_filter] if http_filter else []), ROUTER],
        **fields,
    }
    return {
        "name": name,
        "stat_prefix": name,
        "address": address(0),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }
