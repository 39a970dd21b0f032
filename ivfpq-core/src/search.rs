//! Search: probe selection, lookup tables, code scan, top-k, exact refine.
//!
//! Per query: (1) distances to every coarse centroid, keep the `nprobe` nearest, nearest
//! first so the top-k threshold tightens early; (2) one query-only table (`−2⟨q_j, r⟩` for
//! the L2 family, `−⟨q_j, r⟩` for dot); (3) per probe, the probe's table (precomputed term
//! plus the query term) and a blocked 8-bit scan with the coarse distance as bias; the
//! vectorised threshold test passes only candidates that can enter the top-k; (4) with
//! `refine_factor > 1`, the best `k · refine_factor` are rescored exactly from the stored
//! vectors. Batches run across queries on rayon; a single query with many probes splits
//! its probes across threads instead.

use half::f16;
use ivfpq_simd::{Kernels, TopK};
use rayon::prelude::*;

use crate::error::{IvfPqError, Result, invalid};
use crate::index::IvfPqIndex;
use crate::params::{SearchParams, VectorStorage};
use crate::partition::Vectors;
use crate::pq::KSUB;
use crate::validate;

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The caller's id.
    pub id: u64,
    /// Distance under the index metric (exact after refine, a PQ estimate otherwise).
    pub distance: f32,
}

/// Per-thread buffers, reused across queries.
struct Scratch {
    qterm: Vec<f32>,
    lut: Vec<f32>,
    coarse: Vec<f32>,
    dists: Vec<f32>,
    hits: Vec<u32>,
    residual: Vec<f32>,
    row: Vec<f32>,
    suffix: Vec<f32>,
}

impl Scratch {
    fn new(index: &IvfPqIndex) -> Scratch {
        let w = index.model.pq().m() * KSUB;
        Scratch {
            qterm: vec![0.0; w],
            lut: vec![0.0; w],
            coarse: vec![0.0; index.model.nlist()],
            dists: Vec::new(),
            hits: Vec::new(),
            residual: vec![0.0; index.dim()],
            row: vec![0.0; index.dim()],
            suffix: Vec::new(),
        }
    }
}

/// Probes fewer than this are not split across threads for a single query.
const PARALLEL_PROBES_MIN: usize = 16;

impl IvfPqIndex {
    /// Searches a batch of queries (`nq × dim`, row-major); returns each query's results,
    /// sorted by distance then id.
    ///
    /// `nprobe` above `nlist` is clamped to `nlist`. Queries run in parallel on the
    /// current rayon pool.
    pub fn search(&self, queries: &[f32], params: &SearchParams) -> Result<Vec<Vec<Neighbor>>> {
        let kern = Kernels::try_active()?;
        params.check()?;
        let dim = self.dim();
        validate::rows("queries", queries, dim)?;
        if params.refine_factor > 1 && self.storage == VectorStorage::None {
            return Err(invalid(
                "refine_factor",
                "this index stores no full vectors; use refine_factor 1",
            ));
        }
        let q = validate::for_metric(kern, self.metric(), queries, dim);
        let nq = q.len() / dim;
        if nq == 1
            && params.nprobe.min(self.model.nlist()) >= PARALLEL_PROBES_MIN
            && rayon::current_num_threads() > 1
        {
            return Ok(vec![self.search_one_parallel(kern, &q, params)]);
        }
        Ok(q.par_chunks(dim)
            .map_init(
                || Scratch::new(self),
                |s, qv| self.search_one(kern, qv, params, s),
            )
            .collect())
    }

    fn search_one(
        &self,
        kern: &Kernels,
        q: &[f32],
        p: &SearchParams,
        s: &mut Scratch,
    ) -> Vec<Neighbor> {
        let probes = self.probes(kern, q, p.nprobe, s);
        let mut top = TopK::new(self.candidates(p));
        self.scan(kern, q, &probes, p, s, &mut top);
        self.finish(kern, q, p, top, s)
    }

