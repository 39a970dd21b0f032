//! The 4-bit fast-scan on AVX-512 VBMI + VNNI: lookups with the full-width byte permute
//! (`vpermb`) and sums with the byte dot product (`vpdpbusd`).
//!
//! The BW kernel ([`crate::pq4`]) looks up with the per-lane `vpshufb`, so a vector's four
//! sub-quantizers land in four different 128-bit lanes. Summing them takes `u16` adds of
//! the even and odd bytes apart, two shifts, and a fold across lanes at the end of each
//! block: on Zen 4, where a 512-bit shift or shuffle occupies both shuffle pipes, that is
//! five shuffle-pipe operations per 64 code bytes.
//!
//! Here one `vpermb` with a constant index first transposes the 64 code bytes, so that
//! each 32-bit lane holds one vector's (two vectors', by nibble) four sub-quantizers. A
//! nibble or'ed with `16·s` (sub-quantizer `s` of the four) indexes all four 16-byte
//! tables at once, since `vpermb` reads the whole 64-byte register. `vpdpbusd` with a
//! vector of ones then adds the four looked-up bytes of each lane into an `i32` sum: the
//! sums are already per vector, and no fold is needed. Three shuffle-pipe operations and
//! two dot products per 64 code bytes; the code layout (and so the file format) is the
//! one every level shares. Codes kept in memory already transposed
//! ([`crate::Pq4Layout::Transposed`]) skip the first permute (`T = true`): two shuffle-pipe
//! operations a chunk.
//!
//! Sums are truncated to `u16` (as the other kernels' sums wrap) before the threshold
//! test, so every level returns identical results.

use std::arch::x86_64::*;

/// Whether this CPU has what [`pq4_scan_vbmi`] needs.
pub(crate) fn has_vbmi_vnni() -> bool {
    crate::pq8_bytes::x86::has_vbmi() && is_x86_feature_detected!("avx512vnni")
}

/// The index that transposes a 64-byte chunk from the blocked layout to the transposed
/// one (`crate::Pq4Layout`, whose offsets define both): byte `p` of the result is byte
/// `idx[p]` of the chunk.
const fn transpose_index() -> [u8; 64] {
    use crate::Pq4Layout::{Blocked, Transposed};
    let mut idx = [0u8; 64];
    let mut p = 0;
    while p < 64 {
        let (s, t) = (p / 16, p % 16);
        idx[Transposed.offset(s, t)] = Blocked.offset(s, t) as u8;
        p += 1;
    }
    idx
}

const TRANSPOSE: [u8; 64] = transpose_index();

/// `(a & b) | c` as a ternary-logic truth table over the inputs' patterns F0, CC, AA.
const AND_OR: i32 = 0xEA;

/// The constants of a chunk's decode and lookups, shared by both kernels.
#[derive(Clone, Copy)]
struct Decode {
    transpose: __m512i,
    nib: __m512i,
    /// Byte `s` of each 32-bit lane selects table `s` of the four in the register.
    offset: __m512i,
    ones: __m512i,
}

impl Decode {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    fn new() -> Decode {
        Decode {
            transpose: Decode::load(&TRANSPOSE),
            nib: _mm512_set1_epi8(15),
            offset: _mm512_set1_epi32(0x3020_1000),
            ones: _mm512_set1_epi8(1),
        }
    }

    /// The first 64 bytes of `bytes` as a register (a table: four sub-quantizers' 16
    /// entries; or a chunk of codes).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    fn load(bytes: &[u8]) -> __m512i {
        assert!(bytes.len() >= 64);
        // SAFETY: `bytes` holds at least 64 bytes (asserted); an unaligned load accepts
        // any address.
        unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
    }

    /// A chunk of 64 code bytes as table indices `(lo, hi)`: transposed to vector-major
    /// (unless `T`: already so), each nibble or'ed with its sub-quantizer's table offset;
    /// lanes of `lo` are vectors 0..16 (low nibbles), of `hi` vectors 16..32.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx2")]
    fn indices<const T: bool>(self, chunk: &[u8]) -> (__m512i, __m512i) {
        let c = if T {
            Decode::load(chunk)
        } else {
            _mm512_permutexvar_epi8(self.transpose, Decode::load(chunk))
        };
        let lo = _mm512_ternarylogic_epi32::<AND_OR>(c, self.nib, self.offset);
        let hi = _mm512_srli_epi16::<4>(c);
        (
            lo,
            _mm512_ternarylogic_epi32::<AND_OR>(hi, self.nib, self.offset),
        )
    }

    /// `acc` plus, in each 32-bit lane, the sum of the four bytes `idx` looks up in `t`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vnni,avx2")]
    fn add(self, acc: __m512i, idx: __m512i, t: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(idx, t), self.ones)
    }
}

