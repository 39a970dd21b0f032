//! Product quantization with 8-bit codes.
//!
//! A `dim`-wide vector is cut into `m` sub-vectors of `dsub = dim / m` coordinates; each is
//! replaced by the index of its nearest of `ksub = 256` centroids trained by k-means on
//! that sub-space. Distances to a query then come from an `m × 256` lookup table.

use rayon::prelude::*;

use crate::error::{IvfPqError, Result, invalid};
use crate::kmeans::{self, KMeansParams, Nearest};
use crate::params::nearest_divisors;
use crate::validate::whole_rows;

/// Centroids per sub-quantizer for 8-bit codes.
pub const KSUB: usize = 256;
/// Centroids per sub-quantizer for 4-bit codes.
pub const KSUB4: usize = 16;

/// A trained product quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductQuantizer {
    dim: usize,
    m: usize,
    dsub: usize,
    /// Codewords per sub-quantizer: 256 (8-bit codes) or 16 (4-bit).
    ksub: usize,
    /// `m × ksub × dsub`, row-major: sub-quantizer j's centroid c is at `(j·ksub + c)·dsub`.
    codebooks: Vec<f32>,
    /// The same, each sub-quantizer transposed to `dsub × ksub` for the LUT kernels.
    codebooks_t: Vec<f32>,
    /// `‖centroid_{j,c}‖²`, `m × ksub`.
    norms: Vec<f32>,
}

impl ProductQuantizer {
    /// Builds a quantizer from trained codebooks (`m × ksub × dim/m`, row-major), with
    /// `ksub` 256 (8-bit codes) or 16 (4-bit).
    ///
    /// Returns `None` if the shapes disagree.
    pub fn from_codebooks(
        dim: usize,
        m: usize,
        ksub: usize,
        codebooks: Vec<f32>,
    ) -> Option<ProductQuantizer> {
        let ok_k = ksub == KSUB || ksub == KSUB4;
        if !ok_k || dim == 0 || m == 0 || !dim.is_multiple_of(m) || codebooks.len() != dim * ksub {
            return None;
        }
        let dsub = dim / m;
        let mut codebooks_t = vec![0.0; codebooks.len()];
        for j in 0..m {
            for c in 0..ksub {
                for d in 0..dsub {
                    codebooks_t[j * dsub * ksub + d * ksub + c] =
                        codebooks[(j * ksub + c) * dsub + d];
                }
            }
        }
        let norms = kmeans::row_norms(&codebooks, dsub);
        Some(ProductQuantizer {
            dim,
            m,
            dsub,
            ksub,
            codebooks,
            codebooks_t,
            norms,
        })
    }

    /// Trains `m` sub-quantizers on the `dim`-wide rows of `data` (at least `ksub` rows).
    /// Sub-spaces train in parallel, each with its own seed derived from `seed`.
    ///
    /// Errors name the parameter at fault: `dim` 0, `m` not a divisor of `dim`, `ksub`
    /// neither 256 nor 16, `data` not whole rows or fewer than `ksub` of them, or
    /// `max_points` 0.
    pub fn train(
        data: &[f32],
        dim: usize,
        m: usize,
        ksub: usize,
        iters: usize,
        max_points: usize,
        seed: u64,
    ) -> Result<Self> {
        check_shape(dim, m, ksub)?;
        let n = whole_rows("data", data, dim)?;
        if n < ksub {
            return Err(IvfPqError::TooFewTrainingPoints {
                param: "ksub",
                need: ksub,
                got: n,
            });
        }
        per_subspace(data, dim, m, ksub, |j, sub| {
            let p = KMeansParams {
                k: ksub,
                iters,
                max_points_per_centroid: max_points,
                seed: seed ^ (j as u64 + 1),
                spherical: false,
            };
            kmeans::train(sub, dim / m, &p)
        })
    }

