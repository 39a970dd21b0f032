//! The scan options shared by `ivfpq search` and `ivfpq bench`.

use clap::Args;
use ivfpq::core::SearchParams;

/// How candidates are scored: RaBitQ's error bound and cosine's table form.
#[derive(Args, Clone, Copy)]
pub struct ScanArgs {
    /// RaBitQ codes: the error bound in standard deviations (ε₀); larger reranks more
    /// and loses fewer neighbours.
    #[arg(long, default_value_t = ivfpq::core::EPSILON0)]
    epsilon: f32,
    /// Cosine: score every probe with the query's own table (faster; the same recall as
    /// the per-probe residual table on real embeddings once reranked, less on tightly
    /// clustered data). See `SearchParams::shared_table`.
    #[arg(long)]
    shared_table: bool,
}

impl ScanArgs {
    /// `p` with these options.
    pub fn apply(self, p: SearchParams) -> SearchParams {
        p.with_rabitq_epsilon(self.epsilon)
            .with_shared_table(self.shared_table)
    }

    /// RaBitQ's error bound (ε₀).
    pub fn epsilon(self) -> f32 {
        self.epsilon
    }

    /// Whether cosine probes share the query's table.
    pub fn shared_table(self) -> bool {
        self.shared_table
    }

    /// The options as `bench` prints them in its header.
    pub fn describe(self) -> String {
        let table = if self.shared_table {
            "shared"
        } else {
            "residual"
        };
        format!("epsilon={} table={table}", self.epsilon)
    }
}
