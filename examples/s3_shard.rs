//! Write a shard to an S3-compatible object store and search it in place with ranged
//! reads: opening reads the file's tail and model, and each search fetches only the
//! partitions it probes and the rows it reranks.
//!
//! Needs a server: set `IVFPQ_TEST_S3_ENDPOINT` (such as `http://127.0.0.1:9000`) and
//! `IVFPQ_TEST_S3_BUCKET` (an existing bucket), then run
//! `cargo run --release --example s3_shard`. Without them it prints "skipped".

use ivfpq::core::{IndexParams, IvfPqIndex, Metric, SearchParams};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::io::{OpenOptions, Shard, StoreOptions, upload_file, write_shard};

/// Uploads a shard and checks that searching it remotely gives the in-memory results.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let (Some(endpoint), Some(bucket)) =
        (var("IVFPQ_TEST_S3_ENDPOINT"), var("IVFPQ_TEST_S3_BUCKET"))
    else {
        println!("skipped: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET");
        return Ok(());
    };
    // `object_store` builder keys; a local test server takes plain HTTP and any
    // credentials. Keys left out come from the `AWS_*` environment variables.
    let store = StoreOptions::default()
        .with("endpoint", &endpoint)
        .with("allow_http", "true")
        .with("region", "us-east-1")
        .with("access_key_id", "test")
        .with("secret_access_key", "test");

    let spec = SynthSpec {
        n: 5_000,
        queries: 20,
        dim: 32,
        metric: Metric::Cosine,
        ..Default::default()
    };
    let ds = synthetic(&spec);
    let ids: Vec<u64> = (0..spec.n as u64).collect();
    let params = IndexParams::default()
        .with_metric(Metric::Cosine)
        .with_nlist(64)
        .with_m(8);
    let index = IvfPqIndex::build(&ds.base, &ids, ds.dim, &params)?;

    // Write the file locally, then upload it; an existing object is never replaced.
    let tag = std::time::UNIX_EPOCH.elapsed()?.as_nanos(); // a fresh key each run
    let local = std::env::temp_dir().join(format!("ivfpq-example-s3-{tag}.shard"));
    write_shard(&index, &local)?;
    let url = format!("s3://{bucket}/ivfpq-examples/{tag}.shard");
    let uploaded = upload_file(&local, &url, &store);
    std::fs::remove_file(&local)?;
    let bytes = uploaded?;
    println!("uploaded {bytes} bytes to {url}");

    // No partition cache, so every search below reads from the server.
    let opts = OpenOptions {
        cache_bytes: 0,
        store,
    };
    let shard = Shard::open(&url, &opts)?;
    let search = SearchParams::new(10, 8).with_refine(4);
    let (hits, stats) = shard.search_with_stats(&ds.queries, &search)?;
    println!("{} queries read {stats:?}", hits.len()); // requests, round trips, bytes
    println!("query 0: {:?}", &hits[0][..3]);
    if hits != index.search(&ds.queries, &search)? {
        return Err("the remote shard's results differ from the index's".into());
    }
    Ok(())
}

#[allow(dead_code)] // the tests call `run` directly
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
