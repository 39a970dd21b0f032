//! `ivfpq collection`: create a collection, add shards, list versions, and search it in
//! one step or as map (`search-shard`) and reduce (`merge`) steps. Changing rows is in
//! `collection_update`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ivfpq::core::Metric;
use ivfpq::io::{OpenOptions, Shard, read_vectors};
use ivfpq::shard::{
    Collection, CollectionOptions, SearchOptions, SearchResults, merge_named, read_results,
    write_csv, write_results,
};

use crate::metric_arg::MetricArg;
use crate::query_args::QuerySettings;
use crate::store::StoreArgs;

/// `ivfpq collection` subcommands.
#[derive(Subcommand)]
pub enum CollectionCommand {
    /// Create a collection: its model file and version 1.
    Create(CreateArgs),
    /// Add shard files built with the collection's model, committed as one new version.
    Add(AddArgs),
    /// Add rows (vectors with ids) as a growing segment, searched at once.
    AddRows(crate::collection_update::RowsArgs),
    /// Add rows, replacing the rows of ids that exist, in one version.
    Upsert(crate::collection_update::RowsArgs),
    /// Delete rows by id.
    Delete(crate::collection_update::DeleteArgs),
    /// Encode the growing segments into a shard.
    Seal(crate::collection_update::SealArgs),
    /// Rewrite shards with many deleted rows, and merge small ones.
    Compact(crate::collection_update::CompactArgs),
    /// Remove old versions and files no remaining version references.
    Vacuum(crate::collection_update::VacuumArgs),
    /// Time adds of a few batch sizes on a new scratch collection.
    BenchAdd(crate::collection_update::BenchAddArgs),
    /// Search every shard of a version and merge the results.
    Search(SearchArgs),
    /// Map step: search one shard and write its partial result (.arrow).
    SearchShard(SearchShardArgs),
    /// Reduce step: merge partial results into the top k per query.
    Merge(MergeArgs),
    /// List the versions.
    Versions(UriArgs),
    /// Print a version's manifest summary and its shards.
    Inspect(UriArgs),
}

