//! `ivfpq bench`: build on a dataset folder and sweep nprobe × refine.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ivfpq::core::{
    IndexParams, IvfPqIndex, IvfPqModel, Metric, QueryBatch, SearchParams, VectorStorage,
};
use ivfpq::datasets::{SynthSpec, try_synthetic};
use ivfpq::io::Dataset;

use crate::code_args::{CodeArgs, describe, kind};
use crate::metric_arg::MetricArg;
use crate::probe_arg::ProbeRatio;
use crate::refine_arg::Refine;
use crate::report::{Rows, Val};
use crate::scan_args::ScanArgs;
use crate::vectors_arg::VectorsArg;

/// Options of `ivfpq bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Dataset folder (base.fvecs, query.fvecs, gt.ivecs, meta.json). Without it, a
    /// synthetic dataset is generated in memory (see --synth-*).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Coarse partitions (default: sqrt(n)).
    #[arg(long)]
    nlist: Option<usize>,
    /// PQ sub-quantizers (default: dim/16 for 8-bit codes, dim/8 for 4-bit).
    #[arg(long)]
    m: Option<usize>,
    /// Bits per code: PQ 8, or 4 for fast-scan; RaBitQ 1 to 8 a coordinate.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// Comma-separated nprobe values.
    #[arg(long, default_value = "4,8,16,32,64", value_delimiter = ',')]
    nprobe: Vec<usize>,
    /// Comma-separated refine factors: N reranks k·N candidates (1 = no rerank); auto
    /// (or auto:N, at most k·N) stops once no further candidate can enter the top k.
    #[arg(long, default_value = "1,4,16", value_delimiter = ',')]
    refine: Vec<Refine>,
    /// Comma-separated adaptive probing ratios (l2, cosine): beyond the nearest
    /// nprobe/4 lists, probe a list only while its coarse distance is at most this times
    /// the nearest's (nprobe is then a cap); off probes nprobe lists.
    #[arg(long, default_value = "off", value_delimiter = ',')]
    probe_ratio: Vec<ProbeRatio>,
    #[command(flatten)]
    scan: ScanArgs,
    /// Threads for build and search, 1 to 4096 (default: all cores).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    threads: Option<usize>,
    /// Append one JSON object per row to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// RNG seed for training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Refine vectors stored with the codes.
    #[arg(long, alias = "storage", value_enum, default_value_t = VectorsArg::F32)]
    vectors: VectorsArg,
    /// Print each row as `key=value` pairs, the format of the FAISS and hnswlib harness
    /// (docs/benchmarks.md), instead of a table.
    #[arg(long)]
    keys: bool,
    /// Also split the rows into this many shards of the same model and search them as a
    /// collection (rows with engine=ivfpq-collection), timed alternately with the single
    /// index.
    #[arg(long)]
    shards: Option<usize>,
    /// With --shards: delete this share of the rows (seeded, at random) from the
    /// collection, and build the single index of the live rows only; recall counts the
    /// live rows' ground truth.
    #[arg(long, default_value_t = 0.0, requires = "shards", value_parser = crate::bench_collection::fraction)]
    deleted: f64,
    /// With --shards: add this share of the rows (the last ones) as growing rows, searched
    /// exactly, instead of encoding them into the shards.
    #[arg(long, default_value_t = 0.0, requires = "shards", value_parser = crate::bench_collection::fraction)]
    growing: f64,
    /// Time each setting this many times (1 to 1000) and report the median QPS (the
    /// machine is noisy).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    repeat: usize,
    /// Send the queries this many at a time, one batch after another (default: all at
    /// once); 1 times one query a call, as a service answering single requests.
    #[arg(long, value_parser = crate::at_least_one())]
    batch: Option<usize>,
    #[command(flatten)]
    codes: CodeArgs,
    /// Synthetic dataset: base vectors (at least 1).
    #[arg(long, default_value_t = 100_000, value_parser = crate::at_least_one())]
    synth_n: usize,
    /// Synthetic dataset: dimension (at least 1).
    #[arg(long, default_value_t = 128, value_parser = crate::at_least_one())]
    synth_dim: usize,
    /// Synthetic dataset: metric.
    #[arg(long, value_enum, default_value_t = MetricArg::L2)]
    synth_metric: MetricArg,
}

