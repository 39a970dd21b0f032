//! `ivfpq collection add-rows | upsert | delete | seal | compact | vacuum`: changing the
//! rows of a collection, and its upkeep.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ivfpq::io::{InputIds, read_vectors};
use ivfpq::shard::{Collection, CompactOptions, VacuumOptions};

use crate::ingest::Bar;
use crate::store::StoreArgs;

type Res = Result<(), Box<dyn std::error::Error>>;

/// Options of `collection add-rows` and `collection upsert`.
#[derive(Args)]
pub struct RowsArgs {
    /// The collection.
    uri: String,
    /// The rows: .fvecs, .npy or Arrow IPC (with an integer or string id column).
    #[arg(long)]
    input: PathBuf,
    /// The id column of an Arrow input.
    #[arg(long, default_value = "id")]
    id_column: String,
    /// Number rows from this id, for an input without ids (.fvecs, .npy).
    #[arg(long)]
    first_id: Option<u64>,
    /// Seal the growing rows into a shard once they reach this many.
    #[arg(long, default_value_t = 1_000_000)]
    seal_rows: u64,
    #[command(flatten)]
    store: StoreArgs,
}

/// Options of `collection delete`.
#[derive(Args)]
pub struct DeleteArgs {
    /// The collection.
    uri: String,
    /// Ids to delete, comma-separated.
    #[arg(long, value_delimiter = ',', required_unless_present_any = ["ids_file", "labels", "labels_file"])]
    ids: Vec<u64>,
    /// A file of ids to delete, one per line.
    #[arg(long)]
    ids_file: Option<PathBuf>,
    /// String ids to delete, comma-separated.
    #[arg(long, value_delimiter = ',')]
    labels: Vec<String>,
    /// A file of string ids to delete, one per line.
    #[arg(long)]
    labels_file: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Options of `collection seal`.
#[derive(Args)]
pub struct SealArgs {
    /// The collection.
    uri: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Options of `collection compact`.
#[derive(Args)]
pub struct CompactArgs {
    /// The collection.
    uri: String,
    /// Rewrite shards with at least this share of their rows deleted.
    #[arg(long, default_value_t = 0.1)]
    deleted_share: f64,
    /// Merge shards with fewer live rows than this.
    #[arg(long, default_value_t = 100_000)]
    small_rows: u64,
    /// The most live rows of a merged shard.
    #[arg(long, default_value_t = 1_000_000)]
    target_rows: u64,
    #[command(flatten)]
    store: StoreArgs,
}

/// Options of `collection vacuum`.
#[derive(Args)]
pub struct VacuumArgs {
    /// The collection.
    uri: String,
    /// Remove versions committed longer ago than this (the newest always stays), e.g.
    /// 7d, 12h, 0s.
    #[arg(long, value_parser = humantime::parse_duration)]
    older_than: Duration,
    /// Keep unreferenced files younger than this: they may belong to a commit in flight.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    grace: Duration,
    #[command(flatten)]
    store: StoreArgs,
}

fn open(uri: &str, store: &StoreArgs) -> Result<Collection, Box<dyn std::error::Error>> {
    Ok(Collection::open(
        uri,
        crate::collection::options(store, None)?,
    )?)
}

/// `add-rows` (or `upsert` when `upsert`).
pub fn add_rows(a: RowsArgs, upsert: bool) -> Res {
    let opts = crate::collection::options(&a.store, None)?.with_seal_rows(a.seal_rows);
    let c = Collection::open(&a.uri, opts)?;
    let input = read_vectors(&a.input, &a.id_column)?;
    let n = input.data.len() / input.dim.max(1);
    let ids: Vec<u64> = match (input.ids, a.first_id) {
        (InputIds::Strings(labels), None) => {
            let v = if upsert {
                c.upsert_labeled(&input.data, &labels)?
            } else {
                c.add_labeled(&input.data, &labels)?
            };
            return report(&a.uri, &c, v, n, upsert);
        }
        (InputIds::Numbers(ids), None) => ids,
        (InputIds::RowNumbers, Some(first)) => (first..first + n as u64).collect(),
        (InputIds::Numbers(_) | InputIds::Strings(_), Some(_)) => {
            return Err(format!("{}: has ids; drop --first-id", a.input.display()).into());
        }
        (InputIds::RowNumbers, None) => {
            return Err(format!(
                "{}: has no id column; pass --first-id N to number its rows",
                a.input.display()
            )
            .into());
        }
    };
    let v = if upsert {
        c.upsert(&input.data, &ids)?
    } else {
        c.add(&input.data, &ids)?
    };
    report(&a.uri, &c, v, n, upsert)
}

fn report(uri: &str, c: &Collection, v: u64, n: usize, upsert: bool) -> Res {
    let m = c.manifest();
    outln!(
        "{uri}: version {v}: {} {n} rows; {} growing rows in {} segments, {} shards",
        if upsert { "upserted" } else { "added" },
        m.growing_rows(),
        m.growing.len(),
        m.shards.len()
    )?;
    Ok(())
}

pub fn delete(a: DeleteArgs) -> Res {
    let mut ids = a.ids;
    if let Some(f) = &a.ids_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            ids.push(line.trim().parse().map_err(|_| {
                format!("{}:{}: {:?} is not an integer id", f.display(), i + 1, line)
            })?);
        }
    }
    let mut labels = a.labels;
    if let Some(f) = &a.labels_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        labels.extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
    }
    let c = open(&a.uri, &a.store)?;
    let (mut deleted, mut version) = (0, c.version());
    if !ids.is_empty() {
        let r = c.delete(&ids)?;
        (deleted, version) = (r.deleted, r.version);
    }
    if !labels.is_empty() {
        let r = c.delete_labels(&labels)?;
        (deleted, version) = (deleted + r.deleted, r.version);
    }
    outln!("{}: version {version}: deleted {deleted} rows", a.uri)?;
    Ok(())
}

