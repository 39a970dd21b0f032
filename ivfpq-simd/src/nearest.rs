//! The nearest of `k` centroids to one short row, in one pass: k-means assignment in the
//! PQ sub-spaces (2 to 8 dimensions), where a GEMM is all overhead.
//!
//! Writing the `k` distances out (the PQ lookup-table kernel) and then searching them for
//! the first minimum costs three passes over `k` floats and two dispatches. Here each
//! vector of 16 centroids' distances stays in registers: a compare with the running
//! minimum of its chain and two blends keep, per lane, the first smallest distance and its
//! centroid. Four chains hide the compare latency. At the end the lanes are merged by
//! (distance, index), so the result is the first minimum, exactly as
//! `argmin_sum(pq_lut_l2(..))` would give: the distances are computed by the same steps,
//! in the same order, so they are bit-identical.

use pulp::Simd;

/// Chains of running minima (vectors of centroids in flight).
const CHAINS: usize = 4;

/// Lane numbers as `f32` (exact below 2²⁴, far beyond any `k`).
static IOTA: [f32; 16] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
];

/// For each `dim`-wide row of `rows` (`dim = ct.len() / k`), the index and value of the
/// first minimum over `c < k` of `Σ_d (x[d] − ct[d·k + c])²`, into `labels` and `dists`.
///
/// Rows are done in one call so that one row's final merge (a serial chain of compares
/// and reductions) overlaps the next row's distances.
#[inline(always)]
fn nearest_l2_impl<S: Simd>(
    s: S,
    rows: &[f32],
    ct: &[f32],
    k: usize,
    labels: &mut [u32],
    dists: &mut [f32],
) {
    if k == 0 {
        labels.fill(0);
        dists.fill(f32::INFINITY);
        return;
    }
    let dim = ct.len() / k;
    if dim == 0 {
        labels.fill(0);
        dists.fill(0.0);
        return;
    }
    for ((x, l), d) in rows
        .chunks_exact(dim)
        .zip(labels.iter_mut())
        .zip(dists.iter_mut())
    {
        let (best, dist) = nearest_one(s, x, ct, k);
        (*l, *d) = (best as u32, dist);
    }
}

/// [`nearest_l2_impl`] for one row.
#[inline(always)]
fn nearest_one<S: Simd>(s: S, x: &[f32], ct: &[f32], k: usize) -> (usize, f32) {
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let full = k / lanes;
    let iota = S::as_simd_f32s(&IOTA[..lanes]).0[0];
    let mut best = [s.splat_f32s(f32::INFINITY); CHAINS];
    let mut best_idx = [s.splat_f32s(0.0); CHAINS];
    // Whole groups of CHAINS vectors, with a constant trip count so that the accumulators
    // and the running minima stay in registers; then the last vectors one at a time on
    // chain 0 (which still sees its vectors in increasing order).
    let groups = full / CHAINS;
    for g in 0..groups {
        let v = g * CHAINS;
        let mut acc = [s.splat_f32s(0.0); CHAINS];
        for (d, &xd) in x.iter().enumerate() {
            let xv = s.splat_f32s(xd);
            let at = d * k + v * lanes;
            let (row, _) = S::as_simd_f32s(&ct[at..at + CHAINS * lanes]);
            for c in 0..CHAINS {
                acc[c] = crate::distance::fma_step::<S, false>(s, acc[c], xv, row[c]);
            }
        }
        for c in 0..CHAINS {
            keep_min(
                s,
                &mut best[c],
                &mut best_idx[c],
                acc[c],
                (v + c) * lanes,
                iota,
            );
        }
    }
    for v in groups * CHAINS..full {
        let mut acc = s.splat_f32s(0.0);
        for (d, &xd) in x.iter().enumerate() {
            let at = d * k + v * lanes;
            let (row, _) = S::as_simd_f32s(&ct[at..at + lanes]);
            acc = crate::distance::fma_step::<S, false>(s, acc, s.splat_f32s(xd), row[0]);
        }
        keep_min(s, &mut best[0], &mut best_idx[0], acc, v * lanes, iota);
    }
    // Merge the chains lane by lane, by (distance, index), then the lanes: no branches,
    // since a data-dependent branch per lane mispredicts about half the time.
    let (mut b, mut bi) = (best[0], best_idx[0]);
    for c in 1..CHAINS {
        let closer = s.less_than_f32s(best[c], b);
        let tie = s.equal_f32s(best[c], b);
        let earlier = s.less_than_f32s(best_idx[c], bi);
        let take = s.or_m32s(closer, s.and_m32s(tie, earlier));
        b = blend(s, take, best[c], b);
        bi = blend(s, take, best_idx[c], bi);
    }
    let m = s.reduce_min_f32s(b);
    let at_min = s.equal_f32s(b, s.splat_f32s(m));
    let first = s.reduce_min_f32s(blend(s, at_min, bi, s.splat_f32s(f32::INFINITY)));
    // `first` is a lane's index when `m` is finite; with no finite distance every lane
    // holds +inf and index 0, and the result is (0, +inf) as for an empty table.
    let mut out = if m < f32::INFINITY {
        (first as usize, m)
    } else {
        (0, f32::INFINITY)
    };
    // Centroids past the last whole vector: scalar, as the lookup-table kernel does them.
    for c in full * lanes..k {
        let mut acc = 0.0f32;
        for (d, &xd) in x.iter().enumerate() {
            let t = xd - ct[d * k + c];
            acc += t * t;
        }
        if acc < out.1 {
            out = (c, acc);
        }
    }
    out
}

/// Keeps, per lane, the smaller of `best` and `dist` (the first on ties) and its index
/// (`first + lane`).
#[inline(always)]
fn keep_min<S: Simd>(
    s: S,
    best: &mut S::f32s,
    best_idx: &mut S::f32s,
    dist: S::f32s,
    first: usize,
    iota: S::f32s,
) {
    // Strictly less: a lane keeps its first minimum.
    let better = s.less_than_f32s(dist, *best);
    let idx = s.add_f32s(s.splat_f32s(first as f32), iota);
    *best = blend(s, better, dist, *best);
    *best_idx = blend(s, better, idx, *best_idx);
}

/// `if_true` where `mask`, else `if_false`.
#[inline(always)]
fn blend<S: Simd>(s: S, mask: S::m32s, if_true: S::f32s, if_false: S::f32s) -> S::f32s {
    let t = s.transmute_u32s_f32s(if_true);
    let f = s.transmute_u32s_f32s(if_false);
    s.transmute_f32s_u32s(s.select_u32s(mask, t, f))
}

kernel_levels! {
    fn nearest_l2(rows: &[f32], ct: &[f32], k: usize, labels: &mut [u32], dists: &mut [f32]) => nearest_l2_impl;
}
