//! The S3-compatible backend (`--storage s3://BUCKET/PREFIX`), through the
//! `object_store` crate: AWS S3, MinIO, Ceph RGW, Cloudflare R2, moto.
//! Endpoint, region and keys come from the usual `AWS_*` environment
//! variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`...).
//!
//! An S3 PUT is atomic and durable once answered, so a small object is
//! buffered (UGC parts are at most 1 MiB) and sent in one PUT at commit; a
//! large one (an assembled file) goes out as a multipart upload, completed
//! at commit and aborted otherwise. `create_if_absent` is a PUT with
//! `If-None-Match: *`, which S3 evaluates atomically for all clients.

use std::io;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart,
};

use super::backend::{Backend, Entry, Object, ObjectWriter};

/// Objects up to this size are sent in one PUT from memory.
const SINGLE_PUT_LIMIT: u64 = 8 * 1024 * 1024;
/// The smallest multipart chunk we send (S3's minimum is 5 MiB).
const MIN_CHUNK: u64 = 8 * 1024 * 1024;
/// S3 allows 10,000 parts per upload; keep a margin.
const MAX_CHUNKS: u64 = 9_000;
/// Chunks uploaded at once while assembling a file.
const CHUNKS_IN_FLIGHT: usize = 2;

pub struct S3 {
    store: Arc<dyn ObjectStore>,
    /// The key prefix inside the bucket, with a trailing `/` (or empty).
    prefix: String,
}

impl S3 {
    /// Connects to `s3://BUCKET[/PREFIX]`, configured from the environment,
    /// and checks that the bucket answers.
    pub async fn connect(url: &str) -> io::Result<S3> {
        let (bucket, prefix) = parse_url(url)?;
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let s3 = S3 {
            store: Arc::new(store),
            prefix,
        };
        s3.store
            .list_with_delimiter(Some(&s3.path(""))) // fails fast on a wrong bucket or key
            .await
            .map_err(|e| io::Error::other(format!("the bucket does not answer: {e}")))?;
        Ok(s3)
    }

    fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.prefix))
    }

    /// The key of a listed path, without our prefix.
    fn key(&self, path: &Path) -> String {
        let full = path.as_ref();
        full.strip_prefix(&self.prefix).unwrap_or(full).to_owned()
    }
}

/// `s3://BUCKET/PREFIX` → (BUCKET, "PREFIX/"); the prefix may be empty.
fn parse_url(url: &str) -> io::Result<(String, String)> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("--storage {url:?}: {why}; expected s3://BUCKET/PREFIX"),
        )
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an s3:// URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket"));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == "." || s == "..") {
        return Err(bad("the prefix has a . or .. segment"));
    }
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_owned(), prefix))
}

/// object_store's errors as `io::Error`s of the matching kind; the text
/// (which names the bucket's URL) stays in the error, for the log.
fn io_error(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            io::ErrorKind::AlreadyExists
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

fn not_found_as_none<T>(result: object_store::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}

#[async_trait]
impl Backend for S3 {
    async fn create(&self, key: &str, size: u64) -> io::Result<Box<dyn ObjectWriter>> {
        let path = self.path(key);
        let state = if size <= SINGLE_PUT_LIMIT {
            Pending::Buffer(BytesMut::with_capacity(size as usize))
        } else {
            let upload = self.store.put_multipart(&path).await.map_err(io_error)?;
            let chunk = MIN_CHUNK.max(size.div_ceil(MAX_CHUNKS));
            Pending::Multipart(WriteMultipart::new_with_chunk_size(upload, chunk as usize))
        };
        Ok(Box::new(S3Writer {
            store: self.store.clone(),
            path,
            state,
        }))
    }

    async fn create_if_absent(&self, key: &str, bytes: Bytes) -> io::Result<bool> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(key), PutPayload::from(bytes), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn read(&self, key: &str) -> io::Result<Option<Bytes>> {
        let Some(result) = not_found_as_none(self.store.get(&self.path(key)).await)? else {
            return Ok(None);
        };
        not_found_as_none(result.bytes().await)
    }

    async fn size(&self, key: &str) -> io::Result<Option<u64>> {
        Ok(not_found_as_none(self.store.head(&self.path(key)).await)?.map(|meta| meta.size))
    }

    async fn open(&self, key: &str, range: Option<Range<u64>>) -> io::Result<Option<Object>> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let Some(result) = not_found_as_none(self.store.get_opts(&self.path(key), options).await)?
        else {
            return Ok(None);
        };
        Ok(Some(Object {
            size: result.meta.size,
            body: result.into_stream().map_err(io_error).boxed(),
        }))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<Entry>> {
        self.store
            .list(Some(&self.path(prefix)))
            .map_ok(|meta| Entry {
                key: self.key(&meta.location),
                size: meta.size,
                modified: meta.last_modified.into(),
            })
            .map_err(io_error)
            .try_collect()
            .await
    }

    async fn list_folders(&self, prefix: &str) -> io::Result<Vec<String>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.path(prefix)))
            .await
            .map_err(io_error)?;
        Ok(listed
            .common_prefixes
            .iter()
            .map(|path| format!("{}/", self.key(path)))
            .collect())
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        not_found_as_none(self.store.delete(&self.path(key)).await).map(drop)
    }

    async fn delete_all(&self, prefix: &str) -> io::Result<()> {
        let locations = self
            .store
            .list(Some(&self.path(prefix)))
            .map_ok(|meta| meta.location)
            .boxed();
        self.store
            .delete_stream(locations)
            .try_for_each(|_| async { Ok(()) })
            .await
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(()),
                e => Err(io_error(e)),
            })
    }
}

enum Pending {
    Buffer(BytesMut),
    Multipart(WriteMultipart),
}

struct S3Writer {
    store: Arc<dyn ObjectStore>,
    path: Path,
    state: Pending,
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        match &mut self.state {
            Pending::Buffer(buffer) => buffer.extend_from_slice(&chunk),
            Pending::Multipart(upload) => {
                upload.put(chunk);
                upload
                    .wait_for_capacity(CHUNKS_IN_FLIGHT)
                    .await
                    .map_err(io_error)?;
            }
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> io::Result<()> {
        match self.state {
            Pending::Buffer(buffer) => self
                .store
                .put(&self.path, PutPayload::from(buffer.freeze()))
                .await
                .map(drop)
                .map_err(io_error),
            Pending::Multipart(upload) => upload.finish().await.map(drop).map_err(io_error),
        }
    }

    async fn abort(self: Box<Self>) {
        if let Pending::Multipart(upload) = self.state {
            // What fails to abort here is left to the bucket's lifecycle
            // rule for incomplete multipart uploads.
            if let Err(e) = upload.abort().await {
                tracing::warn!(error = %e, "aborting a multipart upload failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls() {
        let ok = |url: &str| parse_url(url).unwrap();
        assert_eq!(ok("s3://b"), ("b".into(), "".into()));
        assert_eq!(ok("s3://b/"), ("b".into(), "".into()));
        assert_eq!(ok("s3://b/vod/ugc/"), ("b".into(), "vod/ugc/".into()));
        for bad in ["b/p", "s3://", "s3:///p", "s3://b/../x", "http://b/p"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
