//! Upload sessions, parts and finished media, written once over a
//! [`Backend`]: the local disk (`disk.rs`, the default) or an S3-compatible
//! bucket (`s3.rs`). Keys (see `docs/server.md`):
//!
//! ```text
//! apps/{hex SecretId}/uploads/{sha}/state.json          {fileSize, dataSize}
//! apps/{hex SecretId}/uploads/{sha}/...                 the parts (`parts.rs`)
//! apps/{hex SecretId}/uploads/{sha}/finishing.json      the finish lease {expiresMs}
//! apps/{hex SecretId}/files/{sha}.json                  the published record
//! media/{key}/f0[.ext]                                  finished media (served)
//! outbox/{fileId}.json                                  a notification to deliver
//! ```
//!
//! Nothing that matters lives in one process, so any number of servers may
//! share a bucket or a data folder: parts are kept by a [`Parts`] store (a
//! part per object in a bucket, one file per upload on disk); at finish the
//! parts are hashed in order with SHA-1 into the media object, and the
//! record is created only if absent, the one conditional write that decides which of two
//! racing finishes publishes. So that they do not both assemble, a finish
//! first takes the upload's lease (`finishing.json`, also created only if
//! absent, renewed while it assembles, taken over once expired); a finish
//! that finds it held waits for the record.

pub mod backend;
mod disk;
mod disk_parts;
mod group_sync;
mod part_buf;
mod part_md5;
mod parts;
mod s3;

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use vod_ugc_upload::plan::PartPlan;
use vod_ugc_upload::protocol::to_hex;

use self::backend::{Backend, Object};
use self::part_buf::PartBuf;
use self::part_md5::PartMd5;
use self::parts::{Md5Check, Parts};

/// Largest file accepted (1 TiB): beyond any real upload, and it keeps part
/// counts and offsets far from overflow.
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// How long a finish's lease holds unless renewed: once it has expired (its
/// holder died), another finish takes it over.
const LEASE: Duration = Duration::from_secs(30);
/// How often the holder renews its lease while it assembles.
const LEASE_RENEWAL: Duration = Duration::from_secs(10);
/// How often a finish waiting for another one looks for its record.
const LEASE_POLL: Duration = Duration::from_millis(250);

/// Why a storage operation did not happen. Each maps to one protocol code.
#[derive(Debug)]
pub enum StoreError {
    /// A parameter does not fit the upload (offset, size, fileSize).
    Protocol(String),
    /// No upload of this sha was initialised in this app.
    NoUpload,
    /// Finish was called while parts are missing.
    Incomplete(String),
    /// The body does not match its declared length or MD5.
    Body { message: String, can_retry: bool },
    /// The assembled file's SHA-1 is not `fileSha`; the upload was discarded.
    ShaMismatch(String),
    /// Writing state failed (disk full, permissions, the bucket...). The
    /// error's text may name paths: it is logged, never answered.
    Write(io::Error),
    /// Reading state failed; as for `Write`.
    Read(io::Error),
}

type Result<T> = std::result::Result<T, StoreError>;

/// What InitUploadUGC found.
#[derive(Debug)]
pub enum InitOutcome {
    /// Nothing stored yet: upload every part.
    Fresh,
    /// Some parts are stored; the upload's part size is fixed.
    Resume {
        part_size: u64,
        parts: Vec<StoredPart>,
    },
    /// The file is finished and verified.
    Done(MediaRecord),
}

/// A part held by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    pub offset: u64,
    pub len: u64,
    pub md5: String,
}

/// A finished, verified file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaRecord {
    pub file_id: String,
    /// The folder under `media/`: 128 random bits, so that its URL cannot
    /// be guessed (see `crate::ids`). Absent in records written before keys
    /// existed, whose folder is the fileId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub ext: Option<String>,
    pub size: u64,
}

impl MediaRecord {
    /// The media file's name inside its folder.
    pub fn file_name(&self) -> String {
        match &self.ext {
            Some(ext) => format!("f0.{ext}"),
            None => "f0".to_owned(),
        }
    }

    /// `{key}/f0[.ext]`: where the file is, below `/media/` in URLs and
    /// `media/` in storage; the one place that decides it.
    pub fn media_path(&self) -> String {
        let dir = self.key.as_deref().unwrap_or(&self.file_id);
        format!("{dir}/{}", self.file_name())
    }
}

