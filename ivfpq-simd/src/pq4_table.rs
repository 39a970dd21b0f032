//! The 4-bit fast-scan's per-probe table: an `m × 16` float table quantized to bytes.
//!
//! Each row is shifted by its minimum, and one scale is chosen for the whole table so that
//! a row fits a byte and any sum of `m` bytes (one per row) fits a `u16`. A float sum is
//! then about `base + Σ bytes / scale`, with `base` the sum of the row minima.
//!
//! It runs once per probed partition, over as many values as the scan of a short list
//! reads, so it is a dispatched kernel: written as plain loops over 16-value rows that the
//! compiler vectorizes at each level's width.

/// Minimum and maximum of a 16-value row: one vector at AVX-512, two at AVX2.
#[inline(always)]
fn min_max16<S: pulp::Simd>(s: S, row: &[f32; 16]) -> (f32, f32) {
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
fn pq4_scale(m: usize, widest: f32, total: f32) -> f32 {
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
fn pq4_quantize_impl<S: pulp::Simd>(s: S, lut: &[f32], out: &mut [u8]) -> (f32, f32) {
    let (rows, _) = lut.as_chunks::<16>();
    let (mut base, mut widest, mut total) = (0.0f32, 0.0f32, 0.0f32);
    // Row minima, kept for the second pass (a horizontal reduction is most of a row's
    // cost); rows past the buffer recompute theirs.
    let mut mins = [0.0f32; MINS_KEPT];
    for (j, row) in rows.iter().enumerate() {
        let (lo, hi) = min_max16(s, row);
        if let Some(m) = mins.get_mut(j) {
            *m = lo;
        }
        base += lo;
        widest = widest.max(hi - lo);
        total += hi - lo;
    }
    let scale = pq4_scale(rows.len(), widest, total);
    out.fill(0);
    let (sc, cap) = (s.splat_f32s(scale), s.splat_f32s(255.0));
    // 2^23: adding it to a value in [0, 2^22) leaves that value rounded to the nearest
    // integer (ties to even) in the low mantissa bits, so no float-to-int conversion
    // (scalar, or a saturating sequence) is needed. The multiply and the add stay
    // separate (no fused multiply-add), so every level rounds alike.
    let magic = s.splat_f32s(MAGIC);
    for (j, (row, q)) in rows.iter().zip(out.as_chunks_mut::<16>().0).enumerate() {
        let lo = match mins.get(j) {
            Some(&lo) => lo,
            None => min_max16(s, row).0,
        };
        let lo_v = s.splat_f32s(lo);
        let mut bits = [0u32; 16];
        let (bh, bt) = S::as_mut_simd_u32s(&mut bits);
        let (rh, rt) = S::as_simd_f32s(row);
        for (o, x) in bh.iter_mut().zip(rh) {
            let y = s.min_f32s(s.mul_f32s(s.sub_f32s(*x, lo_v), sc), cap);
            *o = s.transmute_u32s_f32s(s.add_f32s(y, magic));
        }
        for (o, x) in bt.iter_mut().zip(rt) {
            *o = (((x - lo) * scale).min(255.0) + MAGIC).to_bits();
        }
        for (b, w) in q.iter_mut().zip(bits) {
            *b = w as u8;
        }
    }
    (scale, base)
}

kernel_levels! {
    fn pq4_quantize(lut: &[f32], out: &mut [u8]) -> (f32, f32) => pq4_quantize_impl;
}
