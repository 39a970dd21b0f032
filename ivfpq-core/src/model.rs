//! The trained part of an index: coarse centroids and the product quantizer.
//!
//! A model is shared by every shard built from it, so it lives apart from the partitions.

use ivfpq_simd::Kernels;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::error::{IvfPqError, Result};
use crate::kmeans::{self, KMeansParams, Nearest};
use crate::metric::Metric;
use crate::opq::{self, Rotation};
use crate::params::{CodeKind, IndexParams};
use crate::pq::{KSUB, KSUB4, ProductQuantizer};
use crate::rabitq::Rabitq;
use crate::validate;

/// Bytes above which the L2 precomputed table is not built (lookup tables are then
/// computed per probe from the query's residual instead).
pub const PRECOMPUTED_TABLE_BUDGET: usize = 512 << 20;

/// What a model quantizes residuals with.
#[derive(Clone, Debug)]
pub enum Quantizer {
    /// Product quantization, after an optional OPQ rotation: codes of `R·(x − c)`.
    Pq {
        /// The codebooks.
        pq: ProductQuantizer,
        /// The OPQ rotation, if trained.
        rotation: Option<Rotation>,
    },
    /// RaBitQ codes (random rotation, per-vector error bounds).
    Rabitq(Rabitq),
}

/// Coarse centroids plus the residual quantizer, for one metric and dimension.
#[derive(Clone, Debug)]
pub struct IvfPqModel {
    metric: Metric,
    dim: usize,
    centroids: Vec<f32>,
    centroid_norms: Vec<f32>,
    quantizer: Quantizer,
    /// PQ, L2 family: `T[l][j][c] = ‖r_jc‖² + 2⟨centroid_l|_j, r_jc⟩` (`nlist × m × 256`),
    /// so the table of probe `l` is `T[l] − 2⟨q_j, r_jc⟩`: one add per entry, not a
    /// rebuild. RaBitQ, L2 family: per centroid, the negated table of `P·c` and then
    /// `−Σ P·c` (`nlist × (4·dim_pad + 1)`); the table is linear in its vector, so a
    /// probe's table is the query's plus this, again one add per entry.
    precomputed: Vec<f32>,
    /// 4-bit PQ with a precomputed table: per partition, each table row's minima then
    /// maxima (`nlist × 2m`), so a probe's byte table needs no row reductions
    /// (`Kernels::pq4_quantize_sum`).
    precomputed_bounds: Vec<f32>,
}

impl IvfPqModel {
    /// Trains coarse centroids and PQ codebooks on `data` (`n × dim`, row-major).
    ///
    /// For cosine the rows are normalised first. `nlist` defaults to `sqrt(n)`, `m` to
    /// `dim / 16`; k-means subsamples to `max_points_per_centroid` points a centroid.
    pub fn train(data: &[f32], dim: usize, params: &IndexParams) -> Result<IvfPqModel> {
        let kern = Kernels::try_active()?;
        params.check()?;
        let n = validate::rows("training data", data, dim)?;
        let nlist = params.resolved_nlist(n);
        if n < nlist {
            return Err(IvfPqError::TooFewTrainingPoints {
                param: "nlist",
                need: nlist,
                got: n,
            });
        }
        let pq_shape = match params.codes {
            CodeKind::Rabitq => None,
            CodeKind::Pq => {
                let ksub = if params.nbits == 4 { KSUB4 } else { KSUB };
                if n < ksub {
                    return Err(IvfPqError::TooFewTrainingPoints {
                        param: "m (a codeword per code value in each sub-quantizer)",
                        need: ksub,
                        got: n,
                    });
                }
                Some((params.resolved_m(dim)?, ksub))
            }
        };
        let data = validate::for_metric(kern, params.metric, data, dim);
        let data = &data[..];
        let _span = tracing::info_span!("train", n, dim, nlist).entered();
        tracing::info!(stage = "coarse k-means", nlist, iters = params.kmeans_iters);
        let kp = KMeansParams {
            k: nlist,
            iters: params.kmeans_iters,
            max_points_per_centroid: params.max_points_per_centroid,
            seed: params.seed,
            // Cosine rows are unit vectors: unit centroids partition them by angle.
            spherical: params.metric == Metric::Cosine,
        };
        let centroids = kmeans::train(data, dim, &kp)?;
        crate::interrupt::check()?;
        let centroid_norms = kmeans::row_norms(&centroids, dim);
        let coarse = Coarse {
            dim,
            centroids: &centroids,
            norms: &centroid_norms,
            kind: nearest_kind(params.metric),
        };
        let quantizer = match pq_shape {
            // No training: the rotation is random and the codes a fixed grid.
            None => {
                let seed = params.seed.wrapping_add(0x7261_6269);
                Quantizer::Rabitq(Rabitq::new(dim, params.nbits, seed)?)
            }
            Some((m, ksub)) => train_pq(data, &coarse, params, m, ksub)?,
        };
        let mut model = IvfPqModel {
            metric: params.metric,
            dim,
            centroids,
            centroid_norms,
            quantizer,
            precomputed: Vec::new(),
            precomputed_bounds: Vec::new(),
        };
        crate::interrupt::check()?;
        model.precompute(kern);
        Ok(model)
    }

