//! `ivfpq build`: vectors from a file → one shard file, local or on object storage.

use std::path::{Path, PathBuf};

use clap::Args;
use ivfpq::core::IvfPqIndex;
use ivfpq::io::{
    InputIds, Shard, is_url, read_vectors, upload_file, write_model, write_shard_labeled,
};

use ivfpq::io::StoreOptions;
use ivfpq::shard::ShardError;
use ivfpq::shard::ingest::{BuildOptions, Plan, build_bucket};

use crate::bench::spinner;
use crate::code_args::describe;
use crate::ingest::{Bar, rss_note};
use crate::model_args::ModelArgs;
use crate::store::StoreArgs;
use crate::vectors_arg::VectorsArg;

/// Options of `ivfpq build`.
#[derive(Args)]
pub struct BuildArgs {
    /// Input vectors: .fvecs, .npy (f32 or f16, 2-D) or Arrow IPC (.arrow) with an id
    /// column, read whole into memory (use --plan to build within a memory limit).
    #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
    input: Option<PathBuf>,
    /// Build one bucket of this plan (`ivfpq plan`) out of core, with --model and
    /// --bucket: rows are read, encoded and spilled a chunk at a time.
    #[arg(long, requires_all = ["model", "bucket"])]
    plan: Option<PathBuf>,
    /// The bucket of --plan to build.
    #[arg(long, requires = "plan")]
    bucket: Option<usize>,
    /// The most memory an out-of-core build (--plan) may use, e.g. 2GiB or 64MiB.
    #[arg(long, value_parser = crate::ingest::parse_bytes, default_value = "2GiB")]
    memory_limit: u64,
    /// Where an out-of-core build spills its runs (default: a hidden folder beside
    /// --output).
    #[arg(long, requires = "plan")]
    temp_dir: Option<PathBuf>,
    /// Output shard: a local path or an object-store URL (s3://bucket/key, ...).
    #[arg(long)]
    output: String,
    /// Refine vectors stored in the shard.
    #[arg(long, value_enum, default_value_t = VectorsArg::F32)]
    vectors: VectorsArg,
    /// Id column of Arrow input (u64, i64 or string); without it rows are numbered.
    #[arg(long, default_value = "id")]
    id_column: String,
    /// Encode with this trained model (a model file, or any shard built with it) instead
    /// of training one: every shard of a collection is built this way.
    #[arg(long, conflicts_with_all = ["nlist", "m"])]
    model: Option<PathBuf>,
    /// Also write the trained model as a model file (to create a collection with).
    #[arg(long)]
    model_output: Option<PathBuf>,
    #[command(flatten)]
    model_args: ModelArgs,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(a: BuildArgs) -> Result<(), Box<dyn std::error::Error>> {
    let storage = a.vectors.storage();
    let store = a.store.store_options()?;
    if let (Some(plan), Some(bucket), Some(model)) = (&a.plan, a.bucket, &a.model) {
        return run_bucket(&a, plan, bucket, model, &store);
    }
    let Some(input_path) = &a.input else {
        return Err("--input or --plan is required".into());
    };
    let sp = spinner(&format!("reading {}", input_path.display()));
    let input = read_vectors(input_path, &a.id_column)?;
    let n = input.len();
    let (ids, labels): (Vec<u64>, Option<Vec<String>>) = match input.ids {
        InputIds::RowNumbers => ((0..n as u64).collect(), None),
        InputIds::Numbers(v) => (v, None),
        // String ids: rows are numbered, and the shard keeps the strings.
        InputIds::Strings(s) => ((0..n as u64).collect(), Some(s)),
    };
    let params = a.model_args.params().with_storage(storage);
    let t = std::time::Instant::now();
    let index = match &a.model {
        Some(path) => {
            sp.set_message(format!("encoding {n} × {} vectors", input.dim));
            let shard = Shard::open(&path.display().to_string(), &Default::default())?;
            let mut index = IvfPqIndex::new(shard.model().clone(), storage);
            index.add(&input.data, &ids)?;
            index
        }
        None => {
            sp.set_message(format!("training and adding {n} × {} vectors", input.dim));
            IvfPqIndex::build(&input.data, &ids, input.dim, &params)?
        }
    };
    if let Some(path) = &a.model_output {
        write_model(index.model(), path)?;
    }
    let build_s = t.elapsed().as_secs_f64();
    sp.set_message(format!("writing {}", a.output));
    let len = write_output(&a.output, &store, |path| {
        write_shard_labeled(&index, labels.as_deref(), path)
    })?;
    sp.finish_and_clear();
    outln!(
        "wrote {} ({len} bytes): {n} vectors, dim {}, nlist {}, codes {}, metric {}, build {build_s:.2}s",
        a.output,
        input.dim,
        index.model().nlist(),
        describe(index.model()),
        index.metric()
    )?;
    Ok(())
}

/// Writes a shard with `write` to `output`: in place for a local path; for a URL, to a
/// local temporary file, then uploaded without replacing anything.
fn write_output<E: std::error::Error + 'static>(
    output: &str,
    store: &StoreOptions,
    write: impl FnOnce(&Path) -> Result<u64, E>,
) -> Result<u64, Box<dyn std::error::Error>> {
    if !is_url(output) {
        return Ok(write(Path::new(output))?);
    }
    let tmp = std::env::temp_dir().join(format!("ivfpq-upload-{}.shard", std::process::id()));
    let res: Result<u64, Box<dyn std::error::Error>> = match write(&tmp) {
        Ok(_) => upload_file(&tmp, output, store).map_err(Into::into),
        Err(e) => Err(e.into()),
    };
    let _ = std::fs::remove_file(&tmp);
    res
}

/// `ivfpq build --plan P --bucket I --model M`: one bucket, out of core.
fn run_bucket(
    a: &BuildArgs,
    plan: &Path,
    bucket: usize,
    model: &Path,
    store: &StoreOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    let plan = Plan::load(plan)?;
    let model = Shard::open(&model.display().to_string(), &Default::default())?
        .model()
        .clone();
    let mut opts = BuildOptions::default()
        .with_memory_limit(a.memory_limit)
        .with_storage(a.vectors.storage());
    if let Some(dir) = &a.temp_dir {
        opts = opts.with_temp_dir(dir);
    }
    let bar = Bar::default();
    let mut report = None;
    let len = write_output(&a.output, store, |path| {
        let r = build_bucket(&plan, bucket, &model, path, &opts, &bar)?;
        let bytes = r.bytes;
        report = Some(r);
        Ok::<u64, ShardError>(bytes)
    })?;
    bar.done();
    let Some(r) = report else {
        return Err("the bucket build reported nothing".into());
    };
    outln!(
        "wrote {} ({len} bytes): bucket {bucket}, {} vectors, dim {}, nlist {}, codes {}, \
         encoded in {:.1}s ({} runs of up to {} rows), written in {:.1}s{}",
        a.output,
        r.rows,
        model.dim(),
        model.nlist(),
        describe(&model),
        r.encode_seconds,
        r.runs,
        r.chunk_rows,
        r.write_seconds,
        rss_note()
    )?;
    Ok(())
}
