//! Search: probe selection, lookup tables, code scan, top-k, exact refine.
//!
//! Per query: (1) distances to every coarse centroid, keep the `nprobe` nearest (fewer
//! with adaptive probing, `SearchParams::probe_ratio`), nearest
//! first so the top-k threshold tightens early; (2) one query-only table (`−2⟨q_j, r⟩` for
//! the L2 family, `−⟨q_j, r⟩` for dot); (3) per probe, the probe's table (precomputed term
//! plus the query term, or the query term alone when shared: dot, and cosine with
//! `SearchParams::shared_table`; see `tables`) and a blocked 8-bit scan with a bias; the
//! vectorised threshold test passes only candidates that can enter the top-k; (4) with
//! `refine_factor > 1`, the best `k · refine_factor` are rescored exactly from the stored
//! vectors. Queries run on rayon in groups (4-bit groups scanned list by list: see
//! `group`); a single query with many probes splits its probes across threads instead.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use ivfpq_simd::{Kernels, TopK, total_order_bits};
use rayon::prelude::*;

use crate::byte_scan::ByteScratch;
use crate::error::{IvfPqError, Result, invalid};
use crate::index::IvfPqIndex;
use crate::lists::{Lists, ProbeLists, Rows};
use crate::model::IvfPqModel;
use crate::params::{SearchParams, VectorStorage};
use crate::validate;

mod group;
mod rabitq;
mod rerank;
mod tables;

pub use rerank::Hit;
use rerank::neighbors;

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The caller's id.
    pub id: u64,
    /// Distance under the index metric (exact after refine, a PQ estimate otherwise).
    pub distance: f32,
}

/// A candidate from the code scan: where it is stored, its id, and its PQ distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Partition.
    pub list: u32,
    /// Offset inside the partition.
    pub offset: u32,
    /// The caller's id.
    pub id: u64,
    /// Internal estimate (L2², or `−dot`): smaller is nearer.
    pub distance: f32,
    /// A lower bound of the exact internal distance (RaBitQ's error bound, which holds
    /// with high probability); `−inf` when the codes give none (PQ).
    pub bound: f32,
}

impl Candidate {
    /// The candidate a scan key (`list << 32 | offset`) names, or `None` when the key is
    /// outside `lists` (which a well-formed scan never produces).
    pub(crate) fn from_key(lists: &dyn Lists, key: u64, distance: f32, bound: f32) -> Option<Self> {
        let (list, offset) = ((key >> 32) as u32, key as u32);
        let id = *lists.list(list as usize)?.ids.get(offset as usize)?;
        Some(Candidate {
            list,
            offset,
            id,
            distance,
            bound,
        })
    }
}

/// Per-thread buffers, reused across queries.
struct Scratch {
    qterm: Vec<f32>,
    lut: Vec<f32>,
    coarse: Vec<f32>,
    dists: Vec<f32>,
    hits: Vec<u32>,
    row: Vec<f32>,
    suffix: Vec<f32>,
    fast: ByteScratch,
    /// Row minima then maxima of a probe's byte table (see `QueryBatch::table_source`).
    bounds: Vec<f32>,
    /// Query-only table terms of a group of queries (see `group`).
    group_qterms: Vec<f32>,
    /// Coarse distances of a group of queries, `group × nlist`.
    group_coarse: Vec<f32>,
    /// Buffers of the visits to one list scanned together (see `group`).
    slots: Vec<group::Slot>,
}

impl Scratch {
    fn new(model: &IvfPqModel) -> Scratch {
        let w = model.query_term_len();
        // RaBitQ: a table of 16 entries for each 4 of the `dim_pad` rotated coordinates.
        let lut = model.pq().map_or(4 * w, |pq| pq.m() * pq.ksub());
        Scratch {
            qterm: vec![0.0; w],
            lut: vec![0.0; lut],
            coarse: vec![0.0; model.nlist()],
            dists: Vec::new(),
            hits: Vec::new(),
            row: vec![0.0; model.dim()],
            suffix: Vec::new(),
            fast: ByteScratch::default(),
            bounds: Vec::new(),
            group_qterms: Vec::new(),
            group_coarse: Vec::new(),
            slots: Vec::new(),
        }
    }
}

/// Probes fewer than this are not split across threads for a single query.
const PARALLEL_PROBES_MIN: usize = 16;

