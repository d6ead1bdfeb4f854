//! Four 32-bit lanes: a `v128` when the build has `simd128` (the wasm32
//! build does, see `.cargo/config.toml`), an SSE2 `__m128i` on x86-64 (the
//! server's MD5 of parts, the native tests), else a `[u32; 4]` with the
//! same operations. The hashers are written once against [`Quad`], so the
//! vector algorithms are tested natively and run vectorised in the browser.
//! (The server's wider MD5 kernels implement [`Word`] on their own
//! registers: `hash::md5_wide`.)

/// The 32-bit word operations the hashers need, lane by lane.
pub trait Word: Copy {
    fn splat(x: u32) -> Self;
    fn add(self, other: Self) -> Self;
    fn xor(self, other: Self) -> Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    fn not(self) -> Self;
    /// Rotates left by `L` (`R` is `32 - L`).
    fn rotl<const L: u32, const R: u32>(self) -> Self;

    /// `self + splat(k)`: a step's message word and constant, whose sum
    /// is known before the step's other inputs.
    #[inline(always)]
    fn add_constant(self, k: u32) -> Self {
        self.add(Self::splat(k))
    }

    // Three-input functions, written with the operations above unless a
    // type has one instruction for them (AVX-512's `vpternlogd`, in the
    // server's kernels: `hash::md5_wide`).

    /// Bit by bit, `a` where `self` has a one, else `b` (MD5's F and G).
    #[inline(always)]
    fn select(self, a: Self, b: Self) -> Self {
        b.xor(self.and(a.xor(b)))
    }
    /// `self ^ a ^ b` (MD5's H).
    #[inline(always)]
    fn xor3(self, a: Self, b: Self) -> Self {
        self.xor(a).xor(b)
    }
    /// `a ^ (self | !b)` (MD5's I).
    #[inline(always)]
    fn or_not_xor(self, a: Self, b: Self) -> Self {
        a.xor(self.or(b.not()))
    }
}

/// Four lanes, and the moves between lanes the hashers need.
pub trait Quad: Word {
    /// Four big-endian words from `p[0..16]`.
    ///
    /// # Safety
    /// `p` must be valid for reading 16 bytes.
    unsafe fn load_be(p: *const u8) -> Self;
    /// Four little-endian words from `p[0..16]`.
    ///
    /// # Safety
    /// `p` must be valid for reading 16 bytes.
    unsafe fn load_le(p: *const u8) -> Self;
    /// `[a2, a3, b0, b1]`.
    fn middle(a: Self, b: Self) -> Self;
    /// `[a1, a2, a3, 0]`.
    fn shift_down(a: Self) -> Self;
    /// `[0, 0, 0, a0]`.
    fn first_to_last(a: Self) -> Self;
    /// Rows to columns: lane `j` of result `i` is lane `i` of `rows[j]`.
    fn transpose(rows: [Self; 4]) -> [Self; 4];
    fn lane<const I: usize>(self) -> u32;
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    impl super::Word for v128 {
        #[inline(always)]
        fn splat(x: u32) -> v128 {
            u32x4_splat(x)
        }
        #[inline(always)]
        fn add(self, other: v128) -> v128 {
            i32x4_add(self, other)
        }
        #[inline(always)]
        fn xor(self, other: v128) -> v128 {
            v128_xor(self, other)
        }
        #[inline(always)]
        fn and(self, other: v128) -> v128 {
            v128_and(self, other)
        }
        #[inline(always)]
        fn or(self, other: v128) -> v128 {
            v128_or(self, other)
        }
        #[inline(always)]
        fn not(self) -> v128 {
            v128_not(self)
        }
        #[inline(always)]
        fn rotl<const L: u32, const R: u32>(self) -> v128 {
            v128_or(i32x4_shl(self, L), u32x4_shr(self, R))
        }
    }

    impl super::Quad for v128 {
        #[inline(always)]
        unsafe fn load_be(p: *const u8) -> v128 {
            // SAFETY: the caller's; wasm loads need no alignment.
            let v = unsafe { v128_load(p.cast::<v128>()) };
            i8x16_swizzle(
                v,
                i8x16(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12),
            )
        }
        #[inline(always)]
        unsafe fn load_le(p: *const u8) -> v128 {
            // SAFETY: the caller's; wasm loads need no alignment.
            unsafe { v128_load(p.cast::<v128>()) }
        }
        #[inline(always)]
        fn middle(a: v128, b: v128) -> v128 {
            i32x4_shuffle::<2, 3, 4, 5>(a, b)
        }
        #[inline(always)]
        fn shift_down(a: v128) -> v128 {
            i32x4_shuffle::<1, 2, 3, 4>(a, u32x4_splat(0))
        }
        #[inline(always)]
        fn first_to_last(a: v128) -> v128 {
            i32x4_shuffle::<4, 5, 6, 0>(a, u32x4_splat(0))
        }
        #[inline(always)]
        fn transpose([r0, r1, r2, r3]: [v128; 4]) -> [v128; 4] {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3);
            [
                i64x2_shuffle::<0, 2>(t0, t2),
                i64x2_shuffle::<1, 3>(t0, t2),
                i64x2_shuffle::<0, 2>(t1, t3),
                i64x2_shuffle::<1, 3>(t1, t3),
            ]
        }
        #[inline(always)]
        fn lane<const I: usize>(self) -> u32 {
            match I {
                0 => u32x4_extract_lane::<0>(self),
                1 => u32x4_extract_lane::<1>(self),
                2 => u32x4_extract_lane::<2>(self),
                _ => u32x4_extract_lane::<3>(self),
            }
        }
    }

    pub type Lanes = v128;
}

