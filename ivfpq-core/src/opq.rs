//! OPQ: a learned orthogonal rotation in front of the product quantizer.
//!
//! PQ cuts a vector into fixed blocks of coordinates and quantizes each block on its own.
//! Real embeddings keep most of their variance in a few correlated directions, so a few
//! sub-quantizers carry nearly all of the signal with 256 (or 16) codewords each, and the
//! distance estimate has an error that no `nprobe` removes: a recall ceiling. OPQ (Ge et
//! al., CVPR 2013, the non-parametric variant FAISS's `OPQMatrix` also uses) spreads the
//! variance by rotating first. It alternates two steps that each lower the quantization
//! error: train PQ on the rotated data `R·x`, then solve the orthogonal Procrustes
//! problem for the `R` that brings the data closest to its decoded codes.
//!
//! `R` is orthogonal, so `⟨Rx, Ry⟩ = ⟨x, y⟩` and `‖Rx − Ry‖ = ‖x − y‖`: search rotates the
//! query once, the coarse centroids once at build, and every table formula stays as it is.
//! Refine vectors are stored unrotated, so exact distances do not change at all.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use ivfpq_simd::Kernels;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use crate::error::Result;
use crate::kmeans;
use crate::pq::ProductQuantizer;

/// Rows per tile when rotating or correlating many rows: tiles run in parallel, each
/// GEMM single-threaded, so results do not depend on the thread count.
const TILE: usize = 4096;

/// PQ k-means iterations on the first rotation; later rounds warm-start from the last
/// codebooks and need only a few.
const FIRST_PQ_ITERS: usize = 10;
/// PQ k-means iterations per OPQ round after the first.
const ROUND_PQ_ITERS: usize = 4;
/// Rows the rotation is fitted on: 64 per parameter row of `R` at dim 256, and what
/// keeps a round near a second at dim 384. The final codebooks see the caller's rows.
const OPQ_ROWS: usize = 16_384;

/// An orthogonal `dim × dim` matrix `R`, row-major; a vector `x` becomes `R·x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    dim: usize,
    r: Vec<f32>,
}

