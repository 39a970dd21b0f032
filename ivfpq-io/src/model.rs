//! Model files: a trained model on its own, content-addressed, so that many shards can be
//! encoded with it and say so.
//!
//! A model file is a shard file with no rows (every partition empty, no stored vectors,
//! no labels, model hash 0): the same sections, checksums and reader, with nothing new to
//! specify. Its SHA-256 is the model's identity; every shard written from the model
//! records the first 8 bytes of it in its header ([`crate::shard::layout::Header`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ivfpq_core::{IvfPqModel, Partition, VectorStorage};
use sha2::{Digest, Sha256};

use crate::error::{IoError, Result};
use crate::shard::{Shard, ShardWriter, write_file_atomic};

/// The SHA-256 of a model file: the identity of a trained model.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelHash(pub [u8; 32]);

impl ModelHash {
    /// The first 8 bytes as a little-endian `u64`, as shard headers record it.
    pub fn short(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }

    /// Lowercase hex, 64 characters.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex characters; `None` otherwise.
    pub fn parse(s: &str) -> Option<ModelHash> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(ModelHash(out))
    }
}

impl fmt::Display for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelHash({})", self.hex())
    }
}

/// The bytes of `model`'s model file. The same model gives the same bytes on every CPU.
pub fn model_file_bytes(model: &IvfPqModel) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w =
        ShardWriter::with_model_hash(&mut out, model, VectorStorage::None, None, "model", 0)?;
    let empty = empty_partition();
    for _ in 0..model.nlist() {
        w.write_partition(&empty)?;
    }
    w.finish()?;
    Ok(out)
}

/// An empty partition, written `nlist` times (a model file needs no index).
fn empty_partition() -> Partition {
    Partition {
        codes: Vec::new(),
        aux: Vec::new(),
        records: Vec::new(),
        ids: Vec::new(),
        vectors: ivfpq_core::Vectors::None,
        layout: ivfpq_simd::Pq4Layout::Blocked,
    }
}

/// The model's identity: the SHA-256 of its model file.
pub fn model_hash(model: &IvfPqModel) -> Result<ModelHash> {
    Ok(hash_bytes(&model_file_bytes(model)?))
}

/// SHA-256 of `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> ModelHash {
    ModelHash(Sha256::digest(bytes).into())
}

/// Writes `model`'s model file at `path`, atomically; returns its hash.
pub fn write_model(model: &IvfPqModel, path: &Path) -> Result<ModelHash> {
    let bytes = model_file_bytes(model)?;
    let hash = hash_bytes(&bytes);
    write_file_atomic(path, |f, name| {
        std::io::Write::write_all(f, &bytes).map_err(|e| IoError::os(name, e))?;
        Ok(bytes.len() as u64)
    })?;
    Ok(hash)
}

/// Reads a model from a model file's bytes (`name` labels errors), checking that the file
/// is one: no rows, and a model hash of 0 in its header.
pub fn read_model_bytes(bytes: bytes::Bytes, name: &str) -> Result<(Arc<IvfPqModel>, ModelHash)> {
    let hash = hash_bytes(&bytes);
    let source = Arc::new(crate::source::MmapSource::from_bytes(name, bytes));
    let shard = Shard::open_source(source, 0)?;
    if shard.rows() != 0 || shard.header().model_hash != 0 {
        return Err(IoError::format(
            name,
            "header",
            "a shard with rows, not a model file",
        ));
    }
    Ok((shard.model().clone(), hash))
}

/// Reads a local model file.
pub fn read_model(path: &Path) -> Result<(Arc<IvfPqModel>, ModelHash)> {
    let b = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    read_model_bytes(bytes::Bytes::from(b), &path.display().to_string())
}
