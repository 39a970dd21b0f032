//! Every documented bad input gets a typed error naming the parameter; nothing panics.

use ivfpq_core::{IndexParams, IvfPqError, IvfPqIndex, Metric, SearchParams};

const DIM: usize = 8;

fn data(n: usize) -> Vec<f32> {
    (0..n * DIM)
        .map(|i| ((i * 7919) % 1013) as f32 / 1013.0)
        .collect()
}

fn small_index() -> IvfPqIndex {
    let d = data(1000);
    let ids: Vec<u64> = (0..1000).collect();
    let p = IndexParams {
        nlist: Some(8),
        m: Some(4),
        ..Default::default()
    };
    IvfPqIndex::build(&d, &ids, DIM, &p).unwrap()
}

fn message(e: IvfPqError) -> String {
    e.to_string()
}

#[test]
fn wrong_dimension_is_named() {
    let index = small_index();
    let e = index
        .search(&[0.0; DIM + 1], &SearchParams::new(5, 2))
        .unwrap_err();
    assert!(
        matches!(
            e,
            IvfPqError::DimensionMismatch {
                param: "queries",
                ..
            }
        ),
        "{e}"
    );
    let e = index.clone().add(&[0.0; 3], &[1]).unwrap_err();
    assert!(message(e).contains("vectors"));
}

#[test]
fn nan_and_infinity_are_rejected_with_position() {
    let mut d = data(1000);
    d[17 * DIM + 3] = f32::NAN;
    let ids: Vec<u64> = (0..1000).collect();
    let p = IndexParams {
        nlist: Some(8),
        m: Some(4),
        ..Default::default()
    };
    let e = IvfPqIndex::build(&d, &ids, DIM, &p).unwrap_err();
    let msg = message(e);
    assert!(
        msg.contains("training data") && msg.contains("row 17") && msg.contains("column 3"),
        "{msg}"
    );
    let index = small_index();
    let mut q = vec![0.5; DIM];
    q[2] = f32::INFINITY;
    let msg = message(index.search(&q, &SearchParams::new(5, 2)).unwrap_err());
    assert!(msg.contains("queries") && msg.contains("inf"), "{msg}");
}

#[test]
fn empty_training_set() {
    let e = IvfPqIndex::build(&[], &[], DIM, &IndexParams::default()).unwrap_err();
    assert!(
        matches!(
            e,
            IvfPqError::Empty {
                param: "training data"
            }
        ),
        "{e}"
    );
}

#[test]
fn fewer_points_than_nlist() {
    let d = data(300);
    let ids: Vec<u64> = (0..300).collect();
    let p = IndexParams {
        nlist: Some(301),
        m: Some(4),
        ..Default::default()
    };
    let e = IvfPqIndex::build(&d, &ids, DIM, &p).unwrap_err();
    assert!(
        matches!(
            e,
            IvfPqError::TooFewTrainingPoints {
                param: "nlist",
                need: 301,
                got: 300
            }
        ),
        "{e}"
    );
}

#[test]
fn m_must_divide_dim_and_the_error_suggests_values() {
    let d = data(1000);
    let ids: Vec<u64> = (0..1000).collect();
    let p = IndexParams {
        nlist: Some(8),
        m: Some(3),
        ..Default::default()
    };
    let msg = message(IvfPqIndex::build(&d, &ids, DIM, &p).unwrap_err());
    assert!(msg.starts_with("m:") && msg.contains("[2, 4"), "{msg}");
}

#[test]
fn k_and_nprobe_ranges() {
    let index = small_index();
    let q = &data(1)[..DIM];
    let msg = message(index.search(q, &SearchParams::new(0, 2)).unwrap_err());
    assert!(msg.starts_with("k:"), "{msg}");
    let msg = message(index.search(q, &SearchParams::new(50_001, 2)).unwrap_err());
    assert!(msg.starts_with("k:"), "{msg}");
    let msg = message(index.search(q, &SearchParams::new(5, 0)).unwrap_err());
    assert!(msg.starts_with("nprobe:"), "{msg}");
    let msg = message(
        index
            .search(q, &SearchParams::new(5, 2).with_refine(0))
            .unwrap_err(),
    );
    assert!(msg.starts_with("refine_factor:"), "{msg}");
}

