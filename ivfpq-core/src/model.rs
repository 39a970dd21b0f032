//! The trained part of an index: coarse centroids and the product quantizer.
//!
//! A model is shared by every shard built from it, so it lives apart from the partitions.

use ivfpq_simd::Kernels;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::{IvfPqError, Result};
use crate::kmeans::{self, KMeansParams, Nearest};
use crate::metric::Metric;
use crate::opq::{self, Rotation};
use crate::params::IndexParams;
use crate::pq::{KSUB, KSUB4, ProductQuantizer};
use crate::validate;

/// Bytes above which the L2 precomputed table is not built (lookup tables are then
/// computed per probe from the query's residual instead).
pub const PRECOMPUTED_TABLE_BUDGET: usize = 512 << 20;

/// Coarse centroids plus product quantizer, for one metric and dimension.
#[derive(Clone, Debug)]
pub struct IvfPqModel {
    metric: Metric,
    dim: usize,
    centroids: Vec<f32>,
    centroid_norms: Vec<f32>,
    pq: ProductQuantizer,
    /// OPQ rotation: PQ codes `R·(x − c)`, not `x − c`.
    rotation: Option<Rotation>,
    /// L2 family: `T[l][j][c] = ‖r_jc‖² + 2⟨centroid_l|_j, r_jc⟩` (`nlist × m × 256`), so
    /// the table of probe `l` is `T[l] − 2⟨q_j, r_jc⟩`: one add per entry, not a rebuild.
    precomputed: Vec<f32>,
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
        let m = params.resolved_m(dim)?;
        let nlist = params.resolved_nlist(n);
        if n < nlist {
            return Err(IvfPqError::TooFewTrainingPoints {
                param: "nlist",
                need: nlist,
                got: n,
            });
        }
        let ksub = if params.nbits == 4 { KSUB4 } else { KSUB };
        if n < ksub {
            return Err(IvfPqError::TooFewTrainingPoints {
                param: "m (a codeword per code value in each sub-quantizer)",
                need: ksub,
                got: n,
            });
        }
        let data = validate::for_metric(kern, params.metric, data, dim);
        let data = &data[..];
        let _span = tracing::info_span!("train", n, dim, nlist, m).entered();
        tracing::info!(stage = "coarse k-means", nlist, iters = params.kmeans_iters);
        let kp = KMeansParams {
            k: nlist,
            iters: params.kmeans_iters,
            max_points_per_centroid: params.max_points_per_centroid,
            seed: params.seed,
        };
        let centroids = kmeans::train(data, dim, &kp);
        let centroid_norms = kmeans::row_norms(&centroids, dim);

