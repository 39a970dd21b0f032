//! 4-bit PQ fast-scan: 16-entry tables held in SIMD registers, looked up with byte
//! shuffles (`vpshufb`, `vqtbl1q_u8`), 32 or 64 lookups per instruction.
//!
//! # Code layout
//! Vectors go in blocks of [`PQ4_BLOCK`](crate::PQ4_BLOCK) = 32. `m` is padded to `m_pad`, a multiple of 4
//! (padding sub-quantizers have code 0 and an all-zero table row). A block is
//! `16 · m_pad` bytes; sub-quantizer `j` owns bytes `[16j, 16j + 16)`, and byte `t` holds
//! vector `t` in its low nibble and vector `t + 16` in its high nibble. So one 32-byte
//! load is two sub-quantizers (one per 128-bit lane, matching the per-lane shuffle), and
//! its low and high nibbles feed two shuffles with no cross-lane work; AVX-512 loads four.
//! That is the file's layout; in memory, codes may have each 64-byte chunk transposed
//! instead (`crate::pq4_layout`), and every kernel takes codes in either.
//!
//! # Table
//! The per-query table is `m_pad × 16` bytes, row `j` the quantized distances of
//! sub-quantizer `j`. Sums are `u16`; the caller scales the table so they cannot overflow.

pub(crate) use crate::hits::push_hits;
#[cfg(target_arch = "x86_64")]
pub(crate) use crate::hits::push_mask;
pub(crate) use crate::pq4_layout::Pq4Layout;

