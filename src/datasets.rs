//! Synthetic datasets with exact ground truth, made in-process (no downloads).
//!
//! [`synthetic`] ports `shared/bench/datasets.py synth`: clustered points on a low-rank
//! latent space, projected to `dim`, with skewed cluster sizes and a shared mean, like
//! pooled language-model embeddings. Low rank plus anisotropy is what makes PQ's recall
//! ceiling show up, so tests on this data exercise the real failure modes.

use std::borrow::Cow;

use ivfpq_core::{IvfPqError, Metric, Neighbor};
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

impl SynthSpec {
    /// Checks the shape: `n`, `queries`, `dim` and `gt_k` at least 1, and every buffer
    /// the generator makes addressable. The error names the parameter at fault.
    pub fn check(&self) -> Result<(), IvfPqError> {
        for (param, v) in [
            ("n", self.n),
            ("queries", self.queries),
            ("dim", self.dim),
            ("gt_k", self.gt_k),
        ] {
            if v == 0 {
                return Err(invalid(param, "must be at least 1".into()));
            }
        }
        let fits = |values: Option<usize>| {
            values
                .and_then(|v| v.checked_mul(size_of::<f32>()))
                .is_some_and(|b| b <= isize::MAX as usize)
        };
        let rows = self.n.checked_add(self.queries);
        if !fits(rows.and_then(|r| r.checked_mul(self.dim))) {
            return Err(invalid(
                "n",
                format!(
                    "(n + queries) × dim = ({} + {}) × {} values do not fit in memory",
                    self.n, self.queries, self.dim
                ),
            ));
        }
        if !fits(self.latent.max(1).checked_mul(self.dim)) {
            return Err(invalid(
                "latent",
                format!(
                    "latent × dim = {} × {} values do not fit in memory",
                    self.latent, self.dim
                ),
            ));
        }
        if !fits(self.queries.checked_mul(self.gt_k.min(self.n))) {
            return Err(invalid(
                "gt_k",
                format!(
                    "queries × gt_k = {} × {} neighbours do not fit in memory",
                    self.queries, self.gt_k
                ),
            ));
        }
        Ok(())
    }
}

/// An [`IvfPqError::InvalidParameter`] naming `param`.
fn invalid(param: &'static str, message: String) -> IvfPqError {
    IvfPqError::InvalidParameter { param, message }
}

/// Generates a dataset and its exact ground truth.
///
/// A zero `n`, `queries` or `dim` gives a dataset without those rows (and, for `n` 0, an
/// empty ground truth) rather than a panic; [`try_synthetic`] reports such shapes, and
/// sizes that do not fit in memory, as errors.
///
/// # Panics
///
/// If the vectors do not fit in memory (see [`SynthSpec::check`]).
pub fn synthetic(spec: &SynthSpec) -> Dataset {
    let base = vec![0f32; spec.n * spec.dim];
    let queries = vec![0f32; spec.queries * spec.dim];
    generate(spec, base, queries)
}

/// [`synthetic`] for a spec that passes [`SynthSpec::check`], with the vectors' memory
/// reserved up front: a bad shape, or a size the allocator refuses, is an error naming
/// the parameter rather than a panic or an abort.
pub fn try_synthetic(spec: &SynthSpec) -> Result<Dataset, IvfPqError> {
    spec.check()?;
    let base = zeroed("n", spec.n * spec.dim)?;
    let queries = zeroed("queries", spec.queries * spec.dim)?;
    Ok(generate(spec, base, queries))
}

/// `len` zeros, or an error naming `param` if the memory cannot be had.
fn zeroed(param: &'static str, len: usize) -> Result<Vec<f32>, IvfPqError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|e| invalid(param, format!("{len} values: {e}")))?;
    v.resize(len, 0.0);
    Ok(v)
}

/// Fills `base` and `queries` (zeroed, `n × dim` and `queries × dim`) and computes the
/// ground truth.
fn generate(spec: &SynthSpec, mut base: Vec<f32>, mut queries: Vec<f32>) -> Dataset {
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
    let mut draw = |out: &mut [f32]| {
        let mut z = vec![0f32; latent];
        // `max(1)`: with `dim` 0 the buffer is empty and there is no row to draw.
        for row in out.chunks_exact_mut(dim.max(1)) {
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
    };
    draw(&mut base);
    draw(&mut queries);
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
/// Ids are 0-based row numbers. Ties go to the lower row. With `dim` 0 there are no
/// rows, and the result is empty.
pub fn exact_knn(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    metric: Metric,
    k: usize,
) -> Vec<Vec<Neighbor>> {
    if dim == 0 {
        return Vec::new();
    }
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
    let (b, q): (Cow<'_, [f32]>, Cow<'_, [f32]>) = if metric == Metric::Cosine {
        (unit(base).into(), unit(queries).into())
    } else {
        (base.into(), queries.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn param(e: IvfPqError) -> &'static str {
        match e {
            IvfPqError::InvalidParameter { param, .. } => param,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn bad_shapes_are_errors_naming_the_parameter() {
        let small = SynthSpec {
            n: 50,
            queries: 5,
            dim: 4,
            ..Default::default()
        };
        for (spec, want) in [
            (SynthSpec { dim: 0, ..small }, "dim"),
            (SynthSpec { n: 0, ..small }, "n"),
            (
                SynthSpec {
                    queries: 0,
                    ..small
                },
                "queries",
            ),
            (SynthSpec { gt_k: 0, ..small }, "gt_k"),
            (
                SynthSpec {
                    n: usize::MAX,
                    ..small
                },
                "n",
            ),
            (
                SynthSpec {
                    dim: usize::MAX / 2,
                    ..small
                },
                "n",
            ),
            (
                SynthSpec {
                    latent: usize::MAX,
                    ..small
                },
                "latent",
            ),
        ] {
            assert_eq!(param(try_synthetic(&spec).unwrap_err()), want);
        }
        let ds = try_synthetic(&small).unwrap();
        assert_eq!((ds.base.len(), ds.queries.len(), ds.gt_k), (200, 20, 50));
        assert_eq!(ds.base, synthetic(&small).base, "the same data either way");
    }

    #[test]
    fn zero_sizes_give_empty_data_not_a_panic() {
        let ds = synthetic(&SynthSpec {
            n: 10,
            queries: 3,
            dim: 0,
            ..Default::default()
        });
        assert!(ds.base.is_empty() && ds.queries.is_empty() && ds.gt.is_empty());
        let ds = synthetic(&SynthSpec {
            n: 0,
            queries: 3,
            dim: 4,
            ..Default::default()
        });
        assert_eq!((ds.base.len(), ds.queries.len(), ds.gt_k), (0, 12, 0));
        assert!(exact_knn(&[1.0], &[1.0], 0, Metric::L2, 1).is_empty());
    }
}
