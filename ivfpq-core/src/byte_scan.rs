//! The byte-table scan of one partition: quantize the probe's float table to bytes, scan
//! every code with in-register lookups and `u16` sums, and rescore only the survivors with
//! the float table, so the byte table's rounding never decides the order. 4-bit codes
//! (fast-scan) always take it; 8-bit codes where the CPU has the byte-table kernel
//! (AVX-512 VBMI, `Kernels::has_pq8_byte_scan`).

use ivfpq_simd::{Kernels, PQ4_BLOCK, PQ8_BLOCK, Pq4Layout, TopK, pq4_m_pad};

use crate::lists::ListRef;
use crate::params::IdFilter;
use crate::select;

/// Buffers for the fast-scan, reused across probes.
#[derive(Default)]
pub(crate) struct ByteScratch {
    /// A probe's table bytes, when the probes of a query do not share them.
    pub(crate) bytes: ByteTable,
    pub(crate) sums: Vec<u16>,
    pub(crate) hits: Vec<u32>,
    /// Byte sums of a list's hits, to find the k-th (see `scan_list`).
    pub(crate) order: Vec<u16>,
}

/// Row minima then row maxima of a `m × ksub` table, into `out` (`2m`).
pub(crate) fn row_bounds(kern: &Kernels, table: &[f32], ksub: usize, out: &mut [f32]) {
    let m = table.len() / ksub.max(1);
    let (lo, hi) = out.split_at_mut(m.min(out.len()));
    let rows = &table[..m * ksub];
    kern.row_mins(rows, ksub, &mut lo[..m]);
    kern.row_maxs(rows, ksub, &mut hi[..m]);
}

/// What every byte-table probe of one query shares, made once per query.
pub(crate) enum QueryBytes {
    /// The bytes of its shared table (dot; cosine with `SearchParams::shared_table`).
    Shared(ByteTable),
    /// Row minima then maxima of its query term, for precomputed tables
    /// ([`TableSource::Sum`]).
    Bounds(Vec<f32>),
    /// Nothing: each probe quantizes a float table of its own.
    PerProbe,
}

/// Where a probe's byte table comes from.
pub(crate) enum TableSource<'a> {
    /// Bytes made once for all of a query's probes (a shared table), with its floats.
    Shared(&'a [f32], &'a ByteTable),
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

/// A probe's byte table: the float table (`m × 16`, or `m × 256` for 8-bit codes, for
/// rescoring) and its bytes with their `(scale, base)` from `Kernels::pq4_quantize` (for
/// the kernel).
#[derive(Clone, Copy)]
pub(crate) struct ProbeBytes<'a> {
    pub(crate) lut: &'a [f32],
    /// A second float table added to `lut` when rescoring (a precomputed table's query
    /// term), or empty: a survivor then looks up both instead of the probe adding two
    /// whole tables, which cost more than the few survivors' extra lookups.
    pub(crate) extra: &'a [f32],
    pub(crate) bytes: &'a [u8],
    pub(crate) scale: f32,
    pub(crate) base: f32,
}

/// Owned bytes of a byte table (4-bit, or 8-bit with VBMI), for tables quantized once and
/// used for many probes.
#[derive(Default)]
pub(crate) struct ByteTable {
    pub(crate) bytes: Vec<u8>,
    pub(crate) scale: f32,
    pub(crate) base: f32,
}

impl ByteTable {
    /// Quantizes `lut` (`m × 16`, or `m × 256` for `Bits::Eight`) into `self`.
    pub(crate) fn quantize(&mut self, kern: &Kernels, lut: &[f32], (m, bits): (usize, Bits)) {
        (self.scale, self.base) = match bits {
            Bits::Four => kern.pq4_quantize(lut, m, &mut self.bytes),
            Bits::Eight => kern.pq8_quantize(lut, m, &mut self.bytes),
        };
    }

