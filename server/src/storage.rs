//! Upload sessions, parts and finished media on disk.
//!
//! Layout under the data folder (see `docs/server.md`):
//!
//! ```text
//! tmp/                                  files being written; emptied at start
//! media/{key}/f0[.ext]                  finished, verified media (served)
//! apps/{hex SecretId}/uploads/{sha}/state.json
//! apps/{hex SecretId}/uploads/{sha}/parts/{offset}.{md5}
//! apps/{hex SecretId}/files/{sha}.json  sha → {fileId, ext, size}: instant upload
//! ```
//!
//! Everything a client is told is stored is durable before the answer: data
//! is written to `tmp/`, fsynced, renamed into place and its folder fsynced.
//! A part's MD5 lives in its file name, so storing a part is one atomic
//! rename and `listParts` is a directory listing. State changes of one
//! upload are serialised by a per-upload lock; bodies are streamed without
//! it, so parallel parts of one upload are received in parallel.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use tokio::io::AsyncWriteExt;
use vod_ugc_upload::plan::PartPlan;
use vod_ugc_upload::protocol::{is_md5_hex, to_hex};


/// Largest file accepted (1 TiB): beyond any real upload, and it keeps part
/// counts and offsets far from overflow.
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// Copy buffer for streaming; bounds memory per request.
const BUFFER: usize = 256 * 1024;

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
    /// Writing state failed (disk full, permissions...).
    Write(io::Error),
    /// Reading state failed.
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
    /// `{key}/f0[.ext]`, the file's path under `media/` (and `/media/`).
    pub fn media_path(&self) -> String {
        let dir = self.key.as_deref().unwrap_or(&self.file_id);
        format!("{dir}/{}", self.file_name())
    }

    /// The media file's name inside `media/{fileId}/`.
    pub fn file_name(&self) -> String {
        match &self.ext {
            Some(ext) => format!("f0.{ext}"),
            None => "f0".to_owned(),
        }
    }
}

/// What FinishUploadUGC ended with.
#[derive(Debug)]
pub struct Finished {
    pub record: MediaRecord,
    /// True for the one call that published the file; false when it was
    /// already published (a repeated finish).
    pub newly_published: bool,
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

/// The paths of one (app, sha).
#[derive(Clone)]
struct UploadPaths {
    upload: PathBuf,
    parts: PathBuf,
    state: PathBuf,
    record: PathBuf,
    tmp: PathBuf,
    media: PathBuf,
}

pub struct Storage {
    root: PathBuf,
    locks: Mutex<HashMap<PathBuf, Weak<tokio::sync::Mutex<()>>>>,
}

impl Storage {
    /// Opens (creating) the data folder and clears what a crash left in `tmp/`.
    pub fn open(root: &Path) -> io::Result<Storage> {
        for dir in ["tmp", "media", "apps"] {
            fs::create_dir_all(root.join(dir))?;
        }
        for entry in fs::read_dir(root.join("tmp"))? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(path)?;
            } else {
                fs::remove_file(path)?;
            }
        }
        Ok(Storage {
            root: root.to_owned(),
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// Where finished media lives: `{fileId}/f0[.ext]` below it.
    pub fn media_root(&self) -> PathBuf {
        self.root.join("media")
    }

    fn paths(&self, app: &str, sha: &str) -> UploadPaths {
        let app_dir = self.root.join("apps").join(to_hex(app.as_bytes()));
        let upload = app_dir.join("uploads").join(sha);
        UploadPaths {
            parts: upload.join("parts"),
            state: upload.join("state.json"),
            upload,
            record: app_dir.join("files").join(format!("{sha}.json")),
            tmp: self.root.join("tmp"),
            media: self.media_root(),
        }
    }

    /// The lock of one upload. Entries of finished uploads die with their
    /// last guard and are pruned as the map grows.
    async fn lock(&self, paths: &UploadPaths) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            match locks.get(&paths.upload).and_then(Weak::upgrade) {
                Some(mutex) => mutex,
                None => {
                    if locks.len() >= 1024 {
                        locks.retain(|_, weak| weak.strong_count() > 0);
                    }
                    let mutex = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(paths.upload.clone(), Arc::downgrade(&mutex));
                    mutex
                }
            }
        };
        mutex.lock_owned().await
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
        let paths = self.paths(app, sha);
        let _guard = self.lock(&paths).await;
        blocking(move || {
            if let Some(record) = read_json::<MediaRecord>(&paths.record)? {
                if record.size != file_size {
                    return Err(size_conflict(record.size, file_size));
                }
                return Ok(InitOutcome::Done(record));
            }
            let wanted = SessionState {
                file_size,
                data_size: part_size,
            };
            match read_json::<SessionState>(&paths.state)? {
                Some(state) if state.file_size != file_size => {
                    Err(size_conflict(state.file_size, file_size))
                }
                Some(state) => {
                    let parts = list_parts(&paths.parts, &state.plan()?)?;
                    if !parts.is_empty() {
                        return Ok(InitOutcome::Resume {
                            part_size: state.data_size,
                            parts,
                        });
                    }
                    if state != wanted {
                        write_json_atomic(&paths.tmp, &paths.state, &wanted)?;
                    }
                    Ok(InitOutcome::Fresh)
                }
                None => {
                    create_dirs(&paths.parts)?;
                    write_json_atomic(&paths.tmp, &paths.state, &wanted)?;
                    Ok(InitOutcome::Fresh)
                }
            }
        })
        .await
    }

