//! ivfpq: an IVF-PQ vector index engine.
//!
//! This facade re-exports the layers (see `design.md`):
//! - [`simd`]: distance and PQ kernels with run-time CPU dispatch;
//! - [`core`]: k-means, product quantization, the in-memory index and search;
//! - [`io`]: files (benchmark vectors, dataset folders; shard files to come);
//! - [`shard`]: collections of shards;
//! - [`datasets`]: synthetic data with exact ground truth, for tests and `ivfpq bench`.
//!
//! ```
//! use ivfpq::core::{IndexParams, IvfPqIndex, Metric, SearchParams};
//! use ivfpq::datasets::{SynthSpec, synthetic};
//!
//! let ds = synthetic(&SynthSpec { n: 4000, queries: 10, dim: 32, ..Default::default() });
//! let ids: Vec<u64> = (0..4000).collect();
//! let params = IndexParams { metric: Metric::L2, nlist: Some(32), m: Some(8), ..Default::default() };
//! let index = IvfPqIndex::build(&ds.base, &ids, ds.dim, &params).unwrap();
//! let hits = index.search(&ds.queries, &SearchParams::new(10, 8).with_refine(4)).unwrap();
//! assert_eq!(hits.len(), 10);
//! ```

pub mod datasets;

pub use ivfpq_core as core;
pub use ivfpq_io as io;
pub use ivfpq_shard as shard;
pub use ivfpq_simd as simd;

pub use ivfpq_core::{
    IndexParams, IvfPqError, IvfPqIndex, IvfPqModel, Metric, Neighbor, SearchParams,
};
