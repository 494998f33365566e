//! The least an Envoy 1.40 dynamic-module HTTP filter can cost: every hook Envoy requires, each
//! doing nothing, and (by feature) the few callbacks a JWT filter cannot avoid. Built to compare
//! with jwt-gate's native module under `cg.py` / `ab.py` (see ../README.md). Declarations as in
//! src/hosts/envoy_module/abi.rs.
use std::ffi::{c_char, c_void};

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Buf {
    ptr: *const c_char,
    len: usize,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Hdr {
    key: Buf,
    value: Buf,
}

const NULL: Buf = Buf {
    ptr: std::ptr::null(),
    len: 0,
};

fn buf(b: &[u8]) -> Buf {
    Buf {
        ptr: b.as_ptr().cast(),
        len: b.len(),
    }
}

extern "C" {
    fn envoy_dynamic_module_callback_http_get_headers_size(f: *mut c_void, t: u32) -> usize;
    fn envoy_dynamic_module_callback_http_get_headers(
        f: *mut c_void,
        t: u32,
        out: *mut Hdr,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_get_header(
        f: *mut c_void,
        t: u32,
        key: Buf,
        out: *mut Buf,
        index: usize,
        size: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        f: *mut c_void,
        t: u32,
        k: Buf,
        v: Buf,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        f: *mut c_void,
        status: u32,
        headers: *mut Hdr,
        n: usize,
        body: Buf,
        details: Buf,
    );
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    c"v0.2.0".as_ptr()
}

static CONFIG: u8 = 0;
static FILTER: u8 = 0;

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    _: *mut c_void,
    _: Buf,
    _: Buf,
) -> *const c_void {
    (&CONFIG as *const u8).cast()
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(_: *const c_void) {}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_new(
    _: *const c_void,
    _: *mut c_void,
) -> *const c_void {
    (&FILTER as *const u8).cast()
}
#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_destroy(_: *const c_void) {}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    f: *mut c_void,
    _: *const c_void,
    _: bool,
) -> u32 {
    let mut found = true;
    if cfg!(feature = "headers") {
        let mut raw = [Hdr {
            key: NULL,
            value: NULL,
        }; 32];
        // SAFETY: `f` is this hook's filter; `raw` has room for the count Envoy reports (only
        // maps of up to 32 headers are read), and the views it fills are read within the hook.
        found = unsafe {
            let n = envoy_dynamic_module_callback_http_get_headers_size(f, 0);
            if n <= 32 {
                envoy_dynamic_module_callback_http_get_headers(f, 0, raw.as_mut_ptr());
            }
            raw[..n.min(32)].iter().any(|h| {
                std::slice::from_raw_parts(h.key.ptr.cast::<u8>(), h.key.len) == b"authorization"
            })
        };
        std::hint::black_box(&raw);
    }
    if cfg!(feature = "one") {
        let mut out = NULL;
        let mut size = 0usize;
        // SAFETY: `f` is this hook's filter; `out` and `size` are live for the call.
        found = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                f,
                0,
                buf(b"authorization"),
                &mut out,
                0,
                &mut size,
            )
        };
        std::hint::black_box(&out);
    }
    if cfg!(feature = "deny") && !found {
        let challenge = b"Bearer realm=\"http://example.com/\"";
        let mut hs = [Hdr {
            key: buf(b"www-authenticate"),
            value: buf(challenge),
        }];
        // SAFETY: `f` is this hook's filter; the header, body and details outlive the call
        // (Envoy copies them).
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                f,
                401,
                hs.as_mut_ptr(),
                1,
                buf(b"Jwt is missing"),
                buf(b"jwt_gate_denied"),
            );
        }
        return 1;
    }
    if cfg!(feature = "remove") {
        // SAFETY: `f` is this hook's filter; the name outlives the call; a null value removes.
        unsafe {
            envoy_dynamic_module_callback_http_set_header(f, 0, buf(b"authorization"), NULL);
        }
    }
    0
}

macro_rules! nothing {
    ($($name:ident($($arg:ty),*) -> $ret:ty = $val:expr;)*) => {$(
        #[no_mangle]
        pub extern "C" fn $name($(_: $arg),*) -> $ret { $val }
    )*};
}

nothing! {
    envoy_dynamic_module_on_http_filter_request_body(*mut c_void, *const c_void, bool) -> u32 = 0;
    envoy_dynamic_module_on_http_filter_request_trailers(*mut c_void, *const c_void) -> u32 = 0;
    envoy_dynamic_module_on_http_filter_response_headers(*mut c_void, *const c_void, bool) -> u32 = 0;
    envoy_dynamic_module_on_http_filter_response_body(*mut c_void, *const c_void, bool) -> u32 = 0;
    envoy_dynamic_module_on_http_filter_response_trailers(*mut c_void, *const c_void) -> u32 = 0;
    envoy_dynamic_module_on_http_filter_stream_complete(*mut c_void, *const c_void) -> () = ();
    envoy_dynamic_module_on_http_filter_local_reply(*mut c_void, *const c_void, u32, Buf, bool) -> u32 = 0;
    envoy_dynamic_module_on_http_filter_scheduled(*mut c_void, *const c_void, u64) -> () = ();
    envoy_dynamic_module_on_http_filter_config_scheduled(*mut c_void, *const c_void, u64) -> () = ();
    envoy_dynamic_module_on_http_filter_http_callout_done(*mut c_void, *const c_void, u64, u32, *const Hdr, usize, *const Buf, usize) -> () = ();
    envoy_dynamic_module_on_http_filter_config_http_callout_done(*mut c_void, *const c_void, u64, u32, *const Hdr, usize, *const Buf, usize) -> () = ();
    envoy_dynamic_module_on_http_filter_http_stream_headers(*mut c_void, *const c_void, u64, *const Hdr, usize, bool) -> () = ();
    envoy_dynamic_module_on_http_filter_http_stream_data(*mut c_void, *const c_void, u64, *const Buf, usize, bool) -> () = ();
    envoy_dynamic_module_on_http_filter_http_stream_trailers(*mut c_void, *const c_void, u64, *const Hdr, usize) -> () = ();
    envoy_dynamic_module_on_http_filter_http_stream_complete(*mut c_void, *const c_void, u64) -> () = ();
    envoy_dynamic_module_on_http_filter_http_stream_reset(*mut c_void, *const c_void, u64, u32) -> () = ();
    envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(*mut c_void, *const c_void) -> () = ();
    envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(*mut c_void, *const c_void) -> () = ();
    envoy_dynamic_module_on_http_filter_per_route_config_new(Buf, Buf) -> *const c_void = std::ptr::null();
    envoy_dynamic_module_on_http_filter_per_route_config_destroy(*const c_void) -> () = ();
}
