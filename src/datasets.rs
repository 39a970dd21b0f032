//! Synthetic datasets with exact ground truth, made in-process (no downloads).
//!
//! [`synthetic`] ports `shared/bench/datasets.py synth`: clustered points on a low-rank
//! latent space, projected to `dim`, with skewed cluster sizes and a shared mean, like
//! pooled language-model embeddings. Low rank plus anisotropy is what makes PQ's recall
//! ceiling show up, so tests on this data exercise the real failure modes.

use ivfpq_core::{Metric, Neighbor};
use ivfpq_io::Dataset;
use ivfpq_simd::{Kernels, TopK};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

/// The shape of a synthetic dataset.
#[derive(Clone, Copy, Debug)]
pub struct SynthSpec {
    /// Base vectors.
    pub n: usize,
    /// Query vectors (drawn from the same distribution).
    pub queries: usize,
    /// Dimension.
    pub dim: usize,
    /// Latent rank of the cluster structure.
    pub latent: usize,
    /// Metric of the ground truth.
    pub metric: Metric,
    /// RNG seed.
    pub seed: u64,
    /// Neighbours kept per query in the ground truth.
    pub gt_k: usize,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            n: 100_000,
            queries: 1000,
            dim: 128,
            latent: 16,
            metric: Metric::L2,
            seed: 7,
            gt_k: 100,
        }
    }
}

fn normal(rng: &mut StdRng) -> f32 {
    // Box–Muller; 1 − u keeps the logarithm finite.
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random::<f64>();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// Generates a dataset and its exact ground truth.
pub fn synthetic(spec: &SynthSpec) -> Dataset {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let (dim, latent) = (spec.dim, spec.latent.max(1));
    let clusters = 16usize.max((2.0 * (spec.n as f64).sqrt()) as usize);
    let centers: Vec<f32> = (0..clusters * latent)
        .map(|_| normal(&mut rng) * 2.0)
        .collect();
    let spread: Vec<f32> = (0..clusters)
        .map(|_| rng.random_range(0.3f32..1.0))
        .collect();
    let mut cdf: Vec<f64> = (1..=clusters).map(|i| 1.0 / (i as f64).powf(0.8)).collect();
    let total: f64 = cdf.iter().sum();
    let mut acc = 0.0;
    for w in cdf.iter_mut() {
        acc += *w / total;
        *w = acc;
    }
    let scale = 1.0 / (latent as f32).sqrt();
    let proj: Vec<f32> = (0..latent * dim)
        .map(|_| normal(&mut rng) * scale)
        .collect();
    let mean: Vec<f32> = (0..dim).map(|_| normal(&mut rng) * 0.5).collect();
    let mut draw = |count: usize| {
        let mut out = vec![0f32; count * dim];
        let mut z = vec![0f32; latent];
        for row in out.chunks_exact_mut(dim) {
            let u: f64 = rng.random();
            let c = cdf.partition_point(|&p| p < u).min(clusters - 1);
            for (l, zl) in z.iter_mut().enumerate() {
                *zl = centers[c * latent + l] + normal(&mut rng) * spread[c];
            }
            for (d, x) in row.iter_mut().enumerate() {
                let mut v = mean[d] + normal(&mut rng) * 0.02;
                for (l, zl) in z.iter().enumerate() {
                    v += zl * proj[l * dim + d];
                }
                *x = v;
            }
        }
        out
    };
    let base = draw(spec.n);
    let queries = draw(spec.queries);
    let gt_k = spec.gt_k.min(spec.n);
    let gt = exact_knn(&base, &queries, dim, spec.metric, gt_k)
        .into_iter()
        .flat_map(|r| r.into_iter().map(|nb| nb.id as i32))
        .collect();
    Dataset {
        base,
        queries,
        gt,
        gt_k,
        dim,
        metric: spec.metric,
    }
}

/// Exact `k` nearest rows of `base` for each query, by brute force on all cores.
/// Ids are 0-based row numbers. Ties go to the lower row.
pub fn exact_knn(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    metric: Metric,
    k: usize,
) -> Vec<Vec<Neighbor>> {
    let kern = Kernels::active();
    let unit = |x: &[f32]| {
        let mut v = x.to_vec();
        for row in v.chunks_exact_mut(dim) {
            let n = kern.norm_sq(row).sqrt();
            if n > 0.0 {
                row.iter_mut().for_each(|x| *x /= n);
            }
        }
        v
    };
    let (b, q) = if metric == Metric::Cosine {
        (unit(base), unit(queries))
    } else {
        (base.to_vec(), queries.to_vec())
    };
    const TILE: usize = 4096;
    q.par_chunks(dim)
        .map(|qv| {
            let mut top = TopK::new(k);
            let mut d = vec![0f32; TILE];
            for (t, rows) in b.chunks(TILE * dim).enumerate() {
                let d = &mut d[..rows.len() / dim];
                match metric {
                    Metric::Dot => {
                        kern.dot_many(qv, rows, d);
                        d.iter_mut().for_each(|x| *x = -*x);
                    }
                    _ => kern.l2sq_many(qv, rows, d),
                }
                for (i, &x) in d.iter().enumerate() {
                    top.push(x, (t * TILE + i) as u64);
                }
            }
            top.into_sorted()
                .into_iter()
                .map(|(x, id)| Neighbor {
                    id,
                    distance: metric.from_internal(x),
                })
                .collect()
        })
        .collect()
}
