//! Collections end to end: a collection of shards sharing one model returns exactly what
//! one index over all the rows returns; map + reduce equal the one-step search; versions,
//! concurrent commits and bad input.

#[path = "common/s3.rs"]
mod s3;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use ivfpq::core::{
    CodeKind, IndexParams, IvfPqIndex, IvfPqModel, Metric, SearchParams, VectorStorage,
};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::io::StoreOptions;
use ivfpq::shard::{
    Collection, CollectionOptions, SearchOptions, SearchResults, ShardError, Store, merge,
    read_results, write_results,
};

const N: usize = 6000;
const DIM: usize = 32;
const SHARDS: [std::ops::Range<usize>; 3] = [0..1500, 1500..2600, 2600..N];

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-coll-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Fixture {
    base: Vec<f32>,
    queries: Vec<f32>,
    ids: Vec<u64>,
    model: Arc<IvfPqModel>,
    single: IvfPqIndex,
}

fn fixture(metric: Metric, codes: CodeKind, bits: u32) -> Fixture {
    let ds = synthetic(&SynthSpec {
        n: N,
        queries: 30,
        dim: DIM,
        metric,
        seed: 11,
        ..Default::default()
    });
    // Sparse ids: the collection must keep the caller's ids.
    let ids: Vec<u64> = (0..N as u64).map(|i| i * 7919 + (1 << 40)).collect();
    let p = IndexParams::default()
        .with_metric(metric)
        .with_nlist(40)
        .with_m(8)
        .with_codes(codes)
        .with_nbits(bits);
    let model = Arc::new(IvfPqModel::train(&ds.base, DIM, &p).unwrap());
    let mut single = IvfPqIndex::new(model.clone(), VectorStorage::F32);
    single.add(&ds.base, &ids).unwrap();
    Fixture {
        base: ds.base,
        queries: ds.queries,
        ids,
        model,
        single,
    }
}

/// Creates a collection in `store` and adds the fixture's rows as three shards.
fn fill(store: Store, f: &Fixture) -> Collection {
    let opts = CollectionOptions::default();
    let c = Collection::create_in(store, Some(&f.model), DIM, f.model.metric(), opts).unwrap();
    for r in SHARDS {
        let mut idx = IvfPqIndex::new(c.model().unwrap(), VectorStorage::F32);
        idx.add(&f.base[r.start * DIM..r.end * DIM], &f.ids[r.clone()])
            .unwrap();
        c.add_index(&idx).unwrap();
    }
    assert_eq!(c.version(), 1 + SHARDS.len() as u64);
    c
}

fn local_store(dir: &Path) -> Store {
    Store::open(dir.to_str().unwrap(), &StoreOptions::default(), true).unwrap()
}

fn memory_store() -> Store {
    Store::from_object_store(
        "memory://coll",
        Arc::new(object_store::memory::InMemory::new()),
        object_store::path::Path::from("coll"),
    )
}

fn file_url_store(dir: &Path) -> Store {
    Store::open(
        &format!("file://{}", dir.display()),
        &StoreOptions::default(),
        true,
    )
    .unwrap()
}

/// Recall@k of `found` against exact search over all rows.
fn recall(f: &Fixture, found: &[Vec<u64>], k: usize) -> f64 {
    let exact = f.single.search_exact(&f.queries, k).unwrap();
    let mut hit = 0;
    for (e, g) in exact.iter().zip(found) {
        hit += e.iter().filter(|n| g.contains(&n.id)).count();
    }
    hit as f64 / (exact.len() * k) as f64
}

/// Refine 1: the collection returns exactly the single index's results (ids and
/// distances); refine 4: at least its recall.
fn assert_equivalent(c: &Collection, f: &Fixture, what: &str) {
    for (k, nprobe) in [(10, 8), (25, 40)] {
        let p = SearchParams::new(k, nprobe);
        let want = f.single.search(&f.queries, &p).unwrap();
        let got = c.search(&f.queries, &SearchOptions::new(p)).unwrap();
        assert_eq!(got.hits.len(), want.len());
        for (q, (g, w)) in got.hits.iter().zip(&want).enumerate() {
            let g: Vec<(u64, f32)> = g.iter().map(|h| (h.id, h.distance)).collect();
            let w: Vec<(u64, f32)> = w.iter().map(|n| (n.id, n.distance)).collect();
            assert_eq!(g, w, "{what}: query {q}, k {k}, nprobe {nprobe}");
        }
    }
    let p = SearchParams::new(10, 8).with_refine(4);
    let single: Vec<Vec<u64>> = f
        .single
        .search(&f.queries, &p)
        .unwrap()
        .iter()
        .map(|r| r.iter().map(|n| n.id).collect())
        .collect();
    let got = c.search(&f.queries, &SearchOptions::new(p)).unwrap();
    assert!(got.exact);
    let (rs, rc) = (recall(f, &single, 10), recall(f, &got.ids(), 10));
    assert!(rc >= rs, "{what}: refine recall {rc} < single index {rs}");
    assert!(rc > 0.5, "{what}: refine recall {rc}");
}

