//! The hash cache's rules, sans I/O: what identifies a picked file, what an
//! entry holds, when it is still good, and which failures mean it was stale.
//!
//! Hashing a large file is the longest wait of an upload that resumes
//! after a reload (minutes for 10 GiB on a phone). So after hashing, the
//! browser adapter remembers the file's SHA-1 and its parts' MD5s, keyed
//! by what identifies a picked file without reading it (name, size, date,
//! type), and a later upload of the same file uses them instead of reading
//! it again. Nothing checks that the bytes are still those hashed but the
//! upload itself: the server refuses a part whose body does not have the
//! remembered MD5 and a file whose SHA-1 is not the remembered one, and
//! the parts the server already holds are read back and compared while the
//! others are sent (the engine's [`PartReply::RememberedMatch`]). Any of
//! these refusals ([`is_stale_refusal`]) makes the adapter forget the
//! entry, hash the file and upload it again, once.
//!
//! [`PartReply::RememberedMatch`]: crate::engine::PartReply::RememberedMatch

use crate::error::{Stage, UploadError};
use crate::hash::PartMd5s;
use crate::json::{push_integer, push_unsigned};
use crate::protocol::{code, is_sha1_hex, PART_SIZES};

/// How long an entry is kept: long enough for an upload to be resumed
/// after a weekend, short enough not to pile up.
pub const MAX_AGE_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;

/// The key of a picked file: its name, size, last modification time (ms
/// since the epoch) and MIME type, joined by NUL (which neither a file
/// name nor a MIME type holds).
pub fn key(name: &str, size: u64, last_modified: f64, mime: &str) -> String {
    let mut out = String::from(name);
    out.push('\0');
    push_unsigned(&mut out, size);
    out.push('\0');
    push_integer(&mut out, last_modified as i64);
    out.push('\0');
    out.push_str(mime);
    out
}

/// A remembered hash, as it is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The file's SHA-1, lowercase hex.
    pub file_sha: String,
    pub part_size: u64,
    /// Every part's MD5 end to end ([`PartMd5s::to_bytes`]).
    pub part_md5s: Vec<u8>,
    /// When it was stored: ms since the epoch.
    pub saved_at: f64,
}

impl Entry {
    /// The entry for a file just hashed; `None` unless every part's MD5 is
    /// known.
    pub fn new(file_sha: &str, part_md5s: &PartMd5s, now: f64) -> Option<Entry> {
        Some(Entry {
            file_sha: file_sha.to_owned(),
            part_size: part_md5s.part_size(),
            part_md5s: part_md5s.to_bytes()?,
            saved_at: now,
        })
    }

    /// The file's SHA-1 and part MD5s, when this entry is good for a file
    /// of `file_size` bytes at `now`: not older than [`MAX_AGE_MS`] (nor
    /// from the future: a clock set back), and well formed (whatever is
    /// stored may have been written by another version, or tampered with).
    pub fn hashes(self, file_size: u64, now: f64) -> Option<(String, PartMd5s)> {
        let age = now - self.saved_at;
        if !(0.0..MAX_AGE_MS).contains(&age)
            || !is_sha1_hex(&self.file_sha)
            || !PART_SIZES.contains(&self.part_size)
        {
            return None;
        }
        let md5s = PartMd5s::from_bytes(file_size, self.part_size, &self.part_md5s)?;
        Some((self.file_sha, md5s))
    }
}

