//! The streaming shard writer: partitions go out one at a time, in order, so memory holds
//! one partition and the directory (`O(nlist)`), never the file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use half::f16;
use ivfpq_core::{CodeKind, IvfPqIndex, IvfPqModel, Partition, VectorStorage, Vectors};
use ivfpq_simd::{Pq4Layout, pq4_blocked_len, pq8_blocked_len};

use super::layout::{
    ALIGN, Directory, Entry, FOOTER_LEN, Footer, HEADER_LEN, Header, Section, align_up, crc,
};

/// Where one label lies in the labels section: offset, length, CRC32C.
type LabelRef = (u64, u32, u32);
use crate::error::{IoError, Result};

/// A `Write` that counts bytes, so every section knows its offset.
struct Counted<W: Write> {
    inner: W,
    pos: u64,
}

impl<W: Write> Counted<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(b)?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        const ZEROS: [u8; ALIGN as usize] = [0; ALIGN as usize];
        let n = (align_up(self.pos) - self.pos) as usize;
        self.put(&ZEROS[..n])
    }
}

/// Writes one shard file to any `Write` sink, partition by partition.
///
/// ```
/// # use ivfpq_core::{IndexParams, IvfPqIndex};
/// # let data: Vec<f32> = (0..4096).map(|i| ((i * 37) % 101) as f32).collect();
/// # let ids: Vec<u64> = (0..512).collect();
/// # let p = IndexParams::default().with_nlist(4).with_m(2);
/// # let index = IvfPqIndex::build(&data, &ids, 8, &p).unwrap();
/// let mut bytes = Vec::new();
/// let mut w =
///     ivfpq_io::ShardWriter::new(&mut bytes, index.model(), index.storage(), None, "mem").unwrap();
/// for part in index.partitions() {
///     w.write_partition(part).unwrap();
/// }
/// let len = w.finish().unwrap();
/// assert_eq!(len as usize, bytes.len());
/// ```
pub struct ShardWriter<W: Write> {
    out: Counted<W>,
    header: Header,
    dir: Directory,
    name: String,
    /// Per id: where its label went (empty without labels).
    label_refs: Vec<LabelRef>,
}

impl<W: Write> ShardWriter<W> {
    /// Starts a shard: writes the header, the model sections and the labels. `labels`,
    /// when given, are the string ids: label `i` belongs to the row whose id is `i`.
    /// `name` labels errors.
    pub fn new(
        sink: W,
        model: &IvfPqModel,
        storage: VectorStorage,
        labels: Option<&[String]>,
        name: &str,
    ) -> Result<ShardWriter<W>> {
        let hash = crate::model::model_hash(model)?.short();
        ShardWriter::with_model_hash(sink, model, storage, labels, name, hash)
    }

    /// [`ShardWriter::new`] with the header's model hash given (0 for a model file).
    pub(crate) fn with_model_hash(
        sink: W,
        model: &IvfPqModel,
        storage: VectorStorage,
        labels: Option<&[String]>,
        name: &str,
        model_hash: u64,
    ) -> Result<ShardWriter<W>> {
        let nlist = u32::try_from(model.nlist());
        let dim = u32::try_from(model.dim());
        let (Ok(nlist), Ok(dim)) = (nlist, dim) else {
            return Err(IoError::format(name, "header", "nlist or dim exceeds u32"));
        };
        let header = Header {
            metric: model.metric(),
            storage,
            dim,
            nlist,
            m: match (model.pq(), model.rabitq()) {
                (Some(pq), _) => pq.m() as u32,
                (None, Some(r)) => r.dim_pad() as u32,
                (None, None) => 0,
            },
            labels: labels.is_some(),
            rotation: model.rotation().is_some(),
            codes: model.code_kind(),
            bits: model.nbits(),
            model_hash,
        };
        let empty = Section {
            offset: 0,
            len: 0,
            crc: 0,
        };
        let mut w = ShardWriter {
            out: Counted {
                inner: sink,
                pos: 0,
            },
            header,
            dir: Directory {
                centroids: empty,
                codebooks: empty,
                labels: empty,
                rotation: empty,
                id_range: (0, 0),
                entries: Vec::with_capacity(model.nlist()),
            },
            name: name.to_string(),
            label_refs: Vec::new(),
        };
        let h = header.encode();
        w.io(|o| o.put(&h))?;
        debug_assert_eq!(w.out.pos, HEADER_LEN as u64);
        w.dir.centroids = w.section(bytemuck::cast_slice(model.centroids()))?;
        let codebooks = model.pq().map_or(&[][..], |pq| pq.codebooks());
        w.dir.codebooks = w.section(bytemuck::cast_slice(codebooks))?;
        if let Some(r) = model.rotation() {
            w.dir.rotation = w.section(bytemuck::cast_slice(r.matrix()))?;
        }
        if let Some(labels) = labels {
            w.write_labels(labels)?;
        }
        Ok(w)
    }