impl Rotation {
    /// Wraps a row-major matrix, checking that it is square, finite and orthogonal (to
    /// 1e-3 in every entry of `R·Rᵀ − I`): a rotation read from a file must be one.
    pub fn from_matrix(dim: usize, r: Vec<f32>) -> Option<Rotation> {
        if dim == 0 || r.len() != dim.checked_mul(dim)? || r.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let rot = Rotation { dim, r };
        let mut rrt = vec![0.0f32; dim * dim];
        rot.rotate_rows(&rot.r, &mut rrt);
        let orthogonal = rrt.chunks_exact(dim).enumerate().all(|(i, row)| {
            row.iter()
                .enumerate()
                .all(|(j, &v)| (v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-3)
        });
        orthogonal.then_some(rot)
    }

    /// A random rotation (the Q of a Gaussian matrix's QR), from `seed`.
    pub fn random(dim: usize, seed: u64) -> Rotation {
        let mut rng = StdRng::seed_from_u64(seed);
        // Box–Muller: two uniforms give a standard normal.
        let mut normal = move || {
            let u: f64 = 1.0 - rng.random::<f64>();
            let v: f64 = rng.random::<f64>();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let g = Mat::<f64>::from_fn(dim, dim, |_, _| normal());
        let q = g.qr().compute_Q();
        let r = (0..dim * dim)
            .map(|k| q[(k / dim, k % dim)] as f32)
            .collect();
        Rotation { dim, r }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The matrix, row-major.
    pub fn matrix(&self) -> &[f32] {
        &self.r
    }

    /// `out = R·x` for one vector (the dispatched many-row dot kernel: row i of `R` is
    /// coordinate i of the result).
    pub fn rotate(&self, kern: &Kernels, x: &[f32], out: &mut [f32]) {
        kern.dot_many(x, &self.r, out);
    }

    /// Rotates each of `qs` into a row of the result (`qs.len() × dim`), bit for bit as
    /// [`Rotation::rotate`] does, reading the matrix once for all of them (see
    /// `crate::blocks`).
    pub(crate) fn rotate_many(&self, kern: &Kernels, qs: &[&[f32]]) -> Vec<f32> {
        let d = self.dim;
        let mut out = vec![0.0f32; qs.len() * d];
        crate::blocks::each_block(&self.r, d, qs.len(), |p, block, first| {
            let cols = first..first + block.len() / d.max(1);
            if p.len() == 2 {
                let o = crate::blocks::two_rows(&mut out, d, p.start, cols);
                kern.dot_many2([qs[p.start], qs[p.start + 1]], block, o);
            } else {
                kern.dot_many(qs[p.start], block, &mut out[p.start * d..][cols]);
            }
        });
        out
    }

    /// Rotates every `dim`-wide row of `x` into `out` (`out = X·Rᵀ`).
    pub fn rotate_rows(&self, x: &[f32], out: &mut [f32]) {
        let d = self.dim;
        let r = MatRef::from_row_major_slice(&self.r, d, d);
        x.par_chunks(TILE * d)
            .zip(out.par_chunks_mut(TILE * d))
            .for_each(|(xt, ot)| {
                let rows = xt.len() / d;
                let xm = MatRef::from_row_major_slice(xt, rows, d);
                let om = MatMut::from_row_major_slice_mut(ot, rows, d);
                matmul(om, Accum::Replace, xm, r.transpose(), 1.0, Par::Seq);
            });
    }
}

/// Trains a rotation and the product quantizer under it on the `dim`-wide rows of `x`
/// (residuals, at least `ksub` of them): `rounds` OPQ rounds, then `pq_iters` k-means
/// iterations for the final codebooks.
pub(crate) fn train(
    x: &[f32],
    dim: usize,
    (m, ksub): (usize, usize),
    rounds: usize,
    (pq_iters, max_points): (usize, usize),
    seed: u64,
) -> Result<(Rotation, ProductQuantizer)> {
    let all = x;
    let x = subsample(all, dim, OPQ_ROWS, seed ^ 0x5a5a)?;
    let x = &x[..];
    let n = x.len() / dim;
    // A random start already spreads the variance evenly across sub-spaces; the rounds
    // then fit the rotation to the codebooks.
    let mut rot = Rotation::random(dim, seed ^ 0x0b9_0b9);
    let mut xr = vec![0.0f32; x.len()];
    rot.rotate_rows(x, &mut xr);
    let first = FIRST_PQ_ITERS.min(pq_iters);
    let mut pq = ProductQuantizer::train(&xr, dim, m, ksub, first, max_points, seed)?;
    let mut codes = vec![0u8; n * m];
    let mut y = vec![0.0f32; x.len()];
    for round in 0..rounds {
        pq.encode(&xr, &mut codes)?;
        pq.decode(&codes, &mut y)?;
        let err: f64 = xr
            .iter()
            .zip(&y)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        tracing::debug!(round, error = err / n as f64, "OPQ round");
        let Some(next) = procrustes(x, &y, dim) else {
            break;
        };
        rot = next;
        rot.rotate_rows(x, &mut xr);
        pq = pq.refine(&xr, ROUND_PQ_ITERS, seed.wrapping_add(round as u64))?;
    }
    // Final codebooks from the last round's, on up to `ksub × max_points` caller rows
    // (as plain PQ trains), rotated.
    let final_rows = subsample(all, dim, ksub.saturating_mul(max_points), seed ^ 0xf1)?;
    let mut xr = vec![0.0f32; final_rows.len()];
    rot.rotate_rows(&final_rows, &mut xr);
    let pq = pq.refine(&xr, pq_iters, seed)?;
    Ok((rot, pq))
}

/// Up to `cap` rows of `x`, drawn with a generator seeded by `seed`.
fn subsample(x: &[f32], dim: usize, cap: usize, seed: u64) -> Result<std::borrow::Cow<'_, [f32]>> {
    kmeans::subsample(x, dim, cap, &mut StdRng::seed_from_u64(seed))
}

/// The orthogonal `R` minimising `Σ ‖R·xᵢ − yᵢ‖²`: with `Yᵀ·X = U·S·Vᵀ`, `R = U·Vᵀ`.
/// `None` if the SVD does not converge (training then keeps the last rotation).
fn procrustes(x: &[f32], y: &[f32], dim: usize) -> Option<Rotation> {
    let d = dim;
    // Yᵀ·X summed tile by tile in a fixed order, so the sum does not depend on threads.
    let parts: Vec<Vec<f32>> = x
        .par_chunks(TILE * d)
        .zip(y.par_chunks(TILE * d))
        .map(|(xt, yt)| {
            let rows = xt.len() / d;
            let mut part = vec![0.0f32; d * d];
            let xm = MatRef::from_row_major_slice(xt, rows, d);
            let ym = MatRef::from_row_major_slice(yt, rows, d);
            let pm = MatMut::from_row_major_slice_mut(&mut part, d, d);
            matmul(pm, Accum::Replace, ym.transpose(), xm, 1.0, Par::Seq);
            part
        })
        .collect();
    let mut sum = vec![0.0f64; d * d];
    for p in &parts {
        sum.iter_mut().zip(p).for_each(|(s, v)| *s += *v as f64);
    }
    let a = Mat::<f64>::from_fn(d, d, |i, j| sum[i * d + j]);
    let (mut u, mut v) = (Mat::<f64>::zeros(d, d), Mat::<f64>::zeros(d, d));
    let mut s = faer::diag::Diag::<f64>::zeros(d);
    let full = ComputeSvdVectors::Full;
    let scratch = svd::svd_scratch::<f64>(d, d, full, full, Par::Seq, Default::default());
    let mut buf = MemBuffer::new(scratch);
    svd::svd(
        a.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .ok()?;
    let r = &u * v.transpose();
    let r = (0..d * d).map(|k| r[(k / d, k % d)] as f32).collect();
    Some(Rotation { dim, r })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_rotation_is_orthogonal_and_seeded() {
        let a = Rotation::random(24, 7);
        assert!(Rotation::from_matrix(24, a.matrix().to_vec()).is_some());
        assert_eq!(a, Rotation::random(24, 7));
        assert_ne!(a, Rotation::random(24, 8));
    }

    #[test]
    fn from_matrix_rejects_what_is_not_a_rotation() {
        assert!(Rotation::from_matrix(2, vec![1.0, 0.0, 0.0, 2.0]).is_none());
        assert!(Rotation::from_matrix(2, vec![1.0, 0.0, 0.0]).is_none());
        assert!(Rotation::from_matrix(2, vec![f32::NAN, 0.0, 0.0, 1.0]).is_none());
        assert!(Rotation::from_matrix(2, vec![0.0, 1.0, -1.0, 0.0]).is_some());
    }

    #[test]
    fn procrustes_recovers_a_known_rotation() {
        let (d, n) = (8, 500);
        let truth = Rotation::random(d, 3);
        let mut rng = StdRng::seed_from_u64(1);
        let x: Vec<f32> = (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect();
        let mut y = vec![0.0; n * d];
        truth.rotate_rows(&x, &mut y);
        let got = procrustes(&x, &y, d).unwrap();
        for (a, b) in got.matrix().iter().zip(truth.matrix()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn one_vector_and_many_rows_agree() {
        let kern = Kernels::try_active().unwrap();
        let d = 13;
        let rot = Rotation::random(d, 5);
        let x: Vec<f32> = (0..3 * d).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut many = vec![0.0; 3 * d];
        rot.rotate_rows(&x, &mut many);
        let mut one = vec![0.0; d];
        for (row, want) in x.chunks(d).zip(many.chunks(d)) {
            rot.rotate(kern, row, &mut one);
            for (a, b) in one.iter().zip(want) {
                assert!((a - b).abs() < 1e-5);
            }
        }
    }
}