/// x86-64 (natively: the server and the tests): SSE2, which every x86-64
/// processor has. Written with intrinsics rather than left to the compiler
/// on `[u32; 4]`: the workspace's release profile optimises for size
/// (`opt-level = "s"`, for the wasm module), which does not vectorise that
/// code; the server's four-lane MD5 runs 30 times faster this way.
#[cfg(target_arch = "x86_64")]
mod imp {
    use core::arch::x86_64::*;

    impl super::Word for __m128i {
        #[inline(always)]
        fn splat(x: u32) -> __m128i {
            // SAFETY (every block here): SSE2 is part of x86-64.
            unsafe { _mm_set1_epi32(x as i32) }
        }
        #[inline(always)]
        fn add(self, other: __m128i) -> __m128i {
            unsafe { _mm_add_epi32(self, other) }
        }
        #[inline(always)]
        fn xor(self, other: __m128i) -> __m128i {
            unsafe { _mm_xor_si128(self, other) }
        }
        #[inline(always)]
        fn and(self, other: __m128i) -> __m128i {
            unsafe { _mm_and_si128(self, other) }
        }
        #[inline(always)]
        fn or(self, other: __m128i) -> __m128i {
            unsafe { _mm_or_si128(self, other) }
        }
        #[inline(always)]
        fn not(self) -> __m128i {
            unsafe { _mm_xor_si128(self, _mm_set1_epi32(-1)) }
        }
        #[inline(always)]
        fn rotl<const L: u32, const R: u32>(self) -> __m128i {
            // Shift counts in a register: a constant one cannot be computed
            // from `L` on stable Rust.
            unsafe {
                let left = _mm_sll_epi32(self, _mm_cvtsi32_si128(L as i32));
                let right = _mm_srl_epi32(self, _mm_cvtsi32_si128(R as i32));
                _mm_or_si128(left, right)
            }
        }
    }

    impl super::Quad for __m128i {
        #[inline(always)]
        unsafe fn load_be(p: *const u8) -> __m128i {
            // SAFETY: the caller's; an unaligned load.
            unsafe {
                let v = _mm_loadu_si128(p.cast::<__m128i>());
                // Bytes swapped in each 16-bit half, then the halves.
                let v = _mm_or_si128(_mm_slli_epi16::<8>(v), _mm_srli_epi16::<8>(v));
                _mm_shufflehi_epi16::<0xb1>(_mm_shufflelo_epi16::<0xb1>(v))
            }
        }
        #[inline(always)]
        unsafe fn load_le(p: *const u8) -> __m128i {
            // SAFETY: the caller's; an unaligned load.
            unsafe { _mm_loadu_si128(p.cast::<__m128i>()) }
        }
        #[inline(always)]
        fn middle(a: __m128i, b: __m128i) -> __m128i {
            unsafe {
                let (a, b) = (_mm_castsi128_pd(a), _mm_castsi128_pd(b));
                _mm_castpd_si128(_mm_shuffle_pd::<0b01>(a, b))
            }
        }
        #[inline(always)]
        fn shift_down(a: __m128i) -> __m128i {
            unsafe { _mm_srli_si128::<4>(a) }
        }
        #[inline(always)]
        fn first_to_last(a: __m128i) -> __m128i {
            unsafe { _mm_slli_si128::<12>(a) }
        }
        #[inline(always)]
        fn transpose([r0, r1, r2, r3]: [__m128i; 4]) -> [__m128i; 4] {
            unsafe {
                let t0 = _mm_unpacklo_epi32(r0, r1);
                let t1 = _mm_unpackhi_epi32(r0, r1);
                let t2 = _mm_unpacklo_epi32(r2, r3);
                let t3 = _mm_unpackhi_epi32(r2, r3);
                [
                    _mm_unpacklo_epi64(t0, t2),
                    _mm_unpackhi_epi64(t0, t2),
                    _mm_unpacklo_epi64(t1, t3),
                    _mm_unpackhi_epi64(t1, t3),
                ]
            }
        }
        #[inline(always)]
        fn lane<const I: usize>(self) -> u32 {
            unsafe {
                (match I {
                    0 => _mm_cvtsi128_si32(self),
                    1 => _mm_cvtsi128_si32(_mm_srli_si128::<4>(self)),
                    2 => _mm_cvtsi128_si32(_mm_srli_si128::<8>(self)),
                    _ => _mm_cvtsi128_si32(_mm_srli_si128::<12>(self)),
                }) as u32
            }
        }
    }

