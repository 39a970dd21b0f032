//! Training a plan's model on a seeded uniform sample of its rows, read in one pass.

use ivfpq_core::{IndexParams, IvfPqModel};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Progress;
use super::plan::Plan;
use crate::error::{Result, invalid};

/// The most bytes of input read at a time while sampling.
const READ_BYTES: u64 = 32 << 20;

/// Memory kept out of the sample's budget: the program, thread stacks, allocator slack.
const RESERVED: u64 = 24 << 20;

/// Trains the model of `plan`'s rows: `nlist` defaults to `sqrt(rows)` of all the rows,
/// and the training set is a uniform sample of `sample` rows (default
/// `params.max_points_per_centroid` a centroid, and no more than `memory_limit` allows),
/// chosen by `params.seed` and read in one pass over the inputs. Memory holds the sample
/// and training's copies of it, not the input.
pub fn train_model(
    plan: &Plan,
    params: &IndexParams,
    sample: Option<usize>,
    memory_limit: Option<u64>,
    progress: &dyn Progress,
) -> Result<IvfPqModel> {
    let total = plan.rows();
    if total == 0 {
        return Err(invalid("inputs", "the plan's files hold no rows"));
    }
    let total_usize = usize::try_from(total).map_err(|_| invalid("inputs", "too many rows"))?;
    let nlist = params.resolved_nlist(total_usize);
    let params = params.clone().with_nlist(nlist);
    let want = sample
        .unwrap_or(nlist.saturating_mul(params.max_points_per_centroid))
        .min(total_usize)
        .min(memory_limit.map_or(usize::MAX, |m| sample_cap(m, plan.dim)));
    let read_bytes = memory_limit.map_or(READ_BYTES, read_size);
    if want == 0 {
        return Err(invalid(
            "memory_limit",
            format!(
                "{} bytes leave no room for a training sample",
                memory_limit.unwrap_or(0)
            ),
        ));
    }
    // Row numbers across all files in plan order, sorted: one forward pass reads them.
    let mut rng = StdRng::seed_from_u64(params.seed ^ 0x7361_6d70_6c65);
    let mut picks: Vec<u64> = rand::seq::index::sample(&mut rng, total_usize, want)
        .into_iter()
        .map(|i| i as u64)
        .collect();
    picks.sort_unstable();
    tracing::info!(rows = total, sample = want, nlist, "sampling training rows");
    progress.stage("sampling", want as u64);
    let mut data = Vec::with_capacity(want * plan.dim);
    let mut next = 0usize;
    for (i, pf) in plan.files.iter().enumerate() {
        let file = plan.open_file(i)?;
        let first = pf.first_id;
        let chunk = (read_bytes / file.row_bytes().max(1)).max(1);
        while next < picks.len() && picks[next] < first + pf.rows {
            ivfpq_core::interrupt::check()?;
            // Rows of this file from the next pick, one read-sized chunk at a time.
            let start = picks[next] - first;
            let end = (start + chunk).min(pf.rows);
            let in_chunk = picks[next..].partition_point(|&p| p < first + end);
            let last = picks[next + in_chunk - 1] - first;
            let rows = file.read_rows(start..last + 1)?;
            for &p in &picks[next..next + in_chunk] {
                let r = (p - first - start) as usize;
                data.extend_from_slice(&rows.data[r * plan.dim..(r + 1) * plan.dim]);
            }
            next += in_chunk;
            progress.advance(in_chunk as u64);
        }
    }
    tracing::info!(sample = want, "training on the sample");
    progress.stage("training", 0);
    Ok(IvfPqModel::train(&data, plan.dim, &params)?)
}

/// The most sample rows training holds within `limit` bytes. Training's peak holds about
/// 3.3 copies of its sample (the rows, a normalised or rotated copy, the residuals PQ
/// trains on, and k-means's scratch; measured at 960-d with OPQ), so four are budgeted,
/// with a read buffer beside them.
fn sample_cap(limit: u64, dim: usize) -> usize {
    let per_row = 4 * 4 * dim.max(1) as u64;
    // A read of f16 rows is held twice: the bytes, and the rows widened to f32.
    let reads = 3 * read_size(limit);
    (limit.saturating_sub(RESERVED + reads) / per_row) as usize
}

/// Bytes read at a time within `limit`.
fn read_size(limit: u64) -> u64 {
    (limit / 16).clamp(1 << 20, READ_BYTES)
}
