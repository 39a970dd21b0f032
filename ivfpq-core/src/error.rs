//! Typed errors. Each names the parameter (or input) that is wrong.

use ivfpq_simd::SimdError;

/// Everything that can go wrong building or searching an index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IvfPqError {
    /// A vector or batch has the wrong width.
    #[error("{param}: expected dimension {expected}, got {got}")]
    DimensionMismatch {
        /// The offending input.
        param: &'static str,
        /// The index's dimension.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("{param}: row {row}, column {col} is {value} (NaN and infinity are not allowed)")]
    NotFinite {
        /// The offending input.
        param: &'static str,
        /// Row of the bad value.
        row: usize,
        /// Column of the bad value.
        col: usize,
        /// The bad value.
        value: f32,
    },
    /// An input that must hold at least one row is empty.
    #[error("{param}: empty input; at least one vector is needed")]
    Empty {
        /// The offending input.
        param: &'static str,
    },
    /// Too few training vectors for the number of centroids asked for.
    #[error("{param}: {got} training vectors is fewer than the {need} centroids to train")]
    TooFewTrainingPoints {
        /// The parameter that sets the number of centroids (`nlist`, or `m`'s `ksub`).
        param: &'static str,
        /// Centroids to train.
        need: usize,
        /// Training vectors given.
        got: usize,
    },
    /// `dim` is not a multiple of `m`.
    #[error(
        "m: {m} sub-quantizers do not divide dimension {dim}; valid values of m near it: {suggestions:?}"
    )]
    MDoesNotDivideDim {
        /// The dimension.
        dim: usize,
        /// The requested `m`.
        m: usize,
        /// Divisors of `dim` near `m`.
        suggestions: Vec<usize>,
    },
    /// A parameter is out of its range.
    #[error("{param}: {message}")]
    InvalidParameter {
        /// The parameter's name.
        param: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An output buffer is too short for what is to be written into it.
    #[error("{param}: holds {got} values, {need} are needed")]
    BufferTooSmall {
        /// The output buffer.
        param: &'static str,
        /// Values the call writes.
        need: usize,
        /// The buffer's length.
        got: usize,
    },
    /// Ids and vectors disagree in number, or an id column is unusable.
    #[error("{param}: {message}")]
    InvalidIds {
        /// The offending input.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The requested SIMD level cannot run here.
    #[error(transparent)]
    Simd(#[from] SimdError),
    /// The work was interrupted ([`crate::interrupt::request`]).
    #[error("interrupted")]
    Interrupted,
}

/// Result alias for this crate.
pub type Result<T, E = IvfPqError> = std::result::Result<T, E>;

pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> IvfPqError {
    IvfPqError::InvalidParameter {
        param,
        message: message.into(),
    }
}
