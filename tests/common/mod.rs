//! Helpers shared by the integration tests.

use ivfpq::core::{IvfPqIndex, QueryBatch, SearchParams};
use ivfpq::io::Dataset;

/// Recall@10 against the exact ground truth, and exact distances per query.
pub fn recall_and_exact(index: &IvfPqIndex, ds: &Dataset, p: &SearchParams) -> (f64, f64) {
    let batch = QueryBatch::new(index.model(), &ds.queries, p).unwrap();
    let res = batch.search(index, index);
    let found: Vec<Vec<u64>> = res
        .iter()
        .map(|r| r.iter().map(|n| n.id).collect())
        .collect();
    (
        ds.recall_at(&found, 10),
        batch.exact_distances() as f64 / res.len() as f64,
    )
}