/// What FinishUploadUGC ended with.
#[derive(Debug)]
pub struct Finished {
    pub record: MediaRecord,
    /// True for the one call that published the file; false when it was
    /// already published (a repeated finish, or a racing one that won).
    pub newly_published: bool,
    /// Bytes of parts this call read back and assembled: 0 when it
    /// answered a record another finish wrote (or waited for).
    pub assembled: u64,
}

impl Finished {
    /// The answer of a file published by another finish (or before).
    fn published_before(record: MediaRecord) -> Finished {
        Finished {
            record,
            newly_published: false,
            assembled: 0,
        }
    }
}

/// The finish lease of an upload (`Keys::lease`): while it holds, one
/// finish assembles and the others wait for its record.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lease {
    /// Unix time in ms (the holder's clock) after which it may be taken over.
    expires_ms: u64,
}

impl Lease {
    fn from_now() -> Lease {
        Lease {
            expires_ms: unix_ms() + LEASE.as_millis() as u64,
        }
    }

    fn expired(&self) -> bool {
        unix_ms() > self.expires_ms
    }
}

fn unix_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

/// What an unfinished upload is: fixed at init, its part size adjustable
/// only while no part is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionState {
    file_size: u64,
    data_size: u64,
}

impl SessionState {
    fn plan(&self) -> Result<PartPlan> {
        PartPlan::new(self.file_size, self.data_size).map_err(|e| {
            StoreError::Read(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        })
    }
}

/// The keys of one (app, sha).
struct Keys {
    /// The upload's folder: state and parts; removed when it ends.
    upload: String,
    state: String,
    /// The finish lease: inside the upload's folder, so it goes with it.
    lease: String,
    record: String,
}

impl Keys {
    fn new(app: &str, sha: &str) -> Keys {
        // Hex keeps any SecretId a safe path segment.
        let app = format!("apps/{}/", to_hex(app.as_bytes()));
        let upload = format!("{app}uploads/{sha}/");
        Keys {
            state: format!("{upload}state.json"),
            lease: format!("{upload}finishing.json"),
            record: format!("{app}files/{sha}.json"),
            upload,
        }
    }
}

fn media_key(path: &str) -> String {
    format!("media/{path}")
}

/// Where the notification of the file `file_id` waits until delivered.
pub fn outbox_key(file_id: &str) -> String {
    format!("{OUTBOX}{file_id}.json")
}

const OUTBOX: &str = "outbox/";

/// Where storage lives, from the command line.
pub enum Location<'a> {
    Disk(&'a std::path::Path),
    /// `s3://BUCKET/PREFIX`
    S3(&'a str),
}

/// The storage (cheap to clone: the clones share their backend).
#[derive(Clone)]
pub struct Storage {
    backend: Arc<dyn Backend>,
    /// Where parts are kept until their upload is finished.
    parts: Arc<dyn Parts>,
    /// Checks the parts' MD5s, several parts at once.
    part_md5: Arc<PartMd5>,
}

/// What a finish that publishes leaves in the outbox for the file it
/// publishes (`--notify-url`): the notification's body, made from the
/// record.
pub type Note<'a> = &'a (dyn Fn(&MediaRecord) -> Vec<u8> + Sync);

impl Storage {
    /// Opens the data folder or connects to the bucket.
    pub async fn open(location: Location<'_>) -> io::Result<Storage> {
        let (backend, parts): (Arc<dyn Backend>, Arc<dyn Parts>) = match location {
            Location::Disk(root) => (
                Arc::new(disk::Disk::open(root)?),
                Arc::new(disk_parts::DiskParts::new(root)),
            ),
            Location::S3(url) => {
                let s3: Arc<dyn Backend> = Arc::new(s3::S3::connect(url).await?);
                (s3.clone(), Arc::new(parts::ObjectParts::new(s3)))
            }
        };
        Ok(Storage {
            backend,
            parts,
            part_md5: Arc::new(PartMd5::new()),
        })
    }

    /// InitUploadUGC: instant upload, resume, or a (re)started session.
    pub async fn init(
        &self,
        app: &str,
        sha: &str,
        file_size: u64,
        part_size: u64,
    ) -> Result<InitOutcome> {
        PartPlan::new(file_size, part_size).map_err(|e| StoreError::Protocol(e.to_string()))?;
        if file_size > MAX_FILE_SIZE {
            return Err(StoreError::Protocol(format!(
                "fileSize {file_size} is over the limit of {MAX_FILE_SIZE}"
            )));
        }
        let keys = Keys::new(app, sha);
        if let Some(record) = self.record(&keys).await? {
            if record.size != file_size {
                return Err(size_conflict(record.size, file_size));
            }
            return Ok(InitOutcome::Done(record));
        }
        let wanted = SessionState {
            file_size,
            data_size: part_size,
        };
        match self.read_json::<SessionState>(&keys.state).await? {
            Some(state) if state.file_size != file_size => {
                Err(size_conflict(state.file_size, file_size))
            }
            Some(state) => {
                let parts = self.parts(&keys, &state.plan()?).await?;
                if !parts.is_empty() {
                    return Ok(InitOutcome::Resume {
                        part_size: state.data_size,
                        parts,
                    });
                }
                if state != wanted {
                    self.write_json(&keys.state, &wanted).await?;
                }
                self.begin(&keys, file_size).await
            }
            None => {
                self.write_json(&keys.state, &wanted).await?;
                self.begin(&keys, file_size).await
            }
        }
    }

    /// A fresh upload's parts store, ready before Init answers.
    async fn begin(&self, keys: &Keys, file_size: u64) -> Result<InitOutcome> {
        self.parts
            .begin(&keys.upload, file_size)
            .await
            .map_err(StoreError::Write)?;
        Ok(InitOutcome::Fresh)
    }

    /// UploadPartUGC: checks the part against the upload's plan, gathers
    /// the body in memory (a part is at most 1 MiB), checks its length,
    /// and stores it while its MD5 is checked: a refused part is never
    /// kept (never listed, never in place of a part kept), and the hashing
    /// (a quarter of a part's time on the server in BENCHMARKS.md, when it
    /// came first) runs beside the write and sync.
    ///
    /// `declared_len` is the request's Content-Length, checked before a byte
    /// is read.
    pub async fn put_part<S, E>(
        &self,
        app: &str,
        sha: &str,
        part: (u64, u64),
        md5: &str,
        declared_len: Option<u64>,
        body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (offset, len) = part;
        // From here on, hashing threads wait a little for this body.
        let receiving = self.part_md5.receiving();
        let keys = Keys::new(app, sha);
        let state = self
            .read_json::<SessionState>(&keys.state)
            .await?
            .ok_or(StoreError::NoUpload)?;
        state
            .plan()?
            .check(offset, len)
            .map_err(|e| StoreError::Protocol(format!("{e} (dataSize {})", state.data_size)))?;
        if let Some(declared) = declared_len.filter(|d| *d != len) {
            return Err(body_error(format!(
                "Content-Length {declared} is not dataSize {len}"
            )));
        }

        let bytes = receive(body, len).await?;
        // Hashed while it is being stored: the store keeps nothing whose
        // check fails (see `Parts::put`).
        let (outcome, check) = Md5Check::pending();
        let hashed = async {
            let digest = self.part_md5.digest(receiving, bytes.clone()).await;
            let actual = to_hex(&digest.map_err(StoreError::Read)?);
            // Dropped unsent on an error: the check fails.
            let _ = outcome.send(actual == md5);
            Ok(actual)
        };
        let stored = async {
            // The upload may have been finished, discarded or re-planned
            // while the body was on its way.
            match self.read_json::<SessionState>(&keys.state).await? {
                None => return Err(StoreError::NoUpload),
                Some(now) if now != state => {
                    return Err(StoreError::Protocol(format!(
                        "the upload's part size changed to {} while this part was sent",
                        now.data_size
                    )))
                }
                Some(_) => {}
            }
            let (upload, size) = (&keys.upload, state.file_size);
            let put = self
                .parts
                .put(upload, size, offset, md5, bytes.clone(), check);
            match put.await {
                Ok(()) => Ok(()),
                // Finished or discarded since the state was read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NoUpload),
                Err(e) => Err(StoreError::Write(e)),
            }
        };
        let (actual, stored): (Result<String>, Result<()>) = tokio::join!(hashed, stored);
        // A body that fails its MD5 is refused as such, whatever the store
        // said (it kept nothing).
        let actual = actual?;
        if actual != md5 {
            return Err(body_error(format!(
                "the body's MD5 is {actual}, not dataMd5 {md5}"
            )));
        }
        stored
    }

    /// FinishUploadUGC: assembles the parts in order through SHA-1 into the
    /// media object, and only when the hash is `fileSha` publishes it under
    /// a new fileId. A published file answers its record, whoever
    /// published it.
    ///
    /// One finish at a time assembles an upload, on any instance: it holds
    /// the upload's lease meanwhile; the others wait for its record (a
    /// client retrying a long finish, a racing finish elsewhere). Should it
    /// fail, the next takes the lease and tries for itself. Correctness
    /// does not rest on the lease (the record's conditional create decides
    /// what is published): it only saves the work twice.
    ///
    /// With a `note`, the file's notification is in the outbox
    /// ([`outbox_key`]) before the file is published: none is lost to a
    /// crash (a note of a file that was not published is removed).
    pub async fn finish(
        &self,
        app: &str,
        sha: &str,
        ext: Option<String>,
        note: Option<Note<'_>>,
    ) -> Result<Finished> {
        let keys = Keys::new(app, sha);
        loop {
            if let Some(record) = self.record(&keys).await? {
                return Ok(Finished::published_before(record));
            }
            if self.take_lease(&keys).await? {
                break;
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
        let published = self.publish_leased(&keys, sha, ext, note).await;
        if let Err(e) = self.backend.delete(&keys.lease).await {
            tracing::warn!(error = %e, "releasing a finish lease failed; it expires");
        }
        match published {
            Ok(finished) => Ok(finished),
            // Another server may have published the file and removed the
            // parts while this one read them.
            Err(e) => match self.record(&keys).await? {
                Some(record) => Ok(Finished::published_before(record)),
                None => Err(e),
            },
        }
    }

    /// Takes the upload's finish lease: true when this call holds it now,
    /// false while another finish holds it. An expired one (its holder
    /// died) is removed, to be taken at the next try.
    async fn take_lease(&self, keys: &Keys) -> Result<bool> {
        let taken = self
            .create_json_if_absent(&keys.lease, &Lease::from_now())
            .await?;
        if !taken {
            if let Some(held) = self.read_json::<Lease>(&keys.lease).await? {
                if held.expired() {
                    tracing::info!("a finish lease expired; taking over");
                    self.backend
                        .delete(&keys.lease)
                        .await
                        .map_err(StoreError::Write)?;
                }
            }
        }
        Ok(taken)
    }

    /// [`Storage::publish`], renewing the lease until it ends (a renewal
    /// under way is let finish, then the caller releases the lease).
    async fn publish_leased(
        &self,
        keys: &Keys,
        sha: &str,
        ext: Option<String>,
        note: Option<Note<'_>>,
    ) -> Result<Finished> {
        let done = tokio::sync::Notify::new();
        let publish = async {
            let published = self.publish(keys, sha, ext, note).await;
            done.notify_one();
            published
        };
        let renew = async {
            loop {
                tokio::select! {
                    () = done.notified() => break,
                    () = tokio::time::sleep(LEASE_RENEWAL) => {
                        if let Err(e) = self.write_json(&keys.lease, &Lease::from_now()).await {
                            tracing::warn!(error = ?e, "renewing a finish lease failed");
                        }
                    }
                }
            }
        };
        tokio::join!(publish, renew).0
    }

    async fn publish(
        &self,
        keys: &Keys,
        sha: &str,
        ext: Option<String>,
        note: Option<Note<'_>>,
    ) -> Result<Finished> {
        let state = self
            .read_json::<SessionState>(&keys.state)
            .await?
            .ok_or(StoreError::NoUpload)?;
        let plan = state.plan()?;
        let parts = self.parts(keys, &plan).await?;
        if parts.len() as u64 != plan.count() {
            let first_missing = plan
                .parts()
                .map(|p| p.offset)
                .find(|o| parts.iter().all(|s| s.offset != *o))
                .unwrap_or_default();
            return Err(StoreError::Incomplete(format!(
                "{} of {} parts are missing (the first at offset {first_missing}); upload them, then finish",
                plan.count() - parts.len() as u64,
                plan.count()
            )));
        }

        // Ids are random, so uniqueness needs no shared counter; two
        // finishes of one file are settled by the record's conditional
        // create, not by the id.
        let record = MediaRecord {
            file_id: crate::ids::file_id(),
            key: Some(crate::ids::media_key()),
            ext,
            size: plan.file_size(),
        };
        let media = media_key(&record.media_path());
        let actual = self
            .parts
            .publish(&keys.upload, &parts, record.size, sha, &media)
            .await
            .map_err(StoreError::Write)?;
        if actual != sha {
            self.backend
                .delete_all(&keys.upload)
                .await
                .map_err(StoreError::Write)?;
            return Err(StoreError::ShaMismatch(format!(
                "the assembled file's SHA-1 is {actual}, not fileSha {sha}; the upload was discarded"
            )));
        }

        let outbox = match note {
            Some(note) => {
                let key = outbox_key(&record.file_id);
                self.write_bytes(&key, note(&record)).await?;
                Some(key)
            }
            None => None,
        };
        // The commit point: from here on the file is instant-uploadable and
        // finish answers it again.
        let newly_published = self.create_json_if_absent(&keys.record, &record).await?;
        let record = if newly_published {
            record
        } else {
            // A racing finish published first: its record is the file.
            tracing::info!(file_id = %record.file_id, "another finish published first; dropping this copy");
            for key in [Some(media), outbox].into_iter().flatten() {
                if let Err(e) = self.backend.delete(&key).await {
                    tracing::warn!(error = %e, "removing a duplicate media object or note failed");
                }
            }
            self.record(keys).await?.ok_or_else(|| {
                StoreError::Read(io::Error::other("the published record vanished"))
            })?
        };
        if let Err(e) = self.backend.delete_all(&keys.upload).await {
            // The file is published; what is left expires.
            tracing::warn!(error = %e, "removing a finished upload's parts failed");
        }
        Ok(Finished {
            assembled: record.size,
            record,
            newly_published,
        })
    }

    /// The size of the media at `path` (below `/media/`), if it exists.
    pub async fn media_size(&self, path: &str) -> io::Result<Option<u64>> {
        self.backend.size(&media_key(path)).await
    }

    /// Streams the media at `path`, or a byte range of it.
    pub async fn open_media(
        &self,
        path: &str,
        range: Option<Range<u64>>,
    ) -> io::Result<Option<Object>> {
        self.backend.open(&media_key(path), range).await
    }

    /// Deletes every unfinished upload that nothing was written to for
    /// `max_idle` (its state and parts); the number deleted. Safe to run on
    /// every instance at once: deleting is idempotent.
    ///
    /// An upload folder with nothing in it is left alone: it is most likely
    /// one whose InitUploadUGC (on this or another instance) has created the
    /// folder and not yet its files, and deleting it would take those files
    /// with it as they appear (the folder holds nothing to free anyway).
    pub async fn expire_unfinished(&self, max_idle: Duration) -> io::Result<usize> {
        let cutoff = SystemTime::now()
            .checked_sub(max_idle)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut expired = 0;
        for app in self.backend.list_folders("apps/").await? {
            for upload in self.backend.list_folders(&format!("{app}uploads/")).await? {
                let entries = self.backend.list(&upload).await?;
                let Some(last_write) = entries.iter().map(|e| e.modified).max() else {
                    continue;
                };
                if last_write < cutoff {
                    self.backend.delete_all(&upload).await?;
                    expired += 1;
                }
            }
        }
        Ok(expired)
    }

    async fn record(&self, keys: &Keys) -> Result<Option<MediaRecord>> {
        self.read_json(&keys.record).await
    }

    async fn read_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>> {
        match self.backend.read(key).await.map_err(StoreError::Read)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Read(io::Error::new(io::ErrorKind::InvalidData, e))),
            None => Ok(None),
        }
    }

    async fn write_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.write_bytes(key, to_json(value)?).await
    }

    /// Writes `value` at `key` unless something is there already: true when
    /// this call created it (the commit points of records and leases).
    async fn create_json_if_absent<T: Serialize>(&self, key: &str, value: &T) -> Result<bool> {
        self.backend
            .create_if_absent(key, to_json(value)?.into())
            .await
            .map_err(StoreError::Write)
    }

    async fn write_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let write = async {
            let mut writer = self.backend.create(key, bytes.len() as u64).await?;
            writer.write(bytes.into()).await?;
            writer.commit().await
        };
        write.await.map_err(StoreError::Write)
    }

