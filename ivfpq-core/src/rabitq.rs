//! RaBitQ codes (Gao & Long, SIGMOD 2024) and their `B`-bit extension (Gao et al., 2025):
//! a quantizer with no training whose distance estimates come with an error bound.
//!
//! A residual `r = x − c` is zero-padded to `dim_pad` (a multiple of 8) and rotated by a
//! random orthogonal `P`. Each coordinate of `r' = P·r` gets a `B`-bit code `u_i`; the
//! quantized vector is `v = u − (2^B − 1)/2`, a grid point of half-integers whose signs
//! are those of `r'`. For any vector `y`, `⟨r, y⟩ ≈ f·⟨v, P·y⟩` with `f = ‖r‖² / ⟨v, r'⟩`,
//! and since `P` makes `r'/‖r‖` uniform on the sphere, the error is at most
//! `‖r‖·‖y‖·√(1 − α²)/α · ε₀/√(dim_pad − 1)` with high probability, where `α` is the
//! cosine between `v` and `r'`. The estimator's error is close to normal with that
//! bound at [`EPSILON0`] = 1.9 standard deviations, so a few percent of estimates fall
//! outside it, and a true neighbour is lost only if it is one of them and near the
//! k-th distance.
//!
//! The top bit of every `u_i` is the sign bit, so the sign bits alone are a 1-bit RaBitQ
//! code of their own, with its own `(f, α)`. Search scans those with the 4-bit fast-scan
//! kernel (four coordinates per nibble), drops every vector whose 1-bit lower bound
//! cannot enter the top `k`, and reads the `B`-bit code only for the rest.
//!
//! # Layout (per partition)
//! - `codes`: the sign bits in the fast-scan layout of `ivfpq_simd::pack_pq4_blocks`,
//!   `dim_pad / 4` nibbles a vector (nibble `j` holds coordinates `4j..4j+4`, bit `t`
//!   coordinate `4j + t`).
//! - `aux`: per block of 32 vectors, [`BLOCK_FACTORS`] rows of 32 `f32` (little endian:
//!   `‖r‖²`, `f₁`, `e₁`), what the 1-bit bound of every scanned vector reads, one row
//!   each so a block's bounds load as vectors.
//! - `records`: per vector, what only the vectors that pass the 1-bit bound read: `f_B`
//!   and `e_B` (`f32`), then the `B` bit planes (plane `k` holds bit `k` of every `u_i`,
//!   `dim_pad / 8` bytes, coordinate `i` at bit `i % 8` of byte `i / 8`).
//!
//! Keeping the two apart keeps the scan's stream at 12 bytes a vector besides the codes.
//! `e` is the error factor: the bound on `|⟨r, y⟩ − estimate|` is `ε₀·e·‖y‖`, with `ε₀`
//! chosen at search time.

use ivfpq_simd::{Kernels, PQ4_BLOCK, Pq4Layout, pq4_blocked_len, pq4_push};
use rayon::prelude::*;

use crate::error::{Result, invalid};
use crate::opq::Rotation;

/// The default confidence constant of the error bound (RaBitQ's `ε₀`): the bound is
/// `ε₀` standard deviations of the estimate.
pub const EPSILON0: f32 = 1.9;

/// Factors of an encoded row: `‖r‖²`, `f₁`, `e₁`, `f_B`, `e_B`.
const FACTORS: usize = 5;

/// Factors stored per block in `aux`: `‖r‖²`, `f₁`, `e₁`.
pub const BLOCK_FACTORS: usize = 3;

/// Steps of the grid search for each vector's code scale (see `best_scale`).
const SCALE_STEPS: usize = 24;

/// A RaBitQ quantizer: the bit width and the random rotation (`dim_pad × dim_pad`).
#[derive(Clone, Debug, PartialEq)]
pub struct Rabitq {
    bits: u32,
    dim: usize,
    rotation: Rotation,
}

/// A partition's `codes`, `aux` and `records`, to append to.
pub(crate) type Parts<'a> = (&'a mut Vec<u8>, &'a mut Vec<u8>, &'a mut Vec<u8>);

