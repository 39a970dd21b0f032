//! k-means with GEMM assignment, seeded sampling and empty-cluster splitting.
//!
//! Assignment computes `‖c‖² − 2·X·Cᵀ` for a tile of rows with one `faer` GEMM and takes
//! the argmin of each row while the tile is still in cache; the full `n × k` matrix never
//! exists. Tiles run in parallel on rayon, each GEMM single-threaded, so the work splits
//! evenly and results do not depend on the thread count.

use std::borrow::Cow;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use ivfpq_simd::Kernels;

use crate::buckets::Buckets;
use crate::error::{IvfPqError, Result, invalid};
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

/// What the nearest centroid is: by L2, or by largest inner product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nearest {
    /// Smallest `‖x − c‖²`; the distance reported is that.
    L2,
    /// Largest `x·c`; the distance reported is `−x·c`.
    InnerProduct,
}

/// Rows per GEMM tile: keep the `tile × k` score block near 256 KiB, well inside L2, so the
/// argmin reads it from cache (for small `dim` the GEMM is cheap and this traffic dominates).
fn tile_rows(k: usize) -> usize {
    (65_536 / k.max(1)).clamp(256, 1024)
}

/// For each `dim`-wide row of `x`, the nearest of the `k` centroids (`c`, row-major) and
/// its distance. `c_norms` are the centroids' squared norms (used for L2).
pub fn assign(
    x: &[f32],
    dim: usize,
    c: &[f32],
    c_norms: &[f32],
    nearest: Nearest,
    labels: &mut [u32],
    dists: &mut [f32],
) {
    if dim == 0 {
        // No coordinates, so no rows: nothing to assign.
        return;
    }
    let kern = ivfpq_simd::Kernels::active();
    if dim <= DIRECT_MAX_DIM {
        return assign_direct(kern, x, dim, (c, c_norms), nearest, labels, dists);
    }
    let g = Gemm::new(c, c_norms, dim, nearest);
    x.par_chunks(g.tile * dim)
        .zip(labels.par_chunks_mut(g.tile))
        .zip(dists.par_chunks_mut(g.tile))
        .for_each_init(Vec::new, |buf: &mut Vec<f32>, ((xt, lt), dt)| {
            g.scores(xt, buf);
            for (r, (l, d)) in lt.iter_mut().zip(dt.iter_mut()).enumerate() {
                (*l, *d) = g.nearest(kern, xt, buf, r);
            }
        });
}

/// The GEMM half of [`assign`]: the scores `alpha·X·Cᵀ` of a tile of rows, and each
/// row's argmin of score plus bias.
pub(crate) struct Gemm<'c> {
    c: MatRef<'c, f32>,
    /// `‖c‖²` for L2; zeros for inner product (so both are an argmin).
    bias: Cow<'c, [f32]>,
    alpha: f32,
    nearest: Nearest,
    pub(crate) k: usize,
    dim: usize,
    /// Rows per tile.
    pub(crate) tile: usize,
}

impl<'c> Gemm<'c> {
    /// Scores against the `k` centroids `c` (row-major, `dim` wide) with squared norms
    /// `c_norms`.
    pub(crate) fn new(c: &'c [f32], c_norms: &'c [f32], dim: usize, nearest: Nearest) -> Self {
        let k = c_norms.len();
        let l2 = nearest == Nearest::L2;
        Gemm {
            c: MatRef::from_row_major_slice(c, k, dim),
            bias: if l2 {
                c_norms.into()
            } else {
                vec![0.0; k].into()
            },
            // Inner product: alpha = -1 and zero bias, so both cases are an argmin.
            alpha: if l2 { -2.0 } else { -1.0 },
            nearest,
            k,
            dim,
            tile: tile_rows(k),
        }
    }

    /// The score block of the rows `xt` into `buf` (`rows × k`, row-major).
    pub(crate) fn scores(&self, xt: &[f32], buf: &mut Vec<f32>) {
        let rows = xt.len() / self.dim;
        buf.resize(rows * self.k, 0.0);
        matmul(
            MatMut::from_row_major_slice_mut(buf, rows, self.k),
            Accum::Replace,
            MatRef::from_row_major_slice(xt, rows, self.dim),
            self.c.transpose(),
            self.alpha,
            Par::Seq,
        );
    }

