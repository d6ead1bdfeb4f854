//! The disk's part store: one file per upload instead of one per part.
//!
//! ```text
//! {upload}data       the file being uploaded, preallocated to its size; a
//!                    part is written at its offset
//! {upload}received   one 64-byte record per 512 KiB of the file: the part
//!                    that starts there (offset, length, MD5, checksum)
//! ```
//!
//! Why: a new file per part cost ext4 an inode allocation per MiB received
//! (13 % of the server's CPU in BENCHMARKS.md's profile, on a journal-less
//! ext4 that scans recently freed inodes), and finishing copied every byte
//! into the media file. Here a part is one write into an existing file and
//! a finish hashes the file and hard-links it into `media/`: no copy.
//!
//! Durability, per part, in one trip to a blocking thread: the data is
//! written (`O_DIRECT` from the part's aligned buffer) and fdatasynced,
//! then its record is written and fdatasynced, then the part is answered.
//! A crash before the record is durable leaves a part that is not listed
//! (the record is what lists it; a torn record fails its checksum); a part
//! answered has both on disk. The files and their folder are created and
//! fsynced by InitUploadUGC, before it answers.
//!
//! Several processes may share the data folder: a part holds a lock on its
//! byte range of `data` (an open-file-description lock on Linux, a whole
//! file lock elsewhere) while it writes data and record, so of two writes
//! of one part the record left is the data left. A finish holds the whole
//! file while it hashes and links: it waits for parts being written, and a
//! part that comes after finds the file linked (two names) or deleted
//! (none), and is refused (`NotFound`) instead of changing published media.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use vod_ugc_upload::plan::PartPlan;
use vod_ugc_upload::protocol::{is_md5_hex, to_hex};

use super::disk::{blocking, create_dirs, parent, sync_dir, write_at};
use super::part_buf::PartBuf;
use super::parts::Parts;
use super::StoredPart;

const DATA: &str = "data";
const RECEIVED: &str = "received";
/// Parts start at multiples of the smallest part size (512 KiB): one
/// record slot per such step, whatever the upload's part size.
const GRAIN: u64 = 512 * 1024;
const RECORD: usize = 64;
/// Read size when hashing the file at finish.
const READ: usize = 1 << 20;

pub struct DiskParts {
    root: PathBuf,
}

impl DiskParts {
    pub fn new(root: &Path) -> DiskParts {
        DiskParts {
            root: root.to_owned(),
        }
    }
}

#[async_trait]
impl Parts for DiskParts {
    async fn begin(&self, upload: &str, file_size: u64) -> io::Result<()> {
        let folder = self.root.join(upload);
        blocking(move || {
            create_dirs(&folder)?;
            let slots = file_size.div_ceil(GRAIN) * RECORD as u64;
            for (name, len) in [(DATA, file_size), (RECEIVED, slots)] {
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(folder.join(name))?;
                if file.metadata()?.len() != len {
                    preallocate(&file, len)?;
                    file.sync_all()?;
                }
            }
            // Always: a concurrent begin may have created the files and not
            // yet synced their names.
            sync_dir(&folder)
        })
        .await
    }

    async fn put(&self, upload: &str, offset: u64, md5: &str, bytes: Bytes) -> io::Result<()> {
        let folder = self.root.join(upload);
        let len = bytes.len() as u64;
        let record = record(offset, len, md5)?;
        blocking(move || {
            let data = OpenOptions::new()
                .read(true)
                .write(true)
                .open(folder.join(DATA))?;
            lock(&data, offset, len)?;
            if data.metadata()?.nlink() != 1 {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the upload is published or deleted",
                ));
            }
            write_at(&data, &bytes, offset)?;
            data.sync_data()?;
            let received = OpenOptions::new().write(true).open(folder.join(RECEIVED))?;
            received.write_all_at(&record, offset / GRAIN * RECORD as u64)?;
            received.sync_data()
            // Closing `data` releases the lock.
        })
        .await
    }

    async fn list(&self, upload: &str, plan: &PartPlan) -> io::Result<Vec<StoredPart>> {
        let path = self.root.join(upload).join(RECEIVED);
        let plan = *plan;
        blocking(move || {
            let records = match std::fs::read(path) {
                Ok(records) => records,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            Ok(records
                .chunks_exact(RECORD)
                .enumerate()
                .filter_map(|(slot, record)| parse_record(record, slot as u64 * GRAIN))
                .filter(|part| plan.check(part.offset, part.len).is_ok())
                .collect())
        })
        .await
    }

    async fn publish(
        &self,
        upload: &str,
        _parts: &[StoredPart],
        size: u64,
        sha: &str,
        media: &str,
    ) -> io::Result<String> {
        let path = self.root.join(upload).join(DATA);
        let (target, sha) = (self.root.join(media), sha.to_owned());
        blocking(move || {
            let data = OpenOptions::new().read(true).write(true).open(&path)?;
            lock(&data, 0, 0)?;
            if data.metadata()?.len() != size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the upload's file does not have its size",
                ));
            }
            let actual = to_hex(&sha1_of(&data)?);
            if actual == sha {
                let folder = parent(&target);
                create_dirs(folder)?;
                std::fs::hard_link(&path, &target)?;
                sync_dir(folder)?;
            }
            Ok(actual)
        })
        .await
    }
}

