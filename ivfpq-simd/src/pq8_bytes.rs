//! The 8-bit scan with byte tables: each sub-quantizer's 256 distances quantized to `u8`
//! and looked up 64 codes at a time with AVX-512 VBMI's two-table byte permute
//! (`vpermi2b`), summed in `u16` lanes.
//!
//! The float scan ([`crate::pq`]) spends a table load and an add on every code byte, about
//! one byte a cycle. Here a 256-byte table row is four 512-bit registers: two `vpermi2b`
//! look up 64 codes in its low and high 128 entries, a mask of the codes' top bits picks
//! between them, and two `u16` adds accumulate (even and odd bytes apart, as the 4-bit
//! fast-scan does). The quantization is the 4-bit table's (`pq4_table`): per-row minima,
//! one scale, so the caller gets `base + Σ bytes / scale` and rescores survivors with the
//! float table.
//!
//! The codes are the 8-bit blocked layout of [`crate::pq`] (32 vectors a block,
//! sub-quantizer-major), read two blocks at a time. CPUs without VBMI (AVX2, Skylake-X and
//! Cascade Lake AVX-512, NEON) get a scalar kernel here that is no faster than the float
//! scan; [`crate::Kernels::has_pq8_byte_scan`] tells the caller which it will get.

use crate::pq::PQ8_BLOCK;

/// The signature of every byte-table 8-bit scan.
pub(crate) type Pq8ByteScan = fn(&[u8], &[u8], usize, usize, u16, &mut [u16], &mut Vec<u32>);

/// Scalar kernel: each block's 32 `u16` sums (wrapping) into `out`, then the indices below
/// `n` whose sum is at most `threshold` appended to `hits`.
pub(crate) fn pq8_byte_scan_scalar(
    lut: &[u8],
    codes: &[u8],
    m: usize,
    n: usize,
    threshold: u16,
    out: &mut [u16],
    hits: &mut Vec<u32>,
) {
    let bsize = PQ8_BLOCK * m;
    if bsize == 0 {
        return;
    }
    for (b, (block, sums)) in codes
        .chunks_exact(bsize)
        .zip(out.chunks_exact_mut(PQ8_BLOCK))
        .enumerate()
    {
        sums.fill(0);
        for (j, row) in lut.chunks_exact(256).take(m).enumerate() {
            for (s, &c) in sums.iter_mut().zip(&block[j * PQ8_BLOCK..]) {
                *s = s.wrapping_add(u16::from(row[c as usize]));
            }
        }
        crate::hits::push_hits(sums, b, n, threshold, hits);
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::PQ8_BLOCK;

    /// Whether this CPU has the byte permutes the fast kernel needs.
    pub(crate) fn has_vbmi() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
    }

    /// AVX-512 VBMI: two blocks (64 codes) per step, one sub-quantizer at a time. Call
    /// it only when [`has_vbmi`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn pq8_byte_scan_vbmi(
        lut: &[u8],
        codes: &[u8],
        m: usize,
        n: usize,
        threshold: u16,
        out: &mut [u16],
        hits: &mut Vec<u32>,
    ) {
        let bsize = PQ8_BLOCK * m;
        if bsize == 0 {
            return;
        }
        let nblocks = codes.len() / bsize;
        assert!(lut.len() >= 256 * m && out.len() >= nblocks * PQ8_BLOCK);
        let low_byte = _mm512_set1_epi16(0x00ff);
        let thr = _mm512_set1_epi16(threshold as i16);
        // 128-bit lanes of the two interleaved halves, back in vector order (see below).
        let first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
        let second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
        for b in (0..nblocks).step_by(2) {
            let pair = b + 1 < nblocks;
            let (mut even, mut odd) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for j in 0..m {
                // SAFETY: block `b` (and `b + 1` when `pair`) lies within `codes`, and
                // `j·32 + 32 ≤ bsize`; the table row `j` is within `lut` (asserted).
                let (c, t) = unsafe {
                    let at = codes.as_ptr().add(b * bsize + j * PQ8_BLOCK);
                    let lo = _mm256_loadu_si256(at.cast());
                    let hi = if pair {
                        _mm256_loadu_si256(at.add(bsize).cast())
                    } else {
                        _mm256_setzero_si256()
                    };
                    let row = lut.as_ptr().add(256 * j);
                    (
                        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi),
                        [
                            _mm512_loadu_si512(row.cast()),
                            _mm512_loadu_si512(row.add(64).cast()),
                            _mm512_loadu_si512(row.add(128).cast()),
                            _mm512_loadu_si512(row.add(192).cast()),
                        ],
                    )
                };
                // Entries 0..128 and 128..256 by the low seven bits; the top bit chooses.
                let low = _mm512_permutex2var_epi8(t[0], c, t[1]);
                let high = _mm512_permutex2var_epi8(t[2], c, t[3]);
                let v = _mm512_mask_blend_epi8(_mm512_movepi8_mask(c), low, high);
                even = _mm512_add_epi16(even, _mm512_and_si512(v, low_byte));
                odd = _mm512_add_epi16(odd, _mm512_srli_epi16::<8>(v));
            }
            // Byte p of the 64 is vector p: `even` holds p = 0, 2, .., `odd` p = 1, 3, ..
            // Unpacking pairs them per 128-bit lane (lo: p 0..8 of each 16, hi: 8..16);
            // the 64-bit permutes put the lanes back in order.
            let lo = _mm512_unpacklo_epi16(even, odd);
            let hi = _mm512_unpackhi_epi16(even, odd);
            let sums = [
                _mm512_permutex2var_epi64(lo, first, hi),
                _mm512_permutex2var_epi64(lo, second, hi),
            ];
            for (h, s) in sums.into_iter().enumerate().take(if pair { 2 } else { 1 }) {
                let blk = b + h;
                // SAFETY: `blk < nblocks`, so `blk·32 + 32 ≤ out.len()` (asserted above).
                unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(blk * PQ8_BLOCK).cast(), s) };
                crate::hits::push_mask(_mm512_cmple_epu16_mask(s, thr), blk, n, hits);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
/// The AVX-512 level's entry point: VBMI when the CPU has it, else the scalar kernel.
/// (Other levels use [`pq8_byte_scan_scalar`] directly, so `IVFPQ_SIMD` still forces it.)
pub(crate) fn pq8_byte_scan_avx512(
    lut: &[u8],
    codes: &[u8],
    m: usize,
    n: usize,
    threshold: u16,
    out: &mut [u16],
    hits: &mut Vec<u32>,
) {
    if x86::has_vbmi() {
        // SAFETY: the CPU has AVX-512 F, BW and VBMI (checked just above).
        unsafe { x86::pq8_byte_scan_vbmi(lut, codes, m, n, threshold, out, hits) };
        return;
    }
    pq8_byte_scan_scalar(lut, codes, m, n, threshold, out, hits)
}