    fn search_one_parallel(&self, kern: &Kernels, q: &[f32], p: &SearchParams) -> Vec<Neighbor> {
        let mut s = Scratch::new(self);
        let probes = self.probes(kern, q, p.nprobe, &mut s);
        let chunk = probes
            .len()
            .div_ceil(2 * rayon::current_num_threads())
            .max(1);
        let top = probes
            .par_chunks(chunk)
            .map_init(
                || {
                    // Each thread needs the query-only table term that `probes` computed.
                    let mut sc = Scratch::new(self);
                    sc.qterm.copy_from_slice(&s.qterm);
                    sc
                },
                |sc, part| {
                    let mut t = TopK::new(self.candidates(p));
                    self.scan(kern, q, part, p, sc, &mut t);
                    t
                },
            )
            .reduce(
                || TopK::new(self.candidates(p)),
                |mut a, b| {
                    a.merge(b);
                    a
                },
            );
        self.finish(kern, q, p, top, &mut s)
    }

    /// Candidates kept from the scan: `k`, or `k · refine_factor` to rerank.
    fn candidates(&self, p: &SearchParams) -> usize {
        if p.refine_factor > 1 {
            p.k.saturating_mul(p.refine_factor)
        } else {
            p.k
        }
    }

    /// The `nprobe` nearest partitions with their coarse distances, nearest first; also
    /// fills the query-only table term in `s.qterm`.
    fn probes(&self, kern: &Kernels, q: &[f32], nprobe: usize, s: &mut Scratch) -> Vec<(u32, f32)> {
        let model = &self.model;
        let nlist = model.nlist();
        let nprobe = nprobe.min(nlist);
        if model.metric().is_l2_family() {
            kern.l2sq_many(q, model.centroids(), &mut s.coarse);
        } else {
            kern.dot_many(q, model.centroids(), &mut s.coarse);
            s.coarse.iter_mut().for_each(|d| *d = -*d);
        }
        let mut order: Vec<(u32, f32)> = s
            .coarse
            .iter()
            .enumerate()
            .map(|(i, &d)| (i as u32, d))
            .collect();
        let by = |a: &(u32, f32), b: &(u32, f32)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
        if nprobe < nlist {
            order.select_nth_unstable_by(nprobe - 1, by);
            order.truncate(nprobe);
        }
        order.sort_unstable_by(by);
        // Query-only term: −2⟨q_j, r_jc⟩ (L2 family) or −⟨q_j, r_jc⟩ (dot).
        kern.pq_lut_dot(q, model.pq().codebooks_t(), KSUB, &mut s.qterm);
        let scale = if model.metric().is_l2_family() {
            -2.0
        } else {
            -1.0
        };
        s.qterm.iter_mut().for_each(|x| *x *= scale);
        order
    }