#[test]
fn probe_ratio_range_and_metric() {
    let index = small_index();
    let q = &data(1)[..DIM];
    for bad in [0.5, -1.0, f32::NAN, f32::INFINITY] {
        let p = SearchParams::new(5, 4).with_probe_ratio(bad);
        let msg = message(index.search(q, &p).unwrap_err());
        assert!(msg.starts_with("probe_ratio:"), "{msg}");
    }
    // Dot's coarse distances are −⟨q, c⟩, which can be negative: no ratio of them.
    let d = data(1000);
    let ids: Vec<u64> = (0..1000).collect();
    let p = IndexParams {
        metric: Metric::Dot,
        nlist: Some(8),
        m: Some(4),
        ..Default::default()
    };
    let dot = IvfPqIndex::build(&d, &ids, DIM, &p).unwrap();
    let e = dot
        .search(q, &SearchParams::new(5, 4).with_probe_ratio(1.5))
        .unwrap_err();
    assert!(
        matches!(
            e,
            IvfPqError::InvalidParameter {
                param: "probe_ratio",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn nprobe_above_nlist_is_clamped_to_every_partition() {
    let index = small_index();
    let q = &data(3)[..3 * DIM];
    let all = index.search(q, &SearchParams::new(10, 8)).unwrap();
    let over = index.search(q, &SearchParams::new(10, 1000)).unwrap();
    assert_eq!(all, over);
}

#[test]
fn ids_must_match_vectors() {
    let mut index = small_index();
    let msg = message(index.add(&data(3), &[1, 2]).unwrap_err());
    assert!(msg.starts_with("ids:"), "{msg}");
}

#[test]
fn unknown_metric_name() {
    let msg = message("manhattan".parse::<Metric>().unwrap_err());
    assert!(msg.starts_with("metric:"), "{msg}");
}

#[test]
fn results_are_sorted_by_distance_then_id_and_k_larger_than_n_returns_all() {
    let index = small_index();
    let q = &data(1)[..DIM];
    let res = index
        .search(q, &SearchParams::new(5000, 8).with_refine(2))
        .unwrap();
    assert_eq!(res[0].len(), 1000);
    for w in res[0].windows(2) {
        assert!((w[0].distance, w[0].id) <= (w[1].distance, w[1].id));
    }
}

#[test]
fn code_width_must_be_4_or_8_and_4_bit_defaults_to_dim_over_8() {
    let d = data(1000);
    let ids: Vec<u64> = (0..1000).collect();
    for nbits in [0u32, 2, 5, 16] {
        let p = IndexParams {
            nlist: Some(4),
            nbits,
            ..Default::default()
        };
        let msg = message(IvfPqIndex::build(&d, &ids, DIM, &p).unwrap_err());
        assert!(msg.contains("nbits"), "{msg}");
    }
    let p = IndexParams {
        nlist: Some(4),
        nbits: 4,
        ..Default::default()
    };
    assert_eq!(p.resolved_m(960).unwrap(), 120);
    let index = IvfPqIndex::build(&d, &ids, DIM, &p).unwrap();
    assert_eq!(
        (index.model().nbits(), index.model().pq().map(|p| p.m())),
        (4, Some(1))
    );
    let hits = index.search(&d[..DIM], &SearchParams::new(3, 4)).unwrap();
    assert_eq!(hits[0].len(), 3);
    // 4-bit training needs only 16 points per sub-quantizer.
    let few = IvfPqIndex::build(
        &d[..20 * DIM],
        &ids[..20],
        DIM,
        &IndexParams {
            nlist: Some(2),
            ..p
        },
    );
    assert!(few.is_ok());
}