    /// Reassembles a model from its parts (as read from a file).
    pub fn from_parts(
        metric: Metric,
        dim: usize,
        centroids: Vec<f32>,
        quantizer: Quantizer,
    ) -> Result<IvfPqModel> {
        let qdim = match &quantizer {
            Quantizer::Pq { pq, rotation } => match rotation {
                Some(r) if r.dim() != pq.dim() => r.dim(),
                _ => pq.dim(),
            },
            Quantizer::Rabitq(r) if r.dim_pad() != crate::rabitq::padded(dim) => r.dim_pad(),
            Quantizer::Rabitq(_) => dim,
        };
        if dim == 0 || centroids.is_empty() || !centroids.len().is_multiple_of(dim) || qdim != dim {
            return Err(IvfPqError::DimensionMismatch {
                param: "model parts",
                expected: dim,
                got: qdim,
            });
        }
        let centroid_norms = kmeans::row_norms(&centroids, dim);
        let mut model = IvfPqModel {
            metric,
            dim,
            centroids,
            centroid_norms,
            quantizer,
            precomputed: Vec::new(),
            precomputed_bounds: Vec::new(),
        };
        model.precompute(Kernels::try_active()?);
        Ok(model)
    }

    /// Length of the query-only term [`IvfPqModel::query_term`] writes.
    pub(crate) fn query_term_len(&self) -> usize {
        match &self.quantizer {
            Quantizer::Pq { pq, .. } => pq.m() * pq.ksub(),
            Quantizer::Rabitq(r) => r.dim_pad(),
        }
    }

    /// The query-only part of every probe's table, into `qterm`. PQ (`m × ksub`):
    /// `−2⟨q_j, r_jc⟩` for the L2 family, `−⟨q_j, r_jc⟩` for dot, with `q` rotated first
    /// under OPQ. RaBitQ (`dim_pad`): the rotated query `P·q`.
    pub(crate) fn query_term(&self, kern: &Kernels, q: &[f32], qterm: &mut [f32]) {
        self.query_terms(kern, &[q], qterm)
    }

