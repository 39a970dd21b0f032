//! Batches in groups of queries: 4-bit codes scanned list by list (FAISS's "implem 12"),
//! and coarse distances for the whole group.
//!
//! Scanning query by query reads every probed list once per query that probes it. A list
//! of 4-bit codes is small (600 codes of 26 bytes on glove50: 16 KB) and the scan is
//! fast, so bringing the codes in from memory is a large part of it. Here a group of
//! queries is probed first; then each list that any of them probes is scanned for all
//! of those queries back to back, so its codes are read from memory once per group and
//! served from cache for the rest. The group's coarse distances are blocked the same way
//! (`group_coarse`): at large `dim` the centroids outweigh the lists a query reads.
//!
//! Lists are taken in the order of their nearest use (the best rank any query of the group
//! gives them), so each query meets its nearest lists early and its top-k threshold
//! tightens early. Pruning only drops codes that cannot enter a query's top-k, so the
//! order changes the work, never the results: they equal the one-query-at-a-time scan's.

use ivfpq_simd::{Pq4Query, TopK};

use super::{Candidate, QueryBatch, Scratch};
use crate::blocks;
use crate::byte_scan::{self, Bits, ByteScratch, QueryBytes};
use crate::lists::{ListRef, Lists, ProbeLists};
use crate::pq::KSUB;

/// Queries in a group: enough that a list is usually probed by several of them, few
/// enough that their query terms stay in L2 (8-bit: `m × 256` floats each).
const GROUP: usize = 32;

/// 4-bit groups are larger, so that the kernel more often gets four queries for a list
/// and each list is read once for more of them (glove50, nprobe 40, refine 3, one
/// thread, shared table: groups of 500 gave 7–9 % more QPS than 128, and 128 gave 3–8 %
/// more than 32 at nprobe 64): as many as keep what each visit reads of its query within
/// [`GROUP_TERMS_BYTES`].
const GROUP_4BIT: usize = 512;

/// The L2 budget of a 4-bit group's per-query state: what a visit reads of its query
/// (the byte table when it is shared, else the float query term each probe's table is
/// made from) and its top-k buffer.
const GROUP_TERMS_BYTES: usize = 512 << 10;

