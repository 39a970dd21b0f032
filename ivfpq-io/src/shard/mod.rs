//! Shard files: one immutable, checksummed file per built index (`docs/format.md`).
//!
//! [`ShardWriter`] streams a file partition by partition; [`write_shard`] writes an
//! in-memory index atomically. [`Shard`] opens a file from a local path (memory-mapped)
//! or an object-store URL and searches it, reading only what a query needs.

mod block;
mod cache;
// The fuzz targets' harness, public for `fuzz/` and the corruption tests only.
#[doc(hidden)]
pub mod fuzz;
pub mod layout;
mod reader;
mod writer;

pub use reader::{
    CandidateOutput, MappedShard, OpenOptions, QueryOutput, ReadStats, ScoredCandidate, Shard,
};
pub use writer::{ShardWriter, write_shard, write_shard_labeled};
pub use writer::{temp_file_prefix, write_file_atomic};

impl ivfpq_core::Searcher for Shard {
    type Error = crate::IoError;

    fn dim(&self) -> usize {
        self.model().dim()
    }

    fn metric(&self) -> ivfpq_core::Metric {
        self.model().metric()
    }

    fn nearest(
        &self,
        queries: &[f32],
        params: &ivfpq_core::SearchParams,
    ) -> crate::Result<Vec<Vec<ivfpq_core::Neighbor>>> {
        self.search(queries, params)
    }
}
