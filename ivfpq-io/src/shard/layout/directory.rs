//! The directory: where each whole section and each partition's list and vectors lie,
//! with their checksums, decoded and checked against the file's length before a reader
//! trusts any offset.

use std::ops::Range;

use ivfpq_core::VectorStorage;

use super::{ALIGN, DIR_MODEL_LEN, ENTRY_LEN, HEADER_LEN, Header, SECTION_LEN, le_u32, le_u64};
use crate::error::{IoError, Result};

/// Where one whole section (centroids, codebooks, rotation or labels) lies, and its checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    /// Byte offset (a multiple of [`ALIGN`]).
    pub offset: u64,
    /// Byte length.
    pub len: u64,
    /// CRC32C of the section's bytes.
    pub crc: u32,
}

impl Section {
    /// The byte range.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.len
    }
}

/// One partition's entry in the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the list block `ids | codes | row CRCs | label refs`.
    pub list_offset: u64,
    /// Vectors in the partition.
    pub rows: u64,
    /// Offset of the vectors section (0 when no vectors are stored).
    pub vectors_offset: u64,
    /// CRC32C of the whole list block.
    pub list_crc: u32,
}

/// Offsets, counts and checksums of every section; checked against the file length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    /// Coarse centroids, `nlist × dim` f32.
    pub centroids: Section,
    /// PQ codebooks, `m × ksub × dim/m` f32 (`ksub` = 256 for 8-bit codes, 16 for 4-bit).
    pub codebooks: Section,
    /// UTF-8 string ids, concatenated in id order (empty without labels).
    pub labels: Section,
    /// The rotation, `rotation_dim × rotation_dim` f32 row-major (empty without one).
    pub rotation: Section,
    /// The smallest and largest id in the shard (`(0, 0)` when it has no rows), so that a
    /// collection can tell which shards may hold an id without reading their ids.
    pub id_range: (u64, u64),
    /// One entry per partition.
    pub entries: Vec<Entry>,
}

impl Directory {
    /// Directory length for `nlist` partitions.
    pub fn encoded_len(nlist: usize) -> usize {
        DIR_MODEL_LEN + nlist * ENTRY_LEN
    }

