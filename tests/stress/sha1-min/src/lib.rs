//! `digest(ptr, len, out)`: the SHA-1 of `len` bytes at `ptr` into the 20
//! bytes at `out`, with `vod_ugc_upload::hash::Sha1` (its simd128 code:
//! `.cargo/config.toml` of the main workspace is not read here, so the
//! build passes `-C target-feature=+simd128` itself; see
//! docs/webkit-sha1.md). `alloc(len)` gives the page room for its bytes.

use vod_ugc_upload::hash::Sha1;

#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut bytes = Vec::<u8>::with_capacity(len);
    let ptr = bytes.as_mut_ptr();
    std::mem::forget(bytes);
    ptr
}

/// # Safety
/// `ptr..ptr+len` and `out..out+20` must be in the module's memory.
#[no_mangle]
pub unsafe extern "C" fn digest(ptr: *const u8, len: usize, out: *mut u8) {
    // SAFETY: the caller's.
    let (data, out) = unsafe {
        (
            std::slice::from_raw_parts(ptr, len),
            std::slice::from_raw_parts_mut(out, 20),
        )
    };
    let mut hasher = Sha1::new();
    // In 4 MiB steps, as the package hashes a file.
    for chunk in data.chunks(4 << 20) {
        hasher.update(chunk);
    }
    out.copy_from_slice(&hasher.finalize());
}
