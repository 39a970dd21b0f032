//! Typed errors of the collection layer, each naming the collection, version or file.

use ivfpq_core::IvfPqError;
use ivfpq_io::IoError;

/// Everything that can go wrong with a collection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// Another writer committed `version` first. Nothing of this commit is referenced; its
    /// data files are left for `vacuum`.
    #[error(
        "{uri}: version {version} was committed by another writer ({operation}); refresh and retry"
    )]
    Conflict {
        /// The collection.
        uri: String,
        /// The version this writer wanted and another one won.
        version: u64,
        /// What the winning commit did, from its manifest.
        operation: String,
    },
    /// No collection at this location (no manifest).
    #[error("{uri}: not a collection (no manifest under _versions/)")]
    NotACollection {
        /// The location.
        uri: String,
    },
    /// `create` found a collection already there.
    #[error("{uri}: a collection already exists here")]
    AlreadyExists {
        /// The location.
        uri: String,
    },
    /// The collection has no such version.
    #[error("{uri}: version {version} does not exist (latest is {latest})")]
    NoSuchVersion {
        /// The collection.
        uri: String,
        /// The version asked for.
        version: u64,
        /// The newest version.
        latest: u64,
    },
    /// A manifest that does not parse, fails its checksum, or contradicts itself.
    #[error("{file}: manifest: {message}")]
    Manifest {
        /// The manifest file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A shard encoded with a model other than the collection's, or one that no longer
    /// matches what the manifest recorded of it.
    #[error("{shard}: {message}")]
    ShardMismatch {
        /// The shard file.
        shard: String,
        /// What differs.
        message: String,
    },
    /// Partial results that cannot be merged.
    #[error("{file}: partial result: {message}")]
    Partial {
        /// The partial file (or `"<memory>"`).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Inputs that cannot go in one plan (their shapes differ), or a plan file that does
    /// not parse or no longer matches its inputs.
    #[error("{file}: plan: {message}")]
    Plan {
        /// The input or plan file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A data file of the collection (a growing segment, id or deletion file) that does
    /// not parse or disagrees with the manifest.
    #[error("{file}: {message}")]
    Corrupt {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// An id that is already in the collection was added (use an upsert to replace it).
    #[error("{uri}: id {id} is already in the collection (upsert replaces a row)")]
    DuplicateId {
        /// The collection.
        uri: String,
        /// The id.
        id: u64,
    },
    /// A string id that is already in the collection was added (use an upsert to replace
    /// it).
    #[error("{uri}: string id {label:?} is already in the collection (upsert replaces a row)")]
    DuplicateLabel {
        /// The collection.
        uri: String,
        /// The string id.
        label: String,
    },
    /// A seal or compaction lost a race to a commit that changed the shards or segments
    /// it rewrites (a delete of their rows, say). Nothing of it was committed; run it
    /// again on the new version.
    #[error(
        "{uri}: version {version} ({operation}) changed {path}, which this {what} rewrites; nothing was committed, run it again"
    )]
    ConflictingChange {
        /// The collection.
        uri: String,
        /// The version that changed it.
        version: u64,
        /// What that version's commit did.
        operation: String,
        /// The shard or segment both touch.
        path: String,
        /// This writer's operation.
        what: &'static str,
    },
    /// An embedding function failed, or returned vectors of the wrong shape or with
    /// non-finite values.
    #[error("embedding function {function:?}: {message}")]
    Embedding {
        /// The function's name.
        function: String,
        /// What went wrong (a failure's own message).
        message: String,
    },
    /// The collection records an embedding function this process was not given.
    #[error(
        "{uri}: records embedding function {name:?} ({config}), which this process does not provide; pass it when opening"
    )]
    EmbeddingUnavailable {
        /// The collection.
        uri: String,
        /// The recorded function's name.
        name: String,
        /// Its recorded configuration (JSON).
        config: String,
    },
    /// A bad argument.
    #[error("{param}: {message}")]
    InvalidParameter {
        /// The parameter.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing a file or object failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

impl From<IvfPqError> for ShardError {
    fn from(e: IvfPqError) -> Self {
        ShardError::Io(IoError::Index(e))
    }
}

/// Result alias for this crate.
pub type Result<T, E = ShardError> = std::result::Result<T, E>;

pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> ShardError {
    ShardError::InvalidParameter {
        param,
        message: message.into(),
    }
}
