//! One search for every searchable: an in-memory index, its shard file, and a collection
//! of shards of the same model answer the same queries with the same results through
//! `Searcher`, and reject the same bad queries.

use std::sync::Arc;

use ivfpq::Searcher;
use ivfpq::core::{IndexParams, IvfPqIndex, IvfPqModel, Metric, SearchParams, VectorStorage};
use ivfpq::datasets::{SynthSpec, synthetic};
use ivfpq::io::{OpenOptions, Shard, write_shard};
use ivfpq::shard::{Collection, CollectionOptions};

const DIM: usize = 24;

/// Recall@k of `s` against exact neighbors, through the trait only.
fn recall<S: Searcher>(s: &S, queries: &[f32], exact: &[Vec<u64>], p: &SearchParams) -> f64 {
    let got = s.nearest(queries, p).unwrap();
    assert_eq!(got.len(), exact.len());
    let mut hit = 0;
    for (g, e) in got.iter().zip(exact) {
        assert!(g.windows(2).all(|w| w[0].distance <= w[1].distance));
        hit += g.iter().filter(|n| e.contains(&n.id)).count();
    }
    hit as f64 / (exact.len() * p.k) as f64
}

fn answers<S: Searcher>(s: &S, queries: &[f32], p: &SearchParams) -> Vec<Vec<(u64, f32)>> {
    s.nearest(queries, p)
        .unwrap()
        .into_iter()
        .map(|q| q.into_iter().map(|n| (n.id, n.distance)).collect())
        .collect()
}

/// Wrong dimensions, `k = 0` and NaN queries are errors through the trait, never panics.
fn rejects_bad_queries<S: Searcher>(s: &S, what: &str) {
    let good = vec![0.5f32; s.dim()];
    assert!(
        s.nearest(&good[1..], &SearchParams::new(5, 4)).is_err(),
        "{what}: short query"
    );
    assert!(
        s.nearest(&good, &SearchParams::new(0, 4)).is_err(),
        "{what}: k 0"
    );
    let mut nan = good.clone();
    nan[3] = f32::NAN;
    assert!(
        s.nearest(&nan, &SearchParams::new(5, 4)).is_err(),
        "{what}: NaN"
    );
}

#[test]
fn index_shard_and_collection_search_alike() {
    let ds = synthetic(&SynthSpec {
        n: 5000,
        queries: 40,
        dim: DIM,
        metric: Metric::L2,
        seed: 5,
        ..Default::default()
    });
    let ids: Vec<u64> = (0..5000u64).map(|i| i * 3 + 1).collect();
    let params = IndexParams::default().with_nlist(32).with_m(6);
    let model = Arc::new(IvfPqModel::train(&ds.base, DIM, &params).unwrap());
    let mut index = IvfPqIndex::new(model.clone(), VectorStorage::F32);
    index.add(&ds.base, &ids).unwrap();

    let dir = std::env::temp_dir().join(format!("ivfpq-searcher-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.ivfpq");
    write_shard(&index, &file).unwrap();
    let shard = Shard::open(file.to_str().unwrap(), &OpenOptions::default()).unwrap();

    // The same rows in two shards of the shared model.
    let uri = dir.join("coll");
    let coll =
        Collection::create(uri.to_str().unwrap(), &model, CollectionOptions::default()).unwrap();
    for r in [0..2000usize, 2000..5000] {
        let mut part = IvfPqIndex::new(model.clone(), VectorStorage::F32);
        part.add(&ds.base[r.start * DIM..r.end * DIM], &ids[r])
            .unwrap();
        coll.add_index(&part).unwrap();
    }

    assert_eq!((shard.dim(), coll.dim()), (DIM, DIM));
    assert_eq!(
        (shard.metric(), Searcher::metric(&coll)),
        (Metric::L2, Metric::L2)
    );

    for p in [
        SearchParams::new(10, 4),
        SearchParams::new(10, 32),
        SearchParams::new(7, 8).with_refine(4),
    ] {
        let want = answers(&index, &ds.queries, &p);
        assert_eq!(answers(&shard, &ds.queries, &p), want, "shard, {p:?}");
        assert_eq!(answers(&coll, &ds.queries, &p), want, "collection, {p:?}");
    }

    let exact: Vec<Vec<u64>> = index
        .search_exact(&ds.queries, 10)
        .unwrap()
        .iter()
        .map(|q| q.iter().map(|n| n.id).collect())
        .collect();
    let p = SearchParams::new(10, 32).with_refine(8);
    for (what, r) in [
        ("index", recall(&index, &ds.queries, &exact, &p)),
        ("shard", recall(&shard, &ds.queries, &exact, &p)),
        ("collection", recall(&coll, &ds.queries, &exact, &p)),
    ] {
        assert!(
            r > 0.95,
            "{what}: recall@10 {r} with every list probed and refine 8"
        );
    }

    rejects_bad_queries(&index, "index");
    rejects_bad_queries(&shard, "shard");
    rejects_bad_queries(&coll, "collection");
    let _ = std::fs::remove_dir_all(&dir);
}
