//! Plain reference implementations of every kernel: one loop each, no tricks.
//!
//! They define what the dispatched kernels must compute (up to summation order) and are
//! what the property tests compare against. Sums accumulate in f64 so the reference is
//! the more accurate side of every comparison.

/// `a · b`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum::<f64>() as f32
}

/// `‖a − b‖²`.
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>() as f32
}

/// `1 − cos(a, b)`, 1 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = (dot(a, b) as f64, dot(a, a) as f64, dot(b, b) as f64);
    let denom = (aa * bb).sqrt();
    if denom > 0.0 {
        (1.0 - ab / denom) as f32
    } else {
        1.0
    }
}

/// Squared-L2 PQ lookup table from row-major codebooks (`m × ksub × dsub`).
pub fn pq_lut_l2(q: &[f32], codebooks: &[f32], m: usize, ksub: usize) -> Vec<f32> {
    let dsub = q.len() / m;
    let mut out = Vec::with_capacity(m * ksub);
    for j in 0..m {
        for c in 0..ksub {
            let cent = &codebooks[(j * ksub + c) * dsub..(j * ksub + c + 1) * dsub];
            out.push(l2sq(&q[j * dsub..(j + 1) * dsub], cent));
        }
    }
    out
}

/// Inner-product PQ lookup table from row-major codebooks (`m × ksub × dsub`).
pub fn pq_lut_dot(q: &[f32], codebooks: &[f32], m: usize, ksub: usize) -> Vec<f32> {
    let dsub = q.len() / m;
    let mut out = Vec::with_capacity(m * ksub);
    for j in 0..m {
        for c in 0..ksub {
            let cent = &codebooks[(j * ksub + c) * dsub..(j * ksub + c + 1) * dsub];
            out.push(dot(&q[j * dsub..(j + 1) * dsub], cent));
        }
    }
    out
}

/// Scores of row-major 8-bit codes (`n × m`) against an `m × 256` table, summed in
/// sub-quantizer order starting from `bias` (the order the kernels use).
pub fn pq8_scan(lut: &[f32], codes: &[u8], m: usize, bias: f32) -> Vec<f32> {
    codes
        .chunks_exact(m)
        .map(|code| {
            code.iter()
                .enumerate()
                .fold(bias, |acc, (j, &c)| acc + lut[j * 256 + c as usize])
        })
        .collect()
}

/// `u16` sums of row-major 4-bit codes (`n × m`) against an `m × 16` byte table
/// (wrapping, as the kernels do), and the indices whose sum is at most `threshold`.
pub fn pq4_scan(lut: &[u8], codes: &[u8], m: usize, threshold: u16) -> (Vec<u16>, Vec<u32>) {
    byte_table_scan(lut, codes, (m, 16), threshold)
}

/// Wrapping `u16` sums of row-major codes (`n × m`) against an `m × row_len` byte table
/// (codes masked to the row), and the indices whose sum is at most `threshold`.
fn byte_table_scan(
    lut: &[u8],
    codes: &[u8],
    (m, row_len): (usize, usize),
    threshold: u16,
) -> (Vec<u16>, Vec<u32>) {
    let sums: Vec<u16> = codes
        .chunks_exact(m.max(1))
        .map(|code| {
            code.iter().enumerate().fold(0u16, |acc, (j, &c)| {
                let c = usize::from(c) & (row_len - 1);
                acc.wrapping_add(u16::from(lut[j * row_len + c]))
            })
        })
        .collect();
    let hits = (0..sums.len() as u32)
        .filter(|&i| sums[i as usize] <= threshold)
        .collect();
    (sums, hits)
}

/// The fast-scan table of `lut` (`m × 16`): bytes `(x − row min)·scale` capped at 255 and
/// rounded to the nearest integer (ties to even), `m_pad × 16` with zero padding rows, and `(scale, base)`; see
/// `Kernels::pq4_quantize`.
pub fn pq4_quantize(lut: &[f32], m: usize) -> (Vec<u8>, f32, f32) {
    let (mut out, scale, base) = quantize_rows(lut, m, 16);
    out.resize(16 * crate::pq4_m_pad(m), 0);
    (out, scale, base)
}

/// The 8-bit scan's byte table of `lut` (`m × 256`), as [`pq4_quantize`] quantizes rows
/// of 16 (no padding rows); see `Kernels::pq8_quantize`.
pub fn pq8_quantize(lut: &[f32], m: usize) -> (Vec<u8>, f32, f32) {
    quantize_rows(lut, m, 256)
}

/// The byte-table 8-bit scan: `u16` sums (wrapping) of `lut[j·256 + code[j]]` over the
/// row-major codes, and the indices whose sum is at most `threshold`.
pub fn pq8_byte_scan(lut: &[u8], codes: &[u8], m: usize, threshold: u16) -> (Vec<u16>, Vec<u32>) {
    byte_table_scan(lut, codes, (m, 256), threshold)
}