impl QueryBatch<'_> {
    /// Queries per group for a batch of `nq`: smaller groups when the batch is small, so
    /// every thread still gets work.
    pub(super) fn group_size(&self, nq: usize) -> usize {
        let cap = if self.byte_bits() == Some(Bits::Four) {
            let term = self.model.query_term_len().max(1);
            // A shared table's bytes are one byte an entry; a residual term is f32.
            let term = if self.shared_table() { term } else { 4 * term };
            // Saturating: `refine_factor` has no upper bound.
            let top = self
                .candidates()
                .saturating_mul(std::mem::size_of::<(f32, u64)>());
            (GROUP_TERMS_BYTES / term.saturating_add(top)).clamp(GROUP, GROUP_4BIT)
        } else {
            GROUP
        };
        // At least two groups a thread, so that no thread waits long for the last one.
        cap.min(nq.div_ceil(2 * rayon::current_num_threads()))
            .max(1)
    }

    /// Coarse distances of every query in `qs` (`qs.len() × nlist`), a block of
    /// centroids at a time (`crate::blocks`): one query at a time would stream all
    /// centroids from memory per query (1.7 MB for 447 × 960). Each distance is computed
    /// exactly as `probe` computes it, so the probes are the same.
    pub(super) fn group_coarse(&self, qs: &[&[f32]], s: &mut Scratch) -> Vec<f32> {
        let (nlist, dim) = (self.model.nlist(), self.model.dim());
        let mut coarse = std::mem::take(&mut s.group_coarse);
        coarse.clear();
        coarse.resize(qs.len() * nlist, 0.0);
        blocks::each_block(self.model.centroids(), dim, qs.len(), |p, block, first| {
            let cols = first..first + block.len() / dim.max(1);
            if p.len() == 2 {
                let out = blocks::two_rows(&mut coarse, nlist, p.start, cols);
                self.coarse2([qs[p.start], qs[p.start + 1]], block, out);
            } else {
                self.coarse(qs[p.start], block, &mut coarse[p.start * nlist..][cols]);
            }
        });
        coarse
    }

    /// Query-only table terms of every query in `qs`, into `s.group_qterms` (one term of
    /// `s.qterm.len()` a query), read operand by operand for the group
    /// (`IvfPqModel::query_terms`).
    fn group_qterms(&self, qs: &[&[f32]], s: &mut Scratch) {
        let w = s.qterm.len();
        s.group_qterms.clear();
        s.group_qterms.resize(qs.len() * w, 0.0);
        self.model.query_terms(self.kern, qs, &mut s.group_qterms);
    }

    /// Scans the probed lists of every query in `qs`; returns each query's candidates,
    /// nearest first. 4-bit codes are scanned list by list; 8-bit
    /// codes query by query (that scan is bound by its table lookups, not by reading
    /// codes), after the group's blocked coarse distances.
    pub(super) fn scan_group(
        &self,
        qs: &[&[f32]],
        lists: &dyn Lists,
        s: &mut Scratch,
    ) -> Vec<Vec<Candidate>> {
        match self.model.pq() {
            None => return self.scan_group_rabitq(qs, lists, s),
            Some(pq) if pq.ksub() != KSUB => return self.scan_group_by_list(qs, lists, s),
            Some(_) => {}
        }
        let coarse = self.group_coarse(qs, s);
        let (nlist, w) = (self.model.nlist(), s.qterm.len());
        self.group_qterms(qs, s);
        let qterms = std::mem::take(&mut s.group_qterms);
        let out = qs
            .iter()
            .enumerate()
            .map(|(qi, q)| {
                let probes = self.nearest(&coarse[qi * nlist..(qi + 1) * nlist]);
                self.count_probed(probes.len());
                let mut top = TopK::new(self.candidates());
                let qterm = &qterms[qi * w..(qi + 1) * w];
                self.scan_probes((q, qterm), lists, &probes, s, &mut top);
                self.to_candidates(lists, top)
            })
            .collect();
        s.group_qterms = qterms;
        s.group_coarse = coarse;
        out
    }

    /// Plans a group's scan list by list: every query's probes as visits `(list, rank,
    /// query, coarse)`, and the runs `(best rank, list, first, end)` of visits to one
    /// list, ordered by the list's best rank. Leaves each query's query-only term in
    /// `s.group_qterms`.
    pub(super) fn plan_by_list(&self, qs: &[&[f32]], s: &mut Scratch) -> (Vec<Visit>, Vec<Run>) {
        let coarse = self.group_coarse(qs, s);
        self.group_qterms(qs, s);
        let nlist = self.model.nlist();
        let probes: Vec<Vec<(u32, f32)>> = (0..qs.len())
            .map(|qi| self.nearest(&coarse[qi * nlist..(qi + 1) * nlist]))
            .collect();
        self.count_probed(probes.iter().map(Vec::len).sum());
        s.group_coarse = coarse;
        // Visits in (list, query) order by a counting sort on the list: queries are
        // placed in order, so each list's visits stay sorted by query.
        let mut start = vec![0usize; nlist + 1];
        for &(l, _) in probes.iter().flatten() {
            start[l as usize + 1] += 1;
        }
        for l in 0..nlist {
            start[l + 1] += start[l];
        }
        let mut visits: Vec<Visit> = vec![(0, 0, 0, 0.0); start[nlist]];
        for (qi, p) in probes.iter().enumerate() {
            for (rank, &(l, c)) in p.iter().enumerate() {
                let at = &mut start[l as usize];
                visits[*at] = (l, rank as u32, qi as u32, c);
                *at += 1;
            }
        }
        let mut runs: Vec<Run> = Vec::new();
        for (i, v) in visits.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if run.1 == v.0 => {
                    run.0 = run.0.min(v.1);
                    run.3 = i + 1;
                }
                _ => runs.push((v.1, v.0, i, i + 1)),
            }
        }
        runs.sort_unstable_by_key(|r| (r.0, r.1));
        (visits, runs)
    }

    /// The 4-bit group scan, list by list: the visits to a list go to the kernel
    /// [`SCAN_QUERIES`] at a time, so each block of codes is read for all of them.
    fn scan_group_by_list(
        &self,
        qs: &[&[f32]],
        lists: &dyn Lists,
        s: &mut Scratch,
    ) -> Vec<Vec<Candidate>> {
        let w = s.qterm.len();
        let (visits, runs) = self.plan_by_list(qs, s);
        let qterms = std::mem::take(&mut s.group_qterms);
        let mut tops: Vec<TopK> = qs.iter().map(|_| TopK::new(self.candidates())).collect();
        // Per query, once: a shared table's bytes, or its term's row bounds.
        let query_bytes: Vec<QueryBytes> = qterms
            .chunks_exact(w.max(1))
            .map(|t| self.query_bytes(t))
            .collect();
        let mut slots = std::mem::take(&mut s.slots);
        slots.resize_with(SCAN_QUERIES, || Slot {
            lut: vec![0.0; s.lut.len()],
            ..Slot::default()
        });
        let group = Group {
            qs,
            qterms: (&qterms, w),
            query_bytes: &query_bytes,
        };
        let mut probe_lists = ProbeLists::new(lists, self.model.nlist());
        for (r, &(_, l, a, b)) in runs.iter().enumerate() {
            let parts = probe_lists.advance(l, runs.get(r + 1).map(|n| n.1));
            if parts.is_empty() {
                continue;
            }
            for chunk in even_chunks(&visits[a..b], SCAN_QUERIES) {
                self.scan_visits(&group, l, parts, chunk, &mut slots, &mut tops);
            }
        }
        s.slots = slots;
        s.group_qterms = qterms;
        tops.into_iter()
            .map(|t| self.to_candidates(lists, t))
            .collect()
    }

    /// Scans partition `l`'s lists (`parts`, one per segment) for the visits of `chunk`
    /// (at most `slots.len()`, each a different query): each visit's byte table is made
    /// once, then each list goes to the kernel in one call for all the visits, and each
    /// query's hits go to its top-k.
    fn scan_visits(
        &self,
        g: &Group<'_>,
        l: u32,
        parts: &[(u32, ListRef<'_>)],
        chunk: &[Visit],
        slots: &mut [Slot],
        tops: &mut [TopK],
    ) {
        let m = self.model.pq().map_or(0, |pq| pq.m());
        let rescore = self.rescores(Bits::Four);
        let (qterms, w) = g.qterms;
        let filter = self.params.filter.as_ref();
        let mut tables = Vec::with_capacity(chunk.len());
        for (slot, &(_, _, qi, coarse)) in slots.iter_mut().zip(chunk) {
            let qi = qi as usize;
            let Slot { lut, bounds, fast } = slot;
            let ByteScratch {
                bytes,
                sums,
                hits,
                order,
            } = fast;
            let q = (g.qs[qi], &qterms[qi * w..(qi + 1) * w]);
            let (src, bias) = self.table_source(q, &g.query_bytes[qi], (l, coarse), lut, bounds);
            let t = self.probe_bytes((src, Bits::Four), bytes);
            tables.push((qi, t, bias, sums, hits, order));
        }
        for &(id, part) in parts {
            let n = part.ids.len();
            // A list that no code of can enter a query's top-k is skipped for it.
            let mut ready = Vec::with_capacity(tables.len());
            for (qi, t, bias, sums, hits, order) in tables.iter_mut() {
                let top = &tops[*qi];
                if let Some(thr) = byte_scan::byte_threshold(*t, *bias, m, rescore, top) {
                    let defer = byte_scan::defer_hits(thr, n, filter, top);
                    hits.clear();
                    ready.push((
                        *qi,
                        *t,
                        *bias,
                        (thr, defer),
                        &mut **sums,
                        &mut **hits,
                        &mut **order,
                    ));
                }
            }
            let mut queries: Vec<Pq4Query> = ready
                .iter_mut()
                .map(|(_, t, _, (thr, defer), sums, hits, _)| Pq4Query {
                    lut: t.bytes,
                    threshold: if *defer { 0 } else { *thr },
                    // A deferred list's hits are chosen from all its sums.
                    all_sums: *defer,
                    sums,
                    hits,
                })
                .collect();
            self.kern
                .pq4_scan_queries((part.codes, part.layout), m, n, &mut queries);
            drop(queries);
            for (qi, t, bias, (_, defer), sums, hits, order) in ready {
                if defer {
                    byte_scan::nearest_hits((sums, n), tops[qi].k(), (m, rescore), order, hits);
                }
                let buffers = (&sums[..], &mut *hits, order);
                byte_scan::offer_hits(
                    t,
                    bias,
                    (id, part),
                    (m, Bits::Four),
                    filter,
                    rescore,
                    buffers,
                    &mut tops[qi],
                );
                tops[qi].tighten();
            }
        }
    }
}

/// Visits to one list scanned in one kernel call (`Kernels::pq4_scan_queries`, which
/// reads each block of codes once for up to four queries).
const SCAN_QUERIES: usize = 4;

/// `items` in as few chunks of at most `max` as there can be, of sizes that differ by
/// at most one: 13 visits go to the kernel as 4, 3, 3, 3 rather than 4, 4, 4, 1 (one query
/// alone gets the slower one-query kernel).
fn even_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let calls = items.len().div_ceil(max.max(1));
    let (size, longer) = (items.len() / calls.max(1), items.len() % calls.max(1));
    let mut rest = items;
    (0..calls).map(move |c| {
        let (chunk, tail) = rest.split_at(size + usize::from(c < longer));
        rest = tail;
        chunk
    })
}

