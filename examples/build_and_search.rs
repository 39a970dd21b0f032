//! Build an index over synthetic vectors, search it, write it to a shard file, reopen the
//! file and search it again, then measure recall@10 against exact search.
//!
//! Run with `cargo run --release --example build_and_search`.

use ivfpq::core::{IndexParams, IvfPqIndex, Metric, SearchParams};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::io::{OpenOptions, Shard, write_shard};

/// Builds, searches, writes and reopens a shard; fails if recall@10 is below 0.5.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 5,000 clustered 32-d vectors and 100 queries, flat and row-major.
    let spec = SynthSpec {
        n: 5_000,
        queries: 100,
        dim: 32,
        gt_k: 10,
        ..Default::default()
    };
    let ds = synthetic(&spec);
    let ids: Vec<u64> = (0..spec.n as u64).collect(); // any u64 per row

    // 64 partitions, 8-bit PQ with 8 sub-quantizers (4 bytes of the vector each).
    let params = IndexParams::default()
        .with_metric(Metric::L2)
        .with_nlist(64)
        .with_m(8);
    let index = IvfPqIndex::build(&ds.base, &ids, ds.dim, &params)?;

    // The 10 nearest, probing 16 partitions and reranking 4 × 10 candidates exactly.
    let search = SearchParams::new(10, 16).with_refine(4);
    let hits = index.search(&ds.queries, &search)?;
    for (q, neighbors) in hits.iter().take(3).enumerate() {
        let top: Vec<String> = neighbors
            .iter()
            .take(3)
            .map(|n| format!("{} ({:.3})", n.id, n.distance))
            .collect();
        println!("query {q}: {}", top.join(", "));
    }

    // A shard file is the index on disk; opening it maps the file and searches in place.
    let path = std::env::temp_dir().join(format!("ivfpq-example-{}.shard", std::process::id()));
    let bytes = write_shard(&index, &path)?;
    let path_str = path.to_str().ok_or("temporary path is not UTF-8")?;
    let shard = Shard::open(path_str, &OpenOptions::default())?;
    let from_file = shard.search(&ds.queries, &search)?;
    println!("{} rows, {bytes} bytes in {}", shard.rows(), path.display());
    drop(shard);
    std::fs::remove_file(&path)?;
    if from_file != hits {
        return Err("the shard file's results differ from the index's".into());
    }

    // Recall@10: the share of the exact 10 nearest that the search found.
    let exact = index.search_exact(&ds.queries, 10)?;
    let found: usize = exact
        .iter()
        .zip(&hits)
        .map(|(e, h)| e.iter().filter(|n| h.iter().any(|m| m.id == n.id)).count())
        .sum();
    let recall = found as f64 / (exact.len() * 10) as f64;
    println!("recall@10 = {recall:.3}");
    if recall < 0.5 {
        return Err(format!("recall@10 {recall:.3} is implausibly low").into());
    }
    Ok(())
}

#[allow(dead_code)] // the tests call `run` directly
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
