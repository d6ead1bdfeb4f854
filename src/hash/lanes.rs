//! Four 32-bit lanes: a `v128` when the build has `simd128` (the wasm32
//! build does, see `.cargo/config.toml`), else a `[u32; 4]` with the same
//! operations. The hashers are written once against [`Quad`], so the
//! vector algorithms are tested natively and run vectorised in the browser.

/// The 32-bit word operations the hashers need, lane by lane. Also
/// implemented by `u32` (one lane), so that a round written once serves
/// the scalar and the four-lane hashers.
pub trait Word: Copy {
    fn splat(x: u32) -> Self;
    fn add(self, other: Self) -> Self;
    fn xor(self, other: Self) -> Self;
    fn and(self, other: Self) -> Self;
    fn or(self, other: Self) -> Self;
    fn not(self) -> Self;
    /// Rotates left by `L` (`R` is `32 - L`).
    fn rotl<const L: u32, const R: u32>(self) -> Self;
}

impl Word for u32 {
    #[inline(always)]
    fn splat(x: u32) -> u32 {
        x
    }
    #[inline(always)]
    fn add(self, other: u32) -> u32 {
        self.wrapping_add(other)
    }
    #[inline(always)]
    fn xor(self, other: u32) -> u32 {
        self ^ other
    }
    #[inline(always)]
    fn and(self, other: u32) -> u32 {
        self & other
    }
    #[inline(always)]
    fn or(self, other: u32) -> u32 {
        self | other
    }
    #[inline(always)]
    fn not(self) -> u32 {
        !self
    }
    #[inline(always)]
    fn rotl<const L: u32, const R: u32>(self) -> u32 {
        self.rotate_left(L)
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

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
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

/// The lanes of this build: `v128` with `simd128`, else `[u32; 4]`.
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