    /// [`IvfPqModel::query_term`] of each of `qs`, into `out` (`qs.len()` terms of
    /// [`IvfPqModel::query_term_len`]), bit for bit as one query at a time.
    ///
    /// The loops are turned so that each operand is read once for the group rather than
    /// once per query: the OPQ rotation a block of rows at a time (3.7 MB at dim 960), the
    /// codebooks one sub-quantizer at a time (16 KB each; 1 MB in all at dim 960, more
    /// than L2). At dim 960 this was a fifth of a query's time.
    pub(crate) fn query_terms(&self, kern: &Kernels, qs: &[&[f32]], out: &mut [f32]) {
        let w = self.query_term_len();
        let (pq, rotation) = match &self.quantizer {
            Quantizer::Pq { pq, rotation } => (pq, rotation),
            Quantizer::Rabitq(r) => {
                for (q, o) in qs.iter().zip(out.chunks_exact_mut(w)) {
                    r.rotate(kern, q, o);
                }
                return;
            }
        };
        let rotated = rotation.as_ref().map(|r| r.rotate_many(kern, qs));
        let qs: Vec<&[f32]> = match &rotated {
            Some(x) => x.chunks_exact(self.dim).collect(),
            None => qs.to_vec(),
        };
        // Cosine's shared table is `−2⟨q_j, r_jc⟩` like the L2 family's query term.
        let scale = if self.metric.is_l2_family() {
            -2.0
        } else {
            -1.0
        };
        let (ksub, dsub) = (pq.ksub(), pq.dsub());
        for (j, cb) in pq.codebooks_t().chunks_exact(dsub * ksub).enumerate() {
            for (q, o) in qs.iter().zip(out.chunks_exact_mut(w)) {
                let o = &mut o[j * ksub..(j + 1) * ksub];
                kern.pq_lut_dot(&q[j * dsub..(j + 1) * dsub], cb, ksub, o);
                o.iter_mut().for_each(|x| *x *= scale);
            }
        }
    }

    /// The PQ table of `q` against centroid `l`, from its residual (rotated under OPQ),
    /// into `lut`: the path when no precomputed table was built.
    pub(crate) fn residual_table(&self, kern: &Kernels, q: &[f32], l: usize, lut: &mut [f32]) {
        let Quantizer::Pq { pq, rotation } = &self.quantizer else {
            return;
        };
        // Probes are partitions of this model, so `l` is in range.
        let Some(c) = self.centroid(l) else {
            return;
        };
        let mut r: Vec<f32> = q.iter().zip(c).map(|(a, c)| a - c).collect();
        if let Some(rot) = rotation {
            let plain = r.clone();
            rot.rotate(kern, &plain, &mut r);
        }
        kern.pq_lut_l2(&r, pq.codebooks_t(), pq.ksub(), lut);
    }

    /// Whether every probe of a query shares one table, the query-only term, and differs
    /// only by a constant ([`IvfPqModel::probe_bias`]): always for dot
    /// (`⟨q, c + r⟩ = ⟨q, c⟩ + ⟨q, r⟩`), for cosine when `cosine_shared` asks for it (see
    /// [`crate::SearchParams::shared_table`]), never for L2.
    pub(crate) fn shared_table(&self, cosine_shared: bool) -> bool {
        match self.metric {
            Metric::Dot => true,
            Metric::Cosine => cosine_shared,
            Metric::L2 => false,
        }
    }

    /// The constant a probe adds to the shared table ([`IvfPqModel::shared_table`]), from
    /// its coarse distance: `−⟨q, c⟩` for dot, `‖q − c‖² + 1 − ‖c‖²` for cosine.
    pub(crate) fn probe_bias(&self, l: usize, coarse: f32) -> f32 {
        match self.metric {
            Metric::Cosine => coarse + 1.0 - self.centroid_norms.get(l).copied().unwrap_or(0.0),
            _ => coarse,
        }
    }

