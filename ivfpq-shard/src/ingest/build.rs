//! Building one bucket's shard out of core: read a chunk, encode it on all cores, spill
//! it grouped by partition; then write the shard partition by partition from the runs.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ivfpq_core::{IvfPqModel, Partition, VectorStorage};
use ivfpq_io::{InputIds, ShardWriter, write_file_atomic};

use super::Progress;
use super::plan::Plan;
use super::spill::{Chunk, Run, get_row, row_len};
use crate::error::{Result, ShardError, invalid};

/// How to build a bucket.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The most resident memory the build may use, in bytes (default 2 GiB). The chunk
    /// size follows from it; see [`build_bucket`].
    pub memory_limit: u64,
    /// How refine vectors are stored in the shard (default f32).
    pub storage: VectorStorage,
    /// Where spilled runs go (default: a hidden folder beside the output).
    pub temp_dir: Option<PathBuf>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            memory_limit: 2 << 30,
            storage: VectorStorage::F32,
            temp_dir: None,
        }
    }
}

impl BuildOptions {
    /// Sets the memory limit in bytes.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets how refine vectors are stored.
    pub fn with_storage(mut self, storage: VectorStorage) -> Self {
        self.storage = storage;
        self
    }

    /// Spills runs under `dir` instead of beside the output.
    pub fn with_temp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }
}

/// What a bucket build did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BuildReport {
    /// Rows in the shard.
    pub rows: u64,
    /// Bytes of the shard file.
    pub bytes: u64,
    /// Rows encoded at a time.
    pub chunk_rows: usize,
    /// Spilled runs.
    pub runs: usize,
    /// Seconds reading and encoding, and writing the shard.
    pub encode_seconds: f64,
    /// Seconds writing the shard from the runs.
    pub write_seconds: f64,
}

/// Memory the build keeps out of its chunk budget: the model, the program, thread stacks
/// and the allocator's slack.
const RESERVED: u64 = 24 << 20;

