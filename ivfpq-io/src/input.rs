//! Vector input files for `ivfpq build` and `ivfpq search`: `.fvecs`, `.npy` (f32, 2-D,
//! C order) and Arrow IPC files with an id column and a vector column.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::error::{IoError, Result};
use crate::npy::parse_npy;
use crate::vecs::read_fvecs;

/// Ids as the input gave them.
#[derive(Clone, Debug, PartialEq)]
pub enum InputIds {
    /// No id column: rows are numbered from 0.
    RowNumbers,
    /// Integer ids.
    Numbers(Vec<u64>),
    /// String ids (kept in the shard and returned by search).
    Strings(Vec<String>),
}

/// Vectors read from a file, row-major.
#[derive(Clone, Debug)]
pub struct InputVectors {
    /// `n × dim` values.
    pub data: Vec<f32>,
    /// Columns.
    pub dim: usize,
    /// Ids, if the file has them.
    pub ids: InputIds,
}

impl InputVectors {
    /// Rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The vectors and ids of Arrow record batches, read as an Arrow IPC file's are: the
    /// first `FixedSizeList<Float32>` column holds the vectors, `id_column` (u64,
    /// non-negative i64 or strings; absent: row numbers) the ids. Then
    /// `IvfPqIndex::add(&v.data, ids)` adds them. Errors name the batch as `<record batch>`.
    pub fn from_batches<'b>(
        batches: impl IntoIterator<Item = &'b RecordBatch>,
        id_column: &str,
    ) -> Result<InputVectors> {
        let mut out = InputVectors {
            data: Vec::new(),
            dim: 0,
            ids: InputIds::RowNumbers,
        };
        for (i, batch) in batches.into_iter().enumerate() {
            append_batch(&mut out, batch, id_column).map_err(|msg| {
                IoError::format("<record batch>", format!("record batch {i}"), msg)
            })?;
        }
        Ok(out)
    }
}

/// Reads `.fvecs`, `.npy`, Arrow IPC (`.arrow`, `.ipc`, `.feather`) or, with the `hdf5`
/// feature, HDF5 (`.h5`, `.hdf5`: datasets `embedding` and `id_column`), by extension.
/// For Arrow, `id_column` names the id column (absent: row numbers) and the vector column
/// is the first `FixedSizeList<Float32>` column.
pub fn read_vectors(path: &Path, id_column: &str) -> Result<InputVectors> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "fvecs" => {
            let (data, dim) = read_fvecs(path)?;
            Ok(InputVectors {
                data,
                dim,
                ids: InputIds::RowNumbers,
            })
        }
        "npy" => {
            let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
            let (data, dim) = parse_npy(&bytes, path)?;
            Ok(InputVectors {
                data,
                dim,
                ids: InputIds::RowNumbers,
            })
        }
        "arrow" | "ipc" | "feather" => read_arrow(path, id_column),
        "h5" | "hdf5" => {
            let f = crate::VectorFile::open(path, id_column)?;
            f.read_rows(0..f.rows())
        }
        _ => Err(IoError::format(
            path,
            "extension",
            "expected .fvecs, .npy, .arrow, .ipc, .feather, .h5 or .hdf5",
        )),
    }
}

fn read_arrow(path: &Path, id_column: &str) -> Result<InputVectors> {
    let file = File::open(path).map_err(|e| IoError::os(path, e))?;
    let bad = |section: &str, msg: String| IoError::format(path, section, msg);
    let reader = arrow_ipc::reader::FileReader::try_new(file, None)
        .map_err(|e| bad("arrow ipc", e.to_string()))?;
    let mut out = InputVectors {
        data: Vec::new(),
        dim: 0,
        ids: InputIds::RowNumbers,
    };
    for (i, batch) in reader.enumerate() {
        let batch = batch.map_err(|e| bad(&format!("record batch {i}"), e.to_string()))?;
        append_batch(&mut out, &batch, id_column)
            .map_err(|msg| bad(&format!("record batch {i}"), msg))?;
    }
    if out.data.is_empty() {
        return Err(bad("arrow ipc", "no vector rows".into()));
    }
    Ok(out)
}