    /// UploadPartUGC: checks the part against the upload's plan, streams the
    /// body to a temp file while hashing it, refuses it on any mismatch (so
    /// nothing is stored), else makes it durable and renames it into place.
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
        mut body: S,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (offset, len) = part;
        let paths = self.paths(app, sha);
        let state_path = paths.state.clone();
        let state = blocking(move || read_json::<SessionState>(&state_path))
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

        let tmp_dir = paths.tmp.clone();
        let (file, tmp_path) =
            blocking(move || tempfile::NamedTempFile::new_in(tmp_dir).map_err(StoreError::Write))
                .await?
                .into_parts();
        let mut writer =
            tokio::io::BufWriter::with_capacity(BUFFER, tokio::fs::File::from_std(file));
        let mut hasher = Md5::new();
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Body {
                message: format!("reading the body failed after {received} bytes: {e}"),
                can_retry: true,
            })?;
            received += chunk.len() as u64;
            if received > len {
                return Err(body_error(format!(
                    "the body is longer than dataSize {len}"
                )));
            }
            hasher.update(&chunk);
            writer.write_all(&chunk).await.map_err(StoreError::Write)?;
        }
        if received != len {
            return Err(body_error(format!(
                "the body has {received} bytes, not dataSize {len}"
            )));
        }
        let actual = to_hex(&hasher.finalize());
        if actual != md5 {
            return Err(body_error(format!(
                "the body's MD5 is {actual}, not dataMd5 {md5}"
            )));
        }
        writer.flush().await.map_err(StoreError::Write)?;
        let file = writer.into_inner().into_std().await;

        let _guard = self.lock(&paths).await;
        let md5 = md5.to_owned();
        blocking(move || {
            file.sync_all().map_err(StoreError::Write)?;
            // The upload may have been finished, discarded or re-planned
            // while the body was on its way.
            match read_json::<SessionState>(&paths.state)? {
                None => return Err(StoreError::NoUpload),
                Some(now) if now != state => {
                    return Err(StoreError::Protocol(format!(
                        "the upload's part size changed to {} while this part was sent",
                        now.data_size
                    )))
                }
                Some(_) => {}
            }
            let name = format!("{offset}.{md5}");
            tmp_path
                .persist(paths.parts.join(&name))
                .map_err(|e| StoreError::Write(e.error))?;
            // A part re-sent with other bytes (same offset, another MD5)
            // replaces the old one: listParts lists one part per offset.
            for entry in fs::read_dir(&paths.parts).map_err(StoreError::Write)? {
                let entry = entry.map_err(StoreError::Write)?;
                let other = entry.file_name().to_string_lossy().into_owned();
                if other != name && parse_part_name(&other).is_some_and(|(o, _)| o == offset) {
                    fs::remove_file(entry.path()).map_err(StoreError::Write)?;
                }
            }
            sync_dir(&paths.parts).map_err(StoreError::Write)
        })
        .await
    }

    /// FinishUploadUGC: assembles the parts in order through SHA-1, and only
    /// when the hash is `fileSha` publishes the file under a new fileId and
    /// records it for instant upload. A finished upload answers its record.
    pub async fn finish(&self, app: &str, sha: &str, ext: Option<String>) -> Result<Finished> {
        let paths = self.paths(app, sha);
        let _guard = self.lock(&paths).await;
        let sha = sha.to_owned();
        blocking(move || {
            if let Some(record) = read_json::<MediaRecord>(&paths.record)? {
                return Ok(Finished { record, newly_published: false });
            }
            let state = read_json::<SessionState>(&paths.state)?.ok_or(StoreError::NoUpload)?;
            let plan = state.plan()?;
            let parts = list_parts(&paths.parts, &plan)?;
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

            let mut assembled = tempfile::NamedTempFile::new_in(&paths.tmp).map_err(StoreError::Write)?;
            let mut hasher = Sha1::new();
            let mut buffer = vec![0u8; BUFFER];
            for part in &parts {
                let mut input = File::open(paths.parts.join(format!("{}.{}", part.offset, part.md5)))
                    .map_err(StoreError::Read)?;
                loop {
                    let n = input.read(&mut buffer).map_err(StoreError::Read)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buffer[..n]);
                    assembled.write_all(&buffer[..n]).map_err(StoreError::Write)?;
                }
            }
            let actual = to_hex(&hasher.finalize());
            if actual != sha {
                fs::remove_dir_all(&paths.upload).map_err(StoreError::Write)?;
                return Err(StoreError::ShaMismatch(format!(
                    "the assembled file's SHA-1 is {actual}, not fileSha {sha}; the upload was discarded"
                )));
            }
            assembled.as_file().sync_all().map_err(StoreError::Write)?;

            let record = MediaRecord {
                file_id: crate::ids::file_id(),
                key: Some(crate::ids::media_key()),
                ext,
                size: plan.file_size(),
            };
            let media_dir = paths.media.join(record.media_path());
            let media_dir = media_dir.parent().expect("a media path has a folder");
            fs::create_dir(media_dir).map_err(StoreError::Write)?;
            assembled
                .persist(media_dir.join(record.file_name()))
                .map_err(|e| StoreError::Write(e.error))?;
            sync_dir(media_dir).map_err(StoreError::Write)?;
            sync_dir(&paths.media).map_err(StoreError::Write)?;
            // The record is the commit point: from here on the file is
            // instant-uploadable and finish answers it again.
            create_dirs(paths.record.parent().expect("a record has a folder"))?;
            write_json_atomic(&paths.tmp, &paths.record, &record)?;
            fs::remove_dir_all(&paths.upload).map_err(StoreError::Write)?;
            Ok(Finished { record, newly_published: true })
        })
        .await
    }

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

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Write(io::Error::other(e.to_string())))?
}

