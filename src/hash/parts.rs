//! The MD5 of every part of a file, computed in the same pass as its SHA-1.
//!
//! The upload reads the whole file once for its SHA-1; the bytes are in
//! wasm memory then, so the parts' MD5s (16 bytes a part) are computed at
//! the same time, four parts side by side ([`super::md5::digest_x4`]), and
//! each part is later sent straight from the file with no second read.
//! They are for one part size: on resume the server may fix another one,
//! and then [`PartMd5s::get`] has nothing for those parts (they are hashed
//! when sent).

use super::md5::{digest_x4, Md5, DIGEST_LEN};
use crate::plan::Part;

/// MD5s of a file's parts at one part size, filled front to back.
pub struct PartMd5s {
    file_size: u64,
    part_size: u64,
    /// The MD5s of the parts hashed so far, end to end.
    digests: Vec<u8>,
    /// The part being hashed when `update` stopped inside it.
    current: Md5,
    /// Bytes of the current part hashed so far.
    in_current: u64,
}

impl PartMd5s {
    /// For a file of `file_size` bytes cut in parts of `part_size` (> 0).
    pub fn new(file_size: u64, part_size: u64) -> PartMd5s {
        assert!(part_size > 0, "parts have at least one byte");
        PartMd5s {
            file_size,
            part_size,
            digests: Vec::with_capacity(file_size.div_ceil(part_size) as usize * DIGEST_LEN),
            current: Md5::new(),
            in_current: 0,
        }
    }

    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// Every part's MD5 end to end (16 bytes a part), once complete: the
    /// form the hash cache keeps.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        self.is_complete().then(|| self.digests.clone())
    }

    /// The MD5s of a file's parts from [`PartMd5s::to_bytes`]; `None` unless
    /// there is exactly one digest for each part.
    pub fn from_bytes(file_size: u64, part_size: u64, bytes: &[u8]) -> Option<PartMd5s> {
        if part_size == 0 || bytes.len() as u64 != file_size.div_ceil(part_size) * DIGEST_LEN as u64
        {
            return None;
        }
        Some(PartMd5s {
            file_size,
            part_size,
            digests: bytes.to_vec(),
            current: Md5::new(),
            in_current: 0,
        })
    }

    /// Offset of the next byte expected.
    fn position(&self) -> u64 {
        (self.parts_done() * self.part_size).min(self.file_size) + self.in_current
    }

    /// Parts with their MD5.
    fn parts_done(&self) -> u64 {
        (self.digests.len() / DIGEST_LEN) as u64
    }

    /// Length of the part starting at `offset`.
    fn part_len(&self, offset: u64) -> u64 {
        self.part_size.min(self.file_size - offset)
    }

    /// Adds the file's next bytes (in order, from the first).
    pub fn update(&mut self, mut data: &[u8]) {
        let end = self.position() + data.len() as u64;
        assert!(end <= self.file_size, "more bytes than the file has");
        let size = self.part_size as usize;
        while !data.is_empty() {
            if self.in_current == 0
                && data.len() >= 4 * size
                && self.position() + 4 * self.part_size <= self.file_size
            {
                // Four whole parts of full size at once.
                let digests = digest_x4([
                    &data[..size],
                    &data[size..2 * size],
                    &data[2 * size..3 * size],
                    &data[3 * size..4 * size],
                ]);
                self.digests.extend_from_slice(digests.as_flattened());
                data = &data[4 * size..];
                continue;
            }
            // Else into the current part, which goes on in the next call
            // if `data` ends first.
            let start = self.position() - self.in_current;
            let missing = (self.part_len(start) - self.in_current) as usize;
            let take = missing.min(data.len());
            self.current.update(&data[..take]);
            self.in_current += take as u64;
            data = &data[take..];
            if take == missing {
                self.finish_current();
            }
        }
    }

    fn finish_current(&mut self) {
        let done = std::mem::take(&mut self.current);
        self.digests.extend_from_slice(&done.finalize());
        self.in_current = 0;
    }

    /// True once every part has its MD5.
    pub fn is_complete(&self) -> bool {
        self.position() == self.file_size && self.in_current == 0
    }

    /// The MD5 of `part`, if it is one of these parts (same offset and
    /// length at this part size) and has been hashed.
    pub fn get(&self, part: &Part) -> Option<[u8; DIGEST_LEN]> {
        if part.offset % self.part_size != 0
            || part.offset >= self.file_size
            || part.len != self.part_len(part.offset)
        {
            return None;
        }
        let at = (part.offset / self.part_size) as usize * DIGEST_LEN;
        self.digests.get(at..at + DIGEST_LEN)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PartPlan;
    use md5::Digest;

    fn bytes(len: usize) -> Vec<u8> {
        let mut x = 0x1234_5678_9abc_def1u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn check(file: &[u8], part_size: u64, steps: &[usize]) {
        let size = file.len() as u64;
        let mut md5s = PartMd5s::new(size, part_size);
        let mut at = 0;
        let mut i = 0;
        while at < file.len() {
            let step = steps[i % steps.len()].min(file.len() - at);
            md5s.update(&file[at..at + step]);
            at += step;
            i += 1;
        }
        assert!(md5s.is_complete());
        let plan = PartPlan::fixed_by_server(size, part_size).unwrap();
        for part in plan.parts() {
            let bytes = &file[part.offset as usize..part.end() as usize];
            let expected: [u8; 16] = md5::Md5::digest(bytes).into();
            assert_eq!(
                md5s.get(&part),
                Some(expected),
                "{part:?} of {size} bytes, steps {steps:?}"
            );
        }
    }

    #[test]
    fn every_part_whatever_the_steps() {
        let file = bytes(40 * 1000 + 123);
        for part_size in [1000, 1024, 4096] {
            for steps in [
                &[4 * 4096][..],
                &[16 * 1024],
                &[1],
                &[999, 5000, 3],
                &[40 * 1000 + 123],
                &[3 * 1024 + 7, 8 * 1024],
            ] {
                check(&file, part_size, steps);
            }
        }
        // Exact multiples, one part, a file shorter than a part.
        check(&bytes(8 * 512), 512, &[4 * 512]);
        check(&bytes(512), 512, &[100]);
        check(&bytes(100), 512, &[4 * 512]);
        check(&bytes(4 * 512 + 1), 512, &[4 * 512]);
    }

    #[test]
    fn kept_as_bytes_and_read_back() {
        let file = bytes(10_000);
        let mut md5s = PartMd5s::new(10_000, 1000);
        md5s.update(&file[..4000]);
        assert_eq!(md5s.to_bytes(), None, "not complete");
        md5s.update(&file[4000..]);
        let kept = md5s.to_bytes().unwrap();
        assert_eq!(kept.len(), 10 * 16);
        let back = PartMd5s::from_bytes(10_000, 1000, &kept).unwrap();
        assert!(back.is_complete());
        let plan = PartPlan::fixed_by_server(10_000, 1000).unwrap();
        assert!(plan.parts().all(|part| back.get(&part) == md5s.get(&part)));
        assert!(PartMd5s::from_bytes(10_000, 1000, &kept[16..]).is_none());
        assert!(PartMd5s::from_bytes(10_001, 1000, &kept).is_none());
        assert!(PartMd5s::from_bytes(10_000, 0, &kept).is_none());
    }

    #[test]
    fn nothing_for_parts_of_another_size_or_not_yet_hashed() {
        let file = bytes(10_000);
        let mut md5s = PartMd5s::new(10_000, 1000);
        md5s.update(&file[..4500]);
        assert!(!md5s.is_complete());
        let part = |index: u64, offset: u64, len: u64| Part { index, offset, len };
        assert!(md5s.get(&part(0, 0, 1000)).is_some());
        assert!(md5s.get(&part(3, 3000, 1000)).is_some());
        assert_eq!(md5s.get(&part(4, 4000, 1000)), None, "not hashed yet");
        assert_eq!(md5s.get(&part(0, 0, 2000)), None, "another part size");
        assert_eq!(md5s.get(&part(1, 500, 500)), None, "not a part start");
        md5s.update(&file[4500..]);
        assert!(md5s.get(&part(9, 9000, 1000)).is_some());
        assert_eq!(md5s.get(&part(10, 10_000, 1000)), None, "past the end");
    }
}
