//! A collection: several shards encoded with one trained model, in a local folder with
//! versioned manifests, searched as one. At refine 1 its results equal those of a single
//! index over all the rows.
//!
//! Run with `cargo run --release --example collection`.

use ivfpq::core::{IndexParams, IvfPqIndex, IvfPqModel, Metric, SearchParams, VectorStorage};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::shard::{Collection, CollectionOptions, SearchOptions};

/// Creates a collection of three shards and checks it against one index over all rows.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (n, dim) = (6_000, 32);
    let spec = SynthSpec {
        n,
        queries: 50,
        dim,
        ..Default::default()
    };
    let ds = synthetic(&spec);
    let ids: Vec<u64> = (0..n as u64).map(|i| 1_000_000 + i).collect(); // any u64 per row

    // Train once; every shard of the collection is encoded with this model.
    let params = IndexParams::default()
        .with_metric(Metric::L2)
        .with_nlist(48)
        .with_m(8);
    let model = IvfPqModel::train(&ds.base, dim, &params)?;

    // A local folder here; an object-store prefix ("s3://bucket/coll") works the same way.
    let dir = std::env::temp_dir().join(format!("ivfpq-example-coll-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let uri = dir.to_str().ok_or("temporary path is not UTF-8")?;
    let coll = Collection::create(uri, &model, CollectionOptions::default())?;
    let model = coll.model().ok_or("the collection has no model")?; // shared, read back

    // Three shards of unequal size; each `add_index` commits a new version.
    for rows in [0..1_500, 1_500..3_500, 3_500..n] {
        let mut shard = IvfPqIndex::new(model.clone(), VectorStorage::F32);
        shard.add(&ds.base[rows.start * dim..rows.end * dim], &ids[rows])?;
        let version = coll.add_index(&shard)?;
        println!("added {} rows as version {version}", shard.len());
    }
    for v in coll.versions()? {
        println!("version {}: {}, {} rows", v.version, v.operation, v.rows);
    }

    // Search all shards; print the first query's 3 nearest and the shard of each.
    let params = SearchParams::new(10, 8);
    let res = coll.search(&ds.queries, &SearchOptions::new(params.clone()))?;
    for h in res.hits[0].iter().take(3) {
        println!("id {} at {:.3} from shard {}", h.id, h.distance, h.shard);
    }

    // The same rows in one index with the same model give the same answers.
    let mut single = IvfPqIndex::new(model, VectorStorage::F32);
    single.add(&ds.base, &ids)?;
    let want = single.search(&ds.queries, &params)?;
    for (q, (got, want)) in res.hits.iter().zip(&want).enumerate() {
        let got: Vec<(u64, f32)> = got.iter().map(|h| (h.id, h.distance)).collect();
        let want: Vec<(u64, f32)> = want.iter().map(|n| (n.id, n.distance)).collect();
        if got != want {
            return Err(format!("query {q}: collection {got:?}, single index {want:?}").into());
        }
    }
    println!("{} queries: same as one index over all rows", want.len());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[allow(dead_code)] // the tests call `run` directly
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
