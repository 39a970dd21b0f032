//! ivfpq-shard: collections of shard files.
//!
//! A collection is a local folder or an object-store prefix holding one trained model
//! (content-addressed), immutable shard files encoded with it, and versioned manifests
//! that name them. Writers commit a new version with a conditional create, so of two
//! writers racing for a version exactly one wins; readers pin a version and keep working
//! while newer ones are committed. Search maps over the shards and merges their top `k`,
//! in one process ([`Collection::search`]) or as separate steps that any batch engine can
//! run ([`Collection::search_shard`], [`write_results`], [`read_results`], [`merge`]).
//!
//! ```
//! use ivfpq_core::{IndexParams, IvfPqIndex, IvfPqModel, SearchParams};
//! use ivfpq_shard::{Collection, CollectionOptions, SearchOptions};
//! # let dir = std::env::temp_dir().join(format!("ivfpq-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let dim = 8;
//! // Row-major vectors, n × dim.
//! let data: Vec<f32> = (0..4000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
//! let params = IndexParams::default().with_nlist(16).with_m(4);
//! let model = IvfPqModel::train(&data, dim, &params).unwrap();
//! let coll = Collection::create(dir.to_str().unwrap(), &model, CollectionOptions::default()).unwrap();
//! // Two shards, each encoded with the collection's model.
//! for half in 0..2 {
//!     let rows = half * 2000..(half + 1) * 2000;
//!     let mut shard = IvfPqIndex::new(coll.model().unwrap(), params.storage);
//!     let ids: Vec<u64> = rows.clone().map(|i| i as u64).collect();
//!     shard.add(&data[rows.start * dim..rows.end * dim], &ids).unwrap();
//!     coll.add_index(&shard).unwrap();
//! }
//! let opts = SearchOptions::new(SearchParams::new(5, 4).with_refine(4));
//! let res = coll.search(&data[..dim], &opts).unwrap();
//! assert_eq!(res.hits[0][0].id, 0); // a stored vector finds itself
//! assert_eq!(coll.version(), 3); // create, then two adds
//! # let _ = std::fs::remove_dir_all(&dir);
//! ```

mod collection;
mod commit;
mod error;
pub mod ingest;
pub mod manifest;
mod merged;
mod result_file;
mod results;
mod search;
mod segments;
mod store;

pub use collection::{Collection, CollectionOptions, VersionInfo};
pub use error::{Result, ShardError};
/// How to search: shared with `ivfpq_io::Shard::query`.
pub use ivfpq_core::SearchOptions;
pub use manifest::{Manifest, ModelRef, ShardEntry};
pub use result_file::{read_results, write_csv, write_results};
pub use results::{ResultHit, SearchResults, SearchStats, merge, merge_named};
pub use store::Store;

/// A collection can be shared by a service's threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Collection>();
};
