//! One inverted list: codes in blocks of 32 vectors, ids, and full vectors for refine.

use half::f16;
use std::borrow::Cow;

use ivfpq_simd::{PQ8_BLOCK, Pq4Layout, pq4_push, pq4_relayout, pq8_blocked_len};

use crate::model::Quantizer;
use crate::params::VectorStorage;

/// Full vectors of a partition, kept for exact reranking.
#[derive(Clone, Debug, PartialEq)]
pub enum Vectors {
    /// 4 bytes a coordinate.
    F32(Vec<f32>),
    /// 2 bytes a coordinate.
    F16(Vec<f16>),
    /// Not stored.
    None,
}

impl Vectors {
    pub(crate) fn new(storage: VectorStorage) -> Vectors {
        match storage {
            VectorStorage::F32 => Vectors::F32(Vec::new()),
            VectorStorage::F16 => Vectors::F16(Vec::new()),
            VectorStorage::None => Vectors::None,
        }
    }

    fn reserve(&mut self, values: usize) {
        match self {
            Vectors::F32(v) => v.reserve(values),
            Vectors::F16(v) => v.reserve(values),
            Vectors::None => {}
        }
    }

    fn push(&mut self, row: &[f32]) {
        match self {
            Vectors::F32(v) => v.extend_from_slice(row),
            Vectors::F16(v) => v.extend(row.iter().map(|&x| f16::from_f32(x))),
            Vectors::None => {}
        }
    }
}

/// The vectors assigned to one coarse centroid.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// Codes in blocks of 32: 8-bit as `ivfpq_simd::pack_pq8_blocks` lays them out,
    /// 4-bit as `ivfpq_simd::pack_pq4_blocks` does (reordered as `layout` says), RaBitQ
    /// sign bits as 4-bit codes of `dim_pad / 4` nibbles (blocked).
    pub codes: Vec<u8>,
    /// RaBitQ only: the factors of each block of 32 (see [`crate::Rabitq`]). Empty for
    /// PQ.
    pub aux: Vec<u8>,
    /// RaBitQ only: one record per vector (its `B`-bit code and factors). Empty for PQ.
    pub records: Vec<u8>,
    /// Caller ids, one per vector.
    pub ids: Vec<u64>,
    /// Full vectors (normalised for cosine), one row per id.
    pub vectors: Vectors,
    /// How 4-bit PQ codes order each 64-byte chunk: an index keeps them in its kernels'
    /// layout ([`ivfpq_simd::Kernels::pq4_layout`]), files in `Blocked`. Always `Blocked`
    /// for other codes.
    pub layout: Pq4Layout,
}

impl Partition {
    pub(crate) fn new(storage: VectorStorage, layout: Pq4Layout) -> Partition {
        Partition {
            codes: Vec::new(),
            aux: Vec::new(),
            records: Vec::new(),
            ids: Vec::new(),
            vectors: Vectors::new(storage),
            layout,
        }
    }

    /// The codes with 4-bit PQ chunks in `layout`: borrowed when they already are, else
    /// a reordered copy (a shard writer wants `Blocked`).
    ///
    /// # Panics
    /// If the layouts differ and the codes are not whole 64-byte chunks (they always are
    /// for 4-bit PQ, whose blocks are `16 · m_pad` bytes with `m_pad` a multiple of 4).
    pub fn codes_in(&self, layout: Pq4Layout) -> Cow<'_, [u8]> {
        if layout == self.layout {
            return Cow::Borrowed(&self.codes);
        }
        let mut codes = self.codes.clone();
        pq4_relayout(&mut codes, self.layout, layout);
        Cow::Owned(codes)
    }

    /// Reorders 4-bit PQ codes in place into `layout` (see [`Partition::codes_in`]).
    pub(crate) fn relayout(&mut self, layout: Pq4Layout) {
        pq4_relayout(&mut self.codes, self.layout, layout);
        self.layout = layout;
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the partition holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Makes room for `n` more vectors of `dim` coordinates: their ids, full vectors and,
    /// for 8-bit PQ, their code blocks. (4-bit and RaBitQ codes grow as they are pushed:
    /// their rows in `encode` are wider than what a partition keeps, and a reserve beyond
    /// the final size would stay allocated.)
    pub(crate) fn reserve(&mut self, quantizer: &Quantizer, n: usize, dim: usize) {
        self.ids.reserve(n);
        self.vectors.reserve(n * dim);
        if let Quantizer::Pq { pq, .. } = quantizer
            && pq.nbits() == 8
        {
            let len = pq8_blocked_len(self.ids.len() + n, pq.m());
            self.codes.reserve(len.saturating_sub(self.codes.len()));
        }
    }

    /// Appends one vector: its code (one row of [`crate::IvfPqModel::encode`]) goes into
    /// its block slot.
    pub(crate) fn push(&mut self, quantizer: &Quantizer, code: &[u8], id: u64, row: &[f32]) {
        let m = code.len();
        let i = self.ids.len();
        self.ids.push(id);
        self.vectors.push(row);
        match quantizer {
            Quantizer::Rabitq(r) => {
                let parts = (&mut self.codes, &mut self.aux, &mut self.records);
                return r.push(parts, i, &r.split_row(code));
            }
            Quantizer::Pq { pq, .. } if pq.nbits() == 4 => {
                return pq4_push(&mut self.codes, self.layout, m, i, code);
            }
            Quantizer::Pq { .. } => {}
        }
        if i.is_multiple_of(PQ8_BLOCK) {
            self.codes.resize(self.codes.len() + PQ8_BLOCK * m, 0);
        }
        let block = (i / PQ8_BLOCK) * PQ8_BLOCK * m;
        for (j, &c) in code.iter().enumerate() {
            self.codes[block + j * PQ8_BLOCK + i % PQ8_BLOCK] = c;
        }
    }
}

