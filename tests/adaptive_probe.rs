//! Adaptive probing (`SearchParams::probe_ratio`): `nprobe` becomes a cap; the nearest
//! quarter is always probed, and the rest only while their coarse distance is within the
//! ratio of the nearest's.

use ivfpq::core::{IndexParams, IvfPqIndex, Metric, QueryBatch, SearchParams};
use ivfpq::datasets::{SynthSpec, exact_knn, synthetic};

const N: usize = 20_000;
const DIM: usize = 32;
const NQ: usize = 100;
const K: usize = 10;

fn setup(metric: Metric) -> (IvfPqIndex, Vec<f32>, Vec<Vec<u64>>) {
    let ds = synthetic(&SynthSpec {
        n: N,
        queries: NQ,
        dim: DIM,
        metric,
        seed: 3,
        ..Default::default()
    });
    let ids: Vec<u64> = (0..N as u64).collect();
    let p = IndexParams::default()
        .with_metric(metric)
        .with_nlist(128)
        .with_nbits(4);
    let index = IvfPqIndex::build(&ds.base, &ids, DIM, &p).unwrap();
    let truth = exact_knn(&ds.base, &ds.queries, DIM, metric, K)
        .into_iter()
        .map(|r| r.into_iter().map(|n| n.id).collect())
        .collect();
    (index, ds.queries, truth)
}

/// Results and partitions probed (all queries) for `p`.
fn run(index: &IvfPqIndex, q: &[f32], p: &SearchParams) -> (Vec<Vec<u64>>, u64) {
    let batch = QueryBatch::new(index.model(), q, p).unwrap();
    let res = batch.search(index, index);
    let ids = res
        .iter()
        .map(|r| r.iter().map(|n| n.id).collect())
        .collect();
    (ids, batch.probed())
}

fn recall(found: &[Vec<u64>], truth: &[Vec<u64>]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|id| t.contains(id)).count())
        .sum();
    hit as f64 / (K * truth.len()) as f64
}

#[test]
fn ratio_bounds_give_fixed_nprobe_searches() {
    for metric in [Metric::L2, Metric::Cosine] {
        let (index, q, _) = setup(metric);
        let fixed = |n: usize| run(&index, &q, &SearchParams::new(K, n).with_refine(4));
        let ratio = |r: f32| {
            let p = SearchParams::new(K, 32).with_refine(4).with_probe_ratio(r);
            run(&index, &q, &p)
        };
        // A ratio no list exceeds probes all 32; a ratio of 1 only the nearest quarter.
        assert_eq!(ratio(1e30), fixed(32), "{metric}");
        assert_eq!(ratio(1e30).1, 32 * NQ as u64);
        assert_eq!(ratio(1.0), fixed(8), "{metric}");
        assert_eq!(ratio(1.0).1, 8 * NQ as u64);
    }
}

/// On clustered data, where some queries sit near one centroid and others between
/// several, a ratio spends probes where they help: with fewer lists a query on average
/// than a fixed nprobe, it reaches at least that nprobe's recall.
#[test]
fn ratio_spends_probes_where_they_help() {
    let (index, q, truth) = setup(Metric::L2);
    let p = SearchParams::new(K, 4).with_refine(4).with_probe_ratio(1.3);
    let (found, probed) = run(&index, &q, &p);
    let mean = probed as f64 / NQ as f64;
    let budget = mean.ceil() as usize;
    let adaptive = recall(&found, &truth);
    let (same_budget, _) = run(&index, &q, &SearchParams::new(K, budget).with_refine(4));
    let fixed = recall(&same_budget, &truth);
    eprintln!("adaptive {adaptive:.3} with {mean:.2} lists a query; nprobe {budget}: {fixed:.3}");
    assert!(mean > 1.0 && budget < 4, "{mean} lists a query");
    assert!(
        adaptive >= fixed,
        "adaptive {adaptive:.3} against fixed {fixed:.3}"
    );
}