/// Options of `collection create`.
#[derive(Args)]
pub struct CreateArgs {
    /// The collection: a local folder or an object-store URL.
    uri: String,
    /// The model: a model file, or any shard built with it (`ivfpq build` output).
    #[arg(long, required_unless_present = "separately_trained")]
    model: Option<String>,
    /// Shards trained each on their own (no shared model): every search reranks exactly.
    #[arg(long, conflicts_with = "model", requires_all = ["dim", "metric"])]
    separately_trained: bool,
    /// Vector dimension (with --separately-trained).
    #[arg(long)]
    dim: Option<usize>,
    /// Metric (with --separately-trained).
    #[arg(long, value_enum)]
    metric: Option<MetricArg>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Options of `collection add`.
#[derive(Args)]
pub struct AddArgs {
    /// The collection.
    uri: String,
    /// Local shard files.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// A collection and, optionally, a version.
#[derive(Args)]
pub struct UriArgs {
    /// The collection.
    uri: String,
    /// The version (default: the newest).
    #[arg(long)]
    version: Option<u64>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Search settings shared by `search` and `search-shard`.
#[derive(Args)]
pub struct QueryArgs {
    /// Query vectors: .fvecs, .npy or Arrow IPC.
    #[arg(long)]
    queries: PathBuf,
    #[command(flatten)]
    settings: QuerySettings,
    /// Add each result's stored vector.
    #[arg(long)]
    with_vectors: bool,
    /// Copy remote shards to this folder first when the batch has at least
    /// --download-min-queries queries.
    #[arg(long)]
    local_cache: Option<PathBuf>,
    /// See --local-cache.
    #[arg(long, default_value_t = 1000)]
    download_min_queries: usize,
}

impl QueryArgs {
    fn options(&self) -> SearchOptions {
        SearchOptions::new(self.settings.params()).with_vectors(self.with_vectors)
    }
}

/// Options of `collection search`.
#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    at: UriArgs,
    #[command(flatten)]
    query: QueryArgs,
    /// Results file (.csv or .arrow); without it, CSV goes to stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Print time, requests and round trips to stderr.
    #[arg(long)]
    stats: bool,
}

/// Options of `collection search-shard`.
#[derive(Args)]
pub struct SearchShardArgs {
    #[command(flatten)]
    at: UriArgs,
    /// The shard's index in the version's manifest (see `inspect`).
    #[arg(long)]
    shard: usize,
    #[command(flatten)]
    query: QueryArgs,
    /// The partial result file (.arrow).
    #[arg(long)]
    output: PathBuf,
}

/// Options of `collection merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// Partial result files (.arrow) from `search-shard`.
    #[arg(required = true)]
    partials: Vec<PathBuf>,
    /// Merged results (.csv or .arrow); without it, CSV goes to stdout.
    #[arg(long)]
    output: Option<PathBuf>,
}

type Res = Result<(), Box<dyn std::error::Error>>;

pub fn run(cmd: CollectionCommand) -> Res {
    match cmd {
        CollectionCommand::Create(a) => create(a),
        CollectionCommand::Add(a) => {
            let c = Collection::open(&a.uri, options(&a.store, None)?)?;
            let v = c.add_shard_files(&a.shards)?;
            outln!("{}: version {v}: added {} shards", a.uri, a.shards.len())?;
            Ok(())
        }
        CollectionCommand::AddRows(a) => crate::collection_update::add_rows(a, false),
        CollectionCommand::Upsert(a) => crate::collection_update::add_rows(a, true),
        CollectionCommand::Delete(a) => crate::collection_update::delete(a),
        CollectionCommand::Seal(a) => crate::collection_update::seal(a),
        CollectionCommand::Compact(a) => crate::collection_update::compact(a),
        CollectionCommand::Vacuum(a) => crate::collection_update::vacuum(a),
        CollectionCommand::BenchAdd(a) => crate::collection_update::bench_add(a),
        CollectionCommand::Search(a) => search(a),
        CollectionCommand::SearchShard(a) => {
            let c = open(&a.at, &a.query)?;
            let q = read_vectors(&a.query.queries, "id")?;
            let part = c.search_shard(a.shard, &q.data, &a.query.options())?;
            write_results(&a.output, &part)?;
            Ok(())
        }
        CollectionCommand::Merge(a) => {
            let parts = a
                .partials
                .iter()
                .map(|p| read_results(p))
                .collect::<Result<Vec<_>, _>>()?;
            let names: Vec<String> = a.partials.iter().map(|p| p.display().to_string()).collect();
            emit(&merge_named(&parts, &names)?, a.output.as_ref())
        }
        CollectionCommand::Versions(a) => {
            let c = Collection::open(&a.uri, options(&a.store, None)?)?;
            outln!(
                "{:>8}  {:>14}  {:>7}  {:>12}  operation",
                "version",
                "time_ms",
                "shards",
                "rows"
            )?;
            for v in c.versions()? {
                outln!(
                    "{:>8}  {:>14}  {:>7}  {:>12}  {}",
                    v.version,
                    v.timestamp_ms,
                    v.shards,
                    v.rows,
                    v.operation
                )?;
            }
            Ok(())
        }
        CollectionCommand::Inspect(a) => {
            let c = open_at(&a, options(&a.store, None)?)?;
            let m = c.manifest();
            outln!(
                "collection {}  version {}  ({})",
                a.uri,
                m.version,
                m.operation
            )?;
            outln!(
                "dim {}  metric {}  rows {} in shards, {} growing, {} live",
                m.dim,
                m.metric,
                m.rows(),
                m.growing_rows(),
                m.live_rows()
            )?;
            match &m.model {
                Some(r) => outln!("model {} ({})", r.hash, r.path)?,
                None => outln!("model: none (shards trained separately; searches rerank exactly)")?,
            }
            if let Some(e) = &m.embedding {
                outln!(
                    "embedding {} {}  ({}-d {}; raw inputs are embedded by the caller)",
                    e.name,
                    e.config,
                    e.dim,
                    e.metric
                )?;
            }
            outln!(
                "{:>5}  {:>12}  {:>10}  {:>14}  {:>8}  {:>16}  {:>5}  path",
                "shard",
                "rows",
                "deleted",
                "bytes",
                "checksum",
                "model",
                "store"
            )?;
            for (i, s) in m.shards.iter().enumerate() {
                outln!(
                    "{i:>5}  {:>12}  {:>10}  {:>14}  {:08x}  {:>16}  {:>5}  {}",
                    s.rows,
                    s.rows - s.live_rows(),
                    s.bytes,
                    s.checksum,
                    s.model_hash,
                    s.storage,
                    s.path
                )?;
            }
            for (j, g) in m.growing.iter().enumerate() {
                outln!(
                    "{:>5}  {:>12}  {:>10}  {:>14}  {:>8}  {:>16}  {:>5}  {}",
                    m.shards.len() + j,
                    g.rows,
                    g.rows - g.live_rows(),
                    g.bytes,
                    "-",
                    "growing",
                    "f32",
                    g.path
                )?;
            }
            Ok(())
        }
    }
}

fn create(a: CreateArgs) -> Res {
    let opts = options(&a.store, None)?;
    let c = match (&a.model, a.separately_trained) {
        (Some(model), _) => {
            // A model file is a shard with no rows, so any shard's model reads the same way.
            let shard = Shard::open(
                model,
                &OpenOptions {
                    cache_bytes: 0,
                    store: a.store.store_options()?,
                },
            )?;
            Collection::create(&a.uri, shard.model(), opts)?
        }
        (None, _) => {
            let metric: Metric = a.metric.map_or(Metric::L2, MetricArg::metric);
            Collection::create_separately_trained(&a.uri, a.dim.unwrap_or(0), metric, opts)?
        }
    };
    let m = c.manifest();
    outln!(
        "created {}: version {}, dim {}, metric {}, model {}",
        a.uri,
        m.version,
        m.dim,
        m.metric,
        m.model
            .as_ref()
            .map_or("none (separately trained)", |r| r.hash.as_str())
    )?;
    Ok(())
}

fn search(a: SearchArgs) -> Res {
    let c = open(&a.at, &a.query)?;
    let q = read_vectors(&a.query.queries, "id")?;
    let t = std::time::Instant::now();
    let res = c.search(&q.data, &a.query.options())?;
    let secs = t.elapsed().as_secs_f64();
    if a.stats {
        let s = res.stats;
        eprintln!(
            "version {}: {} queries over {} shards in {secs:.3}s; {} requests, {} round trips, {} bytes fetched, {} partitions probed",
            c.version(),
            q.len(),
            s.shards,
            s.requests,
            s.round_trips,
            s.bytes_fetched,
            s.partitions
        );
    }
    emit(&res, a.output.as_ref())
}

fn emit(res: &SearchResults, output: Option<&PathBuf>) -> Res {
    match output {
        Some(p) => write_results(p, res)?,
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_csv(&mut out, res)?;
            std::io::Write::flush(&mut out)?;
        }
    }
    Ok(())
}

pub fn options(store: &StoreArgs, q: Option<&QueryArgs>) -> Result<CollectionOptions, String> {
    let o = store.open_options()?;
    let mut c = CollectionOptions::default()
        .with_store(o.store)
        .with_cache_bytes(o.cache_bytes);
    if let Some(dir) = q.and_then(|q| q.local_cache.clone()) {
        c = c.with_local_cache(dir, q.map_or(1000, |q| q.download_min_queries));
    }
    Ok(c)
}

fn open_at(a: &UriArgs, opts: CollectionOptions) -> Result<Collection, Box<dyn std::error::Error>> {
    Ok(match a.version {
        Some(v) => Collection::open_version(&a.uri, v, opts)?,
        None => Collection::open(&a.uri, opts)?,
    })
}

fn open(at: &UriArgs, q: &QueryArgs) -> Result<Collection, Box<dyn std::error::Error>> {
    open_at(at, options(&at.store, Some(q))?)
}