    fn precompute(&mut self, kern: &Kernels) {
        self.precomputed = Vec::new();
        self.precomputed_bounds = Vec::new();
        if !self.metric.is_l2_family() {
            return;
        }
        let (pq, rotation) = match &self.quantizer {
            Quantizer::Pq { pq, rotation } => (pq, rotation),
            Quantizer::Rabitq(r) => {
                let w = 4 * r.dim_pad();
                if self.nlist() * (w + 1) * 4 > PRECOMPUTED_TABLE_BUDGET {
                    return;
                }
                let rotated = r.rotate_rows(&self.centroids);
                let mut t = vec![0.0f32; self.nlist() * (w + 1)];
                for (tl, c) in t
                    .chunks_exact_mut(w + 1)
                    .zip(rotated.chunks_exact(r.dim_pad()))
                {
                    let sum = crate::rabitq::build_table(c, &mut tl[..w]);
                    tl.iter_mut().for_each(|x| *x = -*x);
                    tl[w] = -sum;
                }
                self.precomputed = t;
                return;
            }
        };
        let (m, k, nlist) = (pq.m(), pq.ksub(), self.nlist());
        if nlist * m * k * 4 > PRECOMPUTED_TABLE_BUDGET {
            return;
        }
        // The table is built in PQ space: from `R·c` under a rotation.
        let rotated;
        let centroids = match rotation {
            Some(r) => {
                let mut out = vec![0.0; self.centroids.len()];
                r.rotate_rows(&self.centroids, &mut out);
                rotated = out;
                &rotated[..]
            }
            None => &self.centroids[..],
        };
        let mut t = vec![0.0f32; nlist * m * k];
        for (tl, c) in t
            .chunks_exact_mut(m * k)
            .zip(centroids.chunks_exact(self.dim))
        {
            kern.pq_lut_dot(c, pq.codebooks_t(), k, tl);
            for (x, n) in tl.iter_mut().zip(pq.centroid_norms()) {
                *x = 2.0 * *x + n;
            }
        }
        // Row bounds for the byte tables (4-bit, and 8-bit where the CPU has the byte
        // scan): 2·m floats a partition.
        self.precomputed_bounds = vec![0.0; nlist * 2 * m];
        for (b, tl) in self
            .precomputed_bounds
            .chunks_exact_mut(2 * m)
            .zip(t.chunks_exact(m * k))
        {
            crate::byte_scan::row_bounds(kern, tl, k, b);
        }
        self.precomputed = t;
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of coarse partitions.
    pub fn nlist(&self) -> usize {
        self.centroid_norms.len()
    }

    /// The code type.
    pub fn code_kind(&self) -> CodeKind {
        match self.quantizer {
            Quantizer::Pq { .. } => CodeKind::Pq,
            Quantizer::Rabitq(_) => CodeKind::Rabitq,
        }
    }

    /// Bits per code: 8 or 4 for PQ, 1 to 8 a coordinate for RaBitQ.
    pub fn nbits(&self) -> u32 {
        match &self.quantizer {
            Quantizer::Pq { pq, .. } => pq.nbits(),
            Quantizer::Rabitq(r) => r.bits(),
        }
    }

    /// The residual quantizer.
    pub fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    /// The product quantizer, for PQ codes.
    pub fn pq(&self) -> Option<&ProductQuantizer> {
        match &self.quantizer {
            Quantizer::Pq { pq, .. } => Some(pq),
            Quantizer::Rabitq(_) => None,
        }
    }

    /// The RaBitQ quantizer, for RaBitQ codes.
    pub fn rabitq(&self) -> Option<&Rabitq> {
        match &self.quantizer {
            Quantizer::Rabitq(r) => Some(r),
            Quantizer::Pq { .. } => None,
        }
    }

    /// The rotation applied before quantizing: OPQ's learned one, RaBitQ's random one
    /// (`dim_pad × dim_pad`), or none.
    pub fn rotation(&self) -> Option<&Rotation> {
        match &self.quantizer {
            Quantizer::Pq { rotation, .. } => rotation.as_ref(),
            Quantizer::Rabitq(r) => Some(r.rotation()),
        }
    }

    /// Bytes of one vector's code as [`IvfPqModel::encode`] returns it.
    pub fn code_len(&self) -> usize {
        match &self.quantizer {
            Quantizer::Pq { pq, .. } => pq.m(),
            Quantizer::Rabitq(r) => r.row_len(),
        }
    }

    /// Coarse centroids, `nlist × dim` row-major.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Coarse centroid `l`, or `None` if `l` is not below [`IvfPqModel::nlist`].
    pub fn centroid(&self, l: usize) -> Option<&[f32]> {
        let start = l.checked_mul(self.dim)?;
        self.centroids.get(start..start.checked_add(self.dim)?)
    }

    /// PQ: the precomputed L2 table of partition `l`, if one was built. RaBitQ (L2
    /// family): the negated table of `P·c_l`, then `−Σ P·c_l`.
    pub(crate) fn precomputed(&self, l: usize) -> Option<&[f32]> {
        let w = match &self.quantizer {
            Quantizer::Pq { pq, .. } => pq.m() * pq.ksub(),
            Quantizer::Rabitq(r) => 4 * r.dim_pad() + 1,
        };
        self.precomputed.get(l * w..(l + 1) * w)
    }

    /// PQ: the row minima and maxima of partition `l`'s precomputed table, if built.
    pub(crate) fn precomputed_bounds(&self, l: usize) -> Option<(&[f32], &[f32])> {
        let m = self.pq()?.m();
        let b = self.precomputed_bounds.get(l * 2 * m..(l + 1) * 2 * m)?;
        Some(b.split_at(m))
    }

    fn coarse(&self) -> Coarse<'_> {
        Coarse {
            dim: self.dim,
            centroids: &self.centroids,
            norms: &self.centroid_norms,
            kind: nearest_kind(self.metric),
        }
    }

