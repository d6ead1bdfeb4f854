//! Reading a `Blob` in slices. Each slice is dropped as soon as its read has
//! started (Chromium keeps a slice's backing data alive until it is
//! collected), and reads run ahead of the hashing so the disk and the CPU
//! work at the same time.

use std::collections::VecDeque;
use std::task::Poll;

use futures_util::FutureExt;
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::js;
use super::wake::AbortWatch;
use crate::hash::Sha1;
use crate::protocol::to_hex;

/// Bytes per read while hashing: large slices read markedly faster.
const READ_CHUNK: u64 = 8 << 20;
/// Reads kept in flight ahead of the hashing.
const READ_AHEAD: usize = 2;
/// Hashing step between progress reports (the API promises ≤ 4 MiB).
const HASH_STEP: usize = 4 << 20;

/// Why reading stopped.
pub enum ReadError {
    Aborted,
    /// The browser could not read the file (moved, changed, revoked).
    Unreadable(String),
}

/// Starts reading `start..end` of `blob`.
pub fn start_read(blob: &Blob, start: u64, end: u64) -> Result<JsFuture, ReadError> {
    let slice = blob
        .slice_with_f64_and_f64(start as f64, end as f64)
        .map_err(|e| ReadError::Unreadable(js::describe_thrown(&e)))?;
    Ok(JsFuture::from(slice.array_buffer()))
}

/// Awaits a read, or the abort, whichever comes first.
pub async fn finish_read(
    read: &mut JsFuture,
    abort: &AbortWatch,
) -> Result<ArrayBuffer, ReadError> {
    std::future::poll_fn(|cx| {
        if abort.poll_aborted(cx).is_ready() {
            return Poll::Ready(Err(ReadError::Aborted));
        }
        read.poll_unpin(cx).map(|result| {
            result
                .map(|buffer| buffer.unchecked_into())
                .map_err(|e| ReadError::Unreadable(js::describe_thrown(&e)))
        })
    })
    .await
}

/// SHA-1 of the whole blob, lowercase hex. `on_progress` gets the bytes
/// hashed so far after every step of at most 4 MiB.
pub async fn sha1_hex(
    blob: &Blob,
    abort: &AbortWatch,
    mut on_progress: impl FnMut(u64),
) -> Result<String, ReadError> {
    let size = blob.size() as u64;
    let mut hasher = Sha1::new();
    let mut scratch = vec![0u8; READ_CHUNK.min(size) as usize];
    let mut reads = VecDeque::new();
    let mut next_start = 0u64;
    let mut hashed = 0u64;
    while hashed < size {
        while reads.len() < READ_AHEAD && next_start < size {
            let end = (next_start + READ_CHUNK).min(size);
            reads.push_back((
                start_read(blob, next_start, end)?,
                (end - next_start) as usize,
            ));
            next_start = end;
        }
        let Some((mut read, len)) = reads.pop_front() else {
            break;
        };
        let buffer = finish_read(&mut read, abort).await?;
        let chunk = &mut scratch[..len];
        Uint8Array::new(&buffer).copy_to(chunk);
        drop(buffer);
        for step in chunk.chunks(HASH_STEP) {
            hasher.update(step);
            hashed += step.len() as u64;
            on_progress(hashed);
        }
    }
    if abort.aborted() {
        return Err(ReadError::Aborted);
    }
    Ok(to_hex(&hasher.finalize()))
}
