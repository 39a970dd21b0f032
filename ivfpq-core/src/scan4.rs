//! The 4-bit fast-scan of one partition: quantize the probe's float table to bytes, scan
//! every code with in-register lookups and `u16` sums, and rescore only the survivors with
//! the float table, so the byte table's rounding never decides the order.

use ivfpq_simd::{Kernels, PQ4_BLOCK, TopK, pq4_m_pad};

use crate::lists::ListRef;
use crate::params::IdFilter;

/// Buffers for the fast-scan, reused across probes.
#[derive(Default)]
pub(crate) struct Scratch4 {
    pub(crate) lut_q: Vec<u8>,
    pub(crate) sums: Vec<u16>,
    pub(crate) hits: Vec<u32>,
}

/// Scans partition `l` of 4-bit codes against the float table `lut` (`m × 16`) plus
/// `bias`, and offers `top` every code (that `filter` accepts) that may beat its
/// threshold, keyed `(l << 32) | offset`.
///
/// With `rescore`, a code is offered with its float-table distance, and every code whose
/// float distance could beat the threshold is looked at. Without it (the caller reranks
/// exactly), a code is offered with the byte table's estimate, which is what the kernel's
/// threshold test already compares: no survivor needs a second look.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_list(
    kern: &Kernels,
    lut: &[f32],
    bias: f32,
    (l, part): (u32, ListRef<'_>),
    m: usize,
    filter: Option<&IdFilter>,
    rescore: bool,
    s: &mut Scratch4,
    top: &mut TopK,
) {
    let threshold = top.threshold();
    let n = part.ids.len();
    let (scale, base) = kern.pq4_quantize(lut, m, &mut s.lut_q);
    // A code at float distance ≤ threshold has a byte sum ≤ (threshold − bias − base)·scale
    // plus its rounding (≤ m/2); the +1 absorbs float error in that bound. Estimates
    // compared with estimates need no rounding slack, only the +1: pruning stays
    // conservative, so `top` alone decides ties and the order lists are scanned in
    // cannot change the result.
    let slack_q = if rescore { 0.5 * m as f32 + 1.0 } else { 1.0 };
    let thr_q = if threshold.is_finite() {
        let t = (threshold - bias - base) * scale + slack_q;
        if t < 0.0 {
            return;
        }
        t.min(u16::MAX as f32) as u16
    } else {
        u16::MAX
    };
    s.hits.clear();
    kern.pq4_scan(&s.lut_q, part.codes, m, n, thr_q, &mut s.sums, &mut s.hits);
    if !rescore {
        let offset = bias + base;
        for &i in &s.hits {
            if filter.is_some_and(|f| !f.accepts(part.ids[i as usize])) {
                continue;
            }
            let d = offset + f32::from(s.sums[i as usize]) / scale;
            top.push(d, ((l as u64) << 32) | u64::from(i));
        }
        return;
    }
    // Survivors are rescored with the float table (layout: see ivfpq_simd's pq4 module).
    let bsize = 16 * pq4_m_pad(m);
    // A survivor's float distance is at most this far under its byte-domain estimate
    // (the same rounding allowance as in `thr_q`).
    let slack = slack_q / scale;
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