pub(crate) fn append_batch(
    out: &mut InputVectors,
    batch: &RecordBatch,
    id_column: &str,
) -> std::result::Result<(), String> {
    let schema = batch.schema();
    let vi = schema
        .fields()
        .iter()
        .position(|f| matches!(f.data_type(), DataType::FixedSizeList(c, _) if *c.data_type() == DataType::Float32))
        .ok_or("no FixedSizeList<Float32> vector column")?;
    let col = batch.column(vi);
    if col.null_count() > 0 {
        return Err(format!(
            "null vectors in column {:?}",
            schema.field(vi).name()
        ));
    }
    let list = col.as_fixed_size_list();
    let dim = usize::try_from(list.value_length()).unwrap_or(0);
    if dim == 0 {
        return Err(format!(
            "vector column {:?} has width {}",
            schema.field(vi).name(),
            list.value_length()
        ));
    }
    if out.dim != 0 && dim != out.dim {
        return Err(format!(
            "vector width {dim} differs from earlier batches' {}",
            out.dim
        ));
    }
    out.dim = dim;
    // A batch without rows adds nothing and says nothing of the id type: writers emit
    // them (an empty first batch, a flush with nothing buffered).
    if batch.num_rows() == 0 {
        return Ok(());
    }
    // Whether this is the first batch with rows: the one that decides the id type.
    let first = out.data.is_empty();
    let values = list.values().as_primitive::<Float32Type>();
    let start = list.offset() * dim;
    let rows = values
        .values()
        .get(start..start + list.len() * dim)
        .ok_or("vector values are shorter than the column's rows")?;
    out.data.extend_from_slice(rows);
    let Some(ids) = batch.column_by_name(id_column) else {
        return Ok(());
    };
    if ids.null_count() > 0 {
        return Err(format!("null ids in {id_column:?}"));
    }
    let mismatch = || format!("{id_column:?} changes type between batches");
    match ids.data_type() {
        DataType::UInt64 | DataType::Int64 => {
            let v: Vec<u64> = if *ids.data_type() == DataType::UInt64 {
                ids.as_primitive::<UInt64Type>().values().to_vec()
            } else {
                let v = ids.as_primitive::<Int64Type>().values();
                if let Some(x) = v.iter().find(|x| **x < 0) {
                    return Err(format!("negative id {x} in {id_column:?}"));
                }
                v.iter().map(|&x| x as u64).collect()
            };
            match (&mut out.ids, first) {
                (InputIds::Numbers(all), false) => all.extend(v),
                (ids @ InputIds::RowNumbers, true) => *ids = InputIds::Numbers(v),
                _ => return Err(mismatch()),
            }
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let v: Vec<String> = match ids.data_type() {
                DataType::Utf8 => ids
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or("").to_string())
                    .collect(),
                DataType::LargeUtf8 => ids
                    .as_string::<i64>()
                    .iter()
                    .map(|s| s.unwrap_or("").to_string())
                    .collect(),
                _ => ids
                    .as_string_view()
                    .iter()
                    .map(|s| s.unwrap_or("").to_string())
                    .collect(),
            };
            match (&mut out.ids, first) {
                (InputIds::Strings(all), false) => all.extend(v),
                (ids @ InputIds::RowNumbers, true) => *ids = InputIds::Strings(v),
                _ => return Err(mismatch()),
            }
        }
        other => {
            return Err(format!(
                "{id_column:?} is {other}; expected UInt64, Int64 or Utf8"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Arrow IPC file of `batches`, each `(ids, rows)` of 2-wide vectors, written by
    /// `FileWriter` with the id column typed as the ids are.
    fn arrow_file(name: &str, batches: &[(IdCol, Vec<f32>)]) -> std::path::PathBuf {
        use std::sync::Arc;

        use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
        use arrow_array::{ArrayRef, StringArray, UInt64Array};
        use arrow_schema::{Field, Schema};

        let id_type = match &batches[0].0 {
            IdCol::U64(_) => DataType::UInt64,
            IdCol::Str(_) => DataType::Utf8,
        };
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", id_type, false),
            Field::new("vector", DataType::FixedSizeList(item.clone(), 2), false),
        ]));
        let path = std::env::temp_dir().join(format!("ivfpq-input-{}-{name}", std::process::id()));
        let file = File::create(&path).unwrap();
        let mut w = arrow_ipc::writer::FileWriter::try_new(file, &schema).unwrap();
        for (ids, rows) in batches {
            let ids: ArrayRef = match ids {
                IdCol::U64(v) => Arc::new(UInt64Array::from(v.clone())),
                IdCol::Str(v) => Arc::new(StringArray::from(v.clone())),
            };
            let mut b =
                FixedSizeListBuilder::new(Float32Builder::new(), 2).with_field(item.clone());
            for row in rows.chunks_exact(2) {
                b.values().append_slice(row);
                b.append(true);
            }
            let batch = RecordBatch::try_new(schema.clone(), vec![ids, Arc::new(b.finish())]);
            w.write(&batch.unwrap()).unwrap();
        }
        w.finish().unwrap();
        path
    }

    /// An id column of [`arrow_file`].
    enum IdCol {
        U64(Vec<u64>),
        Str(Vec<&'static str>),
    }

    #[test]
    fn arrow_batches_without_rows_do_not_decide_the_id_type() {
        let path = arrow_file(
            "empty-first.arrow",
            &[
                (IdCol::U64(vec![]), vec![]),
                (IdCol::U64(vec![7, 9]), vec![1.0, 2.0, 3.0, 4.0]),
                (IdCol::U64(vec![]), vec![]),
                (IdCol::U64(vec![11]), vec![5.0, 6.0]),
            ],
        );
        let v = read_vectors(&path, "id").unwrap();
        assert_eq!(v.dim, 2);
        assert_eq!(v.data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(v.ids, InputIds::Numbers(vec![7, 9, 11]));
        std::fs::remove_file(&path).unwrap();

        let path = arrow_file(
            "empty-first-str.arrow",
            &[
                (IdCol::Str(vec![]), vec![]),
                (IdCol::Str(vec!["a"]), vec![1.0, 2.0]),
            ],
        );
        let v = read_vectors(&path, "id").unwrap();
        assert_eq!(v.ids, InputIds::Strings(vec!["a".into()]));
        std::fs::remove_file(&path).unwrap();

        let path = arrow_file("all-empty.arrow", &[(IdCol::U64(vec![]), vec![])]);
        let e = read_vectors(&path, "id").unwrap_err().to_string();
        assert!(e.contains("no vector rows"), "{e}");
        std::fs::remove_file(&path).unwrap();
    }
}