/// Rows of `row_len` quantized with one scale, `m` rows, no padding.
fn quantize_rows(lut: &[f32], m: usize, row_len: usize) -> (Vec<u8>, f32, f32) {
    let rows: Vec<&[f32]> = lut.chunks_exact(row_len).collect();
    let lo = |r: &[f32]| r.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let hi = |r: &[f32]| r.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    // Sums in four interleaved accumulators (row j into j mod 4), as the kernels add.
    let sum4 = |f: &dyn Fn(&[f32]) -> f32| {
        let mut acc = [0.0f32; 4];
        for (j, r) in rows.iter().enumerate() {
            acc[j % 4] += f(r);
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    };
    let base = sum4(&|r| lo(r));
    let widest = rows.iter().fold(0.0f32, |a, r| a.max(hi(r) - lo(r)));
    let total = sum4(&|r| hi(r) - lo(r));
    // The scale is a definition (the bound on `u16` sums), shared with the kernels.
    let scale = crate::pq4_table::pq4_scale(m, widest, total);
    let mut out = vec![0u8; row_len * m];
    for (r, q) in rows.iter().zip(out.chunks_exact_mut(row_len)) {
        for (x, b) in r.iter().zip(q) {
            *b = ((x - lo(r)) * scale).min(255.0).round_ties_even() as u8;
        }
    }
    (out, scale, base)
}

/// The fast-scan table of `a + b` (each `m × 16`) with row bounds `lo`, `hi` (`m` each):
/// widths `max(hi − lo, 0)`, bytes `(a + b − lo)·scale` clamped to `[0, 255]` and rounded
/// to the nearest integer (ties to even); see `Kernels::pq4_quantize_sum`.
pub fn pq4_quantize_sum(
    a: &[f32],
    b: &[f32],
    lo: &[f32],
    hi: &[f32],
    m: usize,
) -> (Vec<u8>, f32, f32) {
    let (mut out, scale, base) = quantize_sum_rows((a, b), (lo, hi), m, 16);
    out.resize(16 * crate::pq4_m_pad(m), 0);
    (out, scale, base)
}

/// [`pq4_quantize_sum`] for `m × 256` tables; see `Kernels::pq8_quantize_sum`.
pub fn pq8_quantize_sum(
    a: &[f32],
    b: &[f32],
    lo: &[f32],
    hi: &[f32],
    m: usize,
) -> (Vec<u8>, f32, f32) {
    quantize_sum_rows((a, b), (lo, hi), m, 256)
}

/// Rows of `row_len` of `a + b` quantized with one scale from the bounds, no padding.
fn quantize_sum_rows(
    (a, b): (&[f32], &[f32]),
    (lo, hi): (&[f32], &[f32]),
    m: usize,
    row_len: usize,
) -> (Vec<u8>, f32, f32) {
    let width = |j: usize| (hi[j] - lo[j]).max(0.0);
    let mut acc = ([0.0f32; 4], [0.0f32; 4]);
    for j in 0..m {
        acc.0[j % 4] += lo[j];
        acc.1[j % 4] += width(j);
    }
    let base = (acc.0[0] + acc.0[1]) + (acc.0[2] + acc.0[3]);
    let total = (acc.1[0] + acc.1[1]) + (acc.1[2] + acc.1[3]);
    let widest = (0..m).fold(0.0f32, |w, j| w.max(width(j)));
    // The scale is a definition (the bound on `u16` sums), shared with the kernels.
    let scale = crate::pq4_table::pq4_scale(m, widest, total);
    let mut out = vec![0u8; row_len * m];
    for (j, q) in out.chunks_exact_mut(row_len).enumerate() {
        for (c, byte) in q.iter_mut().enumerate() {
            let x = a[row_len * j + c] + b[row_len * j + c];
            *byte = ((x - lo[j]) * scale).clamp(0.0, 255.0).round_ties_even() as u8;
        }
    }
    (out, scale, base)
}

/// Indices of `dists` at or under `threshold`.
pub fn select_below(dists: &[f32], threshold: f32) -> Vec<u32> {
    (0..dists.len() as u32)
        .filter(|&i| dists[i as usize] <= threshold)
        .collect()
}

/// The `k` smallest `(distance, id)` pairs by full sort.
pub fn top_k(pairs: &[(f32, u64)], k: usize) -> Vec<(f32, u64)> {
    let mut v = pairs.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v.truncate(k);
    v
}

/// First minimum of `a[i] + b[i]`, `(0, +inf)` when empty.
pub fn argmin_sum(a: &[f32], b: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x + y < best.1 {
            best = (i, x + y);
        }
    }
    best
}

/// The first nearest of `k` transposed centroids (`ct` is `x.len() × k`) by squared L2.
pub fn nearest_l2(x: &[f32], ct: &[f32], k: usize) -> (usize, f32) {
    let mut best = (0, f32::INFINITY);
    for c in 0..k {
        let d: f32 = x
            .iter()
            .enumerate()
            .map(|(d, v)| (v - ct[d * k + c]).powi(2))
            .sum();
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

/// `a[i] + b[i]`.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Minimum of each `row_len`-wide row.
pub fn row_mins(rows: &[f32], row_len: usize) -> Vec<f32> {
    rows.chunks_exact(row_len)
        .map(|r| r.iter().fold(f32::INFINITY, |a, &b| a.min(b)))
        .collect()
}

/// Maximum of each `row_len`-wide row.
pub fn row_maxs(rows: &[f32], row_len: usize) -> Vec<f32> {
    rows.chunks_exact(row_len)
        .map(|r| r.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)))
        .collect()
}
