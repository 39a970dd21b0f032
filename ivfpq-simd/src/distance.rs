//! f32 distance kernels: one pair, and one query against many row-major rows.
//!
//! Bodies are generic over `pulp::Simd`. Accumulators are split (several independent
//! chains) so the FMA latency is hidden: on AVX-512 an FMA has 4 cycles of latency and two
//! ports, so eight chains are in flight in the many-row forms.

use pulp::Simd;

#[inline(always)]
fn dot_impl<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let z = s.splat_f32s(0.0);
    let mut acc = [z; 4];
    let (a4, a1) = pulp::as_arrays::<4, _>(ah);
    let (b4, b1) = pulp::as_arrays::<4, _>(bh);
    for (x, y) in a4.iter().zip(b4) {
        for l in 0..4 {
            acc[l] = s.mul_add_e_f32s(x[l], y[l], acc[l]);
        }
    }
    for (x, y) in a1.iter().zip(b1) {
        acc[0] = s.mul_add_e_f32s(*x, *y, acc[0]);
    }
    acc[1] = s.mul_add_e_f32s(s.partial_load_f32s(at), s.partial_load_f32s(bt), acc[1]);
    s.reduce_sum_f32s(s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3])))
}

#[inline(always)]
fn l2sq_impl<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let z = s.splat_f32s(0.0);
    let mut acc = [z; 4];
    let (a4, a1) = pulp::as_arrays::<4, _>(ah);
    let (b4, b1) = pulp::as_arrays::<4, _>(bh);
    for (x, y) in a4.iter().zip(b4) {
        for l in 0..4 {
            let d = s.sub_f32s(x[l], y[l]);
            acc[l] = s.mul_add_e_f32s(d, d, acc[l]);
        }
    }
    for (x, y) in a1.iter().zip(b1) {
        let d = s.sub_f32s(*x, *y);
        acc[0] = s.mul_add_e_f32s(d, d, acc[0]);
    }
    let d = s.sub_f32s(s.partial_load_f32s(at), s.partial_load_f32s(bt));
    acc[1] = s.mul_add_e_f32s(d, d, acc[1]);
    s.reduce_sum_f32s(s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3])))
}

/// `(a·b, a·a, b·b)` in one pass.
#[inline(always)]
fn dot_norms_impl<S: Simd>(s: S, a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let z = s.splat_f32s(0.0);
    let (mut ab, mut aa, mut bb) = (z, z, z);
    for (x, y) in ah.iter().zip(bh) {
        ab = s.mul_add_e_f32s(*x, *y, ab);
        aa = s.mul_add_e_f32s(*x, *x, aa);
        bb = s.mul_add_e_f32s(*y, *y, bb);
    }
    let (x, y) = (s.partial_load_f32s(at), s.partial_load_f32s(bt));
    ab = s.mul_add_e_f32s(x, y, ab);
    aa = s.mul_add_e_f32s(x, x, aa);
    bb = s.mul_add_e_f32s(y, y, bb);
    (
        s.reduce_sum_f32s(ab),
        s.reduce_sum_f32s(aa),
        s.reduce_sum_f32s(bb),
    )
}

/// `1 - cos(a, b)`; a zero vector is at distance 1 from everything (cosine undefined).
#[inline(always)]
fn cosine_from(ab: f32, aa: f32, bb: f32) -> f32 {
    let denom = (aa * bb).sqrt();
    if denom > 0.0 { 1.0 - ab / denom } else { 1.0 }
}

#[inline(always)]
fn cosine_impl<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = dot_norms_impl(s, a, b);
    cosine_from(ab, aa, bb)
}

/// Dot products of `q` with four rows at once: `q` is loaded once per chunk for four rows,
/// which lifts the one-vs-many form above the two-loads-per-FMA bound of a single pair.
#[inline(always)]
fn dot4_impl<S: Simd>(s: S, q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    let (qh, qt) = S::as_simd_f32s(q);
    let rows = r.map(|x| S::as_simd_f32s(x));
    let z = s.splat_f32s(0.0);
    let (mut e, mut o) = ([z; 4], [z; 4]);
    let (q2, q1) = pulp::as_arrays::<2, _>(qh);
    for (i, qv) in q2.iter().enumerate() {
        for l in 0..4 {
            e[l] = s.mul_add_e_f32s(qv[0], rows[l].0[2 * i], e[l]);
            o[l] = s.mul_add_e_f32s(qv[1], rows[l].0[2 * i + 1], o[l]);
        }
    }
    let base = 2 * q2.len();
    for (i, qv) in q1.iter().enumerate() {
        for l in 0..4 {
            e[l] = s.mul_add_e_f32s(*qv, rows[l].0[base + i], e[l]);
        }
    }
    let qt = s.partial_load_f32s(qt);
    let mut out = [0.0; 4];
    for l in 0..4 {
        o[l] = s.mul_add_e_f32s(qt, s.partial_load_f32s(rows[l].1), o[l]);
        out[l] = s.reduce_sum_f32s(s.add_f32s(e[l], o[l]));
    }
    out
}

