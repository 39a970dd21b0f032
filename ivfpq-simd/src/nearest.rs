//! The nearest of `k` centroids to one short row, in one pass: k-means assignment in the
//! PQ sub-spaces (up to 16 dimensions), where a GEMM is mostly overhead.
//!
//! Writing the `k` scores out (the PQ lookup-table kernel) and then searching them for
//! the first minimum costs three passes over `k` floats and two dispatches. Here each
//! vector of 16 centroids' scores stays in registers: a compare with the running minimum
//! of its chain and two blends keep, per lane, the first smallest score and its centroid.
//! Four chains hide the compare latency. At the end the lanes are merged by (score,
//! index), so the result is the first minimum.
//!
//! The score is the GEMM path's, `‖c‖² − 2·x·c`: one FMA per coordinate and centroid,
//! where `Σ (x − c)²` takes a subtraction as well (424 → 3xx cycles a row at 16
//! dimensions and 256 centroids). `x·c` is summed by the inner-product lookup-table
//! kernel's own steps, so the result is `argmin_sum(−2 · pq_lut_dot(..), norms)` bit for
//! bit.

use pulp::Simd;

/// Chains of running minima (vectors of centroids in flight).
const CHAINS: usize = 4;

/// Lane numbers as `f32` (exact below 2²⁴, far beyond any `k`).
static IOTA: [f32; 16] = [
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
];

/// For each `dim`-wide row of `rows` (`dim = ct.len() / k`, `k = norms.len()`), the
/// index of the first minimum over `c < k` of `norms[c] − 2 Σ_d x[d]·ct[d·k + c]`, into
/// `labels`, and that score plus `‖x‖²` (at least 0: the squared distance), into `dists`.
///
/// Rows are done in one call so that one row's final merge (a serial chain of compares
/// and reductions) overlaps the next row's distances.
#[inline(always)]
fn nearest_l2_impl<S: Simd>(
    s: S,
    rows: &[f32],
    ct: &[f32],
    norms: &[f32],
    labels: &mut [u32],
    dists: &mut [f32],
) {
    let k = norms.len();
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
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let n = labels.len().min(dists.len()).min(rows.len() / dim);
    let mut i = 0;
    // With 32 vector registers, two rows share each centroid load: 2 × CHAINS accumulators
    // and 2 × 2 × CHAINS running minima still fit. With 16 (AVX2, NEON) one row at a time.
    if lanes == 16 {
        while i + 2 <= n {
            let xs = [
                &rows[i * dim..(i + 1) * dim],
                &rows[(i + 1) * dim..(i + 2) * dim],
            ];
            for (r, (best, dist)) in nearest_rows::<S, 2>(s, xs, ct, norms)
                .into_iter()
                .enumerate()
            {
                (labels[i + r], dists[i + r]) = (best as u32, dist);
            }
            i += 2;
        }
    }
    while i < n {
        let [(best, dist)] = nearest_rows::<S, 1>(s, [&rows[i * dim..(i + 1) * dim]], ct, norms);
        (labels[i], dists[i]) = (best as u32, dist);
        i += 1;
    }
}

/// [`nearest_l2_impl`] for `R` rows at once.
#[inline(always)]
fn nearest_rows<S: Simd, const R: usize>(
    s: S,
    xs: [&[f32]; R],
    ct: &[f32],
    norms: &[f32],
) -> [(usize, f32); R] {
    let k = norms.len();
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let (norms_v, _) = S::as_simd_f32s(norms);
    let minus2 = s.splat_f32s(-2.0);
    // As `argmin_sum(a, b)` scores, `a + b` with `a = −2·(x·c)`: that product is exact,
    // so one FMA rounds the same sum.
    let score = |acc, v: usize| s.mul_add_e_f32s(acc, minus2, norms_v[v]);
    let full = k / lanes;
    let dim = xs[0].len();
    let iota = S::as_simd_f32s(&IOTA[..lanes]).0[0];
    let mut best = [[s.splat_f32s(f32::INFINITY); CHAINS]; R];
    let mut best_idx = [[s.splat_f32s(0.0); CHAINS]; R];
    // Whole groups of CHAINS vectors, with a constant trip count so that the accumulators
    // and the running minima stay in registers; then the last vectors one at a time on
    // chain 0 (which still sees its vectors in increasing order).
    let groups = full / CHAINS;
    for g in 0..groups {
        let v = g * CHAINS;
        let mut acc = [[s.splat_f32s(0.0); CHAINS]; R];
        for d in 0..dim {
            let at = d * k + v * lanes;
            let (row, _) = S::as_simd_f32s(&ct[at..at + CHAINS * lanes]);
            for r in 0..R {
                let xv = s.splat_f32s(xs[r][d]);
                for c in 0..CHAINS {
                    acc[r][c] = crate::distance::fma_step::<S, true>(s, acc[r][c], xv, row[c]);
                }
            }
        }
        for r in 0..R {
            for c in 0..CHAINS {
                let first = (v + c) * lanes;
                keep_min(
                    s,
                    &mut best[r][c],
                    &mut best_idx[r][c],
                    score(acc[r][c], v + c),
                    first,
                    iota,
                );
            }
        }
    }
    for v in groups * CHAINS..full {
        let mut acc = [s.splat_f32s(0.0); R];
        for d in 0..dim {
            let at = d * k + v * lanes;
            let (row, _) = S::as_simd_f32s(&ct[at..at + lanes]);
            for r in 0..R {
                let xv = s.splat_f32s(xs[r][d]);
                acc[r] = crate::distance::fma_step::<S, true>(s, acc[r], xv, row[0]);
            }
        }
        for r in 0..R {
            keep_min(
                s,
                &mut best[r][0],
                &mut best_idx[r][0],
                score(acc[r], v),
                v * lanes,
                iota,
            );
        }
    }
    let mut out = [(0usize, f32::INFINITY); R];
    for r in 0..R {
        out[r] = merge(s, best[r], best_idx[r]);
        // Centroids past the last whole vector: scalar, as the lookup-table kernel and
        // `argmin_sum` do them.
        for c in full * lanes..k {
            let mut acc = 0.0f32;
            for (d, &xd) in xs[r].iter().enumerate() {
                acc += xd * ct[d * k + c];
            }
            let sc = -2.0 * acc + norms[c];
            if sc < out[r].1 {
                out[r] = (c, sc);
            }
        }
        // The distance: plus `‖x‖²`, summed in order (a dispatched norm costs more than
        // the whole row at two dimensions).
        let xn = xs[r].iter().fold(0.0f32, |a, v| a + v * v);
        out[r].1 = (out[r].1 + xn).max(0.0);
    }
    out
}

/// The first minimum over the chains' running minima: the chains are merged lane by lane
/// by (distance, index), then the lanes. No branches: a data-dependent branch per lane
/// mispredicts about half the time. `(0, +inf)` when no distance is finite.
#[inline(always)]
fn merge<S: Simd>(s: S, best: [S::f32s; CHAINS], best_idx: [S::f32s; CHAINS]) -> (usize, f32) {
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
    if m < f32::INFINITY {
        (first as usize, m)
    } else {
        (0, f32::INFINITY)
    }
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

// `target_feature:` mode (see `levels.rs`): this kernel is big enough that, without LTO,
// a `vectorize` closure around it was not inlined and ran with no target features.
kernel_levels! {
    target_feature:
    fn nearest_l2(rows: &[f32], ct: &[f32], norms: &[f32], labels: &mut [u32], dists: &mut [f32]) => nearest_l2_impl;
}
