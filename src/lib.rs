//! ivfpq: an IVF-PQ vector index engine.
//!
//! This facade re-exports the layers:
//! - [`simd`]: distance and PQ kernels with run-time CPU dispatch;
//! - [`core`]: k-means, product quantization, the in-memory index and search
//!   ([`IvfPqIndex`], [`IvfPqModel`], [`IndexParams`], [`SearchParams`]);
//! - [`io`]: shard files searched in place from local disk or object storage
//!   ([`io::write_shard`], [`io::Shard`]), benchmark vector files and dataset folders;
//! - [`shard`]: collections of shards with versioned manifests ([`shard::Collection`]);
//! - [`datasets`]: synthetic data with exact ground truth, for tests and `ivfpq bench`.
//!
//! ```
//! use ivfpq::core::{IndexParams, IvfPqIndex, Metric, SearchParams};
//! use ivfpq::datasets::{SynthSpec, synthetic};
//!
//! let ds = synthetic(&SynthSpec { n: 4000, queries: 10, dim: 32, ..Default::default() });
//! let ids: Vec<u64> = (0..4000).collect();
//! let params = IndexParams::default()
//!     .with_metric(Metric::L2)
//!     .with_nlist(32)
//!     .with_m(8);
//! let index = IvfPqIndex::build(&ds.base, &ids, ds.dim, &params).unwrap();
//! let hits = index.search(&ds.queries, &SearchParams::new(10, 8).with_refine(4)).unwrap();
//! assert_eq!(hits.len(), 10);
//! ```
//!
//! Complete programs are in the repository's `examples/`: `build_and_search` (an index and
//! its shard file), `collection` and `s3_shard` (run with `cargo run --release --example
//! NAME`).

pub mod datasets;

pub use ivfpq_core as core;
pub use ivfpq_io as io;
pub use ivfpq_shard as shard;
pub use ivfpq_simd as simd;

pub use ivfpq_core::{
    IndexParams, IvfPqError, IvfPqIndex, IvfPqModel, Metric, Neighbor, SearchParams,
};

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
