//! Exact rerank of the scan's candidates, and the result type that keeps each winner's
//! location (readers fetch its vector or string id from there).

use std::sync::atomic::Ordering;

use ivfpq_simd::TopK;

use super::{Candidate, Neighbor, QueryBatch, internal_distance};
use crate::lists::Rows;

/// Refine rows requested from memory ahead of the one being scored (32 left more
/// prefetches waiting on full miss buffers; 16 was 3–5 % faster on glove50, refine 16).
const PREFETCH_AHEAD: usize = 16;

impl QueryBatch<'_> {
    /// Exact distances when refining, then the metric's distance, sorted by distance
    /// then id.
    pub(super) fn rerank_one(
        &self,
        rows: &dyn Rows,
        q: &[f32],
        cands: &[Candidate],
        scratch: &mut [f32],
    ) -> Vec<Hit> {
        let metric = self.model.metric();
        let mut out: Vec<Hit> = if self.refines() {
            // Keyed by candidate index, so the winners keep their location.
            let mut exact = TopK::new(self.params.k);
            // Rows are cache misses at random: keep PREFETCH_AHEAD of them in flight.
            let ahead = |i: usize| {
                if let Some(c) = cands.get(i) {
                    rows.prefetch(c.list as usize, c.offset as usize);
                }
            };
            (0..PREFETCH_AHEAD).for_each(ahead);
            let auto = self.params.auto_refine;
            // RaBitQ candidates carry their own lower bounds, in increasing order.
            let bounded = self.model.rabitq().is_some();
            let mut err = ErrorMargin::default();
            let mut computed = 0u64;
            for (i, c) in cands.iter().enumerate() {
                // Candidates come in increasing lower bound (PQ: estimate less the
                // margin), so the first that cannot enter ends it.
                let low = if bounded {
                    c.bound
                } else if auto {
                    c.distance - err.margin()
                } else {
                    f32::NEG_INFINITY
                };
                if low > exact.threshold() {
                    break;
                }
                ahead(i + PREFETCH_AHEAD);
                if let Some(x) = rows.row(c.list as usize, c.offset as usize, scratch) {
                    let d = internal_distance(self.kern, metric.is_l2_family(), q, x);
                    if auto {
                        err.observe(c.distance - d);
                    }
                    exact.push(d, i as u64);
                    if auto || bounded {
                        // The stopping test reads the threshold: keep it current.
                        exact.tighten();
                    }
                    computed += 1;
                }
            }
            self.exact_distances.fetch_add(computed, Ordering::Relaxed);
            exact
                .into_sorted()
                .into_iter()
                .map(|(d, i)| {
                    let c = &cands[i as usize];
                    Hit::new(c, metric.from_internal(d), metric.from_internal(c.distance))
                })
                .collect()
        } else {
            cands
                .iter()
                .map(|c| {
                    let d = metric.from_internal(c.distance);
                    Hit::new(c, d, d)
                })
                .collect()
        };
        out.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
        out
    }
}

/// How far a PQ distance may lie above the exact one, learned from the candidates of
/// the query already reranked: a true neighbour further down the PQ order is missed only
/// if its own error exceeds the margin. The margin is the errors' mean plus
/// [`MARGIN_SIGMAS`] standard deviations (the error of a PQ estimate is a sum of `m`
/// independent sub-space errors, so close to normal), and never less than the largest
/// error seen.
#[derive(Default)]
struct ErrorMargin {
    n: f32,
    mean: f32,
    m2: f32,
    max: f32,
}

/// Standard deviations of PQ error the adaptive rerank allows for.
const MARGIN_SIGMAS: f32 = 3.0;

impl ErrorMargin {
    /// Welford's update with one more `estimate − exact`.
    fn observe(&mut self, e: f32) {
        self.n += 1.0;
        let d = e - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (e - self.mean);
        self.max = self.max.max(e);
    }

    fn margin(&self) -> f32 {
        let sd = (self.m2 / self.n.max(1.0)).sqrt();
        (self.mean + MARGIN_SIGMAS * sd).max(self.max)
    }
}

/// A final result with where it is stored, for readers that fetch more about it (its
/// vector, its string id).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The caller's id.
    pub id: u64,
    /// Distance under the index metric (exact after refine, a PQ estimate otherwise).
    pub distance: f32,
    /// Partition.
    pub list: u32,
    /// Offset inside the partition.
    pub offset: u32,
    /// The distance its codes estimated (the metric's; equal to `distance` without
    /// refine), so that results of several shards can be merged as one search's.
    pub estimate: f32,
}

impl Hit {
    fn new(c: &Candidate, distance: f32, estimate: f32) -> Hit {
        Hit {
            id: c.id,
            distance,
            list: c.list,
            offset: c.offset,
            estimate,
        }
    }

    /// The `(id, distance)` pair.
    pub fn neighbor(&self) -> Neighbor {
        Neighbor {
            id: self.id,
            distance: self.distance,
        }
    }
}

pub(super) fn neighbors(hits: Vec<Hit>) -> Vec<Neighbor> {
    hits.iter().map(Hit::neighbor).collect()
}
