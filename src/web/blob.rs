//! Reading a `Blob`: the pass over the whole file (slices from [`Reader`],
//! hashed in steps of at most 4 MiB: the SHA-1, and for an upload the
//! parts' MD5s).

use js_sys::Uint8Array;
use web_sys::Blob;

use super::js;
pub use super::reader::ReadError;
use super::reader::{Chunk, Reader};
use super::wake::{sleep, AbortWatch};
use crate::hash::{PartMd5s, Sha1};
use crate::protocol::to_hex;

/// Hashing step between progress reports (the API promises ≤ 4 MiB).
const HASH_STEP: usize = 4 << 20;
/// Longest run of hashing steps in one task: then the page gets a turn
/// (a task over 50 ms is a "long task" that makes the page feel stuck).
const TASK_BUDGET_MS: f64 = 10.0;

/// What the pass over the whole file computes.
pub struct Hashes {
    /// The SHA-1, lowercase hex.
    pub sha1: String,
    /// The parts' MD5s, when asked for.
    pub part_md5s: Option<PartMd5s>,
}

/// Reads the whole blob once: its SHA-1 and, with `part_size`, the MD5 of
/// each part of that size. `on_progress` gets the bytes hashed so far
/// after every step of at most 4 MiB.
pub async fn hash(
    blob: &Blob,
    abort: &AbortWatch,
    part_size: Option<u64>,
    mut on_progress: impl FnMut(u64),
) -> Result<Hashes, ReadError> {
    let size = blob.size() as u64;
    let mut sha1 = Sha1::new();
    let mut part_md5s = part_size.map(|part_size| PartMd5s::new(size, part_size));
    // The bytes being hashed must be in wasm memory: each step is copied
    // into this buffer first (a memcpy, cheap next to hashing).
    let mut scratch = vec![0u8; (HASH_STEP as u64).min(size) as usize];
    let mut reader = Reader::new(blob, size);
    let mut hashed = 0u64;
    while let Some(Chunk { buffer, len }) = reader.next(abort).await? {
        let len = len as usize;
        let mut at = 0;
        let mut resumed = js::now();
        while at < len {
            if js::now() - resumed > TASK_BUDGET_MS {
                sleep(0.0).await;
                if abort.aborted() {
                    return Err(ReadError::Aborted);
                }
                resumed = js::now();
            }
            let step = HASH_STEP.min(len - at);
            let chunk = &mut scratch[..step];
            Uint8Array::new_with_byte_offset_and_length(&buffer, at as u32, step as u32)
                .copy_to(chunk);
            sha1.update(chunk);
            if let Some(part_md5s) = &mut part_md5s {
                part_md5s.update(chunk);
            }
            at += step;
            hashed += step as u64;
            on_progress(hashed);
        }
        reader.give_back(buffer);
    }
    if abort.aborted() {
        return Err(ReadError::Aborted);
    }
    Ok(Hashes {
        sha1: to_hex(&sha1.finalize()),
        part_md5s,
    })
}