const K: usize = 10;

pub fn run(a: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let storage = a.vectors.storage();
    let (mut ds, name) = match &a.dataset {
        Some(dir) => (Dataset::load(dir)?, dir.display().to_string()),
        None => {
            let spec = SynthSpec {
                n: a.synth_n,
                dim: a.synth_dim,
                metric: a.synth_metric.metric(),
                ..Default::default()
            };
            let spin = spinner(&format!(
                "generating synthetic {}x{} with exact ground truth",
                spec.n, spec.dim
            ));
            let ds = pool.install(|| try_synthetic(&spec))?;
            spin.finish_and_clear();
            (
                ds,
                format!(
                    "synthetic(n={}, dim={}, seed={})",
                    spec.n, spec.dim, spec.seed
                ),
            )
        }
    };
    let n = ds.base.len() / ds.dim;
    let nq = ds.queries.len() / ds.dim;
    let mut params = IndexParams::default()
        .with_metric(ds.metric)
        .with_nbits(a.bits)
        .with_seed(a.seed)
        .with_storage(storage);
    params.nlist = a.nlist;
    params.m = a.m;
    let params = a.codes.apply(params);
    let nlist = params.resolved_nlist(n);
    let t0 = Instant::now();
    let spin = spinner("training (coarse k-means, then the codes)");
    let model = pool.install(|| IvfPqModel::train(&ds.base, ds.dim, &params))?;
    spin.finish_and_clear();
    let (codes, code_kind) = (describe(&model), kind(&model));
    let m = model.pq().map_or(0, |pq| pq.m());
    outln!(
        "# {name}: n={n} dim={} queries={nq} metric={} nlist={nlist} codes={codes} {} threads={threads} simd={}",
        ds.dim,
        ds.metric,
        a.scan.describe(),
        ivfpq::simd::level()
    )?;
    let train_s = t0.elapsed().as_secs_f64();
    let deleted = crate::bench_collection::pick_deleted(n, a.deleted, a.seed);
    if !deleted.is_empty() {
        crate::bench_collection::drop_from_truth(&mut ds, &deleted);
    }
    let mut index = IvfPqIndex::new(model.into(), storage);
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("adding {bar:40} {pos}/{len} vectors ({eta})")
            .unwrap_or(ProgressStyle::default_bar()),
    );
    const CHUNK: usize = 65_536;
    for (c, rows) in ds.base.chunks(CHUNK * ds.dim).enumerate() {
        let ids: Vec<u64> = (c * CHUNK..c * CHUNK + rows.len() / ds.dim)
            .map(|i| i as u64)
            .collect();
        bar.inc(ids.len() as u64);
        if !deleted.is_empty() {
            // A fresh build of the live rows only.
            let (rows, ids) = crate::bench_collection::live_only(rows, &ids, ds.dim, &deleted);
            pool.install(|| index.add(&rows, &ids))?;
            continue;
        }
        pool.install(|| index.add(rows, &ids))?;
    }
    bar.finish_and_clear();
    let build_s = t0.elapsed().as_secs_f64();
    let metric: Metric = ds.metric;
    // Codes (with RaBitQ's factors and records) and refine vectors a vector; ids not
    // counted.
    let stored: usize = index
        .partitions()
        .iter()
        .map(|p| p.codes.len() + p.aux.len() + p.records.len())
        .sum();
    let code_bytes = stored as f64 / n as f64;
    let row_bytes = match storage {
        VectorStorage::F16 => 2 * ds.dim,
        VectorStorage::F32 => 4 * ds.dim,
        _ => 0,
    };
    let coll = if let Some(shards) = a.shards.filter(|&s| s > 0) {
        let spin = spinner(&format!("writing {shards} shards as a collection"));
        let c = crate::bench_collection::build(&index, &ds, shards, &pool, (a.growing, &deleted))?;
        spin.finish_and_clear();
        Some(c)
    } else {
        None
    };
    let mut out = Rows::new(!a.keys, a.json.as_deref());
    out.header(&format!(
        "trained in {train_s:.2} s, built in {build_s:.2} s; {:.1} bytes a vector ({code_bytes:.1} of codes, {row_bytes} of refine vector)",
        code_bytes + row_bytes as f64
    ))?;
    let settings = a.refine.iter().flat_map(|&r| {
        let nprobe = &a.nprobe;
        a.probe_ratio
            .iter()
            .flat_map(move |&p| nprobe.iter().map(move |&n| (r, p, n)))
    });
    for (refine, ratio, nprobe) in settings {
        let sp = a
            .scan
            .apply(refine.apply(ratio.apply(SearchParams::new(K, nprobe))));
        let warm = &ds.queries[..ds.queries.len().min(50 * ds.dim)];
        pool.install(|| index.search(warm, &sp))?;
        let mut times = Vec::new();
        let mut res = Vec::new();
        let (mut exact, mut probed) = (0, 0);
        let (mut coll_times, mut coll_found) = (Vec::new(), Vec::new());
        for _ in 0..a.repeat {
            if let Some(c) = &coll {
                let (found, secs) = crate::bench_collection::search(c, &ds.queries, &sp, &pool)?;
                coll_found = found;
                coll_times.push(secs);
            }
            let per_call = a.batch.unwrap_or(nq).min(nq).max(1) * ds.dim;
            let t = Instant::now();
            (res, exact, probed) = (Vec::with_capacity(nq), 0, 0);
            for queries in ds.queries.chunks(per_call) {
                let batch = QueryBatch::new(index.model(), queries, &sp)?;
                res.extend(pool.install(|| batch.search(&index, &index)));
                exact += batch.exact_distances();
                probed += batch.probed();
            }
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let dt = times[times.len() / 2];
        let found: Vec<Vec<u64>> = res
            .iter()
            .map(|r| r.iter().map(|nb| nb.id).collect())
            .collect();
        let row = [
            ("engine", Val::Str("ivfpq".into())),
            ("nlist", Val::Int(nlist as u64)),
            ("codes", Val::Str(code_kind.into())),
            ("m", Val::Int(m as u64)),
            ("nprobe", Val::Int(nprobe as u64)),
            ("refine", refine.value()),
            ("probe_ratio", ratio.value()),
            ("recall", Val::Float(ds.recall_at(&found, K))),
            ("qps", Val::Float(nq as f64 / dt)),
            ("train_s", Val::Float(train_s)),
            ("build_s", Val::Float(build_s)),
            ("threads", Val::Int(threads as u64)),
            ("bits", Val::Int(a.bits as u64)),
            ("metric", Val::Str(metric.to_string())),
            ("exact_per_query", Val::Float(exact as f64 / nq as f64)),
            ("probes_per_query", Val::Float(probed as f64 / nq as f64)),
            ("code_bytes", Val::Float(code_bytes)),
            (
                "bytes_per_vector",
                Val::Float(code_bytes + row_bytes as f64),
            ),
            ("vectors", Val::Str(a.vectors.name().into())),
            ("opq", Val::Str(code_kind.ends_with("opq").to_string())),
            ("shared_table", Val::Str(a.scan.shared_table().to_string())),
            ("epsilon", Val::Float(f64::from(a.scan.epsilon()))),
            ("repeat", Val::Int(a.repeat as u64)),
        ];
        out.row(&row)?;
        if coll.is_some() {
            coll_times.sort_by(f64::total_cmp);
            let dt = coll_times[coll_times.len() / 2];
            let mut crow = row.to_vec();
            for (key, v) in crow.iter_mut() {
                match *key {
                    "engine" => *v = Val::Str("ivfpq-collection".into()),
                    "recall" => *v = Val::Float(ds.recall_at(&coll_found, K)),
                    "qps" => *v = Val::Float(nq as f64 / dt),
                    _ => {}
                }
            }
            crow.push(("shards", Val::Int(a.shards.unwrap_or(0) as u64)));
            crow.push(("deleted", Val::Float(a.deleted)));
            crow.push(("growing", Val::Float(a.growing)));
            out.row(&crow)?;
        }
    }
    Ok(())
}

/// A spinner on a terminal; hidden (and free) when stderr is not one.
pub fn spinner(msg: &str) -> ProgressBar {
    let p = ProgressBar::new_spinner().with_message(msg.to_string());
    p.enable_steady_tick(std::time::Duration::from_millis(120));
    p
}
