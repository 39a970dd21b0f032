//! `--metric`: one enumeration for every command, so that `--help` lists the values.

use clap::ValueEnum;
use ivfpq::core::Metric;

/// The distance an index ranks by.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MetricArg {
    /// Squared Euclidean distance.
    L2,
    /// 1 − cosine similarity (rows normalized when added).
    Cosine,
    /// −inner product.
    Dot,
}

impl MetricArg {
    /// The library's metric.
    pub fn metric(self) -> Metric {
        match self {
            MetricArg::L2 => Metric::L2,
            MetricArg::Cosine => Metric::Cosine,
            MetricArg::Dot => Metric::Dot,
        }
    }
}