    /// Quantizes `t + q` with row bounds `lo`, `hi` into `self` (see
    /// `Kernels::pq4_quantize_sum`).
    pub(crate) fn quantize_sum(
        &mut self,
        kern: &Kernels,
        (t, q): (&[f32], &[f32]),
        (lo, hi): (&[f32], &[f32]),
        (m, bits): (usize, Bits),
    ) {
        let out = &mut self.bytes;
        (self.scale, self.base) = match bits {
            Bits::Four => kern.pq4_quantize_sum((t, q), (lo, hi), m, out),
            Bits::Eight => kern.pq8_quantize_sum((t, q), (lo, hi), m, out),
        };
    }

    /// `self` as the bytes of `lut`, which it was quantized from.
    pub(crate) fn table<'a>(&'a self, lut: &'a [f32]) -> ProbeBytes<'a> {
        self.table_sum(lut, &[])
    }

    /// `self` as the bytes of `lut + extra`, which it was quantized from.
    pub(crate) fn table_sum<'a>(&'a self, lut: &'a [f32], extra: &'a [f32]) -> ProbeBytes<'a> {
        ProbeBytes {
            lut,
            extra,
            bytes: &self.bytes,
            scale: self.scale,
            base: self.base,
        }
    }
}

/// Which codes a byte table scans: 4-bit fast-scan codes, or 8-bit codes through the
/// byte-table kernel (`Kernels::pq8_byte_scan`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bits {
    Four,
    Eight,
}

/// Scans partition `l` of 4-bit (or, with `Bits::Eight`, 8-bit) codes against table `t`
/// plus `bias`, and offers `top` every code (that `filter` accepts) that may beat its
/// threshold, keyed `(l << 32) | offset`: [`byte_threshold`], the kernel, then
/// [`offer_hits`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_list(
    kern: &Kernels,
    t: ProbeBytes<'_>,
    bias: f32,
    (l, part): (u32, ListRef<'_>),
    (m, bits): (usize, Bits),
    filter: Option<&IdFilter>,
    rescore: bool,
    (sums, hits, order): (&mut Vec<u16>, &mut Vec<u32>, &mut Vec<u16>),
    top: &mut TopK,
) {
    let Some(thr_q) = byte_threshold(t, bias, m, rescore, top) else {
        return;
    };
    let n = part.ids.len();
    let defer = defer_hits(thr_q, n, filter, top);
    let thr_q = if defer { 0 } else { thr_q };
    hits.clear();
    match bits {
        Bits::Four => kern.pq4_scan(t.bytes, (part.codes, part.layout), m, n, thr_q, sums, hits),
        Bits::Eight => kern.pq8_byte_scan(t.bytes, part.codes, m, n, thr_q, sums, hits),
    }
    if defer {
        nearest_hits((sums, n), top.k(), (m, rescore), order, hits);
    }
    let list = (l, part);
    offer_hits(
        t,
        bias,
        list,
        (m, bits),
        filter,
        rescore,
        (sums, hits, order),
        top,
    );
}

/// Whether a scan of `n` codes with byte threshold `thr_q` should leave its hits to
/// [`nearest_hits`] (and give the kernel threshold 0): while `top` is not full every code
/// is a hit, and selecting the k nearest from the sums costs less than collecting all of
/// them as hits and selecting from those. (Not with a filter: the k might not all be
/// accepted.)
pub(crate) fn defer_hits(thr_q: u16, n: usize, filter: Option<&IdFilter>, top: &TopK) -> bool {
    thr_q == u16::MAX && filter.is_none() && top.k() > 0 && n > 2 * top.k()
}

/// The hits of a deferred scan ([`defer_hits`]) of `n` codes: each whose sum is at most
/// the k-th smallest, plus twice the rounding allowance when survivors are rescored (see
/// [`offer_hits`], which then keeps the same codes).
pub(crate) fn nearest_hits(
    (sums, n): (&[u16], usize),
    k: usize,
    (m, rescore): (usize, bool),
    order: &mut Vec<u16>,
    hits: &mut Vec<u32>,
) {
    hits.clear();
    // `defer_hits` asks for n > 2k, so there is a k-th.
    let Some(kth) = select::kth_smallest(&sums[..n], k, order) else {
        return;
    };
    let cut = if rescore {
        u32::from(kth) + 2 * slack_q(m, rescore).ceil() as u32
    } else {
        u32::from(kth)
    };
    let cut = u16::try_from(cut).unwrap_or(u16::MAX);
    select::indices_at_most(&sums[..n], cut, hits);
}

