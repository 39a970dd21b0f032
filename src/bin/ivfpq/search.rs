//! `ivfpq search`: query a shard file (local or on object storage) and write the results.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use ivfpq::core::SearchOptions;
use ivfpq::io::{ResultRow, Shard, read_vectors, write_csv, write_results};

use crate::query_args::QuerySettings;
use crate::store::StoreArgs;

/// Options of `ivfpq search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Shard path or URL.
    #[arg(long)]
    index: String,
    /// Query vectors: .fvecs, .npy or Arrow IPC.
    #[arg(long)]
    queries: PathBuf,
    #[command(flatten)]
    settings: QuerySettings,
    /// Results file (.csv or .arrow); without it, CSV goes to stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Add each result's stored vector.
    #[arg(long)]
    with_vectors: bool,
    /// Print requests, round trips and bytes read to stderr.
    #[arg(long)]
    stats: bool,
    /// Queries per batch (one batch's probed partitions are fetched together); at least 1.
    #[arg(long, default_value_t = 1, value_parser = crate::at_least_one())]
    batch: usize,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn run(a: SearchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let t_open = std::time::Instant::now();
    let shard = Shard::open(&a.index, &a.store.open_options()?)?;
    let open_s = t_open.elapsed().as_secs_f64();
    let open_reads = ivfpq::io::ByteSource::counters(&**shard_source(&shard)).get();
    let q = read_vectors(&a.queries, "id")?;
    let params = a.settings.params();
    let dim = q.dim.max(1);
    let mut rows = Vec::new();
    let mut total = ivfpq::io::ReadStats::default();
    let mut max_trips = 0;
    let t = std::time::Instant::now();
    for (b, chunk) in q.data.chunks(dim.saturating_mul(a.batch)).enumerate() {
        let out = shard.query(
            chunk,
            &SearchOptions::new(params.clone())
                .with_labels(true)
                .with_vectors(a.with_vectors),
        )?;
        total.add(&out.stats);
        max_trips = max_trips.max(out.stats.round_trips);
        for (i, hits) in out.hits.iter().enumerate() {
            for (rank, h) in hits.iter().enumerate() {
                rows.push(ResultRow {
                    query: (b * a.batch + i) as u32,
                    rank: rank as u32,
                    id: h.id,
                    label: out.labels.as_ref().map(|l| l[i][rank].clone()),
                    distance: h.distance,
                    vector: out.vectors.as_ref().map(|v| v[i][rank].clone()),
                });
            }
        }
    }
    let search_s = t.elapsed().as_secs_f64();
    match &a.output {
        Some(p) => write_results(p, &rows)?,
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_csv(&mut out, &rows)?;
            out.flush()?;
        }
    }
    if a.stats {
        let nq = q.len().max(1) as f64;
        let s = total;
        eprintln!(
            "open: {:.3}s, {} requests, {} bytes",
            open_s, open_reads.0, open_reads.1
        );
        eprintln!(
            "search: {} queries in {:.3}s; per query: {:.1} requests, {:.2} round trips (max {} per batch), {:.0} bytes fetched, {:.0} bytes needed ({:.3}x), {} of {} partition reads from cache, {} rows read",
            q.len(),
            search_s,
            s.requests as f64 / nq,
            s.round_trips as f64 / nq,
            max_trips,
            s.bytes_fetched as f64 / nq,
            s.bytes_needed as f64 / nq,
            if s.bytes_needed > 0 {
                s.bytes_fetched as f64 / s.bytes_needed as f64
            } else {
                1.0
            },
            s.cache_hits,
            s.partitions,
            s.rows
        );
    }
    Ok(())
}

fn shard_source(shard: &Shard) -> &ivfpq::io::SharedSource {
    shard.source()
}
