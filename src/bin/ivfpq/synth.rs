//! `ivfpq synth`: write a synthetic dataset folder (the same data tests and `bench` use),
//! so peers (shared/bench/peers.py) can be run on exactly that data.

use std::path::PathBuf;

use clap::Args;
use ivfpq::datasets::{SynthSpec, synthetic};

/// Options of `ivfpq synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (base.fvecs, query.fvecs, gt.ivecs, meta.json).
    #[arg(long)]
    out: PathBuf,
    /// Base vectors.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Query vectors.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Metric of the ground truth: l2, cosine or dot.
    #[arg(long, default_value = "l2")]
    metric: String,
    /// RNG seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn run(a: SynthArgs) -> Result<(), Box<dyn std::error::Error>> {
    let spec = SynthSpec {
        n: a.n,
        queries: a.queries,
        dim: a.dim,
        metric: a.metric.parse()?,
        seed: a.seed,
        ..Default::default()
    };
    synthetic(&spec).save(&a.out)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
