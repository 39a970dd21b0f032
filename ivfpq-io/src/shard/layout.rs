//! The shard file's fixed structures: header, directory and footer, and the checks a
//! reader runs before it trusts any offset. `docs/format.md` is the specification; this
//! module is its only implementation, shared by the writer and the reader.

use ivfpq_core::{CodeKind, Metric, VectorStorage};
use ivfpq_simd::{PQ4_BLOCK, PQ8_BLOCK, pq4_m_pad};

use crate::error::{IoError, Result};

mod directory;
pub use directory::{Directory, Entry, Section};

/// First bytes of every shard file.
pub const MAGIC: [u8; 8] = *b"IVFPQSHD";
/// Last bytes of every shard file.
pub const FOOTER_MAGIC: [u8; 8] = *b"IVFPQEND";
/// The one format version this code reads and writes.
pub const VERSION: u32 = 4;
/// Every section starts at a multiple of this, so mapped sections cast to `f32`/`u64`
/// without copies and each starts on its own cache line.
pub const ALIGN: u64 = 64;
/// Header length in bytes.
pub const HEADER_LEN: usize = 64;
/// Footer length in bytes.
pub const FOOTER_LEN: usize = 64;
/// Directory bytes before the partition entries: the centroids, codebooks, labels and
/// rotation sections, then the id range.
pub const DIR_MODEL_LEN: usize = 4 * SECTION_LEN + ID_RANGE_LEN;
/// Bytes of the directory's id range: smallest id, largest id, reserved.
const ID_RANGE_LEN: usize = 24;
/// Bytes per model-section entry: offset, length, CRC32C, reserved.
const SECTION_LEN: usize = 24;
/// Bytes per partition entry: list offset, rows, vectors offset, list CRC32C, reserved.
pub const ENTRY_LEN: usize = 32;
/// Bytes per row of label references in a list block: offset u64, length u32, CRC32C u32.
pub const LABEL_REF_LEN: u64 = 16;
/// Header flag: rows have string ids ("labels"), kept in the labels section.
const FLAG_LABELS: u32 = 1;
/// Header flag: codes follow a rotation (OPQ's, or RaBitQ's random one), kept in the
/// rotation section.
const FLAG_ROTATION: u32 = 2;

/// `x` rounded up to [`ALIGN`].
pub fn align_up(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}

/// CRC32C (Castagnoli), hardware-accelerated where the CPU has it.
pub fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// What the header says about the model and the stored vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Distance metric.
    pub metric: Metric,
    /// How refine vectors are stored.
    pub storage: VectorStorage,
    /// Vector dimension.
    pub dim: u32,
    /// Coarse partitions.
    pub nlist: u32,
    /// PQ sub-quantizers; for RaBitQ, the rotated dimension `dim_pad` (`dim` rounded up
    /// to a multiple of 8).
    pub m: u32,
    /// Whether rows carry string ids (labels).
    pub labels: bool,
    /// Whether the model has a rotation (`rotation_dim()²` f32).
    pub rotation: bool,
    /// The code type.
    pub codes: CodeKind,
    /// Bits per code: 8 or 4 for PQ, 1 to 8 a coordinate for RaBitQ.
    pub bits: u32,
    /// The first 8 bytes (little-endian) of the SHA-256 of the model file of the model the
    /// shard was encoded with (`crate::model_hash`); 0 in a model file itself. Shards
    /// with equal values share centroids and codebooks, so their PQ estimates compare.
    pub model_hash: u64,
}

fn metric_code(m: Metric) -> u32 {
    match m {
        Metric::L2 => 0,
        Metric::Cosine => 1,
        Metric::Dot => 2,
    }
}

fn storage_code(s: VectorStorage) -> u32 {
    match s {
        VectorStorage::None => 0,
        VectorStorage::F32 => 1,
        VectorStorage::F16 => 2,
    }
}

