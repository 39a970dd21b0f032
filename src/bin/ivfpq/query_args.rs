//! The search settings shared by `ivfpq search` and `ivfpq collection search`.

use clap::Args;
use ivfpq::core::SearchParams;

use crate::probe_arg::ProbeRatio;
use crate::refine_arg::Refine;
use crate::scan_args::ScanArgs;

/// `k`, probing, refine and scan options of one search.
#[derive(Args)]
pub struct QuerySettings {
    /// Results per query (1 to 50,000).
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Partitions probed per query (with --probe-ratio, at most this many).
    #[arg(long, default_value_t = 16)]
    pub nprobe: usize,
    /// Adaptive probing (l2, cosine): beyond the nearest nprobe/4 lists, probe a list
    /// only while its coarse distance is at most this times the nearest's; or off.
    #[arg(long, default_value = "off")]
    pub probe_ratio: ProbeRatio,
    /// Rerank k × refine candidates with exact distances (1: no rerank); auto (or
    /// auto:N) reranks adaptively, at most k × 64 (or k × N).
    #[arg(long, default_value = "1")]
    pub refine: Refine,
    #[command(flatten)]
    pub scan: ScanArgs,
}

impl QuerySettings {
    /// The search parameters these options set.
    pub fn params(&self) -> SearchParams {
        self.scan.apply(
            self.refine.apply(
                self.probe_ratio
                    .apply(SearchParams::new(self.k, self.nprobe)),
            ),
        )
    }
}
