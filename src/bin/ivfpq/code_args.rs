//! The training options shared by `ivfpq build` and `ivfpq bench`: code type, OPQ and
//! the coarse k-means iterations.

use clap::{Args, ValueEnum};
use ivfpq::core::{CodeKind, IndexParams, IvfPqModel};

/// The code type, as the command line spells it.
#[derive(Clone, Copy, ValueEnum)]
pub enum Codes {
    /// Product quantization (`--bits` 8, or 4 for fast-scan).
    Pq,
    /// RaBitQ (`--bits` 1 to 8 a coordinate), reranked by its error bound.
    Rabitq,
}

/// Which codes, and whether and how long to learn the OPQ rotation.
#[derive(Args)]
pub struct CodeArgs {
    /// Code type: pq or rabitq.
    #[arg(long, value_enum, default_value = "pq")]
    codes: Codes,
    /// Learn an OPQ rotation before PQ: true or false (default: true for cosine and dot,
    /// false for l2; PQ only).
    #[arg(long)]
    opq: Option<bool>,
    /// OPQ rounds (each updates the rotation and refits the codebooks).
    #[arg(long, default_value_t = IndexParams::default().opq_iters)]
    opq_iters: usize,
    /// Coarse k-means iterations (the partitions; FAISS's default is 25).
    #[arg(long, default_value_t = IndexParams::default().kmeans_iters)]
    kmeans_iters: usize,
}

impl CodeArgs {
    /// Sets the code fields of `p`.
    pub fn apply(&self, p: IndexParams) -> IndexParams {
        IndexParams {
            codes: match self.codes {
                Codes::Pq => CodeKind::Pq,
                Codes::Rabitq => CodeKind::Rabitq,
            },
            opq: self.opq,
            opq_iters: self.opq_iters,
            kmeans_iters: self.kmeans_iters,
            ..p
        }
    }
}

/// A model's codes in a few words: `pq m=24 bits=8 opq` or `rabitq bits=4`.
pub fn describe(model: &IvfPqModel) -> String {
    match model.pq() {
        Some(pq) => format!(
            "pq m={} bits={}{}",
            pq.m(),
            pq.nbits(),
            if model.rotation().is_some() {
                " opq"
            } else {
                ""
            }
        ),
        None => format!("rabitq bits={}", model.nbits()),
    }
}