/// What the visits of a group share: its queries, their query-only terms (`(all, width)`),
/// and what each query's byte tables share.
struct Group<'g> {
    qs: &'g [&'g [f32]],
    qterms: (&'g [f32], usize),
    query_bytes: &'g [QueryBytes],
}

/// One visit's buffers in a multi-query scan: its float table, row bounds and byte
/// scratch (what `Scratch::lut`, `Scratch::bounds` and `Scratch::fast` are to one query).
#[derive(Default)]
pub(super) struct Slot {
    lut: Vec<f32>,
    bounds: Vec<f32>,
    fast: ByteScratch,
}

/// One probe of a group: `(list, rank, query, coarse distance)`.
pub(super) type Visit = (u32, u32, u32, f32);

/// Visits to one list: `(best rank, list, first visit, end)`.
pub(super) type Run = (u32, u32, usize, usize);

#[cfg(test)]
mod tests {
    use super::even_chunks;

    #[test]
    fn even_chunks_split_into_fewest_near_equal_parts() {
        let sizes = |n: usize, max: usize| -> Vec<usize> {
            let v: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = even_chunks(&v, max).collect();
            // In order, nothing lost.
            assert_eq!(chunks.concat(), v);
            chunks.iter().map(|c| c.len()).collect()
        };
        assert_eq!(sizes(13, 4), [4, 3, 3, 3]);
        assert_eq!(sizes(5, 4), [3, 2]);
        assert_eq!(sizes(8, 4), [4, 4]);
        assert_eq!(sizes(1, 4), [1]);
        assert_eq!(sizes(0, 4), Vec::<usize>::new());
        assert_eq!(sizes(3, 1), [1, 1, 1]);
    }
}
