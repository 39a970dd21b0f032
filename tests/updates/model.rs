//! Collections that change: add, upsert, delete, seal, compact and vacuum, checked step by
//! step against a plain in-memory reference (a model test), plus concurrent writers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use ivfpq::core::{IndexParams, IvfPqModel, Metric, SearchParams, flat_search};
use ivfpq::shard::{
    Collection, CollectionOptions, CompactOptions, SearchOptions, ShardError, VacuumOptions, merge,
};
use proptest::prelude::*;

const DIM: usize = 8;
const NLIST: usize = 8;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-upd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The vector of `id` in its `generation` (an upsert moves a row).
fn vector(id: u64, generation: u64) -> Vec<f32> {
    let mut x =
        id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ generation.wrapping_mul(0xd1b5_4a32_d192_ed03);
    (0..DIM)
        .map(|_| {
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 29;
            (x % 10_000) as f32 / 1000.0
        })
        .collect()
}

fn model() -> Arc<IvfPqModel> {
    static M: OnceLock<Arc<IvfPqModel>> = OnceLock::new();
    M.get_or_init(|| {
        let data: Vec<f32> = (0..2000).flat_map(|i| vector(i, 99)).collect();
        let p = IndexParams::default()
            .with_nlist(NLIST)
            .with_m(4)
            .with_seed(5);
        Arc::new(IvfPqModel::train(&data, DIM, &p).unwrap())
    })
    .clone()
}

fn rows(ids: &[u64], generation: u64) -> Vec<f32> {
    ids.iter().flat_map(|&id| vector(id, generation)).collect()
}

/// What the collection must hold: id → vector.
type Reference = BTreeMap<u64, Vec<f32>>;

/// Checks that `c` holds exactly `reference`'s rows and that exact search agrees.
fn check(c: &Collection, reference: &Reference) {
    assert_eq!(
        c.manifest().live_rows(),
        reference.len() as u64,
        "live rows"
    );
    if reference.is_empty() {
        let res = c
            .search(
                &[0.0; DIM],
                &SearchOptions::new(SearchParams::new(5, NLIST)),
            )
            .unwrap();
        assert!(res.hits[0].is_empty());
        return;
    }
    // Every live row, once: an exhaustive search with k = all rows.
    let k = reference.len();
    let all = SearchParams::new(k, NLIST).with_refine(2);
    let res = c.search(&[0.0; DIM], &SearchOptions::new(all)).unwrap();
    let mut got: Vec<u64> = res.hits[0].iter().map(|h| h.id).collect();
    got.sort_unstable();
    let want: Vec<u64> = reference.keys().copied().collect();
    assert_eq!(got, want, "live ids");
    // And the exact top 10 of a few queries, as exact search over the reference finds.
    let ids: Vec<u64> = reference.keys().copied().collect();
    let data: Vec<f32> = reference.values().flatten().copied().collect();
    let queries = rows(&[1, 2, 3], 7);
    let k = 10.min(ids.len());
    let want = flat_search(Metric::L2, DIM, &data, &ids, &queries, k, None).unwrap();
    let p = SearchParams::new(k, NLIST).with_refine(1000);
    let got = c.search(&queries, &SearchOptions::new(p)).unwrap();
    for (g, w) in got.hits.iter().zip(&want) {
        let g: Vec<u64> = g.iter().map(|h| h.id).collect();
        let w: Vec<u64> = w.iter().map(|n| n.id).collect();
        assert_eq!(g, w, "top {k}");
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(usize),
    Upsert { old: Vec<usize>, new: usize },
    Delete { old: Vec<usize>, absent: usize },
    Seal,
    Compact,
    Vacuum,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..80).prop_map(Op::Add),
        2 => (prop::collection::vec(any::<usize>(), 0..10), 0usize..5)
            .prop_map(|(old, new)| Op::Upsert { old, new }),
        3 => (prop::collection::vec(any::<usize>(), 0..40), 0usize..3)
            .prop_map(|(old, absent)| Op::Delete { old, absent }),
        2 => Just(Op::Seal),
        1 => Just(Op::Compact),
        1 => Just(Op::Vacuum),
    ]
}

