//! k-means: seeded sampling of the training rows, then Lloyd iterations, plain or with
//! distance bounds (`crate::elkan`) for wide rows. Assignment is `crate::assign`'s GEMM
//! tiles; the update step, with empty-cluster splitting, is `crate::recenter`.
use std::borrow::Cow;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub(crate) use crate::assign::{DIRECT_MAX_DIM, assign_transposed};
pub use crate::assign::{Nearest, assign, row_norms};
use crate::error::{IvfPqError, Result, invalid};
pub(crate) use crate::recenter::recenter;
use crate::validate::whole_rows;

/// How a k-means run is set up.
#[derive(Clone, Copy, Debug)]
pub struct KMeansParams {
    /// Number of centroids.
    pub k: usize,
    /// Lloyd iterations.
    pub iters: usize,
    /// Training points kept per centroid; larger inputs are subsampled to `k ×` this.
    pub max_points_per_centroid: usize,
    /// RNG seed for the subsample, the initial centroids and cluster splits.
    pub seed: u64,
    /// Spherical k-means: each centroid is scaled to unit norm after every update, so
    /// that on unit rows the nearest centroid by L2 is the one of largest cosine. For
    /// cosine data this is what FAISS's IVF trains (`cp.spherical` for inner product);
    /// plain means shrink towards the origin, and the partitions then follow the rows'
    /// norms as much as their directions.
    pub spherical: bool,
}

/// Trains `p.k` centroids on the `dim`-wide rows of `data`; returns them row-major.
///
/// Errors name the parameter at fault: `dim` or `k` or `max_points_per_centroid` 0,
/// `data` not whole rows, or fewer rows than `k`. The values are not checked: NaN or
/// infinite rows give meaningless centroids (callers check them, as
/// [`crate::IvfPqModel::train`] does).
pub fn train(data: &[f32], dim: usize, p: &KMeansParams) -> Result<Vec<f32>> {
    let k = p.k;
    let n = whole_rows("data", data, dim)?;
    if k == 0 {
        return Err(invalid("k", "must be at least 1"));
    }
    if p.max_points_per_centroid == 0 {
        return Err(invalid("max_points_per_centroid", "must be at least 1"));
    }
    if n < k {
        return Err(IvfPqError::TooFewTrainingPoints {
            param: "k",
            need: k,
            got: n,
        });
    }
    let mut rng = StdRng::seed_from_u64(p.seed);
    let x = subsample(
        data,
        dim,
        k.saturating_mul(p.max_points_per_centroid),
        &mut rng,
    )?;
    let x = &x[..];
    let n = x.len() / dim;
    let init = rand::seq::index::sample(&mut rng, n, k).into_vec();
    let c = gather_rows(x, dim, &init);
    Ok(lloyd(x, dim, c, (p.iters, p.spherical), &mut rng))
}

/// Up to `cap` of the `dim`-wide rows of `x`, drawn with `rng` (which is not touched when
/// every row is kept), in their original order for locality.
///
/// Errors if `dim` is 0 or `x` is not whole rows.
pub fn subsample<'a>(
    x: &'a [f32],
    dim: usize,
    cap: usize,
    rng: &mut StdRng,
) -> Result<Cow<'a, [f32]>> {
    let n = whole_rows("x", x, dim)?;
    if n <= cap {
        return Ok(x.into());
    }
    let mut idx = rand::seq::index::sample(rng, n, cap).into_vec();
    idx.sort_unstable();
    Ok(gather_rows(x, dim, &idx).into())
}

/// Continues k-means from the centroids `c` (`k × dim`) for `iters` iterations on every
/// row of `data`: a warm start for callers that retrain on slightly changed data (OPQ).
///
/// Errors if `dim` is 0, `data` or `c` is not whole rows, or `c` is empty.
pub fn refine(data: &[f32], dim: usize, c: Vec<f32>, iters: usize, seed: u64) -> Result<Vec<f32>> {
    whole_rows("data", data, dim)?;
    if whole_rows("c", &c, dim)? == 0 {
        return Err(IvfPqError::Empty { param: "c" });
    }
    Ok(lloyd(
        data,
        dim,
        c,
        (iters, false),
        &mut StdRng::seed_from_u64(seed),
    ))
}

/// `(iters, spherical)` Lloyd iterations from `c`, splitting empty clusters after each
/// (see [`KMeansParams::spherical`]). Wide rows take Elkan's bounds ([`crate::elkan`])
/// when they fit its budget.
fn lloyd(
    x: &[f32],
    dim: usize,
    c: Vec<f32>,
    (iters, spherical): (usize, bool),
    rng: &mut StdRng,
) -> Vec<f32> {
    let n = x.len() / dim;
    let k = c.len() / dim;
    if dim >= crate::elkan::MIN_DIM && iters > 1 && n.saturating_mul(k) <= crate::elkan::MAX_BOUNDS
    {
        return crate::elkan::lloyd(x, dim, c, (iters, spherical), rng);
    }
    plain_lloyd(x, dim, c, (iters, spherical), rng)
}

/// [`lloyd`] without the bounds: every row is assigned (GEMM or direct) every iteration.
pub(crate) fn plain_lloyd(
    x: &[f32],
    dim: usize,
    mut c: Vec<f32>,
    (iters, spherical): (usize, bool),
    rng: &mut StdRng,
) -> Vec<f32> {
    let n = x.len() / dim;
    let k = c.len() / dim;
    let mut labels = vec![0u32; n];
    let mut dists = vec![0f32; n];
    for iter in 0..iters {
        if crate::interrupt::requested() {
            break; // the caller returns Interrupted
        }
        let norms = row_norms(&c, dim);
        assign(x, dim, &c, &norms, Nearest::L2, &mut labels, &mut dists);
        let split = recenter(x, dim, &labels, (&mut c, spherical), rng);
        let obj: f64 = dists.iter().map(|&d| d as f64).sum();
        tracing::debug!(iter, k, n, objective = obj, split, "k-means iteration");
    }
    c
}

/// Copies the listed rows into a new row-major buffer.
pub fn gather_rows(data: &[f32], dim: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * dim);
    for &i in idx {
        out.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    out
}

#[cfg(test)]
mod tests;