pub fn seal(a: SealArgs) -> Res {
    let c = open(&a.uri, &a.store)?;
    let v = c.seal()?;
    outln!(
        "{}: version {v}: {} shards, no growing rows",
        a.uri,
        c.manifest().shards.len()
    )?;
    Ok(())
}

pub fn compact(a: CompactArgs) -> Res {
    if !(0.0..=1.0).contains(&a.deleted_share) {
        return Err(format!("--deleted-share: {} is not in 0..=1", a.deleted_share).into());
    }
    let c = open(&a.uri, &a.store)?;
    let before = c.manifest().shards.len();
    let opts = CompactOptions::default()
        .with_deleted_share(a.deleted_share)
        .with_small_rows(a.small_rows)
        .with_target_rows(a.target_rows);
    let bar = Bar::default();
    let v = c.compact_with(&opts, &bar)?;
    bar.done();
    let m = c.manifest();
    outln!(
        "{}: version {v}: {before} shards before, {} after; {} live rows",
        a.uri,
        m.shards.len(),
        m.live_rows()
    )?;
    Ok(())
}

pub fn vacuum(a: VacuumArgs) -> Res {
    let c = open(&a.uri, &a.store)?;
    let r = c.vacuum(&VacuumOptions::new(a.older_than).with_grace(a.grace))?;
    outln!(
        "{}: removed {} versions and {} files ({} bytes)",
        a.uri,
        r.versions.len(),
        r.files,
        r.bytes
    )?;
    Ok(())
}

/// Options of `collection bench-add`.
#[derive(Args)]
pub struct BenchAddArgs {
    /// Where to create the scratch collection (it must not exist).
    uri: String,
    /// Vector dimension of the synthetic rows.
    #[arg(long, default_value_t = 50)]
    dim: usize,
    /// Batch sizes to time.
    #[arg(long, default_value = "1,1000,100000", value_delimiter = ',')]
    batches: Vec<usize>,
    /// Adds timed per batch size (the median is reported).
    #[arg(long, default_value_t = 7)]
    repeat: usize,
    #[command(flatten)]
    store: StoreArgs,
}

/// `bench-add`: times `Collection::add` for each batch size on a fresh collection, the
/// growing rows sealed between sizes so each size starts from none.
pub fn bench_add(a: BenchAddArgs) -> Res {
    use ivfpq::core::{IndexParams, IvfPqModel};
    use ivfpq::datasets::{SynthSpec, synthetic};
    if a.dim == 0 || a.repeat == 0 || a.batches.contains(&0) {
        return Err("--dim, --repeat and --batches must be at least 1".into());
    }
    let max = a.batches.iter().copied().max().unwrap_or(1);
    let ds = synthetic(&SynthSpec {
        n: max.max(20_000),
        queries: 1,
        dim: a.dim,
        ..Default::default()
    });
    let model = IvfPqModel::train(
        &ds.base[..20_000 * a.dim],
        a.dim,
        &IndexParams::default().with_nlist(64),
    )?;
    let opts = crate::collection::options(&a.store, None)?.with_seal_rows(u64::MAX);
    let c = Collection::create(&a.uri, &model, opts)?;
    outln!(
        "# add latency at {} (dim {}), median of {} adds",
        a.uri,
        a.dim,
        a.repeat
    )?;
    outln!(
        "{:>8}  {:>10}  {:>10}  {:>12}",
        "rows",
        "median_ms",
        "min_ms",
        "rows_per_s"
    )?;
    let mut next = 0u64;
    for &b in &a.batches {
        let mut times = Vec::new();
        for r in 0..a.repeat {
            let ids: Vec<u64> = (next..next + b as u64).collect();
            next += b as u64;
            let start = (r * b) % (ds.base.len() / a.dim - b + 1);
            let rows = &ds.base[start * a.dim..(start + b) * a.dim];
            let t = std::time::Instant::now();
            c.add(rows, &ids)?;
            times.push(t.elapsed().as_secs_f64());
        }
        c.seal()?;
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        outln!(
            "{b:>8}  {:>10.2}  {:>10.2}  {:>12.0}",
            med * 1e3,
            times[0] * 1e3,
            b as f64 / med
        )?;
    }
    Ok(())
}