    pub type Lanes = __m128i;
}

#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    target_arch = "x86_64"
)))]
mod imp {
    impl super::Word for [u32; 4] {
        #[inline(always)]
        fn splat(x: u32) -> [u32; 4] {
            [x; 4]
        }
        #[inline(always)]
        fn add(self, other: [u32; 4]) -> [u32; 4] {
            core::array::from_fn(|i| self[i].wrapping_add(other[i]))
        }
        #[inline(always)]
        fn xor(self, other: [u32; 4]) -> [u32; 4] {
            core::array::from_fn(|i| self[i] ^ other[i])
        }
        #[inline(always)]
        fn and(self, other: [u32; 4]) -> [u32; 4] {
            core::array::from_fn(|i| self[i] & other[i])
        }
        #[inline(always)]
        fn or(self, other: [u32; 4]) -> [u32; 4] {
            core::array::from_fn(|i| self[i] | other[i])
        }
        #[inline(always)]
        fn not(self) -> [u32; 4] {
            self.map(|x| !x)
        }
        #[inline(always)]
        fn rotl<const L: u32, const R: u32>(self) -> [u32; 4] {
            self.map(|x| x.rotate_left(L))
        }
    }

    impl super::Quad for [u32; 4] {
        #[inline(always)]
        unsafe fn load_be(p: *const u8) -> [u32; 4] {
            // SAFETY: the caller's.
            let bytes = unsafe { &*p.cast::<[u8; 16]>() };
            core::array::from_fn(|i| {
                u32::from_be_bytes([
                    bytes[4 * i],
                    bytes[4 * i + 1],
                    bytes[4 * i + 2],
                    bytes[4 * i + 3],
                ])
            })
        }
        #[inline(always)]
        unsafe fn load_le(p: *const u8) -> [u32; 4] {
            // SAFETY: the caller's.
            let bytes = unsafe { &*p.cast::<[u8; 16]>() };
            core::array::from_fn(|i| {
                u32::from_le_bytes([
                    bytes[4 * i],
                    bytes[4 * i + 1],
                    bytes[4 * i + 2],
                    bytes[4 * i + 3],
                ])
            })
        }
        #[inline(always)]
        fn middle(a: [u32; 4], b: [u32; 4]) -> [u32; 4] {
            [a[2], a[3], b[0], b[1]]
        }
        #[inline(always)]
        fn shift_down(a: [u32; 4]) -> [u32; 4] {
            [a[1], a[2], a[3], 0]
        }
        #[inline(always)]
        fn first_to_last(a: [u32; 4]) -> [u32; 4] {
            [0, 0, 0, a[0]]
        }
        #[inline(always)]
        fn transpose(rows: [[u32; 4]; 4]) -> [[u32; 4]; 4] {
            core::array::from_fn(|i| core::array::from_fn(|j| rows[j][i]))
        }
        #[inline(always)]
        fn lane<const I: usize>(self) -> u32 {
            self[I]
        }
    }

    pub type Lanes = [u32; 4];
}

/// The lanes of this build: `v128` with `simd128`, `__m128i` on x86-64,
/// else `[u32; 4]`.
pub type Lanes = imp::Lanes;

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes(q: Lanes) -> [u32; 4] {
        [q.lane::<0>(), q.lane::<1>(), q.lane::<2>(), q.lane::<3>()]
    }

    #[test]
    fn loads_and_moves_between_lanes() {
        let bytes: Vec<u8> = (0..64).collect();
        let word = |at: usize, big: bool| {
            let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            if big {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        // SAFETY: 64 bytes.
        let rows: [Lanes; 4] =
            core::array::from_fn(|j| unsafe { Lanes::load_le(bytes[16 * j..].as_ptr()) });
        for (j, row) in rows.iter().enumerate() {
            assert_eq!(
                lanes(*row),
                core::array::from_fn(|i| word(16 * j + 4 * i, false))
            );
            // SAFETY: 64 bytes.
            let be = unsafe { Lanes::load_be(bytes[16 * j..].as_ptr()) };
            assert_eq!(
                lanes(be),
                core::array::from_fn(|i| word(16 * j + 4 * i, true))
            );
        }
        let columns = Lanes::transpose(rows);
        for (i, column) in columns.iter().enumerate() {
            assert_eq!(
                lanes(*column),
                core::array::from_fn(|j| word(16 * j + 4 * i, false))
            );
        }
        let [a, b, ..] = rows.map(lanes);
        assert_eq!(
            lanes(Lanes::middle(rows[0], rows[1])),
            [a[2], a[3], b[0], b[1]]
        );
        assert_eq!(lanes(Lanes::shift_down(rows[0])), [a[1], a[2], a[3], 0]);
        assert_eq!(lanes(Lanes::first_to_last(rows[0])), [0, 0, 0, a[0]]);
        assert_eq!(lanes(rows[0].rotl::<7, 25>()), a.map(|x| x.rotate_left(7)));
        assert_eq!(lanes(rows[0].not()), a.map(|x| !x));
    }
}
