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
    let p = IndexParams::default().with_nlist(8).with_m(4);
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
    let p = IndexParams::default().with_nlist(8).with_m(4);
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
    let p = IndexParams::default().with_nlist(301).with_m(4);
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
    let p = IndexParams::default().with_nlist(8).with_m(3);
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
    let p = IndexParams::default()
        .with_metric(Metric::Dot)
        .with_nlist(8)
        .with_m(4);
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
        let p = IndexParams::default().with_nlist(4).with_nbits(nbits);
        let msg = message(IvfPqIndex::build(&d, &ids, DIM, &p).unwrap_err());
        assert!(msg.contains("nbits"), "{msg}");
    }
    let p = IndexParams::default().with_nlist(4).with_nbits(4);
    assert_eq!(p.resolved_m(960).unwrap(), 120);
    let index = IvfPqIndex::build(&d, &ids, DIM, &p).unwrap();
    assert_eq!(
        (index.model().nbits(), index.model().pq().map(|p| p.m())),
        (4, Some(1))
    );
    let hits = index.search(&d[..DIM], &SearchParams::new(3, 4)).unwrap();
    assert_eq!(hits[0].len(), 3);
    // 4-bit training needs only 16 points per sub-quantizer.
    let few = IvfPqIndex::build(&d[..20 * DIM], &ids[..20], DIM, &p.with_nlist(2));
    assert!(few.is_ok());
}

#[test]
fn centroid_out_of_range_is_none() {
    let index = small_index();
    let model = index.model();
    assert_eq!(model.centroid(0), Some(&model.centroids()[..DIM]));
    assert_eq!(model.centroid(7), Some(&model.centroids()[7 * DIM..]));
    assert_eq!(model.centroid(8), None);
    assert_eq!(model.centroid(usize::MAX), None);
}

#[test]
fn model_encode_checks_its_rows() {
    let index = small_index();
    let model = index.model();
    let e = model.encode(&[0.5; DIM + 1]).unwrap_err();
    assert!(
        matches!(
            e,
            IvfPqError::DimensionMismatch {
                param: "vectors",
                ..
            }
        ),
        "{e}"
    );
    let mut nan = data(2);
    nan[DIM + 1] = f32::NAN;
    let msg = message(model.encode(&nan).unwrap_err());
    assert!(msg.contains("row 1") && msg.contains("column 1"), "{msg}");
    let (assign, codes) = model.encode(&data(3)).unwrap();
    assert_eq!((assign.len(), codes.len()), (3, 3 * model.code_len()));
    assert_eq!(model.encode(&[]).unwrap(), (Vec::new(), Vec::new()));
}

#[test]
fn pq_encode_into_a_short_buffer_is_a_typed_error() {
    let index = small_index();
    let pq = index.model().pq().unwrap();
    let x = data(5);
    let mut codes = vec![7u8; 5 * pq.m() - 1];
    let e = pq.encode(&x, &mut codes).unwrap_err();
    assert!(
        matches!(
            e,
            IvfPqError::BufferTooSmall {
                param: "codes",
                need: 20,
                got: 19
            }
        ),
        "{e}"
    );
    assert!(codes.iter().all(|&c| c == 7), "nothing written on error");
    let e = pq.encode(&x[..DIM + 3], &mut codes).unwrap_err();
    assert!(
        matches!(e, IvfPqError::DimensionMismatch { param: "x", .. }),
        "{e}"
    );
    // A longer buffer is fine: the codes fill its start.
    let mut codes = vec![0u8; 5 * pq.m() + 3];
    pq.encode(&x, &mut codes).unwrap();
    let mut back = vec![0.0; 5 * DIM - 1];
    let e = pq.decode(&codes[..5 * pq.m()], &mut back).unwrap_err();
    assert!(
        matches!(e, IvfPqError::BufferTooSmall { param: "out", .. }),
        "{e}"
    );
    let e = pq.decode(&codes[..5], &mut back).unwrap_err();
    assert!(
        matches!(e, IvfPqError::DimensionMismatch { param: "codes", .. }),
        "{e}"
    );
}

#[test]
fn pq_train_names_the_bad_parameter() {
    use ivfpq_core::{KSUB, KSUB4, ProductQuantizer};

    let d = data(300);
    let param = |e: IvfPqError| match e {
        IvfPqError::InvalidParameter { param, .. }
        | IvfPqError::DimensionMismatch { param, .. }
        | IvfPqError::TooFewTrainingPoints { param, .. } => param,
        IvfPqError::MDoesNotDivideDim { .. } => "m",
        other => panic!("unexpected {other}"),
    };
    let train = |d: &[f32], dim, m, ksub, max_points| {
        ProductQuantizer::train(d, dim, m, ksub, 2, max_points, 1)
    };
    assert_eq!(param(train(&d, 0, 4, KSUB, 256).unwrap_err()), "dim");
    assert_eq!(param(train(&d, DIM, 0, KSUB, 256).unwrap_err()), "m");
    assert_eq!(param(train(&d, DIM, 3, KSUB, 256).unwrap_err()), "m");
    assert_eq!(param(train(&d, DIM, 4, 100, 256).unwrap_err()), "ksub");
    assert_eq!(
        param(train(&d[..7], DIM, 4, KSUB, 256).unwrap_err()),
        "data"
    );
    assert_eq!(
        param(train(&d[..DIM * 255], DIM, 4, KSUB, 256).unwrap_err()),
        "ksub"
    );
    assert_eq!(
        param(train(&d, DIM, 4, KSUB4, 0).unwrap_err()),
        "max_points_per_centroid"
    );
    let pq = train(&d, DIM, 4, KSUB4, 256).unwrap();
    // 4-bit codes hold values below 16 only.
    let e = pq.decode(&[0, 1, 2, 16], &mut [0.0; DIM]).unwrap_err();
    assert!(message(e).starts_with("codes:"));
}

#[test]
fn kmeans_with_dimension_zero_is_an_error() {
    use ivfpq_core::kmeans::{KMeansParams, subsample, train};
    use rand::SeedableRng;

    let p = KMeansParams {
        k: 2,
        iters: 2,
        max_points_per_centroid: 256,
        seed: 1,
        spherical: false,
    };
    let e = train(&data(10), 0, &p).unwrap_err();
    assert!(
        matches!(e, IvfPqError::InvalidParameter { param: "dim", .. }),
        "{e}"
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let e = subsample(&data(10), 0, 4, &mut rng).unwrap_err();
    assert!(
        matches!(e, IvfPqError::InvalidParameter { param: "dim", .. }),
        "{e}"
    );
}

#[test]
fn refine_factor_is_bounded_by_the_candidates_a_query_keeps() {
    let index = small_index();
    let q = &data(1)[..DIM];
    for p in [
        SearchParams::new(5, 2).with_refine(usize::MAX),
        SearchParams::new(5, 2).with_auto_refine(usize::MAX),
        SearchParams::new(50_000, 2).with_refine(1 << 20),
    ] {
        let msg = message(index.search(q, &p).unwrap_err());
        assert!(msg.starts_with("refine_factor:"), "{msg}");
    }
    assert!(
        index
            .search(q, &SearchParams::new(10, 2).with_refine(1000))
            .is_ok()
    );
}
