//! The in-memory IVF-PQ index: a trained model plus one partition per coarse centroid.

use std::sync::Arc;

use ivfpq_simd::{Kernels, Pq4Layout};
use rayon::prelude::*;

use crate::buckets::Buckets;
use crate::error::{IvfPqError, Result};
use crate::lists::{ListRef, Lists, Rows, VectorsRef, row_as_f32};
use crate::metric::Metric;
use crate::model::IvfPqModel;
use crate::params::{IndexParams, VectorStorage};
use crate::partition::{Partition, Vectors};
use crate::validate;

/// An IVF-PQ index held in memory.
///
/// ```
/// use ivfpq_core::{IndexParams, IvfPqIndex, Metric, SearchParams};
/// let dim = 8;
/// let data: Vec<f32> = (0..2000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
/// let ids: Vec<u64> = (0..2000).collect();
/// let params = IndexParams::default()
///     .with_metric(Metric::L2)
///     .with_nlist(16)
///     .with_m(4);
/// let index = IvfPqIndex::build(&data, &ids, dim, &params).unwrap();
/// let hits = index.search(&data[..dim], &SearchParams::new(5, 4).with_refine(4)).unwrap();
/// assert_eq!(hits[0][0].id, 0); // a stored vector finds itself
/// ```
#[derive(Clone, Debug)]
pub struct IvfPqIndex {
    pub(crate) model: Arc<IvfPqModel>,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) storage: VectorStorage,
}

impl IvfPqIndex {
    /// An empty index over a trained model.
    pub fn new(model: Arc<IvfPqModel>, storage: VectorStorage) -> IvfPqIndex {
        let layout = pq4_layout(&model);
        let partitions = (0..model.nlist())
            .map(|_| Partition::new(storage, layout))
            .collect();
        IvfPqIndex {
            model,
            partitions,
            storage,
        }
    }

    /// Reassembles an index from a model and its partitions (as read from a file). 4-bit PQ
    /// codes are reordered into the active kernels' layout if they are in another.
    pub fn from_parts(
        model: Arc<IvfPqModel>,
        storage: VectorStorage,
        mut partitions: Vec<Partition>,
    ) -> Result<Self> {
        if partitions.len() != model.nlist() {
            return Err(IvfPqError::DimensionMismatch {
                param: "partitions",
                expected: model.nlist(),
                got: partitions.len(),
            });
        }
        let layout = pq4_layout(&model);
        for (l, p) in partitions.iter_mut().enumerate() {
            if p.layout == layout {
                continue;
            }
            // Only 4-bit PQ codes have a second layout, and they are whole 64-byte chunks.
            if !is_pq4(&model) || !p.codes.len().is_multiple_of(64) {
                return Err(IvfPqError::InvalidParameter {
                    param: "partitions",
                    message: format!(
                        "partition {l}: {:?} code layout for these codes, or not whole 64-byte chunks",
                        p.layout
                    ),
                });
            }
            p.relayout(layout);
        }
        Ok(IvfPqIndex {
            model,
            partitions,
            storage,
        })
    }

    /// Trains on `data` and adds all of it with `ids`.
    pub fn build(
        data: &[f32],
        ids: &[u64],
        dim: usize,
        params: &IndexParams,
    ) -> Result<IvfPqIndex> {
        let model = Arc::new(IvfPqModel::train(data, dim, params)?);
        let mut index = IvfPqIndex::new(model, params.storage);
        index.add(data, ids)?;
        Ok(index)
    }

    /// The trained model.
    pub fn model(&self) -> &Arc<IvfPqModel> {
        &self.model
    }

    /// The partitions, one per coarse centroid.
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// How full vectors are stored.
    pub fn storage(&self) -> VectorStorage {
        self.storage
    }

    /// The metric.
    pub fn metric(&self) -> Metric {
        self.model.metric()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.model.dim()
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(Partition::len).sum()
    }

    /// Whether the index holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a batch of vectors (`n × dim`, row-major) with one id each.
    ///
    /// Vectors go to their nearest coarse centroid in input order, so adding the same
    /// batches in the same order gives the same index.
    pub fn add(&mut self, data: &[f32], ids: &[u64]) -> Result<()> {
        let kern = Kernels::try_active()?;
        let dim = self.dim();
        let n = validate::rows("vectors", data, dim)?;
        if ids.len() != n {
            return Err(IvfPqError::InvalidIds {
                param: "ids",
                message: format!("{} ids for {n} vectors", ids.len()),
            });
        }
        crate::interrupt::check()?;
        let data = validate::for_metric(kern, self.metric(), data, dim);
        let data = &data[..];
        let (assign, codes) = self.model.encode_checked(data)?;
        let w = self.model.code_len();
        let quantizer = self.model.quantizer();
        // Rows grouped by partition (a counting sort, stable: each partition receives its
        // rows in input order), then the partitions filled in parallel, each with room
        // for all of its rows first (growing by doubling would copy them again).
        let groups = Buckets::by_key(&assign, self.partitions.len());
        self.partitions
            .par_iter_mut()
            .enumerate()
            .for_each(|(l, part)| {
                let rows = groups.rows(l);
                part.reserve(quantizer, rows.len(), dim);
                for &i in rows {
                    let code = &codes[i * w..(i + 1) * w];
                    part.push(quantizer, code, ids[i], &data[i * dim..(i + 1) * dim]);
                }
            });
        tracing::debug!(n, total = self.len(), "added vectors");
        Ok(())
    }
}

/// Whether `model` makes 4-bit PQ codes, the only codes with a second layout.
fn is_pq4(model: &IvfPqModel) -> bool {
    model.pq().is_some_and(|pq| pq.nbits() == 4)
}

/// The layout an index over `model` keeps its codes in: the active kernels' for 4-bit PQ
/// (`Blocked` if `IVFPQ_SIMD` names no usable level: adding then reports that error).
fn pq4_layout(model: &IvfPqModel) -> Pq4Layout {
    match Kernels::try_active() {
        Ok(k) if is_pq4(model) => k.pq4_layout(),
        _ => Pq4Layout::Blocked,
    }
}

impl Lists for IvfPqIndex {
    fn list(&self, l: usize) -> Option<ListRef<'_>> {
        self.partitions.get(l).map(|p| ListRef {
            codes: &p.codes,
            ids: &p.ids,
            aux: &p.aux,
            records: &p.records,
            layout: p.layout,
        })
    }
}

impl IvfPqIndex {
    /// Row `off` of partition `l` as stored; `None` when out of range.
    fn stored_row(&self, l: usize, off: usize) -> Option<VectorsRef<'_>> {
        let dim = self.dim();
        let r = off * dim..(off + 1) * dim;
        Some(match &self.partitions.get(l)?.vectors {
            Vectors::F32(v) => VectorsRef::F32(v.get(r)?),
            Vectors::F16(v) => VectorsRef::F16(v.get(r)?),
            Vectors::None => VectorsRef::None,
        })
    }
}

impl Rows for IvfPqIndex {
    fn row<'a>(&'a self, l: usize, off: usize, scratch: &'a mut [f32]) -> Option<&'a [f32]> {
        row_as_f32(self.stored_row(l, off)?, scratch)
    }

    fn prefetch(&self, l: usize, off: usize) {
        match self.stored_row(l, off) {
            Some(VectorsRef::F32(x)) => ivfpq_simd::prefetch(x),
            Some(VectorsRef::F16(x)) => ivfpq_simd::prefetch(x),
            _ => {}
        }
    }
}
