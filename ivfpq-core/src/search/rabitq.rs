//! The RaBitQ scan: 1-bit estimates from the fast-scan kernel prune, `B`-bit estimates
//! with their error bounds decide, and candidates leave ordered by lower bound, so the
//! rerank can stop at the first one that cannot enter the top `k`.
//!
//! Per probe, the rotated query residual `y' = P·q − P·c` gives a float table of 16
//! entries for each 4 rotated coordinates (the sum of `y'` over the set bits of a
//! nibble). Quantized to bytes, it feeds the same kernel as 4-bit PQ over the sign bits;
//! in floats, it scores the `B` bit planes of the vectors that survive. A vector's
//! estimate `d̂` comes with a radius `ρ` (the RaBitQ bound), and the scan keeps the `k`
//! smallest upper bounds `d̂ + ρ`: a vector whose lower bound `d̂ − ρ` is over the k-th
//! of those cannot be a neighbour (with high probability), so it is not kept, and one
//! whose 1-bit lower bound is over it is never scored with `B` bits.

use ivfpq_simd::{Kernels, PQ4_BLOCK, TopK};

use super::{Candidate, QueryBatch, Scratch};
use crate::byte_scan::{Bits, ByteTable, ProbeBytes};
use crate::lists::ProbeLists;
use crate::lists::{ListRef, Lists};
use crate::rabitq::{BLOCK_FACTORS, Rabitq, build_table};

/// A kept vector: lower bound, estimate, `(list << 32) | offset`.
type Found = (f32, f32, u64);

/// What one probe's scan needs to know about the query.
struct Probe<'a> {
    /// The float table (`dim_pad / 4 × 16`) and its bytes.
    table: ProbeBytes<'a>,
    /// `Σ y'_i`: turns sums over set bits into `⟨v, y'⟩`.
    sum_y: f32,
    /// `ε₀·‖y'‖`: the error bound of a vector is its factor `e` times this.
    norm_y: f32,
    /// The probe's constant: `‖q − c‖²` (L2), `−⟨q, c⟩` (dot), `‖q − c‖² + 1 − ‖c‖²` (cosine).
    bias: f32,
    /// 2 for the L2 family (`d = ‖r‖² + ‖y‖² − 2⟨r, y⟩`), 1 for dot (`d = −⟨q,c⟩ − ⟨r, q⟩`).
    w: f32,
    /// 1 when the estimate adds `‖r‖²` (L2), 0 with a shared table (dot; cosine, whose
    /// bias holds the rest of `‖x‖² = 1`).
    add_norm: f32,
}

/// One query's scan state across the lists of its group.
struct QueryScan<'q> {
    /// The query (unit for cosine), for probes without a precomputed table.
    query: &'q [f32],
    /// The table of `P·q` (`4·dim_pad`), and its sum and norm.
    table: Vec<f32>,
    sum_q: f32,
    norm_q: f32,
    /// The bytes of `table`, when every probe shares it (dot; cosine with
    /// `SearchParams::shared_table`): made at the first probe.
    shared: Option<ByteTable>,
    /// The `k` smallest upper bounds seen.
    upper: TopK,
    found: Vec<Found>,
}

