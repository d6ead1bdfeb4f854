//! The hashing of the reading Worker (`read-worker.js`): a few raw exports
//! over [`FileHasher`], the page's own hashing path. The Worker
//! instantiates this same module (the page's compiled
//! `WebAssembly.Module`, posted to it) without wasm-bindgen's glue, so
//! these take and give only numbers: a handle, lengths, and addresses in
//! the instance's memory.
//!
//! Use, per file: `h = vh_new(fileSize, partSize)` (`partSize` 0: no parts'
//! MD5s); for each chunk, copy its `len` bytes to `vh_buf(h, len)`, then
//! `vh_update(h, len)`; at the end `n = vh_finish(h)`: the digests are the
//! `n` bytes at `vh_buf(h, n)` (the SHA-1, then each part's MD5);
//! `vh_free(h)` once done, finished or not.

use crate::hash::FileHasher;

/// One file being hashed, and the bytes it is handed through.
pub struct WorkerHash {
    hasher: Option<FileHasher>,
    buf: Vec<u8>,
}

/// A hashing of a file of `file_size` bytes, with its parts' MD5s at
/// `part_size` unless 0.
#[no_mangle]
pub extern "C" fn vh_new(file_size: f64, part_size: f64) -> *mut WorkerHash {
    let part_size = (part_size >= 1.0).then_some(part_size as u64);
    Box::into_raw(Box::new(WorkerHash {
        hasher: Some(FileHasher::new(file_size as u64, part_size)),
        buf: Vec::new(),
    }))
}

/// The address of `h`'s buffer, made `len` bytes long.
///
/// # Safety
/// `h` is from [`vh_new`] and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn vh_buf(h: *mut WorkerHash, len: usize) -> *mut u8 {
    let h = &mut *h;
    h.buf.resize(len, 0);
    h.buf.as_mut_ptr()
}

/// Hashes the first `len` bytes of `h`'s buffer: the file's next bytes.
///
/// # Safety
/// As [`vh_buf`].
#[no_mangle]
pub unsafe extern "C" fn vh_update(h: *mut WorkerHash, len: usize) {
    let h = &mut *h;
    if let (Some(hasher), Some(bytes)) = (&mut h.hasher, h.buf.get(..len)) {
        hasher.update(bytes);
    }
}

/// Ends the hashing: the digests' length, in `h`'s buffer.
///
/// # Safety
/// As [`vh_buf`].
#[no_mangle]
pub unsafe extern "C" fn vh_finish(h: *mut WorkerHash) -> usize {
    let h = &mut *h;
    let Some(hasher) = h.hasher.take() else {
        return 0;
    };
    let (sha1, part_md5s) = hasher.finish();
    h.buf.clear();
    h.buf.extend_from_slice(&sha1);
    if let Some(md5s) = part_md5s.and_then(|md5s| md5s.to_bytes()) {
        h.buf.extend(md5s);
    }
    h.buf.len()
}

/// Frees `h`.
///
/// # Safety
/// As [`vh_buf`]; `h` is not used again.
#[no_mangle]
pub unsafe extern "C" fn vh_free(h: *mut WorkerHash) {
    drop(Box::from_raw(h));
}
