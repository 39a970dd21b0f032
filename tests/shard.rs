//! Shard files end to end: write → open (mmap, object store) → search gives exactly the
//! in-memory index's results; what a remote query reads; determinism; labels.

#[path = "common/s3.rs"]
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ivfpq::core::{
    IndexParams, IvfPqIndex, Metric, Neighbor, QueryBatch, SearchOptions, SearchParams,
    VectorStorage,
};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::io::{
    OpenOptions, Shard, ShardWriter, StoreOptions, upload_file, write_shard, write_shard_labeled,
};
use ivfpq::simd::Pq4Layout;

const N: usize = 6000;
const DIM: usize = 32;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-shard-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn build(metric: Metric, storage: VectorStorage) -> (IvfPqIndex, Vec<f32>) {
    build_bits(metric, storage, 8)
}

fn build_bits(metric: Metric, storage: VectorStorage, nbits: u32) -> (IvfPqIndex, Vec<f32>) {
    let ds = synthetic(&SynthSpec {
        n: N,
        queries: 40,
        dim: DIM,
        metric,
        seed: 5,
        ..Default::default()
    });
    // Sparse, large ids: the shard must keep the caller's ids, not row numbers.
    let ids: Vec<u64> = (0..N as u64).map(|i| i * 7919 + (1 << 40)).collect();
    let p = IndexParams::default()
        .with_metric(metric)
        .with_nlist(48)
        .with_m(8)
        .with_nbits(nbits)
        .with_storage(storage);
    (
        IvfPqIndex::build(&ds.base, &ids, DIM, &p).unwrap(),
        ds.queries,
    )
}