    /// The published record of `sha` in `app`, if any.
    pub async fn published(&self, app: &str, sha: &str) -> Result<Option<MediaRecord>> {
        self.record(&Keys::new(app, sha)).await
    }

    /// The notifications in the outbox: (key, body).
    pub async fn outbox(&self) -> io::Result<Vec<(String, Bytes)>> {
        let mut notes = Vec::new();
        for entry in self.backend.list(OUTBOX).await? {
            if let Some(body) = self.backend.read(&entry.key).await? {
                notes.push((entry.key, body));
            }
        }
        Ok(notes)
    }

    /// Removes a notification from the outbox (delivered, or void).
    pub async fn remove_note(&self, key: &str) -> io::Result<()> {
        self.backend.delete(key).await
    }

    /// The stored parts that fit the plan, one per offset, in order.
    async fn parts(&self, keys: &Keys, plan: &PartPlan) -> Result<Vec<StoredPart>> {
        self.parts
            .list(&keys.upload, plan)
            .await
            .map_err(StoreError::Read)
    }
}

/// Gathers `body` whole (a part: at most 1 MiB, the largest part size the
/// plan allows); refuses it as soon as it passes `len`, and at the end
/// unless it is exactly `len` bytes.
async fn receive<S, E>(mut body: S, len: u64) -> Result<Bytes>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let capacity =
        usize::try_from(len).map_err(|_| body_error(format!("dataSize {len} is too large")))?;
    let mut buf = PartBuf::with_capacity(capacity);
    while let Some(chunk) = body.next().await {
        let received = buf.len();
        let chunk = chunk.map_err(|e| StoreError::Body {
            message: format!("reading the body failed after {received} bytes: {e}"),
            can_retry: true,
        })?;
        if chunk.len() > capacity - received {
            return Err(body_error(format!(
                "the body is longer than dataSize {len}"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() != capacity {
        return Err(body_error(format!(
            "the body has {} bytes, not dataSize {len}",
            buf.len()
        )));
    }
    Ok(buf.freeze())
}

/// A stored JSON document's bytes.
fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Write(io::Error::other(e)))
}

fn size_conflict(known: u64, asked: u64) -> StoreError {
    StoreError::Protocol(format!(
        "this fileSha was initialised with fileSize {known}, not {asked}"
    ))
}

fn body_error(message: String) -> StoreError {
    StoreError::Body {
        message,
        can_retry: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_names() {
        let mut r = MediaRecord {
            file_id: "1".into(),
            key: Some("k".into()),
            ext: Some("mp4".into()),
            size: 1,
        };
        assert_eq!(
            (r.file_name(), r.media_path()),
            ("f0.mp4".into(), "k/f0.mp4".into())
        );
        r.ext = None;
        assert_eq!(r.file_name(), "f0");
        // A record from before media keys: its folder is the fileId.
        let old: MediaRecord =
            serde_json::from_str(r#"{"fileId":"1","ext":"mp4","size":1}"#).unwrap();
        assert_eq!(old.media_path(), "1/f0.mp4");
    }

    /// The sweep found an upload's folder empty while another instance's
    /// InitUploadUGC had just created it, and deleted the files Init then
    /// wrote (a two-instance test failed now and then on its next part).
    #[tokio::test]
    async fn expiring_leaves_an_upload_folder_that_is_being_created() {
        let root = tempfile::tempdir().unwrap();
        let storage = Storage::open(Location::Disk(root.path())).await.unwrap();
        let creating = root.path().join("apps/61/uploads/abc");
        std::fs::create_dir_all(&creating).unwrap();
        let idle = root.path().join("apps/61/uploads/def");
        std::fs::create_dir_all(&idle).unwrap();
        std::fs::write(idle.join("data"), b"x").unwrap();

        assert_eq!(storage.expire_unfinished(Duration::ZERO).await.unwrap(), 1);
        assert!(creating.is_dir(), "an empty upload folder is not swept");
        assert!(!idle.exists(), "an idle one is");
    }
}
