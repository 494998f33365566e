//! Host adapters: the only code that calls a host. `proxy_wasm` is the .wasm Envoy loads.

#[cfg(target_arch = "wasm32")]
mod proxy_wasm;
