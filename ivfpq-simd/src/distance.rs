//! f32 distance kernels: one pair, and one query against many row-major rows.
//!
//! Bodies are generic over `pulp::Simd`. Accumulators are split (several independent
//! chains) so the FMA latency is hidden: an FMA has 4 cycles of latency, so at least four
//! chains are in flight in every form.

use pulp::Simd;

use crate::lanes::Lanes;

#[inline(always)]
fn dot_impl<S: Lanes>(s: S, a: &[f32], b: &[f32]) -> f32 {
    rows_impl::<S, 1, 4, true>(s, a, [b])[0]
}

#[inline(always)]
fn l2sq_impl<S: Lanes>(s: S, a: &[f32], b: &[f32]) -> f32 {
    rows_impl::<S, 1, 4, false>(s, a, [b])[0]
}

/// `(a·b, a·a, b·b)` in one pass.
#[inline(always)]
fn dot_norms_impl<S: Lanes>(s: S, a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let z = s.splat_f32s(0.0);
    let (mut ab, mut aa, mut bb) = (z, z, z);
    for (x, y) in ah.iter().zip(bh) {
        ab = s.mul_add_e_f32s(*x, *y, ab);
        aa = s.mul_add_e_f32s(*x, *x, aa);
        bb = s.mul_add_e_f32s(*y, *y, bb);
    }
    if !at.is_empty() {
        let (x, y) = (s.load_tail(at), s.load_tail(bt));
        ab = s.mul_add_e_f32s(x, y, ab);
        aa = s.mul_add_e_f32s(x, x, aa);
        bb = s.mul_add_e_f32s(y, y, bb);
    }
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
fn cosine_impl<S: Lanes>(s: S, a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = dot_norms_impl(s, a, b);
    cosine_from(ab, aa, bb)
}

/// `acc + x · y` (`IP`) or `acc + (x − y)²`: the one step of every dot and L2 loop.
#[inline(always)]
pub(crate) fn fma_step<S: Simd, const IP: bool>(
    s: S,
    acc: S::f32s,
    x: S::f32s,
    y: S::f32s,
) -> S::f32s {
    if IP {
        s.mul_add_e_f32s(x, y, acc)
    } else {
        let d = s.sub_f32s(x, y);
        s.mul_add_e_f32s(d, d, acc)
    }
}

/// Dot products (`IP`) or squared L2 distances of `q` with `N` rows at once.
///
/// Each chunk of `q` is loaded once for `N` rows: on Zen 4 the L1 serves one 512-bit load
/// a cycle and the FMA unit one 512-bit FMA, so a single pair (two loads per FMA) runs at
/// half the FMA peak at best, four rows at 4/5 and eight at 8/9. `U` independent
/// accumulators per row keep `N · U ≥ 4` chains in flight against the 4-cycle FMA latency.
#[inline(always)]
fn rows_impl<S: Lanes, const N: usize, const U: usize, const IP: bool>(
    s: S,
    q: &[f32],
    r: [&[f32]; N],
) -> [f32; N] {
    let (qh, qt) = S::as_simd_f32s(q);
    let rows = r.map(|x| S::as_simd_f32s(x));
    let mut acc = [[s.splat_f32s(0.0); N]; U];
    let step = |acc, x, y| fma_step::<S, IP>(s, acc, x, y);
    let (qu, q1) = pulp::as_arrays::<U, _>(qh);
    for (i, qv) in qu.iter().enumerate() {
        for u in 0..U {
            for l in 0..N {
                acc[u][l] = step(acc[u][l], qv[u], rows[l].0[U * i + u]);
            }
        }
    }
    let base = U * qu.len();
    for (i, qv) in q1.iter().enumerate() {
        for l in 0..N {
            acc[0][l] = step(acc[0][l], *qv, rows[l].0[base + i]);
        }
    }
    if !qt.is_empty() {
        // Zero-padded tails: (0 - 0)² and 0 · 0 add nothing.
        let qt = s.load_tail(qt);
        for l in 0..N {
            acc[U - 1][l] = step(acc[U - 1][l], qt, s.load_tail(rows[l].1));
        }
    }
    let mut sum = acc[0];
    for a in &acc[1..] {
        for l in 0..N {
            sum[l] = s.add_f32s(sum[l], a[l]);
        }
    }
    s.sums(sum)
}

/// Applies the `N`-row kernel to the next `N` rows of `rows` (row-major, `d` wide),
/// writing `N` results; returns the rows and outputs left.
#[inline(always)]
fn block<'a, 'b, S: Lanes, const N: usize, const U: usize, const IP: bool>(
    s: S,
    q: &[f32],
    rows: &'a [f32],
    out: &'b mut [f32],
) -> (&'a [f32], &'b mut [f32]) {
    let d = q.len();
    let (head, rest) = rows.split_at(N * d);
    let (o, out_rest) = out.split_at_mut(N);
    let r: [&[f32]; N] = core::array::from_fn(|l| &head[l * d..(l + 1) * d]);
    o.copy_from_slice(&rows_impl::<S, N, U, IP>(s, q, r));
    (rest, out_rest)
}

/// One query against every row of `rows` (row-major, `q.len()` wide): eight rows at a
/// time, then four, two and one for the rest.
#[inline(always)]
fn many<S: Lanes, const IP: bool>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = q.len();
    if d == 0 {
        out.fill(0.0);
        return;
    }
    let n = (rows.len() / d).min(out.len());
    let (mut rows, mut out) = (&rows[..n * d], &mut out[..n]);
    while out.len() >= 8 {
        (rows, out) = block::<S, 8, 1, IP>(s, q, rows, out);
    }
    if out.len() >= 4 {
        (rows, out) = block::<S, 4, 2, IP>(s, q, rows, out);
    }
    if out.len() >= 2 {
        (rows, out) = block::<S, 2, 2, IP>(s, q, rows, out);
    }
    if out.len() == 1 {
        block::<S, 1, 4, IP>(s, q, rows, out);
    }
}

