//! The search that an in-memory index, a shard file and a collection share.

use crate::{IvfPqIndex, Metric, Neighbor, SearchParams};

/// Answers batches of k-nearest-neighbor queries with one set of [`SearchParams`].
///
/// [`IvfPqIndex`], `ivfpq_io::Shard` and `ivfpq_shard::Collection` implement it, so code
/// that serves or evaluates any of them (a search endpoint, a recall check, a benchmark
/// loop) is written once. Each type's own `search` or `query` method returns more: a
/// shard's read statistics and string ids, a collection's shard and partition of each hit.
///
/// ```
/// use ivfpq_core::{IndexParams, IvfPqIndex, Metric, SearchParams, Searcher};
///
/// fn top1<S: Searcher>(s: &S, query: &[f32]) -> Result<Option<u64>, S::Error> {
///     let hits = s.nearest(query, &SearchParams::new(1, 4))?;
///     Ok(hits[0].first().map(|n| n.id))
/// }
///
/// let (n, dim) = (1000, 8);
/// let data: Vec<f32> = (0..n * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
/// let ids: Vec<u64> = (0..n as u64).collect();
/// let params = IndexParams::default().with_metric(Metric::L2).with_nlist(8).with_m(4);
/// let index = IvfPqIndex::build(&data, &ids, dim, &params)?;
/// assert_eq!(Searcher::dim(&index), dim);
/// assert!(top1(&index, &data[..dim])?.is_some());
/// # Ok::<(), ivfpq_core::IvfPqError>(())
/// ```
pub trait Searcher {
    /// Why a search failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The dimension of each query.
    fn dim(&self) -> usize;

    /// The metric of the returned distances.
    fn metric(&self) -> Metric;

    /// The `params.k` nearest neighbors of each query (`nq × dim` values, row-major), each
    /// query's sorted by distance, then id. Fewer than `k` when fewer rows are reachable.
    fn nearest(
        &self,
        queries: &[f32],
        params: &SearchParams,
    ) -> Result<Vec<Vec<Neighbor>>, Self::Error>;
}

impl Searcher for IvfPqIndex {
    type Error = crate::IvfPqError;

    fn dim(&self) -> usize {
        IvfPqIndex::dim(self)
    }

    fn metric(&self) -> Metric {
        IvfPqIndex::metric(self)
    }

    fn nearest(
        &self,
        queries: &[f32],
        params: &SearchParams,
    ) -> Result<Vec<Vec<Neighbor>>, Self::Error> {
        self.search(queries, params)
    }
}