/// AVX-512 VBMI + VNNI: four sub-quantizers of 32 vectors per 64-byte load, codes in the
/// blocked layout or (`T`) transposed. Call it only when [`has_vbmi_vnni`].
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vnni,avx2")]
pub(crate) fn pq4_scan_vbmi<const T: bool>(
    lut: &[u8],
    codes: &[u8],
    m_pad: usize,
    n: usize,
    threshold: u16,
    out: &mut [u16],
    hits: &mut Vec<u32>,
) {
    let bsize = 16 * m_pad;
    let nblocks = codes.len() / bsize.max(1);
    assert!(lut.len() >= 16 * m_pad && out.len() >= nblocks * 32 && m_pad.is_multiple_of(4));
    let dec = Decode::new();
    let thr = _mm512_set1_epi32(i32::from(threshold));
    let zero = _mm512_setzero_si512();
    // One chunk (four sub-quantizers, 64 code bytes) into `(lo, hi)`: lanes of `lo` are
    // vectors 0..16 (low nibbles), of `hi` vectors 16..32.
    let step = |block: &[u8], jq: usize, (lo_acc, hi_acc): (__m512i, __m512i)| {
        let (lo, hi) = dec.indices::<T>(&block[16 * jq..16 * jq + 64]);
        let t = Decode::load(&lut[16 * jq..16 * jq + 64]);
        (dec.add(lo_acc, lo, t), dec.add(hi_acc, hi, t))
    };
    for b in 0..nblocks {
        let block = &codes[b * bsize..(b + 1) * bsize];
        // Two sets of accumulators (chunks alternate) halve the dot products' dependency
        // chains.
        let (mut a, mut z) = ((zero, zero), (zero, zero));
        let mut jq = 0;
        while jq + 8 <= m_pad {
            a = step(block, jq, a);
            z = step(block, jq + 4, z);
            jq += 8;
        }
        if jq < m_pad {
            a = step(block, jq, a);
        }
        let acc = (_mm512_add_epi32(a.0, z.0), _mm512_add_epi32(a.1, z.1));
        finish(acc, (thr, true), b, n, &mut out[b * 32..b * 32 + 32], hits);
    }
}

/// Queries scanned together by [`pq4_scan_queries_vbmi`]: each adds two accumulators,
/// a table and its lookups; four keep everything in registers.
const QUERIES: usize = 4;

