//! Tests of k-means: objective, determinism, assignment, splits, and bad shapes.

use super::*;
use ivfpq_simd::Kernels;

fn objective(data: &[f32], dim: usize, c: &[f32]) -> f64 {
    let n = data.len() / dim;
    let (mut l, mut d) = (vec![0; n], vec![0.0; n]);
    assign(
        data,
        dim,
        c,
        &row_norms(c, dim),
        Nearest::L2,
        &mut l,
        &mut d,
    );
    d.iter().map(|&x| x as f64).sum()
}

#[test]
fn lloyd_iterations_never_increase_the_objective_and_are_deterministic() {
    // Eight blobs in 16-d (wide enough for the GEMM path), plus a 2-d copy (direct path).
    for dim in [16usize, 2] {
        let data: Vec<f32> = (0..4000)
            .flat_map(|i| {
                (0..dim).map(move |d| {
                    ((i % 8) * 10 + d % 3) as f32 + ((i * 31 + d * 17) % 97) as f32 / 97.0
                })
            })
            .collect();
        let mut last = f64::INFINITY;
        for iters in [1usize, 2, 4, 8] {
            let p = KMeansParams {
                k: 8,
                iters,
                max_points_per_centroid: 256,
                seed: 3,
                spherical: false,
            };
            let c = train(&data, dim, &p).unwrap();
            let obj = objective(&data, dim, &c);
            assert!(
                obj <= last * (1.0 + 1e-6),
                "dim {dim}: {iters} iterations raised the objective {last} -> {obj}"
            );
            last = obj;
            assert_eq!(
                c,
                train(&data, dim, &p).unwrap(),
                "same seed, same centroids"
            );
        }
        let other = train(
            &data,
            dim,
            &KMeansParams {
                k: 8,
                iters: 1,
                max_points_per_centroid: 256,
                seed: 4,
                spherical: false,
            },
        )
        .unwrap();
        assert_ne!(
            other,
            train(
                &data,
                dim,
                &KMeansParams {
                    k: 8,
                    iters: 1,
                    max_points_per_centroid: 256,
                    seed: 3,
                    spherical: false,
                }
            )
            .unwrap()
        );
    }
}

#[test]
fn gemm_assignment_matches_brute_force() {
    let dim = 7;
    let data: Vec<f32> = (0..300 * dim)
        .map(|i| ((i * 7919) % 101) as f32 / 10.0)
        .collect();
    let c: Vec<f32> = (0..13 * dim)
        .map(|i| ((i * 104729) % 97) as f32 / 9.0)
        .collect();
    let norms = row_norms(&c, dim);
    let mut labels = vec![0; 300];
    let mut dists = vec![0.0; 300];
    assign(&data, dim, &c, &norms, Nearest::L2, &mut labels, &mut dists);
    for (i, row) in data.chunks(dim).enumerate() {
        let d: Vec<f32> = c
            .chunks(dim)
            .map(|cc| row.iter().zip(cc).map(|(a, b)| (a - b) * (a - b)).sum())
            .collect();
        let best = d.iter().cloned().fold(f32::INFINITY, f32::min);
        assert!(d[labels[i] as usize] <= best + 1e-3, "row {i}");
        assert!(
            (dists[i] - best).abs() <= 1e-2 * best.max(1.0),
            "row {i}: {} vs {best}",
            dists[i]
        );
    }
}

#[test]
fn empty_clusters_are_split() {
    // 3 distinct points, 3 centroids, but all the same initial data near one point:
    // the split must leave no empty cluster.
    let mut data = vec![0.0f32; 200];
    data[0] = 5.0;
    let p = KMeansParams {
        k: 3,
        iters: 5,
        max_points_per_centroid: 256,
        seed: 1,
        spherical: false,
    };
    let c = train(&data, 2, &p).unwrap();
    assert_eq!(c.len(), 6);
    assert!(c.iter().all(|v| v.is_finite()));
}

#[test]
fn spherical_centroids_are_unit_and_plain_ones_shrink() {
    // Unit rows in 8 directions with noise: plain means fall inside the sphere.
    let dim = 16;
    let mut z = 0x1234_5678_9abc_def1u64;
    let mut data = Vec::new();
    for i in 0..1600 {
        let mut row: Vec<f32> = (0..dim)
            .map(|d| {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                let noise = (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                f32::from(u8::from(d == i % 8)) * 2.0 + noise
            })
            .collect();
        crate::validate::normalize(Kernels::active(), &mut row);
        data.extend(row);
    }
    let norms = |spherical: bool| {
        let p = KMeansParams {
            k: 8,
            iters: 6,
            max_points_per_centroid: 256,
            seed: 2,
            spherical,
        };
        row_norms(&train(&data, dim, &p).unwrap(), dim)
    };
    assert!(
        norms(true).iter().all(|&n| (n - 1.0).abs() < 1e-5),
        "{:?}",
        norms(true)
    );
    assert!(norms(false).iter().all(|&n| n < 0.99), "{:?}", norms(false));
}

#[test]
fn bad_shapes_are_errors_naming_the_parameter() {
    let data = vec![0.5f32; 40];
    let p = KMeansParams {
        k: 4,
        iters: 2,
        max_points_per_centroid: 256,
        seed: 1,
        spherical: false,
    };
    let param = |e: IvfPqError| match e {
        IvfPqError::InvalidParameter { param, .. }
        | IvfPqError::DimensionMismatch { param, .. }
        | IvfPqError::TooFewTrainingPoints { param, .. }
        | IvfPqError::Empty { param } => param,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(param(train(&data, 0, &p).unwrap_err()), "dim");
    assert_eq!(param(train(&data, 3, &p).unwrap_err()), "data");
    assert_eq!(
        param(train(&data, 4, &KMeansParams { k: 0, ..p }).unwrap_err()),
        "k"
    );
    assert_eq!(
        param(train(&data, 4, &KMeansParams { k: 11, ..p }).unwrap_err()),
        "k"
    );
    assert_eq!(param(train(&[], 4, &p).unwrap_err()), "k");
    let no_points = KMeansParams {
        max_points_per_centroid: 0,
        ..p
    };
    assert_eq!(
        param(train(&data, 4, &no_points).unwrap_err()),
        "max_points_per_centroid"
    );
    let rng = &mut StdRng::seed_from_u64(1);
    assert_eq!(param(subsample(&data, 0, 3, rng).unwrap_err()), "dim");
    assert_eq!(param(subsample(&data, 7, 3, rng).unwrap_err()), "x");
    assert_eq!(subsample(&data, 4, 3, rng).unwrap().len(), 12);
    assert!(subsample(&[], 4, 3, rng).unwrap().is_empty());
    assert_eq!(
        param(refine(&data, 0, vec![0.0; 4], 1, 1).unwrap_err()),
        "dim"
    );
    assert_eq!(
        param(refine(&data, 4, vec![0.0; 5], 1, 1).unwrap_err()),
        "c"
    );
    assert_eq!(param(refine(&data, 4, Vec::new(), 1, 1).unwrap_err()), "c");
    assert_eq!(train(&data, 4, &p).unwrap().len(), 16);
    assert!(row_norms(&data, 0).is_empty());
    assign(&data, 0, &[], &[], Nearest::L2, &mut [], &mut []);
}
