//! Product-quantization kernels: lookup-table construction and the 8-bit code scan.
//!
//! # Code layout inside a partition (8-bit)
//!
//! Codes are stored in blocks of [`PQ8_BLOCK`] = 32 vectors. A block holds `32 * m` bytes,
//! sub-quantizer-major: bytes `[j * 32, j * 32 + 32)` of a block are sub-quantizer `j`'s
//! codes of the block's 32 vectors. The last block is padded with code 0. This turns the
//! scan into "for each sub-quantizer, 32 independent table lookups": contiguous bytes that
//! widen straight into gather indices (AVX2/AVX-512) or keep 32 scalar chains in flight,
//! and it is the same 32-vector block the 4-bit fast-scan layout uses.
//!
//! # Lookup tables
//!
//! A table is `m × ksub` f32, sub-quantizer-major. It is built from *transposed*
//! codebooks: for each sub-quantizer, `dsub × ksub` (coordinate-major), so the kernel
//! computes 8 or 16 centroids per instruction whatever `dsub` is.

use pulp::Simd;

/// Vectors per code block in the partition layout.
pub const PQ8_BLOCK: usize = 32;

/// Bytes that `n` codes of `m` sub-quantizers take in the blocked layout.
pub fn pq8_blocked_len(n: usize, m: usize) -> usize {
    n.div_ceil(PQ8_BLOCK) * PQ8_BLOCK * m
}

/// Rearranges row-major codes (`n × m`, one byte per sub-quantizer) into the blocked
/// layout, padding the last block with zeros.
///
/// # Panics
/// If `codes.len()` is not a multiple of `m`.
pub fn pack_pq8_blocks(codes: &[u8], m: usize) -> Vec<u8> {
    assert!(
        m > 0 && codes.len().is_multiple_of(m),
        "codes length must be a multiple of m"
    );
    let n = codes.len() / m;
    let mut out = vec![0u8; pq8_blocked_len(n, m)];
    for (i, code) in codes.chunks_exact(m).enumerate() {
        let block = (i / PQ8_BLOCK) * PQ8_BLOCK * m;
        let lane = i % PQ8_BLOCK;
        for (j, &c) in code.iter().enumerate() {
            out[block + j * PQ8_BLOCK + lane] = c;
        }
    }
    out
}

/// Reads vector `i`'s code (`m` bytes) back out of the blocked layout.
///
/// # Panics
/// If `out.len() != m` or `i` is outside `blocked`.
pub fn unpack_pq8_code(blocked: &[u8], m: usize, i: usize, out: &mut [u8]) {
    assert_eq!(out.len(), m, "out must hold m bytes");
    let block = (i / PQ8_BLOCK) * PQ8_BLOCK * m;
    let lane = i % PQ8_BLOCK;
    for (j, o) in out.iter_mut().enumerate() {
        *o = blocked[block + j * PQ8_BLOCK + lane];
    }
}

/// One sub-quantizer's table: `out[c] = Σ_d f(q[d], cb_t[d * ksub + c])` where `f` is the
/// squared difference (`IP = false`) or the product (`IP = true`).
///
/// Each centroid's sum runs over `d` in order, one FMA a step, however many centroids
/// are taken together, so every grouping gives the same bits (`nearest_l2` relies on it).
#[inline(always)]
fn lut_sub<S: Simd, const IP: bool>(s: S, q: &[f32], cb_t: &[f32], out: &mut [f32]) {
    let ksub = out.len();
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let full = ksub / lanes;
    {
        let (heads, _) = S::as_mut_simd_f32s(out);
        // Coordinate `d`'s row of centroids, as whole vectors.
        let row = |d: usize| &S::as_simd_f32s(&cb_t[d * ksub..(d + 1) * ksub]).0[..full];
        let step = |acc, qd, c| crate::distance::fma_step::<S, IP>(s, acc, qd, c);
        // Eight vectors of centroids at a time: eight independent FMA chains keep the FMA
        // unit busy through its latency, with room for the loads (four left it idle
        // two cycles in three at dsub 16).
        let (octs, rest) = pulp::as_arrays_mut::<8, _>(heads);
        for (g, o) in octs.iter_mut().enumerate() {
            let mut acc = [s.splat_f32s(0.0); 8];
            for (d, &qd) in q.iter().enumerate() {
                let qv = s.splat_f32s(qd);
                let c = &row(d)[8 * g..8 * g + 8];
                for l in 0..8 {
                    acc[l] = step(acc[l], qv, c[l]);
                }
            }
            *o = acc;
        }
        let base = 8 * octs.len();
        for (i, o) in rest.iter_mut().enumerate() {
            let mut acc = s.splat_f32s(0.0);
            for (d, &qd) in q.iter().enumerate() {
                acc = step(acc, s.splat_f32s(qd), row(d)[base + i]);
            }
            *o = acc;
        }
    }
    for c in full * lanes..ksub {
        let mut acc = 0.0f32;
        for (d, &qd) in q.iter().enumerate() {
            let x = cb_t[d * ksub + c];
            acc = if IP {
                qd * x + acc
            } else {
                (qd - x) * (qd - x) + acc
            };
        }
        out[c] = acc;
    }
}