/// Two queries against `N` rows, each row chunk loaded once for both. Each (query, row)
/// pair is summed exactly as `rows_impl::<S, N, 1, IP>` sums it (one accumulator, the same
/// chunks in the same order, the same tail and reduction), so the results equal two
/// one-query calls bit for bit.
#[inline(always)]
fn rows2_impl<S: Lanes, const N: usize, const IP: bool>(
    s: S,
    q: [&[f32]; 2],
    r: [&[f32]; N],
) -> [[f32; N]; 2] {
    let (q0, q0t) = S::as_simd_f32s(q[0]);
    let (q1, q1t) = S::as_simd_f32s(q[1]);
    let rows = r.map(|x| S::as_simd_f32s(x));
    let mut acc = [[s.splat_f32s(0.0); N]; 2];
    let step = |acc, x, y| fma_step::<S, IP>(s, acc, x, y);
    for (i, (a, b)) in q0.iter().zip(q1).enumerate() {
        for l in 0..N {
            let rv = rows[l].0[i];
            acc[0][l] = step(acc[0][l], *a, rv);
            acc[1][l] = step(acc[1][l], *b, rv);
        }
    }
    if !q0t.is_empty() {
        let (t0, t1) = (s.load_tail(q0t), s.load_tail(q1t));
        for l in 0..N {
            let rt = s.load_tail(rows[l].1);
            acc[0][l] = step(acc[0][l], t0, rt);
            acc[1][l] = step(acc[1][l], t1, rt);
        }
    }
    [s.sums(acc[0]), s.sums(acc[1])]
}