/// Runs `ops` on a fresh collection and the reference, checking after every step.
fn run(ops: &[Op], tag: &str) {
    let dir = tmpdir(tag);
    let uri = dir.join("c").display().to_string();
    let opts = CollectionOptions::default().with_seal_rows(150);
    let c = Collection::create(&uri, &model(), opts.clone()).unwrap();
    let mut reference = Reference::new();
    let (mut next_id, mut generation) = (1000u64, 0u64);
    let pick = |reference: &Reference, picks: &[usize]| -> Vec<u64> {
        let keys: Vec<u64> = reference.keys().copied().collect();
        let mut out: Vec<u64> = picks
            .iter()
            .filter(|_| !keys.is_empty())
            .map(|&p| keys[p % keys.len()])
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    for op in ops {
        generation += 1;
        match op {
            Op::Add(n) => {
                let ids: Vec<u64> = (next_id..next_id + *n as u64).collect();
                next_id += *n as u64;
                c.add(&rows(&ids, generation), &ids).unwrap();
                for &id in &ids {
                    reference.insert(id, vector(id, generation));
                }
                if let Some(&id) = reference.keys().next() {
                    let e = c.add(&rows(&[id], 0), &[id]).unwrap_err();
                    assert!(
                        matches!(e, ShardError::DuplicateId { id: d, .. } if d == id),
                        "{e}"
                    );
                }
            }
            Op::Upsert { old, new } => {
                let mut ids = pick(&reference, old);
                ids.extend(next_id..next_id + *new as u64);
                next_id += *new as u64;
                if ids.is_empty() {
                    continue;
                }
                c.upsert(&rows(&ids, generation), &ids).unwrap();
                for &id in &ids {
                    reference.insert(id, vector(id, generation));
                }
            }
            Op::Delete { old, absent } => {
                let mut ids = pick(&reference, old);
                let live = ids.len() as u64;
                ids.extend((0..*absent as u64).map(|i| 1 << 50 | i));
                let r = c.delete(&ids).unwrap();
                assert_eq!(r.deleted, live);
                for id in &ids {
                    reference.remove(id);
                }
            }
            Op::Seal => {
                c.seal().unwrap();
                assert!(c.manifest().growing.is_empty());
            }
            Op::Compact => {
                let o = CompactOptions::default()
                    .with_deleted_share(0.05)
                    .with_small_rows(100)
                    .with_target_rows(400);
                c.compact(&o).unwrap();
            }
            Op::Vacuum => {
                let o = VacuumOptions::new(Duration::ZERO).with_grace(Duration::ZERO);
                c.vacuum(&o).unwrap();
                assert_eq!(c.versions().unwrap().len(), 1);
                // Every file left is one the newest version references.
                let keep: std::collections::HashSet<String> =
                    c.manifest().files().into_iter().collect();
                for d in ["shards", "ids", "growing", "deletions"] {
                    for (name, _) in c.store().list(d).unwrap() {
                        assert!(keep.contains(&format!("{d}/{name}")), "{d}/{name} left");
                    }
                }
            }
        }
        check(&c, &reference);
        // A reader that opens the collection afresh sees the same.
        check(&Collection::open(&uri, opts.clone()).unwrap(), &reference);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn a_collection_holds_what_the_reference_holds(ops in prop::collection::vec(op(), 1..12)) {
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        run(&ops, &format!("model-{n}"));
    }
}

#[test]
fn a_long_fixed_sequence_holds_too() {
    use Op::*;
    let ops = [
        Add(120),
        Delete {
            old: (0..30).collect(),
            absent: 2,
        },
        Add(60), // passes 150 growing rows: sealed
        Upsert {
            old: vec![1, 5, 9, 40],
            new: 3,
        },
        Delete {
            old: (0..90).map(|i| i * 3).collect(),
            absent: 0,
        },
        Compact,
        Add(10),
        Vacuum,
        Seal,
        Delete {
            old: (0..500).collect(),
            absent: 1,
        },
        Compact,
        Add(5),
    ];
    run(&ops, "fixed");
}

#[test]
fn deleted_rows_never_return_and_k_live_rows_still_do() {
    let dir = tmpdir("mask");
    let c = Collection::create(dir.to_str().unwrap(), &model(), Default::default()).unwrap();
    let ids: Vec<u64> = (0..1000).collect();
    c.add(&rows(&ids, 1), &ids).unwrap();
    c.seal().unwrap();
    let before = c.version();
    // Delete 90 % of the rows: the nearest of every query are mostly gone.
    let dead: Vec<u64> = ids.iter().copied().filter(|i| i % 10 != 0).collect();
    assert_eq!(c.delete(&dead).unwrap().deleted, 900);
    assert_eq!(
        c.delete(&dead).unwrap().deleted,
        0,
        "deleting twice deletes nothing"
    );
    let q = rows(&[5, 6, 7, 8], 1);
    let res = c
        .search(&q, &SearchOptions::new(SearchParams::new(20, NLIST)))
        .unwrap();
    for hits in &res.hits {
        assert_eq!(hits.len(), 20, "k live rows exist, so k come back");
        assert!(
            hits.iter().all(|h| h.id % 10 == 0),
            "a deleted row came back"
        );
    }
    // The map step of every shard and the reduce agree with the one-step search.
    let opts = SearchOptions::new(SearchParams::new(20, NLIST).with_refine(4));
    let one = c.search(&q, &opts).unwrap();
    let parts: Vec<_> = (0..c.manifest().shards.len())
        .map(|i| c.search_shard(i, &q, &opts).unwrap())
        .collect();
    assert_eq!(merge(&parts).unwrap().ids(), one.ids());
    // The version before the delete still has them (time travel).
    let old = Collection::open_version(dir.to_str().unwrap(), before, Default::default()).unwrap();
    let res = old
        .search(
            &q[..DIM],
            &SearchOptions::new(SearchParams::new(1, NLIST).with_refine(8)),
        )
        .unwrap();
    assert_eq!(res.hits[0][0].id, 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn growing_rows_are_searched_exactly_and_through_the_map_step() {
    let dir = tmpdir("growing");
    let c = Collection::create(dir.to_str().unwrap(), &model(), Default::default()).unwrap();
    let ids: Vec<u64> = (0..400).collect();
    c.add(&rows(&ids, 1), &ids).unwrap();
    c.seal().unwrap();
    let more: Vec<u64> = (400..450).collect();
    c.add(&rows(&more, 1), &more).unwrap();
    c.add(&rows(&[450], 1), &[450]).unwrap();
    assert_eq!(c.manifest().growing.len(), 2);
    // A growing row finds itself at distance 0, with its stored vector.
    let q = vector(420, 1);
    let opts = SearchOptions::new(SearchParams::new(5, 2).with_refine(2)).with_vectors(true);
    let res = c.search(&q, &opts).unwrap();
    assert_eq!((res.hits[0][0].id, res.hits[0][0].distance), (420, 0.0));
    assert_eq!(res.hits[0][0].vector.as_deref(), Some(&q[..]));
    let parts: Vec<_> = (0..3)
        .map(|i| c.search_shard(i, &q, &opts).unwrap())
        .collect();
    assert_eq!(merge(&parts).unwrap().ids(), res.ids());
    assert!(c.search_shard(3, &q, &opts).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_rows_are_typed_errors_that_change_nothing() {
    let dir = tmpdir("bad");
    let c = Collection::create(dir.to_str().unwrap(), &model(), Default::default()).unwrap();
    let v = c.version();
    let e = c.add(&[], &[]).unwrap_err().to_string();
    assert!(e.contains("ids"), "{e}");
    let e = c.add(&[0.0; DIM - 1], &[1]).unwrap_err().to_string();
    assert!(e.contains("vectors"), "{e}");
    let mut nan = rows(&[1], 0);
    nan[3] = f32::NAN;
    let e = c.add(&nan, &[1]).unwrap_err().to_string();
    assert!(e.contains("vectors") && e.contains("NaN"), "{e}");
    let e = c.add(&rows(&[1, 1], 0), &[1, 1]).unwrap_err().to_string();
    assert!(e.contains("id 1 appears twice"), "{e}");
    assert_eq!(c.delete(&[]).unwrap().deleted, 0);
    assert_eq!(c.version(), v, "nothing was committed");
    let sep = Collection::create_separately_trained(
        dir.join("sep").to_str().unwrap(),
        DIM,
        Metric::L2,
        Default::default(),
    )
    .unwrap();
    sep.add(&rows(&[1], 0), &[1]).unwrap();
    let e = sep.seal().unwrap_err().to_string();
    assert!(e.contains("seal"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn racing_appends_all_land() {
    let dir = tmpdir("appends");
    let uri = dir.display().to_string();
    Collection::create(&uri, &model(), Default::default()).unwrap();
    let writers = 4;
    let barrier = Barrier::new(writers);
    std::thread::scope(|s| {
        for w in 0..writers as u64 {
            let (uri, barrier) = (&uri, &barrier);
            s.spawn(move || {
                let c = Collection::open(uri, Default::default()).unwrap();
                barrier.wait();
                for b in 0..5u64 {
                    let ids: Vec<u64> = (0..20).map(|i| w * 1000 + b * 20 + i).collect();
                    c.add(&rows(&ids, 1), &ids).unwrap();
                }
            });
        }
    });
    let c = Collection::open(&uri, Default::default()).unwrap();
    assert_eq!(c.version(), 1 + 5 * writers as u64);
    let mut reference = Reference::new();
    for w in 0..writers as u64 {
        for i in 0..100 {
            reference.insert(w * 1000 + i, vector(w * 1000 + i, 1));
        }
    }
    check(&c, &reference);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_delete_racing_a_compaction_is_never_lost() {
    for round in 0..4 {
        let dir = tmpdir(&format!("delcompact-{round}"));
        let uri = dir.display().to_string();
        let c = Collection::create(&uri, &model(), Default::default()).unwrap();
        let mut reference = Reference::new();
        for part in 0..3u64 {
            let ids: Vec<u64> = (part * 300..part * 300 + 300).collect();
            c.add(&rows(&ids, 1), &ids).unwrap();
            c.seal().unwrap();
            for &id in &ids {
                reference.insert(id, vector(id, 1));
            }
        }
        c.delete(&(0..60).collect::<Vec<_>>()).unwrap();
        let barrier = Barrier::new(2);
        let dead: Vec<u64> = (300..400).collect();
        let (compacted, deleted) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                let c = Collection::open(&uri, Default::default()).unwrap();
                barrier.wait();
                c.compact(&CompactOptions::default().with_small_rows(1000))
            });
            let b = s.spawn(|| {
                let c = Collection::open(&uri, Default::default()).unwrap();
                barrier.wait();
                c.delete(&dead)
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        // The delete always lands (it rebases); the compaction lands or is refused whole.
        assert_eq!(deleted.unwrap().deleted, 100);
        match compacted {
            Ok(_) | Err(ShardError::ConflictingChange { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
        for id in (0..60).chain(dead.iter().copied()) {
            reference.remove(&id);
        }
        check(
            &Collection::open(&uri, Default::default()).unwrap(),
            &reference,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn string_ids_are_added_found_deleted_upserted_and_sealed() {
    let dir = tmpdir("labels");
    let uri = dir.join("c").display().to_string();
    let c = Collection::create(&uri, &model(), Default::default()).unwrap();
    let n = 300u64;
    let labels: Vec<String> = (0..n).map(|i| format!("doc,{i}")).collect();
    c.add_labeled(&rows(&(0..n).collect::<Vec<_>>(), 1), &labels)
        .unwrap();
    c.add(&rows(&[5000], 1), &[5000]).unwrap();
    let e = c
        .add_labeled(&rows(&[1], 1), &["doc,3".into()])
        .unwrap_err();
    assert!(
        matches!(&e, ShardError::DuplicateLabel { label, .. } if label == "doc,3"),
        "{e}"
    );
    let top = |c: &Collection, q: &[f32], k: usize| {
        let p = SearchParams::new(k, NLIST).with_refine(50);
        c.search(q, &SearchOptions::new(p)).unwrap()
    };
    let label_of = |r: &ivfpq::shard::SearchResults| r.hits[0][0].label.clone();
    assert_eq!(
        label_of(&top(&c, &vector(7, 1), 3)).as_deref(),
        Some("doc,7")
    );
    // Sealed: one shard of string ids, one of u64 ids; labels still come back.
    c.seal().unwrap();
    let m = c.manifest();
    assert_eq!((m.shards.len(), m.growing.len()), (2, 0));
    assert_eq!(m.shards.iter().filter(|s| s.labels).count(), 1);
    assert_eq!(
        label_of(&top(&c, &vector(7, 1), 3)).as_deref(),
        Some("doc,7")
    );
    let r = top(&c, &vector(5000, 1), 1);
    assert_eq!(
        (r.hits[0][0].id, r.hits[0][0].label.as_deref()),
        (5000, None)
    );
    // Delete by string id; an absent one is skipped.
    let gone = c.delete_labels(&["doc,7".into(), "nope".into()]).unwrap();
    assert_eq!(gone.deleted, 1);
    let all = top(&c, &vector(7, 1), n as usize + 1);
    assert_eq!(all.hits[0].len(), n as usize, "{n} rows stay live");
    assert!(
        all.hits[0]
            .iter()
            .all(|h| h.label.as_deref() != Some("doc,7"))
    );
    // Upsert moves a string id to a new vector: one live row holds it.
    c.upsert_labeled(&vector(9999, 2), &["doc,8".into()])
        .unwrap();
    assert_eq!(
        label_of(&top(&c, &vector(9999, 2), 1)).as_deref(),
        Some("doc,8")
    );
    let all = top(&c, &vector(8, 1), n as usize);
    let eights = all.hits[0]
        .iter()
        .filter(|h| h.label.as_deref() == Some("doc,8"))
        .count();
    assert_eq!(eights, 1);
    // Map, reduce and the result file keep the labels.
    let q = vector(20, 1);
    let opts = SearchOptions::new(SearchParams::new(5, NLIST).with_refine(4));
    let one = c.search(&q, &opts).unwrap();
    let parts: Vec<_> = (0..3)
        .map(|i| c.search_shard(i, &q, &opts).unwrap())
        .collect();
    let merged = merge(&parts).unwrap();
    let labels_of = |r: &ivfpq::shard::SearchResults| -> Vec<Option<String>> {
        r.hits[0].iter().map(|h| h.label.clone()).collect()
    };
    assert_eq!(labels_of(&merged), labels_of(&one));
    let file = dir.join("r.arrow");
    ivfpq::shard::write_results(&file, &one).unwrap();
    assert_eq!(
        labels_of(&ivfpq::shard::read_results(&file).unwrap()),
        labels_of(&one)
    );
    // A reader that opens the collection afresh finds them through the id files.
    let fresh = Collection::open(&uri, Default::default()).unwrap();
    assert_eq!(fresh.delete_labels(&["doc,9".into()]).unwrap().deleted, 1);
    // Compaction merges the shards with string ids apart from the others, and keeps them.
    fresh.seal().unwrap();
    assert_eq!(
        fresh.manifest().shards.iter().filter(|s| s.labels).count(),
        2
    );
    let big = CompactOptions::default().with_small_rows(1_000_000);
    fresh.compact(&big).unwrap();
    let m = fresh.manifest();
    assert_eq!(m.shards.iter().filter(|s| s.labels).count(), 1);
    assert_eq!(
        m.live_rows(),
        m.rows(),
        "the merged shard holds live rows only"
    );
    assert_eq!(
        label_of(&top(&fresh, &vector(9999, 2), 1)).as_deref(),
        Some("doc,8")
    );
    let all = top(&fresh, &vector(20, 1), n as usize);
    assert_eq!(all.hits[0].len(), n as usize - 1);
    for h in &all.hits[0] {
        let l = h.label.as_deref();
        assert!(l != Some("doc,7") && l != Some("doc,9"), "{l:?}");
        assert_eq!(l.is_none(), h.id == 5000, "{h:?}");
    }
    // A shard holding a live string id is refused, naming it.
    let mut idx = ivfpq::core::IvfPqIndex::new(model(), ivfpq::core::VectorStorage::F32);
    idx.add(&rows(&[0, 1], 3), &[0, 1]).unwrap();
    let shard = dir.join("dup.ivfpq");
    let dup = ["new".to_string(), "doc,1".to_string()];
    ivfpq::io::write_shard_labeled(&idx, Some(&dup), &shard).unwrap();
    let e = fresh.add_shard_files(&[shard]).unwrap_err();
    assert!(
        matches!(&e, ShardError::DuplicateLabel { label, .. } if label == "doc,1"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
