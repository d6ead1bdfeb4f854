//! What the upload logic needs from a place that keeps bytes, and nothing
//! more: whole objects under `/`-separated keys, written through a writer
//! that makes them visible only on commit, one conditional create, listing
//! and deletion by prefix. Each backend is a file of its own (`disk.rs`,
//! `s3.rs`); the upload logic in `mod.rs` is written once, against this.
//!
//! Errors are `io::Error`s whose kind says what happened (`NotFound`,
//! `StorageFull`, ...); their text may name paths or URLs, so it is logged
//! and never put in an answer.

use std::io;
use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;

/// One stored object, as listed.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The full key, `prefix` included.
    pub key: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// The bytes of an object (or of a range of it), streamed.
pub struct Object {
    /// The whole object's size, whatever range was asked.
    pub size: u64,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// Starts writing the object `key`, of about `size` bytes (a hint: S3
    /// picks one PUT or a multipart upload, and its chunk size, from it).
    /// Nothing is visible at `key` until [`ObjectWriter::commit`] returns;
    /// then the whole object is, durably, replacing what was there.
    async fn create(&self, key: &str, size: u64) -> io::Result<Box<dyn ObjectWriter>>;

    /// Stores `bytes` at `key` only if no object is there; `Ok(false)` when
    /// one was (then nothing changed). Atomic across every process sharing
    /// the backend: of two racing callers exactly one gets `Ok(true)`.
    async fn create_if_absent(&self, key: &str, bytes: Bytes) -> io::Result<bool>;

    /// A whole (small) object; `None` when there is none.
    async fn read(&self, key: &str) -> io::Result<Option<Bytes>>;

    /// The size of an object; `None` when there is none.
    async fn size(&self, key: &str) -> io::Result<Option<u64>>;

    /// Streams an object, or the byte `range` of it; `None` when there is none.
    async fn open(&self, key: &str, range: Option<Range<u64>>) -> io::Result<Option<Object>>;

    /// Every object whose key starts with `prefix` (a folder: ends with `/`).
    async fn list(&self, prefix: &str) -> io::Result<Vec<Entry>>;

    /// The folders directly below `prefix`, each as a prefix ending with `/`.
    async fn list_folders(&self, prefix: &str) -> io::Result<Vec<String>>;

    /// Deletes one object; deleting nothing is not an error.
    async fn delete(&self, key: &str) -> io::Result<()>;

    /// Deletes every object below `prefix` (a folder: ends with `/`).
    async fn delete_all(&self, prefix: &str) -> io::Result<()>;
}

/// An object being written. Dropping it without `commit` leaves nothing
/// behind (backends clean up in `abort` or `Drop`).
#[async_trait]
pub trait ObjectWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> io::Result<()>;

    /// Makes the object visible at its key, durably.
    async fn commit(self: Box<Self>) -> io::Result<()>;

    /// Gives the object up, freeing what it held (an S3 multipart upload).
    async fn abort(self: Box<Self>);
}