/// Reads a little-endian integer at `at` from a slice the caller sized.
fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Header {
    /// Bytes per stored coordinate (0 when no vectors are stored).
    pub fn vector_bytes(&self) -> u64 {
        match self.storage {
            VectorStorage::None => 0,
            VectorStorage::F32 => 4,
            VectorStorage::F16 => 2,
        }
    }

    /// Bytes of `rows` codes in the blocked layout of the header's code width, or `None`
    /// on overflow (pq8_blocked_len / pq4_blocked_len, checked: `rows` comes from a file
    /// and may be anything).
    pub fn codes_len(&self, rows: u64) -> Option<u64> {
        if self.codes == CodeKind::Rabitq {
            let (scan, factors, records) = self.rabitq_lens(rows)?;
            return scan.checked_add(factors)?.checked_add(records);
        }
        if self.bits == 4 {
            let per_block = 16 * pq4_m_pad(self.m as usize) as u64;
            rows.div_ceil(PQ4_BLOCK as u64).checked_mul(per_block)
        } else {
            let block = PQ8_BLOCK as u64;
            rows.div_ceil(block)
                .checked_mul(block)?
                .checked_mul(self.m as u64)
        }
    }

    /// RaBitQ: bytes of the three parts of `rows` vectors' codes: the fast-scan (sign)
    /// codes of `dim_pad / 4` nibbles, the block factors (3 × 32 f32 a block) and the
    /// per-vector records (2 f32, then `bits` planes of `dim_pad / 8` bytes).
    pub fn rabitq_lens(&self, rows: u64) -> Option<(u64, u64, u64)> {
        let blocks = rows.div_ceil(PQ4_BLOCK as u64);
        let scan = blocks.checked_mul(16 * pq4_m_pad(self.m as usize / 4) as u64)?;
        let factors = blocks.checked_mul(PQ4_BLOCK as u64 * 12)?;
        let record = 8 + u64::from(self.bits) * u64::from(self.m) / 8;
        Some((scan, factors, rows.checked_mul(record)?))
    }

    /// Codewords per sub-quantizer: 256 for 8-bit codes, 16 for 4-bit, 0 for RaBitQ
    /// (no codebooks).
    pub fn ksub(&self) -> usize {
        match (self.codes, self.bits) {
            (CodeKind::Rabitq, _) => 0,
            (CodeKind::Pq, 4) => 16,
            _ => 256,
        }
    }

    /// Side of the rotation matrix: `dim` (OPQ) or `dim_pad` (RaBitQ).
    pub fn rotation_dim(&self) -> u32 {
        match self.codes {
            CodeKind::Rabitq => self.m,
            CodeKind::Pq => self.dim,
        }
    }

    /// Length of one stored row.
    pub fn row_len(&self) -> u64 {
        self.dim as u64 * self.vector_bytes()
    }

    /// Length of a partition's list block (`ids | codes | row CRCs | label refs`) for
    /// `rows` vectors, or `None` on overflow.
    pub fn list_len(&self, rows: u64) -> Option<u64> {
        let codes = self.codes_len(rows)?;
        let crcs = if self.storage == VectorStorage::None {
            0
        } else {
            rows.checked_mul(4)?
        };
        let refs = if self.labels {
            rows.checked_mul(LABEL_REF_LEN)?
        } else {
            0
        };
        rows.checked_mul(8)?
            .checked_add(codes)?
            .checked_add(crcs)?
            .checked_add(refs)
    }

    /// Length of a partition's vectors section, or `None` on overflow.
    pub fn vectors_len(&self, rows: u64) -> Option<u64> {
        rows.checked_mul(self.row_len())
    }

    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&metric_code(self.metric).to_le_bytes());
        b[20..24].copy_from_slice(&storage_code(self.storage).to_le_bytes());
        b[24..28].copy_from_slice(&self.bits.to_le_bytes());
        b[28..32].copy_from_slice(&self.dim.to_le_bytes());
        b[32..36].copy_from_slice(&self.nlist.to_le_bytes());
        b[36..40].copy_from_slice(&self.m.to_le_bytes());
        let flags = if self.labels { FLAG_LABELS } else { 0 }
            | if self.rotation { FLAG_ROTATION } else { 0 };
        b[40..44].copy_from_slice(&flags.to_le_bytes());
        let kind: u32 = match self.codes {
            CodeKind::Pq => 0,
            CodeKind::Rabitq => 1,
        };
        b[44..48].copy_from_slice(&kind.to_le_bytes());
        b[48..56].copy_from_slice(&self.model_hash.to_le_bytes());
        let c = crc(&b[..60]);
        b[60..64].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Parses and checks the header bytes of file `file`.
    pub fn decode(b: &[u8], file: &str) -> Result<Header> {
        let bad = |msg: String| IoError::format(file, "header", msg);
        if b.len() < HEADER_LEN {
            return Err(bad(format!("{} bytes, need {HEADER_LEN}", b.len())));
        }
        if b[0..8] != MAGIC {
            return Err(bad(format!("bad magic {:02x?}", &b[0..8])));
        }
        let version = le_u32(b, 8);
        if version != VERSION {
            return Err(bad(format!(
                "format version {version} is not supported (this build reads {VERSION})"
            )));
        }
        let (want, got) = (le_u32(b, 60), crc(&b[..60]));
        if want != got {
            return Err(bad(format!(
                "checksum mismatch: stored {want:08x}, computed {got:08x}"
            )));
        }
        if le_u32(b, 12) as usize != HEADER_LEN {
            return Err(bad(format!(
                "header length {} != {HEADER_LEN}",
                le_u32(b, 12)
            )));
        }
        let metric = match le_u32(b, 16) {
            0 => Metric::L2,
            1 => Metric::Cosine,
            2 => Metric::Dot,
            x => return Err(bad(format!("unknown metric code {x}"))),
        };
        let storage = match le_u32(b, 20) {
            0 => VectorStorage::None,
            1 => VectorStorage::F32,
            2 => VectorStorage::F16,
            x => return Err(bad(format!("unknown vector storage code {x}"))),
        };
        let codes = match le_u32(b, 44) {
            0 => CodeKind::Pq,
            1 => CodeKind::Rabitq,
            x => return Err(bad(format!("unknown code type {x}"))),
        };
        let bits = le_u32(b, 24);
        let bits_ok = match codes {
            CodeKind::Pq => bits == 8 || bits == 4,
            CodeKind::Rabitq => (1..=8).contains(&bits),
        };
        if !bits_ok {
            return Err(bad(format!(
                "{bits} bits per code; this build reads 8 and 4 (PQ), 1 to 8 (RaBitQ)"
            )));
        }
        let h = Header {
            metric,
            storage,
            dim: le_u32(b, 28),
            nlist: le_u32(b, 32),
            m: le_u32(b, 36),
            labels: le_u32(b, 40) & FLAG_LABELS != 0,
            rotation: le_u32(b, 40) & FLAG_ROTATION != 0,
            codes,
            bits,
            model_hash: le_u64(b, 48),
        };
        if b[56..60].iter().any(|&x| x != 0) {
            return Err(bad("reserved bytes are not zero".into()));
        }
        if le_u32(b, 40) & !(FLAG_LABELS | FLAG_ROTATION) != 0 {
            return Err(bad(format!("unknown flags {:08x}", le_u32(b, 40))));
        }
        let shape_ok = match codes {
            CodeKind::Pq => h.m != 0 && h.dim.is_multiple_of(h.m),
            // m is dim_pad: dim rounded up to a multiple of 8, and a rotation is stored.
            CodeKind::Rabitq => h.rotation && Some(h.m) == h.dim.checked_next_multiple_of(8),
        };
        if h.dim == 0 || h.nlist == 0 || !shape_ok {
            return Err(bad(format!(
                "inconsistent shape: dim {} nlist {} m {}",
                h.dim, h.nlist, h.m
            )));
        }
        Ok(h)
    }
}