#[test]
fn shards_of_one_model_equal_one_index_for_every_metric_and_code() {
    let dir = tmpdir("equiv");
    for metric in [Metric::L2, Metric::Cosine, Metric::Dot] {
        for (codes, bits) in [(CodeKind::Pq, 8), (CodeKind::Pq, 4), (CodeKind::Rabitq, 4)] {
            let f = fixture(metric, codes, bits);
            let what = format!("{metric} {codes:?} {bits}");
            let local = dir.join(format!("{metric}-{codes:?}-{bits}"));
            assert_equivalent(&fill(local_store(&local), &f), &f, &format!("{what} mmap"));
            assert_equivalent(&fill(memory_store(), &f), &f, &format!("{what} memory"));
            let url = dir.join(format!("url-{metric}-{codes:?}-{bits}"));
            assert_equivalent(
                &fill(file_url_store(&url), &f),
                &f,
                &format!("{what} file://"),
            );
            // Reopened from storage alone, the collection still searches the same; this
            // time each shard's list is scanned as it is stored (`fill`'s merges each
            // partition's short lists into one).
            let unmerged = CollectionOptions::default().with_merge_short_lists(false);
            let reopened = Collection::open(local.to_str().unwrap(), unmerged).unwrap();
            assert_equivalent(&reopened, &f, &format!("{what} reopened, unmerged"));
        }
    }
}

#[test]
fn remote_shards_are_copied_to_a_local_cache_for_large_batches() {
    let f = fixture(Metric::L2, CodeKind::Pq, 4);
    let dir = tmpdir("cache");
    let store = memory_store();
    let c = fill(store.clone(), &f);
    let opts = CollectionOptions::default().with_local_cache(dir.join("cache"), 10);
    let cached = Collection::open_in(store, None, opts).unwrap();
    let p = SearchOptions::new(SearchParams::new(10, 8).with_refine(3));
    // A small batch reads ranges from the store.
    let small = cached.search(&f.queries[..DIM], &p).unwrap();
    assert!(small.stats.requests > 0, "{:?}", small.stats);
    assert_eq!(
        small.hits[0],
        c.search(&f.queries[..DIM], &p).unwrap().hits[0]
    );
    // 30 queries ≥ 10: each shard is copied once, then searched memory-mapped.
    let want = c.search(&f.queries, &p).unwrap();
    let got = cached.search(&f.queries, &p).unwrap();
    assert_eq!(got.hits, want.hits);
    assert_eq!(got.stats.requests, 0, "{:?}", got.stats);
    assert_eq!(
        std::fs::read_dir(dir.join("cache")).unwrap().count(),
        SHARDS.len()
    );
}

#[test]
fn search_shard_then_merge_gives_the_same_bytes_as_search() {
    // Short lists merged in memory (8- and 4-bit) and scanned shard by shard: the same
    // bytes, shards, partitions and offsets included.
    for (bits, merge_lists) in [(8, true), (4, true), (4, false)] {
        search_shard_then_merge(bits, merge_lists);
    }
}

