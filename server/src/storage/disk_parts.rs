//! The disk's part store: one file per upload instead of one per part.
//!
//! ```text
//! {upload}data   the file being uploaded, preallocated to its size; a part
//!                is written at its offset. After its size, one 64-byte
//!                record per 512 KiB of it: the part that starts there
//!                (offset, length, MD5, checksum, confirmed or not). Cut
//!                off at publishing.
//! ```
//!
//! Why: a new file per part cost ext4 an inode allocation per MiB received
//! (13 % of the server's CPU in BENCHMARKS.md's profile, on a journal-less
//! ext4 that scans recently freed inodes), and finishing copied every byte
//! into the media file. Here a part is one write into an existing file and
//! a finish hashes the file and hard-links it into `media/`: no copy. The
//! records are in the same file so that one fdatasync makes a part's bytes
//! and its record durable together (they were two files, two syncs in a
//! row, before: BENCHMARKS.md, "one sync per part").
//!
//! Durability, per part, in one trip to a blocking thread, with one
//! fdatasync (shared with the upload's other parts in flight:
//! `group_sync.rs`): its record is written *unconfirmed*, its bytes
//! written (`O_DIRECT` from the part's aligned buffer) while they are
//! still being hashed, the file fdatasynced, and, once the MD5 check has
//! passed, the record marked *confirmed* by a plain write, never synced,
//! before the part is answered: it is only written once the bytes are durable, so
//! a confirmation on disk is always true. A listing trusts confirmed
//! records; an unconfirmed one (a crash between the sync and the
//! confirmation, or a part being written: its lock is waited for) counts
//! only once its bytes are read back with its MD5 and synced. So a part
//! answered is listed after a crash, and a listed part's bytes are on disk;
//! a torn record fails its checksum. A part sent again with other bytes
//! over a confirmed record first makes that record unconfirmed, durably,
//! before its bytes change: a crash in between cannot leave a confirmed
//! record whose MD5 is not the bytes'. Sent again with the same MD5, it is
//! already kept: nothing is written. Over a record of either kind, bytes
//! are written only after their MD5 check passed; a part failing it over
//! none has its record wiped (it was never listed: its bytes fail it). The file and its folder are created
//! and fsynced by InitUploadUGC, before it answers.
//!
//! Several processes may share the data folder: a part holds a lock on its
//! byte range of `data` (an open-file-description lock on Linux, a whole
//! file lock elsewhere) while it writes its bytes and record, so of two
//! writes of one part the record left is the bytes left, and a listing
//! checking an unconfirmed record holds a shared lock on the range. A
//! finish holds the whole file while it hashes, cuts the records off and
//! links: it waits for parts being written, and a part that comes after
//! finds the file linked (two names) or deleted (none), and is refused
//! (`NotFound`) instead of changing published media.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use md5::Digest;
use sha1::Sha1;
use vod_ugc_upload::plan::PartPlan;
use vod_ugc_upload::protocol::{is_md5_hex, to_hex};

use super::disk::{blocking, create_dirs, parent, sync_dir, write_at};
use super::group_sync::GroupSync;
use super::part_buf::PartBuf;
use super::parts::{md5_mismatch, Md5Check, Parts};
use super::StoredPart;

const DATA: &str = "data";
/// Parts start at multiples of the smallest part size (512 KiB): one
/// record slot per such step, whatever the upload's part size.
const GRAIN: u64 = 512 * 1024;
const RECORD: usize = 64;

/// Where the record of the part at `offset` is, in the `data` of a file
/// of `file_size` bytes.
fn slot(file_size: u64, offset: u64) -> u64 {
    file_size + offset / GRAIN * RECORD as u64
}

/// The length of `data` for a file of `file_size` bytes: the file, then
/// its records.
fn data_len(file_size: u64) -> u64 {
    slot(file_size, 0) + file_size.div_ceil(GRAIN) * RECORD as u64
}

/// Read size when hashing the file at finish.
const READ: usize = 1 << 20;

pub struct DiskParts {
    root: PathBuf,
    syncs: Arc<GroupSync>,
}

impl DiskParts {
    pub fn new(root: &Path) -> DiskParts {
        DiskParts {
            root: root.to_owned(),
            syncs: Arc::default(),
        }
    }
}

#[async_trait]
impl Parts for DiskParts {
    async fn begin(&self, upload: &str, file_size: u64) -> io::Result<()> {
        let folder = self.root.join(upload);
        blocking(move || {
            create_dirs(&folder)?;
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(folder.join(DATA))?;
            let len = data_len(file_size);
            if file.metadata()?.len() != len {
                preallocate(&file, len)?;
                file.sync_all()?;
            }
            // Always: a concurrent begin may have created the files and not
            // yet synced their names.
            sync_dir(&folder)
        })
        .await
    }

