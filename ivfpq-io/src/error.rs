//! Typed I/O errors that name the file (and section) at fault.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The operating system refused or failed.
    #[error("{path}: {source}")]
    Os {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file's content does not follow its format.
    #[error("{path}: {section}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The part of the file at fault (a record, a header, a section).
        section: String,
        /// What is wrong.
        message: String,
    },
    /// An object store refused or failed a request.
    #[error("{url}: {source}")]
    Store {
        /// The object's URL.
        url: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// The index layer rejected what the file holds.
    #[error(transparent)]
    Index(#[from] ivfpq_core::IvfPqError),
}

impl IoError {
    pub(crate) fn os(path: impl Into<PathBuf>, source: std::io::Error) -> IoError {
        IoError::Os {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(
        path: impl Into<PathBuf>,
        section: impl Into<String>,
        message: impl Into<String>,
    ) -> IoError {
        IoError::Format {
            path: path.into(),
            section: section.into(),
            message: message.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