/// Scalar kernel: every block's 32 sums into `out`, then the indices below `n` whose sum
/// is at most `threshold` appended to `hits`. Codes are [`Pq4Layout::Transposed`] if `T`,
/// else blocked.
pub(crate) fn pq4_scan_scalar<const T: bool>(
    lut: &[u8],
    codes: &[u8],
    m_pad: usize,
    n: usize,
    threshold: u16,
    out: &mut [u16],
    hits: &mut Vec<u32>,
) {
    let layout = if T {
        Pq4Layout::Transposed
    } else {
        Pq4Layout::Blocked
    };
    let bsize = 16 * m_pad;
    for (b, (block, sums)) in codes
        .chunks_exact(bsize)
        .zip(out.chunks_exact_mut(32))
        .enumerate()
    {
        for (v, s) in sums.iter_mut().enumerate() {
            let shift = if v < 16 { 0 } else { 4 };
            let mut acc = 0u16;
            for j in 0..m_pad {
                let c = (block[layout.offset(j, v % 16)] >> shift) & 15;
                acc = acc.wrapping_add(lut[16 * j + c as usize] as u16);
            }
            *s = acc;
        }
        push_hits(sums, b, n, threshold, hits);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::push_mask;

    /// AVX2: one 32-byte load is two sub-quantizers; their tables share one register.
    #[target_feature(enable = "avx2")]
    pub(crate) fn pq4_scan_avx2(
        lut: &[u8],
        codes: &[u8],
        m_pad: usize,
        n: usize,
        threshold: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        let bsize = 16 * m_pad;
        let nib = _mm256_set1_epi8(15);
        // Unsigned `x ≤ t` as `min(x, t) == x`.
        let thr = _mm_set1_epi16(threshold as i16);
        let nblocks = codes.len() / bsize;
        assert!(lut.len() >= 16 * m_pad && out.len() >= nblocks * 32 && m_pad.is_multiple_of(2));
        for b in 0..nblocks {
            let block = &codes[b * bsize..(b + 1) * bsize];
            let (mut lo_a, mut lo_b, mut hi_a, mut hi_b) = (
                _mm256_setzero_si256(),
                _mm256_setzero_si256(),
                _mm256_setzero_si256(),
                _mm256_setzero_si256(),
            );
            for jp in (0..m_pad).step_by(2) {
                // SAFETY: `16·jp + 32 ≤ 16·m_pad`, the length of `block` and (asserted)
                // within `lut`; unaligned loads accept any address.
                let (c, t) = unsafe {
                    (
                        _mm256_loadu_si256(block.as_ptr().add(16 * jp).cast()),
                        _mm256_loadu_si256(lut.as_ptr().add(16 * jp).cast()),
                    )
                };
                let lo = _mm256_and_si256(c, nib);
                let hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), nib);
                let rl = _mm256_shuffle_epi8(t, lo);
                let rh = _mm256_shuffle_epi8(t, hi);
                lo_a = _mm256_add_epi16(lo_a, rl);
                lo_b = _mm256_add_epi16(lo_b, _mm256_srli_epi16(rl, 8));
                hi_a = _mm256_add_epi16(hi_a, rh);
                hi_b = _mm256_add_epi16(hi_b, _mm256_srli_epi16(rh, 8));
            }
            let mut mask = 0u32;
            for (half, (a, bb)) in [(lo_a, lo_b), (hi_a, hi_b)].into_iter().enumerate() {
                // FAISS's trick: `a` gathered `even + 256·odd` (wrapping), `bb` gathered
                // `odd`, so `even = a − (bb << 8)`.
                let (even, odd) = (_mm256_sub_epi16(a, _mm256_slli_epi16(bb, 8)), bb);
                // Lanes hold different sub-quantizers of the same vectors: add them.
                let e = _mm_add_epi16(
                    _mm256_castsi256_si128(even),
                    _mm256_extracti128_si256(even, 1),
                );
                let o = _mm_add_epi16(
                    _mm256_castsi256_si128(odd),
                    _mm256_extracti128_si256(odd, 1),
                );
                let v0 = _mm_unpacklo_epi16(e, o); // vectors 0..8 of this half
                let v1 = _mm_unpackhi_epi16(e, o); // vectors 8..16
                let at = b * 32 + half * 16;
                // SAFETY: `at + 16 ≤ nblocks·32 ≤ out.len()` (asserted above).
                unsafe {
                    _mm_storeu_si128(out.as_mut_ptr().add(at).cast(), v0);
                    _mm_storeu_si128(out.as_mut_ptr().add(at + 8).cast(), v1);
                }
                let p0 = _mm_cmpeq_epi16(_mm_min_epu16(v0, thr), v0);
                let p1 = _mm_cmpeq_epi16(_mm_min_epu16(v1, thr), v1);
                let bits = _mm_movemask_epi8(_mm_packs_epi16(p0, p1)) as u32;
                mask |= bits << (16 * half);
            }
            push_mask(mask, b, n, hits);
        }
    }

    /// AVX-512BW: one 64-byte load is four sub-quantizers.
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    pub(crate) fn pq4_scan_avx512(
        lut: &[u8],
        codes: &[u8],
        m_pad: usize,
        n: usize,
        threshold: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        let bsize = 16 * m_pad;
        let nib = _mm512_set1_epi8(15);
        let thr = _mm_set1_epi16(threshold as i16);
        let nblocks = codes.len() / bsize;
        assert!(lut.len() >= 16 * m_pad && out.len() >= nblocks * 32 && m_pad.is_multiple_of(4));
        for b in 0..nblocks {
            let block = &codes[b * bsize..(b + 1) * bsize];
            let (mut lo_a, mut lo_b, mut hi_a, mut hi_b) = (
                _mm512_setzero_si512(),
                _mm512_setzero_si512(),
                _mm512_setzero_si512(),
                _mm512_setzero_si512(),
            );
            for jq in (0..m_pad).step_by(4) {
                // SAFETY: `16·jq + 64 ≤ 16·m_pad`, within `block` and (asserted) `lut`.
                let (c, t) = unsafe {
                    (
                        _mm512_loadu_si512(block.as_ptr().add(16 * jq).cast()),
                        _mm512_loadu_si512(lut.as_ptr().add(16 * jq).cast()),
                    )
                };
                let lo = _mm512_and_si512(c, nib);
                let hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), nib);
                let rl = _mm512_shuffle_epi8(t, lo);
                let rh = _mm512_shuffle_epi8(t, hi);
                lo_a = _mm512_add_epi16(lo_a, rl);
                lo_b = _mm512_add_epi16(lo_b, _mm512_srli_epi16(rl, 8));
                hi_a = _mm512_add_epi16(hi_a, rh);
                hi_b = _mm512_add_epi16(hi_b, _mm512_srli_epi16(rh, 8));
            }
            let mut mask = 0u32;
            for (half, (a, bb)) in [(lo_a, lo_b), (hi_a, hi_b)].into_iter().enumerate() {
                let even = _mm512_sub_epi16(a, _mm512_slli_epi16(bb, 8));
                // Four lanes, four groups of sub-quantizers: fold 512 → 256 → 128.
                let fold = |x: __m512i| {
                    let y = _mm256_add_epi16(
                        _mm512_castsi512_si256(x),
                        _mm512_extracti64x4_epi64(x, 1),
                    );
                    _mm_add_epi16(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1))
                };
                let (e, o) = (fold(even), fold(bb));
                let v0 = _mm_unpacklo_epi16(e, o);
                let v1 = _mm_unpackhi_epi16(e, o);
                let at = b * 32 + half * 16;
                // SAFETY: `at + 16 ≤ nblocks·32 ≤ out.len()` (asserted above).
                unsafe {
                    _mm_storeu_si128(out.as_mut_ptr().add(at).cast(), v0);
                    _mm_storeu_si128(out.as_mut_ptr().add(at + 8).cast(), v1);
                }
                let p0 = _mm_cmpeq_epi16(_mm_min_epu16(v0, thr), v0);
                let p1 = _mm_cmpeq_epi16(_mm_min_epu16(v1, thr), v1);
                let bits = _mm_movemask_epi8(_mm_packs_epi16(p0, p1)) as u32;
                mask |= bits << (16 * half);
            }
            push_mask(mask, b, n, hits);
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod arm {
    use std::arch::aarch64::*;

    /// NEON: `vqtbl1q_u8` looks up 16 bytes in one 16-entry table; one sub-quantizer per
    /// step. Sums widen to u16 with `vaddw_u8`.
    #[target_feature(enable = "neon")]
    pub(crate) fn pq4_scan_neon(
        lut: &[u8],
        codes: &[u8],
        m_pad: usize,
        n: usize,
        threshold: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        let bsize = 16 * m_pad;
        let nblocks = codes.len() / bsize;
        assert!(lut.len() >= 16 * m_pad && out.len() >= nblocks * 32);
        for b in 0..nblocks {
            let block = &codes[b * bsize..(b + 1) * bsize];
            let mut acc = [vdupq_n_u16(0); 4];
            for j in 0..m_pad {
                // SAFETY: `16·j + 16 ≤ 16·m_pad`, within `block` and (asserted) `lut`.
                let (c, t) = unsafe {
                    (
                        vld1q_u8(block.as_ptr().add(16 * j)),
                        vld1q_u8(lut.as_ptr().add(16 * j)),
                    )
                };
                let lo = vqtbl1q_u8(t, vandq_u8(c, vdupq_n_u8(15)));
                let hi = vqtbl1q_u8(t, vshrq_n_u8(c, 4));
                acc[0] = vaddw_u8(acc[0], vget_low_u8(lo));
                acc[1] = vaddw_u8(acc[1], vget_high_u8(lo));
                acc[2] = vaddw_u8(acc[2], vget_low_u8(hi));
                acc[3] = vaddw_u8(acc[3], vget_high_u8(hi));
            }
            for (q, a) in acc.iter().enumerate() {
                // SAFETY: `b·32 + 8q + 8 ≤ nblocks·32 ≤ out.len()` (asserted above).
                unsafe { vst1q_u16(out.as_mut_ptr().add(b * 32 + 8 * q), *a) };
            }
            super::push_hits(&out[b * 32..b * 32 + 32], b, n, threshold, hits);
        }
    }
}

