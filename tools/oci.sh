#!/usr/bin/env bash
# `make oci`: jwt-gate as an OCI image (envoy/Dockerfile.oci: FROM scratch, plugin.wasm), built
# by buildah, which needs no Docker engine.
#
#   tools/oci.sh             build from dist/jwt_gate.wasm (`make release`) and write
#                              dist/oci/                      the image as an OCI layout, tag <version>
#                              dist/jwt-gate-<version>.oci.tar  the same as an oci-archive
#                              dist/jwt-gate.oci.digest       sha256:<manifest digest>
#   tools/oci.sh push REF [OPTIONS]
#                            push that image to a registry: REF as in ghcr.io/your-org/jwt-gate:0.1.0
#                              (log in first: buildah login ghcr.io), then print the pushed digest;
#                              OPTIONS go to `buildah push` (e.g. --tls-verify=false for a local
#                              registry without TLS)
#
# buildah runs with its own storage in dist/buildah (vfs driver), leaving the system's container
# storage alone. The image's manifest digest is what Istio's WasmPlugin `sha256` and Envoy
# Gateway's code.image.sha256 compare with (not the module's sha256); a registry may store
# the manifest under another digest, so take the one `push` prints. Environment: DIST (default
# dist). buildah is installed with apt-get when missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

dist=${DIST:-dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
local_image="localhost/jwt-gate:$version"

if ! command -v buildah >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    echo "oci: buildah is needed (https://buildah.io; Debian/Ubuntu: apt-get install buildah)" >&2
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq buildah >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq buildah >/dev/null
  fi
fi
buildah=(buildah --root "$dist/buildah/root" --runroot "$dist/buildah/run" --storage-driver vfs)

if [ "${1:-}" = push ]; then
  ref=${2:?usage: tools/oci.sh push REGISTRY/REPOSITORY:TAG [buildah push options]}
  "${buildah[@]}" push --quiet --digestfile "$dist/pushed.digest" "${@:3}" "$local_image" "docker://$ref"
  echo "pushed $ref@$(cat "$dist/pushed.digest")"
  exit 0
fi

if [ ! -f "$dist/jwt_gate.wasm" ]; then
  echo "oci: $dist/jwt_gate.wasm not found: run \`make release\` first" >&2
  exit 1
fi
context="$dist/oci-context"
rm -rf "$context" "$dist/oci" "$dist/jwt-gate-$version.oci.tar"
mkdir -p "$context"
cp "$dist/jwt_gate.wasm" "$context/plugin.wasm"

# --timestamp 0: the same module always gives the same image digest.
"${buildah[@]}" build --quiet --format oci --timestamp 0 \
  --annotation module.wasm.image/variant=compat \
  -f envoy/Dockerfile.oci -t "$local_image" "$context" >/dev/null
"${buildah[@]}" push --quiet "$local_image" "oci:$dist/oci:$version"
"${buildah[@]}" push --quiet "$local_image" "oci-archive:$dist/jwt-gate-$version.oci.tar:$version"

digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$dist/oci/index.json")
echo "$digest" > "$dist/jwt-gate.oci.digest"
echo "jwt-gate $version: OCI image $dist/oci (tag $version), $dist/jwt-gate-$version.oci.tar"
echo "manifest digest $digest"
echo "push it: tools/oci.sh push ghcr.io/your-org/jwt-gate:$version"
