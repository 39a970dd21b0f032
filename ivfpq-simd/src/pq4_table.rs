//! The fast-scan's per-probe table: an `m × 16` float table quantized to bytes (and the
//! 8-bit byte-table scan's `m × 256`, the same way).
//!
//! Each row is shifted by its minimum, and one scale is chosen for the whole table so that
//! a row fits a byte and any sum of `m` bytes (one per row) fits a `u16`. A float sum is
//! then about `base + Σ bytes / scale`, with `base` the sum of the row minima.
//!
//! It runs once per probed partition, over as many values as the scan of a short list
//! reads, so it is a dispatched kernel: written as plain loops over 16-value rows that the
//! compiler vectorizes at each level's width.

use crate::lanes::Lanes;

/// Minimum and maximum of a row (16 values: one vector at AVX-512, two at AVX2).
#[inline(always)]
fn min_max<S: pulp::Simd>(s: S, row: &[f32]) -> (f32, f32) {
    let (head, tail) = S::as_simd_f32s(row);
    let mut lo = s.splat_f32s(f32::INFINITY);
    let mut hi = s.splat_f32s(f32::NEG_INFINITY);
    for v in head {
        lo = s.min_f32s(lo, *v);
        hi = s.max_f32s(hi, *v);
    }
    let (mut l, mut h) = (s.reduce_min_f32s(lo), s.reduce_max_f32s(hi));
    for &x in tail {
        l = l.min(x);
        h = h.max(x);
    }
    (l, h)
}

/// The scale for rows of minima-shifted widths: the largest that keeps every byte ≤ 255
/// and every sum of `m` rounded bytes ≤ 65535 (rounding adds up to 1/2 per row, so `m` of
/// headroom is kept below the top).
#[inline(always)]
pub(crate) fn pq4_scale(m: usize, widest: f32, total: f32) -> f32 {
    let room = (65535 - m.min(65535)) as f32;
    if widest > 0.0 {
        (255.0 / widest).min(room / total.max(f32::MIN_POSITIVE))
    } else {
        1.0
    }
}

/// Row minima kept between the two passes: covers `m` up to 128 (dim 1024 at `dim / 8`).
const MINS_KEPT: usize = 128;

/// 2^23, the float whose unit in the last place is 1.
const MAGIC: f32 = 8_388_608.0;

/// Quantizes `lut` (`m × 16`) into `out` (`m_pad × 16` bytes, padding rows left zero);
/// returns `(scale, base)`.
#[inline(always)]
fn pq4_quantize_impl<S: Lanes>(s: S, lut: &[f32], out: &mut [u8]) -> (f32, f32) {
    quantize_rows::<S, 16>(s, lut, out)
}

/// Quantizes the 8-bit scan's table `lut` (`m × 256`) into `out` (`m × 256` bytes), one
/// scale for all rows as for the 4-bit table; returns `(scale, base)`.
#[inline(always)]
fn pq8_quantize_impl<S: Lanes>(s: S, lut: &[f32], out: &mut [u8]) -> (f32, f32) {
    quantize_rows::<S, 256>(s, lut, out)
}

/// Quantizes rows of `K` values (a multiple of 16) with one scale.
#[inline(always)]
fn quantize_rows<S: Lanes, const K: usize>(s: S, lut: &[f32], out: &mut [u8]) -> (f32, f32) {
    let (rows, _) = lut.as_chunks::<K>();
    // Row minima, kept for the second pass (a horizontal reduction is most of a row's
    // cost); rows past the buffer recompute theirs. The sums run in four interleaved
    // accumulators (row j into j mod 4), so rows overlap instead of waiting on one add
    // chain; the reference sums in the same order, so every level agrees bit for bit.
    let mut mins = [0.0f32; MINS_KEPT];
    let (mut bases, mut totals, mut widest) = ([0.0f32; 4], [0.0f32; 4], 0.0f32);
    for (j, row) in rows.iter().enumerate() {
        let (lo, hi) = min_max(s, row);
        if let Some(m) = mins.get_mut(j) {
            *m = lo;
        }
        let width = hi - lo;
        bases[j % 4] += lo;
        totals[j % 4] += width;
        // Finite input: a select, not `f32::max`'s NaN handling, on the carried chain.
        widest = if width > widest { width } else { widest };
    }
    let base = (bases[0] + bases[1]) + (bases[2] + bases[3]);
    let total = (totals[0] + totals[1]) + (totals[2] + totals[3]);
    let scale = pq4_scale(rows.len(), widest, total);
    out.fill(0);
    for (j, (row, q)) in rows.iter().zip(out.as_chunks_mut::<K>().0).enumerate() {
        let lo = match mins.get(j) {
            Some(&lo) => lo,
            None => min_max(s, row).0,
        };
        let (parts, qs) = (row.as_chunks::<16>().0, q.as_chunks_mut::<16>().0);
        for (part, q) in parts.iter().zip(qs) {
            quantize_row(s, part, &[0.0; 16], lo, scale, q);
        }
    }
    (scale, base)
}