    fn io(&mut self, f: impl FnOnce(&mut Counted<W>) -> std::io::Result<()>) -> Result<()> {
        f(&mut self.out).map_err(|e| IoError::os(&self.name, e))
    }

    /// The labels section: every label's UTF-8 bytes, concatenated in id order.
    fn write_labels(&mut self, labels: &[String]) -> Result<()> {
        self.io(|o| o.pad())?;
        let start = self.out.pos;
        let mut all = 0u32;
        self.label_refs.reserve(labels.len());
        for s in labels {
            let b = s.as_bytes();
            let len = u32::try_from(b.len())
                .map_err(|_| IoError::format(&self.name, "labels", "a label over 4 GiB"))?;
            let c = crc(b);
            self.label_refs.push((self.out.pos, len, c));
            all = crc32c::crc32c_append(all, b);
            self.io(|o| o.put(b))?;
        }
        self.dir.labels = Section {
            offset: start,
            len: self.out.pos - start,
            crc: all,
        };
        Ok(())
    }

    /// Writes an aligned section and returns where it went.
    fn section(&mut self, bytes: &[u8]) -> Result<Section> {
        self.io(|o| o.pad())?;
        let offset = self.out.pos;
        self.io(|o| o.put(bytes))?;
        Ok(Section {
            offset,
            len: bytes.len() as u64,
            crc: crc(bytes),
        })
    }

    /// Appends the next partition (partitions go in order `0..nlist`).
    pub fn write_partition(&mut self, part: &Partition) -> Result<()> {
        let h = self.header;
        let (n, m) = (part.len(), h.m as usize);
        let l = self.dir.entries.len();
        let bad = |msg: String| IoError::format(&self.name, format!("partition {l}"), msg);
        if l >= h.nlist as usize {
            return Err(bad(format!("more than nlist = {} partitions", h.nlist)));
        }
        if u32::try_from(n).is_err() {
            return Err(bad(format!("{n} rows; a partition holds fewer than 2^32")));
        }
        let want = match (h.codes, h.bits) {
            (CodeKind::Rabitq, _) => h.rabitq_lens(n as u64),
            (CodeKind::Pq, 4) => Some((pq4_blocked_len(n, m) as u64, 0, 0)),
            (CodeKind::Pq, _) => Some((pq8_blocked_len(n, m) as u64, 0, 0)),
        };
        // Files hold 4-bit codes in the blocked layout, whatever order memory kept them in,
        // so the same index writes the same bytes on every CPU.
        if part.layout != Pq4Layout::Blocked && (h.codes, h.bits) != (CodeKind::Pq, 4) {
            return Err(bad(format!(
                "{:?} codes in a shard of other than 4-bit PQ",
                part.layout
            )));
        }
        let got = (part.codes.len(), part.aux.len(), part.records.len());
        if want != Some((got.0 as u64, got.1 as u64, got.2 as u64)) {
            return Err(bad(format!(
                "{got:?} bytes of codes, block factors and records for {n} rows"
            )));
        }
        let codes = part.codes_in(Pq4Layout::Blocked);
        // Row bytes in their stored precision; the list block carries one CRC per row.
        let rows: &[u8] = match (&part.vectors, h.storage) {
            (Vectors::F32(v), VectorStorage::F32) => bytemuck::cast_slice(v),
            (Vectors::F16(v), VectorStorage::F16) => bytemuck::cast_slice::<f16, u8>(v),
            (Vectors::None, VectorStorage::None) => &[],
            _ => return Err(bad("vector storage differs from the shard's".into())),
        };
        if rows.len() as u64 != h.row_len() * n as u64 {
            return Err(bad(format!("{} vector bytes for {n} rows", rows.len())));
        }
        let row_crcs: Vec<u32> = if h.storage == VectorStorage::None {
            Vec::new()
        } else {
            rows.chunks_exact(h.row_len() as usize).map(crc).collect()
        };
        let mut refs = Vec::new();
        if h.labels {
            refs.reserve(n * 16);
            for &id in &part.ids {
                let &(off, len, c) = self.label_refs.get(id as usize).ok_or_else(|| {
                    bad(format!(
                        "id {id} has no label ({} labels)",
                        self.label_refs.len()
                    ))
                })?;
                refs.extend_from_slice(&off.to_le_bytes());
                refs.extend_from_slice(&len.to_le_bytes());
                refs.extend_from_slice(&c.to_le_bytes());
            }
        }
        // List block: ids | codes | row CRCs | label refs, one contiguous read for a
        // remote probe.
        self.io(|o| o.pad())?;
        let list_offset = self.out.pos;
        let ids: &[u8] = bytemuck::cast_slice(&part.ids);
        let crcs: &[u8] = bytemuck::cast_slice(&row_crcs);
        let mut c = crc32c::crc32c(ids);
        for b in [&codes[..], &part.aux, &part.records, crcs, &refs] {
            c = crc32c::crc32c_append(c, b);
        }
        self.io(|o| {
            o.put(ids)?;
            o.put(&codes)?;
            o.put(&part.aux)?;
            o.put(&part.records)?;
            o.put(crcs)?;
            o.put(&refs)
        })?;
        let vectors_offset = if h.storage == VectorStorage::None {
            0
        } else {
            self.section(rows)?.offset
        };
        if let (Some(&lo), Some(&hi)) = (part.ids.iter().min(), part.ids.iter().max()) {
            let (a, b) = self.dir.id_range;
            self.dir.id_range = if self.dir.rows() == 0 {
                (lo, hi)
            } else {
                (a.min(lo), b.max(hi))
            };
        }
        self.dir.entries.push(Entry {
            list_offset,
            rows: n as u64,
            vectors_offset,
            list_crc: c,
        });
        Ok(())
    }

