//! Vector files read a range of rows at a time, never whole: the out-of-core build reads
//! inputs larger than memory through [`VectorFile`].
//!
//! Opening reads only what gives the row count and dimension: a `.npy` header, an
//! `.fvecs` file's first word and length, an Arrow IPC file's schema and the row count of
//! each record batch (which reads the batches once, one at a time). Reads are positioned
//! (`pread`), not memory-mapped, so the pages of a file read once do not count against
//! the process's resident memory.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_schema::DataType;

use crate::error::{IoError, Result};
use crate::input::{InputIds, InputVectors, append_batch};
use crate::npy::{ElementType, parse_header};

/// An input file of vectors, read by row ranges.
#[derive(Clone, Debug)]
pub struct VectorFile {
    path: PathBuf,
    format: Format,
    rows: u64,
    dim: usize,
    elem: ElementType,
}

#[derive(Clone, Debug)]
enum Format {
    Npy {
        data_offset: u64,
    },
    Fvecs,
    Arrow {
        id_column: String,
        batch_starts: Vec<u64>,
    },
    #[cfg(feature = "hdf5")]
    Hdf5(crate::stream_hdf5::Hdf5Names),
}

/// The HDF5 dataset of vectors when none is named.
pub const DEFAULT_VECTOR_DATASET: &str = "embedding";

impl VectorFile {
    /// Opens `path` by its extension (`.npy`, `.fvecs`, `.arrow`/`.ipc`/`.feather`, and
    /// `.h5`/`.hdf5` with the `hdf5` feature) and reads its shape. For Arrow and HDF5,
    /// `id_column` names the id column or dataset (absent: row numbers); HDF5 vectors are
    /// the dataset [`DEFAULT_VECTOR_DATASET`].
    pub fn open(path: &Path, id_column: &str) -> Result<VectorFile> {
        VectorFile::open_named(path, id_column, DEFAULT_VECTOR_DATASET)
    }