/// [`pq4_scan_vbmi`] for several queries at once: each 64-byte chunk of codes is loaded,
/// transposed and split into nibble indices once, then looked up in up to [`QUERIES`]
/// tables. `T` as in [`pq4_scan_vbmi`]. Call it only when [`has_vbmi_vnni`].
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vnni,avx2")]
pub(crate) fn pq4_scan_queries_vbmi<const T: bool>(
    codes: &[u8],
    m_pad: usize,
    n: usize,
    qs: &mut [crate::Pq4Query<'_>],
) {
    for group in qs.chunks_mut(QUERIES) {
        match group.len() {
            4 => scan_queries::<4, T>(codes, m_pad, n, group),
            3 => scan_queries::<3, T>(codes, m_pad, n, group),
            2 => scan_queries::<2, T>(codes, m_pad, n, group),
            _ => {
                for q in group {
                    pq4_scan_vbmi::<T>(q.lut, codes, m_pad, n, q.threshold, q.sums, q.hits);
                }
            }
        }
    }
}

/// [`pq4_scan_queries_vbmi`] for exactly `Q` queries (`T` as there) (`Q ≥ 2`: with one, a single set of
/// accumulators would leave the dot products' latency exposed).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vnni,avx2")]
fn scan_queries<const Q: usize, const T: bool>(
    codes: &[u8],
    m_pad: usize,
    n: usize,
    qs: &mut [crate::Pq4Query<'_>],
) {
    let bsize = 16 * m_pad;
    let nblocks = codes.len() / bsize.max(1);
    assert!(
        qs.len() == Q
            && m_pad.is_multiple_of(4)
            && qs
                .iter()
                .all(|q| q.lut.len() >= 16 * m_pad && q.sums.len() >= nblocks * 32)
    );
    let dec = Decode::new();
    let zero = _mm512_setzero_si512();
    let mut luts: [&[u8]; Q] = [&[]; Q];
    let mut thr = [zero; Q];
    for q in 0..Q {
        luts[q] = qs[q].lut;
        thr[q] = _mm512_set1_epi32(i32::from(qs[q].threshold));
    }
    for b in 0..nblocks {
        let block = &codes[b * bsize..(b + 1) * bsize];
        let (mut lo_acc, mut hi_acc) = ([zero; Q], [zero; Q]);
        for jq in (0..m_pad).step_by(4) {
            let (lo, hi) = dec.indices::<T>(&block[16 * jq..16 * jq + 64]);
            for q in 0..Q {
                let t = Decode::load(&luts[q][16 * jq..16 * jq + 64]);
                lo_acc[q] = dec.add(lo_acc[q], lo, t);
                hi_acc[q] = dec.add(hi_acc[q], hi, t);
            }
        }
        for (q, query) in qs.iter_mut().enumerate() {
            let all = query.all_sums;
            let out = &mut query.sums[b * 32..b * 32 + 32];
            finish((lo_acc[q], hi_acc[q]), (thr[q], all), b, n, out, query.hits);
        }
    }
}

/// Block `b`'s lanes (vectors `0..16`, `16..32`) whose sum, as a `u16`, is at most `thr`
/// (below `n`) into `hits`; the sums, truncated to `u16`, into `out` (32) when the block
/// has a hit or `all` asks for them. The test is made on the 32-bit lanes: most blocks
/// have no hit, and narrowing them for the store would take shuffles the lookups need.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
fn finish(
    (lo, hi): (__m512i, __m512i),
    (thr, all): (__m512i, bool),
    b: usize,
    n: usize,
    out: &mut [u16],
    hits: &mut Vec<u32>,
) {
    // The sums as `u16`s (what the narrowing keeps), compared as 32-bit lanes.
    let low16 = _mm512_set1_epi32(0xFFFF);
    let lo_hits = _mm512_cmple_epu32_mask(_mm512_and_si512(lo, low16), thr);
    let hi_hits = _mm512_cmple_epu32_mask(_mm512_and_si512(hi, low16), thr);
    let mask = u32::from(lo_hits) | u32::from(hi_hits) << 16;
    if all || mask != 0 {
        let (lo, hi) = (_mm512_cvtepi32_epi16(lo), _mm512_cvtepi32_epi16(hi));
        let sums = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
        assert!(out.len() >= 32);
        // SAFETY: `out` holds 32 `u16`s (asserted): 64 bytes.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), sums) };
    }
    crate::hits::push_mask(mask, b, n, hits);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The BW kernel, which dispatch does not choose on a CPU with VBMI + VNNI,
        /// checked here against the scalar kernel next to the VBMI one.
        #[test]
        fn x86_kernels_match_scalar(nb in 0usize..5, m4 in 1usize..20, seed in any::<u64>(),
                                    thr in any::<u16>()) {
            // Nothing to compare on a CPU without the VBMI kernel (rejecting every case
            // instead would fail the test there).
            if !super::has_vbmi_vnni() {
                return Ok(());
            }
            let m_pad = 4 * m4;
            let mut x = seed | 1;
            let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x as u8 };
            let lut: Vec<u8> = (0..16 * m_pad).map(|_| next()).collect();
            let codes: Vec<u8> = (0..nb * 16 * m_pad).map(|_| next()).collect();
            let n = (nb * 32).saturating_sub(usize::from(next() % 32));
            let run = |f: crate::pq4::Pq4Scan| {
                let (mut out, mut hits) = (vec![0u16; nb * 32], Vec::new());
                f(&lut, &codes, m_pad, n, thr, &mut out, &mut hits);
                (out, hits)
            };
            let want = run(crate::pq4::pq4_scan_scalar::<false>);
            // SAFETY: AVX-512 F/BW and VBMI + VNNI are present (`has_vbmi_vnni`).
            let bw = run(|a, b, c, d, e, f, g| unsafe {
                crate::pq4::x86::pq4_scan_avx512(a, b, c, d, e, f, g)
            });
            // SAFETY: as above.
            let vbmi = run(|a, b, c, d, e, f, g| unsafe { super::pq4_scan_vbmi::<false>(a, b, c, d, e, f, g) });
            prop_assert_eq!(&bw, &want);
            prop_assert_eq!(&vbmi, &want);
        }
    }
}
