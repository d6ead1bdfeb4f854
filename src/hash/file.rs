//! One pass over a file: its SHA-1 and, for an upload, its parts' MD5s.
//! The one hashing path, whoever reads: the page's job
//! ([`crate::job::Job::on_bytes`]) and the reading Worker (raw exports in
//! `src/web/worker.rs`) both hash through it.

use super::sha1::DIGEST_LEN;
use super::{PartMd5s, Sha1};

/// The hashes of one pass over a file, fed its bytes front to back.
pub struct FileHasher {
    sha1: Sha1,
    part_md5s: Option<PartMd5s>,
}

impl FileHasher {
    /// For a file of `file_size` bytes; with its parts' MD5s at
    /// `part_size` (> 0), if given.
    pub fn new(file_size: u64, part_size: Option<u64>) -> FileHasher {
        FileHasher {
            sha1: Sha1::new(),
            part_md5s: part_size.map(|part_size| PartMd5s::new(file_size, part_size)),
        }
    }

    /// Adds the file's next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha1.update(bytes);
        if let Some(part_md5s) = &mut self.part_md5s {
            part_md5s.update(bytes);
        }
    }

    /// The file's SHA-1, and its parts' MD5s if asked for.
    pub fn finish(self) -> ([u8; DIGEST_LEN], Option<PartMd5s>) {
        (self.sha1.finalize(), self.part_md5s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PartPlan;

    #[test]
    fn same_hashes_as_each_hash_alone() {
        let file: Vec<u8> = (0..10_007u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut hasher = FileHasher::new(file.len() as u64, Some(1000));
        for chunk in file.chunks(777) {
            hasher.update(chunk);
        }
        let (sha1, part_md5s) = hasher.finish();
        assert_eq!(sha1, Sha1::digest(&file));
        let part_md5s = part_md5s.expect("asked for");
        let plan = PartPlan::fixed_by_server(file.len() as u64, 1000).unwrap();
        for part in plan.parts() {
            let bytes = &file[part.offset as usize..part.end() as usize];
            assert_eq!(part_md5s.get(&part), Some(super::super::Md5::digest(bytes)));
        }
        let mut sha1_only = FileHasher::new(3, None);
        sha1_only.update(b"abc");
        let (sha1, part_md5s) = sha1_only.finish();
        assert_eq!(sha1, Sha1::digest(b"abc"));
        assert!(part_md5s.is_none());
    }
}
