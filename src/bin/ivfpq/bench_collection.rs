//! `ivfpq bench --shards S`: the same rows split into S shards of one model, searched as
//! a collection (memory-mapped, map over shards, merge), beside the single index.

use std::path::PathBuf;

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
/// contiguous slices encoded with `index`'s model, and commits them to a new collection.
pub fn build(
    index: &IvfPqIndex,
    ds: &Dataset,
    shards: usize,
    pool: &rayon::ThreadPool,
) -> Result<BenchCollection, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("ivfpq-bench-collection-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let collection = Collection::create(
        &dir.display().to_string(),
        index.model(),
        CollectionOptions::default(),
    )?;
    let out = BenchCollection { collection, dir };
    let n = ds.base.len() / ds.dim;
    for s in 0..shards {
        let rows = s * n / shards..(s + 1) * n / shards;
        let ids: Vec<u64> = rows.clone().map(|i| i as u64).collect();
        let mut part = IvfPqIndex::new(index.model().clone(), index.storage());
        pool.install(|| part.add(&ds.base[rows.start * ds.dim..rows.end * ds.dim], &ids))?;
        out.collection.add_index(&part)?;
    }
    Ok(out)
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
