//! Host adapters: the only code that calls a host. `proxy_wasm` is the .wasm Envoy loads;
//! `envoy_module` the native Envoy dynamic module (`libjwt_gate.so`, feature `envoy-module`).
//! What both say the same way (the counters each outcome bumps, the lines a configuration logs
//! at load, the replay-cache warning) is here, so the two builds cannot drift apart.

#[cfg(all(not(target_arch = "wasm32"), feature = "envoy-module"))]
mod envoy_module;
#[cfg(target_arch = "wasm32")]
#[forbid(unsafe_code)]
mod proxy_wasm;

// Compiled everywhere, so that `cargo test` checks it; only the hosts use it.
#[cfg_attr(
    not(any(target_arch = "wasm32", feature = "envoy-module")),
    allow(dead_code)
)]
#[forbid(unsafe_code)]
mod common;
