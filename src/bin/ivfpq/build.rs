//! `ivfpq build`: vectors from a file → one shard file, local or on object storage.

use std::path::{Path, PathBuf};

use clap::Args;
use ivfpq::core::{IndexParams, IvfPqIndex};
use ivfpq::io::{
    InputIds, Shard, is_url, read_vectors, upload_file, write_model, write_shard_labeled,
};

use crate::bench::spinner;
use crate::code_args::{CodeArgs, describe};
use crate::metric_arg::MetricArg;
use crate::store::StoreArgs;
use crate::vectors_arg::VectorsArg;

/// Options of `ivfpq build`.
#[derive(Args)]
pub struct BuildArgs {
    /// Input vectors: .fvecs, .npy (f32, 2-D) or Arrow IPC (.arrow) with an id column.
    #[arg(long)]
    input: PathBuf,
    /// Output shard: a local path or an object-store URL (s3://bucket/key, ...).
    #[arg(long)]
    output: String,
    /// Metric.
    #[arg(long, value_enum, default_value_t = MetricArg::L2)]
    metric: MetricArg,
    /// Coarse partitions (default: sqrt(n)).
    #[arg(long)]
    nlist: Option<usize>,
    /// PQ sub-quantizers (default: dim / 16 for 8-bit codes, dim / 8 for 4-bit).
    #[arg(long)]
    m: Option<usize>,
    /// Bits per code: PQ 8, or 4 for fast-scan; RaBitQ 1 to 8 a coordinate.
    #[arg(long, default_value_t = 8)]
    bits: u32,
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
    /// RNG seed: the same input and seed give a byte-identical shard.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    codes: CodeArgs,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(a: BuildArgs) -> Result<(), Box<dyn std::error::Error>> {
    let storage = a.vectors.storage();
    let store = a.store.store_options()?;
    let sp = spinner(&format!("reading {}", a.input.display()));
    let input = read_vectors(&a.input, &a.id_column)?;
    let n = input.len();
    let (ids, labels): (Vec<u64>, Option<Vec<String>>) = match input.ids {
        InputIds::RowNumbers => ((0..n as u64).collect(), None),
        InputIds::Numbers(v) => (v, None),
        // String ids: rows are numbered, and the shard keeps the strings.
        InputIds::Strings(s) => ((0..n as u64).collect(), Some(s)),
    };
    let mut params = IndexParams::default()
        .with_metric(a.metric.metric())
        .with_nbits(a.bits)
        .with_seed(a.seed)
        .with_storage(storage);
    params.nlist = a.nlist;
    params.m = a.m;
    let params = a.codes.apply(params);
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
    let len = if is_url(&a.output) {
        // Stream to a local temporary file, then upload without replacing anything.
        let tmp = std::env::temp_dir().join(format!("ivfpq-upload-{}.shard", std::process::id()));
        let res = write_shard_labeled(&index, labels.as_deref(), &tmp)
            .and_then(|_| upload_file(&tmp, &a.output, &store));
        let _ = std::fs::remove_file(&tmp);
        res?
    } else {
        write_shard_labeled(&index, labels.as_deref(), Path::new(&a.output))?
    };
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