/// Builds bucket `bucket` of `plan` into the shard file `output`, encoding with `model`.
///
/// Rows are read `chunk_rows` at a time (sized from `opts.memory_limit` and the row
/// width), encoded in parallel, and spilled to runs; the shard is then written
/// partition by partition, holding one partition's rows at a time. The file is the one
/// an in-memory index over the bucket's rows, in plan order, with the same model writes
/// (`IvfPqIndex::add` then `write_shard`), byte for byte.
///
/// The shard appears under `output` only when complete (a temporary file, then a
/// rename). Spilled runs live in a hidden folder beside the output, removed when the
/// build ends; a later build of the same output first removes any that a killed build
/// left, with its temporary shard file.
///
/// Ids: an input's id column, else the row's number in the plan ([`super::PlanFile::first_id`]
/// on); string ids number the bucket's rows from 0 and are kept as the shard's labels.
pub fn build_bucket(
    plan: &Plan,
    bucket: usize,
    model: &IvfPqModel,
    output: &Path,
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport> {
    let b = plan.bucket(bucket)?;
    if model.dim() != plan.dim {
        return Err(invalid(
            "model",
            format!(
                "dimension {} differs from the plan's {}",
                model.dim(),
                plan.dim
            ),
        ));
    }
    let dim = plan.dim;
    let storage = opts.storage;
    let per_row = row_budget(model, dim, storage, &plan.element_type);
    let budget = opts
        .memory_limit
        .saturating_sub(RESERVED + model_bytes(model));
    let chunk_rows = ((budget / 2) / per_row).clamp(256, 1 << 20) as usize;
    if budget / 2 < 256 * per_row {
        return Err(invalid(
            "memory_limit",
            format!(
                "{} bytes leave too little for a chunk of 256 rows ({} bytes a row beside a \
                 {}-byte model)",
                opts.memory_limit,
                per_row,
                model_bytes(model)
            ),
        ));
    }
    let temp = TempDir::create(output, opts.temp_dir.as_deref())?;
    let t = Instant::now();
    tracing::info!(bucket, rows = b.rows(), chunk_rows, "encoding bucket");
    progress.stage("encoding", b.rows());
    let mut runs = Vec::new();
    let mut labels: Option<Vec<String>> = None;
    let mut rows_done = 0u64;
    for part in &b.parts {
        let pf = &plan.files[part.file];
        let file = plan.open_file(part.file)?;
        let mut start = part.start;
        while start < part.end {
            ivfpq_core::interrupt::check()?;
            let end = (start + chunk_rows as u64).min(part.end);
            let input = file.read_rows(start..end)?;
            let n = input.len();
            let strings = matches!(input.ids, InputIds::Strings(_));
            if rows_done > 0 && strings != labels.is_some() {
                return Err(ShardError::Plan {
                    file: pf.path.display().to_string(),
                    message: "string ids in some inputs of a bucket and not in others".into(),
                });
            }
            let ids: Vec<u64> = match input.ids {
                InputIds::Numbers(v) => v,
                InputIds::Strings(s) => {
                    let all = labels.get_or_insert_with(Vec::new);
                    let first = all.len() as u64;
                    all.extend(s);
                    (first..first + n as u64).collect()
                }
                _ => (pf.first_id + start..pf.first_id + end).collect(),
            };
            let rows = model.prepare(&input.data)?;
            let (assign, codes) = model.encode(&rows)?;
            let chunk = Chunk {
                assign: &assign,
                codes: &codes,
                ids: &ids,
                rows: &rows,
                dim,
            };
            let path = temp.path.join(format!("run-{:06}", runs.len()));
            runs.push(Run::write(path, &chunk, model.nlist(), storage)?);
            rows_done += n as u64;
            progress.advance(n as u64);
            start = end;
        }
    }
    let encode_seconds = t.elapsed().as_secs_f64();
    tracing::info!(bucket, runs = runs.len(), encode_seconds, "writing shard");
    progress.stage("writing", model.nlist() as u64);
    let t = Instant::now();
    let bytes = write_file_atomic(output, |file, name| {
        let sink = BufWriter::with_capacity(1 << 20, file);
        let mut w = ShardWriter::new(sink, model, storage, labels.as_deref(), name)?;
        let mut row = vec![0f32; dim];
        let rl = row_len(storage, dim);
        for l in 0..model.nlist() {
            ivfpq_core::interrupt::check()?;
            let mut p = Partition::empty(storage);
            for run in &runs {
                let part = run.read(l)?;
                for (i, &id) in part.ids.iter().enumerate() {
                    get_row(storage, &part.rows[i * rl..(i + 1) * rl], &mut row);
                    let code = &part.codes[i * model.code_len()..(i + 1) * model.code_len()];
                    p.push_encoded(model, code, id, &row)?;
                }
            }
            w.write_partition(&p)?;
            progress.advance(1);
        }
        w.finish()
    })?;
    let spilled = runs.len();
    drop(runs);
    drop(temp);
    Ok(BuildReport {
        rows: rows_done,
        bytes,
        chunk_rows,
        runs: spilled,
        encode_seconds,
        write_seconds: t.elapsed().as_secs_f64(),
    })
}

/// Bytes a row of a chunk takes while it is encoded: the file's bytes, the widened f32
/// row, the prepared copy (cosine), the encoder's residuals and rotated copy, the code,
/// its partition and id, and the spill buffer's row.
fn row_budget(model: &IvfPqModel, dim: usize, storage: VectorStorage, elem: &str) -> u64 {
    let file = if elem == "f16" { 2 } else { 4 } * dim;
    let floats = 4 * 4 * dim;
    (file + floats + 2 * model.code_len() + 16 + row_len(storage, dim)) as u64
}

/// Bytes of a model in memory: its centroids, their precomputed tables and the codebooks.
fn model_bytes(model: &IvfPqModel) -> u64 {
    let centroids = (model.centroids().len() * 4) as u64;
    let codebooks = model.pq().map_or(0, |pq| pq.codebooks().len() * 4) as u64;
    let rotation = model.rotation().map_or(0, |r| r.matrix().len() * 4) as u64;
    2 * centroids + codebooks + rotation
}

/// The hidden folder of one output's spilled runs.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Removes what a killed build of `output` left (its runs folder and temporary shard
    /// file), then makes this build's folder.
    fn create(output: &Path, under: Option<&Path>) -> Result<TempDir> {
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| invalid("output", format!("{} names no file", output.display())))?;
        let runs_prefix = format!(".{name}.build-");
        let (folder, tmp_prefix) = ivfpq_io::temp_file_prefix(output);
        let folder = folder.as_path();
        for dir in [Some(folder), under].into_iter().flatten() {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&runs_prefix) {
                    let _ = std::fs::remove_dir_all(e.path());
                } else if n.starts_with(&tmp_prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let path = under
            .unwrap_or(folder)
            .join(format!("{runs_prefix}{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| ivfpq_io::IoError::Os {
            path: path.clone(),
            source: e,
        })?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
