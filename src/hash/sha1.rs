//! SHA-1 (FIPS 180-4), streaming: `new` / `update` / `finalize`.
//!
//! Built for speed in WebAssembly, where the file's SHA-1 is time the user
//! waits. The message schedule is computed four words at a time, in a
//! `v128` when the build has `simd128` (the wasm32 build enables it, see
//! `.cargo/config.toml`), else in a `[u32; 4]` with the same operations, so
//! the one algorithm is tested natively and runs vectorised in the browser:
//!
//! - the big-endian loads are one byte swizzle per four words (wasm has no
//!   scalar byte swap);
//! - words 16..31 use `W[t] = rotl1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16])`
//!   with the fourth lane fixed up afterwards (its `W[t-3]` is the vector's
//!   own first word);
//! - words 32..79 use the equivalent `rotl2(W[t-6] ^ W[t-16] ^ W[t-28] ^
//!   W[t-32])`, whose four lanes are independent;
//! - the round constant is added in the vector too, and each round takes
//!   its `W[t] + K` straight out of a lane.
//!
//! The 80 rounds run as 20 turns of four, one turn per `W + K` vector, in
//! three loops (one per round function; the `parity` loop serves rounds
//! 20..39 and 60..79): rolled, for the module's size. Each turn also
//! computes the schedule vector 8 ahead, so the vector work is spread over
//! the scalar rounds: V8's optimizing compiler for wasm keeps the
//! instruction order of the module, and with the whole schedule computed up
//! front the vector work no longer overlaps the rounds (measured in
//! Chromium 156: 1.2 × slower). Rolled this way, the kernel is 1.6 KB
//! instead of 4.3 KB unrolled, and no slower in Chromium, Firefox or WebKit
//! (`BENCHMARKS.md`, "Rolled hash kernels").
//!
//! Equality with RustCrypto's `sha1` is tested natively (this file) and in
//! the browser, where the SIMD path runs (`tests/browser.rs`).

/// Bytes in a digest.
pub const DIGEST_LEN: usize = 20;
use super::block::{put_words, Blocks, BLOCK_LEN};
use super::lanes::{Lanes, Quad};

const INIT: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];

/// A SHA-1 computation in progress.
#[derive(Clone)]
pub struct Sha1 {
    state: [u32; 5],
    blocks: Blocks,
}

impl Default for Sha1 {
    fn default() -> Sha1 {
        Sha1::new()
    }
}

impl Sha1 {
    pub const fn new() -> Sha1 {
        Sha1 {
            state: INIT,
            blocks: Blocks::new(),
        }
    }

    /// The SHA-1 of `data` in one call.
    pub fn digest(data: &[u8]) -> [u8; DIGEST_LEN] {
        let mut hasher = Sha1::new();
        hasher.update(data);
        hasher.finalize()
    }

    /// Adds `data` to the message.
    pub fn update(&mut self, data: &[u8]) {
        let state = &mut self.state;
        self.blocks
            .update(data, &mut |blocks| compress(state, blocks));
    }

    /// The digest of everything added.
    pub fn finalize(mut self) -> [u8; DIGEST_LEN] {
        let state = &mut self.state;
        self.blocks
            .finish(true, &mut |blocks| compress(state, blocks));
        let mut out = [0u8; DIGEST_LEN];
        put_words(&self.state, true, &mut out);
        out
    }
}

/// Schedule words `4k..4k+3` for `4 <= k < 8`, from vectors `k-4 .. k-1`.
#[inline(always)]
fn early<Q: Quad>(w4: Q, w3: Q, w2: Q, w1: Q) -> Q {
    // The fourth lane's W[t-3] is this vector's first word, not known yet:
    // take 0 there, then xor in rotl1(W[t]) = rotl2 of the first lane's sum.
    let x = w4.xor(Q::middle(w4, w3)).xor(w2.xor(Q::shift_down(w1)));
    x.rotl::<1, 31>().xor(Q::first_to_last(x).rotl::<2, 30>())
}