#[inline(always)]
fn lut_impl<S: Simd, const IP: bool>(s: S, q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) {
    let m = out.len() / ksub.max(1);
    if m == 0 {
        return;
    }
    let dsub = q.len() / m;
    for (j, o) in out.chunks_exact_mut(ksub).enumerate() {
        let qj = &q[j * dsub..(j + 1) * dsub];
        let cj = &cb_t[j * dsub * ksub..(j + 1) * dsub * ksub];
        lut_sub::<S, IP>(s, qj, cj, o);
    }
}

#[inline(always)]
fn lut_l2_impl<S: Simd>(s: S, q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) {
    lut_impl::<S, false>(s, q, cb_t, ksub, out)
}

#[inline(always)]
fn lut_dot_impl<S: Simd>(s: S, q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) {
    lut_impl::<S, true>(s, q, cb_t, ksub, out)
}

/// Checks the shapes the 8-bit scan relies on (its unsafe gathers index `lut` by code).
///
/// # Panics
/// If `lut` is not `m × 256` or `codes` is shorter than the blocked layout of `out.len()`.
#[inline]
pub(crate) fn check_pq8(lut: &[f32], codes: &[u8], m: usize, n: usize) {
    assert_eq!(lut.len(), m * 256, "pq8 lookup table must be m x 256");
    assert!(
        codes.len() >= pq8_blocked_len(n, m),
        "pq8 codes shorter than n blocked codes"
    );
}

/// The 8-bit scan, shared by every level: 32 independent accumulation chains per block.
///
/// Deliberately scalar and compiled without extra target features: a lookup costs one
/// load either way, and scalar chains spend nothing on gather micro-ops. Measured on a
/// Cascade Lake (G lookups/s at m = 8/16/24/60): this loop 2.6 / 2.1 / 2.8 / 2.2,
/// 16-wide AVX-512 gathers 1.3, 8-wide AVX2 gathers 0.85, and with AVX-512 enabled LLVM
/// turned this very loop into gathers (0.6). On a Zen 4, in a
/// standalone A/B (code bytes per cycle): this loop 1.00 / 1.04 / 1.05 / 0.97, AVX-512
/// gathers 0.81, AVX2 gathers 0.86; sixteen register-resident chains over groups of 16
/// blocks reached 1.07–1.18 standalone but not inside the crate, where LLVM schedules it
/// differently (criterion at par), so it was not kept.
pub(crate) fn pq8_scan(lut: &[f32], codes: &[u8], m: usize, bias: f32, out: &mut [f32]) {
    pq8_scan_bounded(lut, codes, m, bias, None, out)
}

/// Adds sub-quantizers `js` of one block's codes into `acc`.
#[inline(always)]
fn accumulate(lut: &[f32], block: &[u8], js: std::ops::Range<usize>, acc: &mut [f32; PQ8_BLOCK]) {
    for j in js {
        let row: &[f32; 256] = lut[j * 256..j * 256 + 256]
            .try_into()
            .unwrap_or(&[0.0; 256]);
        for (a, &ci) in acc
            .iter_mut()
            .zip(&block[j * PQ8_BLOCK..(j + 1) * PQ8_BLOCK])
        {
            *a += row[ci as usize];
        }
    }
}

/// The 8-bit scan with early abandoning.
///
/// With `bound = Some((suffix_min, threshold))`, where `suffix_min[j]` is the sum over
/// sub-quantizers `j..m` of each table row's minimum (`m + 1` entries, the last 0), a
/// block is checked after `m/4`, `m/2` and `3m/4` sub-quantizers: when all 32 partial sums
/// exceed `threshold − suffix_min[j]`, no code of the block can score at or under
/// `threshold`, so the rest is skipped and its scores set to `+inf`. Scores that are
/// computed are bit-identical to [`pq8_scan`]'s (same order of additions).
pub(crate) fn pq8_scan_bounded(
    lut: &[f32],
    codes: &[u8],
    m: usize,
    bias: f32,
    bound: Option<(&[f32], f32)>,
    out: &mut [f32],
) {
    check_pq8(lut, codes, m, out.len());
    let bs = PQ8_BLOCK * m;
    let stops = [m / 4, m / 2, 3 * m / 4, m];
    'blocks: for (b, o) in out.chunks_mut(PQ8_BLOCK).enumerate() {
        let block = &codes[b * bs..(b + 1) * bs];
        let mut acc = [bias; PQ8_BLOCK];
        let mut done = 0;
        for &stop in &stops {
            accumulate(lut, block, done..stop, &mut acc);
            done = stop;
            if let (Some((suffix, threshold)), true) = (bound, stop < m) {
                let best = acc[..o.len()].iter().fold(f32::INFINITY, |x, &y| x.min(y));
                if best + suffix[stop] > threshold {
                    o.fill(f32::INFINITY);
                    continue 'blocks;
                }
            }
        }
        o.copy_from_slice(&acc[..o.len()]);
    }
}

kernel_levels! {
    target_feature:
    fn pq_lut_l2(q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) => lut_l2_impl;
    fn pq_lut_dot(q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) => lut_dot_impl;
}