    /// Row `r` of the tile `xt`: its nearest centroid and distance, from the scores `buf`.
    pub(crate) fn nearest(&self, kern: &Kernels, xt: &[f32], buf: &[f32], r: usize) -> (u32, f32) {
        let (k, dim) = (self.k, self.dim);
        let (best, score) = kern.argmin_sum(&buf[r * k..(r + 1) * k], &self.bias);
        let d = match self.nearest {
            Nearest::L2 => (score + kern.norm_sq(&xt[r * dim..(r + 1) * dim])).max(0.0),
            Nearest::InnerProduct => score,
        };
        (best as u32, d)
    }
}

/// At or below this width distances are computed directly, in registers, from the
/// transposed centroids: a GEMM with a K of 2 is all packing overhead, and at 16 (the
/// default PQ sub-space) the fused kernel still beats faer's GEMM plus the argmin pass
/// (PQ k-means on synth960, m = 60: 9.6 s → 7.2 s; about 6 s since it scores
/// `‖c‖² − 2·x·c`, as the GEMM path does, with one FMA a coordinate).
pub(crate) const DIRECT_MAX_DIM: usize = 16;

/// `assign` for narrow rows (PQ sub-spaces), from the centroids transposed (`dim × k`) so
/// each instruction covers 16 centroids. L2 (every k-means) runs the fused
/// `nearest_l2` kernel; inner product scores a lookup table and takes its argmin.
fn assign_direct(
    kern: &Kernels,
    x: &[f32],
    dim: usize,
    (c, c_norms): (&[f32], &[f32]),
    nearest: Nearest,
    labels: &mut [u32],
    dists: &mut [f32],
) {
    let k = c.len() / dim;
    let mut ct = vec![0f32; c.len()];
    for (j, row) in c.chunks_exact(dim).enumerate() {
        for (d, v) in row.iter().enumerate() {
            ct[d * k + j] = *v;
        }
    }
    assign_transposed(kern, x, dim, (&ct, c_norms), nearest, labels, dists);
}

/// [`assign`] for rows at most [`DIRECT_MAX_DIM`] wide, from centroids already
/// transposed (`ct`, `dim × k`, as `ProductQuantizer::codebooks_t` keeps each
/// sub-quantizer's): encoding calls it per sub-space and tile without transposing again.
pub(crate) fn assign_transposed(
    kern: &Kernels,
    x: &[f32],
    dim: usize,
    (ct, c_norms): (&[f32], &[f32]),
    nearest: Nearest,
    labels: &mut [u32],
    dists: &mut [f32],
) {
    let k = c_norms.len();
    const CHUNK: usize = 1024;
    if nearest == Nearest::L2 {
        // One fused pass per row (distances, running minimum, first index), one call per
        // chunk of rows.
        x.par_chunks(CHUNK * dim)
            .zip(labels.par_chunks_mut(CHUNK))
            .zip(dists.par_chunks_mut(CHUNK))
            .for_each(|((xt, lt), dt)| kern.nearest_l2(xt, ct, c_norms, lt, dt));
        return;
    }
    let zeros = vec![0f32; k];
    x.par_chunks(CHUNK * dim)
        .zip(labels.par_chunks_mut(CHUNK))
        .zip(dists.par_chunks_mut(CHUNK))
        .for_each_init(
            || vec![0f32; k],
            |buf, ((xt, lt), dt)| {
                for ((row, l), d) in xt.chunks_exact(dim).zip(lt.iter_mut()).zip(dt.iter_mut()) {
                    kern.pq_lut_dot(row, ct, k, buf);
                    buf.iter_mut().for_each(|v| *v = -*v);
                    let (best, score) = kern.argmin_sum(buf, &zeros);
                    *l = best as u32;
                    *d = score;
                }
            },
        );
}

