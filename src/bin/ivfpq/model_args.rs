//! The model options shared by `ivfpq build` and `ivfpq train`.

use clap::Args;
use ivfpq::core::IndexParams;

use crate::code_args::CodeArgs;
use crate::metric_arg::MetricArg;

/// What to train: metric, partitions, codes and seed.
#[derive(Args)]
pub struct ModelArgs {
    /// Metric.
    #[arg(long, value_enum, default_value_t = MetricArg::L2)]
    metric: MetricArg,
    /// Coarse partitions (default: sqrt of the rows).
    #[arg(long)]
    nlist: Option<usize>,
    /// PQ sub-quantizers (default: dim / 16 for 8-bit codes, dim / 8 for 4-bit).
    #[arg(long)]
    m: Option<usize>,
    /// Bits per code: PQ 8, or 4 for fast-scan; RaBitQ 1 to 8 a coordinate.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// RNG seed: the same input and seed give a byte-identical model and shard.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    codes: CodeArgs,
}

impl ModelArgs {
    /// The training parameters these options set.
    pub fn params(&self) -> IndexParams {
        let mut p = IndexParams::default()
            .with_metric(self.metric.metric())
            .with_nbits(self.bits)
            .with_seed(self.seed);
        p.nlist = self.nlist;
        p.m = self.m;
        self.codes.apply(p)
    }
}
