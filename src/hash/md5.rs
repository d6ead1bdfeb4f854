//! MD5 (RFC 1321): streaming for one message ([`Md5`]), and four messages
//! of the same length at once ([`digest_x4`]), one per lane of a `v128`.
//!
//! MD5 cannot be vectorised within one message (each step needs the one
//! before), but the parts of a file are independent messages of the same
//! length: four of them hash in the four lanes for little more than the
//! price of one. That is how the upload computes the parts' MD5s while it
//! reads the file for its SHA-1 (see [`crate::hash::parts`]).

use super::block::{put_words, Blocks, BLOCK_LEN};
use super::lanes::{Lanes, Quad, Word};

/// Bytes in a digest.
pub const DIGEST_LEN: usize = 16;
pub(crate) const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// A MD5 computation in progress.
#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    blocks: Blocks,
}

impl Default for Md5 {
    fn default() -> Md5 {
        Md5::new()
    }
}

impl Md5 {
    pub const fn new() -> Md5 {
        Md5 {
            state: INIT,
            blocks: Blocks::new(),
        }
    }

    /// A message whose first `hashed` bytes (whole blocks) left `state`.
    #[inline(always)]
    pub(crate) const fn resumed(state: [u32; 4], hashed: usize) -> Md5 {
        Md5 {
            state,
            blocks: Blocks::hashed(hashed as u64),
        }
    }

    /// The MD5 of `data` in one call.
    pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
        let mut hasher = Md5::new();
        hasher.update(data);
        hasher.finalize()
    }

    pub fn update(&mut self, data: &[u8]) {
        let state = &mut self.state;
        self.blocks
            .update(data, &mut |blocks| compress(state, blocks));
    }

    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        let state = &mut self.state;
        self.blocks
            .finish(false, &mut |blocks| compress(state, blocks));
        let mut out = [0u8; DIGEST_LEN];
        put_words(&self.state, false, &mut out);
        out
    }
}

/// One message: the same block in every lane (the rounds' code exists once
/// in the module, for four lanes; a message alone is the rare case: the
/// last parts of a file, a part size fixed by the server on resume, the
/// last block or two of [`digest_x4`]'s messages).
fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    for block in blocks.chunks_exact(BLOCK_LEN) {
        let p = block.as_ptr();
        // SAFETY: `block` is 64 bytes.
        let m = unsafe { load_x4([p; 4], 0) };
        let mut lanes = state.map(Lanes::splat);
        rounds_x4(&mut lanes, &m);
        *state = lanes.map(|lane| lane.lane::<0>());
    }
}

/// The 64 steps of one block in four lanes.
#[inline(never)]
fn rounds_x4(state: &mut [Lanes; 4], m: &[Lanes; 16]) {
    rounds(state, m);
}

/// The MD5s of four messages of the same length, hashed side by side.
///
/// # Panics
/// If the four lengths differ.
pub fn digest_x4(messages: [&[u8]; 4]) -> [[u8; DIGEST_LEN]; 4] {
    let len = messages[0].len();
    assert!(
        messages.iter().all(|m| m.len() == len),
        "digest_x4 hashes messages of one length"
    );
    let whole = len - len % BLOCK_LEN;
    let [p0, p1, p2, p3] = messages.map(<[u8]>::as_ptr);
    let mut state: [Lanes; 4] = INIT.map(Lanes::splat);
    let mut at = 0;
    while at < whole {
        // SAFETY: `at + 64 <= whole <= len`, the length of every message.
        let m = unsafe { load_x4([p0, p1, p2, p3], at) };
        rounds_x4(&mut state, &m);
        at += BLOCK_LEN;
    }
    // Each message's last bytes and padding alone: a block or two, against
    // thousands side by side for a part of a file.
    let words = state.map(|q| [q.lane::<0>(), q.lane::<1>(), q.lane::<2>(), q.lane::<3>()]);
    core::array::from_fn(|j| {
        let mut last = Md5::resumed(words.map(|lanes| lanes[j]), whole);
        last.update(&messages[j][whole..]);
        last.finalize()
    })
}

/// Word `k` of block `at` of the four messages, in lane `j` for message `j`.
///
/// # Safety
/// Each of `starts` must be valid for reading `at + 64` bytes.
///
/// Never inlined: one copy in the module for its two callers (a call per
/// block costs nothing next to the block's 64 steps).
#[inline(never)]
unsafe fn load_x4([p0, p1, p2, p3]: [*const u8; 4], at: usize) -> [Lanes; 16] {
    let mut m = [Lanes::splat(0); 16];
    for q in 0..4 {
        let at = at + 16 * q;
        // SAFETY: the caller's.
        let [c0, c1, c2, c3] = Lanes::transpose(unsafe {
            [
                Lanes::load_le(p0.add(at)),
                Lanes::load_le(p1.add(at)),
                Lanes::load_le(p2.add(at)),
                Lanes::load_le(p3.add(at)),
            ]
        });
        m[4 * q] = c0;
        m[4 * q + 1] = c1;
        m[4 * q + 2] = c2;
        m[4 * q + 3] = c3;
    }
    m
}