    /// Continues training from these codebooks for `iters` k-means iterations on every row
    /// of `data` (a warm start: OPQ retrains after each small change of its rotation).
    ///
    /// Errors if `data` is not whole `dim`-wide rows.
    pub fn refine(&self, data: &[f32], iters: usize, seed: u64) -> Result<Self> {
        whole_rows("data", data, self.dim)?;
        let (dsub, k) = (self.dsub, self.ksub);
        per_subspace(data, self.dim, self.m, k, |j, sub| {
            let start = self.codebooks[j * k * dsub..(j + 1) * k * dsub].to_vec();
            kmeans::refine(sub, dsub, start, iters, seed ^ (j as u64 + 1))
        })
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of sub-quantizers (bytes per code).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Codewords per sub-quantizer: 256 or 16.
    pub fn ksub(&self) -> usize {
        self.ksub
    }

    /// Bits per code: 8 or 4.
    pub fn nbits(&self) -> u32 {
        if self.ksub == KSUB4 { 4 } else { 8 }
    }

    /// Coordinates per sub-vector.
    pub fn dsub(&self) -> usize {
        self.dsub
    }

    /// The codebooks, `m × 256 × dsub` row-major.
    pub fn codebooks(&self) -> &[f32] {
        &self.codebooks
    }

    /// The codebooks with each sub-quantizer transposed (`dsub × 256`), as the LUT kernels
    /// take them.
    pub fn codebooks_t(&self) -> &[f32] {
        &self.codebooks_t
    }

    /// `‖centroid_{j,c}‖²`, `m × 256`.
    pub fn centroid_norms(&self) -> &[f32] {
        &self.norms
    }

    /// Encodes the `dim`-wide rows of `x` into the first `n × m` bytes of `codes`
    /// (row-major).
    ///
    /// Errors, writing nothing, if `x` is not whole rows
    /// ([`IvfPqError::DimensionMismatch`]) or `codes` is shorter than `n × m`
    /// ([`IvfPqError::BufferTooSmall`]).
    pub fn encode(&self, x: &[f32], codes: &mut [u8]) -> Result<()> {
        let n = whole_rows("x", x, self.dim)?;
        let need = n * self.m;
        if codes.len() < need {
            return Err(IvfPqError::BufferTooSmall {
                param: "codes",
                need,
                got: codes.len(),
            });
        }
        let mut labels = vec![0u32; n];
        let mut dists = vec![0f32; n];
        for j in 0..self.m {
            let sub = sub_columns(x, self.dim, j * self.dsub, self.dsub, n);
            let k = self.ksub;
            let book = j * k * self.dsub..(j + 1) * k * self.dsub;
            let norms = &self.norms[j * k..(j + 1) * k];
            let (l, d) = (&mut labels[..], &mut dists[..]);
            if self.dsub <= kmeans::DIRECT_MAX_DIM {
                // The transposed codebook is kept; `assign` would transpose it again
                // for every call (every tile of every batch).
                let ct = &self.codebooks_t[book];
                let kern = ivfpq_simd::Kernels::active();
                kmeans::assign_transposed(kern, &sub, self.dsub, (ct, norms), Nearest::L2, l, d);
            } else {
                let c = &self.codebooks[book];
                kmeans::assign(&sub, self.dsub, c, norms, Nearest::L2, l, d);
            }
            for (i, &l) in labels.iter().enumerate() {
                codes[i * self.m + j] = l as u8;
            }
        }
        Ok(())
    }

    /// Reconstructs the vectors of `codes` (`n × m`) into the first `n × dim` values of
    /// `out`.
    ///
    /// Errors, writing nothing, if `codes` is not whole codes, holds a value beyond the
    /// `ksub` codewords, or `out` is shorter than `n × dim`.
    pub fn decode(&self, codes: &[u8], out: &mut [f32]) -> Result<()> {
        if !codes.len().is_multiple_of(self.m) {
            return Err(IvfPqError::DimensionMismatch {
                param: "codes",
                expected: self.m,
                got: codes.len() % self.m,
            });
        }
        let need = codes.len() / self.m * self.dim;
        if out.len() < need {
            return Err(IvfPqError::BufferTooSmall {
                param: "out",
                need,
                got: out.len(),
            });
        }
        if let Some(i) = codes.iter().position(|&c| c as usize >= self.ksub) {
            return Err(invalid(
                "codes",
                format!(
                    "code {} of row {}, sub-quantizer {}, is beyond the {} codewords",
                    codes[i],
                    i / self.m,
                    i % self.m,
                    self.ksub
                ),
            ));
        }
        for (code, row) in codes
            .chunks_exact(self.m)
            .zip(out.chunks_exact_mut(self.dim))
        {
            for (j, &c) in code.iter().enumerate() {
                let src = &self.codebooks[(j * self.ksub + c as usize) * self.dsub..][..self.dsub];
                row[j * self.dsub..(j + 1) * self.dsub].copy_from_slice(src);
            }
        }
        Ok(())
    }
}

/// Checks a quantizer's shape: `dim` at least 1, `m` a divisor of it, `ksub` 256 or 16.
fn check_shape(dim: usize, m: usize, ksub: usize) -> Result<()> {
    if dim == 0 {
        return Err(invalid("dim", "must be at least 1"));
    }
    if ksub != KSUB && ksub != KSUB4 {
        return Err(invalid(
            "ksub",
            format!("{ksub}: must be {KSUB} (8-bit codes) or {KSUB4} (4-bit)"),
        ));
    }
    if m == 0 || m > dim || !dim.is_multiple_of(m) {
        return Err(IvfPqError::MDoesNotDivideDim {
            dim,
            m,
            suggestions: nearest_divisors(dim, m.max(1)),
        });
    }
    Ok(())
}

/// Trains the `m` sub-quantizers in parallel: `book(j, columns of sub-space j)` returns
/// sub-quantizer `j`'s `ksub` codewords.
fn per_subspace(
    data: &[f32],
    dim: usize,
    m: usize,
    ksub: usize,
    book: impl Fn(usize, &[f32]) -> Result<Vec<f32>> + Sync,
) -> Result<ProductQuantizer> {
    let (dsub, n) = (dim / m, data.len() / dim);
    let books: Vec<Vec<f32>> = (0..m)
        .into_par_iter()
        .map(|j| book(j, &sub_columns(data, dim, j * dsub, dsub, n)))
        .collect::<Result<_>>()?;
    ProductQuantizer::from_codebooks(dim, m, ksub, books.concat()).ok_or_else(|| {
        invalid(
            "codebooks",
            format!("k-means did not give {ksub} codewords for each of the {m} sub-quantizers"),
        )
    })
}

/// Copies columns `[start, start + width)` of the `n` rows of `x` into a dense buffer.
fn sub_columns(x: &[f32], dim: usize, start: usize, width: usize, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * width);
    for row in x.chunks_exact(dim) {
        out.extend_from_slice(&row[start..start + width]);
    }
    out
}