/// [`many`] for two queries of the same width: eight rows at a time through
/// [`rows2_impl`] where there are 32 vector registers (16 accumulators), then the rest
/// per query as `many` does it; elsewhere two `many` calls. Equal to them bit for bit.
#[inline(always)]
fn many2<S: Lanes, const IP: bool>(s: S, q: [&[f32]; 2], rows: &[f32], out: [&mut [f32]; 2]) {
    let d = q[0].len();
    let lanes = core::mem::size_of::<S::f32s>() / core::mem::size_of::<f32>();
    let [o0, o1] = out;
    if d == 0 || q[1].len() != d || lanes != 16 {
        many::<S, IP>(s, q[0], rows, o0);
        many::<S, IP>(s, q[1], rows, o1);
        return;
    }
    let n = (rows.len() / d).min(o0.len()).min(o1.len());
    let whole = n / 8 * 8;
    for (b, head) in rows[..whole * d].chunks_exact(8 * d).enumerate() {
        let r: [&[f32]; 8] = core::array::from_fn(|l| &head[l * d..(l + 1) * d]);
        let [a, c] = rows2_impl::<S, 8, IP>(s, q, r);
        o0[8 * b..8 * b + 8].copy_from_slice(&a);
        o1[8 * b..8 * b + 8].copy_from_slice(&c);
    }
    let rest = &rows[whole * d..n * d];
    many::<S, IP>(s, q[0], rest, &mut o0[whole..n]);
    many::<S, IP>(s, q[1], rest, &mut o1[whole..n]);
}

#[inline(always)]
fn dot_many2_impl<S: Lanes>(
    s: S,
    q0: &[f32],
    q1: &[f32],
    rows: &[f32],
    out0: &mut [f32],
    out1: &mut [f32],
) {
    many2::<S, true>(s, [q0, q1], rows, [out0, out1])
}

#[inline(always)]
fn l2sq_many2_impl<S: Lanes>(
    s: S,
    q0: &[f32],
    q1: &[f32],
    rows: &[f32],
    out0: &mut [f32],
    out1: &mut [f32],
) {
    many2::<S, false>(s, [q0, q1], rows, [out0, out1])
}

#[inline(always)]
fn dot_many_impl<S: Lanes>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
    many::<S, true>(s, q, rows, out)
}

#[inline(always)]
fn l2sq_many_impl<S: Lanes>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
    many::<S, false>(s, q, rows, out)
}

