//! The native host: jwt-gate as an Envoy dynamic module (`libjwt_gate.so`, HTTP filter
//! `jwt_gate`), configured with the same JSON as the .wasm (a `google.protobuf.StringValue` in
//! `filter_config`). Built with the `envoy-module` feature for Envoy 1.40's ABI (`abi`).
//!
//! The hooks below are the whole surface Envoy calls. Each turns Envoy's pointers into the
//! module's own objects and hands over to `gate` (one configuration: compiled config, caches,
//! counters, remote keys) and `filter` (one request). Nothing here decides anything.
//!
//! No panic crosses the boundary, by construction rather than by `catch_unwind`: the crate
//! denies `unwrap`, `expect`, `panic!` and slice indexing (clippy), arithmetic that could
//! overflow is saturating, locks recover from poisoning, and the release profile aborts on a
//! panic instead of unwinding into C (`panic = "abort"`), so a bug would stop Envoy loudly rather
//! than corrupt it. Every `unsafe` block is in this module and `abi`, with a `// SAFETY:` line.

// The one exception to the crate's `forbid(unsafe_code)`: the FFI with Envoy.
#![allow(unsafe_code)]

mod abi;
mod filter;
mod gate;

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use crate::time::Time;
use abi::{
    ConfigEnvoyPtr, ConfigHandle, EnvoyBuffer, EnvoyHttpHeader, FilterEnvoyPtr, LogLevel, Stream,
};
use filter::{headers_status, Filter, Flow};
use gate::{Gate, Installed};

/// The ABI version Envoy 1.40 expects (`ENVOY_DYNAMIC_MODULES_ABI_VERSION`); another string
/// only makes Envoy log that it is deprecated.
const ABI_VERSION: &std::ffi::CStr = c"v0.2.0";

/// Body and trailer statuses: continue, or (while the request is held) wait.
const BODY_CONTINUE: u32 = 0;
const BODY_STOP_ITERATION_AND_WATERMARK: u32 = 2;
const TRAILERS_CONTINUE: u32 = 0;
const TRAILERS_STOP_ITERATION: u32 = 1;

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    ABI_VERSION.as_ptr()
}

/// A new filter configuration (main thread): the plugin JSON compiled, or the load refused
/// with its one-line reason in Envoy's log (a null return fails the configuration).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    config_envoy: ConfigEnvoyPtr,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    // SAFETY: `config_envoy` is the configuration object of this hook.
    let handle = unsafe { ConfigHandle::new(config_envoy) };
    // SAFETY: Envoy's buffer, valid during this hook.
    let bytes = unsafe { abi::envoy_bytes(config) };
    match Gate::install(handle, bytes) {
        Ok(installed) => Box::into_raw(Box::new(installed)).cast_const().cast(),
        Err(error) => {
            abi::log(
                LogLevel::Critical,
                &format!("jwt-gate: configuration rejected: {error}"),
            );
            std::ptr::null()
        }
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(config: *const c_void) {
    if config.is_null() {
        return;
    }
    // SAFETY: `config` is what `config_new` returned (a leaked `Box<Installed>`), destroyed once.
    let installed = unsafe { Box::from_raw(config.cast_mut().cast::<Installed>()) };
    installed.uninstall();
}

/// # Safety
/// `config` must be a live pointer returned by `config_new`.
unsafe fn installed<'a>(config: *const c_void) -> &'a Installed {
    // SAFETY: the caller's contract; Envoy keeps the configuration alive while its hooks run.
    unsafe { &*config.cast::<Installed>() }
}

/// The ticker's wake-up (main thread): a tick of the key fetcher.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_scheduled(
    config_envoy: ConfigEnvoyPtr,
    config: *const c_void,
    _event_id: u64,
) {
    // SAFETY: both pointers are this hook's.
    let (installed, handle) = unsafe { (installed(config), ConfigHandle::new(config_envoy)) };
    installed.gate.tick(handle);
}

/// A key fetch's response (main thread).
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_http_callout_done(
    config_envoy: ConfigEnvoyPtr,
    config: *const c_void,
    callout_id: u64,
    result: u32,
    headers: *const EnvoyHttpHeader,
    headers_size: usize,
    body_chunks: *const EnvoyBuffer,
    body_chunks_size: usize,
) {
    // SAFETY: both pointers are this hook's.
    let (installed, handle) = unsafe { (installed(config), ConfigHandle::new(config_envoy)) };
    // SAFETY: Envoy passes `headers_size` headers and `body_chunks_size` chunks (or null), valid
    // during this hook.
    let (headers, chunks) = unsafe {
        (
            slice(headers, headers_size),
            slice(body_chunks, body_chunks_size),
        )
    };
    let status = headers.iter().find_map(|header| {
        // SAFETY: views Envoy filled for this hook.
        let (name, value) =
            unsafe { (abi::envoy_bytes(header.key), abi::envoy_bytes(header.value)) };
        (name == b":status").then(|| std::str::from_utf8(value).ok()?.parse::<u32>().ok())?
    });
    // SAFETY: chunks Envoy filled for this hook.
    let body: Vec<&[u8]> = chunks
        .iter()
        .map(|chunk| unsafe { abi::envoy_bytes(*chunk) })
        .collect();
    let response = gate::fetch_response(result, status, &body, &installed.gate.config.limits);
    installed
        .gate
        .on_fetch_response(handle, callout_id, response);
}

