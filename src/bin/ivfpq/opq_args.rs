//! The OPQ options shared by `ivfpq build` and `ivfpq bench`.

use clap::Args;
use ivfpq::core::IndexParams;

/// Whether and how long to learn the OPQ rotation.
#[derive(Args)]
pub struct OpqArgs {
    /// Learn an OPQ rotation before PQ: true or false (default: true for cosine and dot,
    /// false for l2).
    #[arg(long)]
    opq: Option<bool>,
    /// OPQ rounds (each updates the rotation and refits the codebooks).
    #[arg(long, default_value_t = IndexParams::default().opq_iters)]
    opq_iters: usize,
}

impl OpqArgs {
    /// Sets the OPQ fields of `p`.
    pub fn apply(&self, p: IndexParams) -> IndexParams {
        IndexParams {
            opq: self.opq,
            opq_iters: self.opq_iters,
            ..p
        }
    }
}
