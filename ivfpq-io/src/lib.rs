//! ivfpq-io: files in and out of ivfpq.
//!
//! This crate owns file formats: benchmark vector files (`.fvecs`, `.ivecs`) and dataset
//! folders, with atomic writes. Shard files and byte sources arrive with the shard-file
//! work (see `design.md`).

mod error;
mod vecs;

pub use error::{IoError, Result};
pub use vecs::{
    Dataset, parse_vecs, read_fvecs, read_ivecs, write_atomic, write_fvecs, write_ivecs,
};