/// Squared norms of the rows of `c` (none if `dim` is 0).
pub fn row_norms(c: &[f32], dim: usize) -> Vec<f32> {
    if dim == 0 {
        return Vec::new();
    }
    c.chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
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
        let norms = row_norms(&c, dim);
        assign(x, dim, &c, &norms, Nearest::L2, &mut labels, &mut dists);
        let split = recenter(x, dim, &labels, (&mut c, spherical), rng);
        let obj: f64 = dists.iter().map(|&d| d as f64).sum();
        tracing::debug!(iter, k, n, objective = obj, split, "k-means iteration");
    }
    c
}

/// The update step: each centroid becomes the mean of its rows (centroids without rows
/// keep theirs), then empty clusters are split, and with `spherical` every centroid is
/// scaled to unit norm. Returns how many clusters were split. Each centroid sums its rows
/// in `f64`, in row order, so the result does not depend on the thread count.
pub(crate) fn recenter(
    x: &[f32],
    dim: usize,
    labels: &[u32],
    (c, spherical): (&mut [f32], bool),
    rng: &mut StdRng,
) -> usize {
    let k = c.len() / dim;
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let mut sums = vec![0f64; k * dim];
    if dim <= DIRECT_MAX_DIM {
        // Short rows: one pass in row order, the sums stay in cache.
        for (row, &l) in x.chunks_exact(dim).zip(labels) {
            let l = l as usize;
            for (s, v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row) {
                *s += f64::from(*v);
            }
        }
    } else {
        // Wide rows (each a run of cache lines): centroids in parallel, each reading its
        // own rows, in order, so the sums are the same.
        let members = Buckets::by_key(labels, k);
        sums.par_chunks_mut(dim).enumerate().for_each(|(j, sum)| {
            for &i in members.rows(j) {
                let row = &x[i * dim..(i + 1) * dim];
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += f64::from(*v);
                }
            }
        });
    }
    for (j, (cj, sum)) in c
        .chunks_exact_mut(dim)
        .zip(sums.chunks_exact(dim))
        .enumerate()
    {
        if counts[j] > 0 {
            let inv = 1.0 / counts[j] as f64;
            for (cv, s) in cj.iter_mut().zip(sum) {
                *cv = (*s * inv) as f32;
            }
        }
    }
    let split = split_empty(c, dim, &mut counts, rng);
    if spherical {
        // In f64, not `validate::normalize`'s f32 kernel: a centroid is scaled once an
        // iteration, and its norm is then 1 to the last bit the f32 rows can show.
        for cj in c.chunks_exact_mut(dim) {
            let norm = cj
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                cj.iter_mut()
                    .for_each(|v| *v = (f64::from(*v) / norm) as f32);
            }
        }
    }
    split
}

/// Gives each empty cluster half of a populous one: the donor is drawn with probability
/// proportional to its size, its centroid copied and both copies nudged apart by a
/// relative 1/1024 in opposite directions, as FAISS does.
fn split_empty(c: &mut [f32], dim: usize, counts: &mut [usize], rng: &mut StdRng) -> usize {
    const EPS: f32 = 1.0 / 1024.0;
    let mut split = 0;
    for ci in 0..counts.len() {
        if counts[ci] != 0 {
            continue;
        }
        let total: usize = counts.iter().map(|&x| x.saturating_sub(1)).sum();
        if total == 0 {
            break;
        }
        let mut r = rng.random_range(0..total);
        let mut cj = 0;
        for (j, &cnt) in counts.iter().enumerate() {
            let w = cnt.saturating_sub(1);
            if r < w {
                cj = j;
                break;
            }
            r -= w;
        }
        for d in 0..dim {
            let v = c[cj * dim + d];
            let (a, b) = if d % 2 == 0 {
                (1.0 + EPS, 1.0 - EPS)
            } else {
                (1.0 - EPS, 1.0 + EPS)
            };
            c[ci * dim + d] = v * a;
            c[cj * dim + d] = v * b;
        }
        counts[ci] = counts[cj] / 2;
        counts[cj] -= counts[ci];
        split += 1;
    }
    split
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
