//! ivfpq-io: files in and out of ivfpq.
//!
//! - Shard files ([`shard`]): the immutable, checksummed on-disk form of an index, written
//!   by a streaming writer and searched in place over a [`ByteSource`] — a memory-mapped
//!   local file or ranged reads from object storage ([`ObjectSource`]).
//! - Benchmark vector files (`.fvecs`, `.ivecs`) and dataset folders, with atomic writes.
//!
//! The main types: [`write_shard`] and [`ShardWriter`] write a file; [`Shard`] opens one
//! (a local path or an `s3://`, `gs://`, `az://` or `file://` URL, with [`OpenOptions`]
//! and [`StoreOptions`]) and searches it like the in-memory index.
//!
//! ```
//! use ivfpq_core::{IndexParams, IvfPqIndex, SearchParams};
//! use ivfpq_io::{OpenOptions, Shard, write_shard};
//!
//! // 2,000 pseudo-random 16-d vectors in [0, 1) from a small LCG, flat and row-major.
//! let (n, dim) = (2000, 16);
//! let mut state = 7u64;
//! let data: Vec<f32> = (0..n * dim)
//!     .map(|_| {
//!         state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!         (state >> 40) as f32 / (1u64 << 24) as f32
//!     })
//!     .collect();
//! let ids: Vec<u64> = (0..n as u64).collect();
//! let params = IndexParams::default().with_nlist(32).with_m(4);
//! let index = IvfPqIndex::build(&data, &ids, dim, &params)?;
//!
//! let path = std::env::temp_dir().join(format!("ivfpq-io-doc-{}.shard", std::process::id()));
//! write_shard(&index, &path)?;
//! // A local file is memory-mapped and searched in place; a URL is read in ranged requests.
//! let shard = Shard::open(path.to_str().unwrap(), &OpenOptions::default())?;
//! let search = SearchParams::new(10, 8).with_refine(4);
//! let queries = &data[..3 * dim];
//! assert_eq!(shard.search(queries, &search)?, index.search(queries, &search)?);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Sections are cast in place from little-endian bytes.
#[cfg(target_endian = "big")]
compile_error!(
    "ivfpq-io reads little-endian shard files in place; big-endian targets are not supported"
);

mod error;
mod input;
mod model;
mod npy;
mod object;
mod results;
pub mod shard;
mod source;
mod stream;
#[cfg(feature = "hdf5")]
mod stream_hdf5;
mod vecs;

pub use error::{IoError, Result};
pub use input::{InputIds, InputVectors, read_vectors};
pub use model::{
    ModelHash, hash_bytes, model_file_bytes, model_hash, read_model, read_model_bytes, write_model,
};
pub use npy::{ElementType, parse_npy};
pub use object::{
    MAX_CONCURRENT_REQUESTS, ObjectSource, StoreOptions, is_url, open_store, upload_file, upload_to,
};
// Shared with `ivfpq-shard`, which drives the same object stores; not for users.
#[doc(hidden)]
pub use object::{block_on, store_err};
pub use results::{ResultRow, write_csv, write_results};
pub use shard::{
    CandidateOutput, MappedShard, OpenOptions, QueryOutput, ReadStats, ScoredCandidate, Shard,
    ShardWriter, temp_file_prefix, write_file_atomic, write_shard, write_shard_labeled,
};
pub use source::{ByteSource, Counters, MmapSource, SharedSource};
pub use stream::{DEFAULT_VECTOR_DATASET, VectorFile};
pub use vecs::{
    Dataset, parse_vecs, read_fvecs, read_ivecs, write_atomic, write_fvecs, write_ivecs,
};