fn settings(storage: VectorStorage) -> Vec<SearchParams> {
    let mut s = vec![
        SearchParams::new(10, 1),
        SearchParams::new(10, 8),
        SearchParams::new(50, 48),
    ];
    if storage != VectorStorage::None {
        s.push(SearchParams::new(10, 8).with_refine(4));
        s.push(SearchParams::new(7, 16).with_refine(3));
    }
    s
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

#[test]
fn mmap_and_object_store_match_memory_for_every_metric_and_storage() {
    let dir = tmpdir("roundtrip");
    for metric in [Metric::L2, Metric::Cosine, Metric::Dot] {
        for storage in [VectorStorage::F32, VectorStorage::F16, VectorStorage::None] {
            let (index, q) = build(metric, storage);
            let path = dir.join(format!("{metric}-{storage:?}.shard"));
            write_shard(&index, &path).unwrap();
            let mapped = Shard::open(path.to_str().unwrap(), &OpenOptions::default()).unwrap();
            let remote = Shard::open(&file_url(&path), &OpenOptions::default()).unwrap();
            assert_eq!(mapped.rows(), N as u64);
            mapped.verify().unwrap();
            let mut settings = settings(storage);
            if metric != Metric::Dot {
                // Adaptive probing: a remote query plans its fetches from the same probes.
                let p = SearchParams::new(10, 16).with_probe_ratio(1.3);
                let batch = QueryBatch::new(index.model(), &q, &p).unwrap();
                batch.search(&index, &index);
                let nq = (q.len() / DIM) as u64;
                assert!(batch.probed() < 16 * nq, "the ratio cut no probe");
                settings.push(p);
            }
            for p in settings {
                let want = index.search(&q, &p).unwrap();
                assert_eq!(
                    mapped.search(&q, &p).unwrap(),
                    want,
                    "{metric} {storage:?} mmap"
                );
                assert_eq!(
                    remote.search(&q, &p).unwrap(),
                    want,
                    "{metric} {storage:?} remote"
                );
                // One query at a time too: the single-query parallel path must agree.
                let one = index.search(&q[..DIM], &p).unwrap();
                assert_eq!(mapped.search(&q[..DIM], &p).unwrap(), one);
            }
            let back = mapped.to_index().unwrap();
            assert_eq!(back.partitions(), index.partitions());
        }
    }
}

#[test]
fn four_bit_shards_match_memory() {
    let dir = tmpdir("pq4");
    for (metric, storage) in [
        (Metric::L2, VectorStorage::F16),
        (Metric::Dot, VectorStorage::None),
    ] {
        let (index, q) = build_bits(metric, storage, 4);
        assert_eq!(index.model().nbits(), 4);
        let path = dir.join(format!("{metric}.shard"));
        write_shard(&index, &path).unwrap();
        let mapped = Shard::open(path.to_str().unwrap(), &OpenOptions::default()).unwrap();
        let remote = Shard::open(&file_url(&path), &OpenOptions::default()).unwrap();
        assert_eq!(mapped.header().bits, 4);
        mapped.verify().unwrap();
        for p in settings(storage) {
            let want = index.search(&q, &p).unwrap();
            assert_eq!(mapped.search(&q, &p).unwrap(), want, "{metric} mmap");
            assert_eq!(remote.search(&q, &p).unwrap(), want, "{metric} remote");
        }
        assert_eq!(mapped.to_index().unwrap().partitions(), index.partitions());
    }
}

/// Whatever layout the kernels keep 4-bit codes in (transposed chunks on AVX-512 VBMI),
/// the file holds the blocked one: the index's file equals the file of the same partitions
/// reordered to `Blocked` by hand, so a shard's bytes do not depend on the CPU.
#[test]
fn four_bit_files_hold_the_blocked_layout() {
    let dir = tmpdir("pq4-layout");
    let (index, _) = build_bits(Metric::Cosine, VectorStorage::F32, 4);
    let kernel = dir.join("kernel.shard");
    write_shard(&index, &kernel).unwrap();
    let blocked = dir.join("blocked.shard");
    let sink = std::io::BufWriter::new(std::fs::File::create(&blocked).unwrap());
    let mut w = ShardWriter::new(sink, index.model(), index.storage(), None, "blocked").unwrap();
    for p in index.partitions() {
        let mut b = p.clone();
        b.codes = p.codes_in(Pq4Layout::Blocked).into_owned();
        b.layout = Pq4Layout::Blocked;
        w.write_partition(&b).unwrap();
    }
    w.finish().unwrap();
    let (x, y) = (
        std::fs::read(kernel).unwrap(),
        std::fs::read(blocked).unwrap(),
    );
    assert!(x == y, "the writer kept the in-memory layout");
    // Read back, the codes are in the kernels' layout again.
    let back = Shard::open(
        dir.join("kernel.shard").to_str().unwrap(),
        &OpenOptions::default(),
    )
    .unwrap()
    .to_index()
    .unwrap();
    assert_eq!(back.partitions(), index.partitions());
}

#[test]
fn same_input_and_seed_give_byte_identical_files() {
    let dir = tmpdir("determinism");
    let (a, _) = build(Metric::L2, VectorStorage::F16);
    let (b, _) = build(Metric::L2, VectorStorage::F16);
    write_shard(&a, &dir.join("a")).unwrap();
    write_shard(&b, &dir.join("b")).unwrap();
    let (x, y) = (
        std::fs::read(dir.join("a")).unwrap(),
        std::fs::read(dir.join("b")).unwrap(),
    );
    assert!(x == y, "shard files differ");
}

/// Per-query read accounting over an object store: at most 3 round trips after open,
/// and at most 1.2× the needed bytes fetched. Needs the reads at open to be cached.
fn check_remote_reads(shard: &Shard, index: &IvfPqIndex, q: &[f32]) {
    let p = SearchParams::new(10, 8).with_refine(4);
    for qv in q.chunks(DIM).take(10) {
        let out = shard
            .query(
                qv,
                &SearchOptions::new(p.clone())
                    .with_labels(true)
                    .with_vectors(true),
            )
            .unwrap();
        let want = index.search(qv, &p).unwrap();
        let got: Vec<Neighbor> = out.hits[0].iter().map(|h| h.neighbor()).collect();
        assert_eq!(got, want[0]);
        let s = out.stats;
        assert!(s.round_trips <= 3, "{s:?}");
        assert!(
            s.bytes_fetched as f64 <= 1.2 * s.bytes_needed as f64,
            "{s:?}"
        );
        assert!(s.rows > 0 && s.rows <= 40, "{s:?}");
    }
}

#[test]
fn remote_query_reads_little_and_the_cache_serves_repeats() {
    let dir = tmpdir("remote");
    let (index, q) = build(Metric::L2, VectorStorage::F32);
    let path = dir.join("s.shard");
    write_shard(&index, &path).unwrap();
    // No cache: every query fetches its partitions.
    let cold = OpenOptions {
        cache_bytes: 0,
        ..Default::default()
    };
    let shard = Shard::open(&file_url(&path), &cold).unwrap();
    check_remote_reads(&shard, &index, &q);
    // With a cache, a repeated query reads only its candidate rows.
    let shard = Shard::open(&file_url(&path), &OpenOptions::default()).unwrap();
    let p = SearchParams::new(10, 8).with_refine(4);
    let (_, first) = shard.search_with_stats(&q[..DIM], &p).unwrap();
    let (_, again) = shard.search_with_stats(&q[..DIM], &p).unwrap();
    assert_eq!(first.cache_hits, 0);
    assert_eq!(again.cache_hits, again.partitions);
    assert!(again.bytes_fetched < first.bytes_fetched);
    assert!(shard.cached_bytes() > 0);
    // A tiny cache evicts and stays within its bound.
    let tiny = OpenOptions {
        cache_bytes: 4096,
        ..Default::default()
    };
    let shard = Shard::open(&file_url(&path), &tiny).unwrap();
    shard.search(&q, &SearchParams::new(10, 16)).unwrap();
    assert!(shard.cached_bytes() <= 4096);
}

#[test]
fn string_ids_are_kept_and_returned() {
    let dir = tmpdir("labels");
    let ds = synthetic(&SynthSpec {
        n: 2000,
        queries: 5,
        dim: 16,
        seed: 3,
        ..Default::default()
    });
    let ids: Vec<u64> = (0..2000).collect();
    let labels: Vec<String> = (0..2000).map(|i| format!("protein-{i:05}-\"é\"")).collect();
    let p = IndexParams::default().with_nlist(16).with_m(4);
    let index = IvfPqIndex::build(&ds.base, &ids, 16, &p).unwrap();
    let path = dir.join("labels.shard");
    write_shard_labeled(&index, Some(&labels), &path).unwrap();
    for loc in [path.display().to_string(), file_url(&path)] {
        let shard = Shard::open(&loc, &OpenOptions::default()).unwrap();
        assert!(shard.header().labels);
        shard.verify().unwrap();
        let out = shard
            .query(
                &ds.queries,
                &SearchOptions::new(SearchParams::new(5, 4).with_refine(2))
                    .with_labels(true)
                    .with_vectors(true),
            )
            .unwrap();
        let labels_out = out.labels.unwrap();
        let vectors = out.vectors.unwrap();
        for (qi, hits) in out.hits.iter().enumerate() {
            for (r, h) in hits.iter().enumerate() {
                assert_eq!(labels_out[qi][r], labels[h.id as usize]);
                let row = &ds.base[h.id as usize * 16..(h.id as usize + 1) * 16];
                assert_eq!(vectors[qi][r], row);
            }
        }
    }
}

/// The same search through a real S3-compatible server. `.ci/run` starts one and sets
/// `IVFPQ_TEST_S3_ENDPOINT` (and `IVFPQ_TEST_S3_BUCKET`).
#[test]
#[cfg_attr(
    not(s3_server),
    ignore = "needs an S3 server: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET when building (.ci/run starts one)"
)]
fn s3_server_gives_identical_results() {
    let (endpoint, bucket) = s3::server();
    let store = s3::options(&endpoint);
    let dir = tmpdir("s3");
    for storage in [VectorStorage::F32, VectorStorage::F16] {
        let (index, q) = build(Metric::Cosine, storage);
        let path = dir.join("s.shard");
        write_shard(&index, &path).unwrap();
        let url = format!("s3://{bucket}/run-{}/{storage:?}.shard", std::process::id());
        upload_file(&path, &url, &store).unwrap();
        // Shards are immutable: a second upload to the same key is refused.
        assert!(upload_file(&path, &url, &store).is_err());
        let opts = OpenOptions {
            cache_bytes: 0,
            store: store.clone(),
        };
        let shard = Shard::open(&url, &opts).unwrap();
        for p in settings(storage) {
            assert_eq!(shard.search(&q, &p).unwrap(), index.search(&q, &p).unwrap());
        }
        check_remote_reads(&shard, &index, &q);
        shard.verify().unwrap();
    }
}

#[test]
fn unreachable_endpoint_is_a_typed_error() {
    let store = StoreOptions {
        retries: 0,
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    }
    .with("endpoint", "http://127.0.0.1:9")
    .with("allow_http", "true")
    .with("region", "us-east-1")
    .with("access_key_id", "x")
    .with("secret_access_key", "y");
    let opts = OpenOptions {
        cache_bytes: 0,
        store,
    };
    let err = Shard::open("s3://nobucket/none.shard", &opts)
        .err()
        .expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains("s3://nobucket/none.shard"), "{msg}");
    let err = Shard::open(
        "s3://b/k",
        &OpenOptions {
            store: StoreOptions::default().with("no_such_option", "1"),
            ..Default::default()
        },
    )
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("no_such_option"), "{err}");
    let _ = Arc::new(());
}