    async fn put(
        &self,
        upload: &str,
        file_size: u64,
        offset: u64,
        md5: &str,
        bytes: Bytes,
        check: Md5Check,
    ) -> io::Result<()> {
        let folder = self.root.join(upload);
        let len = bytes.len() as u64;
        let unconfirmed = record(offset, len, md5, false)?;
        let confirmed = record(offset, len, md5, true)?;
        let (md5, syncs) = (md5.to_owned(), Arc::clone(&self.syncs));
        blocking(move || {
            let data = OpenOptions::new()
                .read(true)
                .write(true)
                .open(folder.join(DATA))?;
            lock(&data, offset, len, Lock::Write)?;
            let held = data.metadata()?;
            if held.nlink() != 1 {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the upload is published or deleted",
                ));
            }
            if held.len() != data_len(file_size) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the upload's file is not of its size",
                ));
            }
            let slot = slot(file_size, offset);
            let mut record = [0; RECORD];
            data.read_exact_at(&mut record, slot)?;
            // Over a record (a part kept, or maybe kept), bytes are written
            // only once their check passed; over none, nothing can be lost,
            // and they are written while they are hashed.
            let held = parse_record(&record, offset);
            // The check still to wait for once the bytes are written.
            let pending = if held.is_none() {
                Some(check)
            } else if check.wait() {
                None
            } else {
                return Err(md5_mismatch());
            };
            match held {
                Some((part, true)) if part.len == len && part.md5 == md5 => return Ok(()),
                Some((_, true)) => {
                    data.write_all_at(&unconfirmed, slot)?;
                    syncs.sync_data(&data)?;
                }
                _ => data.write_all_at(&unconfirmed, slot)?,
            }
            write_at(&data, &bytes, offset)?;
            syncs.sync_data(&data)?;
            if pending.is_some_and(|check| !check.wait()) {
                // Never listed (its bytes fail its MD5) but in the way of
                // the next write of this part: wiped (a plain write: a
                // crash before it reaches the disk leaves it unlisted).
                data.write_all_at(&[0; RECORD], slot)?;
                return Err(md5_mismatch());
            }
            data.write_all_at(&confirmed, slot)
            // Closing `data` releases the lock.
        })
        .await
    }

    async fn list(&self, upload: &str, plan: &PartPlan) -> io::Result<Vec<StoredPart>> {
        let path = self.root.join(upload).join(DATA);
        let plan = *plan;
        blocking(move || {
            let data = match File::open(&path) {
                Ok(data) => data,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let size = plan.file_size();
            let mut records = vec![0; (data_len(size) - slot(size, 0)) as usize];
            // Short (a file of another size, or of an older version, whose
            // records were elsewhere): what is missing lists nothing.
            let mut read = 0;
            while read < records.len() {
                match data.read_at(&mut records[read..], slot(size, 0) + read as u64)? {
                    0 => break,
                    n => read += n,
                }
            }
            let (mut parts, mut unconfirmed) = (Vec::new(), Vec::new());
            for (slot, record) in records.chunks_exact(RECORD).enumerate() {
                match parse_record(record, slot as u64 * GRAIN) {
                    Some((part, _)) if plan.check(part.offset, part.len).is_err() => {}
                    Some((part, true)) => parts.push(part),
                    Some((part, false)) => unconfirmed.push(part),
                    None => {}
                }
            }
            if !unconfirmed.is_empty() {
                parts.extend(verify(&data, &unconfirmed, &plan)?);
                parts.sort_by_key(|part| part.offset);
            }
            Ok(parts)
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
            lock(&data, 0, 0, Lock::Write)?;
            if data.metadata()?.len() != data_len(size) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the upload's file does not have its size",
                ));
            }
            let actual = to_hex(&sha1_of(&data, size)?);
            if actual == sha {
                // The records cut off (a crash right after: the upload
                // lists nothing and is sent again, never published wrong).
                data.set_len(size)?;
                data.sync_all()?;
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

/// Of the parts whose records were read `unconfirmed`, those whose bytes
/// are on disk. Each range is locked (shared) first: a part being written
/// is waited for, and its record read again (confirmed by then, or left
/// unconfirmed by a write that failed). The bytes are read back and
/// hashed; those that match are fdatasynced before they are listed.
/// Only after a crash (or beside a part in flight) is any record here.
fn verify(data: &File, unconfirmed: &[StoredPart], plan: &PartPlan) -> io::Result<Vec<StoredPart>> {
    let (mut parts, mut read_back) = (Vec::new(), false);
    for read in unconfirmed {
        let offset = read.offset;
        let slot = slot(plan.file_size(), offset);
        lock(data, offset, read.len, Lock::Read)?;
        let mut record = [0; RECORD];
        data.read_exact_at(&mut record, slot)?;
        let (part, confirmed) = match parse_record(&record, offset) {
            Some(now) if plan.check(offset, now.0.len).is_ok() => now,
            _ => continue,
        };
        if !confirmed {
            let mut bytes = vec![0; part.len as usize];
            data.read_exact_at(&mut bytes, offset)?;
            if to_hex(&md5::Md5::digest(&bytes)) != part.md5 {
                continue;
            }
            read_back = true;
        }
        parts.push(part);
    }
    if read_back {
        data.sync_data()?;
    }
    Ok(parts)
}

/// The SHA-1 of the first `len` bytes of `file`: with `O_DIRECT` on Linux,
/// from the disk into an aligned buffer, skipping the page cache (the copy
/// out of it took a third of the server's CPU at finish, on the machine of
/// BENCHMARKS.md); else as any read.
fn sha1_of(file: &File, len: u64) -> io::Result<[u8; 20]> {
    let mut buf = PartBuf::with_capacity(READ);
    let buf = &mut buf.bytes_mut()[..READ];
    #[cfg(target_os = "linux")]
    let mut direct = super::disk::direct::set(file, true).is_ok();
    let mut hasher = Sha1::new();
    let mut at = 0;
    while at < len {
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
        let n = n.min((len - at) as usize);
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

#[derive(Clone, Copy)]
enum Lock {
    /// Shared (a listing checking a part).
    Read,
    /// Exclusive (writing a part, publishing).
    Write,
}

/// Waits for, then holds, a lock on `len` bytes of `file` from `offset`
/// (`len` 0: the whole file), until `file` is closed.
#[cfg(target_os = "linux")]
fn lock(file: &File, offset: u64, len: u64, kind: Lock) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // Safety: a zeroed `flock` is valid; the fields are set below.
    let mut range: libc::flock = unsafe { std::mem::zeroed() };
    range.l_type = match kind {
        Lock::Read => libc::F_RDLCK,
        Lock::Write => libc::F_WRLCK,
    } as _;
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
fn lock(file: &File, _offset: u64, _len: u64, kind: Lock) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let operation = match kind {
        Lock::Read => libc::LOCK_SH,
        Lock::Write => libc::LOCK_EX,
    };
    loop {
        // Safety: a plain call on a descriptor `file` owns.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
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
/// not read as a part: as is when `confirmed`, its complement before
/// (records written before confirmations existed were written after their
/// data was durable, and read as confirmed).
fn record(offset: u64, len: u64, md5: &str, confirmed: bool) -> io::Result<[u8; RECORD]> {
    if offset % GRAIN != 0 || len > u64::from(u32::MAX) || !is_md5_hex(md5) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a part record needs an offset on a 512 KiB step, a length under 4 GiB and an MD5",
        ));
    }
    let body = format!("{offset:016x}{len:08x}{md5}");
    let check = fnv1a(body.as_bytes());
    let text = format!("{body}{:08x}", if confirmed { check } else { !check });
    let mut out = [0; RECORD];
    out.copy_from_slice(text.as_bytes());
    Ok(out)
}

/// The part a record in the slot of `offset` names, if it is whole, and
/// whether it is confirmed.
fn parse_record(record: &[u8], offset: u64) -> Option<(StoredPart, bool)> {
    let text = std::str::from_utf8(record).ok()?;
    let hex = |range: std::ops::Range<usize>| u64::from_str_radix(text.get(range)?, 16).ok();
    let (md5, check) = (text.get(24..56)?, u32::try_from(hex(56..64)?).ok()?);
    let sum = fnv1a(&record[..56]);
    let confirmed = check == sum;
    let whole = hex(0..16)? == offset && (confirmed || check == !sum);
    (whole && is_md5_hex(md5)).then(|| {
        let part = StoredPart {
            offset,
            len: hex(16..24).unwrap_or_default(),
            md5: md5.to_owned(),
        };
        (part, confirmed)
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
                    store
                        .put(UPLOAD, size, GRAIN, &md5, bytes, Md5Check::passed())
                        .await
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
        let size = GRAIN + 100;
        let (root, store) = begun(size).await;
        let (head, head_md5) = part(GRAIN as usize, 3);
        let (tail, tail_md5) = part(100, 5);
        keep(&store, size, 0, &head_md5, head.clone()).await;
        keep(&store, size, GRAIN, &tail_md5, tail.clone()).await;
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
        let late = store
            .put(UPLOAD, size, 0, &other_md5, other, Md5Check::passed())
            .await
            .unwrap_err();
        assert_eq!(late.kind(), io::ErrorKind::NotFound);
        assert_eq!(std::fs::read(root.path().join("media/b/f0")).unwrap(), file);
    }

    /// The record of the part at `offset`, as a crash may leave it.
    fn put_record(root: &Path, size: u64, offset: u64, part: &(Bytes, String), confirmed: bool) {
        let record = record(offset, part.0.len() as u64, &part.1, confirmed).unwrap();
        put_bytes(root, slot(size, offset), &record);
    }

    fn put_bytes(root: &Path, offset: u64, bytes: &[u8]) {
        let file = OpenOptions::new()
            .write(true)
            .open(root.join(UPLOAD).join(DATA))
            .unwrap();
        file.write_all_at(bytes, offset).unwrap();
    }

    fn read_slot(root: &Path, size: u64, offset: u64) -> Option<(StoredPart, bool)> {
        let data = std::fs::read(root.join(UPLOAD).join(DATA)).unwrap();
        let slot = slot(size, offset) as usize;
        parse_record(&data[slot..slot + RECORD], offset)
    }

    /// A store in a new folder, with the upload of `size` bytes begun.
    async fn begun(size: u64) -> (tempfile::TempDir, DiskParts) {
        let root = tempfile::tempdir().unwrap();
        let store = DiskParts::new(root.path());
        store.begin(UPLOAD, size).await.unwrap();
        (root, store)
    }

    /// Stores a part whose check passed, as an answered part is.
    async fn keep(store: &DiskParts, size: u64, offset: u64, md5: &str, bytes: Bytes) {
        let check = Md5Check::passed();
        store
            .put(UPLOAD, size, offset, md5, bytes, check)
            .await
            .unwrap();
    }

    async fn listed(store: &DiskParts, size: u64) -> Vec<(u64, String)> {
        let plan = PartPlan::new(size, GRAIN).unwrap();
        let parts = store.list(UPLOAD, &plan).await.unwrap();
        parts.into_iter().map(|p| (p.offset, p.md5)).collect()
    }

    /// A part is written while it is hashed; one whose check fails is not
    /// listed, and leaves a part kept at its offset as it was: its bytes
    /// are written only over a slot without a record, and its record is
    /// wiped.
    #[tokio::test]
    async fn a_part_failing_its_check_is_not_kept() {
        let size = 2 * GRAIN;
        let (root, store) = begun(size).await;
        let failed = || {
            let (outcome, check) = Md5Check::pending();
            outcome.send(false).unwrap();
            check
        };
        let (kept, kept_md5) = part(GRAIN as usize, 3);
        let (bad, bad_md5) = part(GRAIN as usize, 5);
        // Over nothing: written, then wiped.
        let refused = store.put(UPLOAD, size, 0, &bad_md5, bad.clone(), failed());
        assert_eq!(
            refused.await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(read_slot(root.path(), size, 0).is_none());
        assert_eq!(listed(&store, size).await, []);
        // Over a part kept: nothing written.
        keep(&store, size, 0, &kept_md5, kept.clone()).await;
        let refused = store.put(UPLOAD, size, 0, &bad_md5, bad.clone(), failed());
        assert_eq!(
            refused.await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(listed(&store, size).await, [(0, kept_md5)]);
        let data = std::fs::read(root.path().join(UPLOAD).join(DATA)).unwrap();
        assert_eq!(data[..GRAIN as usize], kept[..]);
        // A check never answered (the hashing failed) fails too.
        let (outcome, check) = Md5Check::pending();
        drop(outcome);
        let refused = store.put(UPLOAD, size, GRAIN, &bad_md5, bad, check);
        assert_eq!(
            refused.await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(read_slot(root.path(), size, GRAIN).is_none());
    }

    /// What a crash can leave of a part: its record unconfirmed (written
    /// and synced with the data, the confirmation not yet written) counts
    /// when its bytes are there, not when they are missing or torn.
    #[tokio::test]
    async fn unconfirmed_records_count_only_with_their_bytes() {
        let size = 4 * GRAIN;
        let (root, store) = begun(size).await;
        let parts: Vec<_> = (0..4u8).map(|i| part(GRAIN as usize, i + 3)).collect();
        // 0: answered (confirmed).
        keep(&store, size, 0, &parts[0].1, parts[0].0.clone()).await;
        assert!(
            read_slot(root.path(), size, 0).unwrap().1,
            "confirmed once answered"
        );
        // 1: bytes and record, not confirmed.
        put_bytes(root.path(), GRAIN, &parts[1].0);
        put_record(root.path(), size, GRAIN, &parts[1], false);
        // 2: record, bytes never written.
        put_record(root.path(), size, 2 * GRAIN, &parts[2], false);
        // 3: record, half its bytes.
        put_bytes(root.path(), 3 * GRAIN, &parts[3].0[..GRAIN as usize / 2]);
        put_record(root.path(), size, 3 * GRAIN, &parts[3], false);
        let expected = vec![(0, parts[0].1.clone()), (GRAIN, parts[1].1.clone())];
        assert_eq!(listed(&store, size).await, expected);
        // Written again, parts 2 and 3 are confirmed and listed.
        for i in [2, 3] {
            let (bytes, md5) = &parts[i];
            keep(&store, size, i as u64 * GRAIN, md5, bytes.clone()).await;
        }
        assert_eq!(listed(&store, size).await.len(), 4);
    }

    /// A part sent again with other bytes makes its record unconfirmed,
    /// durably, before its bytes change: a crash while they change lists
    /// neither the old MD5 (its bytes are gone) nor the new one (not yet
    /// all there). Sent again with the same MD5, nothing is written.
    #[tokio::test]
    async fn a_part_sent_again_with_other_bytes_is_not_listed_half_written() {
        let size = 2 * GRAIN;
        let (root, store) = begun(size).await;
        let (old, old_md5) = part(GRAIN as usize, 3);
        let (new, new_md5) = part(GRAIN as usize, 5);
        keep(&store, size, 0, &old_md5, old.clone()).await;
        // The crash: the new record (unconfirmed) on disk, half the bytes.
        put_record(root.path(), size, 0, &(new.clone(), new_md5.clone()), false);
        put_bytes(root.path(), 0, &new[..GRAIN as usize / 2]);
        assert_eq!(listed(&store, size).await, []);
        // Sent again after the crash: kept, confirmed.
        keep(&store, size, 0, &new_md5, new.clone()).await;
        assert_eq!(listed(&store, size).await, [(0, new_md5.clone())]);
        assert!(read_slot(root.path(), size, 0).unwrap().1);
        // The same MD5 again writes nothing (bytes changed behind the
        // server's back stay changed), other bytes are written.
        put_bytes(root.path(), 0, &old[..10]);
        keep(&store, size, 0, &new_md5, new.clone()).await;
        let data = std::fs::read(root.path().join(UPLOAD).join(DATA)).unwrap();
        assert_eq!(data[..10], old[..10]);
        keep(&store, size, 0, &old_md5, old.clone()).await;
        let data = std::fs::read(root.path().join(UPLOAD).join(DATA)).unwrap();
        assert_eq!(data[..GRAIN as usize], old[..]);
        assert_eq!(listed(&store, size).await, [(0, old_md5)]);
    }

    #[test]
    fn records_read_back_and_torn_ones_do_not() {
        let md5 = "0123456789abcdef0123456789abcdef";
        let r = record(3 * GRAIN, 1 << 20, md5, true).unwrap();
        let (part, confirmed) = parse_record(&r, 3 * GRAIN).unwrap();
        assert_eq!(
            (part.offset, part.len, part.md5.as_str(), confirmed),
            (3 * GRAIN, 1 << 20, md5, true)
        );
        let unconfirmed = record(3 * GRAIN, 1 << 20, md5, false).unwrap();
        assert_eq!(unconfirmed[..56], r[..56]);
        let (part, confirmed) = parse_record(&unconfirmed, 3 * GRAIN).unwrap();
        assert_eq!((part.md5.as_str(), confirmed), (md5, false));
        assert!(parse_record(&r, 2 * GRAIN).is_none(), "in another slot");
        assert!(parse_record(&[0; RECORD], 0).is_none(), "an empty slot");
        for cut in [1, 20, 40, 63] {
            let mut torn = [0; RECORD];
            torn[..cut].copy_from_slice(&r[..cut]);
            assert!(parse_record(&torn, 3 * GRAIN).is_none(), "torn at {cut}");
        }
        let other = record(3 * GRAIN, 1 << 20, "ffffffffffffffffffffffffffffffff", true).unwrap();
        let mut mixed = r;
        mixed[40..].copy_from_slice(&other[40..]);
        assert!(
            parse_record(&mixed, 3 * GRAIN).is_none(),
            "half old, half new"
        );
        assert!(record(GRAIN / 2, 1, md5, true).is_err());
    }
}