/// Schedule words `4k..4k+3` for `k >= 8`, from vectors `k-8, k-7, k-4,
/// k-2, k-1`: `rotl2(W[t-6] ^ W[t-16] ^ W[t-28] ^ W[t-32])`.
#[inline(always)]
fn late<Q: Quad>(w8: Q, w7: Q, w4: Q, w2: Q, w1: Q) -> Q {
    w8.xor(w7).xor(w4.xor(Q::middle(w2, w1))).rotl::<2, 30>()
}

/// The first eight schedule vectors (words 0..31) of the block at `p`.
///
/// # Safety
/// `p` must be valid for reading 64 bytes.
#[inline(always)]
unsafe fn first_vectors<Q: Quad>(p: *const u8) -> [Q; 8] {
    // SAFETY: the caller's.
    let (w0, w1, w2, w3) = unsafe {
        (
            Q::load_be(p),
            Q::load_be(p.add(16)),
            Q::load_be(p.add(32)),
            Q::load_be(p.add(48)),
        )
    };
    let w4 = early(w0, w1, w2, w3);
    let w5 = early(w1, w2, w3, w4);
    let w6 = early(w2, w3, w4, w5);
    let w7 = early(w3, w4, w5, w6);
    [w0, w1, w2, w3, w4, w5, w6, w7]
}

#[inline(always)]
fn ch(b: u32, c: u32, d: u32) -> u32 {
    d ^ (b & (c ^ d))
}

#[inline(always)]
fn parity(b: u32, c: u32, d: u32) -> u32 {
    b ^ c ^ d
}

#[inline(always)]
fn maj(b: u32, c: u32, d: u32) -> u32 {
    (b & c) | (d & (b | c))
}

/// Hashes whole blocks into `state`; `blocks.len()` is a multiple of 64.
/// Never inlined: one copy of the unrolled rounds in the module.
#[inline(never)]
fn compress(state: &mut [u32; 5], blocks: &[u8]) {
    for block in blocks.chunks_exact(BLOCK_LEN) {
        // SAFETY: `block` is 64 bytes.
        unsafe { compress_block::<Lanes>(state, block.as_ptr()) };
    }
}