/// The last 64 bytes: where the directory is, its checksum, and the file length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Directory offset.
    pub dir_offset: u64,
    /// Directory length.
    pub dir_len: u64,
    /// CRC32C of the directory.
    pub dir_crc: u32,
    /// Total vectors.
    pub rows: u64,
    /// Partitions (must match the header).
    pub nlist: u32,
    /// Length of the whole file, footer included.
    pub file_len: u64,
}

impl Footer {
    /// The 64 footer bytes.
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[0..8].copy_from_slice(&self.dir_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.dir_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.dir_crc.to_le_bytes());
        b[20..24].copy_from_slice(&VERSION.to_le_bytes());
        b[24..32].copy_from_slice(&self.file_len.to_le_bytes());
        b[32..40].copy_from_slice(&self.rows.to_le_bytes());
        b[40..44].copy_from_slice(&self.nlist.to_le_bytes());
        let c = crc(&b[..52]);
        b[52..56].copy_from_slice(&c.to_le_bytes());
        b[56..64].copy_from_slice(&FOOTER_MAGIC);
        b
    }

    /// Parses the last [`FOOTER_LEN`] bytes of a file that is `file_len` bytes long.
    pub fn decode(b: &[u8], file_len: u64, file: &str) -> Result<Footer> {
        let bad = |msg: String| IoError::format(file, "footer", msg);
        if b.len() != FOOTER_LEN || file_len < (HEADER_LEN + FOOTER_LEN) as u64 {
            return Err(bad(format!(
                "file is {file_len} bytes, too short for a shard (truncated?)"
            )));
        }
        if b[56..64] != FOOTER_MAGIC {
            return Err(bad("bad magic (truncated or not a shard file)".into()));
        }
        let (want, got) = (le_u32(b, 52), crc(&b[..52]));
        if want != got {
            return Err(bad(format!(
                "checksum mismatch: stored {want:08x}, computed {got:08x}"
            )));
        }
        let version = le_u32(b, 20);
        if version != VERSION {
            return Err(bad(format!(
                "format version {version} is not supported (this build reads {VERSION})"
            )));
        }
        let f = Footer {
            dir_offset: le_u64(b, 0),
            dir_len: le_u64(b, 8),
            dir_crc: le_u32(b, 16),
            file_len: le_u64(b, 24),
            rows: le_u64(b, 32),
            nlist: le_u32(b, 40),
        };
        if f.file_len != file_len {
            return Err(bad(format!(
                "records a {}-byte file but it is {file_len} bytes",
                f.file_len
            )));
        }
        // The footer is aligned like every section; the directory ends in the 64 bytes
        // (at most 63 of them padding) before it.
        let footer_at = file_len - FOOTER_LEN as u64;
        let dir_end = f.dir_offset.checked_add(f.dir_len);
        let fits = dir_end.is_some_and(|e| e <= footer_at && footer_at - e < ALIGN);
        let aligned = footer_at.is_multiple_of(ALIGN) && f.dir_offset.is_multiple_of(ALIGN);
        if !aligned || f.dir_offset < HEADER_LEN as u64 || !fits {
            return Err(bad(format!(
                "directory at {} (+{}) does not end just before the footer at {footer_at}",
                f.dir_offset, f.dir_len
            )));
        }
        if le_u64(b, 44) != 0 {
            return Err(bad("reserved bytes are not zero".into()));
        }
        if f.dir_len != Directory::encoded_len(f.nlist as usize) as u64 {
            return Err(bad(format!(
                "directory of {} bytes cannot hold {} partitions",
                f.dir_len, f.nlist
            )));
        }
        Ok(f)
    }
}
