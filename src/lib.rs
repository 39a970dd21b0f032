//! ivfpq: an IVF-PQ vector index engine.
//!
//! This facade re-exports the layers:
//! - [`simd`]: distance and PQ kernels with run-time CPU dispatch;
//! - [`core`]: k-means, product quantization, the in-memory index and search
//!   ([`IvfPqIndex`], [`IvfPqModel`], [`IndexParams`], [`SearchParams`]);
//! - [`io`]: shard files searched in place from local disk or object storage
//!   ([`io::write_shard`], [`io::Shard`]), benchmark vector files and dataset folders;
//! - [`shard`]: collections of shards with versioned manifests ([`shard::Collection`]), and
//!   builds beyond memory ([`shard::ingest`]: plan, train, build a bucket, merge shards).
//!
//! The three searchables, [`IvfPqIndex`], [`io::Shard`] and [`shard::Collection`], share
//! one search: the [`Searcher`] trait, with the same [`SearchParams`]. Their own `search`
//! methods return more (a shard's read statistics, a collection's shard of each hit).
//!
//! ```
//! use ivfpq::core::{IndexParams, IvfPqIndex, Metric, SearchParams};
//!
//! // Any f32 rows will do: here 4,000 pseudo-random rows of 32, row-major.
//! let (n, dim) = (4000, 32);
//! let mut x = 1u64;
//! let base: Vec<f32> = (0..n * dim)
//!     .map(|_| {
//!         x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!         (x >> 40) as f32 / (1u64 << 24) as f32
//!     })
//!     .collect();
//! let ids: Vec<u64> = (0..n as u64).collect();
//! let params = IndexParams::default()
//!     .with_metric(Metric::L2)
//!     .with_nlist(32)
//!     .with_m(8);
//! let index = IvfPqIndex::build(&base, &ids, dim, &params).unwrap();
//! let queries = &base[..10 * dim];
//! let hits = index.search(queries, &SearchParams::new(10, 8).with_refine(4)).unwrap();
//! // Each query is a stored row: refine finds it first, at distance 0.
//! assert!(hits.iter().enumerate().all(|(q, h)| h[0].id == q as u64));
//! ```
//!
//! Complete programs are in the repository's `examples/`: `build_and_search` (an index and
//! its shard file), `collection` and `s3_shard` (run with `cargo run --release --example
//! NAME`).

// Synthetic data with exact neighbours, for the command, the tests and the examples: a
// benchmark helper, not part of the library's API.
#[doc(hidden)]
pub mod datasets;

pub use ivfpq_core as core;
pub use ivfpq_io as io;
pub use ivfpq_shard as shard;
pub use ivfpq_simd as simd;

pub use ivfpq_core::{
    IndexParams, IvfPqError, IvfPqIndex, IvfPqModel, Metric, Neighbor, SearchOptions, SearchParams,
    Searcher,
};

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
