//! `--vectors`: the refine vectors an index stores, one name for `build` and `bench`.

use clap::ValueEnum;
use ivfpq::core::VectorStorage;

/// Refine vectors stored with the codes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum VectorsArg {
    /// 4 bytes a coordinate: exact reranking.
    F32,
    /// 2 bytes a coordinate: reranking within half-precision rounding.
    F16,
    /// None: no refine, the smallest index.
    None,
}

impl VectorsArg {
    /// The library's storage.
    pub fn storage(self) -> VectorStorage {
        match self {
            VectorsArg::F32 => VectorStorage::F32,
            VectorsArg::F16 => VectorStorage::F16,
            VectorsArg::None => VectorStorage::None,
        }
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            VectorsArg::F32 => "f32",
            VectorsArg::F16 => "f16",
            VectorsArg::None => "none",
        }
    }
}
