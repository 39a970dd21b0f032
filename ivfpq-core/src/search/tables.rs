//! A probe's table: the float PQ table (precomputed term plus query term, from the
//! residual, or the query's own when shared) and, for 4-bit codes, where its bytes come
//! from (`TableSource`) and the scan of one list with them.

use ivfpq_simd::TopK;

use super::QueryBatch;
use crate::byte_scan::{self, Bits, ByteScratch, ByteTable, ProbeBytes, QueryBytes, TableSource};
use crate::lists::ListRef;
use crate::pq::KSUB;

impl<'a> QueryBatch<'a> {
    /// Probe `(l, coarse)`'s table and its constant term, for query `q` whose query-only
    /// term is `qterm`. With a precomputed table the coarse distance is the constant; from
    /// the residual table it is inside the lookups; with a shared table (dot, cosine) every
    /// probe uses `qterm` itself.
    pub(super) fn probe_table<'t>(
        &self,
        q: &[f32],
        qterm: &'t [f32],
        (l, coarse): (u32, f32),
        lut: &'t mut [f32],
    ) -> (&'t [f32], f32) {
        let (kern, model) = (self.kern, self.model);
        if self.shared_table() {
            (qterm, model.probe_bias(l as usize, coarse))
        } else if let Some(t) = model.precomputed(l as usize) {
            kern.add(t, qterm, lut);
            (lut, coarse)
        } else {
            model.residual_table(kern, q, l as usize, lut);
            (lut, 0.0)
        }
    }

    /// The byte-table codes of the query's PQ, if it scans them: 4-bit codes always,
    /// 8-bit codes where the CPU has the byte-table kernel (`Kernels::has_pq8_byte_scan`);
    /// `None` keeps the 8-bit float scan.
    pub(super) fn byte_bits(&self) -> Option<Bits> {
        match self.model.pq()?.ksub() {
            KSUB if self.kern.has_pq8_byte_scan() => Some(Bits::Eight),
            KSUB => None,
            _ => Some(Bits::Four),
        }
    }

    /// Whether byte-table survivors are rescored with the float table. 8-bit codes
    /// always are: their byte table is coarser than the codes (one scale for 256 entries a
    /// row, and loose row bounds for precomputed tables), and choosing the refine
    /// candidates by it cost up to 0.025 recall@10 on clustered L2 data (tests/recall.rs).
    /// 4-bit codes are coarser than their table, so there the byte estimates may choose
    /// the candidates that refine reranks.
    pub(super) fn rescores(&self, bits: Bits) -> bool {
        !self.refines() || bits == Bits::Eight
    }

    /// The byte table of a probe whose table comes from `src`: the query's shared bytes,
    /// or `src` quantized into `bytes`.
    pub(super) fn probe_bytes<'t>(
        &self,
        (src, bits): (TableSource<'t>, Bits),
        bytes: &'t mut ByteTable,
    ) -> ProbeBytes<'t> {
        let (kern, m) = (self.kern, self.model.pq().map_or(0, |pq| pq.m()));
        match src {
            TableSource::Shared(lut, b) => b.table(lut),
            TableSource::Float(lut) => {
                bytes.quantize(kern, lut, (m, bits));
                bytes.table(lut)
            }
            TableSource::Sum { t, q, lo, hi } => {
                bytes.quantize_sum(kern, (t, q), (lo, hi), (m, bits));
                // Rescoring reads both parts (never summed whole); without it, only bytes.
                bytes.table_sum(t, q)
            }
        }
    }

    /// The byte-table scan of a probed partition's lists (one per segment, with their
    /// ids) into `top` (4-bit codes, or 8-bit ones per `bits`), its table from `src`,
    /// quantized once for all of them.
    pub(super) fn scan_bytes_lists<'l>(
        &self,
        (src, bits): (TableSource<'_>, Bits),
        bias: f32,
        parts: impl Iterator<Item = (u32, ListRef<'l>)>,
        s: &mut ByteScratch,
        top: &mut TopK,
    ) {
        let rescore = self.rescores(bits);
        let filter = self.params.filter.as_ref();
        let (kern, m) = (self.kern, self.model.pq().map_or(0, |pq| pq.m()));
        let ByteScratch {
            bytes,
            sums,
            hits,
            order,
        } = s;
        let t = self.probe_bytes((src, bits), bytes);
        let m = (m, bits);
        for list in parts {
            let buffers = (&mut *sums, &mut *hits, &mut *order);
            byte_scan::scan_list(kern, t, bias, list, m, filter, rescore, buffers, top);
            top.tighten();
        }
    }

    /// What the byte-table probes of the query with term `qterm` share (see [`QueryBytes`]).
    pub(super) fn query_bytes(&self, qterm: &[f32]) -> QueryBytes {
        let (Some(pq), Some(bits)) = (self.model.pq(), self.byte_bits()) else {
            return QueryBytes::PerProbe;
        };
        if self.shared_table() {
            let mut b = ByteTable::default();
            b.quantize(self.kern, qterm, (pq.m(), bits));
            QueryBytes::Shared(b)
        } else if self.model.precomputed_bounds(0).is_some() {
            let mut bounds = vec![0.0; 2 * pq.m()];
            byte_scan::row_bounds(self.kern, qterm, pq.ksub(), &mut bounds);
            QueryBytes::Bounds(bounds)
        } else {
            QueryBytes::PerProbe
        }
    }

    /// Probe `(l, coarse)`'s byte table source and constant, for the query `q` with
    /// term `qterm` and shared part `query`: its shared bytes, the precomputed table plus
    /// `qterm` with row bounds, else a float table from [`QueryBatch::probe_table`].
    /// `lut` and `bounds` are the caller's buffers.
    pub(super) fn table_source<'t>(
        &self,
        (q, qterm): (&[f32], &'t [f32]),
        query: &'t QueryBytes,
        (l, coarse): (u32, f32),
        lut: &'t mut [f32],
        bounds: &'t mut Vec<f32>,
    ) -> (TableSource<'t>, f32)
    where
        'a: 't,
    {
        let model = self.model;
        let qbounds: &[f32] = match query {
            QueryBytes::Shared(b) => {
                let bias = model.probe_bias(l as usize, coarse);
                return (TableSource::Shared(qterm, b), bias);
            }
            QueryBytes::Bounds(b) => b,
            QueryBytes::PerProbe => &[],
        };
        let m = qbounds.len() / 2;
        if let (Some(t), Some((tlo, thi)), false) = (
            model.precomputed(l as usize),
            model.precomputed_bounds(l as usize),
            qbounds.is_empty(),
        ) {
            // Each row of `t + qterm` lies between the sums of the parts' row extremes.
            bounds.resize(2 * m, 0.0);
            let (lo, hi) = bounds.split_at_mut(m);
            self.kern.add(tlo, &qbounds[..m], lo);
            self.kern.add(thi, &qbounds[m..], hi);
            let (lo, hi) = (&*lo, &*hi);
            return (
                TableSource::Sum {
                    t,
                    q: qterm,
                    lo,
                    hi,
                },
                coarse,
            );
        }
        let (lut, bias) = self.probe_table(q, qterm, (l, coarse), lut);
        (TableSource::Float(lut), bias)
    }
}