/// `{offset}.{md5}` → (offset, md5).
fn parse_part_name(name: &str) -> Option<(u64, &str)> {
    let (offset, md5) = name.split_once('.')?;
    let offset_ok = !offset.is_empty() && offset.bytes().all(|b| b.is_ascii_digit());
    (offset_ok && is_md5_hex(md5)).then_some((offset.parse().ok()?, md5))
}

/// The stored parts that fit the plan, one per offset, in order.
fn list_parts(dir: &Path, plan: &PartPlan) -> Result<Vec<StoredPart>> {
    let mut parts = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(parts),
        Err(e) => return Err(StoreError::Read(e)),
    };
    for entry in entries {
        let entry = entry.map_err(StoreError::Read)?;
        let name = entry.file_name();
        let Some((offset, md5)) = name.to_str().and_then(parse_part_name) else {
            continue;
        };
        let len = entry.metadata().map_err(StoreError::Read)?.len();
        if plan.check(offset, len).is_ok() {
            parts.push(StoredPart {
                offset,
                len,
                md5: md5.to_owned(),
            });
        }
    }
    parts.sort_by(|a, b| (a.offset, &a.md5).cmp(&(b.offset, &b.md5)));
    parts.dedup_by_key(|p| p.offset);
    Ok(parts)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Read(io::Error::new(io::ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Read(e)),
    }
}

/// Write a temp file, fsync it, rename it over `path`, fsync the folder:
/// after a crash the old or the new content is there, never a mix.
fn write_json_atomic<T: Serialize>(tmp_dir: &Path, path: &Path, value: &T) -> Result<()> {
    let write = || -> io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(tmp_dir)?;
        file.write_all(&serde_json::to_vec(value).map_err(io::Error::other)?)?;
        file.as_file().sync_all()?;
        file.persist(path).map_err(|e| e.error)?;
        sync_dir(path.parent().expect("state files live in a folder"))
    };
    write().map_err(StoreError::Write)
}

/// Creates a folder and its missing parents, fsyncing each parent so the
/// new entries survive a crash.
fn create_dirs(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut cursor = dir;
    while !cursor.exists() {
        missing.push(cursor);
        match cursor.parent() {
            Some(parent) => cursor = parent,
            None => break,
        }
    }
    for dir in missing.into_iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::Write(e)),
        }
        sync_dir(dir.parent().expect("created folders have a parent"))
            .map_err(StoreError::Write)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
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

    #[test]
    fn media_names() {
        let mut r = MediaRecord {
            file_id: "1".into(),
            key: Some("k".into()),
            ext: Some("mp4".into()),
            size: 1,
        };
        assert_eq!((r.file_name(), r.media_path()), ("f0.mp4".into(), "k/f0.mp4".into()));
        r.ext = None;
        assert_eq!(r.file_name(), "f0");
        // A record from before media keys: its folder is the fileId.
        let old: MediaRecord = serde_json::from_str(r#"{"fileId":"1","ext":"mp4","size":1}"#).unwrap();
        assert_eq!(old.media_path(), "1/f0.mp4");
    }

}