    /// [`VectorFile::open`] with the HDF5 vector dataset named.
    pub fn open_named(path: &Path, id_column: &str, vector_dataset: &str) -> Result<VectorFile> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let file = File::open(path).map_err(|e| IoError::os(path, e))?;
        let len = file.metadata().map_err(|e| IoError::os(path, e))?.len();
        let (format, rows, dim, elem) = match ext.as_str() {
            "npy" => {
                let prefix = read_at(&file, path, 0, len.min(12) as usize)?;
                // The header's length is in its first 12 bytes; read the whole header.
                let need = match prefix.get(6) {
                    Some(1) if prefix.len() >= 10 => {
                        10 + u16::from_le_bytes([prefix[8], prefix[9]]) as u64
                    }
                    Some(2 | 3) if prefix.len() >= 12 => {
                        12 + u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]])
                            as u64
                    }
                    _ => prefix.len() as u64,
                };
                let head = read_at(&file, path, 0, need.min(len) as usize)?;
                let h = parse_header(&head, path)?;
                if h.data_len().and_then(|d| d.checked_add(h.data_offset)) != Some(len) {
                    return Err(IoError::format(
                        path,
                        "npy data",
                        format!(
                            "{} bytes for shape ({}, {}) of {} (truncated?)",
                            len - h.data_offset.min(len),
                            h.rows,
                            h.dim,
                            h.elem.name()
                        ),
                    ));
                }
                let f = Format::Npy {
                    data_offset: h.data_offset,
                };
                (f, h.rows, h.dim, h.elem)
            }
            "fvecs" => {
                let first = read_at(&file, path, 0, len.min(4) as usize)?;
                let dim = match first[..] {
                    [a, b, c, d] => i32::from_le_bytes([a, b, c, d]),
                    _ => {
                        return Err(IoError::format(
                            path,
                            "record 0",
                            "the file is empty: it holds no vectors",
                        ));
                    }
                };
                let dim = usize::try_from(dim)
                    .ok()
                    .filter(|&d| d > 0)
                    .ok_or_else(|| {
                        IoError::format(
                            path,
                            "record 0",
                            format!("dimension {dim} is not positive"),
                        )
                    })?;
                let rec = 4 + 4 * dim as u64;
                if len % rec != 0 {
                    return Err(IoError::format(
                        path,
                        "records",
                        format!("file length {len} is not a whole number of {dim}-d records"),
                    ));
                }
                (Format::Fvecs, len / rec, dim, ElementType::F32)
            }
            "arrow" | "ipc" | "feather" => arrow_shape(file, path, id_column)?,
            #[cfg(feature = "hdf5")]
            "h5" | "hdf5" => {
                let names = crate::stream_hdf5::Hdf5Names {
                    vectors: vector_dataset.to_string(),
                    ids: id_column.to_string(),
                };
                let (rows, dim, elem) = crate::stream_hdf5::shape(path, &names)?;
                (Format::Hdf5(names), rows, dim, elem)
            }
            #[cfg(not(feature = "hdf5"))]
            "h5" | "hdf5" => {
                let _ = vector_dataset;
                return Err(IoError::format(
                    path,
                    "extension",
                    "HDF5 input needs ivfpq built with the `hdf5` feature",
                ));
            }
            _ => {
                return Err(IoError::format(
                    path,
                    "extension",
                    "expected .npy, .fvecs, .arrow, .ipc, .feather, .h5 or .hdf5",
                ));
            }
        };
        if dim == 0 {
            return Err(IoError::format(path, "shape", "vectors of dimension 0"));
        }
        Ok(VectorFile {
            path: path.to_path_buf(),
            format,
            rows,
            dim,
            elem,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Coordinates a row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// How the file stores a coordinate.
    pub fn element_type(&self) -> ElementType {
        self.elem
    }

    /// Bytes a row takes in the file (for planning reads).
    pub fn row_bytes(&self) -> u64 {
        (self.dim * self.elem.size()) as u64
    }

    /// Reads rows `range` (widened to f32) and their ids: the file's id column, or
    /// [`InputIds::RowNumbers`] when it has none (the caller numbers them).
    pub fn read_rows(&self, range: Range<u64>) -> Result<InputVectors> {
        if range.start > range.end || range.end > self.rows {
            return Err(IoError::format(
                &self.path,
                "rows",
                format!("rows {range:?} are outside the file's {}", self.rows),
            ));
        }
        let n = (range.end - range.start) as usize;
        let mut data = Vec::with_capacity(n * self.dim);
        let ids = match &self.format {
            Format::Npy { data_offset } => {
                let rb = self.row_bytes();
                let bytes = self.read_span(data_offset + range.start * rb, n as u64 * rb)?;
                self.elem.widen(&bytes, &mut data);
                InputIds::RowNumbers
            }
            Format::Fvecs => {
                let rec = 4 + 4 * self.dim as u64;
                let bytes = self.read_span(range.start * rec, n as u64 * rec)?;
                for (i, r) in bytes.chunks_exact(rec as usize).enumerate() {
                    if r[..4] != (self.dim as i32).to_le_bytes() {
                        return Err(IoError::format(
                            &self.path,
                            format!("record {}", range.start + i as u64),
                            format!("dimension differs from the first record's {}", self.dim),
                        ));
                    }
                    ElementType::F32.widen(&r[4..], &mut data);
                }
                InputIds::RowNumbers
            }
            Format::Arrow {
                id_column,
                batch_starts,
            } => return self.read_arrow(range, id_column, batch_starts),
            #[cfg(feature = "hdf5")]
            Format::Hdf5(names) => {
                return crate::stream_hdf5::read_rows(
                    &self.path, names, self.elem, self.dim, range,
                );
            }
        };
        Ok(InputVectors {
            data,
            dim: self.dim,
            ids,
        })
    }

    fn read_span(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let file = File::open(&self.path).map_err(|e| IoError::os(&self.path, e))?;
        read_at(&file, &self.path, offset, len as usize)
    }

    fn read_arrow(
        &self,
        range: Range<u64>,
        id_column: &str,
        batch_starts: &[u64],
    ) -> Result<InputVectors> {
        let mut out = InputVectors {
            data: Vec::with_capacity((range.end - range.start) as usize * self.dim),
            dim: 0,
            ids: InputIds::RowNumbers,
        };
        if range.is_empty() {
            out.dim = self.dim;
            return Ok(out);
        }
        let file = File::open(&self.path).map_err(|e| IoError::os(&self.path, e))?;
        let bad = |section: String, msg: String| IoError::format(&self.path, section, msg);
        let mut reader = arrow_ipc::reader::FileReader::try_new(file, None)
            .map_err(|e| bad("arrow ipc".into(), e.to_string()))?;
        // The last batch starting at or before the range's first row.
        let first = batch_starts
            .partition_point(|&s| s <= range.start)
            .saturating_sub(1);
        reader
            .set_index(first)
            .map_err(|e| bad(format!("record batch {first}"), e.to_string()))?;
        for (b, batch) in (first..).zip(reader) {
            let start = batch_starts.get(b).copied().unwrap_or(u64::MAX);
            if start >= range.end {
                break;
            }
            let batch = batch.map_err(|e| bad(format!("record batch {b}"), e.to_string()))?;
            let lo = range.start.saturating_sub(start) as usize;
            let hi = ((range.end - start) as usize).min(batch.num_rows());
            if lo >= hi {
                continue;
            }
            append_batch(&mut out, &batch.slice(lo, hi - lo), id_column)
                .map_err(|msg| bad(format!("record batch {b}"), msg))?;
        }
        if out.data.len() != (range.end - range.start) as usize * self.dim {
            return Err(bad(
                "arrow ipc".into(),
                format!("rows {range:?} are not all in the file (changed since it was opened?)"),
            ));
        }
        Ok(out)
    }
}

/// An Arrow IPC file's shape: the vector column's width, and where each batch starts.
fn arrow_shape(
    file: File,
    path: &Path,
    id_column: &str,
) -> Result<(Format, u64, usize, ElementType)> {
    let bad = |section: String, msg: String| IoError::format(path, section, msg);
    let reader = arrow_ipc::reader::FileReader::try_new(file, None)
        .map_err(|e| bad("arrow ipc".into(), e.to_string()))?;
    let schema = reader.schema();
    let (vi, dim) = schema
        .fields()
        .iter()
        .enumerate()
        .find_map(|(i, f)| match f.data_type() {
            DataType::FixedSizeList(c, w) if *c.data_type() == DataType::Float32 => Some((i, *w)),
            _ => None,
        })
        .ok_or_else(|| {
            bad(
                "schema".into(),
                "no FixedSizeList<Float32> vector column".into(),
            )
        })?;
    let dim = usize::try_from(dim).unwrap_or(0);
    let mut starts = Vec::new();
    let mut rows = 0u64;
    for (b, batch) in reader.enumerate() {
        let batch = batch.map_err(|e| bad(format!("record batch {b}"), e.to_string()))?;
        if batch.column(vi).null_count() > 0 {
            return Err(bad(format!("record batch {b}"), "null vectors".into()));
        }
        let list = batch.column(vi).as_fixed_size_list();
        if list.values().as_primitive_opt::<Float32Type>().is_none() {
            return Err(bad(
                format!("record batch {b}"),
                "vector values are not f32".into(),
            ));
        }
        starts.push(rows);
        rows += batch.num_rows() as u64;
    }
    let format = Format::Arrow {
        id_column: id_column.to_string(),
        batch_starts: starts,
    };
    Ok((format, rows, dim, ElementType::F32))
}

/// Reads `len` bytes at `offset`: a positioned read that leaves no file pages mapped.
fn read_at(file: &File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| IoError::os(path, e))?;
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|e| IoError::os(path, e))?;
    }
    Ok(buf)
}