/// The signature every level's fast-scan kernel shares.
pub(crate) type Pq4Scan = fn(&[u8], &[u8], usize, usize, u16, &mut [u16], &mut Vec<u32>);

/// The signature of every level's scan of one list for several queries:
/// `(codes, m_pad, n, queries)`.
pub(crate) type Pq4ScanQueries = fn(&[u8], usize, usize, &mut [Pq4Query<'_>]);

/// One query of [`crate::Kernels::pq4_scan_queries`]: its table, its threshold, and where
/// its sums and hits go (as [`crate::Kernels::pq4_scan`] takes them).
pub struct Pq4Query<'a> {
    /// The query's table, `pq4_m_pad(m) × 16` bytes.
    pub lut: &'a [u8],
    /// Codes whose sum is at most this are hits.
    pub threshold: u16,
    /// Whether every code's sum is wanted. Otherwise only the blocks of 32 codes that hold
    /// a hit are sure to be written (the sums of the others are left unspecified): most
    /// blocks of a list have none, and their sums need not be narrowed and stored.
    pub all_sums: bool,
    /// The codes' sums (resized to whole blocks; see `all_sums`).
    pub sums: &'a mut Vec<u16>,
    /// The hits, appended in increasing order.
    pub hits: &'a mut Vec<u32>,
}

/// A level without a multi-query kernel: `scan` once per query.
pub(crate) fn each_query(
    scan: Pq4Scan,
    codes: &[u8],
    m_pad: usize,
    n: usize,
    qs: &mut [Pq4Query<'_>],
) {
    for q in qs {
        scan(q.lut, codes, m_pad, n, q.threshold, q.sums, q.hits);
    }
}

/// A level's fast-scan kernels, indexed by layout (`Blocked` 0, `Transposed` 1). A level
/// whose kernels read only blocked codes scans transposed ones (which its searches never
/// make, but may be handed) with the scalar kernel.
pub(crate) struct Pq4Kernels {
    /// The layout the level reads fastest.
    pub(crate) layout: fn() -> Pq4Layout,
    /// One query.
    pub(crate) scan: [Pq4Scan; 2],
    /// Several queries at once; `None`: `scan` once per query.
    pub(crate) scan_queries: [Option<Pq4ScanQueries>; 2],
}

/// A level with one-query kernels for blocked codes only.
const fn blocked_only(scan: Pq4Scan) -> Pq4Kernels {
    Pq4Kernels {
        layout: || Pq4Layout::Blocked,
        scan: [scan, pq4_scan_scalar::<true>],
        scan_queries: [None, None],
    }
}

pub(crate) mod scalar {
    pub(crate) const PQ4: super::Pq4Kernels = super::blocked_only(super::pq4_scan_scalar::<false>);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod v3 {
    pub(crate) fn pq4_scan(
        lut: &[u8],
        codes: &[u8],
        m_pad: usize,
        n: usize,
        threshold: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        // SAFETY: reachable only through the AVX2 table, which `Kernels::for_level` returns
        // only when `V3::is_available()` (AVX2 present).
        unsafe { super::x86::pq4_scan_avx2(lut, codes, m_pad, n, threshold, out, hits) }
    }

    pub(crate) const PQ4: super::Pq4Kernels = super::blocked_only(pq4_scan);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod v4 {
    use super::{Pq4Kernels, Pq4Layout, Pq4Query, pq4_scan_scalar};

    /// The VBMI kernel (codes transposed if `T`) where the CPU has it; else the BW kernel
    /// for blocked codes, the scalar one for transposed codes.
    fn scan<const T: bool>(
        lut: &[u8],
        codes: &[u8],
        m_pad: usize,
        n: usize,
        thr: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        if crate::pq4_vbmi::has_vbmi_vnni() {
            // SAFETY: the CPU has AVX-512 F/BW, VBMI and VNNI (checked just above).
            return unsafe {
                crate::pq4_vbmi::pq4_scan_vbmi::<T>(lut, codes, m_pad, n, thr, out, hits)
            };
        }
        if T {
            return pq4_scan_scalar::<true>(lut, codes, m_pad, n, thr, out, hits);
        }
        // SAFETY: reachable only through the AVX-512 table, which `Kernels::for_level`
        // returns only when `V4::is_available()` (AVX-512 F/BW/DQ/VL present).
        unsafe { super::x86::pq4_scan_avx512(lut, codes, m_pad, n, thr, out, hits) }
    }

    /// The multi-query VBMI kernel (`T` as in [`scan`]), else [`scan`] once a query.
    fn scan_queries<const T: bool>(codes: &[u8], m_pad: usize, n: usize, qs: &mut [Pq4Query<'_>]) {
        if !crate::pq4_vbmi::has_vbmi_vnni() {
            return super::each_query(scan::<T>, codes, m_pad, n, qs);
        }
        // SAFETY: the CPU has AVX-512 F/BW, VBMI and VNNI (checked just above).
        unsafe { crate::pq4_vbmi::pq4_scan_queries_vbmi::<T>(codes, m_pad, n, qs) }
    }

    /// Transposed where the VBMI kernel runs: it then skips its per-chunk transpose.
    fn layout() -> Pq4Layout {
        if crate::pq4_vbmi::has_vbmi_vnni() {
            Pq4Layout::Transposed
        } else {
            Pq4Layout::Blocked
        }
    }

    pub(crate) const PQ4: Pq4Kernels = Pq4Kernels {
        layout,
        scan: [scan::<false>, scan::<true>],
        scan_queries: [Some(scan_queries::<false>), Some(scan_queries::<true>)],
    };
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon {
    pub(crate) fn pq4_scan(
        lut: &[u8],
        codes: &[u8],
        m_pad: usize,
        n: usize,
        threshold: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        // SAFETY: reachable only through the NEON table, which `Kernels::for_level` returns
        // only when `Neon::is_available()`.
        unsafe { super::arm::pq4_scan_neon(lut, codes, m_pad, n, threshold, out, hits) }
    }

    pub(crate) const PQ4: super::Pq4Kernels = super::blocked_only(pq4_scan);
}
