//! MD5s of up to eight messages of one length at once, with the widest
//! kernel the processor has, chosen at run time: for the server, which
//! checks the MD5 of every part it receives. Native builds only (the wasm
//! module has [`digest_x4`] on `simd128`).
//!
//! MD5 is bound by the latency of its 64 dependent steps, not by the
//! number of instructions in them: a step on the eight lanes of a 256-bit
//! register takes as long as on the four of a 128-bit one, so eight parts
//! hash in the time of four (AVX2). AVX-512's forms on 256-bit registers
//! (AVX-512VL) also shorten each step: one `vprold` for the rotation
//! instead of three instructions, one `vpternlogd` for each boolean
//! function instead of up to three.
//!
//! The processor is asked once per [`Kernel`] value made; a binary built
//! for any x86-64 runs everywhere and takes the SSE2 kernel
//! ([`Kernel::fallback`]) where AVX2 is missing.

use super::md5::{digest_x4, DIGEST_LEN};

/// One MD5 kernel for several messages of one length. Values exist only
/// for kernels this processor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Imp);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Imp {
    /// [`digest_x4`]: SSE2 on x86-64, plain arrays elsewhere.
    Four,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// Every kernel this processor runs, slowest first.
    pub fn supported() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut all = vec![Kernel(Imp::Four)];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                all.push(Kernel(Imp::Avx2));
            }
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                all.push(Kernel(Imp::Avx512));
            }
        }
        all
    }

    /// The fastest kernel this processor runs.
    pub fn best() -> Kernel {
        Kernel::supported().pop().unwrap_or(Kernel(Imp::Four))
    }

    /// The kernel every processor runs: four lanes ([`digest_x4`]).
    pub fn fallback() -> Kernel {
        Kernel(Imp::Four)
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            Imp::Four => "four lanes",
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => "AVX2, eight lanes",
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 => "AVX-512VL, eight lanes",
        }
    }

    /// How many messages [`Kernel::digest`] hashes at once.
    pub fn lanes(self) -> usize {
        match self.0 {
            Imp::Four => 4,
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 | Imp::Avx512 => 8,
        }
    }

    /// The MD5s of `messages`, in their order. Unused lanes hash the last
    /// message again: a lane costs the same, used or not.
    ///
    /// # Panics
    /// If there are no messages or more than [`Kernel::lanes`], or their
    /// lengths differ.
    pub fn digest(self, messages: &[&[u8]]) -> Vec<[u8; DIGEST_LEN]> {
        let n = messages.len();
        assert!(
            (1..=self.lanes()).contains(&n),
            "{n} messages for {} lanes",
            self.lanes()
        );
        let lane = |i: usize| messages[i.min(n - 1)];
        let mut digests = match self.0 {
            Imp::Four => digest_x4(core::array::from_fn(lane)).to_vec(),
            // SAFETY: the value exists, so the processor has the features
            // (`Kernel::supported`).
            #[cfg(target_arch = "x86_64")]
            Imp::Avx2 => unsafe { x86::digest_avx2(core::array::from_fn(lane)) }.to_vec(),
            #[cfg(target_arch = "x86_64")]
            Imp::Avx512 => unsafe { x86::digest_avx512(core::array::from_fn(lane)) }.to_vec(),
        };
        digests.truncate(n);
        digests
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::DIGEST_LEN;
    use crate::hash::block::BLOCK_LEN;
    use crate::hash::lanes::Word;
    use crate::hash::md5::{rounds, Md5, INIT};

    /// Eight lanes of a 256-bit register; with `AVX512`, its rotation and
    /// three-input logic in one instruction each.
    ///
    /// Made only inside the `target_feature` functions below (the methods
    /// are inlined there, so their intrinsics are compiled with the
    /// features, which those functions' callers checked).
    #[derive(Clone, Copy)]
    struct Ymm<const AVX512: bool>(__m256i);

    // SAFETY (every `unsafe` block of this impl): see `Ymm`.
    impl<const AVX512: bool> Word for Ymm<AVX512> {
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Ymm(unsafe { _mm256_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Ymm(unsafe { _mm256_add_epi32(self.0, other.0) })
        }
        #[inline(always)]
        fn xor(self, other: Self) -> Self {
            Ymm(unsafe { _mm256_xor_si256(self.0, other.0) })
        }
        #[inline(always)]
        fn and(self, other: Self) -> Self {
            Ymm(unsafe { _mm256_and_si256(self.0, other.0) })
        }
        #[inline(always)]
        fn or(self, other: Self) -> Self {
            Ymm(unsafe { _mm256_or_si256(self.0, other.0) })
        }
        #[inline(always)]
        fn not(self) -> Self {
            Ymm(unsafe { _mm256_xor_si256(self.0, _mm256_set1_epi32(-1)) })
        }
        #[inline(always)]
        fn add_constant(self, k: u32) -> Self {
            // The sum hidden from the compiler, which would otherwise add
            // the constant after the step's function: one addition more
            // on the path from step to step (AVX-512: 10 % slower).
            // SAFETY: see `Ymm`.
            Ymm(unsafe { opaque(self.add(Self::splat(k)).0) })
        }
        #[inline(always)]
        fn rotl<const L: u32, const R: u32>(self) -> Self {
            // Counts in a register: a constant one cannot be computed from
            // `L` on stable Rust (the compiler makes them immediates).
            Ymm(unsafe {
                if AVX512 {
                    _mm256_rolv_epi32(self.0, _mm256_set1_epi32(L as i32))
                } else {
                    let left = _mm256_sll_epi32(self.0, _mm_cvtsi32_si128(L as i32));
                    let right = _mm256_srl_epi32(self.0, _mm_cvtsi32_si128(R as i32));
                    _mm256_or_si256(left, right)
                }
            })
        }
        // `vpternlogd`'s table: bit `4a + 2b + c` of the constant is the
        // result for bits `a` of `self`, `b` of the first argument and `c`
        // of the second.
        #[inline(always)]
        fn select(self, a: Self, b: Self) -> Self {
            if AVX512 {
                Ymm(unsafe { _mm256_ternarylogic_epi32::<0xca>(self.0, a.0, b.0) })
            } else {
                b.xor(self.and(a.xor(b)))
            }
        }
        #[inline(always)]
        fn xor3(self, a: Self, b: Self) -> Self {
            if AVX512 {
                Ymm(unsafe { _mm256_ternarylogic_epi32::<0x96>(self.0, a.0, b.0) })
            } else {
                self.xor(a).xor(b)
            }
        }
        #[inline(always)]
        fn or_not_xor(self, a: Self, b: Self) -> Self {
            if AVX512 {
                Ymm(unsafe { _mm256_ternarylogic_epi32::<0x39>(self.0, a.0, b.0) })
            } else {
                a.xor(self.or(b.not()))
            }
        }
    }

    /// `x`, through an empty `asm!` the compiler cannot see into.
    ///
    /// # Safety
    /// AVX.
    #[target_feature(enable = "avx")]
    #[inline]
    unsafe fn opaque(mut x: __m256i) -> __m256i {
        // SAFETY: no instruction.
        unsafe {
            core::arch::asm!("/* {0} */", inout(ymm_reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        x
    }

    /// Word `k` of block `at` of the eight messages, lane `j` for message
    /// `j`: rows of messages `j` and `j + 4` (one per 128-bit half),
    /// transposed four by four (AVX2's unpacks work on each half alone).
    ///
    /// # Safety
    /// AVX2; each of `p` valid for reading `at + 64` bytes.
    #[inline(always)]
    unsafe fn load_x8<const AVX512: bool>(p: &[*const u8; 8], at: usize) -> [Ymm<AVX512>; 16] {
        let mut m = [Ymm::splat(0); 16];
        for q in 0..4 {
            let at = at + 16 * q;
            // SAFETY: the caller's.
            unsafe {
                let row =
                    |j: usize| _mm256_loadu2_m128i(p[j + 4].add(at).cast(), p[j].add(at).cast());
                let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                let t0 = _mm256_unpacklo_epi32(r0, r1);
                let t1 = _mm256_unpackhi_epi32(r0, r1);
                let t2 = _mm256_unpacklo_epi32(r2, r3);
                let t3 = _mm256_unpackhi_epi32(r2, r3);
                m[4 * q] = Ymm(_mm256_unpacklo_epi64(t0, t2));
                m[4 * q + 1] = Ymm(_mm256_unpackhi_epi64(t0, t2));
                m[4 * q + 2] = Ymm(_mm256_unpacklo_epi64(t1, t3));
                m[4 * q + 3] = Ymm(_mm256_unpackhi_epi64(t1, t3));
            }
        }
        m
    }

    /// # Safety
    /// AVX2 (and AVX-512F and VL with `AVX512`).
    #[inline(always)]
    unsafe fn digest_x8<const AVX512: bool>(messages: [&[u8]; 8]) -> [[u8; DIGEST_LEN]; 8] {
        let len = messages[0].len();
        assert!(
            messages.iter().all(|m| m.len() == len),
            "the messages hashed side by side have one length"
        );
        let whole = len - len % BLOCK_LEN;
        let starts = messages.map(<[u8]>::as_ptr);
        let mut state = INIT.map(Ymm::<AVX512>::splat);
        let mut at = 0;
        while at < whole {
            // SAFETY: `at + 64 <= whole <= len`; the caller's features.
            let m = unsafe { load_x8(&starts, at) };
            rounds(&mut state, &m);
            at += BLOCK_LEN;
        }
        // SAFETY: eight 32-bit lanes.
        let words = state.map(|w| unsafe { core::mem::transmute::<__m256i, [u32; 8]>(w.0) });
        // Each message's last bytes and padding alone (see `digest_x4`).
        core::array::from_fn(|j| {
            let mut last = Md5::resumed(words.map(|lanes| lanes[j]), whole);
            last.update(&messages[j][whole..]);
            last.finalize()
        })
    }

    /// # Safety
    /// The processor has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn digest_avx2(messages: [&[u8]; 8]) -> [[u8; DIGEST_LEN]; 8] {
        // SAFETY: the features, the caller's.
        unsafe { digest_x8::<false>(messages) }
    }

    /// # Safety
    /// The processor has AVX-512F and AVX-512VL.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub unsafe fn digest_avx512(messages: [&[u8]; 8]) -> [[u8; DIGEST_LEN]; 8] {
        // SAFETY: the features, the caller's.
        unsafe { digest_x8::<true>(messages) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::md5::tests::{bytes, reference};

    /// Each kernel this processor runs (and the fallback, always), every
    /// count of messages, against the `md-5` crate at every length around
    /// block boundaries.
    #[test]
    fn every_kernel_at_every_length_around_blocks() {
        let kernels = Kernel::supported();
        assert_eq!(kernels[0], Kernel::fallback());
        assert_eq!(Kernel::best(), *kernels.last().unwrap());
        let around_blocks =
            (1..=40).flat_map(|blocks| [64 * blocks - 1, 64 * blocks, 64 * blocks + 1]);
        let lengths: Vec<usize> = (0..=130)
            .chain(around_blocks)
            .chain([1000, 4096, 65_536, 100_001])
            .collect();
        for kernel in kernels {
            for &len in &lengths {
                let messages: Vec<Vec<u8>> = (0..kernel.lanes() as u64)
                    .map(|j| bytes(len, 100 + j))
                    .collect();
                // Every count at a few lengths, all lanes at every length.
                let counts = if len % 64 == 0 {
                    1..=kernel.lanes()
                } else {
                    kernel.lanes()..=kernel.lanes()
                };
                for n in counts {
                    let refs: Vec<&[u8]> = messages[..n].iter().map(Vec::as_slice).collect();
                    let digests = kernel.digest(&refs);
                    assert_eq!(digests.len(), n);
                    for (j, message) in refs.iter().enumerate() {
                        let expected = reference(message);
                        assert_eq!(
                            digests[j],
                            expected,
                            "{}: {len} bytes, {n} messages, lane {j}",
                            kernel.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "one length")]
    fn messages_of_different_lengths_are_refused() {
        Kernel::best().digest(&[b"ab", b"abc"]);
    }
}
