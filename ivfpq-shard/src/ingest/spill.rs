//! Spilled runs: each encoded chunk of a bucket goes to one temporary file, its rows
//! grouped by partition (stably, so each partition keeps input order). Writing the shard
//! then reads partition `l` of every run, in run order: the rows an in-memory index would
//! hold in partition `l`, in the same order.
//!
//! A run file is three arrays, each grouped by partition: ids (u64), codes (`code_len`
//! bytes a row) and refine rows in the shard's precision. Only the partition boundaries
//! stay in memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use half::f16;
use ivfpq_core::VectorStorage;
use ivfpq_io::IoError;

// Spill files are this crate's own, so their errors are plain I/O errors: the shard
// writer's closure in `build` returns them as they are.
use ivfpq_io::Result;

/// One spilled chunk.
pub(crate) struct Run {
    path: PathBuf,
    file: File,
    /// Where each partition's rows start, and the end (`nlist + 1` entries).
    starts: Vec<u32>,
    code_len: usize,
    row_len: usize,
}

/// One partition's rows of a run.
pub(crate) struct RunPart {
    pub ids: Vec<u64>,
    pub codes: Vec<u8>,
    /// Refine rows in the shard's precision.
    pub rows: Vec<u8>,
}

/// Bytes a refine row takes in `storage`.
pub(crate) fn row_len(storage: VectorStorage, dim: usize) -> usize {
    match storage {
        VectorStorage::F32 => 4 * dim,
        VectorStorage::F16 => 2 * dim,
        _ => 0,
    }
}

/// Appends `row` in `storage`'s precision to `out`.
fn put_row(storage: VectorStorage, row: &[f32], out: &mut Vec<u8>) {
    match storage {
        VectorStorage::F32 => out.extend(row.iter().flat_map(|x| x.to_le_bytes())),
        VectorStorage::F16 => out.extend(row.iter().flat_map(|&x| f16::from_f32(x).to_le_bytes())),
        _ => {}
    }
}

/// Widens a stored row back to f32 (exact: f16 → f32 → f16 round-trips).
pub(crate) fn get_row(storage: VectorStorage, bytes: &[u8], out: &mut [f32]) {
    match storage {
        VectorStorage::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        VectorStorage::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        _ => out.fill(0.0),
    }
}

/// The rows of one encoded chunk, to spill.
pub(crate) struct Chunk<'a> {
    pub assign: &'a [u32],
    pub codes: &'a [u8],
    pub ids: &'a [u64],
    /// Prepared rows (`n × dim`).
    pub rows: &'a [f32],
    pub dim: usize,
}

impl Run {
    /// Writes `chunk` grouped by partition to `path`.
    pub(crate) fn write(
        path: PathBuf,
        chunk: &Chunk<'_>,
        nlist: usize,
        storage: VectorStorage,
    ) -> Result<Run> {
        let n = chunk.ids.len();
        let code_len = chunk.codes.len() / n.max(1);
        // Counting sort by partition, stable.
        let mut starts = vec![0u32; nlist + 1];
        for &a in chunk.assign {
            starts[a as usize + 1] += 1;
        }
        for l in 0..nlist {
            starts[l + 1] += starts[l];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; n];
        for (i, &a) in chunk.assign.iter().enumerate() {
            order[next[a as usize] as usize] = i as u32;
            next[a as usize] += 1;
        }
        let os = |e| IoError::Os {
            path: path.clone(),
            source: e,
        };
        let file = File::create(&path).map_err(os)?;
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        let mut buf = Vec::with_capacity(1 << 16);
        for &i in &order {
            buf.extend_from_slice(&chunk.ids[i as usize].to_le_bytes());
            flush_at(&mut w, &mut buf).map_err(os)?;
        }
        for &i in &order {
            let i = i as usize;
            buf.extend_from_slice(&chunk.codes[i * code_len..(i + 1) * code_len]);
            flush_at(&mut w, &mut buf).map_err(os)?;
        }
        for &i in &order {
            let i = i as usize;
            put_row(
                storage,
                &chunk.rows[i * chunk.dim..(i + 1) * chunk.dim],
                &mut buf,
            );
            flush_at(&mut w, &mut buf).map_err(os)?;
        }
        w.write_all(&buf).and_then(|_| w.flush()).map_err(os)?;
        drop(w);
        Ok(Run {
            path: path.clone(),
            file: File::open(&path).map_err(os)?,
            starts,
            code_len,
            row_len: row_len(storage, chunk.dim),
        })
    }

    /// Partition `l`'s rows of this run.
    pub(crate) fn read(&self, l: usize) -> Result<RunPart> {
        let (a, b) = (self.starts[l] as u64, self.starts[l + 1] as u64);
        let n = *self.starts.last().unwrap_or(&0) as u64;
        let k = b - a;
        let ids = self.read_at(8 * a, 8 * k)?;
        let codes = self.read_at(8 * n + self.code_len as u64 * a, self.code_len as u64 * k)?;
        let rows_at = (8 + self.code_len as u64) * n + self.row_len as u64 * a;
        let rows = self.read_at(rows_at, self.row_len as u64 * k)?;
        Ok(RunPart {
            ids: ids
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            codes,
            rows,
        })
    }

    fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        if len > 0 {
            read_exact_at(&self.file, &mut buf, offset).map_err(|e| IoError::Os {
                path: self.path.clone(),
                source: e,
            })?;
        }
        Ok(buf)
    }
}

/// Writes `buf` out once it holds 64 KiB.
fn flush_at(w: &mut impl Write, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if buf.len() >= 1 << 16 {
        w.write_all(buf)?;
        buf.clear();
    }
    Ok(())
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(mut f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}