        // PQ trains on the residuals of a sample of KSUB × max_points rows.
        let cap = KSUB * params.max_points_per_centroid;
        let mut rng = StdRng::seed_from_u64(params.seed.wrapping_add(0x9e37_79b9));
        let sample = kmeans::subsample(data, dim, cap, &mut rng);
        let mut shell = IvfPqModel {
            metric: params.metric,
            dim,
            centroids,
            centroid_norms,
            pq: ProductQuantizer::from_codebooks(dim, m, ksub, vec![0.0; dim * ksub]).ok_or(
                IvfPqError::MDoesNotDivideDim {
                    dim,
                    m,
                    suggestions: Vec::new(),
                },
            )?,
            rotation: None,
            precomputed: Vec::new(),
        };
        let (assign, _) = shell.assign(&sample);
        let residuals = shell.residuals(&sample, &assign);
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
            );
            shell.pq = pq;
            shell.rotation = Some(rot);
        } else {
            tracing::info!(stage = "pq k-means", m, iters, rows);
            shell.pq =
                ProductQuantizer::train(&residuals, dim, m, ksub, iters, max_points, params.seed);
        }
        shell.precompute(kern);
        Ok(shell)
    }

    /// Reassembles a model from its parts (as read from a file).
    pub fn from_parts(
        metric: Metric,
        dim: usize,
        centroids: Vec<f32>,
        pq: ProductQuantizer,
        rotation: Option<Rotation>,
    ) -> Result<IvfPqModel> {
        if dim == 0
            || centroids.is_empty()
            || !centroids.len().is_multiple_of(dim)
            || pq.dim() != dim
            || rotation.as_ref().is_some_and(|r| r.dim() != dim)
        {
            return Err(IvfPqError::DimensionMismatch {
                param: "model parts",
                expected: dim,
                got: pq.dim(),
            });
        }
        let centroid_norms = kmeans::row_norms(&centroids, dim);
        let mut model = IvfPqModel {
            metric,
            dim,
            centroids,
            centroid_norms,
            pq,
            rotation,
            precomputed: Vec::new(),
        };
        model.precompute(Kernels::try_active()?);
        Ok(model)
    }

    /// The query-only table term of `q` into `qterm` (`m × ksub`): `−2⟨q_j, r_jc⟩` for the
    /// L2 family, `−⟨q_j, r_jc⟩` for dot, with `q` rotated first under OPQ.
    pub(crate) fn query_term(&self, kern: &Kernels, q: &[f32], qterm: &mut [f32]) {
        let ksub = self.pq.ksub();
        match &self.rotation {
            Some(r) => {
                let mut qr = vec![0.0; self.dim];
                r.rotate(kern, q, &mut qr);
                kern.pq_lut_dot(&qr, self.pq.codebooks_t(), ksub, qterm);
            }
            None => kern.pq_lut_dot(q, self.pq.codebooks_t(), ksub, qterm),
        }
        let scale = if self.metric.is_l2_family() {
            -2.0
        } else {
            -1.0
        };
        qterm.iter_mut().for_each(|x| *x *= scale);
    }

    /// The PQ-space residual of `q` against centroid `l` (rotated under OPQ), into `out`.
    pub(crate) fn query_residual(&self, kern: &Kernels, q: &[f32], l: usize, out: &mut [f32]) {
        for ((r, a), c) in out.iter_mut().zip(q).zip(self.centroid(l)) {
            *r = a - c;
        }
        if let Some(rot) = &self.rotation {
            let plain = out.to_vec();
            rot.rotate(kern, &plain, out);
        }
    }

    fn precompute(&mut self, kern: &Kernels) {
        let (m, nlist) = (self.pq.m(), self.nlist());
        let k = self.pq.ksub();
        if !self.metric.is_l2_family() || nlist * m * k * 4 > PRECOMPUTED_TABLE_BUDGET {
            self.precomputed = Vec::new();
            return;
        }
        // The table is built in PQ space: from `R·c` under a rotation.
        let rotated;
        let centroids = match &self.rotation {
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
            kern.pq_lut_dot(c, self.pq.codebooks_t(), k, tl);
            for (x, n) in tl.iter_mut().zip(self.pq.centroid_norms()) {
                *x = 2.0 * *x + n;
            }
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

    /// Bits per code: 8 or 4.
    pub fn nbits(&self) -> u32 {
        self.pq.nbits()
    }

    /// The product quantizer.
    pub fn pq(&self) -> &ProductQuantizer {
        &self.pq
    }

    /// The OPQ rotation applied before PQ, if the model has one.
    pub fn rotation(&self) -> Option<&Rotation> {
        self.rotation.as_ref()
    }

    /// Coarse centroids, `nlist × dim` row-major.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// Coarse centroid `l`.
    pub fn centroid(&self, l: usize) -> &[f32] {
        &self.centroids[l * self.dim..(l + 1) * self.dim]
    }

    /// The precomputed L2 table of partition `l`, if one was built.
    pub(crate) fn precomputed(&self, l: usize) -> Option<&[f32]> {
        let w = self.pq.m() * self.pq.ksub();
        self.precomputed.get(l * w..(l + 1) * w)
    }

    fn nearest_kind(&self) -> Nearest {
        if self.metric.is_l2_family() {
            Nearest::L2
        } else {
            Nearest::InnerProduct
        }
    }

    /// The partition of each row of `x` (already normalised for cosine) and its coarse
    /// distance (L2², or `−x·c` for dot).
    pub fn assign(&self, x: &[f32]) -> (Vec<u32>, Vec<f32>) {
        let n = x.len() / self.dim;
        let (mut labels, mut dists) = (vec![0u32; n], vec![0f32; n]);
        kmeans::assign(
            x,
            self.dim,
            &self.centroids,
            &self.centroid_norms,
            self.nearest_kind(),
            &mut labels,
            &mut dists,
        );
        (labels, dists)
    }

    fn residuals(&self, x: &[f32], assign: &[u32]) -> Vec<f32> {
        let mut r = x.to_vec();
        for (row, &l) in r.chunks_exact_mut(self.dim).zip(assign) {
            for (v, c) in row.iter_mut().zip(self.centroid(l as usize)) {
                *v -= c;
            }
        }
        r
    }

    /// Partitions and 8-bit codes (`n × m`, row-major) of rows already normalised for
    /// cosine.
    pub fn encode(&self, x: &[f32]) -> (Vec<u32>, Vec<u8>) {
        let (assign, _) = self.assign(x);
        let mut residuals = self.residuals(x, &assign);
        if let Some(r) = &self.rotation {
            let plain = residuals.clone();
            r.rotate_rows(&plain, &mut residuals);
        }
        let mut codes = vec![0u8; assign.len() * self.pq.m()];
        self.pq.encode(&residuals, &mut codes);
        (assign, codes)
    }
}
