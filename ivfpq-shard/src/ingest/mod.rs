//! Building beyond memory: plan input files into buckets ([`Plan`]), train one model on a
//! streamed sample of them ([`train_model`]), build each bucket's shard within a memory
//! limit ([`build_bucket`]), and merge shards of one model ([`merge_shards`]).
//!
//! Every step streams: memory is bounded by the sample (training), by the memory limit
//! (building), or by one partition of the inputs (merging), never by the input size.

mod build;
mod merge;
mod plan;
mod spill;
mod train;

pub use build::{BuildOptions, BuildReport, build_bucket};
pub use merge::merge_shards;
pub(crate) use merge::{MergeInput, write_merged};
pub use plan::{Bucket, Part, Plan, PlanFile};
pub use train::train_model;

/// Reports the progress of a long step: a progress bar on a terminal, a log line
/// elsewhere. The library also emits `tracing` events at each stage.
pub trait Progress: Sync {
    /// A stage begins, with `total` units (rows) of work.
    fn stage(&self, name: &'static str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
}

/// No progress reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &'static str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// The process's peak resident memory in bytes (`VmHWM`), where the system reports it
/// (Linux); `None` elsewhere.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Checks that an input still has the shape it was planned with.
fn check_file(plan: &Plan, pf: &PlanFile, file: &ivfpq_io::VectorFile) -> crate::Result<()> {
    if (file.rows(), file.dim(), file.element_type().name())
        != (pf.rows, plan.dim, plan.element_type.as_str())
    {
        return Err(crate::ShardError::Plan {
            file: pf.path.display().to_string(),
            message: format!(
                "{} rows of {}-d {} now, {} rows of {}-d {} when planned",
                file.rows(),
                file.dim(),
                file.element_type().name(),
                pf.rows,
                plan.dim,
                plan.element_type
            ),
        });
    }
    Ok(())
}