/// Hashes the block at `p` into `state`.
///
/// # Safety
/// `p` must be valid for reading 64 bytes.
#[inline(always)]
unsafe fn compress_block<Q: Quad>(state: &mut [u32; 5], p: *const u8) {
    // The schedule vectors `t .. t+7` while turn `t` runs.
    // SAFETY: the caller's.
    let mut window: [Q; 8] = unsafe { first_vectors(p) };
    let [mut a, mut b, mut c, mut d, mut e] = *state;

    // One round, with the variables renamed instead of moved: it adds into
    // `e` and rotates `b`; the next round takes (e, a, b, c, d).
    macro_rules! round {
        ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $wk:expr) => {
            $e = $e
                .wrapping_add($wk)
                .wrapping_add($f($b, $c, $d))
                .wrapping_add($a.rotate_left(5));
            $b = $b.rotate_left(30);
        };
    }
    // Twenty rounds with one function: five turns of four rounds on the
    // lanes of one `W + K` vector, the window sliding by one vector a
    // turn. After four rounds the roles have moved by one place (the next
    // round would take (b, c, d, e, a)): the variables move back instead,
    // so that one turn's code serves all five.
    macro_rules! turns {
        ($f:ident, $k:expr) => {{
            let k = Q::splat($k);
            for _ in 0..5 {
                let x = window[0].add(k);
                let w = window;
                // Turns 12 to 19 compute vectors 20 to 27, never used: a
                // few vector operations, cheaper than a branch here.
                let next = late(w[0], w[1], w[4], w[6], w[7]);
                window = [w[1], w[2], w[3], w[4], w[5], w[6], w[7], next];
                round!($f, a, b, c, d, e, x.lane::<0>());
                round!($f, e, a, b, c, d, x.lane::<1>());
                round!($f, d, e, a, b, c, x.lane::<2>());
                round!($f, c, d, e, a, b, x.lane::<3>());
                (a, b, c, d, e) = (b, c, d, e, a);
            }
        }};
    }
    // A loop over the four groups, the second and fourth sharing their code
    // (`g` picks the function, not only the constant: an index loop).
    #[allow(clippy::needless_range_loop)]
    for g in 0..4 {
        match g {
            0 => turns!(ch, K[0]),
            2 => turns!(maj, K[2]),
            _ => turns!(parity, K[g]),
        }
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
    state[4] = state[4].wrapping_add(e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::Digest;

    fn reference(data: &[u8]) -> [u8; 20] {
        sha1::Sha1::digest(data).into()
    }

    /// Deterministic bytes (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    fn hex(digest: [u8; 20]) -> String {
        crate::protocol::to_hex(&digest)
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            hex(Sha1::digest(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex(Sha1::digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(Sha1::digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let mut million = Sha1::new();
        for _ in 0..1000 {
            million.update(&[b'a'; 1000]);
        }
        assert_eq!(
            hex(million.finalize()),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn every_length_up_to_200_and_around_block_boundaries() {
        let mut rng = Rng(0x5eed);
        let data = rng.bytes(64 * 40 + 1);
        let mut lengths: Vec<usize> = (0..=200).collect();
        for blocks in 1..=40 {
            lengths.extend([64 * blocks - 1, 64 * blocks, 64 * blocks + 1]);
        }
        for len in lengths {
            assert_eq!(
                Sha1::digest(&data[..len]),
                reference(&data[..len]),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn random_lengths_and_random_splits() {
        let mut rng = Rng(0xfeed_beef);
        for round in 0..300 {
            let len = match round % 3 {
                0 => rng.below(300),
                1 => rng.below(5000),
                _ => rng.below(200_000),
            };
            let data = rng.bytes(len);
            let mut hasher = Sha1::new();
            let mut at = 0;
            while at < len {
                let step = match rng.below(4) {
                    0 => rng.below(3),
                    1 => rng.below(65),
                    2 => rng.below(200),
                    _ => rng.below(len - at + 1),
                };
                let end = (at + step).min(len);
                hasher.update(&data[at..end]);
                if rng.below(5) == 0 {
                    hasher.update(&[]);
                }
                at = end;
            }
            let copy = hasher.clone();
            assert_eq!(
                hasher.finalize(),
                reference(&data),
                "{len} bytes, round {round}"
            );
            assert_eq!(
                copy.finalize(),
                reference(&data),
                "a clone finishes the same"
            );
        }
    }

    #[test]
    fn all_byte_values_and_a_large_message() {
        let ramp: Vec<u8> = (0..=255u8).cycle().take(3 * 1_048_576 + 17).collect();
        assert_eq!(Sha1::digest(&ramp), reference(&ramp));
        let ones = vec![0xffu8; 4096 + 55];
        assert_eq!(Sha1::digest(&ones), reference(&ones));
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[test]
    fn the_two_schedule_formulas_agree_with_the_definition() {
        let mut rng = Rng(42);
        for _ in 0..50 {
            let block = rng.bytes(64);
            let mut w = [0u32; 80];
            for (t, word) in w.iter_mut().enumerate().take(16) {
                *word = u32::from_be_bytes(block[4 * t..4 * t + 4].try_into().unwrap());
            }
            for t in 16..80 {
                w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
            }
            // SAFETY: 64 bytes.
            let mut window: [Lanes; 8] = unsafe { first_vectors(block.as_ptr()) };
            let mut vectors: Vec<Lanes> = window.to_vec();
            while vectors.len() < 20 {
                let n = late(window[0], window[1], window[4], window[6], window[7]);
                window = [
                    window[1], window[2], window[3], window[4], window[5], window[6], window[7], n,
                ];
                vectors.push(n);
            }
            let flat: Vec<u32> = vectors
                .iter()
                .flat_map(|v| [v.lane::<0>(), v.lane::<1>(), v.lane::<2>(), v.lane::<3>()])
                .collect();
            assert_eq!(flat, w.to_vec());
        }
    }
}
