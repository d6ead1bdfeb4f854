//! The local-disk backend (`--data DIR`): a key is a file below the data
//! folder. Objects are written to `tmp/`, fsynced, renamed into place and
//! their folder fsynced, so a committed object survives `kill -9` or a
//! power cut, and a crash mid-write leaves only a temp file, which the next
//! start removes.
//!
//! An object written in one piece from a page-aligned buffer (a part, see
//! `part_buf.rs`) goes to its temp file with `O_DIRECT` on Linux: the
//! bytes go from that buffer to the disk without being copied into the
//! page cache, which on the machine of BENCHMARKS.md took more CPU than
//! the part's MD5. The fsyncs stay: `O_DIRECT` alone does not make the
//! file's size and blocks durable, nor flush the disk's cache.

use std::fs::{self, File};
use std::io::{self, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use tempfile::TempPath;
use tokio::io::AsyncSeekExt;

use super::backend::{Backend, Entry, Object, ObjectWriter};
use super::part_buf;

/// Read buffer for streaming objects out; bounds memory per request.
const BUFFER: usize = 256 * 1024;

/// How much a writer holds before writing it out: one part (1 MiB), so a
/// part costs one trip to a blocking thread, its commit. Bounds memory per
/// writer (with the chunk being added: a part comes as one chunk).
const WRITE_BATCH: usize = 1024 * 1024;

pub struct Disk {
    root: PathBuf,
    tmp: PathBuf,
}

impl Disk {
    /// Opens (creating) the data folder and clears what a crash left in `tmp/`.
    pub fn open(root: &Path) -> io::Result<Disk> {
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)? {
            let path = entry?.path();
            if path.is_dir() {
                fs::remove_dir_all(path)?;
            } else {
                fs::remove_file(path)?;
            }
        }
        Ok(Disk {
            root: root.to_owned(),
            tmp,
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

#[async_trait]
impl Backend for Disk {
    async fn create(&self, key: &str, _size: u64) -> io::Result<Box<dyn ObjectWriter>> {
        Ok(Box::new(DiskWriter {
            tmp: self.tmp.clone(),
            temp: Ok(None),
            pending: Vec::new(),
            pending_len: 0,
            target: self.path(key),
        }))
    }

    async fn create_if_absent(&self, key: &str, bytes: Bytes) -> io::Result<bool> {
        let (tmp, target) = (self.tmp.clone(), self.path(key));
        blocking(move || {
            let (mut file, temp) = open_temp(&tmp, None)?;
            file.write_all(&bytes)?;
            file.sync_data()?;
            let folder = parent(&target);
            create_dirs(folder)?;
            // A hard link never replaces an existing file: the one atomic
            // "create if absent" a POSIX file system offers for a whole file.
            match fs::hard_link(&temp, &target) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
                Err(e) => return Err(e),
            }
            sync_dir(folder)?;
            Ok(true)
        })
        .await
    }

    async fn read(&self, key: &str) -> io::Result<Option<Bytes>> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(bytes.into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn size(&self, key: &str) -> io::Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn open(&self, key: &str, range: Option<Range<u64>>) -> io::Result<Option<Object>> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata().await?;
        if !meta.is_file() {
            return Ok(None);
        }
        let size = meta.len();
        let range = range.unwrap_or(0..size);
        file.seek(SeekFrom::Start(range.start)).await?;
        let limited = tokio::io::AsyncReadExt::take(file, range.end.saturating_sub(range.start));
        let body = tokio_util::io::ReaderStream::with_capacity(limited, BUFFER).boxed();
        Ok(Some(Object { size, body }))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<Entry>> {
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        blocking(move || {
            let mut entries = Vec::new();
            walk(&root.join(&prefix), &prefix, &mut entries)?;
            Ok(entries)
        })
        .await
    }

    async fn list_folders(&self, prefix: &str) -> io::Result<Vec<String>> {
        let (folder, prefix) = (self.path(prefix), prefix.to_owned());
        blocking(move || {
            let mut folders = Vec::new();
            for entry in read_dir_if_any(&folder)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    if let Some(name) = entry.file_name().to_str() {
                        folders.push(format!("{prefix}{name}/"));
                    }
                }
            }
            Ok(folders)
        })
        .await
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => {
                // Its folder goes too when it is left empty (a media folder).
                let _ = tokio::fs::remove_dir(parent(&path)).await;
                Ok(())
            }
        }
    }

    async fn delete_all(&self, prefix: &str) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.path(prefix)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Writes to a temp file, renamed over the key at commit. Chunks are kept
/// as received (no copy) and written out in batches of [`WRITE_BATCH`]
/// from a blocking thread: the last batch together with the fsync, the
/// rename and the folder's fsync, in one trip. The temp file is created
/// on the first trip, so an object of one batch (a part) costs one trip.
struct DiskWriter {
    tmp: PathBuf,
    /// The temp file once a batch went out (its path deletes it when
    /// dropped uncommitted); `Err` once a write failed: the object is then
    /// given up.
    temp: Result<Option<(File, TempPath)>, ()>,
    pending: Vec<Bytes>,
    pending_len: usize,
    target: PathBuf,
}

impl DiskWriter {
    fn take_temp(&mut self) -> io::Result<Option<(File, TempPath)>> {
        std::mem::replace(&mut self.temp, Err(()))
            .map_err(|()| io::Error::other("an earlier write of this object failed"))
    }
}

/// The temp file `temp`, or a new one in `tmp`.
fn open_temp(tmp: &Path, temp: Option<(File, TempPath)>) -> io::Result<(File, TempPath)> {
    match temp {
        Some(temp) => Ok(temp),
        None => Ok(tempfile::NamedTempFile::new_in(tmp)?.into_parts()),
    }
}

#[async_trait]
impl ObjectWriter for DiskWriter {
    async fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        // What is held goes out before it would pass a batch, so that an
        // object written in one chunk (a part) is still whole at commit.
        if !self.pending.is_empty() && self.pending_len + chunk.len() > WRITE_BATCH {
            let temp = self.take_temp()?;
            let tmp = self.tmp.clone();
            let pending = std::mem::take(&mut self.pending);
            self.pending_len = 0;
            let written = blocking(move || {
                let (mut file, path) = open_temp(&tmp, temp)?;
                write_chunks(&mut file, &pending)?;
                Ok((file, path))
            });
            self.temp = Ok(Some(written.await?));
        }
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<()> {
        let temp = self.take_temp()?;
        let DiskWriter {
            tmp,
            pending,
            target,
            ..
        } = *self;
        blocking(move || {
            let written = temp.is_some();
            let (mut file, path) = open_temp(&tmp, temp)?;
            match pending.as_slice() {
                [whole] if !written => write_at(&file, whole, 0)?,
                _ => write_chunks(&mut file, &pending)?,
            }
            // The data and the size: the rest of the inode is not needed to
            // read the object back.
            file.sync_data()?;
            let folder = parent(&target);
            create_dirs(folder)?;
            path.persist(&target).map_err(|e| e.error)?;
            sync_dir(folder)
        })
        .await
    }

    async fn abort(self: Box<Self>) {}
}

fn write_chunks(file: &mut File, chunks: &[Bytes]) -> io::Result<()> {
    chunks.iter().try_for_each(|chunk| file.write_all(chunk))
}

/// Writes `data` at `offset` of `file`: with `O_DIRECT` where `data` is
/// page-aligned in memory and the file system takes it (the whole pages;
/// the last partial page is written normally), else as any write. The
/// caller fsyncs.
pub(super) fn write_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    #[cfg(target_os = "linux")]
    {
        let pages = data.len() / part_buf::ALIGN * part_buf::ALIGN;
        if pages > 0 && part_buf::is_aligned(data) && direct::set(file, true).is_ok() {
            let written = file.write_all_at(&data[..pages], offset);
            direct::set(file, false)?;
            match written {
                Ok(()) => return file.write_all_at(&data[pages..], offset + pages as u64),
                // A file system (or an offset) that the flag does not take:
                // written normally below, over what may have gone out.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
    }
    file.write_all_at(data, offset)
}

#[cfg(target_os = "linux")]
pub(super) mod direct {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Turns `O_DIRECT` on or off for `file`'s later writes.
    pub fn set(file: &File, on: bool) -> io::Result<()> {
        let fd = file.as_raw_fd();
        // Safety: plain fcntl calls on a descriptor `file` owns.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 {
                return Err(io::Error::last_os_error());
            }
            let flags = if on {
                flags | libc::O_DIRECT
            } else {
                flags & !libc::O_DIRECT
            };
            if libc::fcntl(fd, libc::F_SETFL, flags) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Runs blocking file work off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

pub(super) fn parent(path: &Path) -> &Path {
    path.parent().expect("objects live in a folder")
}

fn read_dir_if_any(folder: &Path) -> io::Result<Vec<io::Result<fs::DirEntry>>> {
    match fs::read_dir(folder) {
        Ok(entries) => Ok(entries.collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Every file below `folder`, keyed as `prefix` + the relative path.
fn walk(folder: &Path, prefix: &str, out: &mut Vec<Entry>) -> io::Result<()> {
    for entry in read_dir_if_any(folder)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(&entry.path(), &format!("{prefix}{name}/"), out)?;
        } else {
            out.push(Entry {
                key: format!("{prefix}{name}"),
                size: meta.len(),
                modified: meta.modified()?,
            });
        }
    }
    Ok(())
}

/// Creates a folder and its missing parents, fsyncing each parent so the
/// new entries survive a crash.
pub(super) fn create_dirs(dir: &Path) -> io::Result<()> {
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
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        sync_dir(parent(dir))?;
    }
    Ok(())
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::part_buf::PartBuf;

    /// A part written in one aligned piece (the `O_DIRECT` path on Linux)
    /// reads back exactly, whole pages or not; so does one in pieces.
    #[tokio::test]
    async fn parts_read_back_exactly() {
        let root = tempfile::tempdir().unwrap();
        let disk = Disk::open(root.path()).unwrap();
        for len in [1, 4095, 4096, 4097, 524_288, 1_048_575, 1_048_576] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut buf = PartBuf::with_capacity(len);
            buf.extend_from_slice(&data);
            let whole = buf.freeze();
            assert!(part_buf::is_aligned(&whole));
            let mut writer = disk.create(&format!("p/{len}"), len as u64).await.unwrap();
            writer.write(whole).await.unwrap();
            writer.commit().await.unwrap();
            let mut writer = disk.create(&format!("q/{len}"), len as u64).await.unwrap();
            for piece in data.chunks(300_000) {
                writer.write(Bytes::copy_from_slice(piece)).await.unwrap();
            }
            writer.commit().await.unwrap();
            for key in [format!("p/{len}"), format!("q/{len}")] {
                assert_eq!(disk.read(&key).await.unwrap().unwrap(), data, "{key}");
            }
        }
    }
}