/// The SHA-1 of `file`, read from its start: with `O_DIRECT` on Linux,
/// from the disk into an aligned buffer, skipping the page cache (the copy
/// out of it took a third of the server's CPU at finish, on the machine of
/// BENCHMARKS.md); else as any read.
fn sha1_of(file: &File) -> io::Result<[u8; 20]> {
    let mut buf = PartBuf::with_capacity(READ);
    let buf = &mut buf.bytes_mut()[..READ];
    #[cfg(target_os = "linux")]
    let mut direct = super::disk::direct::set(file, true).is_ok();
    let mut hasher = Sha1::new();
    let mut at = 0;
    loop {
        let n = match file.read_at(buf, at) {
            Ok(n) => n,
            // A file system that takes the flag but not these reads.
            #[cfg(target_os = "linux")]
            Err(e) if direct && at == 0 && e.raw_os_error() == Some(libc::EINVAL) => {
                super::disk::direct::set(file, false)?;
                direct = false;
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize().into())
}

/// Sets `file`'s size to `len`, its blocks allocated where the file system
/// can (contiguous, and no allocation while parts are written).
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let len = libc::off_t::try_from(len).map_err(io::Error::other)?;
        // Safety: a plain call on a descriptor `file` owns.
        if len > 0 && unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } == 0 {
            return Ok(());
        }
    }
    file.set_len(len)
}

/// Waits for, then holds, a write lock on `len` bytes of `file` from
/// `offset` (`len` 0: the whole file), until `file` is closed.
#[cfg(target_os = "linux")]
fn lock(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // Safety: a zeroed `flock` is valid; the fields are set below.
    let mut range: libc::flock = unsafe { std::mem::zeroed() };
    range.l_type = libc::F_WRLCK as _;
    range.l_whence = libc::SEEK_SET as _;
    range.l_start = libc::off_t::try_from(offset).map_err(io::Error::other)?;
    range.l_len = libc::off_t::try_from(len).map_err(io::Error::other)?;
    loop {
        // Safety: `range` outlives the call; the descriptor is `file`'s.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLKW, &range) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Elsewhere, the whole file: correct, with parts of one upload written
/// one at a time.
#[cfg(not(target_os = "linux"))]
fn lock(file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // Safety: a plain call on a descriptor `file` owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A part's record: offset (16 hex digits), length (8), MD5 (32), then the
/// FNV-1a hash of those 56 bytes (8), so a torn or stale-mixed record is
/// not read as a part.
fn record(offset: u64, len: u64, md5: &str) -> io::Result<[u8; RECORD]> {
    if offset % GRAIN != 0 || len > u64::from(u32::MAX) || !is_md5_hex(md5) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a part record needs an offset on a 512 KiB step, a length under 4 GiB and an MD5",
        ));
    }
    let body = format!("{offset:016x}{len:08x}{md5}");
    let text = format!("{body}{:08x}", fnv1a(body.as_bytes()));
    let mut out = [0; RECORD];
    out.copy_from_slice(text.as_bytes());
    Ok(out)
}