/// One vector's code: its sign nibbles, its bit planes and its factors.
pub(crate) struct Code<'a> {
    pub signs: &'a [u8],
    pub planes: &'a [u8],
    pub factors: [f32; FACTORS],
}

impl Rabitq {
    /// A quantizer of `bits` (1 to 8) bits a coordinate for `dim`-wide vectors, with a
    /// random rotation drawn from `seed`.
    pub fn new(dim: usize, bits: u32, seed: u64) -> Result<Rabitq> {
        check_bits(bits)?;
        let rotation = Rotation::random(padded(dim), seed);
        Ok(Rabitq {
            bits,
            dim,
            rotation,
        })
    }

    /// Reassembles a quantizer read from a file; `None` when the rotation is not
    /// `dim_pad × dim_pad` or `bits` is out of range.
    pub fn from_parts(dim: usize, bits: u32, rotation: Rotation) -> Option<Rabitq> {
        (check_bits(bits).is_ok() && rotation.dim() == padded(dim)).then_some(Rabitq {
            bits,
            dim,
            rotation,
        })
    }

    /// Bits a coordinate.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The rotated (padded) dimension: `dim` rounded up to a multiple of 8.
    pub fn dim_pad(&self) -> usize {
        self.rotation.dim()
    }

    /// The random rotation.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// Nibbles a vector in the fast-scan codes (`dim_pad / 4`).
    pub fn groups(&self) -> usize {
        self.dim_pad() / 4
    }

    /// Bytes of one bit plane.
    pub(crate) fn plane_bytes(&self) -> usize {
        self.dim_pad() / 8
    }

    /// Bytes of one vector's bit planes.
    pub(crate) fn planes_len(&self) -> usize {
        self.bits as usize * self.plane_bytes()
    }

    /// Bytes of one block's `aux` factors.
    pub fn aux_block_len(&self) -> usize {
        PQ4_BLOCK * 4 * BLOCK_FACTORS
    }

    /// Bytes of one vector's record: `f_B`, `e_B`, bit planes.
    pub fn record_len(&self) -> usize {
        8 + self.planes_len()
    }

    /// Bytes of the fast-scan codes of `n` vectors.
    pub fn codes_len(&self, n: usize) -> usize {
        pq4_blocked_len(n, self.groups())
    }

    /// Bytes of the `aux` factors of `n` vectors.
    pub fn aux_len(&self, n: usize) -> usize {
        n.div_ceil(PQ4_BLOCK) * self.aux_block_len()
    }

    /// Bytes of the records of `n` vectors.
    pub fn records_len(&self, n: usize) -> usize {
        n * self.record_len()
    }

    /// Bytes of one encoded row as [`Rabitq::encode_rows`] lays it out: sign nibbles
    /// (one a byte), bit planes, factors.
    pub(crate) fn row_len(&self) -> usize {
        self.groups() + self.planes_len() + 4 * FACTORS
    }

    /// `P·[x, 0…]` into `out` (`dim_pad` long).
    pub(crate) fn rotate(&self, kern: &Kernels, x: &[f32], out: &mut [f32]) {
        let mut padded = vec![0.0f32; self.dim_pad()];
        padded[..x.len()].copy_from_slice(x);
        self.rotation.rotate(kern, &padded, out);
    }

    /// Rotates every `dim`-wide row of `x` (zero-padded) into `dim_pad`-wide rows.
    pub(crate) fn rotate_rows(&self, x: &[f32]) -> Vec<f32> {
        let (d, dp) = (self.dim, self.dim_pad());
        let n = x.len() / d.max(1);
        let mut padded = vec![0.0f32; n * dp];
        for (p, r) in padded.chunks_exact_mut(dp).zip(x.chunks_exact(d)) {
            p[..d].copy_from_slice(r);
        }
        let mut out = vec![0.0f32; n * dp];
        self.rotation.rotate_rows(&padded, &mut out);
        out
    }