/// True when an upload that started from a remembered hash failed because
/// the file's bytes are not those hashed: the server refused a part's body
/// or the assembled file (-10006), or the engine found a held part changed
/// ([`crate::engine::stale_file`]).
pub fn is_stale_refusal(error: &UploadError) -> bool {
    error.code == code::BODY && matches!(error.stage, Stage::Part | Stage::Finish)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::client_code;
    use crate::plan::PartPlan;

    const SHA: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";
    const DAY: f64 = 24.0 * 3600.0 * 1000.0;

    fn md5s(size: u64, part_size: u64) -> PartMd5s {
        let mut md5s = PartMd5s::new(size, part_size);
        md5s.update(&vec![7u8; size as usize]);
        md5s
    }

    #[test]
    fn keys_tell_files_apart() {
        let k = key(
            "clip 1.mp4",
            5_000_000_000,
            1_700_000_000_123.0,
            "video/mp4",
        );
        assert_eq!(
            k,
            "clip 1.mp4\u{0}5000000000\u{0}1700000000123\u{0}video/mp4"
        );
        for other in [
            key(
                "clip 1.mp4",
                5_000_000_000,
                1_700_000_000_124.0,
                "video/mp4",
            ),
            key(
                "clip 1.mp4",
                5_000_000_001,
                1_700_000_000_123.0,
                "video/mp4",
            ),
            key("clip 1.mp4", 5_000_000_000, 1_700_000_000_123.0, ""),
            key(
                "clip 2.mp4",
                5_000_000_000,
                1_700_000_000_123.0,
                "video/mp4",
            ),
        ] {
            assert_ne!(k, other);
        }
        assert_eq!(key("", 1, -1.0, ""), "\u{0}1\u{0}-1\u{0}");
    }

    #[test]
    fn an_entry_gives_back_what_was_hashed() {
        let size = 3 * 1_048_576 + 5;
        let hashed = md5s(size, 1_048_576);
        let entry = Entry::new(SHA, &hashed, 1000.0).unwrap();
        assert_eq!(entry.part_md5s.len(), 4 * 16);
        let (sha, back) = entry.hashes(size, 1000.0 + DAY).unwrap();
        assert_eq!(sha, SHA);
        let plan = PartPlan::fixed_by_server(size, 1_048_576).unwrap();
        assert!(plan
            .parts()
            .all(|p| back.get(&p).is_some() && back.get(&p) == hashed.get(&p)));
    }

    #[test]
    fn entries_expire_after_seven_days() {
        let entry = Entry::new(SHA, &md5s(100, 524_288), 1000.0).unwrap();
        assert!(entry
            .clone()
            .hashes(100, 1000.0 + 7.0 * DAY - 1.0)
            .is_some());
        assert!(entry.clone().hashes(100, 1000.0 + 7.0 * DAY).is_none());
        assert!(entry.hashes(100, 999.0).is_none(), "saved in the future");
    }

    #[test]
    fn odd_entries_are_not_used() {
        let good = Entry::new(SHA, &md5s(100, 524_288), 0.0).unwrap();
        let with = |change: fn(&mut Entry)| {
            let mut entry = good.clone();
            change(&mut entry);
            entry.hashes(100, 1.0)
        };
        assert!(with(|_| {}).is_some());
        assert!(with(|e| e.file_sha = SHA.to_uppercase()).is_none());
        assert!(with(|e| e.file_sha.truncate(39)).is_none());
        assert!(with(|e| e.part_size = 1000).is_none());
        assert!(with(|e| e.part_md5s.push(0)).is_none());
        assert!(with(|e| e.saved_at = f64::NAN).is_none());
        assert!(good.clone().hashes(524_289, 1.0).is_none(), "another size");
        let incomplete = PartMd5s::new(100, 524_288);
        assert!(Entry::new(SHA, &incomplete, 0.0).is_none());
    }

    #[test]
    fn which_failures_mean_the_file_changed() {
        let body = |stage| UploadError::new(code::BODY, false, stage, "x");
        assert!(is_stale_refusal(&body(Stage::Part)));
        assert!(is_stale_refusal(&body(Stage::Finish)));
        assert!(is_stale_refusal(&crate::engine::stale_file()));
        assert!(!is_stale_refusal(&body(Stage::Init)));
        for other in [
            code::SIGNATURE,
            code::PROTOCOL_PARAMS,
            code::READ_STATE,
            client_code::NETWORK,
        ] {
            assert!(!is_stale_refusal(&UploadError::new(
                other,
                false,
                Stage::Finish,
                "x"
            )));
        }
    }
}