    /// The directory bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::encoded_len(self.entries.len()));
        for s in [
            &self.centroids,
            &self.codebooks,
            &self.labels,
            &self.rotation,
        ] {
            b.extend_from_slice(&s.offset.to_le_bytes());
            b.extend_from_slice(&s.len.to_le_bytes());
            b.extend_from_slice(&s.crc.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        b.extend_from_slice(&self.id_range.0.to_le_bytes());
        b.extend_from_slice(&self.id_range.1.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        for e in &self.entries {
            b.extend_from_slice(&e.list_offset.to_le_bytes());
            b.extend_from_slice(&e.rows.to_le_bytes());
            b.extend_from_slice(&e.vectors_offset.to_le_bytes());
            b.extend_from_slice(&e.list_crc.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
        }
        b
    }

    /// Parses the directory and checks every section against the header and against
    /// `dir_offset` (sections lie in order, aligned, between the header and the
    /// directory, without overlap).
    pub fn decode(b: &[u8], h: &Header, dir_offset: u64, file: &str) -> Result<Directory> {
        let nlist = h.nlist as usize;
        if b.len() != Self::encoded_len(nlist) {
            return Err(IoError::format(
                file,
                "directory",
                format!("{} bytes for {nlist} partitions", b.len()),
            ));
        }
        let section = |i: usize| Section {
            offset: le_u64(b, i * SECTION_LEN),
            len: le_u64(b, i * SECTION_LEN + 8),
            crc: le_u32(b, i * SECTION_LEN + 16),
        };
        let (centroids, codebooks, labels) = (section(0), section(1), section(2));
        let rotation = section(3);
        let mut reserved = (0..4).fold(0, |r, i| r | le_u32(b, i * SECTION_LEN + 20));
        let ids_at = 4 * SECTION_LEN;
        let id_range = (le_u64(b, ids_at), le_u64(b, ids_at + 8));
        reserved |= le_u32(b, ids_at + 16) | le_u32(b, ids_at + 20);
        let entries: Vec<Entry> = (0..nlist)
            .map(|l| {
                let at = DIR_MODEL_LEN + l * ENTRY_LEN;
                reserved |= le_u32(b, at + 28);
                Entry {
                    list_offset: le_u64(b, at),
                    rows: le_u64(b, at + 8),
                    vectors_offset: le_u64(b, at + 16),
                    list_crc: le_u32(b, at + 24),
                }
            })
            .collect();
        if reserved != 0 {
            return Err(IoError::format(
                file,
                "directory",
                "reserved fields are not zero",
            ));
        }
        let dir = Directory {
            centroids,
            codebooks,
            labels,
            rotation,
            id_range,
            entries,
        };
        dir.check(h, dir_offset, file)?;
        Ok(dir)
    }

    fn check(&self, h: &Header, dir_offset: u64, file: &str) -> Result<()> {
        let (dim, nlist) = (h.dim as u64, h.nlist as u64);
        let (lo, hi) = self.id_range;
        let ids_ok = if self.rows() == 0 {
            (lo, hi) == (0, 0)
        } else {
            lo <= hi
        };
        if !ids_ok {
            return Err(IoError::format(
                file,
                "directory",
                format!("id range {lo}..={hi} for {} rows", self.rows()),
            ));
        }
        // Each section must start at or after `cursor`, aligned, and end by `dir_offset`.
        let mut cursor = HEADER_LEN as u64;
        let mut place = |name: &dyn Fn() -> String, off: u64, len: Option<u64>| -> Result<()> {
            let len = len.ok_or_else(|| IoError::format(file, name(), "length overflows"))?;
            let end = off.checked_add(len);
            if !off.is_multiple_of(ALIGN) || off < cursor || end.is_none_or(|e| e > dir_offset) {
                return Err(IoError::format(
                    file,
                    name(),
                    format!(
                        "{len} bytes at offset {off} fall outside [{cursor}, {dir_offset}) \
                         or are not {ALIGN}-aligned"
                    ),
                ));
            }
            cursor = end.unwrap_or(dir_offset);
            Ok(())
        };
        let empty = Section {
            offset: 0,
            len: 0,
            crc: 0,
        };
        // A whole section, present when its header flag says so: then its length (which
        // the header fixes) and its place are checked; absent, it must be all zero.
        let mut section = |name: &'static str, s: Section, want: Option<u64>, flag: bool| {
            if !flag {
                if s == empty {
                    return Ok(());
                }
                let what = format!("present but the header has no {name} flag");
                return Err(IoError::format(file, name, what));
            }
            if want != Some(s.len) {
                return Err(IoError::format(file, name, "length does not match header"));
            }
            place(&|| name.into(), s.offset, want)
        };
        let want = nlist.checked_mul(dim).and_then(|x| x.checked_mul(4));
        section("centroids", self.centroids, want, true)?;
        section(
            "codebooks",
            self.codebooks,
            Some(dim * h.ksub() as u64 * 4),
            true,
        )?;
        // rotation_dim² × 4 bytes.
        let side = u64::from(h.rotation_dim());
        let want = side.checked_mul(side).and_then(|x| x.checked_mul(4));
        section("rotation", self.rotation, want, h.rotation)?;
        section("labels", self.labels, Some(self.labels.len), h.labels)?;
        for (l, e) in self.entries.iter().enumerate() {
            place(
                &|| format!("partition {l} list"),
                e.list_offset,
                h.list_len(e.rows),
            )?;
            if h.storage != VectorStorage::None {
                place(
                    &|| format!("partition {l} vectors"),
                    e.vectors_offset,
                    h.vectors_len(e.rows),
                )?;
            } else if e.vectors_offset != 0 {
                return Err(IoError::format(
                    file,
                    format!("partition {l} vectors"),
                    "offset set but the header stores no vectors",
                ));
            }
        }
        Ok(())
    }

    /// Where the model sections (centroids, codebooks, rotation) end, read from raw
    /// directory bytes before they are checked (the reader reads `[0, model_end)` in one
    /// request, then checks).
    pub fn model_end(b: &[u8]) -> u64 {
        if b.len() < DIR_MODEL_LEN {
            return 0;
        }
        let end =
            |i: usize| le_u64(b, i * SECTION_LEN).saturating_add(le_u64(b, i * SECTION_LEN + 8));
        end(1).max(end(3))
    }

    /// Total vectors.
    pub fn rows(&self) -> u64 {
        self.entries.iter().map(|e| e.rows).sum()
    }
}
