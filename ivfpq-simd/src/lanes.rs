//! The two lane operations the distance kernels need beyond `pulp::Simd`: loading a
//! slice's short tail, and summing the lanes of several accumulators at once.
//!
//! pulp's `partial_load_f32s` jumps through a table of assembly stubs that pin `zmm0`, and
//! its `reduce_sum_f32s` folds one vector in four dependent shuffle-add steps. In the
//! one-query-against-many-rows kernel both run once per row, and at d = 50 or 128 they
//! cost as much as the FMAs. Here a tail is one masked load, and eight accumulators are
//! reduced together by a transposing tree of shuffles: each step adds two vectors' halves,
//! so eight rows take 7 + 1 adds instead of 32.

use pulp::Simd;

/// Tail loads and batched horizontal sums, specialised per instruction-set level.
pub(crate) trait Lanes: Simd {
    /// `t` (shorter than one vector) zero-padded to a vector.
    #[inline(always)]
    fn load_tail(self, t: &[f32]) -> Self::f32s {
        let mut buf = [0.0f32; 16];
        let n = t.len().min(16);
        buf[..n].copy_from_slice(&t[..n]);
        let lanes = core::mem::size_of::<Self::f32s>() / core::mem::size_of::<f32>();
        let (head, _) = Self::as_simd_f32s(&buf[..lanes]);
        head[0]
    }

    /// The sum of the lanes of each accumulator.
    #[inline(always)]
    fn sums<const N: usize>(self, acc: [Self::f32s; N]) -> [f32; N] {
        one_by_one(self, acc)
    }

    /// The low byte of each of 16 words. Written out per level: how the optimiser
    /// vectorizes the plain loop depends on the build (fat LTO gave shuffles, cargo's
    /// default release profile 16 single-byte extracts: the 4-bit table took twice as
    /// long).
    #[inline(always)]
    fn low_bytes(self, words: &[u32; 16], out: &mut [u8; 16]) {
        for (b, w) in out.iter_mut().zip(words) {
            *b = *w as u8;
        }
    }
}

/// Each accumulator reduced on its own.
///
/// A plain loop, not `array::map` or `from_fn` with a closure: a closure is a function of
/// its own, which need not inherit the caller's target features, and then every intrinsic
/// in it is an out-of-line call (measured: 2.3× slower at d = 960).
#[inline(always)]
fn one_by_one<S: Simd, const N: usize>(s: S, acc: [S::f32s; N]) -> [f32; N] {
    let mut out = [0.0; N];
    for (o, a) in out.iter_mut().zip(acc) {
        *o = s.reduce_sum_f32s(a);
    }
    out
}

/// The first `N` lanes of `v` (`N <= v.len()`; missing lanes read as zero).
#[inline(always)]
fn first<const N: usize>(v: &[f32]) -> [f32; N] {
    let mut out = [0.0; N];
    let n = N.min(v.len());
    out[..n].copy_from_slice(&v[..n]);
    out
}

impl Lanes for pulp::Scalar {}

