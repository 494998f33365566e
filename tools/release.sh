#!/usr/bin/env bash
# `make release`: the built module and its sha256 in dist/ (git-ignored, created here).
#
#   dist/jwt_gate.wasm          the release build of the filter
#   dist/jwt_gate.wasm.sha256   "<hex>  jwt_gate.wasm" (`cd dist && sha256sum -c jwt_gate.wasm.sha256`)
#
# The sha256 is what Envoy's remote code source requires (vm_config.code.remote.sha256), what
# Istio's WasmPlugin checks for an http(s) url, and Envoy Gateway's code.http.sha256
# (docs/deploy.md). Environment: JWT_GATE_WASM (default target/wasm32-wasip1/release/jwt_gate.wasm),
# DIST (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."

wasm=${JWT_GATE_WASM:-target/wasm32-wasip1/release/jwt_gate.wasm}
dist=${DIST:-dist}
if [ ! -f "$wasm" ]; then
  echo "release: $wasm not found: run \`make build\` first" >&2
  exit 1
fi
# A WebAssembly module starts with \0asm.
if [ "$(head -c 4 "$wasm" | od -An -tx1 | tr -d ' \n')" != "0061736d" ]; then
  echo "release: $wasm is not a WebAssembly module" >&2
  exit 1
fi

mkdir -p "$dist"
[ -f "$dist/.gitignore" ] || printf '# Written by tools/release.sh: nothing here is committed.\n*\n' > "$dist/.gitignore"
cp "$wasm" "$dist/jwt_gate.wasm.tmp"
mv "$dist/jwt_gate.wasm.tmp" "$dist/jwt_gate.wasm"
(cd "$dist" && sha256sum jwt_gate.wasm > jwt_gate.wasm.sha256.tmp && mv jwt_gate.wasm.sha256.tmp jwt_gate.wasm.sha256)

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
sha=$(cut -d' ' -f1 "$dist/jwt_gate.wasm.sha256")
echo "jwt-gate $version: $dist/jwt_gate.wasm ($(wc -c < "$dist/jwt_gate.wasm") bytes)"
echo "sha256 $sha"
