//! What SHA-1 and MD5 share around their compression functions: the bytes
//! of a message waiting for a whole block, its length, its padding, and the
//! digest's bytes.
//! One copy in the module for both hashers.

/// Bytes in a block (both hashers).
pub const BLOCK_LEN: usize = 64;

/// A message's length so far and its bytes not yet hashed.
#[derive(Clone)]
pub struct Blocks {
    /// Bytes of the message so far, including those waiting in `buffer`.
    len: u64,
    buffer: [u8; BLOCK_LEN],
    /// Bytes waiting in `buffer` (always fewer than a block).
    buffered: usize,
}

impl Blocks {
    pub const fn new() -> Blocks {
        Blocks::hashed(0)
    }

    /// After `len` bytes already hashed (a multiple of the block length).
    pub const fn hashed(len: u64) -> Blocks {
        Blocks {
            len,
            buffer: [0; BLOCK_LEN],
            buffered: 0,
        }
    }

    /// Adds `data`: `compress` is handed every whole block (several at a
    /// time), the rest waits. `dyn`: one copy for both hashers; it is
    /// called once or twice per `update`, not per block.
    pub fn update(&mut self, mut data: &[u8], compress: &mut dyn FnMut(&[u8])) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (BLOCK_LEN - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < BLOCK_LEN {
                return;
            }
            compress(&self.buffer);
            self.buffered = 0;
        }
        let whole = data.len() - data.len() % BLOCK_LEN;
        compress(&data[..whole]);
        let rest = &data[whole..];
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// Ends the message: `0x80`, zeros up to 8 bytes before a block's end,
    /// and the length in bits, big-endian (SHA-1) or little-endian (MD5),
    /// added as data (a block or two for `compress`).
    pub fn finish(&mut self, big_endian: bool, compress: &mut dyn FnMut(&[u8])) {
        let bits = self.len.wrapping_mul(8);
        let length = if big_endian {
            bits.to_be_bytes()
        } else {
            bits.to_le_bytes()
        };
        // `buffered + 1 + zeros` is 56 modulo 64.
        let zeros = (2 * BLOCK_LEN - 9 - self.buffered) % BLOCK_LEN;
        self.update(&[0x80], compress);
        self.update(&[0; BLOCK_LEN][..zeros], compress);
        self.update(&length, compress);
    }
}

/// A digest's bytes: `words`, big-endian (SHA-1) or little-endian (MD5).
pub fn put_words(words: &[u32], big_endian: bool, out: &mut [u8]) {
    for (i, &word) in words.iter().enumerate() {
        let bytes = if big_endian {
            word.to_be_bytes()
        } else {
            word.to_le_bytes()
        };
        out[4 * i..4 * i + 4].copy_from_slice(&bytes);
    }
}