#[cfg(target_arch = "aarch64")]
impl Lanes for pulp::aarch64::Neon {}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{__m256, __m256i, __m512};

    use pulp::cast;
    use pulp::x86::{V3, V4};
    use pulp::{f32x8, f32x16};

    use super::Lanes;

    /// Lane masks for `_mm256_maskload_ps`: the 8 entries from `8 - n` select `n` lanes.
    static MASK8: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

    // The reduction tree, as functions rather than closures (see `one_by_one`). `pair`
    // and `quad` stay inside 128-bit lanes, so they are the same at 256 and 512 bits:
    // pair(a, b) holds [a0+a2, b0+b2, a1+a3, b1+b3] in each 128-bit lane, and
    // quad(pair(a, b), pair(c, d)) holds [Σa, Σb, Σc, Σd] over that lane.

    #[inline(always)]
    fn pair8(s: V3, a: __m256, b: __m256) -> __m256 {
        let lo = s.avx._mm256_unpacklo_ps(a, b);
        s.avx._mm256_add_ps(lo, s.avx._mm256_unpackhi_ps(a, b))
    }

    #[inline(always)]
    fn quad8(s: V3, p: __m256, q: __m256) -> __m256 {
        let lo = s.avx._mm256_shuffle_ps::<0x44>(p, q);
        s.avx
            ._mm256_add_ps(lo, s.avx._mm256_shuffle_ps::<0xEE>(p, q))
    }

    #[inline(always)]
    fn pair16(s: V4, a: __m512, b: __m512) -> __m512 {
        let lo = s.avx512f._mm512_unpacklo_ps(a, b);
        s.avx512f
            ._mm512_add_ps(lo, s.avx512f._mm512_unpackhi_ps(a, b))
    }

    #[inline(always)]
    fn quad16(s: V4, p: __m512, q: __m512) -> __m512 {
        let lo = s.avx512f._mm512_shuffle_ps::<0x44>(p, q);
        s.avx512f
            ._mm512_add_ps(lo, s.avx512f._mm512_shuffle_ps::<0xEE>(p, q))
    }

    /// Lanes [p0+p1, p2+p3, q0+q1, q2+q3], counting in 128-bit lanes.
    #[inline(always)]
    fn halves16(s: V4, p: __m512, q: __m512) -> __m512 {
        let even = s.avx512f._mm512_shuffle_f32x4::<0x88>(p, q);
        s.avx512f
            ._mm512_add_ps(even, s.avx512f._mm512_shuffle_f32x4::<0xDD>(p, q))
    }

    impl Lanes for V3 {
        #[inline(always)]
        fn load_tail(self, t: &[f32]) -> f32x8 {
            let n = t.len().min(8);
            let mut mask = [0i32; 8];
            mask.copy_from_slice(&MASK8[8 - n..16 - n]);
            let mask: __m256i = cast(mask);
            // SAFETY: `vmaskmovps` reads only the lanes whose mask is set, the first `n`,
            // which are all inside `t`; masked-off lanes never fault.
            cast(unsafe { self.avx._mm256_maskload_ps(t.as_ptr(), mask) })
        }

        #[inline(always)]
        fn sums<const N: usize>(self, acc: [f32x8; N]) -> [f32; N] {
            if N != 8 {
                return super::one_by_one(self, acc);
            }
            let mut v = [self.avx._mm256_setzero_ps(); 8];
            for (v, a) in v.iter_mut().zip(acc) {
                *v = cast(a);
            }
            let lo = quad8(self, pair8(self, v[0], v[1]), pair8(self, v[2], v[3]));
            let hi = quad8(self, pair8(self, v[4], v[5]), pair8(self, v[6], v[7]));
            // Rows 0-3 are `lo`'s two 128-bit halves summed, rows 4-7 `hi`'s.
            let low_halves = self.avx._mm256_permute2f128_ps::<0x20>(lo, hi);
            let high_halves = self.avx._mm256_permute2f128_ps::<0x31>(lo, hi);
            let total = self.avx._mm256_add_ps(low_halves, high_halves);
            super::first(&cast::<_, [f32; 8]>(total))
        }

        #[inline(always)]
        fn low_bytes(self, words: &[u32; 16], out: &mut [u8; 16]) {
            let [lo, hi]: [[u32; 8]; 2] = cast(*words);
            // In each 128-bit lane, the low bytes of its four words into its first word.
            let pick: __m256i = cast(LOW_BYTES);
            let a = self.avx2._mm256_shuffle_epi8(cast(lo), pick);
            let b = self.avx2._mm256_shuffle_epi8(cast(hi), pick);
            // Words 0 and 4 of `a` to words 0 and 1, those of `b` to words 2 and 3; the
            // other words chosen (1) are zero.
            let a = self
                .avx2
                ._mm256_permutevar8x32_epi32(a, cast([0u32, 4, 1, 1, 1, 1, 1, 1]));
            let b = self
                .avx2
                ._mm256_permutevar8x32_epi32(b, cast([1u32, 1, 0, 4, 1, 1, 1, 1]));
            let all: [[u8; 16]; 2] = cast(self.avx2._mm256_or_si256(a, b));
            *out = all[0];
        }
    }

    /// `vpshufb` indices: bytes 0, 4, 8 and 12 of each 128-bit lane first, zeros after.
    static LOW_BYTES: [u8; 32] = [
        0, 4, 8, 12, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, //
        0, 4, 8, 12, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
    ];

    impl Lanes for V4 {
        #[inline(always)]
        fn load_tail(self, t: &[f32]) -> f32x16 {
            let mask = ((1u32 << t.len().min(16)) - 1) as u16;
            // SAFETY: a masked load reads only the lanes whose mask bit is set, the first
            // `t.len()`, which are all inside `t`; masked-off lanes never fault.
            cast(unsafe { self.avx512f._mm512_maskz_loadu_ps(mask, t.as_ptr()) })
        }

        #[inline(always)]
        fn sums<const N: usize>(self, acc: [f32x16; N]) -> [f32; N] {
            if N != 8 {
                return super::one_by_one(self, acc);
            }
            let mut v = [self.avx512f._mm512_setzero_ps(); 8];
            for (v, a) in v.iter_mut().zip(acc) {
                *v = cast(a);
            }
            let lo = quad16(self, pair16(self, v[0], v[1]), pair16(self, v[2], v[3]));
            let hi = quad16(self, pair16(self, v[4], v[5]), pair16(self, v[6], v[7]));
            // [lo01, lo23, hi01, hi23], then [lo, hi, lo, hi]: rows 0-7 in lanes 0-7.
            let r = halves16(self, lo, hi);
            super::first(&cast::<_, [f32; 16]>(halves16(self, r, r)))
        }

        #[inline(always)]
        fn low_bytes(self, words: &[u32; 16], out: &mut [u8; 16]) {
            // `vpmovdb`: each word truncated to its low byte.
            *out = cast(self.avx512f._mm512_cvtepi32_epi8(cast(*words)));
        }
    }
}
