//! Embedding functions: raw inputs (text or bytes) turned into vectors, so that a
//! collection can take raw rows and raw queries.
//!
//! A function implements [`EmbeddingFunction`]; an [`Embedder`] wraps any function with
//! batching, a byte-bounded cache keyed by a hash of each input (in memory, and
//! optionally in a folder), retries with backoff for transient failures, and checks of
//! what the function returns. A collection records its function's name, configuration,
//! dimension and metric in the manifest ([`crate::Collection::set_embedding`]), and an
//! [`EmbeddedCollection`] opens it with the function rebuilt in this process, or fails
//! with [`crate::ShardError::EmbeddingUnavailable`] naming the one it lacks. Embedding
//! always runs in the caller's process, whether the collection is local or on S3.

mod cache;
mod collection;
mod embedder;

use ivfpq_core::Metric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use collection::EmbeddedCollection;
pub use embedder::{Embedder, EmbedderOptions};

/// One raw input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input<'a> {
    /// Text (a sentence, a protein sequence).
    Text(&'a str),
    /// Bytes (an image, a serialized record).
    Bytes(&'a [u8]),
}

impl Input<'_> {
    /// The cache key: SHA-256 of a kind tag and the input's bytes, so that a text and the
    /// same bytes given as bytes do not share an entry.
    pub(crate) fn key(&self) -> [u8; 32] {
        let (tag, bytes): (&[u8], &[u8]) = match self {
            Input::Text(s) => (b"t", s.as_bytes()),
            Input::Bytes(b) => (b"b", b),
        };
        Sha256::new()
            .chain_update(tag)
            .chain_update(bytes)
            .finalize()
            .into()
    }
}

/// Why an embedding function failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EmbedError {
    /// What went wrong, as the function reports it.
    pub message: String,
    /// Whether trying again may succeed (a timeout, a rate limit): the [`Embedder`]
    /// retries those with backoff, and fails at once on the rest.
    pub transient: bool,
}

impl EmbedError {
    /// A failure that trying again will not cure.
    pub fn permanent(message: impl Into<String>) -> EmbedError {
        EmbedError {
            message: message.into(),
            transient: false,
        }
    }

    /// A failure that may pass.
    pub fn transient(message: impl Into<String>) -> EmbedError {
        EmbedError {
            message: message.into(),
            transient: true,
        }
    }
}

/// A function from raw inputs to vectors of one dimension, for one metric.
pub trait EmbeddingFunction: Send + Sync {
    /// The name it is recorded under, and found by when a collection is opened.
    fn name(&self) -> &str;
    /// What rebuilds it besides its name (a model path, a pooling mode), recorded in the
    /// manifest.
    fn config(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Values a vector.
    fn dim(&self) -> usize;
    /// The metric its vectors are meant for.
    fn metric(&self) -> Metric;
    /// `inputs.len() × dim` values, row-major, one row per input in order.
    fn embed(&self, inputs: &[Input<'_>]) -> Result<Vec<f32>, EmbedError>;
}

/// What a manifest records of a collection's embedding function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingRef {
    /// [`EmbeddingFunction::name`].
    pub name: String,
    /// [`EmbeddingFunction::config`].
    #[serde(default)]
    pub config: serde_json::Value,
    /// [`EmbeddingFunction::dim`].
    pub dim: u32,
    /// [`EmbeddingFunction::metric`]: `l2`, `cosine` or `dot`.
    pub metric: String,
}

impl EmbeddingRef {
    /// The record of `f`.
    pub fn of(f: &dyn EmbeddingFunction) -> EmbeddingRef {
        EmbeddingRef {
            name: f.name().to_string(),
            config: f.config(),
            dim: f.dim() as u32,
            metric: f.metric().to_string(),
        }
    }

    /// Whether `f` is the function recorded: same name, configuration, dimension, metric.
    pub fn matches(&self, f: &dyn EmbeddingFunction) -> bool {
        *self == EmbeddingRef::of(f)
    }
}