/// Squared L2 of `q` against four rows, sharing the query loads as in `dot4_impl`.
#[inline(always)]
fn l2sq4_impl<S: Simd>(s: S, q: &[f32], r: [&[f32]; 4]) -> [f32; 4] {
    let (qh, qt) = S::as_simd_f32s(q);
    let rows = r.map(|x| S::as_simd_f32s(x));
    let z = s.splat_f32s(0.0);
    let (mut e, mut o) = ([z; 4], [z; 4]);
    let (q2, q1) = pulp::as_arrays::<2, _>(qh);
    for (i, qv) in q2.iter().enumerate() {
        for l in 0..4 {
            let d0 = s.sub_f32s(qv[0], rows[l].0[2 * i]);
            let d1 = s.sub_f32s(qv[1], rows[l].0[2 * i + 1]);
            e[l] = s.mul_add_e_f32s(d0, d0, e[l]);
            o[l] = s.mul_add_e_f32s(d1, d1, o[l]);
        }
    }
    let base = 2 * q2.len();
    for (i, qv) in q1.iter().enumerate() {
        for l in 0..4 {
            let d = s.sub_f32s(*qv, rows[l].0[base + i]);
            e[l] = s.mul_add_e_f32s(d, d, e[l]);
        }
    }
    let qt = s.partial_load_f32s(qt);
    let mut out = [0.0; 4];
    for l in 0..4 {
        let d = s.sub_f32s(qt, s.partial_load_f32s(rows[l].1));
        o[l] = s.mul_add_e_f32s(d, d, o[l]);
        out[l] = s.reduce_sum_f32s(s.add_f32s(e[l], o[l]));
    }
    out
}

/// Applies a four-row kernel over all rows of `rows` (row-major, `q.len()` wide), with the
/// one-pair kernel for the last `n % 4` rows.
#[inline(always)]
fn many<S: Simd>(
    s: S,
    q: &[f32],
    rows: &[f32],
    out: &mut [f32],
    four: impl Fn(S, &[f32], [&[f32]; 4]) -> [f32; 4],
    one: impl Fn(S, &[f32], &[f32]) -> f32,
) {
    let d = q.len();
    if d == 0 {
        out.fill(0.0);
        return;
    }
    let mut chunks = rows.chunks_exact(4 * d);
    let mut outs = out.chunks_exact_mut(4);
    for (block, o) in (&mut chunks).zip(&mut outs) {
        let r = [
            &block[..d],
            &block[d..2 * d],
            &block[2 * d..3 * d],
            &block[3 * d..],
        ];
        o.copy_from_slice(&four(s, q, r));
    }
    for (row, o) in chunks
        .remainder()
        .chunks_exact(d)
        .zip(outs.into_remainder())
    {
        *o = one(s, q, row);
    }
}

#[inline(always)]
fn dot_many_impl<S: Simd>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
    many(s, q, rows, out, dot4_impl, dot_impl)
}

#[inline(always)]
fn l2sq_many_impl<S: Simd>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
    many(s, q, rows, out, l2sq4_impl, l2sq_impl)
}

#[inline(always)]
fn cosine_many_impl<S: Simd>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = q.len();
    if d == 0 {
        out.fill(1.0);
        return;
    }
    let qq = dot_impl(s, q, q);
    for (row, o) in rows.chunks_exact(d).zip(out.iter_mut()) {
        let (ab, _, bb) = dot_norms_impl(s, q, row);
        *o = cosine_from(ab, qq, bb);
    }
}

#[inline(always)]
fn norms_sq_impl<S: Simd>(s: S, rows: &[f32], dim: usize, out: &mut [f32]) {
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_impl(s, row, row);
    }
}

/// Appends to `out` the index of every `dists[i] <= threshold`, in increasing order.
///
/// A whole vector of distances is compared at once and skipped when none passes, so once a
/// top-k heap is full the scalar work is proportional to the survivors, not to `n`.
#[inline(always)]
fn select_below_impl<S: Simd>(s: S, dists: &[f32], threshold: f32, out: &mut Vec<u32>) {
    let (head, _) = S::as_simd_f32s(dists);
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let t = s.splat_f32s(threshold);
    let mut i = 0usize;
    for v in head {
        let hit = s.less_than_or_equal_f32s(*v, t);
        // "Any lane passes" (see `argmin_sum_impl` on pulp's `first_true_m32s`).
        if s.first_true_m32s(hit) < lanes {
            for (j, &d) in dists[i..i + lanes].iter().enumerate() {
                if d <= threshold {
                    out.push((i + j) as u32);
                }
            }
        }
        i += lanes;
    }
    for (j, &d) in dists[i..].iter().enumerate() {
        if d <= threshold {
            out.push((i + j) as u32);
        }
    }
}