    /// Encodes residuals (`n × dim`) into rows of [`Rabitq::row_len`] bytes.
    pub(crate) fn encode_rows(&self, residuals: &[f32]) -> Vec<u8> {
        let rotated = self.rotate_rows(residuals);
        let w = self.row_len();
        let mut out = vec![0u8; rotated.len() / self.dim_pad() * w];
        out.par_chunks_mut(w)
            .zip(rotated.par_chunks(self.dim_pad()))
            .for_each(|(row, r)| self.encode_one(r, row));
        out
    }

    /// Encodes one rotated residual `r` (`dim_pad`) into `row`.
    fn encode_one(&self, r: &[f32], row: &mut [u8]) {
        let (g, pl) = (self.groups(), self.planes_len());
        let (signs, rest) = row.split_at_mut(g);
        let (planes, factors) = rest.split_at_mut(pl);
        let norm2: f32 = r.iter().map(|x| x * x).sum();
        let norm = norm2.sqrt();
        for (j, s) in signs.iter_mut().enumerate() {
            *s = (0..4).fold(0u8, |acc, t| acc | (u8::from(r[4 * j + t] >= 0.0) << t));
        }
        let abs: Vec<f32> = r.iter().map(|x| x.abs()).collect();
        let top = (1u32 << (self.bits - 1)) - 1;
        let scale = best_scale(&abs, top);
        let mut dot_vr = 0.0f32;
        let mut norm_v = 0.0f32;
        let pb = self.plane_bytes();
        for (i, (&x, &a)) in r.iter().zip(&abs).enumerate() {
            let k = level(a, scale, top);
            let half = k as f32 + 0.5;
            dot_vr += half * a;
            norm_v += half * half;
            // u = 2^(B−1) + k for x ≥ 0, 2^(B−1) − 1 − k below: v = u − (2^B − 1)/2 = ±(k + ½).
            let u = if x >= 0.0 { top + 1 + k } else { top - k };
            for b in 0..self.bits as usize {
                planes[b * pb + i / 8] |= (((u >> b) & 1) as u8) << (i % 8);
            }
        }
        let sum_abs: f32 = abs.iter().sum();
        let dp = self.dim_pad() as f32;
        let (f1, e1) = factor_pair(norm2, norm, 0.5 * sum_abs, 0.5 * dp.sqrt(), dp);
        let (fb, eb) = factor_pair(norm2, norm, dot_vr, norm_v.sqrt(), dp);
        for (o, v) in factors.chunks_exact_mut(4).zip([norm2, f1, e1, fb, eb]) {
            o.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Splits an encoded row.
    pub(crate) fn split_row<'a>(&self, row: &'a [u8]) -> Code<'a> {
        let (g, pl) = (self.groups(), self.planes_len());
        let mut factors = [0.0f32; FACTORS];
        for (f, b) in factors.iter_mut().zip(row[g + pl..].chunks_exact(4)) {
            *f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Code {
            signs: &row[..g],
            planes: &row[g..g + pl],
            factors,
        }
    }

    /// The encoded row of vector `i` of a list, as `encode_rows` made it: the inverse of
    /// `split_row` and `push`. `None` if the list is too short.
    pub(crate) fn row_of(&self, list: &crate::ListRef<'_>, i: usize, out: &mut [u8]) -> Option<()> {
        let (g, pl) = (self.groups(), self.planes_len());
        if i >= list.ids.len() || out.len() != self.row_len() {
            return None;
        }
        for (j, o) in out[..g].iter_mut().enumerate() {
            let blocks = pq4_blocked_len(list.ids.len(), g);
            *o = ivfpq_simd::pq4_code(list.codes.get(..blocks)?, list.layout, g, i, j);
        }
        let rec = list
            .records
            .get(i * self.record_len()..(i + 1) * self.record_len())?;
        out[g..g + pl].copy_from_slice(&rec[8..]);
        let blk = self.aux_block_len();
        let (b, t) = (i / PQ4_BLOCK, i % PQ4_BLOCK);
        let aux = list.aux.get(b * blk..(b + 1) * blk)?;
        let factors = &mut out[g + pl..];
        for f in 0..BLOCK_FACTORS {
            let at = 4 * (f * PQ4_BLOCK + t);
            factors[4 * f..4 * f + 4].copy_from_slice(&aux[at..at + 4]);
        }
        factors[4 * BLOCK_FACTORS..4 * BLOCK_FACTORS + 8].copy_from_slice(&rec[..8]);
        Some(())
    }

    /// Appends vector `i` (pushed in order) to a partition's `codes`, `aux` and
    /// `records`.
    pub(crate) fn push(&self, (codes, aux, records): Parts<'_>, i: usize, c: &Code<'_>) {
        pq4_push(codes, Pq4Layout::Blocked, self.groups(), i, c.signs);
        let blk = self.aux_block_len();
        if i.is_multiple_of(PQ4_BLOCK) {
            aux.resize(aux.len() + blk, 0);
        }
        let (b, t) = (i / PQ4_BLOCK, i % PQ4_BLOCK);
        let rec = &mut aux[b * blk..(b + 1) * blk];
        for (f, v) in c.factors[..BLOCK_FACTORS].iter().enumerate() {
            let at = 4 * (f * PQ4_BLOCK + t);
            rec[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        records.extend_from_slice(&c.factors[3].to_le_bytes());
        records.extend_from_slice(&c.factors[4].to_le_bytes());
        records.extend_from_slice(c.planes);
    }
}

/// The table of `y` (`dim_pad` long) into `lut` (`4·dim_pad`): `lut[16j + c] = Σ_t
/// bit_t(c)·y[4j + t]`, the sum of `y` over the set bits of nibble value `c` in group
/// `j`. Returns `Σ y`.
pub(crate) fn build_table(y: &[f32], lut: &mut [f32]) -> f32 {
    let mut sum = 0.0f32;
    for (row, y4) in lut.chunks_exact_mut(16).zip(y.chunks_exact(4)) {
        row[0] = 0.0;
        // Each entry is a smaller one plus one coordinate: clear the lowest set bit.
        for c in 1..16usize {
            row[c] = row[c & (c - 1)] + y4[c.trailing_zeros() as usize];
        }
        sum += row[15];
    }
    sum
}

/// Checks a RaBitQ bit width.
pub(crate) fn check_bits(bits: u32) -> Result<()> {
    if (1..=8).contains(&bits) {
        Ok(())
    } else {
        Err(invalid(
            "nbits",
            format!("{bits} bits per coordinate is not supported by RaBitQ; use 1 to 8"),
        ))
    }
}

/// `dim` rounded up to a multiple of 8 (whole bytes per bit plane).
pub fn padded(dim: usize) -> usize {
    dim.next_multiple_of(8)
}

/// The level `k ∈ [0, top]` of a coordinate of magnitude `a` at scale `t`.
#[inline]
fn level(a: f32, t: f32, top: u32) -> u32 {
    ((a * t) as u32).min(top)
}

/// The scale `t` whose grid `(min(⌊t·|r_i|⌋, top) + ½)` is closest in angle to `|r|`.
///
/// Extended RaBitQ finds the exact optimum by sweeping every critical scale; a grid of
/// [`SCALE_STEPS`] around the unclipped maximum, then a finer one around the best, comes
/// within a hair of it at a fraction of the cost. One bit has one grid (all `½`).
fn best_scale(abs: &[f32], top: u32) -> f32 {
    let max = abs.iter().fold(0.0f32, |a, &b| a.max(b));
    if top == 0 || max == 0.0 {
        return 0.0;
    }
    // At t_hi the largest coordinate just reaches the top level; the optimum clips a few.
    let t_hi = (top as f32 + 1.0) / max;
    let cosine = |t: f32| {
        let (mut dot, mut nv) = (0.0f32, 0.0f32);
        for &a in abs {
            let h = level(a, t, top) as f32 + 0.5;
            dot += h * a;
            nv += h * h;
        }
        dot / nv.sqrt()
    };
    let search = |lo: f32, hi: f32| {
        let step = (hi - lo) / SCALE_STEPS as f32;
        (0..=SCALE_STEPS)
            .map(|s| lo + step * s as f32)
            .map(|t| (cosine(t), t))
            .fold(
                (f32::NEG_INFINITY, t_hi),
                |a, b| if b.0 > a.0 { b } else { a },
            )
    };
    let (_, t) = search(0.25 * t_hi, 1.5 * t_hi);
    let w = 1.25 * t_hi / SCALE_STEPS as f32;
    search(t - w, t + w).1
}

/// `(f, e)` of a code: `f = ‖r‖² / ⟨v, r'⟩` and the error factor
/// `e = ‖r‖·√(1 − α²)/α/√(D − 1)` (one standard deviation of the estimate per unit of
/// `‖y‖`), with `α = ⟨v, r'⟩ / (‖v‖·‖r‖)`.
fn factor_pair(norm2: f32, norm: f32, dot_vr: f32, norm_v: f32, dim_pad: f32) -> (f32, f32) {
    if norm2 == 0.0 || dot_vr <= 0.0 {
        // The residual is zero: every estimate is exact.
        return (0.0, 0.0);
    }
    let alpha = (dot_vr / (norm_v * norm)).min(1.0);
    // ε₀ is left to search time (`SearchParams::rabitq_epsilon`).
    let e = norm * (1.0 - alpha * alpha).max(0.0).sqrt() / alpha / (dim_pad - 1.0).max(1.0).sqrt();
    (norm2 / dot_vr, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// `⟨v, y'⟩` of an encoded row, from its bit planes.
    fn v_dot(q: &Rabitq, code: &Code<'_>, y: &[f32]) -> f32 {
        let pb = q.plane_bytes();
        let h = ((1u32 << q.bits) - 1) as f32 / 2.0;
        (0..q.dim_pad())
            .map(|i| {
                let u: u32 = (0..q.bits as usize)
                    .map(|b| u32::from((code.planes[b * pb + i / 8] >> (i % 8)) & 1) << b)
                    .sum();
                (u as f32 - h) * y[i]
            })
            .sum()
    }

    /// The estimate of `⟨r, y⟩` stays within its bound for all but a few percent of
    /// pairs, and more bits give smaller errors.
    #[test]
    fn estimates_hold_their_bounds() {
        let kern = Kernels::try_active().unwrap();
        let dim = 50;
        let mut rng = StdRng::seed_from_u64(3);
        let n = 400;
        let x: Vec<f32> = (0..n * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        let mut mean_err = Vec::new();
        for bits in [1, 2, 4, 8] {
            let q = Rabitq::new(dim, bits, 7).unwrap();
            let rows = q.encode_rows(&x);
            let (mut outside, mut pairs, mut err) = (0, 0, 0.0f64);
            for t in 0..50 {
                let y: Vec<f32> = (0..dim).map(|_| rng.random::<f32>() - 0.5).collect();
                let mut yr = vec![0.0; q.dim_pad()];
                q.rotate(kern, &y, &mut yr);
                let ynorm = yr.iter().map(|v| v * v).sum::<f32>().sqrt();
                for (i, row) in rows.chunks_exact(q.row_len()).enumerate().skip(t) {
                    let c = q.split_row(row);
                    let truth: f32 = x[i * dim..(i + 1) * dim]
                        .iter()
                        .zip(&y)
                        .map(|(a, b)| a * b)
                        .sum();
                    let est = c.factors[3] * v_dot(&q, &c, &yr);
                    let bound = EPSILON0 * c.factors[4] * ynorm;
                    outside += usize::from((est - truth).abs() > bound + 1e-4);
                    pairs += 1;
                    err += f64::from((est - truth).abs());
                }
            }
            // ε₀ = 1.9 is about 1.9 standard deviations of the estimator: a few percent.
            assert!(
                outside * 100 < 8 * pairs,
                "{bits} bits: {outside} of {pairs} estimates outside the bound"
            );
            mean_err.push(err);
        }
        assert!(mean_err.windows(2).all(|w| w[1] < w[0]), "{mean_err:?}");
    }

    #[test]
    fn bits_out_of_range_are_typed_errors() {
        assert!(Rabitq::new(8, 0, 1).is_err());
        assert!(Rabitq::new(8, 9, 1).is_err());
        assert!(Rabitq::from_parts(50, 4, Rotation::random(50, 1)).is_none());
        assert!(Rabitq::from_parts(50, 4, Rotation::random(56, 1)).is_some());
    }
}