    /// The partition of each row of `x` (already normalised for cosine) and its coarse
    /// distance (L2², or `−x·c` for dot).
    pub fn assign(&self, x: &[f32]) -> (Vec<u32>, Vec<f32>) {
        self.coarse().assign(x)
    }

    /// Partitions and codes (`n × code_len`, row-major) of rows already normalised for
    /// cosine: `m` PQ codes a row, or a RaBitQ row (sign nibbles, bit planes, factors).
    ///
    /// Errors if `x` is not whole rows of the model's dimension, or holds NaN or
    /// infinity; an empty `x` gives no rows.
    ///
    /// Rows go a tile at a time, tiles in parallel: a tile's residuals and sub-space
    /// columns stay in cache from the coarse assignment to the codes. Encoding the whole
    /// batch step by step wrote the residuals of every row out to memory and read them
    /// back once per sub-space (at dim 960, 0.3 s of every 1.2 s per 65,536 rows).
    pub fn encode(&self, x: &[f32]) -> Result<(Vec<u32>, Vec<u8>)> {
        if x.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        validate::rows("vectors", x, self.dim)?;
        self.encode_checked(x)
    }

    /// Rows as an index stores and encodes them: checked to be whole, finite rows of the
    /// model's dimension, and scaled to unit length for cosine (a copy; other metrics
    /// borrow `x`). [`crate::IvfPqIndex::add`] does the same before encoding.
    pub fn prepare<'a>(&self, x: &'a [f32]) -> Result<std::borrow::Cow<'a, [f32]>> {
        let kern = Kernels::try_active()?;
        validate::rows("vectors", x, self.dim)?;
        Ok(validate::for_metric(kern, self.metric, x, self.dim))
    }

    /// [`IvfPqModel::encode`] of rows already checked by `validate::rows` (as
    /// [`crate::IvfPqIndex::add`] does), without a second pass over them.
    pub(crate) fn encode_checked(&self, x: &[f32]) -> Result<(Vec<u32>, Vec<u8>)> {
        let (d, w) = (self.dim, self.code_len());
        let n = x.len() / d;
        let (mut assign, mut codes) = (vec![0u32; n], vec![0u8; n * w]);
        x.par_chunks(ENCODE_TILE * d)
            .zip(assign.par_chunks_mut(ENCODE_TILE))
            .zip(codes.par_chunks_mut(ENCODE_TILE * w.max(1)))
            .try_for_each(|((xt, at), ct)| self.encode_tile(xt, at, ct))?;
        Ok((assign, codes))
    }

    /// [`IvfPqModel::encode`] of one tile (whole rows), into `assign` and `codes`.
    fn encode_tile(&self, x: &[f32], assign: &mut [u32], codes: &mut [u8]) -> Result<()> {
        let coarse = self.coarse();
        let (labels, _) = coarse.assign(x);
        let mut residuals = coarse.residuals(x, &labels);
        assign.copy_from_slice(&labels);
        match &self.quantizer {
            Quantizer::Rabitq(r) => codes.copy_from_slice(&r.encode_rows(&residuals)),
            Quantizer::Pq { pq, rotation } => {
                if let Some(r) = rotation {
                    let plain = residuals.clone();
                    r.rotate_rows(&plain, &mut residuals);
                }
                pq.encode(&residuals, codes)?;
            }
        }
        Ok(())
    }
}

