//! One partition's list block (`ids | codes | row CRCs | label refs`) and fetched rows,
//! as bytes that search reads in place.

use std::collections::HashMap;

use bytes::Bytes;
use half::f16;
use ivfpq_core::{ListRef, Lists, Rows, VectorStorage, VectorsRef, row_as_f32};
use ivfpq_simd::Pq4Layout;

/// 8-aligned owned bytes, so ids cast to `u64` in place.
struct Aligned(Vec<u64>, usize);

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
}

/// `b` itself when 8-aligned, else an aligned copy (ranged reads land anywhere).
pub(crate) fn aligned8(b: Bytes) -> Bytes {
    if (b.as_ptr() as usize).is_multiple_of(8) {
        return b;
    }
    let mut words = vec![0u64; b.len().div_ceil(8)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..b.len()].copy_from_slice(&b);
    Bytes::from_owner(Aligned(words, b.len()))
}

/// A verified list block.
#[derive(Clone)]
pub(crate) struct ListBlock {
    bytes: Bytes,
    rows: usize,
    /// Codes, and for RaBitQ block factors and records.
    codes_len: usize,
    /// RaBitQ: where the block factors and the records start inside the codes (both
    /// `codes_len` for PQ).
    scan_len: usize,
    aux_end: usize,
    /// Row CRCs present (the shard stores vectors).
    has_crcs: bool,
}

impl ListBlock {
    /// Wraps a block of `rows` vectors with `codes_len` code bytes: scanned codes up to
    /// `scan_len`, block factors up to `aux_end`, records after (RaBitQ); `bytes` must be
    /// 8-aligned and exactly as long as the layout says (the reader checked both).
    pub(crate) fn new(
        bytes: Bytes,
        rows: usize,
        (codes_len, scan_len, aux_end): (usize, usize, usize),
        has_crcs: bool,
    ) -> ListBlock {
        let aux_end = aux_end.min(codes_len);
        ListBlock {
            bytes: aligned8(bytes),
            rows,
            codes_len,
            scan_len: scan_len.min(aux_end),
            aux_end,
            has_crcs,
        }
    }

    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn ids(&self) -> &[u64] {
        bytemuck::try_cast_slice(&self.bytes[..self.rows * 8]).unwrap_or(&[])
    }

    pub(crate) fn codes(&self) -> &[u8] {
        &self.bytes[self.rows * 8..self.rows * 8 + self.scan_len]
    }

    /// RaBitQ block factors (empty for PQ).
    pub(crate) fn aux(&self) -> &[u8] {
        &self.bytes[self.rows * 8 + self.scan_len..self.rows * 8 + self.aux_end]
    }

    /// RaBitQ per-vector records (empty for PQ).
    pub(crate) fn records(&self) -> &[u8] {
        &self.bytes[self.rows * 8 + self.aux_end..self.rows * 8 + self.codes_len]
    }

    /// CRC32C of stored row `off` (`None` when no vectors are stored).
    pub(crate) fn row_crc(&self, off: usize) -> Option<u32> {
        if !self.has_crcs || off >= self.rows {
            return None;
        }
        let at = self.rows * 8 + self.codes_len + off * 4;
        let w = self.bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    }

    /// Where the label of row `off` lies: offset, length, CRC32C (`None` without labels).
    pub(crate) fn label_ref(&self, off: usize) -> Option<(u64, u32, u32)> {
        if off >= self.rows {
            return None;
        }
        let crcs = if self.has_crcs { self.rows * 4 } else { 0 };
        let at = self.rows * 8 + self.codes_len + crcs + off * 16;
        let w = self.bytes.get(at..at + 16)?;
        let u32_at = |i: usize| u32::from_le_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]]);
        let off = u64::from(u32_at(0)) | (u64::from(u32_at(4)) << 32);
        Some((off, u32_at(8), u32_at(12)))
    }
}

/// The lists one search loaded, by partition.
pub(crate) struct LoadedLists(pub(crate) HashMap<u32, ListBlock>);

impl ListBlock {
    /// The block as search reads it.
    pub(crate) fn list_ref(&self) -> ListRef<'_> {
        ListRef {
            codes: self.codes(),
            ids: self.ids(),
            aux: self.aux(),
            records: self.records(),
            // As stored: scanning a fetched list in place beats reordering it per search.
            layout: Pq4Layout::Blocked,
        }
    }
}

impl Lists for LoadedLists {
    fn list(&self, l: usize) -> Option<ListRef<'_>> {
        Some(self.0.get(&(l as u32))?.list_ref())
    }
}

/// The candidate rows one search fetched, by `(partition, offset)`.
pub(crate) struct LoadedRows {
    pub(crate) rows: HashMap<(u32, u32), Bytes>,
    pub(crate) storage: VectorStorage,
}

impl Rows for LoadedRows {
    fn row<'a>(&'a self, l: usize, off: usize, scratch: &'a mut [f32]) -> Option<&'a [f32]> {
        let b = self.rows.get(&(l as u32, off as u32))?;
        stored_row(b, self.storage, scratch)
    }
}

/// A stored row's bytes as f32: borrowed when f32 and 4-aligned, else converted into
/// `scratch` (f16 whole with F16C / NEON when 2-aligned, as fetched and mapped rows are;
/// element by element only as the fallback).
pub(crate) fn stored_row<'a>(
    b: &'a [u8],
    storage: VectorStorage,
    scratch: &'a mut [f32],
) -> Option<&'a [f32]> {
    match storage {
        VectorStorage::F32 => {
            if let Ok(x) = bytemuck::try_cast_slice::<u8, f32>(b) {
                return Some(x);
            }
            for (o, c) in scratch.iter_mut().zip(b.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
            Some(&scratch[..b.len() / 4])
        }
        VectorStorage::F16 => {
            if let Ok(x) = bytemuck::try_cast_slice::<u8, f16>(b) {
                return row_as_f32(VectorsRef::F16(x), scratch);
            }
            for (o, c) in scratch.iter_mut().zip(b.chunks_exact(2)) {
                *o = f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
            }
            Some(&scratch[..b.len() / 2])
        }
        VectorStorage::None => None,
    }
}
