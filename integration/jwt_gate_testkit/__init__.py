"""jwt-gate's test kit: what the integration tests (integration/), the benchmarks (bench/) and the
demo (`make run`, envoy/compose/) share. `make deps` installs it into .venv in editable mode
(pyproject.toml at the repository root), so every script imports it by name.

One module per concern; import from the module, not from the package:

- `artifacts`: the repository, the built .wasm and command line, Envoy's binary, scratch space;
- `tokens`: signing keys, PyJWT tokens (never jwt-gate's), JWKs, certificates, base64url;
- `shared_config`: the plugin configuration of the tests' shared `gate` listener;
- `bootstrap`: the one builder of every Envoy bootstrap the tests, the benchmarks and soak write;
- `envoy`: Envoy processes (start, ready, stop), their admin API, stats and logs;
- `servers`: the echo backend, the demo identity provider, the controllable identity provider
  (slow, down, resetting, garbage, oversize answers) and the HTTP server under them;
- `client`: an HTTP client that sends what browsers would not, response checks, `wait_for`;
- `load`: a bounded load of requests from threads, and percentiles;
- `wasm`: hand-assembled proxy-wasm modules that misbehave on purpose;
- `docs`: the YAML blocks of Markdown documents.

Nothing is imported here, so that a user of one module (the demo image runs `servers` with only
PyJWT and cryptography installed) needs only that module's dependencies. Every server listens on
127.0.0.1 unless its caller binds it elsewhere; every wait has a deadline."""
