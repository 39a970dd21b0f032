//! ivfpq-core: k-means, product quantization, the in-memory IVF-PQ index, and search.
//!
//! Build an index with [`IvfPqIndex::build`] (or train an [`IvfPqModel`] once and add
//! batches with [`IvfPqIndex::add`]), then [`IvfPqIndex::search`] with [`SearchParams`].
//! [`Searcher`] is the search it shares with a shard file and a collection.
//! Every entry point validates its input and returns an [`IvfPqError`] naming the bad
//! parameter; nothing here panics on user input.
//!
//! Vectors are one flat, row-major `&[f32]`: row `i` is `data[i * dim..(i + 1) * dim]`.
//!
//! ```
//! use ivfpq_core::{IndexParams, IvfPqIndex, Metric, SearchParams};
//!
//! // 2,000 pseudo-random 16-d vectors in [0, 1) from a small LCG.
//! let (n, dim) = (2000, 16);
//! let mut state = 42u64;
//! let data: Vec<f32> = (0..n * dim)
//!     .map(|_| {
//!         state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!         (state >> 40) as f32 / (1u64 << 24) as f32
//!     })
//!     .collect();
//! let ids: Vec<u64> = (0..n as u64).collect();
//! let params = IndexParams::default()
//!     .with_metric(Metric::L2)
//!     .with_nlist(32)
//!     .with_m(4);
//! let index = IvfPqIndex::build(&data, &ids, dim, &params)?;
//!
//! // Row 7 as the query: its 5 nearest, probing 8 of the 32 lists, reranking 4 × 5 exactly.
//! let hits = index.search(&data[7 * dim..8 * dim], &SearchParams::new(5, 8).with_refine(4))?;
//! assert_eq!((hits[0][0].id, hits[0][0].distance), (7, 0.0)); // a stored vector finds itself
//! # Ok::<(), ivfpq_core::IvfPqError>(())
//! ```

mod assign;
mod blocks;
mod buckets;
mod byte_scan;
mod elkan;
mod error;
mod flat;
mod index;
pub mod interrupt;
// k-means is an implementation detail, public for its property tests only.
#[doc(hidden)]
pub mod kmeans;
mod lists;
mod metric;
mod model;
mod opq;
mod params;
mod partition;
mod pq;
mod rabitq;
mod recenter;
mod search;
mod searcher;
mod select;
mod validate;

pub use error::{IvfPqError, Result};
pub use flat::flat_search;
pub use index::IvfPqIndex;
pub use lists::{ListRef, Lists, Rows, VectorsRef, row_as_f32};
pub use metric::Metric;
pub use model::{IvfPqModel, PRECOMPUTED_TABLE_BUDGET, Quantizer};
pub use opq::Rotation;
pub use params::{
    CodeKind, IdFilter, IdSet, IndexParams, MAX_K, SearchOptions, SearchParams, VectorStorage,
};
pub use partition::{Partition, Vectors};
pub use pq::{KSUB, KSUB4, ProductQuantizer};
pub use rabitq::{EPSILON0, Rabitq};
pub use search::{Candidate, Hit, Neighbor, QueryBatch};
pub use searcher::Searcher;