/// The byte-domain threshold of a list scanned with table `t` plus `bias` for `top`, or
/// `None` when no code of it can enter `top`. With `rescore`, it allows for the table's
/// rounding, so that no code whose float distance could beat the threshold is dropped.
pub(crate) fn byte_threshold(
    t: ProbeBytes<'_>,
    bias: f32,
    m: usize,
    rescore: bool,
    top: &TopK,
) -> Option<u16> {
    let threshold = top.threshold();
    // A code at float distance ≤ threshold has a byte sum ≤ (threshold − bias − base)·scale
    // plus its rounding (≤ m/2); the +1 absorbs float error in that bound. Estimates
    // compared with estimates need no rounding slack, only the +1: pruning stays
    // conservative, so `top` alone decides ties and the order lists are scanned in
    // cannot change the result.
    if !threshold.is_finite() {
        return Some(u16::MAX);
    }
    let t = (threshold - bias - t.base) * t.scale + slack_q(m, rescore);
    (t >= 0.0).then(|| t.min(u16::MAX as f32) as u16)
}

/// The rounding allowance of [`byte_threshold`], in byte units.
fn slack_q(m: usize, rescore: bool) -> f32 {
    if rescore { 0.5 * m as f32 + 1.0 } else { 1.0 }
}

/// Offers `top` the kernel's `hits` of list `l` (sums in `sums`), scanned with table `t`
/// plus `bias` (see [`scan_list`]).
///
/// With `rescore`, a code is offered with its float-table distance, and every code whose
/// float distance could beat the threshold is looked at. Without it (the caller reranks
/// exactly), a code is offered with the byte table's estimate, which is what the kernel's
/// threshold test already compares: no survivor needs a second look.
#[allow(clippy::too_many_arguments)]
pub(crate) fn offer_hits(
    t: ProbeBytes<'_>,
    bias: f32,
    (l, part): (u32, ListRef<'_>),
    (m, bits): (usize, Bits),
    filter: Option<&IdFilter>,
    rescore: bool,
    (sums, hits, order): (&[u16], &mut Vec<u32>, &mut Vec<u16>),
    top: &mut TopK,
) {
    let (lut, scale, base) = (t.lut, t.scale, t.base);
    // Rows the filter refuses leave first, so what follows sees only rows it may offer.
    if let Some(f) = filter {
        hits.retain(|&i| f.accepts(part.ids[i as usize]));
    }
    // Until `top` holds k candidates every code is a hit. Offering them all would cost a
    // float rescoring of the list, or (estimates) a selection every few pushes. Only the
    // list's k-th smallest byte sum (`kth`) and what lies near it can matter: the k codes
    // at or under it beat every code farther out.
    let k = top.k();
    let kth = (k > 0 && hits.len() > 2 * k).then(|| {
        order.clear();
        order.extend(hits.iter().map(|&i| sums[i as usize]));
        *order.select_nth_unstable(k - 1).1
    });
    if !rescore {
        let (offset, inv) = (bias + base, 1.0 / scale);
        let estimate = |s: u16| offset + f32::from(s) * inv;
        // Estimates grow with the sum (ties possible after rounding), so a code over
        // `kth`'s estimate has k codes strictly nearer.
        let cut = kth.map_or(f32::INFINITY, estimate);
        for &i in hits.iter() {
            let d = estimate(sums[i as usize]);
            if d > cut {
                continue;
            }
            top.push(d, ((l as u64) << 32) | u64::from(i));
        }
        return;
    }
    // Survivors are rescored with the float table.
    // A survivor's float distance is at most this far under its byte-domain estimate
    // (the same rounding allowance as in `thr_q`).
    let slack_q = slack_q(m, rescore);
    let slack = slack_q / scale;
    // A code whose byte sum exceeds `kth` by more than twice the rounding allowance is
    // farther than those k codes once rescored.
    let cut = kth.map_or(u32::MAX, |s| u32::from(s) + 2 * slack_q.ceil() as u32);
    for &i in hits.iter() {
        let i = i as usize;
        // The threshold tightens as survivors enter `top`; skip those that cannot.
        let low = bias + base + sums[i] as f32 / scale - slack;
        if u32::from(sums[i]) > cut || low > top.threshold() {
            continue;
        }
        let codes = part.codes;
        let d = bias
            + match (bits, t.extra.is_empty()) {
                (Bits::Four, true) => float4::<false>((lut, &[]), (codes, part.layout), m, i),
                (Bits::Four, false) => float4::<true>((lut, t.extra), (codes, part.layout), m, i),
                (Bits::Eight, true) => float8::<false>((lut, &[]), codes, m, i),
                (Bits::Eight, false) => float8::<true>((lut, t.extra), codes, m, i),
            };
        top.push(d, ((l as u64) << 32) | i as u64);
    }
}

/// Code `i`'s float-table sum, 4-bit codes in `layout` (see ivfpq_simd's pq4 module);
/// with `TWO`, each entry is `lut + extra` (a precomputed table and a query term), as a
/// whole summed table would hold it.
fn float4<const TWO: bool>(
    (lut, extra): (&[f32], &[f32]),
    (codes, layout): (&[u8], Pq4Layout),
    m: usize,
    i: usize,
) -> f32 {
    let at = (i / PQ4_BLOCK) * 16 * pq4_m_pad(m);
    let (t, shift) = (i % 16, if i % PQ4_BLOCK < 16 { 0 } else { 4 });
    let (lut, extra) = (lut.as_chunks::<16>().0, extra.as_chunks::<16>().0);
    sum4(m, |j| {
        // A nibble indexes a 16-entry row: no bounds check.
        let c = usize::from((codes[at + layout.offset(j, t)] >> shift) & 15);
        if TWO {
            lut[j][c] + extra[j][c]
        } else {
            lut[j][c]
        }
    })
}

/// Code `i`'s float-table sum, 8-bit codes (blocks of 32, sub-quantizer-major); `TWO` as
/// in [`float4`].
fn float8<const TWO: bool>(
    (lut, extra): (&[f32], &[f32]),
    codes: &[u8],
    m: usize,
    i: usize,
) -> f32 {
    let at = (i / PQ8_BLOCK) * PQ8_BLOCK * m + i % PQ8_BLOCK;
    let (lut, extra) = (lut.as_chunks::<256>().0, extra.as_chunks::<256>().0);
    sum4(m, |j| {
        let c = usize::from(codes[at + j * PQ8_BLOCK]);
        if TWO {
            lut[j][c] + extra[j][c]
        } else {
            lut[j][c]
        }
    })
}

/// `Σ_{j<m} entry(j)` in four partial sums (entry `j` into sum `j % 4`), added as
/// `(s0 + s1) + (s2 + s3)`: one dependent add chain would cost `m × 4` cycles a hit. The
/// sums are named locals: an array indexed by `j % 4` was kept on the stack, which put a
/// store and a reload (about 5 cycles) on every entry's chain (synth960, nprobe 1:
/// rescoring was 13 % of a query).
#[inline(always)]
fn sum4(m: usize, entry: impl Fn(usize) -> f32) -> f32 {
    let (mut s0, mut s1, mut s2, mut s3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let mut j = 0;
    while j + 4 <= m {
        s0 += entry(j);
        s1 += entry(j + 1);
        s2 += entry(j + 2);
        s3 += entry(j + 3);
        j += 4;
    }
    if j < m {
        s0 += entry(j);
    }
    if j + 1 < m {
        s1 += entry(j + 1);
    }
    if j + 2 < m {
        s2 += entry(j + 2);
    }
    (s0 + s1) + (s2 + s3)
}
