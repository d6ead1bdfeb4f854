//! Where an upload's parts are kept until it is finished: the second small
//! interface of storage, next to [`Backend`], composed per backend as
//! tusd composes its stores. [`ObjectParts`] keeps each part as an object
//! of any backend (S3: one PUT per part); the disk uses its own
//! (`disk_parts.rs`: one preallocated file per upload, no file per part).
//!
//! The guarantees are the same for both: a part is kept, durably, before
//! [`Parts::put`] returns (its data, its record, its folder); a part not
//! fully stored is not listed; when a part is re-sent, the one written last
//! is the one listed.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use sha1::{Digest, Sha1};
use tokio::sync::oneshot;
use vod_ugc_upload::plan::PartPlan;
use vod_ugc_upload::protocol::{is_md5_hex, to_hex};

use super::backend::{Backend, Object};
use super::StoredPart;

#[async_trait]
pub trait Parts: Send + Sync {
    /// Makes the upload at `upload` (its folder key, ending in `/`) ready
    /// to take parts of a file of `file_size` bytes, durably; keeps what it
    /// holds already. Called by every InitUploadUGC that does not answer
    /// an instant upload, before it answers.
    async fn begin(&self, upload: &str, file_size: u64) -> io::Result<()>;

    /// Stores a part (of a file of `file_size` bytes), durably before it
    /// returns, once `check` says its bytes have the MD5 `md5`: its bytes
    /// may be written while they are still being hashed, but a part whose
    /// check fails is never listed, nor does it replace one kept (then
    /// `InvalidData`).
    /// `NotFound` when the upload is not there (or is being published).
    async fn put(
        &self,
        upload: &str,
        file_size: u64,
        offset: u64,
        md5: &str,
        bytes: Bytes,
        check: Md5Check,
    ) -> io::Result<()>;

    /// The parts held that fit `plan`, one per offset, in order.
    async fn list(&self, upload: &str, plan: &PartPlan) -> io::Result<Vec<StoredPart>>;

    /// Assembles `parts` (all of the file, in order) into the object at
    /// `media`, of `size` bytes, hashing them with SHA-1; the object is
    /// made visible (durably) only when the hash is `sha`. Returns the
    /// hash, hex.
    async fn publish(
        &self,
        upload: &str,
        parts: &[StoredPart],
        size: u64,
        sha: &str,
        media: &str,
    ) -> io::Result<String>;
}

/// Whether a part's bytes have the MD5 they were sent with, known once
/// they are hashed: [`Parts::put`] starts storing them meanwhile (on the
/// machine of BENCHMARKS.md, hashing took a quarter of a part's time on
/// the server, in series with its write and sync before).
pub struct Md5Check(oneshot::Receiver<bool>);

impl Md5Check {
    /// A check to come, and where its outcome is sent (dropped unsent: failed).
    pub fn pending() -> (oneshot::Sender<bool>, Md5Check) {
        let (outcome, check) = oneshot::channel();
        (outcome, Md5Check(check))
    }

    /// A check already passed.
    #[cfg(test)]
    pub fn passed() -> Md5Check {
        let (outcome, check) = Md5Check::pending();
        let _ = outcome.send(true);
        check
    }

    /// Whether the bytes passed.
    pub async fn outcome(self) -> bool {
        self.0.await.unwrap_or(false)
    }

    /// The same, waited for on a blocking thread.
    pub fn wait(self) -> bool {
        self.0.blocking_recv().unwrap_or(false)
    }
}

/// The error of a part whose bytes failed their [`Md5Check`].
pub fn md5_mismatch() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the part's bytes do not have its MD5",
    )
}

/// Each part an object `{upload}parts/{offset}.{md5}` of a [`Backend`]: the
/// MD5 in the key makes storing a part one write and listing one listing.
pub struct ObjectParts {
    backend: Arc<dyn Backend>,
}

impl ObjectParts {
    pub fn new(backend: Arc<dyn Backend>) -> ObjectParts {
        ObjectParts { backend }
    }
}

fn part_key(upload: &str, offset: u64, md5: &str) -> String {
    format!("{upload}parts/{offset}.{md5}")
}

#[async_trait]
impl Parts for ObjectParts {
    async fn begin(&self, _upload: &str, _file_size: u64) -> io::Result<()> {
        Ok(())
    }

    async fn put(
        &self,
        upload: &str,
        _file_size: u64,
        offset: u64,
        md5: &str,
        bytes: Bytes,
        check: Md5Check,
    ) -> io::Result<()> {
        // An object is written whole at commit: nothing to gain by
        // starting before the check.
        if !check.outcome().await {
            return Err(md5_mismatch());
        }
        let key = part_key(upload, offset, md5);
        let mut writer = self.backend.create(&key, bytes.len() as u64).await?;
        writer.write(bytes).await?;
        writer.commit().await
    }

    async fn list(&self, upload: &str, plan: &PartPlan) -> io::Result<Vec<StoredPart>> {
        let prefix = format!("{upload}parts/");
        let mut latest: BTreeMap<u64, (SystemTime, StoredPart)> = BTreeMap::new();
        for entry in self.backend.list(&prefix).await? {
            let Some((offset, md5)) = entry.key.strip_prefix(&prefix).and_then(parse_part_name)
            else {
                continue;
            };
            if plan.check(offset, entry.size).is_err() {
                continue;
            }
            if latest
                .get(&offset)
                .is_some_and(|(t, _)| *t > entry.modified)
            {
                continue;
            }
            let part = StoredPart {
                offset,
                len: entry.size,
                md5: md5.to_owned(),
            };
            latest.insert(offset, (entry.modified, part));
        }
        Ok(latest.into_values().map(|(_, part)| part).collect())
    }

    async fn publish(
        &self,
        upload: &str,
        parts: &[StoredPart],
        size: u64,
        sha: &str,
        media: &str,
    ) -> io::Result<String> {
        let mut writer = self.backend.create(media, size).await?;
        let mut hasher = Sha1::new();
        let assembled = async {
            for part in parts {
                let Object { mut body, .. } = self
                    .backend
                    .open(&part_key(upload, part.offset, &part.md5), None)
                    .await?
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("the part at offset {} vanished", part.offset),
                        )
                    })?;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    writer.write(chunk).await?;
                }
            }
            Ok::<_, io::Error>(())
        };
        if let Err(e) = assembled.await {
            writer.abort().await;
            return Err(e);
        }
        let actual = to_hex(&hasher.finalize());
        if actual == sha {
            writer.commit().await?;
        } else {
            writer.abort().await;
        }
        Ok(actual)
    }
}

/// `{offset}.{md5}` → (offset, md5).
fn parse_part_name(name: &str) -> Option<(u64, &str)> {
    let (offset, md5) = name.split_once('.')?;
    let offset_ok = !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_digit());
    (offset_ok && is_md5_hex(md5)).then_some((offset.parse().ok()?, md5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        let md5 = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_part_name(&format!("1048576.{md5}")),
            Some((1_048_576, md5))
        );
        assert_eq!(parse_part_name(&format!("x.{md5}")), None);
        assert_eq!(parse_part_name("0.abc"), None);
        assert_eq!(parse_part_name(&format!(".{md5}")), None);
        assert_eq!(
            parse_part_name(&format!("99999999999999999999999.{md5}")),
            None
        );
    }
}
