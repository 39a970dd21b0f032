//! ivfpq-shard: collections of shard files.
//!
//! A collection is a local folder or an object-store prefix holding one trained model
//! (content-addressed), immutable shard files encoded with it, and versioned manifests
//! that name them. Rows change by new files: growing segments of added rows, searched
//! exactly until sealed into a shard, and deletion files that searches mask
//! ([`Collection::add`], [`Collection::delete`], [`Collection::compact`]). Writers commit
//! a new version with a conditional create, so of two writers racing for a version
//! exactly one wins and the other rebases onto it; readers pin a version and keep working
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
//!
//! // Rows change through new files and versions: a growing segment, a deletion file.
//! coll.add(&data[..dim], &[4000]).unwrap(); // a copy of row 0 under a new id
//! assert_eq!(coll.delete(&[0, 12345]).unwrap().deleted, 1); // absent ids are skipped
//! let res = coll.search(&data[..dim], &opts).unwrap();
//! assert!(res.hits[0].iter().all(|h| h.id != 0)); // deleted: never returned
//! assert_eq!(coll.manifest().live_rows(), 4000);
//! coll.seal().unwrap(); // the growing row, encoded into a shard
//! # let _ = std::fs::remove_dir_all(&dir);
//! ```

mod change;
mod collection;
mod commit;
mod compact;
pub mod embed;
mod error;
mod filecache;
mod growing;
pub mod ingest;
mod lookup;
pub mod manifest;
mod merged;
mod result_file;
mod results;
mod rowfile;
mod search;
mod segments;
mod store;
mod update;
mod vacuum;

pub use collection::{Collection, CollectionOptions, VersionInfo};
pub use compact::CompactOptions;
pub use error::{Result, ShardError};
pub use growing::GROWING_PARTITION;
/// How to search: shared with `ivfpq_io::Shard::query`.
pub use ivfpq_core::SearchOptions;
pub use manifest::{DeletionRef, Manifest, ModelRef, SegmentEntry, ShardEntry};
pub use result_file::{read_results, write_csv, write_results};
pub use results::{ResultHit, SearchResults, SearchStats, merge, merge_named};
pub use store::Store;
pub use update::DeleteReport;
pub use vacuum::{VacuumOptions, VacuumReport};

/// A collection can be shared by a service's threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Collection>();
};
