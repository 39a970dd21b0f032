//! `ivfpq bench --shards S`: the same rows split into S shards of one model, searched as
//! a collection (memory-mapped, map over shards, merge), beside the single index; with
//! `--deleted` some rows deleted from it, with `--growing` some rows left growing.

use std::collections::HashSet;
use std::path::PathBuf;

use rand::{RngExt, SeedableRng};

use ivfpq::core::{IvfPqIndex, SearchParams};
use ivfpq::io::Dataset;
use ivfpq::shard::{Collection, CollectionOptions, SearchOptions};

/// A collection in a temporary folder, removed on drop.
pub struct BenchCollection {
    pub collection: Collection,
    dir: PathBuf,
}

impl Drop for BenchCollection {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Splits `ds`'s rows (ids = row numbers, as the single index has them) into `shards`
/// contiguous slices encoded with `index`'s model, and commits them to a new collection;
/// the last `growing` share of the rows are added as growing rows instead, and then the
/// `deleted` rows are deleted.
pub fn build(
    index: &IvfPqIndex,
    ds: &Dataset,
    shards: usize,
    pool: &rayon::ThreadPool,
    (growing, deleted): (f64, &HashSet<u64>),
) -> Result<BenchCollection, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("ivfpq-bench-collection-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let collection = Collection::create(
        &dir.display().to_string(),
        index.model(),
        CollectionOptions::default().with_seal_rows(u64::MAX),
    )?;
    let out = BenchCollection { collection, dir };
    let all = ds.base.len() / ds.dim;
    let n = all - (all as f64 * growing).round() as usize;
    for s in 0..shards {
        let rows = s * n / shards..(s + 1) * n / shards;
        let ids: Vec<u64> = rows.clone().map(|i| i as u64).collect();
        let mut part = IvfPqIndex::new(index.model().clone(), index.storage());
        pool.install(|| part.add(&ds.base[rows.start * ds.dim..rows.end * ds.dim], &ids))?;
        out.collection.add_index(&part)?;
    }
    // Growing rows come in batches, as a service's appends would.
    for start in (n..all).step_by(10_000) {
        let end = (start + 10_000).min(all);
        let ids: Vec<u64> = (start as u64..end as u64).collect();
        pool.install(|| {
            out.collection
                .add(&ds.base[start * ds.dim..end * ds.dim], &ids)
        })?;
    }
    if !deleted.is_empty() {
        let ids: Vec<u64> = deleted.iter().copied().collect();
        pool.install(|| out.collection.delete(&ids))?;
    }
    Ok(out)
}

/// Parses a share from 0 to 1 (exclusive).
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if (0.0..1.0).contains(&f) => Ok(f),
        _ => Err(format!("{s:?} is not a number from 0 to below 1")),
    }
}

/// A seeded random `share` of the row numbers `0..n`.
pub fn pick_deleted(n: usize, share: f64, seed: u64) -> HashSet<u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xde1e7e);
    (0..n as u64)
        .filter(|_| share > 0.0 && rng.random_range(0.0..1.0) < share)
        .collect()
}

/// Drops deleted rows from the ground truth: each query's truth is its live neighbours
/// in order, padded with -1 (which no result matches).
pub fn drop_from_truth(ds: &mut Dataset, deleted: &HashSet<u64>) {
    for row in ds.gt.chunks_mut(ds.gt_k) {
        let live: Vec<i32> = row
            .iter()
            .copied()
            .filter(|&g| g < 0 || !deleted.contains(&(g as u64)))
            .collect();
        row.fill(-1);
        row[..live.len()].copy_from_slice(&live);
    }
}

/// The rows (and ids) not in `deleted`.
pub fn live_only(
    rows: &[f32],
    ids: &[u64],
    dim: usize,
    deleted: &HashSet<u64>,
) -> (Vec<f32>, Vec<u64>) {
    let mut out = (Vec::new(), Vec::new());
    for (row, &id) in rows.chunks_exact(dim).zip(ids) {
        if !deleted.contains(&id) {
            out.0.extend_from_slice(row);
            out.1.push(id);
        }
    }
    out
}

/// Per query the ids found, and the seconds the search took.
type Timed = (Vec<Vec<u64>>, f64);

/// One timed search of every query.
pub fn search(
    c: &BenchCollection,
    queries: &[f32],
    params: &SearchParams,
    pool: &rayon::ThreadPool,
) -> Result<Timed, Box<dyn std::error::Error>> {
    let opts = SearchOptions::new(params.clone());
    let t = std::time::Instant::now();
    let res = pool.install(|| c.collection.search(queries, &opts))?;
    Ok((res.ids(), t.elapsed().as_secs_f64()))
}