/// Queries checked and prepared for one model: the unit of search.
///
/// In-memory search is [`QueryBatch::search`]. A reader that must fetch data first splits
/// it: [`probes`](QueryBatch::probes) says which partitions to load,
/// [`scan`](QueryBatch::scan) ranks their codes, and [`rerank`](QueryBatch::rerank) reads
/// only the candidates' rows.
pub struct QueryBatch<'a> {
    kern: &'static Kernels,
    model: &'a IvfPqModel,
    params: &'a SearchParams,
    /// `nq × dim`, unit rows for cosine.
    q: Cow<'a, [f32]>,
    /// Exact distances computed by refine so far, over all queries.
    exact_distances: AtomicU64,
    /// Partitions probed so far, over all queries.
    probed: AtomicU64,
}

impl<'a> QueryBatch<'a> {
    /// Checks `params` and `queries` (`nq × dim`, row-major, finite) against `model`.
    pub fn new(
        model: &'a IvfPqModel,
        queries: &'a [f32],
        params: &'a SearchParams,
    ) -> Result<QueryBatch<'a>> {
        let kern = Kernels::try_active()?;
        params.check()?;
        if params.probe_ratio.is_some() && !model.metric().is_l2_family() {
            // A ratio of distances needs distances ≥ 0; dot's coarse distance is −⟨q, c⟩.
            let metric = model.metric();
            return Err(invalid(
                "probe_ratio",
                format!("needs the l2 or cosine metric, not {metric}"),
            ));
        }
        validate::rows("queries", queries, model.dim())?;
        let q = validate::for_metric(kern, model.metric(), queries, model.dim());
        Ok(QueryBatch {
            kern,
            model,
            params,
            q,
            exact_distances: AtomicU64::new(0),
            probed: AtomicU64::new(0),
        })
    }

    /// Partitions probed so far for this batch (all queries): with adaptive probing
    /// ([`SearchParams::probe_ratio`]), fewer than `nprobe` a query.
    pub fn probed(&self) -> u64 {
        self.probed.load(Ordering::Relaxed)
    }

    /// Exact distances refine has computed so far for this batch (all queries): with
    /// adaptive refine, fewer than `k · refine_factor` a query.
    pub fn exact_distances(&self) -> u64 {
        self.exact_distances.load(Ordering::Relaxed)
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.q.len() / self.model.dim()
    }

    /// Whether there are no queries (never true for a checked batch).
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Whether the search reranks with stored vectors (`refine_factor > 1`).
    pub fn refines(&self) -> bool {
        self.params.refine_factor > 1
    }

    fn queries(&self) -> std::slice::ChunksExact<'_, f32> {
        self.q.chunks_exact(self.model.dim())
    }

    /// The partitions each query probes, nearest first.
    pub fn probes(&self) -> Vec<Vec<u32>> {
        let mut s = Scratch::new(self.model);
        self.queries()
            .map(|q| self.probe(q, &mut s).into_iter().map(|(l, _)| l).collect())
            .collect()
    }

    /// Scans the probed partitions of every query: the best `k · refine_factor` (or `k`)
    /// candidates of each, nearest first.
    pub fn scan(&self, lists: &dyn Lists) -> Vec<Vec<Candidate>> {
        if self.split_probes() {
            return vec![self.scan_one_parallel(&self.q, lists)];
        }
        let q: Vec<&[f32]> = self.queries().collect();
        q.par_chunks(self.group_size(q.len()))
            .map_init(
                || Scratch::new(self.model),
                |s, qs| self.scan_group(qs, lists, s),
            )
            .flat_map_iter(|c| c)
            .collect()
    }

    /// One query with many probes on a multi-threaded pool: split its probes instead
    /// (PQ; a RaBitQ scan keeps one candidate set a query).
    fn split_probes(&self) -> bool {
        let nprobe = self.params.nprobe.min(self.model.nlist());
        self.len() == 1
            && nprobe >= PARALLEL_PROBES_MIN
            && rayon::current_num_threads() > 1
            && self.model.pq().is_some()
    }

    /// Reranks each query's candidates with exact distances from `rows` and returns the
    /// best `k`, sorted by distance then id. Without refine the candidates' PQ distances
    /// are kept.
    pub fn rerank(&self, rows: &dyn Rows, candidates: &[Vec<Candidate>]) -> Vec<Vec<Hit>> {
        let q: Vec<&[f32]> = self.queries().collect();
        q.par_iter()
            .zip(candidates)
            .map_init(
                || vec![0.0f32; self.model.dim()],
                |row, (qv, c)| self.rerank_one(rows, qv, c, row),
            )
            .collect()
    }

    /// The metric's exact distance of every candidate, in order (`None` where `rows`
    /// has no row): what a map step over one shard of many returns, so that the reduce
    /// can rerank the best candidates of all shards exactly as one search over all of
    /// them would.
    pub fn exact_all(
        &self,
        rows: &dyn Rows,
        candidates: &[Vec<Candidate>],
    ) -> Vec<Vec<Option<f32>>> {
        let metric = self.model.metric();
        let l2 = metric.is_l2_family();
        let q: Vec<&[f32]> = self.queries().collect();
        let out: Vec<Vec<Option<f32>>> = q
            .par_iter()
            .zip(candidates)
            .map_init(
                || vec![0.0f32; self.model.dim()],
                |row, (qv, cands)| {
                    cands
                        .iter()
                        .map(|c| {
                            rows.row(c.list as usize, c.offset as usize, row).map(|x| {
                                metric.from_internal(internal_distance(self.kern, l2, qv, x))
                            })
                        })
                        .collect()
                },
            )
            .collect();
        let n: usize = out.iter().map(Vec::len).sum();
        self.exact_distances.fetch_add(n as u64, Ordering::Relaxed);
        out
    }

    /// The metric's distance for an internal one (a candidate's estimate).
    pub fn metric_distance(&self, internal: f32) -> f32 {
        self.model.metric().from_internal(internal)
    }

    /// Scan and rerank in one pass over data that is all at hand. Queries run in
    /// parallel; a single query with many probes splits its probes across threads.
    pub fn search(&self, lists: &dyn Lists, rows: &dyn Rows) -> Vec<Vec<Neighbor>> {
        if self.split_probes() {
            let c = self.scan_one_parallel(&self.q, lists);
            let mut row = vec![0.0f32; self.model.dim()];
            return vec![neighbors(self.rerank_one(rows, &self.q, &c, &mut row))];
        }
        let q: Vec<&[f32]> = self.queries().collect();
        q.par_chunks(self.group_size(q.len()))
            .map_init(
                || Scratch::new(self.model),
                |s, qs| {
                    let c = self.scan_group(qs, lists, s);
                    let rerank = |(qv, c): (&&[f32], Vec<Candidate>)| {
                        neighbors(self.rerank_one(rows, qv, &c, &mut s.row))
                    };
                    qs.iter().zip(c).map(rerank).collect::<Vec<_>>()
                },
            )
            .flat_map_iter(|n| n)
            .collect()
    }

    fn scan_one_parallel(&self, q: &[f32], lists: &dyn Lists) -> Vec<Candidate> {
        let mut s = Scratch::new(self.model);
        let probes = self.probe(q, &mut s);
        self.count_probed(probes.len());
        let chunk = probes
            .len()
            .div_ceil(2 * rayon::current_num_threads())
            .max(1);
        let top = probes
            .par_chunks(chunk)
            .map_init(
                || {
                    // Each thread needs the query-only table term that `probe` computed.
                    let mut sc = Scratch::new(self.model);
                    sc.qterm.copy_from_slice(&s.qterm);
                    sc
                },
                |sc, part| {
                    let mut t = TopK::new(self.candidates());
                    let qterm = std::mem::take(&mut sc.qterm);
                    self.scan_probes((q, &qterm), lists, part, sc, &mut t);
                    sc.qterm = qterm;
                    t
                },
            )
            .reduce(
                || TopK::new(self.candidates()),
                |mut a, b| {
                    a.merge(b);
                    a
                },
            );
        self.to_candidates(lists, top)
    }

    /// Candidates kept from the scan: `k`, or `k · refine_factor` to rerank.
    /// Whether every probe of a query shares its table (`IvfPqModel::shared_table`).
    fn shared_table(&self) -> bool {
        self.model.shared_table(self.params.shared_table)
    }

    fn candidates(&self) -> usize {
        let p = self.params;
        if p.refine_factor > 1 {
            p.k.saturating_mul(p.refine_factor)
        } else {
            p.k
        }
    }

    /// The partitions to probe ([`QueryBatch::nearest`]) with their coarse distances,
    /// nearest first; also fills the query-only table term in `s.qterm`.
    fn probe(&self, q: &[f32], s: &mut Scratch) -> Vec<(u32, f32)> {
        self.coarse(q, self.model.centroids(), &mut s.coarse);
        self.model.query_term(self.kern, q, &mut s.qterm);
        self.nearest(&s.coarse)
    }

    /// Coarse distances (L2², or `−dot`) of `q` to the centroid rows `c`, into `out`.
    fn coarse(&self, q: &[f32], c: &[f32], out: &mut [f32]) {
        if self.model.metric().is_l2_family() {
            self.kern.l2sq_many(q, c, out);
        } else {
            self.kern.dot_many(q, c, out);
            out.iter_mut().for_each(|d| *d = -*d);
        }
    }

    /// [`QueryBatch::coarse`] of two queries, bit for bit (`Kernels::l2sq_many2`).
    fn coarse2(&self, q: [&[f32]; 2], c: &[f32], out: [&mut [f32]; 2]) {
        if self.model.metric().is_l2_family() {
            self.kern.l2sq_many2(q, c, out);
        } else {
            let [a, b] = out;
            self.kern.dot_many2(q, c, [&mut *a, &mut *b]);
            a.iter_mut().chain(b.iter_mut()).for_each(|d| *d = -*d);
        }
    }

    /// The `nprobe` partitions of least `coarse` distance, nearest first; with
    /// `probe_ratio`, only those within the ratio of the nearest (at least a quarter of
    /// `nprobe`: a query on a centroid, at distance 0, probes just that quarter).
    fn nearest(&self, coarse: &[f32]) -> Vec<(u32, f32)> {
        let nlist = self.model.nlist();
        let nprobe = self.params.nprobe.min(nlist);
        // One integer per partition that orders as (distance by `total_cmp`, index): the
        // selection and sort then compare `u64`s.
        let bits = |d: &f32| total_order_bits(*d);
        let key = |i: usize| (u64::from(bits(&coarse[i])) << 32) | i as u64;
        let mut order = Vec::new();
        match crate::select::kth_bound_by(coarse, nprobe, bits) {
            // At least `nprobe` distances are at or under the bound (`crate::select`), so
            // only their keys are made and selected from.
            Some(bound) if nprobe < nlist => {
                let under = |i: usize| bits(&coarse[i]);
                crate::select::push_where(coarse.len(), bound, under, key, &mut order);
                order.select_nth_unstable(nprobe - 1);
                order.truncate(nprobe);
            }
            _ => order.extend((0..coarse.len()).map(key)),
        }
        order.sort_unstable();
        let mut probes: Vec<(u32, f32)> = order
            .into_iter()
            .map(|key| (key as u32, coarse[key as u32 as usize]))
            .collect();
        if let (Some(ratio), Some(&(_, nearest))) = (self.params.probe_ratio, probes.first()) {
            let limit = nearest.max(0.0) * ratio;
            let far = probes
                .iter()
                .skip(nprobe.div_ceil(4))
                .position(|p| p.1 > limit);
            if let Some(far) = far {
                probes.truncate(nprobe.div_ceil(4) + far);
            }
        }
        probes
    }

    /// Counts `n` partitions probed by a scan ([`QueryBatch::probed`]; planning with
    /// [`QueryBatch::probes`] does not count).
    fn count_probed(&self, n: usize) {
        self.probed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Scans the probed partitions (every segment's list of each) into `top`, keyed by
    /// `(list << 32) | offset`; `qterm` is `q`'s query-only table term.
    fn scan_probes(
        &self,
        (q, qterm): (&[f32], &[f32]),
        lists: &dyn Lists,
        probes: &[(u32, f32)],
        s: &mut Scratch,
        top: &mut TopK,
    ) {
        let (kern, model) = (self.kern, self.model);
        let Some(pq) = model.pq() else {
            return;
        };
        let (m, ksub) = (pq.m(), pq.ksub());
        // With a shared table (dot, cosine) its suffix minima are computed once per
        // query, not once per probe.
        let shared_lut = self.shared_table();
        let mut suffix_ready = false;
        let query_bytes = self.query_bytes(qterm);
        let bits = self.byte_bits();
        let nlist = model.nlist();
        let mut probe_lists = ProbeLists::new(lists, nlist).whole_to_l2();
        for (i, &(l, coarse)) in probes.iter().enumerate() {
            // The next probe's codes (`ProbeLists`) and precomputed table go into L2 while
            // this one is scanned: both are streams that would otherwise start cold (at
            // m = 25 and 631 lists the tables alone are 16 MB, far beyond the caches).
            // glove50, 1 thread, refine 4, three alternating rounds: nprobe 8 15.6k →
            // 16.0k QPS, nprobe 32 6.3k → 6.7k (asking for the first 4 KB only was no
            // better).
            let next = probes.get(i + 1).map(|p| p.0);
            if let Some(t) = next.and_then(|n| model.precomputed(n as usize)) {
                ivfpq_simd::prefetch_l2(t);
            }
            // The partition's lists (one per segment) share the probe's table.
            let parts = probe_lists.advance(l, next);
            if parts.is_empty() {
                continue;
            }
            if let Some(bits) = bits {
                let (src, bias) = self.table_source(
                    (q, qterm),
                    &query_bytes,
                    (l, coarse),
                    &mut s.lut,
                    &mut s.bounds,
                );
                self.scan_bytes_lists((src, bits), bias, parts.iter().copied(), &mut s.fast, top);
                continue;
            }
            let (lut, bias) = self.probe_table(q, qterm, (l, coarse), &mut s.lut);
            for &(id, part) in parts {
                s.dists.resize(part.ids.len(), 0.0);
                let threshold = top.threshold();
                let bound = if threshold.is_finite() && m >= 4 {
                    if !(shared_lut && suffix_ready) {
                        // suffix[j] = Σ_{j' ≥ j} min of table row j': the least the rest
                        // can add.
                        s.suffix.clear();
                        s.suffix.resize(m + 1, 0.0);
                        kern.row_mins(lut, ksub, &mut s.suffix[..m]);
                        for j in (0..m).rev() {
                            s.suffix[j] += s.suffix[j + 1];
                        }
                        suffix_ready = true;
                    }
                    if bias + s.suffix[0] > threshold {
                        // No code of this partition can reach the top-k (the threshold
                        // only falls): skip its lists whole.
                        break;
                    }
                    Some((&s.suffix[..], threshold))
                } else {
                    None
                };
                kern.pq8_scan_bounded(lut, part.codes, m, bias, bound, &mut s.dists);
                s.hits.clear();
                kern.select_below(&s.dists, top.threshold(), &mut s.hits);
                for &h in &s.hits {
                    let id_ = part.ids[h as usize];
                    if self.params.filter.as_ref().is_some_and(|f| !f.accepts(id_)) {
                        continue;
                    }
                    top.push(s.dists[h as usize], ((id as u64) << 32) | h as u64);
                }
                top.tighten();
            }
        }
    }

    fn to_candidates(&self, lists: &dyn Lists, top: TopK) -> Vec<Candidate> {
        let best = top.into_sorted();
        // The ids lie at random in up to `nprobe` lists: ask for all of them before
        // reading any, so that their cache misses overlap.
        for &(_, key) in &best {
            let (l, off) = ((key >> 32) as usize, key as u32 as usize);
            if let Some(id) = lists.list(l).and_then(|p| p.ids.get(off..off + 1)) {
                ivfpq_simd::prefetch(id);
            }
        }
        best.into_iter()
            .filter_map(|(distance, key)| {
                Candidate::from_key(lists, key, distance, f32::NEG_INFINITY)
            })
            .collect()
    }
}

/// Internal distance (L2², or `−dot`) between a query and a stored row.
fn internal_distance(kern: &Kernels, l2: bool, q: &[f32], x: &[f32]) -> f32 {
    if l2 { kern.l2sq(q, x) } else { -kern.dot(q, x) }
}

impl IvfPqIndex {
    /// Searches a batch of queries (`nq × dim`, row-major); returns each query's results,
    /// sorted by distance then id.
    ///
    /// `nprobe` above `nlist` is clamped to `nlist`. Queries run in parallel on the
    /// current rayon pool.
    pub fn search(&self, queries: &[f32], params: &SearchParams) -> Result<Vec<Vec<Neighbor>>> {
        if params.refine_factor > 1 && self.storage == VectorStorage::None {
            return Err(invalid(
                "refine_factor",
                "this index stores no full vectors; use refine_factor 1",
            ));
        }
        let batch = QueryBatch::new(&self.model, queries, params)?;
        Ok(batch.search(self, self))
    }

    /// Exact brute-force search over every stored vector (ground truth for tests and
    /// `--exact` runs). Needs stored vectors.
    pub fn search_exact(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Neighbor>>> {
        let kern = Kernels::try_active()?;
        SearchParams::new(k, 1).check()?;
        let dim = self.dim();
        validate::rows("queries", queries, dim)?;
        if self.storage == VectorStorage::None {
            return Err(IvfPqError::InvalidParameter {
                param: "storage",
                message: "no stored vectors to search exactly".into(),
            });
        }
        let metric = self.metric();
        let q = validate::for_metric(kern, metric, queries, dim);
        Ok(q.par_chunks(dim)
            .map_init(
                || vec![0.0f32; dim],
                |row, qv| {
                    let mut top = TopK::new(k);
                    for (l, part) in self.partitions.iter().enumerate() {
                        for (off, &id) in part.ids.iter().enumerate() {
                            if let Some(x) = self.row(l, off, row) {
                                let d = internal_distance(kern, metric.is_l2_family(), qv, x);
                                top.push(d, id);
                            }
                        }
                    }
                    top.into_sorted()
                        .into_iter()
                        .map(|(d, id)| Neighbor {
                            id,
                            distance: metric.from_internal(d),
                        })
                        .collect()
                },
            )
            .collect())
    }
}