#[inline(always)]
fn cosine_many_impl<S: Lanes>(s: S, q: &[f32], rows: &[f32], out: &mut [f32]) {
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
fn norms_sq_impl<S: Lanes>(s: S, rows: &[f32], dim: usize, out: &mut [f32]) {
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

/// `out[r]` = the minimum (`MAX = false`) or maximum (`MAX = true`) of `rows[r]`, for
/// consecutive rows of `row_len` values. Finite input: NaN handling follows the ISA.
#[inline(always)]
fn row_extremes_impl<S: Simd, const MAX: bool>(
    s: S,
    rows: &[f32],
    row_len: usize,
    out: &mut [f32],
) {
    let init = if MAX {
        f32::NEG_INFINITY
    } else {
        f32::INFINITY
    };
    if row_len == 0 {
        out.fill(init);
        return;
    }
    let pick = |a, b| {
        if MAX {
            s.max_f32s(a, b)
        } else {
            s.min_f32s(a, b)
        }
    };
    for (row, o) in rows.chunks_exact(row_len).zip(out.iter_mut()) {
        let (head, tail) = S::as_simd_f32s(row);
        // Two chains, so consecutive compares do not wait on each other.
        let mut mv = [s.splat_f32s(init); 2];
        for (i, v) in head.iter().enumerate() {
            mv[i & 1] = pick(mv[i & 1], *v);
        }
        let v = pick(mv[0], mv[1]);
        let mut m = if MAX {
            s.reduce_max_f32s(v)
        } else {
            s.reduce_min_f32s(v)
        };
        for &x in tail {
            m = if MAX { m.max(x) } else { m.min(x) };
        }
        *o = m;
    }
}

#[inline(always)]
fn row_mins_impl<S: Simd>(s: S, rows: &[f32], row_len: usize, out: &mut [f32]) {
    row_extremes_impl::<S, false>(s, rows, row_len, out)
}

#[inline(always)]
fn row_maxs_impl<S: Simd>(s: S, rows: &[f32], row_len: usize, out: &mut [f32]) {
    row_extremes_impl::<S, true>(s, rows, row_len, out)
}

kernel_levels! {
    target_feature:
    fn row_mins(rows: &[f32], row_len: usize, out: &mut [f32]) => row_mins_impl;
    fn row_maxs(rows: &[f32], row_len: usize, out: &mut [f32]) => row_maxs_impl;
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

// The two-query kernels in `target_feature:` mode (see `levels.rs`): as `vectorize`
// closures their 16 accumulators were not inlined, and every intrinsic became a call
// (2.6k QPS on synth960 against 30k).
pub(crate) mod pair {
    use super::*;
    kernel_levels! {
        target_feature:
        fn dot_many2(q0: &[f32], q1: &[f32], rows: &[f32], out0: &mut [f32], out1: &mut [f32]) => dot_many2_impl;
        fn l2sq_many2(q0: &[f32], q1: &[f32], rows: &[f32], out0: &mut [f32], out1: &mut [f32]) => l2sq_many2_impl;
    }
}

/// The AVX-512 table's one-query-against-many-rows entries: below 256 dimensions they run
/// the AVX2 kernel.
///
/// Zen 4 executes a 512-bit FMA as two 256-bit halves, so `zmm` buys no arithmetic there,
/// while a 64-byte load that straddles two cache lines costs two load slots: with rows of
/// 200 bytes (d = 50) seven rows in eight straddle on every `zmm` load, but only on half
/// of the `ymm` loads. Measured with rows in L1 (G elements/s, zmm → ymm): d = 50 dot
/// 24.7 → 27.8, L2 23.3 → 25.8; d = 16 dot 23.8 → 33.3; d = 128 and up within 3 %.
///
/// Tried and dropped: reading misaligned rows with aligned loads (masked at the row's
/// ends) against a copy of the query shifted to match, eight rows sharing a shift at a
/// time. It removed every split load but ran at 20 G elements/s at d = 50: the masked
/// loads and the per-group setup cost more than the splits.
#[cfg(target_arch = "x86_64")]
pub(crate) mod v4_rows {
    /// Narrower rows than this use the AVX2 kernel.
    const NARROW_BELOW: usize = 256;

    pub(crate) fn dot_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
        if q.len() < NARROW_BELOW {
            super::v3::dot_many(q, rows, out)
        } else {
            super::v4::dot_many(q, rows, out)
        }
    }

    pub(crate) fn l2sq_many(q: &[f32], rows: &[f32], out: &mut [f32]) {
        if q.len() < NARROW_BELOW {
            super::v3::l2sq_many(q, rows, out)
        } else {
            super::v4::l2sq_many(q, rows, out)
        }
    }

    pub(crate) fn dot_many2(q0: &[f32], q1: &[f32], rows: &[f32], o0: &mut [f32], o1: &mut [f32]) {
        if q0.len() < NARROW_BELOW {
            super::pair::v3::dot_many2(q0, q1, rows, o0, o1)
        } else {
            super::pair::v4::dot_many2(q0, q1, rows, o0, o1)
        }
    }

    pub(crate) fn l2sq_many2(q0: &[f32], q1: &[f32], rows: &[f32], o0: &mut [f32], o1: &mut [f32]) {
        if q0.len() < NARROW_BELOW {
            super::pair::v3::l2sq_many2(q0, q1, rows, o0, o1)
        } else {
            super::pair::v4::l2sq_many2(q0, q1, rows, o0, o1)
        }
    }
}
