//! The 4-bit fast-scan of one partition: quantize the probe's float table to bytes, scan
//! every code with in-register lookups and `u16` sums, and rescore only the survivors with
//! the float table, so the byte table's rounding never decides the order.

use ivfpq_simd::{Kernels, PQ4_BLOCK, TopK, pq4_m_pad};

use crate::lists::ListRef;
use crate::params::IdFilter;

/// Buffers for the fast-scan, reused across probes.
#[derive(Default)]
pub(crate) struct Scratch4 {
    /// A probe's table bytes, when the probes of a query do not share them.
    pub(crate) bytes: Bytes4,
    /// A probe's float table, when it is made here (`Source4::Sum` with rescoring).
    pub(crate) lut: Vec<f32>,
    pub(crate) sums: Vec<u16>,
    pub(crate) hits: Vec<u32>,
}

/// Row minima then row maxima of a `m × 16` table, into `out` (`2m`).
pub(crate) fn row_bounds(table: &[f32], out: &mut [f32]) {
    let m = table.len() / 16;
    let (lo, hi) = out.split_at_mut(m.min(out.len()));
    for ((row, l), h) in table.chunks_exact(16).zip(lo).zip(hi) {
        *l = row.iter().fold(f32::INFINITY, |a, &b| a.min(b));
        *h = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    }
}

/// What every 4-bit probe of one query shares, made once per query.
pub(crate) enum Query4 {
    /// The bytes of its shared table (dot; cosine with `SearchParams::shared_table`).
    Shared(Bytes4),
    /// Row minima then maxima of its query term, for precomputed tables
    /// ([`Source4::Sum`]).
    Bounds(Vec<f32>),
    /// Nothing: each probe quantizes a float table of its own.
    PerProbe,
}

/// Where a probe's 4-bit table comes from.
pub(crate) enum Source4<'a> {
    /// Bytes made once for all of a query's probes (a shared table), with its floats.
    Shared(&'a [f32], &'a Bytes4),
    /// A float table, quantized for this probe.
    Float(&'a [f32]),
    /// A precomputed table `t` plus the query's term `q`, whose rows lie within
    /// `lo`..`hi`: quantized in one pass, the float sum made only when rescoring.
    Sum {
        t: &'a [f32],
        q: &'a [f32],
        lo: &'a [f32],
        hi: &'a [f32],
    },
}

/// A probe's 4-bit table: the float table (`m × 16`, for rescoring) and its bytes with
/// their `(scale, base)` from `Kernels::pq4_quantize` (for the kernel).
#[derive(Clone, Copy)]
pub(crate) struct Table4<'a> {
    pub(crate) lut: &'a [f32],
    pub(crate) bytes: &'a [u8],
    pub(crate) scale: f32,
    pub(crate) base: f32,
}

/// Owned bytes of a 4-bit table, for tables quantized once and used for many probes.
#[derive(Default)]
pub(crate) struct Bytes4 {
    pub(crate) bytes: Vec<u8>,
    pub(crate) scale: f32,
    pub(crate) base: f32,
}

impl Bytes4 {
    /// Quantizes `lut` (`m × 16`) into `self`.
    pub(crate) fn quantize(&mut self, kern: &Kernels, lut: &[f32], m: usize) {
        (self.scale, self.base) = kern.pq4_quantize(lut, m, &mut self.bytes);
    }

    /// `self` as the bytes of `lut`, which it was quantized from.
    pub(crate) fn table<'a>(&'a self, lut: &'a [f32]) -> Table4<'a> {
        Table4 {
            lut,
            bytes: &self.bytes,
            scale: self.scale,
            base: self.base,
        }
    }
}

/// Scans partition `l` of 4-bit codes against table `t` plus `bias`, and offers `top`
/// every code (that `filter` accepts) that may beat its threshold, keyed
/// `(l << 32) | offset`.
///
/// With `rescore`, a code is offered with its float-table distance, and every code whose
/// float distance could beat the threshold is looked at. Without it (the caller reranks
/// exactly), a code is offered with the byte table's estimate, which is what the kernel's
/// threshold test already compares: no survivor needs a second look.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_list(
    kern: &Kernels,
    t: Table4<'_>,
    bias: f32,
    (l, part): (u32, ListRef<'_>),
    m: usize,
    filter: Option<&IdFilter>,
    rescore: bool,
    (sums, hits): (&mut Vec<u16>, &mut Vec<u32>),
    top: &mut TopK,
) {
    let threshold = top.threshold();
    let n = part.ids.len();
    let (lut, scale, base) = (t.lut, t.scale, t.base);
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
    hits.clear();
    kern.pq4_scan(t.bytes, part.codes, m, n, thr_q, sums, hits);
    if !rescore {
        let offset = bias + base;
        for &i in &*hits {
            if filter.is_some_and(|f| !f.accepts(part.ids[i as usize])) {
                continue;
            }
            let d = offset + f32::from(sums[i as usize]) / scale;
            top.push(d, ((l as u64) << 32) | u64::from(i));
        }
        return;
    }
    // Survivors are rescored with the float table (layout: see ivfpq_simd's pq4 module).
    let bsize = 16 * pq4_m_pad(m);
    // A survivor's float distance is at most this far under its byte-domain estimate
    // (the same rounding allowance as in `thr_q`).
    let slack = slack_q / scale;
    for &i in &*hits {
        let i = i as usize;
        // The threshold tightens as survivors enter `top`; skip those that cannot.
        let low = bias + base + sums[i] as f32 / scale - slack;
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
