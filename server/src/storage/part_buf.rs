//! A part's body, gathered whole (at most 1 MiB: the largest part size) in
//! a page-aligned buffer before it is checked and stored.
//!
//! Whole, so that its MD5 can be computed with three other parts' at once
//! (`part_md5.rs`); page-aligned, so that the disk backend can write it
//! with `O_DIRECT`, from this buffer straight to the disk, instead of
//! copying it into the page cache first (on the machine of BENCHMARKS.md
//! that copy cost more CPU than the MD5). Buffers are reused: a fresh one
//! costs a page fault per 4 KiB on first touch.

use std::sync::Mutex;

use bytes::Bytes;

/// The alignment `O_DIRECT` asks for on Linux file systems (the page size;
/// a multiple of every logical block size in use).
pub const ALIGN: usize = 4096;

/// The buffers kept for reuse all have this size: the largest part size.
const POOLED: usize = 1 << 20;
/// At most this many idle buffers are kept (16 MiB).
const POOL_MAX: usize = 16;

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Page([u8; ALIGN]);

static POOL: Mutex<Vec<Vec<Page>>> = Mutex::new(Vec::new());

/// A part body being gathered: `len` bytes at the start of aligned pages.
pub struct PartBuf {
    pages: Vec<Page>,
    len: usize,
}

impl PartBuf {
    /// An empty buffer that holds `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> PartBuf {
        let pooled = (capacity <= POOLED)
            .then(|| POOL.lock().unwrap_or_else(|p| p.into_inner()).pop())
            .flatten();
        let pages = pooled.unwrap_or_else(|| {
            // Pooled buffers all have one size, so that any can be reused.
            let size = if capacity <= POOLED { POOLED } else { capacity };
            vec![Page([0; ALIGN]); size.div_ceil(ALIGN)]
        });
        PartBuf { pages, len: 0 }
    }

    /// Appends `data`.
    ///
    /// # Panics
    /// If `data` does not fit in the capacity asked for (rounded up to
    /// pages; callers check lengths against what they asked for).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let (start, end) = (self.len, self.len + data.len());
        self.bytes_mut()[start..end].copy_from_slice(data);
        self.len = end;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The bytes gathered, as `Bytes` whose start is page-aligned; the
    /// buffer goes back to the pool when the last clone is dropped.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }

    /// All of the buffer's pages, whatever was gathered: an aligned buffer
    /// to read into (`O_DIRECT` reads, `disk_parts.rs`).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.pages.len() * ALIGN;
        // Safety: `Page` is `ALIGN` plain bytes without padding, so the
        // pages are `len` initialised, contiguous bytes.
        unsafe { std::slice::from_raw_parts_mut(self.pages.as_mut_ptr().cast(), len) }
    }
}

impl AsRef<[u8]> for PartBuf {
    fn as_ref(&self) -> &[u8] {
        // Safety: as in `bytes_mut`; `len` never exceeds the pages.
        unsafe { std::slice::from_raw_parts(self.pages.as_ptr().cast(), self.len) }
    }
}

impl Drop for PartBuf {
    fn drop(&mut self) {
        if self.pages.len() * ALIGN == POOLED {
            let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_MAX {
                pool.push(std::mem::take(&mut self.pages));
            }
        }
    }
}

/// Whether `bytes` start on an [`ALIGN`] boundary (a frozen [`PartBuf`]).
pub fn is_aligned(bytes: &[u8]) -> bool {
    bytes.as_ptr() as usize % ALIGN == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(buf: &PartBuf) -> usize {
        buf.pages.len() * ALIGN - buf.len
    }

    #[test]
    fn gathers_aligned_and_reuses() {
        let mut buf = PartBuf::with_capacity(1000);
        assert_eq!(room(&buf), POOLED);
        buf.extend_from_slice(b"abc");
        buf.extend_from_slice(b"de");
        assert_eq!(buf.len(), 5);
        let bytes = buf.freeze();
        assert_eq!(&bytes[..], b"abcde");
        assert!(is_aligned(&bytes));
        drop(bytes);
        // A reused buffer starts empty.
        let again = PartBuf::with_capacity(POOLED);
        assert_eq!((again.len(), room(&again)), (0, POOLED));
        let big = PartBuf::with_capacity(POOLED + 1);
        assert_eq!(room(&big), POOLED + ALIGN);
    }
}