fn search_shard_then_merge(bits: u32, merge_lists: bool) {
    let f = fixture(Metric::L2, CodeKind::Pq, bits);
    let dir = tmpdir(&format!("mapreduce-{bits}-{merge_lists}"));
    let filled = fill(local_store(&dir.join("c")), &f);
    let opts = CollectionOptions::default().with_merge_short_lists(merge_lists);
    let c = Collection::open(dir.join("c").to_str().unwrap(), opts).unwrap();
    drop(filled);
    for opts in [
        SearchOptions::new(SearchParams::new(10, 8)),
        SearchOptions::new(SearchParams::new(7, 12).with_refine(3)).with_vectors(true),
    ] {
        let whole = c.search(&f.queries, &opts).unwrap();
        let mut parts = Vec::new();
        for i in 0..SHARDS.len() {
            let p = c.search_shard(i, &f.queries, &opts).unwrap();
            let file = dir.join(format!("part-{i}.arrow"));
            write_results(&file, &p).unwrap();
            parts.push(read_results(&file).unwrap());
        }
        let merged = merge(&parts).unwrap();
        for ext in ["arrow", "csv"] {
            let (a, b) = (dir.join(format!("a.{ext}")), dir.join(format!("b.{ext}")));
            write_results(&a, &whole).unwrap();
            write_results(&b, &merged).unwrap();
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{ext}"
            );
        }
        // The batch carries what LanceDB users expect: ids with a `_distance`.
        let batch = whole.to_record_batch().unwrap();
        assert!(batch.column_by_name("_distance").is_some());
        assert_eq!(batch.column_by_name("vector").is_some(), opts.vectors);
        assert_eq!(
            SearchResults::from_record_batch(&batch, "mem")
                .unwrap()
                .hits,
            whole.hits
        );
    }
}

#[test]
fn k_of_fifty_thousand_is_exact_at_full_probe_and_refine() {
    let n = 60_000;
    let dim = 16;
    let ds = synthetic(&SynthSpec {
        n,
        queries: 3,
        dim,
        seed: 3,
        ..Default::default()
    });
    let ids: Vec<u64> = (0..n as u64).collect();
    let p = IndexParams::default().with_nlist(32).with_m(4);
    let model = IvfPqModel::train(&ds.base, dim, &p).unwrap();
    let dir = tmpdir("bigk");
    let c = Collection::create(dir.to_str().unwrap(), &model, Default::default()).unwrap();
    let mut single = IvfPqIndex::new(c.model().unwrap(), VectorStorage::F32);
    single.add(&ds.base, &ids).unwrap();
    for s in 0..4 {
        let r = s * n / 4..(s + 1) * n / 4;
        let mut idx = IvfPqIndex::new(c.model().unwrap(), VectorStorage::F32);
        idx.add(&ds.base[r.start * dim..r.end * dim], &ids[r])
            .unwrap();
        c.add_index(&idx).unwrap();
    }
    let k = 50_000;
    // Every row of every shard is a candidate and reranked: the result is exact.
    let params = SearchParams::new(k, 32).with_refine(4);
    let got = c.search(&ds.queries, &SearchOptions::new(params)).unwrap();
    let want = single.search_exact(&ds.queries, k).unwrap();
    for (g, w) in got.hits.iter().zip(&want) {
        assert_eq!(g.len(), k);
        let g: Vec<(u64, f32)> = g.iter().map(|h| (h.id, h.distance)).collect();
        let w: Vec<(u64, f32)> = w.iter().map(|n| (n.id, n.distance)).collect();
        assert!(g == w, "k = 50,000 differs from brute force");
    }
}

