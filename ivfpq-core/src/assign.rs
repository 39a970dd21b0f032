//! Nearest-centroid assignment, the step k-means, OPQ and encoding share.
//!
//! Assignment computes `‖c‖² − 2·X·Cᵀ` for a tile of rows with one `faer` GEMM and takes
//! the argmin of each row while the tile is still in cache; the full `n × k` matrix never
//! exists. Tiles run in parallel on rayon, each GEMM single-threaded, so the work splits
//! evenly and results do not depend on the thread count.

use std::borrow::Cow;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use ivfpq_simd::Kernels;

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