/// Bytes of one row of `a + b`: `(a + b − lo)·scale` clamped to `[0, 255]` and rounded to
/// the nearest integer, ties to even. (Adding a zero row changes no value that matters:
/// `x + 0 = x`, and `−0` only turns into `+0`.)
#[inline(always)]
fn quantize_row<S: Lanes>(
    s: S,
    a: &[f32; 16],
    b: &[f32; 16],
    lo: f32,
    scale: f32,
    q: &mut [u8; 16],
) {
    let (sc, cap, zero) = (s.splat_f32s(scale), s.splat_f32s(255.0), s.splat_f32s(0.0));
    // 2^23: adding it to a value in [0, 2^22) leaves that value rounded to the nearest
    // integer (ties to even) in the low mantissa bits, so no float-to-int conversion
    // (scalar, or a saturating sequence) is needed. The multiply and the add stay
    // separate (no fused multiply-add), so every level rounds alike.
    let (magic, lo_v) = (s.splat_f32s(MAGIC), s.splat_f32s(lo));
    let mut bits = [0u32; 16];
    let (bh, bt) = S::as_mut_simd_u32s(&mut bits);
    let ((ah, at), (bh2, bt2)) = (S::as_simd_f32s(a), S::as_simd_f32s(b));
    for ((o, x), y) in bh.iter_mut().zip(ah).zip(bh2) {
        let d = s.mul_f32s(s.sub_f32s(s.add_f32s(*x, *y), lo_v), sc);
        let d = s.max_f32s(s.min_f32s(d, cap), zero);
        *o = s.transmute_u32s_f32s(s.add_f32s(d, magic));
    }
    for ((o, x), y) in bt.iter_mut().zip(at).zip(bt2) {
        *o = (((x + y - lo) * scale).clamp(0.0, 255.0) + MAGIC).to_bits();
    }
    s.low_bytes(&bits, q);
}

/// Quantizes `a + b` (each `m × 16`) into `out`, with row bounds given instead of found:
/// `lo[j]` and `hi[j]` bound row `j` of the sum. A precomputed table plus the query's term
/// has such bounds for free (the sums of each part's row minima and maxima), so no row is
/// reduced and the float sum is never written. Widths are the bounds' (`hi − lo`), so the
/// scale is at most the exact one; a byte outside the bounds is clamped.
#[inline(always)]
fn pq4_quantize_sum_impl<S: Lanes>(
    s: S,
    a: &[f32],
    b: &[f32],
    lo: &[f32],
    hi: &[f32],
    out: &mut [u8],
) -> (f32, f32) {
    quantize_sum_rows::<S, 16>(s, (a, b), (lo, hi), out)
}

/// [`pq4_quantize_sum_impl`] for the 8-bit scan's `m × 256` tables.
#[inline(always)]
fn pq8_quantize_sum_impl<S: Lanes>(
    s: S,
    a: &[f32],
    b: &[f32],
    lo: &[f32],
    hi: &[f32],
    out: &mut [u8],
) -> (f32, f32) {
    quantize_sum_rows::<S, 256>(s, (a, b), (lo, hi), out)
}

/// Rows of `K` values (a multiple of 16) of `a + b`, with bounds, quantized with one scale.
#[inline(always)]
fn quantize_sum_rows<S: Lanes, const K: usize>(
    s: S,
    (a, b): (&[f32], &[f32]),
    (lo, hi): (&[f32], &[f32]),
    out: &mut [u8],
) -> (f32, f32) {
    let ((ra, _), (rb, _)) = (a.as_chunks::<K>(), b.as_chunks::<K>());
    let m = ra.len().min(rb.len()).min(lo.len()).min(hi.len());
    let (mut bases, mut totals, mut widest) = ([0.0f32; 4], [0.0f32; 4], 0.0f32);
    // Four rows at a time, so the four accumulators stay in registers.
    let ((lo4, lo_rest), (hi4, hi_rest)) = (lo[..m].as_chunks::<4>(), hi[..m].as_chunks::<4>());
    let quads = lo4.iter().zip(hi4).map(|(l, h)| (&l[..], &h[..]));
    for (l, h) in quads.chain(std::iter::once((lo_rest, hi_rest))) {
        for t in 0..l.len().min(h.len()) {
            let width = h[t] - l[t];
            let width = if width > 0.0 { width } else { 0.0 };
            bases[t] += l[t];
            totals[t] += width;
            widest = if width > widest { width } else { widest };
        }
    }
    let base = (bases[0] + bases[1]) + (bases[2] + bases[3]);
    let total = (totals[0] + totals[1]) + (totals[2] + totals[3]);
    let scale = pq4_scale(m, widest, total);
    out.fill(0);
    for (j, q) in out.as_chunks_mut::<K>().0.iter_mut().take(m).enumerate() {
        let (pa, pb) = (ra[j].as_chunks::<16>().0, rb[j].as_chunks::<16>().0);
        for ((x, y), q) in pa.iter().zip(pb).zip(q.as_chunks_mut::<16>().0) {
            quantize_row(s, x, y, lo[j], scale, q);
        }
    }
    (scale, base)
}

kernel_levels! {
    target_feature:
    fn pq4_quantize(lut: &[f32], out: &mut [u8]) -> (f32, f32) => pq4_quantize_impl;
    fn pq8_quantize(lut: &[f32], out: &mut [u8]) -> (f32, f32) => pq8_quantize_impl;
    fn pq4_quantize_sum(a: &[f32], b: &[f32], lo: &[f32], hi: &[f32], out: &mut [u8]) -> (f32, f32) => pq4_quantize_sum_impl;
    fn pq8_quantize_sum(a: &[f32], b: &[f32], lo: &[f32], hi: &[f32], out: &mut [u8]) -> (f32, f32) => pq8_quantize_sum_impl;
}