#[test]
fn racing_writers_each_commit_once_and_nothing_is_lost() {
    let f = fixture(Metric::L2, CodeKind::Pq, 8);
    let dir = tmpdir("race");
    let uri = dir.join("c").display().to_string();
    Collection::create(&uri, &f.model, Default::default()).unwrap();
    let writers = 6;
    let barrier = Barrier::new(writers);
    let outcomes: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..writers)
            .map(|w| {
                let (f, uri, barrier) = (&f, &uri, &barrier);
                s.spawn(move || {
                    let c = Collection::open(uri, Default::default()).unwrap();
                    let r = w * 500..(w + 1) * 500;
                    let mut idx = IvfPqIndex::new(c.model().unwrap(), VectorStorage::F32);
                    idx.add(&f.base[r.start * DIM..r.end * DIM], &f.ids[r])
                        .unwrap();
                    let tmp =
                        std::env::temp_dir().join(format!("race-{w}-{}.shard", std::process::id()));
                    ivfpq::io::write_shard(&idx, &tmp).unwrap();
                    let staged = c.stage_shard_file(&tmp).unwrap();
                    barrier.wait();
                    // Everyone commits version 2 at once: one wins it, the rest rebase
                    // onto the winners' versions (appends touch no common shard).
                    let v = c.commit_shards(vec![staged]).unwrap();
                    let _ = std::fs::remove_file(&tmp);
                    v
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut got = outcomes.clone();
    got.sort_unstable();
    assert_eq!(
        got,
        (2..=1 + writers as u64).collect::<Vec<_>>(),
        "{outcomes:?}"
    );
    let c = Collection::open(&uri, Default::default()).unwrap();
    assert_eq!(c.version(), 1 + writers as u64);
    assert_eq!(c.manifest().shards.len(), writers);
    assert_eq!(c.manifest().rows(), 500 * writers as u64);
    let versions = c.versions().unwrap();
    let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, (1..=1 + writers as u64).collect::<Vec<_>>());
}

#[test]
fn a_pinned_reader_keeps_its_version_while_newer_ones_commit() {
    let f = fixture(Metric::Cosine, CodeKind::Pq, 8);
    let dir = tmpdir("pinned");
    let uri = dir.to_str().unwrap();
    let writer = fill(local_store(&dir), &f);
    let reader = Collection::open_version(uri, 2, Default::default()).unwrap();
    let opts = SearchOptions::new(SearchParams::new(10, 40));
    let before = reader.search(&f.queries, &opts).unwrap();
    assert_eq!(before.shards, vec![0]);
    // A newer version lands; the pinned reader still sees version 2.
    let mut idx = IvfPqIndex::new(writer.model().unwrap(), VectorStorage::F32);
    idx.add(&f.base[..DIM * 10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        .unwrap();
    writer.add_index(&idx).unwrap();
    assert_eq!(reader.search(&f.queries, &opts).unwrap().hits, before.hits);
    assert_eq!(reader.refresh().unwrap(), 5);
    assert_eq!(reader.search(&f.queries, &opts).unwrap().shards.len(), 4);
    let e = Collection::open_version(uri, 9, Default::default())
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            ShardError::NoSuchVersion {
                version: 9,
                latest: 5,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn separately_trained_shards_must_rerank() {
    let dir = tmpdir("separate");
    let uri = dir.to_str().unwrap();
    let ds = synthetic(&SynthSpec {
        n: N,
        queries: 20,
        dim: DIM,
        seed: 4,
        ..Default::default()
    });
    let c =
        Collection::create_separately_trained(uri, DIM, Metric::L2, Default::default()).unwrap();
    let ids: Vec<u64> = (0..N as u64).collect();
    let mut all = IvfPqIndex::new(
        Arc::new(
            IvfPqModel::train(
                &ds.base,
                DIM,
                &IndexParams::default().with_nlist(8).with_m(8),
            )
            .unwrap(),
        ),
        VectorStorage::F32,
    );
    all.add(&ds.base, &ids).unwrap();
    for (s, seed) in [(0..N / 2, 1), (N / 2..N, 2)] {
        let p = IndexParams::default()
            .with_nlist(20)
            .with_m(8)
            .with_seed(seed);
        let idx =
            IvfPqIndex::build(&ds.base[s.start * DIM..s.end * DIM], &ids[s], DIM, &p).unwrap();
        c.add_index(&idx).unwrap();
    }
    let e = c
        .search(&ds.queries, &SearchOptions::new(SearchParams::new(10, 20)))
        .unwrap_err();
    assert!(e.to_string().contains("refine_factor"), "{e}");
    let got = c
        .search(
            &ds.queries,
            &SearchOptions::new(SearchParams::new(10, 20).with_refine(50)),
        )
        .unwrap();
    // Every list probed, 500 candidates reranked per shard: the exact top 10.
    let want = all.search_exact(&ds.queries, 10).unwrap();
    let want: Vec<Vec<u64>> = want
        .iter()
        .map(|r| r.iter().map(|n| n.id).collect())
        .collect();
    assert_eq!(got.ids(), want);
    // A shard without vectors cannot join: it could not rerank.
    let p = IndexParams::default()
        .with_nlist(8)
        .with_m(8)
        .with_storage(VectorStorage::None);
    let idx = IvfPqIndex::build(&ds.base[..DIM * 500], &ids[..500], DIM, &p).unwrap();
    let e = c.add_index(&idx).unwrap_err();
    assert!(matches!(e, ShardError::ShardMismatch { .. }), "{e}");
}

#[test]
fn bad_input_is_a_typed_error_and_writes_nothing() {
    let f = fixture(Metric::L2, CodeKind::Pq, 8);
    let dir = tmpdir("bad");
    let c = fill(local_store(&dir), &f);
    let uri = dir.to_str().unwrap();
    let files = |d: &str| std::fs::read_dir(dir.join(d)).unwrap().count();
    let (versions, shards) = (files("_versions"), files("shards"));
    // A shard of another model.
    let other = IndexParams::default()
        .with_nlist(40)
        .with_m(8)
        .with_seed(99);
    let idx = IvfPqIndex::build(&f.base[..DIM * 2000], &f.ids[..2000], DIM, &other).unwrap();
    let e = c.add_index(&idx).unwrap_err();
    assert!(matches!(e, ShardError::ShardMismatch { .. }), "{e}");
    assert!(e.to_string().contains("model"), "{e}");
    // k = 0, and queries of the wrong dimension.
    let e = c
        .search(&f.queries, &SearchOptions::new(SearchParams::new(0, 4)))
        .unwrap_err();
    assert!(e.to_string().starts_with("k:"), "{e}");
    let e = c
        .search(
            &f.queries[..DIM - 1],
            &SearchOptions::new(SearchParams::new(3, 4)),
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("queries:"), "{e}");
    assert_eq!(
        (files("_versions"), files("shards")),
        (versions, shards),
        "nothing written"
    );
    // Nothing at all, or no collection at this folder.
    assert!(matches!(
        Collection::open(dir.join("none").to_str().unwrap(), Default::default()),
        Err(ShardError::NotACollection { .. })
    ));
    // Creating over an existing collection.
    assert!(matches!(
        Collection::create(uri, &f.model, Default::default()),
        Err(ShardError::AlreadyExists { .. })
    ));
    // A missing shard file: the error names it.
    let m = c.manifest();
    let victim = dir.join(&m.shards[1].path);
    std::fs::remove_file(&victim).unwrap();
    let fresh = Collection::open(uri, Default::default()).unwrap();
    let e = fresh
        .search(&f.queries, &SearchOptions::new(SearchParams::new(5, 4)))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&m.shards[1].path), "{e}");
    // A manifest whose bytes changed (a checksum that fails), and one that is cut short.
    let newest = dir.join(ivfpq::shard::manifest::version_file(m.version));
    let mut b = std::fs::read(&newest).unwrap();
    let at = b.iter().position(|&x| x == b'"').unwrap();
    b[at + 1] ^= 0x20;
    std::fs::write(&newest, &b).unwrap();
    let e = Collection::open(uri, Default::default()).err().unwrap();
    assert!(
        matches!(e, ShardError::Manifest { .. }) && e.to_string().contains("checksum"),
        "{e}"
    );
    std::fs::write(&newest, &b[..b.len() / 2]).unwrap();
    let e = Collection::open(uri, Default::default()).err().unwrap();
    assert!(matches!(e, ShardError::Manifest { .. }), "{e}");
}

#[test]
fn merging_partials_that_disagree_is_refused() {
    let f = fixture(Metric::L2, CodeKind::Pq, 8);
    let dir = tmpdir("partials");
    let c = fill(local_store(&dir.join("c")), &f);
    let a = c
        .search_shard(0, &f.queries, &SearchOptions::new(SearchParams::new(10, 8)))
        .unwrap();
    let b = c
        .search_shard(1, &f.queries, &SearchOptions::new(SearchParams::new(12, 8)))
        .unwrap();
    let (pa, pb) = (dir.join("a.arrow"), dir.join("b.arrow"));
    write_results(&pa, &a).unwrap();
    write_results(&pb, &b).unwrap();
    let parts = [read_results(&pa).unwrap(), read_results(&pb).unwrap()];
    let e = ivfpq::shard::merge_named(
        &parts,
        &[pa.display().to_string(), pb.display().to_string()],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("b.arrow") && e.contains("k 12"), "{e}");
    // A collection of another metric: its partial does not merge either.
    let g = fixture(Metric::Dot, CodeKind::Pq, 8);
    let d = fill(memory_store(), &g);
    let other = d
        .search_shard(1, &g.queries, &SearchOptions::new(SearchParams::new(10, 8)))
        .unwrap();
    let e = merge(&[a, other]).unwrap_err().to_string();
    assert!(e.contains("metric"), "{e}");
    // Not a results file.
    std::fs::write(dir.join("junk.arrow"), b"not arrow").unwrap();
    assert!(matches!(
        read_results(&dir.join("junk.arrow")),
        Err(ShardError::Partial { .. })
    ));
}

/// Through a real S3-compatible server (`.ci/run` starts one): equivalence, what a query
/// reads, and racing writers.
#[test]
#[cfg_attr(
    not(s3_server),
    ignore = "needs an S3 server: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET when building (.ci/run starts one)"
)]
fn s3_collection_matches_and_commits_once_per_version() {
    let (endpoint, bucket) = s3::server();
    let store = s3::options(&endpoint);
    let opts = CollectionOptions::default().with_store(store.clone());
    for (metric, codes, bits) in [
        (Metric::L2, CodeKind::Pq, 8),
        (Metric::Cosine, CodeKind::Pq, 4),
        (Metric::Dot, CodeKind::Rabitq, 4),
    ] {
        let f = fixture(metric, codes, bits);
        let uri = format!("s3://{bucket}/coll-{}-{metric}-{bits}", std::process::id());
        let s = Store::open(&uri, &store, true).unwrap();
        let c = fill(s, &f);
        assert_equivalent(&c, &f, &format!("s3 {metric} {codes:?} {bits}"));
        // After open, one query reads its probed lists and then its candidates' rows: the
        // shards' requests overlap, so the waves are those of one shard.
        let one = SearchOptions::new(SearchParams::new(10, 8).with_refine(4));
        let fresh = Collection::open(&uri, opts.clone()).unwrap();
        for i in 0..SHARDS.len() {
            fresh.open_shard(i).unwrap();
        }
        let r = fresh.search(&f.queries[..DIM], &one).unwrap();
        eprintln!(
            "s3 {metric}: one query over {} shards: {:?}",
            SHARDS.len(),
            r.stats
        );
        assert!(
            r.stats.round_trips <= 3 && r.stats.requests > 0,
            "{:?}",
            r.stats
        );
    }
    // Racing writers against the server's conditional create.
    let f = fixture(Metric::L2, CodeKind::Pq, 8);
    let uri = format!("s3://{bucket}/race-{}", std::process::id());
    Collection::create_in(
        Store::open(&uri, &store, true).unwrap(),
        Some(&f.model),
        DIM,
        Metric::L2,
        opts.clone(),
    )
    .unwrap();
    let barrier = Barrier::new(3);
    let won: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|w| {
                let (f, uri, barrier, opts) = (&f, &uri, &barrier, &opts);
                s.spawn(move || {
                    let c = Collection::open(uri, opts.clone()).unwrap();
                    let mut idx = IvfPqIndex::new(c.model().unwrap(), VectorStorage::F32);
                    let r = w * 100..(w + 1) * 100;
                    idx.add(&f.base[r.start * DIM..r.end * DIM], &f.ids[r])
                        .unwrap();
                    let tmp = std::env::temp_dir()
                        .join(format!("s3race-{w}-{}.shard", std::process::id()));
                    ivfpq::io::write_shard(&idx, &tmp).unwrap();
                    let staged = c.stage_shard_file(&tmp).unwrap();
                    let _ = std::fs::remove_file(&tmp);
                    barrier.wait();
                    c.commit_shards(vec![staged]).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut got = won.clone();
    got.sort_unstable();
    assert_eq!(got, vec![2, 3, 4], "{won:?}");
    let c = Collection::open(&uri, opts).unwrap();
    assert_eq!((c.version(), c.manifest().shards.len()), (4, 3));
}

#[test]
fn a_damaged_list_in_a_mapped_shard_fails_the_search_by_name() {
    let f = fixture(Metric::L2, CodeKind::Pq, 8);
    let dir = tmpdir("damaged");
    let c = fill(local_store(&dir), &f);
    let entry = c.manifest().shards[2].clone();
    let path = dir.join(&entry.path);
    let shard = ivfpq::io::Shard::open(path.to_str().unwrap(), &Default::default()).unwrap();
    // Flip a byte in the middle of the largest partition's list block (its ids).
    let (l, e) = shard
        .directory()
        .entries
        .iter()
        .enumerate()
        .max_by_key(|(_, e)| e.rows)
        .unwrap();
    let at = e.list_offset as usize + 4;
    drop(shard);
    let mut b = std::fs::read(&path).unwrap();
    b[at] ^= 0x55;
    std::fs::write(&path, &b).unwrap();
    let fresh = Collection::open(dir.to_str().unwrap(), Default::default()).unwrap();
    let e = fresh
        .search(&f.queries, &SearchOptions::new(SearchParams::new(10, 40)))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&entry.path) && e.contains(&format!("partition {l} list")),
        "{e}"
    );
    assert!(e.contains("checksum"), "{e}");
    // Nothing built from the damaged list is kept: the next search fails the same way.
    let again = fresh.search(&f.queries, &SearchOptions::new(SearchParams::new(10, 40)));
    assert!(again.is_err());
}
