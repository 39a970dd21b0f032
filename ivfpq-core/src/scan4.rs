//! The 4-bit fast-scan of one partition: quantize the probe's float table to bytes, scan
//! every code with in-register lookups and `u16` sums, and rescore only the survivors with
//! the float table, so the byte table's rounding never decides the order.

use ivfpq_simd::{Kernels, PQ4_BLOCK, TopK, pq4_m_pad};

use crate::lists::ListRef;
use crate::params::IdFilter;

/// Buffers for the fast-scan, reused across probes.
#[derive(Default)]
pub(crate) struct Scratch4 {
    lut_q: Vec<u8>,
    mins: Vec<f32>,
    sums: Vec<u16>,
    hits: Vec<u32>,
}

/// Quantizes an `m × 16` float table into `out` (`m_pad × 16` bytes): each row minus its
/// minimum, times one scale chosen so that a row fits a byte and a whole sum fits a
/// `u16`. Returns `(scale, base)`: a float sum is about `base + Σ bytes / scale`.
fn quantize(lut: &[f32], m: usize, out: &mut Vec<u8>, mins: &mut Vec<f32>) -> (f32, f32) {
    out.clear();
    out.resize(pq4_m_pad(m) * 16, 0);
    mins.clear();
    let (mut base, mut widest, mut total) = (0.0f32, 0.0f32, 0.0f32);
    for row in lut.chunks_exact(16) {
        let (lo, hi) = min_max16(row);
        base += lo;
        widest = widest.max(hi - lo);
        total += hi - lo;
        mins.push(lo);
    }
    // Rounding adds up to 1/2 per row, so leave m of headroom below 65535.
    let room = (65535 - m.min(65535)) as f32;
    let scale = if widest > 0.0 {
        (255.0 / widest).min(room / total.max(f32::MIN_POSITIVE))
    } else {
        1.0
    };
    for ((row, &lo), q) in lut
        .chunks_exact(16)
        .zip(mins.iter())
        .zip(out.chunks_exact_mut(16))
    {
        for (x, b) in row.iter().zip(q) {
            // Round half up by truncation; values lie in [0, 255.5). (`f32::round` is a
            // libm call here and cost more than the whole scan; this form vectorizes.)
            *b = ((x - lo) * scale + 0.5).min(255.0) as i32 as u8;
        }
    }
    (scale, base)
}

/// Minimum and maximum of a table row, as a tree of lane-wise compares (vectorizes).
fn min_max16(row: &[f32]) -> (f32, f32) {
    let mut lo: [f32; 16] = std::array::from_fn(|i| row[i]);
    let mut hi = lo;
    let mut w = 8;
    while w > 0 {
        for i in 0..w {
            lo[i] = if lo[i + w] < lo[i] { lo[i + w] } else { lo[i] };
            hi[i] = if hi[i + w] > hi[i] { hi[i + w] } else { hi[i] };
        }
        w /= 2;
    }
    (lo[0], hi[0])
}

/// Scans partition `l` of 4-bit codes against the float table `lut` (`m × 16`) plus
/// `bias`, and offers `top` every code (that `filter` accepts) whose float distance may
/// beat its threshold, keyed `(l << 32) | offset`, with its float-table distance.
pub(crate) fn scan_list(
    kern: &Kernels,
    lut: &[f32],
    bias: f32,
    (l, part): (u32, ListRef<'_>),
    m: usize,
    filter: Option<&IdFilter>,
    s: &mut Scratch4,
    top: &mut TopK,
) {
    let threshold = top.threshold();
    let n = part.ids.len();
    let (scale, base) = quantize(lut, m, &mut s.lut_q, &mut s.mins);
    // A code at float distance ≤ threshold has a byte sum ≤ (threshold − bias − base)·scale
    // plus its rounding (≤ m/2); the +1 absorbs float error in that bound.
    let thr_q = if threshold.is_finite() {
        let t = (threshold - bias - base) * scale + 0.5 * m as f32 + 1.0;
        if t < 0.0 {
            return;
        }
        t.min(u16::MAX as f32) as u16
    } else {
        u16::MAX
    };
    s.hits.clear();
    kern.pq4_scan(&s.lut_q, part.codes, m, n, thr_q, &mut s.sums, &mut s.hits);
    // Survivors are rescored with the float table (layout: see ivfpq_simd's pq4 module).
    let bsize = 16 * pq4_m_pad(m);
    // A survivor's float distance is at most this far under its byte-domain estimate
    // (rounding, plus one unit for float error, as in `thr_q`).
    let slack = (0.5 * m as f32 + 1.0) / scale;
    for &i in &s.hits {
        let i = i as usize;
        // The threshold tightens as survivors enter `top`; skip those that cannot.
        let low = bias + base + s.sums[i] as f32 / scale - slack;
        if low > top.threshold() || filter.is_some_and(|f| !f.accepts(part.ids[i])) {
            continue;
        }
        let at = (i / PQ4_BLOCK) * bsize + i % 16;
        let shift = if i % PQ4_BLOCK < 16 { 0 } else { 4 };
        let bytes = &part.codes[at..];
        // Four partial sums: one dependent add chain would cost m × 4 cycles a hit.
        let mut acc = [0.0f32; 4];
        let rows = lut.chunks_exact(64);
        let tail = rows.remainder();
        for (g, four) in rows.enumerate() {
            for (t, a) in acc.iter_mut().enumerate() {
                let c = (bytes[16 * (4 * g + t)] >> shift) & 15;
                *a += four[16 * t + c as usize];
            }
        }
        let j0 = lut.len() / 64 * 4;
        for (t, row) in tail.chunks_exact(16).enumerate() {
            acc[t] += row[((bytes[16 * (j0 + t)] >> shift) & 15) as usize];
        }
        let d = bias + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
        top.push(d, ((l as u64) << 32) | i as u64);
    }
}