impl QueryBatch<'_> {
    /// Scans the probed lists of every query in `qs` (RaBitQ codes), list by list like
    /// the 4-bit PQ group scan: a list's codes are read from memory once per group.
    pub(super) fn scan_group_rabitq(
        &self,
        qs: &[&[f32]],
        lists: &dyn Lists,
        s: &mut Scratch,
    ) -> Vec<Vec<Candidate>> {
        let Some(rq) = self.model.rabitq() else {
            return vec![Vec::new(); qs.len()];
        };
        let (visits, runs) = self.plan_by_list(qs, s);
        let dp = rq.dim_pad();
        let mut scans: Vec<QueryScan> = s
            .group_qterms
            .chunks_exact(dp)
            .zip(qs)
            .map(|(qrot, query)| {
                let mut table = vec![0.0f32; 4 * dp];
                let sum_q = build_table(qrot, &mut table);
                QueryScan {
                    query,
                    table,
                    sum_q,
                    norm_q: self.kern.norm_sq(qrot).sqrt(),
                    shared: None,
                    upper: TopK::new(self.params.k),
                    found: Vec::new(),
                }
            })
            .collect();
        let mut probe_lists = ProbeLists::new(lists, self.model.nlist());
        for (r, &(_, l, a, b)) in runs.iter().enumerate() {
            let parts = probe_lists.advance(l, runs.get(r + 1).map(|n| n.1));
            if parts.is_empty() {
                continue;
            }
            for &(_, _, qi, coarse) in &visits[a..b] {
                self.probe_rabitq(rq, &mut scans[qi as usize], (l, coarse), parts, s);
            }
        }
        scans
            .into_iter()
            .map(|q| self.finish_rabitq(lists, q))
            .collect()
    }

    /// Scans partition `l` (coarse distance `coarse`) for one query: its table once,
    /// then each of its lists (`parts`, one per segment).
    fn probe_rabitq(
        &self,
        rq: &Rabitq,
        q: &mut QueryScan<'_>,
        (l, coarse): (u32, f32),
        parts: &[(u32, ListRef<'_>)],
        s: &mut Scratch,
    ) {
        let (l2, shared) = (self.model.metric().is_l2_family(), self.shared_table());
        let w = 4 * rq.dim_pad();
        // A probe's table is the query's plus the centroid's precomputed negation (L2),
        // or the query's alone (dot and cosine: y' = P·q for every probe).
        let (table, sum_y, norm_y) = if !shared {
            let sum_y = match self.model.precomputed(l as usize) {
                Some(neg) => {
                    self.kern.add(&q.table, &neg[..w], &mut s.lut[..w]);
                    q.sum_q + neg[w]
                }
                // Over the table budget: rotate this probe's residual instead.
                None => {
                    // Probes are partitions of this model, so `l` is in range.
                    let Some(c) = self.model.centroid(l as usize) else {
                        return;
                    };
                    let r: Vec<f32> = q.query.iter().zip(c).map(|(a, b)| a - b).collect();
                    let mut y = vec![0.0f32; rq.dim_pad()];
                    rq.rotate(self.kern, &r, &mut y);
                    build_table(&y, &mut s.lut[..w])
                }
            };
            s.fast
                .bytes
                .quantize(self.kern, &s.lut, (rq.groups(), Bits::Four));
            // ‖P·(q − c)‖ = ‖q − c‖: the coarse distance is its square.
            let norm = coarse.max(0.0).sqrt();
            (s.fast.bytes.table(&s.lut), sum_y, norm)
        } else {
            let bytes = q.shared.get_or_insert_with(|| {
                let mut b = ByteTable::default();
                b.quantize(self.kern, &q.table, (rq.groups(), Bits::Four));
                b
            });
            (bytes.table(&q.table), q.sum_q, q.norm_q)
        };
        let probe = Probe {
            table,
            sum_y,
            norm_y: self.params.rabitq_epsilon * norm_y,
            bias: if shared {
                self.model.probe_bias(l as usize, coarse)
            } else {
                coarse
            },
            w: if l2 { 2.0 } else { 1.0 },
            add_norm: if shared { 0.0 } else { 1.0 },
        };
        for &list in parts {
            let (sums, hits) = (&mut s.fast.sums, &mut s.fast.hits);
            self.scan_list_rabitq(rq, &probe, list, (sums, hits), &mut q.upper, &mut q.found);
            if q.found.len() > 2 * self.candidates() + 1024 {
                let t = q.upper.threshold();
                q.found.retain(|f| f.0 <= t);
            }
        }
    }

    /// One query's candidates: those whose lower bound is under the k-th upper bound,
    /// by lower bound when reranking (the rerank stops at the first that cannot enter),
    /// else the `k` best estimates.
    fn finish_rabitq(&self, lists: &dyn Lists, q: QueryScan<'_>) -> Vec<Candidate> {
        let QueryScan {
            mut upper,
            mut found,
            ..
        } = q;
        upper.compact();
        let t = upper.threshold();
        found.retain(|f| f.0 <= t);
        let (key, keep): (fn(&Found) -> f32, usize) = if self.refines() {
            (|f| f.0, self.candidates())
        } else {
            (|f| f.1, self.params.k)
        };
        found.sort_unstable_by(|a, b| key(a).total_cmp(&key(b)).then(a.2.cmp(&b.2)));
        found.truncate(keep);
        found
            .into_iter()
            .filter_map(|(bound, distance, key)| Candidate::from_key(lists, key, distance, bound))
            .collect()
    }

    /// Scans one list: 1-bit bounds for every vector, `B`-bit estimates for those that
    /// may still be neighbours.
    fn scan_list_rabitq(
        &self,
        rq: &Rabitq,
        p: &Probe<'_>,
        (l, part): (u32, ListRef<'_>),
        (sums, hits): (&mut Vec<u16>, &mut Vec<u32>),
        upper: &mut TopK,
        found: &mut Vec<Found>,
    ) {
        let n = part.ids.len();
        let kern: &Kernels = self.kern;
        if part.codes.len() < rq.codes_len(n)
            || part.aux.len() < rq.aux_len(n)
            || part.records.len() < rq.records_len(n)
        {
            return;
        }
        // Threshold 0: the kernel's sums are what is wanted here, not its hit list.
        let codes = (part.codes, part.layout);
        kern.pq4_scan(p.table.bytes, codes, rq.groups(), n, 0, sums, hits);
        hits.clear();
        let filter = self.params.filter.as_ref();
        let blk = rq.aux_block_len();
        // The byte table's rounding: at most ½ a row, in table units.
        let slack = (0.5 * rq.groups() as f32 + 1.0) / p.table.scale;
        let half = ((1u32 << rq.bits()) - 1) as f32 / 2.0;
        let add_scale = p.add_norm;
        let inv_scale = 1.0 / p.table.scale;
        let rlen = rq.record_len();
        let mut copy = [0.0f32; BLOCK_FACTORS * PQ4_BLOCK];
        let mut low = [0.0f32; PQ4_BLOCK];
        for (b, rec) in part
            .aux
            .chunks_exact(blk)
            .take(n.div_ceil(PQ4_BLOCK))
            .enumerate()
        {
            // Records are 4-aligned in memory, in a mapped file and in fetched blocks;
            // the copy is only a fallback.
            let fac: &[f32] = match bytemuck::try_cast_slice(rec) {
                Ok(f) => f,
                Err(_) => {
                    for (f, c) in copy.iter_mut().zip(rec.chunks_exact(4)) {
                        *f = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                    &copy
                }
            };
            let (norm2, rest) = fac.split_at(PQ4_BLOCK);
            let (f1, rest) = rest.split_at(PQ4_BLOCK);
            let e1 = rest;
            let block_sums = &sums[b * PQ4_BLOCK..(b + 1) * PQ4_BLOCK];
            // 1-bit lower bounds of the whole block, branch-free (it vectorizes).
            for t in 0..PQ4_BLOCK {
                let s1 = p.table.base + f32::from(block_sums[t]) * inv_scale;
                let est1 = p.bias + add_scale * norm2[t] - p.w * f1[t] * (s1 - 0.5 * p.sum_y);
                low[t] = est1 - p.w * (e1[t] * p.norm_y + f1[t] * slack);
            }
            let live = PQ4_BLOCK.min(n - b * PQ4_BLOCK);
            for t in 0..live {
                let i = b * PQ4_BLOCK + t;
                if low[t] > upper.threshold() || filter.is_some_and(|f| !f.accepts(part.ids[i])) {
                    continue;
                }
                let r = &part.records[i * rlen..(i + 1) * rlen];
                let fb = f32::from_le_bytes([r[0], r[1], r[2], r[3]]);
                let eb = f32::from_le_bytes([r[4], r[5], r[6], r[7]]);
                let sb = plane_sum(p.table.lut, &r[8..], rq.plane_bytes());
                let est = p.bias + add_scale * norm2[t] - p.w * fb * (sb - half * p.sum_y);
                let radius = p.w * eb * p.norm_y;
                let key = (u64::from(l) << 32) | i as u64;
                upper.push(est + radius, key);
                if est - radius <= upper.threshold() {
                    found.push((est - radius, est, key));
                }
            }
            upper.tighten();
        }
    }
}

/// `Σ_k 2^k Σ_{i ∈ plane k} y_i` over a vector's bit planes, from the float table.
fn plane_sum(lut: &[f32], planes: &[u8], plane_bytes: usize) -> f32 {
    let mut total = 0.0f32;
    for (k, plane) in planes.chunks_exact(plane_bytes).enumerate() {
        // Two partial sums: one add chain would serialise every lookup.
        let (mut a, mut b) = (0.0f32, 0.0f32);
        for (pair, &byte) in lut.chunks_exact(32).zip(plane) {
            a += pair[(byte & 15) as usize];
            b += pair[16 + (byte >> 4) as usize];
        }
        total += (a + b) * (1u32 << k) as f32;
    }
    total
}
