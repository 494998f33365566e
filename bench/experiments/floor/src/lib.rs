//! Experiment: the least a proxy-wasm HTTP filter can cost Envoy, without any SDK. The module
//! exports only what the host needs (`proxy_on_memory_allocate`, `proxy_on_vm_start`,
//! `proxy_on_configure`) and `proxy_on_request_headers`, which returns Continue. With the feature
//! `headers` it first reads the request headers in one hostcall and frees them unparsed; with
//! `lifecycle` it also exports the per-request context callbacks. Not part of jwt-gate: the one
//! `unsafe` block is the raw hostcall, which jwt-gate itself only makes through the Rust SDK.

#[cfg(feature = "headers")]
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host's allocations in the VM (for the data a hostcall returns).
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut memory: Vec<u8> = Vec::with_capacity(size);
    let pointer = memory.as_mut_ptr();
    std::mem::forget(memory);
    pointer
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_context_id: u32, _size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root_context_id: u32, _size: usize) -> u32 {
    1
}

#[cfg(feature = "lifecycle")]
#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_context_id: u32) {}

#[cfg(feature = "lifecycle")]
#[no_mangle]
pub extern "C" fn proxy_on_delete(_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_context_id: u32, _headers: usize, _end: u32) -> u32 {
    #[cfg(feature = "headers")]
    {
        const REQUEST_HEADERS: u32 = 0;
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host writes a pointer it got from proxy_on_memory_allocate (a Vec of
        // capacity `size`) and its size; the Vec is rebuilt once and dropped.
        unsafe {
            if proxy_get_header_map_pairs(REQUEST_HEADERS, &mut data, &mut size) == 0
                && !data.is_null()
            {
                drop(Vec::from_raw_parts(data, size, size));
            }
        }
    }
    0 // Continue
}