/// # Safety
/// `ptr` must be null or point to `len` initialised values valid for `'a`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    config: *const c_void,
    _filter_envoy: FilterEnvoyPtr,
) -> *const c_void {
    if config.is_null() {
        return std::ptr::null();
    }
    // SAFETY: `config` is live while Envoy creates its filters.
    let gate = Arc::clone(&unsafe { installed(config) }.gate);
    Box::into_raw(Box::new(Filter::new(gate)))
        .cast_const()
        .cast()
}

/// # Safety
/// `filter` must be a live pointer returned by `on_http_filter_new`, used by one thread (its
/// stream's worker) at a time, as Envoy calls a stream's hooks.
unsafe fn filter<'a>(filter: *const c_void) -> &'a mut Filter {
    // SAFETY: the caller's contract.
    unsafe { &mut *filter.cast_mut().cast::<Filter>() }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter_module: *const c_void) {
    if filter_module.is_null() {
        return;
    }
    // SAFETY: what `on_http_filter_new` returned, destroyed once (dropping it forgets the
    // request and deletes its scheduler).
    drop(unsafe { Box::from_raw(filter_module.cast_mut().cast::<Filter>()) });
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy: FilterEnvoyPtr,
    filter_module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    // SAFETY: this hook's pointers.
    let (filter, stream) = unsafe { (filter(filter_module), Stream::new(filter_envoy)) };
    headers_status(filter.decide(stream, None))
}

/// A held request, released by the key fetcher (its worker thread): decided again.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    filter_envoy: FilterEnvoyPtr,
    filter_module: *const c_void,
    event_id: u64,
) {
    // SAFETY: this hook's pointers.
    let (filter, stream) = unsafe { (filter(filter_module), Stream::new(filter_envoy)) };
    // The event is the request's deadline: decided again, it may wait only until then.
    match filter.decide(stream, Some(Time::from_millis(event_id))) {
        Flow::Continue => stream.continue_decoding(),
        Flow::Answered | Flow::Held => {}
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_body(
    _filter_envoy: FilterEnvoyPtr,
    filter_module: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    // SAFETY: this hook's pointer.
    if unsafe { filter(filter_module) }.is_held() {
        BODY_STOP_ITERATION_AND_WATERMARK
    } else {
        BODY_CONTINUE
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(
    _filter_envoy: FilterEnvoyPtr,
    filter_module: *const c_void,
) -> u32 {
    // SAFETY: this hook's pointer.
    if unsafe { filter(filter_module) }.is_held() {
        TRAILERS_STOP_ITERATION
    } else {
        TRAILERS_CONTINUE
    }
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    filter::HEADERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_body(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    BODY_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(
    _: FilterEnvoyPtr,
    _: *const c_void,
) -> u32 {
    TRAILERS_CONTINUE
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(
    _: FilterEnvoyPtr,
    _: *const c_void,
) {
}

/// Local replies (jwt-gate's own included) go on as Envoy makes them.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_local_reply(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _response_code: u32,
    _details: EnvoyBuffer,
    _reset_imminent: bool,
) -> u32 {
    0
}

// Hooks Envoy 1.40 requires of every HTTP filter module, for features jwt-gate does not use
// (per-stream callouts and streams, watermarks, per-route configuration).

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _callout_id: u64,
    _result: u32,
    _headers: *const EnvoyHttpHeader,
    _headers_size: usize,
    _body_chunks: *const EnvoyBuffer,
    _body_chunks_size: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _stream_id: u64,
    _headers: *const EnvoyHttpHeader,
    _headers_size: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _stream_id: u64,
    _data: *const EnvoyBuffer,
    _data_count: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _stream_id: u64,
    _trailers: *const EnvoyHttpHeader,
    _trailers_size: usize,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _stream_id: u64,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _: FilterEnvoyPtr,
    _: *const c_void,
    _stream_id: u64,
    _reason: u32,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _: FilterEnvoyPtr,
    _: *const c_void,
) {
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _: FilterEnvoyPtr,
    _: *const c_void,
) {
}

/// Per-route configuration: jwt-gate has none (its rules are in the filter configuration); a
/// route that gives one is refused.
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
    _name: EnvoyBuffer,
    _config: EnvoyBuffer,
) -> *const c_void {
    abi::log(
        LogLevel::Critical,
        "jwt-gate: per-route configuration is not supported: put rules in the filter configuration",
    );
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(_: *const c_void) {}