#[inline(always)]
fn f<W: Word>(b: W, c: W, d: W) -> W {
    b.select(c, d)
}

#[inline(always)]
fn g<W: Word>(b: W, c: W, d: W) -> W {
    d.select(b, c)
}

#[inline(always)]
fn h<W: Word>(b: W, c: W, d: W) -> W {
    b.xor3(c, d)
}

#[inline(always)]
fn i<W: Word>(b: W, c: W, d: W) -> W {
    b.or_not_xor(c, d)
}

/// The 64 steps' constants, `floor(abs(sin(t + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// The 64 steps of one block, on lanes.
///
/// Rolled for size (the module is for the browser): each round of 16 steps
/// is a loop of 4 iterations of 4 steps. Within a round the rotations repeat
/// every 4 steps and the variables' roles cycle every 4, so they stay
/// constants of the loop's body; only the constant `K[t]` and the message
/// word vary, the word's index a formula of the step `t` (RFC 1321's
/// `(1 + 5i) % 16`, `(5 + 3i) % 16` and `7i % 16` for step `i` of rounds 2
/// to 4, written in `t = 16r + i`, since 16 divides `5 * 16`, `3 * 32` and
/// `7 * 48`).
#[inline(always)]
pub(crate) fn rounds<W: Word>(state: &mut [W; 4], m: &[W; 16]) {
    let [mut a, mut b, mut c, mut d] = *state;
    macro_rules! step {
        ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $t:expr, $word:expr, $l:literal, $r:literal) => {
            let t: usize = $t;
            $a = $a
                .add(m[$word(t) % 16].add_constant(K[t]))
                .add($f($b, $c, $d))
                .rotl::<$l, $r>()
                .add($b);
        };
    }
    macro_rules! round {
        ($f:ident, $first:literal, $word:expr, [$s0:literal $r0:literal $s1:literal $r1:literal $s2:literal $r2:literal $s3:literal $r3:literal]) => {
            for t in ($first..$first + 16).step_by(4) {
                step!($f, a, b, c, d, t, $word, $s0, $r0);
                step!($f, d, a, b, c, t + 1, $word, $s1, $r1);
                step!($f, c, d, a, b, t + 2, $word, $s2, $r2);
                step!($f, b, c, d, a, t + 3, $word, $s3, $r3);
            }
        };
    }
    round!(f, 0, |t| t, [7 25 12 20 17 15 22 10]);
    round!(g, 16, |t| 5 * t + 1, [5 27 9 23 14 18 20 12]);
    round!(h, 32, |t| 3 * t + 5, [4 28 11 21 16 16 23 9]);
    round!(i, 48, |t| 7 * t, [6 26 10 22 15 17 21 11]);
    state[0] = state[0].add(a);
    state[1] = state[1].add(b);
    state[2] = state[2].add(c);
    state[3] = state[3].add(d);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use md5::Digest;

    /// The `md-5` crate's digest.
    pub(crate) fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    /// `len` pseudo-random bytes.
    pub(crate) fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn known_answers() {
        let hex = |d: [u8; 16]| crate::protocol::to_hex(&d);
        assert_eq!(hex(Md5::digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(Md5::digest(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(Md5::digest(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn every_length_and_random_splits() {
        let data = bytes(70_000, 9);
        let mut lengths: Vec<usize> = (0..=200).collect();
        for blocks in 1..=40 {
            lengths.extend([64 * blocks - 1, 64 * blocks, 64 * blocks + 1]);
        }
        lengths.extend([1000, 4096, 65_535, 70_000]);
        for (n, &len) in lengths.iter().enumerate() {
            let message = &data[..len];
            assert_eq!(Md5::digest(message), reference(message), "{len} bytes");
            let mut hasher = Md5::new();
            let mut at = 0;
            let mut step = n % 7 + 1;
            while at < len {
                let end = (at + step).min(len);
                hasher.update(&message[at..end]);
                at = end;
                step = step * 3 % 101 + 1;
            }
            assert_eq!(
                hasher.finalize(),
                reference(message),
                "{len} bytes in pieces"
            );
        }
    }

    #[test]
    fn four_messages_side_by_side() {
        // Every tail length (each message ends alone: one block or two),
        // around block boundaries, and parts of a file's size.
        let around_blocks =
            (2..=40).flat_map(|blocks| [64 * blocks - 1, 64 * blocks, 64 * blocks + 1]);
        for len in (0..=200)
            .chain(around_blocks)
            .chain([255, 256, 1000, 4096, 65_536, 100_001])
        {
            let messages: Vec<Vec<u8>> = (0..4).map(|j| bytes(len, 100 + j)).collect();
            let digests = digest_x4([&messages[0], &messages[1], &messages[2], &messages[3]]);
            for (j, message) in messages.iter().enumerate() {
                assert_eq!(digests[j], reference(message), "{len} bytes, lane {j}");
            }
        }
    }
}
