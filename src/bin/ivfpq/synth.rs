//! `ivfpq synth`: write a synthetic dataset folder (the same data tests and `bench` use),
//! so peer engines (the FAISS and hnswlib harness) can be run on exactly that data.

use std::path::PathBuf;

use clap::Args;
use ivfpq::datasets::{SynthSpec, try_synthetic};

use crate::metric_arg::MetricArg;

/// Options of `ivfpq synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (base.fvecs, query.fvecs, gt.ivecs, meta.json).
    #[arg(long)]
    out: PathBuf,
    /// Base vectors (at least 1).
    #[arg(long, default_value_t = 100_000, value_parser = crate::at_least_one())]
    n: usize,
    /// Query vectors (at least 1).
    #[arg(long, default_value_t = 1000, value_parser = crate::at_least_one())]
    queries: usize,
    /// Dimension (at least 1).
    #[arg(long, default_value_t = 128, value_parser = crate::at_least_one())]
    dim: usize,
    /// Metric of the ground truth.
    #[arg(long, value_enum, default_value_t = MetricArg::L2)]
    metric: MetricArg,
    /// RNG seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn run(a: SynthArgs) -> Result<(), Box<dyn std::error::Error>> {
    let spec = SynthSpec {
        n: a.n,
        queries: a.queries,
        dim: a.dim,
        metric: a.metric.metric(),
        seed: a.seed,
        ..Default::default()
    };
    // Checked and generated in full before anything is written.
    try_synthetic(&spec)?.save(&a.out)?;
    outln!("wrote {}", a.out.display())?;
    Ok(())
}
