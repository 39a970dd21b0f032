//! The training options shared by `ivfpq build` and `ivfpq bench`: code type, OPQ and
//! the coarse k-means iterations.

use clap::builder::RangedU64ValueParser;
use clap::{Args, ValueEnum};
use ivfpq::core::{CodeKind, IndexParams, IvfPqModel};

/// The most k-means iterations or OPQ rounds the command line takes: more is a typo, and
/// would train for ever.
const MAX_ITERS: u64 = 10_000;

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
    /// OPQ rounds, 0 to 10000 (each updates the rotation and refits the codebooks).
    #[arg(
        long,
        default_value_t = IndexParams::default().opq_iters,
        value_parser = RangedU64ValueParser::<usize>::new().range(0..=MAX_ITERS)
    )]
    opq_iters: usize,
    /// Coarse k-means iterations, 1 to 10000 (the partitions). FAISS's IVF indexes train
    /// theirs with 10 (`Level1Quantizer` sets `cp.niter = 10`; `ClusteringParameters`
    /// defaults to 25).
    #[arg(
        long,
        default_value_t = IndexParams::default().kmeans_iters,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_ITERS)
    )]
    kmeans_iters: usize,
}

impl CodeArgs {
    /// Sets the code fields of `p`.
    pub fn apply(&self, p: IndexParams) -> IndexParams {
        let codes = match self.codes {
            Codes::Pq => CodeKind::Pq,
            Codes::Rabitq => CodeKind::Rabitq,
        };
        p.with_codes(codes)
            .with_opq(self.opq)
            .with_opq_iters(self.opq_iters)
            .with_kmeans_iters(self.kmeans_iters)
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

/// A model's code type alone, `pq`, `pq+opq` or `rabitq`: the `codes` key of a bench row,
/// whose `m` and `bits` are keys of their own.
pub fn kind(model: &IvfPqModel) -> &'static str {
    match (model.pq(), model.rotation()) {
        (Some(_), Some(_)) => "pq+opq",
        (Some(_), None) => "pq",
        (None, _) => "rabitq",
    }
}