/// Rows per tile of [`IvfPqModel::encode`]: at most one GEMM tile of the coarse
/// assignment (`kmeans::assign` tiles hold 256 rows or more), and at dim 960 a tile's
/// residuals (1 MB) about fill L2.
const ENCODE_TILE: usize = 256;

/// Coarse centroids, borrowed: assignment and residuals, before a model exists.
struct Coarse<'a> {
    dim: usize,
    centroids: &'a [f32],
    norms: &'a [f32],
    kind: Nearest,
}

impl Coarse<'_> {
    fn assign(&self, x: &[f32]) -> (Vec<u32>, Vec<f32>) {
        let n = x.len() / self.dim;
        let (mut labels, mut dists) = (vec![0u32; n], vec![0f32; n]);
        kmeans::assign(
            x,
            self.dim,
            self.centroids,
            self.norms,
            self.kind,
            &mut labels,
            &mut dists,
        );
        (labels, dists)
    }

    fn residuals(&self, x: &[f32], assign: &[u32]) -> Vec<f32> {
        let d = self.dim;
        let mut r = x.to_vec();
        for (row, &l) in r.chunks_exact_mut(d).zip(assign) {
            let c = &self.centroids[l as usize * d..(l as usize + 1) * d];
            row.iter_mut().zip(c).for_each(|(v, c)| *v -= c);
        }
        r
    }
}

fn nearest_kind(metric: Metric) -> Nearest {
    if metric.is_l2_family() {
        Nearest::L2
    } else {
        Nearest::InnerProduct
    }
}

/// Trains PQ (after OPQ when asked) on the residuals of a sample of KSUB × max_points
/// rows.
fn train_pq(
    data: &[f32],
    coarse: &Coarse<'_>,
    params: &IndexParams,
    m: usize,
    ksub: usize,
) -> Result<Quantizer> {
    let dim = coarse.dim;
    let cap = KSUB.saturating_mul(params.max_points_per_centroid);
    let mut rng = StdRng::seed_from_u64(params.seed.wrapping_add(0x9e37_79b9));
    let sample = kmeans::subsample(data, dim, cap, &mut rng)?;
    let (assign, _) = coarse.assign(&sample);
    let residuals = coarse.residuals(&sample, &assign);
    let rows = sample.len() / dim;
    let (iters, max_points) = (params.pq_iters, params.max_points_per_centroid);
    if params.uses_opq() {
        tracing::info!(stage = "opq", m, rounds = params.opq_iters, rows);
        let (rot, pq) = opq::train(
            &residuals,
            dim,
            (m, ksub),
            params.opq_iters,
            (iters, max_points),
            params.seed,
        )?;
        Ok(Quantizer::Pq {
            pq,
            rotation: Some(rot),
        })
    } else {
        tracing::info!(stage = "pq k-means", m, iters, rows);
        let pq = ProductQuantizer::train(&residuals, dim, m, ksub, iters, max_points, params.seed)?;
        Ok(Quantizer::Pq { pq, rotation: None })
    }
}
