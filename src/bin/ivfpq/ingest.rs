//! `ivfpq plan`, `ivfpq train` and `ivfpq merge-shards`: the out-of-core build's steps
//! (with `ivfpq build --plan`), and the progress bar they share.

use std::path::PathBuf;
use std::sync::Mutex;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ivfpq::io::write_model;
use ivfpq::shard::ingest::{Plan, Progress, merge_shards, peak_rss, train_model};

use crate::code_args::describe;
use crate::model_args::ModelArgs;

/// Options of `ivfpq plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// Input files (.npy f32 or f16, .fvecs, Arrow IPC, and HDF5 .h5 when built with the
    /// `hdf5` feature), in order: rows without ids are numbered on across them.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// The most rows a bucket (one shard) holds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    bucket_rows: u64,
    /// Where to write the plan (JSON).
    #[arg(long)]
    output: PathBuf,
    /// Id column of Arrow input, or id dataset of HDF5 input (integers or strings);
    /// without it rows are numbered.
    #[arg(long, alias = "id-dataset", default_value = "id")]
    id_column: String,
    /// The HDF5 dataset of vectors (2-D, f32 or f16).
    #[arg(long, default_value = ivfpq::io::DEFAULT_VECTOR_DATASET)]
    vector_dataset: String,
}

pub fn plan(a: PlanArgs) -> Result<(), Box<dyn std::error::Error>> {
    let plan = Plan::with_datasets(&a.input, a.bucket_rows, &a.id_column, &a.vector_dataset)?;
    plan.save(&a.output)?;
    outln!(
        "{} rows of {}-d {} in {} files → {} buckets of at most {} rows: {}",
        plan.rows(),
        plan.dim,
        plan.element_type,
        plan.files.len(),
        plan.buckets.len(),
        plan.bucket_rows,
        a.output.display()
    )?;
    outln!("{:>7} {:>12} {:>6}  parts", "bucket", "rows", "fill")?;
    for (i, b) in plan.buckets.iter().enumerate() {
        let parts: Vec<String> = b
            .parts
            .iter()
            .map(|p| {
                format!(
                    "{}[{}..{}]",
                    plan.files[p.file].path.display(),
                    p.start,
                    p.end
                )
            })
            .collect();
        outln!(
            "{i:>7} {:>12} {:>5.1}%  {}",
            b.rows(),
            100.0 * b.rows() as f64 / plan.bucket_rows as f64,
            parts.join(" ")
        )?;
    }
    Ok(())
}

/// Options of `ivfpq train`.
#[derive(Args)]
pub struct TrainArgs {
    /// A plan from `ivfpq plan`.
    #[arg(long, conflicts_with = "input", required_unless_present = "input")]
    plan: Option<PathBuf>,
    /// Input files instead of a plan.
    #[arg(long, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Where to write the model file.
    #[arg(long)]
    output: PathBuf,
    /// Rows to train on (default: 256 a partition, within --memory-limit).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    sample: Option<u64>,
    /// The most memory training may hold, e.g. 2GiB or 512MiB.
    #[arg(long, value_parser = parse_bytes, default_value = "2GiB")]
    memory_limit: u64,
    /// Id column of Arrow input, or id dataset of HDF5 input.
    #[arg(long, alias = "id-dataset", default_value = "id")]
    id_column: String,
    /// The HDF5 dataset of vectors.
    #[arg(long, default_value = ivfpq::io::DEFAULT_VECTOR_DATASET)]
    vector_dataset: String,
    #[command(flatten)]
    model_args: ModelArgs,
}

pub fn train(a: TrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let plan = match &a.plan {
        Some(p) => Plan::load(p)?,
        None => Plan::with_datasets(&a.input, u64::MAX, &a.id_column, &a.vector_dataset)?,
    };
    let params = a.model_args.params();
    let t = std::time::Instant::now();
    let bar = Bar::default();
    let sample = a.sample.map(|s| usize::try_from(s).unwrap_or(usize::MAX));
    let model = train_model(&plan, &params, sample, Some(a.memory_limit), &bar)?;
    bar.done();
    let hash = write_model(&model, &a.output)?;
    outln!(
        "wrote {} (model {}): dim {}, nlist {}, codes {}, trained on {} rows in {:.1}s{}",
        a.output.display(),
        hash.hex(),
        model.dim(),
        model.nlist(),
        describe(&model),
        plan.rows(),
        t.elapsed().as_secs_f64(),
        rss_note()
    )?;
    Ok(())
}

/// Options of `ivfpq merge-shards`.
#[derive(Args)]
pub struct MergeArgs {
    /// Shard files of one model, in order.
    #[arg(long, num_args = 1.., required = true)]
    inputs: Vec<PathBuf>,
    /// The merged shard file.
    #[arg(long)]
    output: PathBuf,
}

pub fn merge(a: MergeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let bar = Bar::default();
    let len = merge_shards(&a.inputs, &a.output, &bar)?;
    bar.done();
    outln!(
        "wrote {} ({len} bytes) from {} shards{}",
        a.output.display(),
        a.inputs.len(),
        rss_note()
    )?;
    Ok(())
}

/// `, peak memory N MiB` where the system reports it.
pub fn rss_note() -> String {
    peak_rss().map_or(String::new(), |b| format!(", peak memory {} MiB", b >> 20))
}

/// Parses a byte count: `2GiB`, `512MiB`, `64M`, `1G`, `4096`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 2GiB"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {s:?} (B, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let bytes = v * mul as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// A progress bar per stage; hidden when stderr is not a terminal.
#[derive(Default)]
pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    pub fn done(&self) {
        if let Ok(mut b) = self.bar.lock()
            && let Some(b) = b.take()
        {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn stage(&self, name: &'static str, total: u64) {
        let Ok(mut slot) = self.bar.lock() else {
            return;
        };
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {human_pos}/{human_len} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let b = if total == 0 {
            let b = ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            b
        } else {
            ProgressBar::new(total).with_style(style)
        };
        b.set_message(name);
        *slot = Some(b);
    }

    fn advance(&self, n: u64) {
        if let Ok(b) = self.bar.lock()
            && let Some(b) = b.as_ref()
        {
            b.inc(n);
        }
    }
}