/// The part a record in the slot of `offset` names, if it is whole.
fn parse_record(record: &[u8], offset: u64) -> Option<StoredPart> {
    let text = std::str::from_utf8(record).ok()?;
    let hex = |range: std::ops::Range<usize>| u64::from_str_radix(text.get(range)?, 16).ok();
    let (md5, check) = (text.get(24..56)?, hex(56..64)?);
    let whole = hex(0..16)? == offset && check == u64::from(fnv1a(&record[..56]));
    (whole && is_md5_hex(md5)).then(|| StoredPart {
        offset,
        len: hex(16..24).unwrap_or_default(),
        md5: md5.to_owned(),
    })
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const UPLOAD: &str = "apps/61/uploads/x/";

    fn part(len: usize, seed: u8) -> (Bytes, String) {
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let mut buf = PartBuf::with_capacity(len);
        buf.extend_from_slice(&data);
        (buf.freeze(), to_hex(&md5::Md5::digest(&data)))
    }

    /// Of many writes of one part with different bytes at once, the record
    /// left names the bytes left.
    #[tokio::test]
    async fn racing_writes_of_a_part_leave_a_record_that_matches_the_data() {
        let root = tempfile::tempdir().unwrap();
        let store = Arc::new(DiskParts::new(root.path()));
        let size = 3 * GRAIN;
        store.begin(UPLOAD, size).await.unwrap();
        let writes: Vec<_> = (1..=12u8)
            .map(|seed| {
                let store = store.clone();
                tokio::spawn(async move {
                    let (bytes, md5) = part(GRAIN as usize, seed);
                    store.put(UPLOAD, GRAIN, &md5, bytes).await
                })
            })
            .collect();
        for write in writes {
            write.await.unwrap().unwrap();
        }
        let plan = PartPlan::new(size, GRAIN).unwrap();
        let listed = store.list(UPLOAD, &plan).await.unwrap();
        assert_eq!(listed.len(), 1);
        let data = std::fs::read(root.path().join(UPLOAD).join(DATA)).unwrap();
        let held = &data[GRAIN as usize..2 * GRAIN as usize];
        assert_eq!(listed[0].md5, to_hex(&md5::Md5::digest(held)));
    }

    /// Once published (hard-linked into media), the upload's file takes no
    /// more parts: published media never change.
    #[tokio::test]
    async fn a_part_after_publishing_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let store = DiskParts::new(root.path());
        let size = GRAIN + 100;
        store.begin(UPLOAD, size).await.unwrap();
        let (head, head_md5) = part(GRAIN as usize, 3);
        let (tail, tail_md5) = part(100, 5);
        store.put(UPLOAD, 0, &head_md5, head.clone()).await.unwrap();
        store
            .put(UPLOAD, GRAIN, &tail_md5, tail.clone())
            .await
            .unwrap();
        let file = [&head[..], &tail[..]].concat();
        let sha = to_hex(&Sha1::digest(&file));
        let plan = PartPlan::new(size, GRAIN).unwrap();
        let parts = store.list(UPLOAD, &plan).await.unwrap();
        assert_eq!(parts.len(), 2);
        // A wrong fileSha publishes nothing; the right one, the file.
        let wrong = "0".repeat(40);
        for (expected, media) in [(&wrong, "media/a/f0"), (&sha, "media/b/f0")] {
            let actual = store.publish(UPLOAD, &parts, size, expected, media);
            assert_eq!(actual.await.unwrap(), sha);
        }
        assert!(!root.path().join("media/a/f0").exists());
        assert_eq!(std::fs::read(root.path().join("media/b/f0")).unwrap(), file);
        let (other, other_md5) = part(GRAIN as usize, 7);
        let late = store.put(UPLOAD, 0, &other_md5, other).await.unwrap_err();
        assert_eq!(late.kind(), io::ErrorKind::NotFound);
        assert_eq!(std::fs::read(root.path().join("media/b/f0")).unwrap(), file);
    }

    #[test]
    fn records_read_back_and_torn_ones_do_not() {
        let md5 = "0123456789abcdef0123456789abcdef";
        let r = record(3 * GRAIN, 1 << 20, md5).unwrap();
        let part = parse_record(&r, 3 * GRAIN).unwrap();
        assert_eq!(
            (part.offset, part.len, part.md5.as_str()),
            (3 * GRAIN, 1 << 20, md5)
        );
        assert!(parse_record(&r, 2 * GRAIN).is_none(), "in another slot");
        assert!(parse_record(&[0; RECORD], 0).is_none(), "an empty slot");
        for cut in [1, 20, 40, 63] {
            let mut torn = [0; RECORD];
            torn[..cut].copy_from_slice(&r[..cut]);
            assert!(parse_record(&torn, 3 * GRAIN).is_none(), "torn at {cut}");
        }
        let other = record(3 * GRAIN, 1 << 20, "ffffffffffffffffffffffffffffffff").unwrap();
        let mut mixed = r;
        mixed[40..].copy_from_slice(&other[40..]);
        assert!(
            parse_record(&mixed, 3 * GRAIN).is_none(),
            "half old, half new"
        );
        assert!(record(GRAIN / 2, 1, md5).is_err());
    }
}
