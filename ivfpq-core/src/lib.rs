//! ivfpq-core: k-means, product quantization, the in-memory IVF-PQ index, and search.
//!
//! Build an index with [`IvfPqIndex::build`] (or train an [`IvfPqModel`] once and add
//! batches with [`IvfPqIndex::add`]), then [`IvfPqIndex::search`] with [`SearchParams`].
//! Every entry point validates its input and returns an [`IvfPqError`] naming the bad
//! parameter; nothing here panics on user input.

mod blocks;
mod buckets;
mod byte_scan;
mod elkan;
mod error;
mod index;
pub mod kmeans;
mod lists;
mod metric;
mod model;
mod opq;
mod params;
mod partition;
mod pq;
mod rabitq;
mod search;
mod select;
mod validate;

pub use error::{IvfPqError, Result};
pub use index::{IvfPqIndex, vectors_from_batch};
pub use lists::{ListRef, Lists, Rows, VectorsRef, row_as_f32};
pub use metric::Metric;
pub use model::{IvfPqModel, PRECOMPUTED_TABLE_BUDGET, Quantizer};
pub use opq::Rotation;
pub use params::{CodeKind, IdFilter, IndexParams, MAX_K, SearchParams, VectorStorage};
pub use partition::{Partition, Vectors};
pub use pq::{KSUB, KSUB4, ProductQuantizer};
pub use rabitq::{EPSILON0, Rabitq};
pub use search::{Candidate, Hit, Neighbor, QueryBatch};