/// Building partitions outside an index: the out-of-core build encodes rows in chunks,
/// spills them, and refills each partition from its spilled rows, in input order, so the
/// file it writes is the one an in-memory index of the same rows writes.
impl Partition {
    /// An empty partition for rows of `model`, its codes in the file layout (`Blocked`).
    pub fn empty(storage: VectorStorage) -> Partition {
        Partition::new(storage, Pq4Layout::Blocked)
    }

    /// Appends one row: `code` is its row of [`crate::IvfPqModel::encode`] and `row` the
    /// vector as [`crate::IvfPqModel::prepare`] returned it. Errors if either has the
    /// wrong length for `model`.
    pub fn push_encoded(
        &mut self,
        model: &crate::IvfPqModel,
        code: &[u8],
        id: u64,
        row: &[f32],
    ) -> crate::Result<()> {
        if code.len() != model.code_len() {
            return Err(crate::IvfPqError::InvalidParameter {
                param: "code",
                message: format!(
                    "{} bytes; the model's codes are {}",
                    code.len(),
                    model.code_len()
                ),
            });
        }
        if row.len() != model.dim() {
            return Err(crate::IvfPqError::InvalidParameter {
                param: "row",
                message: format!(
                    "{} values; the model's dimension is {}",
                    row.len(),
                    model.dim()
                ),
            });
        }
        self.push(model.quantizer(), code, id, row);
        Ok(())
    }

    /// Appends row `i` of `list` (a list of a shard of `model`), with its id and code, and
    /// `row` as its refine vector: merging shards of one model copies rows this way,
    /// without encoding them again. Errors if `i` or the list's arrays are out of range.
    pub fn push_from(
        &mut self,
        model: &crate::IvfPqModel,
        list: &crate::ListRef<'_>,
        i: usize,
        row: &[f32],
    ) -> crate::Result<()> {
        let short = || crate::IvfPqError::InvalidParameter {
            param: "list",
            message: format!("row {i} is outside a list of {} rows", list.ids.len()),
        };
        let id = *list.ids.get(i).ok_or_else(short)?;
        let mut code = vec![0u8; model.code_len()];
        match model.quantizer() {
            Quantizer::Rabitq(r) => r.row_of(list, i, &mut code).ok_or_else(short)?,
            Quantizer::Pq { pq, .. } => {
                let m = pq.m();
                let len = if pq.nbits() == 4 {
                    ivfpq_simd::pq4_blocked_len(list.ids.len(), m)
                } else {
                    pq8_blocked_len(list.ids.len(), m)
                };
                let codes = list.codes.get(..len).ok_or_else(short)?;
                if pq.nbits() == 4 {
                    for (j, c) in code.iter_mut().enumerate() {
                        *c = ivfpq_simd::pq4_code(codes, list.layout, m, i, j);
                    }
                } else {
                    ivfpq_simd::unpack_pq8_code(codes, m, i, &mut code);
                }
            }
        }
        self.push_encoded(model, &code, id, row)
    }
}