/// Index and value of the first minimum of `a[i] + b[i]` (`(0, +inf)` when empty).
///
/// Two passes instead of tracking indices: a vector `min` (two chains), then a
/// compare-equal scan that stops at the first vector holding the minimum. The sums are
/// recomputed identically, so equality is exact, and ties go to the lowest index.
#[inline(always)]
fn argmin_sum_impl<S: Simd>(s: S, a: &[f32], b: &[f32]) -> (usize, f32) {
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let mut mv = [s.splat_f32s(f32::INFINITY); 2];
    for (i, (x, y)) in ah.iter().zip(bh).enumerate() {
        mv[i & 1] = s.min_f32s(mv[i & 1], s.add_f32s(*x, *y));
    }
    let mut m = s.reduce_min_f32s(s.min_f32s(mv[0], mv[1]));
    for (x, y) in at.iter().zip(bt) {
        m = m.min(x + y);
    }
    if m == f32::INFINITY {
        return (0, f32::INFINITY);
    }
    let target = s.splat_f32s(m);
    // `first_true_m32s` is used only as "any lane": pulp 0.22 returns the wrong lane for
    // AVX-512 bitmasks (it counts leading zeros), so the lane is found by a short scan.
    let base = ah.len() * lanes;
    for (i, (x, y)) in ah.iter().zip(bh).enumerate() {
        if s.first_true_m32s(s.equal_f32s(s.add_f32s(*x, *y), target)) < lanes {
            let start = i * lanes;
            for j in start..start + lanes {
                if a[j] + b[j] == m {
                    return (j, m);
                }
            }
        }
    }
    for (j, (x, y)) in at.iter().zip(bt).enumerate() {
        if x + y == m {
            return (base + j, m);
        }
    }
    (0, m)
}

/// `out[i] = a[i] + b[i]`.
#[inline(always)]
fn add_impl<S: Simd>(s: S, a: &[f32], b: &[f32], out: &mut [f32]) {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let (oh, ot) = S::as_mut_simd_f32s(out);
    for ((o, x), y) in oh.iter_mut().zip(ah).zip(bh) {
        *o = s.add_f32s(*x, *y);
    }
    for ((o, x), y) in ot.iter_mut().zip(at).zip(bt) {
        *o = x + y;
    }
}

/// `out[r] = min(rows[r])` for consecutive rows of `row_len` values.
#[inline(always)]
fn row_mins_impl<S: Simd>(s: S, rows: &[f32], row_len: usize, out: &mut [f32]) {
    if row_len == 0 {
        out.fill(f32::INFINITY);
        return;
    }
    for (row, o) in rows.chunks_exact(row_len).zip(out.iter_mut()) {
        let (head, tail) = S::as_simd_f32s(row);
        let mut mv = [s.splat_f32s(f32::INFINITY); 2];
        for (i, v) in head.iter().enumerate() {
            mv[i & 1] = s.min_f32s(mv[i & 1], *v);
        }
        let mut m = s.reduce_min_f32s(s.min_f32s(mv[0], mv[1]));
        for &x in tail {
            m = m.min(x);
        }
        *o = m;
    }
}

kernel_levels! {
    fn row_mins(rows: &[f32], row_len: usize, out: &mut [f32]) => row_mins_impl;
    fn add(a: &[f32], b: &[f32], out: &mut [f32]) => add_impl;
    fn argmin_sum(a: &[f32], b: &[f32]) -> (usize, f32) => argmin_sum_impl;
    fn dot(a: &[f32], b: &[f32]) -> f32 => dot_impl;
    fn l2sq(a: &[f32], b: &[f32]) -> f32 => l2sq_impl;
    fn cosine(a: &[f32], b: &[f32]) -> f32 => cosine_impl;
    fn norms_sq(rows: &[f32], dim: usize, out: &mut [f32]) => norms_sq_impl;
    fn dot_many(q: &[f32], rows: &[f32], out: &mut [f32]) => dot_many_impl;
    fn l2sq_many(q: &[f32], rows: &[f32], out: &mut [f32]) => l2sq_many_impl;
    fn cosine_many(q: &[f32], rows: &[f32], out: &mut [f32]) => cosine_many_impl;
    fn select_below(dists: &[f32], threshold: f32, out: &mut Vec<u32>) => select_below_impl;
}