    /// Writes the directory and the footer; returns the file length. Fails unless every
    /// partition was written.
    pub fn finish(mut self) -> Result<u64> {
        let nlist = self.header.nlist;
        if self.dir.entries.len() != nlist as usize {
            return Err(IoError::format(
                &self.name,
                "directory",
                format!(
                    "{} of {nlist} partitions were written",
                    self.dir.entries.len()
                ),
            ));
        }
        let d = self.dir.encode();
        let dir = self.section(&d)?;
        self.io(|o| o.pad())?;
        let footer = Footer {
            dir_offset: dir.offset,
            dir_len: dir.len,
            dir_crc: dir.crc,
            rows: self.dir.rows(),
            nlist,
            file_len: self.out.pos + FOOTER_LEN as u64,
        };
        let f = footer.encode();
        self.io(|o| {
            o.put(&f)?;
            o.inner.flush()
        })?;
        Ok(footer.file_len)
    }
}

/// Writes `index` as one shard file at `path`, atomically: a temporary file in the same
/// folder, synced, then renamed over `path`. Returns the file length.
pub fn write_shard(index: &IvfPqIndex, path: &Path) -> Result<u64> {
    write_shard_labeled(index, None, path)
}

/// [`write_shard`] with string ids: `labels[i]` is the string id of the row whose id is
/// `i`, and search returns it.
pub fn write_shard_labeled(
    index: &IvfPqIndex,
    labels: Option<&[String]>,
    path: &Path,
) -> Result<u64> {
    write_file_atomic(path, |file, name| {
        let sink = BufWriter::new(file);
        let mut w = ShardWriter::new(sink, index.model(), index.storage(), labels, name)?;
        for part in index.partitions() {
            w.write_partition(part)?;
        }
        w.finish()
    })
}

/// Runs `fill` on a temporary file beside `path`, syncs it and renames it to `path`; on any
/// error the temporary file is removed and an existing `path` is untouched.
pub fn write_file_atomic(
    path: &Path,
    fill: impl FnOnce(&mut File, &str) -> Result<u64>,
) -> Result<u64> {
    let tmp = temp_path(path);
    let name = path.display().to_string();
    let res = (|| {
        let mut file = File::create(&tmp).map_err(|e| IoError::os(&tmp, e))?;
        let len = fill(&mut file, &name)?;
        file.sync_all().map_err(|e| IoError::os(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| IoError::os(path, e))?;
        // Sync the folder too, so the rename itself survives a crash.
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(len)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// The folder of `path`, and the prefix of the temporary files [`write_file_atomic`]
/// writes there for it (`.{name}.tmp-`): a later writer of `path` removes what a killed
/// one left by this prefix.
pub fn temp_file_prefix(path: &Path) -> (PathBuf, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir.to_path_buf(), format!(".{name}.tmp-"))
}

/// A unique temporary name in the folder of `path`.
fn temp_path(path: &Path) -> PathBuf {
    let (dir, prefix) = temp_file_prefix(path);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("{prefix}{}-{nanos}", std::process::id()))
}