    /// Scans the probed partitions into `top`. Keys are ids when there is no refine, else
    /// `(partition << 32) | offset` so that refine can find the stored vector.
    fn scan(
        &self,
        kern: &Kernels,
        q: &[f32],
        probes: &[(u32, f32)],
        p: &SearchParams,
        s: &mut Scratch,
        top: &mut TopK,
    ) {
        let model = &self.model;
        let m = model.pq().m();
        let refine = p.refine_factor > 1;
        // For dot every probe shares the query-only table, so its suffix minima are
        // computed once per query, not once per probe.
        let shared_lut = !model.metric().is_l2_family();
        let mut suffix_ready = false;
        for &(l, coarse) in probes {
            let part = &self.partitions[l as usize];
            if part.is_empty() {
                continue;
            }
            // The probe's table and its constant term. With a precomputed table the coarse
            // distance is the constant; from the residual table it is inside the lookups.
            let (lut, bias): (&[f32], f32) = if shared_lut {
                (&s.qterm, coarse)
            } else if let Some(t) = model.precomputed(l as usize) {
                kern.add(t, &s.qterm, &mut s.lut);
                (&s.lut, coarse)
            } else {
                for ((r, a), c) in s.residual.iter_mut().zip(q).zip(model.centroid(l as usize)) {
                    *r = a - c;
                }
                kern.pq_lut_l2(&s.residual, model.pq().codebooks_t(), KSUB, &mut s.lut);
                (&s.lut, 0.0)
            };
            s.dists.resize(part.len(), 0.0);
            let threshold = top.threshold();
            let bound = if threshold.is_finite() && m >= 4 {
                if !(shared_lut && suffix_ready) {
                    // suffix[j] = Σ_{j' ≥ j} min of table row j': the least the rest can add.
                    s.suffix.clear();
                    s.suffix.resize(m + 1, 0.0);
                    kern.row_mins(lut, KSUB, &mut s.suffix[..m]);
                    for j in (0..m).rev() {
                        s.suffix[j] += s.suffix[j + 1];
                    }
                    suffix_ready = true;
                }
                if bias + s.suffix[0] > threshold {
                    // No code of this partition can reach the top-k: skip it whole.
                    continue;
                }
                Some((&s.suffix[..], threshold))
            } else {
                None
            };
            kern.pq8_scan_bounded(lut, &part.codes, m, bias, bound, &mut s.dists);
            s.hits.clear();
            kern.select_below(&s.dists, top.threshold(), &mut s.hits);
            for &h in &s.hits {
                let id = part.ids[h as usize];
                if p.filter.as_ref().is_some_and(|f| !f.accepts(id)) {
                    continue;
                }
                let key = if refine {
                    ((l as u64) << 32) | h as u64
                } else {
                    id
                };
                top.push(s.dists[h as usize], key);
            }
            top.compact();
        }
    }

    /// Reranks exactly when asked, converts distances to the metric, sorts.
    fn finish(
        &self,
        kern: &Kernels,
        q: &[f32],
        p: &SearchParams,
        top: TopK,
        s: &mut Scratch,
    ) -> Vec<Neighbor> {
        let metric = self.metric();
        let pairs = if p.refine_factor > 1 {
            let mut exact = TopK::new(p.k);
            for (_, key) in top.into_sorted() {
                let (l, off) = ((key >> 32) as usize, (key & 0xffff_ffff) as usize);
                let part = &self.partitions[l];
                let d = self.exact_distance(kern, q, &part.vectors, off, &mut s.row);
                exact.push(d, part.ids[off]);
            }
            exact.into_sorted()
        } else {
            top.into_sorted()
        };
        pairs
            .into_iter()
            .map(|(d, id)| Neighbor {
                id,
                distance: metric.from_internal(d),
            })
            .collect()
    }

    /// Internal distance (L2², or `−dot`) from `q` to stored vector `off`.
    fn exact_distance(
        &self,
        kern: &Kernels,
        q: &[f32],
        v: &Vectors,
        off: usize,
        row: &mut [f32],
    ) -> f32 {
        let dim = q.len();
        let x: &[f32] = match v {
            Vectors::F32(v) => &v[off * dim..(off + 1) * dim],
            Vectors::F16(v) => {
                for (o, h) in row.iter_mut().zip(&v[off * dim..(off + 1) * dim]) {
                    *o = f16::to_f32(*h);
                }
                row
            }
            Vectors::None => return f32::INFINITY,
        };
        if self.metric().is_l2_family() {
            kern.l2sq(q, x)
        } else {
            -kern.dot(q, x)
        }
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
        let q = validate::for_metric(kern, self.metric(), queries, dim);
        Ok(q.par_chunks(dim)
            .map_init(
                || vec![0.0f32; dim],
                |row, qv| {
                    let mut top = TopK::new(k);
                    for part in &self.partitions {
                        for (off, &id) in part.ids.iter().enumerate() {
                            top.push(self.exact_distance(kern, qv, &part.vectors, off, row), id);
                        }
                    }
                    let metric = self.metric();
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
