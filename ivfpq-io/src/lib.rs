//! ivfpq-io: files in and out of ivfpq.
//!
//! - Shard files ([`shard`]): the immutable, checksummed on-disk form of an index, written
//!   by a streaming writer and searched in place over a [`ByteSource`] — a memory-mapped
//!   local file or ranged reads from object storage ([`ObjectSource`]).
//! - Benchmark vector files (`.fvecs`, `.ivecs`) and dataset folders, with atomic writes.

// Sections are cast in place from little-endian bytes.
#[cfg(target_endian = "big")]
compile_error!(
    "ivfpq-io reads little-endian shard files in place; big-endian targets are not supported"
);

mod error;
mod input;
mod model;
mod object;
mod results;
pub mod shard;
mod source;
mod vecs;

pub use error::{IoError, Result};
pub use input::{InputIds, InputVectors, parse_npy, read_vectors};
pub use model::{
    ModelHash, hash_bytes, model_file_bytes, model_hash, read_model, read_model_bytes, write_model,
};
pub use object::{
    MAX_CONCURRENT_REQUESTS, ObjectSource, StoreOptions, block_on, is_url, open_store, store_err,
    upload_file, upload_to,
};
pub use results::{ResultRow, write_csv, write_results};
pub use shard::{
    CandidateOutput, MappedShard, OpenOptions, QueryOutput, ReadStats, ScoredCandidate, Shard,
    ShardWriter, write_file_atomic, write_shard, write_shard_labeled,
};
pub use source::{ByteSource, Counters, MmapSource, SharedSource, coalesce, read_coalesced};
pub use vecs::{
    Dataset, parse_vecs, read_fvecs, read_ivecs, write_atomic, write_fvecs, write_ivecs,
};
