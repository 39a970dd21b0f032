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

use ivfpq_simd::TopK;

use super::{Candidate, QueryBatch, Scratch};
use crate::blocks;
use crate::byte_scan::{Bits, QueryBytes};
use crate::lists::{ListRef, Lists};
use crate::pq::KSUB;

/// Queries scanned together: enough that a list is usually probed by several of them,
/// few enough that their tables (`m × 16` floats each) stay in L2.
const GROUP: usize = 32;

/// Code bytes of the next list prefetched while the current one is scanned.
const PREFETCH_CODES: usize = 4096;

impl QueryBatch<'_> {
    /// Queries per group for a batch of `nq`: smaller groups when the batch is small, so
    /// every thread still gets work.
    pub(super) fn group_size(&self, nq: usize) -> usize {
        GROUP
            .min(nq.div_ceil(4 * rayon::current_num_threads()))
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
        let mut visits: Vec<Visit> = Vec::new();
        for qi in 0..qs.len() {
            let row = &coarse[qi * nlist..(qi + 1) * nlist];
            for (rank, (l, c)) in self.nearest(row).into_iter().enumerate() {
                visits.push((l, rank as u32, qi as u32, c));
            }
        }
        s.group_coarse = coarse;
        visits.sort_unstable_by_key(|v| (v.0, v.2));
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

    /// The 4-bit group scan, list by list.
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
        for (r, &(_, l, a, b)) in runs.iter().enumerate() {
            let Some(part) = next_list(lists, &runs, r) else {
                continue;
            };
            for &(_, _, qi, coarse) in &visits[a..b] {
                let qi = qi as usize;
                let qterm = &qterms[qi * w..(qi + 1) * w];
                let (src, bias) = self.table_source(
                    (qs[qi], qterm),
                    &query_bytes[qi],
                    (l, coarse),
                    &mut s.lut,
                    &mut s.bounds,
                );
                self.scan_bytes_list(
                    (src, Bits::Four),
                    bias,
                    (l, part),
                    &mut s.fast,
                    &mut tops[qi],
                );
            }
        }
        s.group_qterms = qterms;
        tops.into_iter()
            .map(|t| self.to_candidates(lists, t))
            .collect()
    }
}

/// One probe of a group: `(list, rank, query, coarse distance)`.
pub(super) type Visit = (u32, u32, u32, f32);

/// Visits to one list: `(best rank, list, first visit, end)`.
pub(super) type Run = (u32, u32, usize, usize);

/// List `runs[r]`, if it is available and not empty; starts the next run's list on its way
/// (a list starts cold: the hardware prefetcher only follows once it streams).
pub(super) fn next_list<'l>(lists: &'l dyn Lists, runs: &[Run], r: usize) -> Option<ListRef<'l>> {
    if let Some(next) = runs.get(r + 1).and_then(|n| lists.list(n.1 as usize)) {
        ivfpq_simd::prefetch(&next.codes[..next.codes.len().min(PREFETCH_CODES)]);
    }
    lists.list(runs[r].1 as usize).filter(|p| !p.ids.is_empty())
}
