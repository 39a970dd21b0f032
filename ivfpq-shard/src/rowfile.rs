//! Row files: Arrow IPC files of `(row: u32, id: u64)` pairs. A shard's id file holds
//! every row sorted by id (to find rows by id without reading the shard), and for a shard
//! with string ids a `label: Utf8` column too, sorted by label; a deletion file holds the
//! deleted rows of one shard or segment sorted by row, with their ids (so a search builds
//! its filter without reading the shard's ids).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{Result, ShardError};

/// Pairs of a row position and its id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RowIds {
    pub(crate) rows: Vec<u32>,
    pub(crate) ids: Vec<u64>,
}

impl RowIds {
    /// Sorted by id (an id file's order).
    pub(crate) fn sorted_by_id(mut pairs: Vec<(u64, u32)>) -> RowIds {
        pairs.sort_unstable();
        RowIds {
            rows: pairs.iter().map(|p| p.1).collect(),
            ids: pairs.iter().map(|p| p.0).collect(),
        }
    }

    /// Sorted by row (a deletion file's order), duplicates dropped.
    pub(crate) fn sorted_by_row(mut pairs: Vec<(u32, u64)>) -> RowIds {
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        RowIds {
            rows: pairs.iter().map(|p| p.0).collect(),
            ids: pairs.iter().map(|p| p.1).collect(),
        }
    }

    /// The row holding `id`, in an id file (sorted by id).
    pub(crate) fn row_of(&self, id: u64) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|i| self.rows[i])
    }

    /// The pairs, `(row, id)`.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.rows.iter().copied().zip(self.ids.iter().copied())
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The file bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("row", DataType::UInt32, false),
            Field::new("id", DataType::UInt64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(self.rows.clone())),
            Arc::new(UInt64Array::from(self.ids.clone())),
        ];
        ipc_file(schema, cols)
    }

    /// Parses a row file's bytes; `file` names it in errors.
    pub(crate) fn decode(bytes: bytes::Bytes, file: &str) -> Result<RowIds> {
        let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(arrow_err(file))?;
        let mut out = RowIds::default();
        for batch in reader {
            let batch = batch.map_err(arrow_err(file))?;
            let (Some(rows), Some(ids)) = (
                batch
                    .column_by_name("row")
                    .and_then(|c| c.as_primitive_opt::<UInt32Type>()),
                batch
                    .column_by_name("id")
                    .and_then(|c| c.as_primitive_opt::<UInt64Type>()),
            ) else {
                return Err(corrupt(file, "needs columns row: u32 and id: u64"));
            };
            out.rows.extend_from_slice(rows.values());
            out.ids.extend_from_slice(ids.values());
        }
        Ok(out)
    }
}

/// One record batch of `cols` as the bytes of an Arrow IPC file.
pub(crate) fn ipc_file(schema: Arc<Schema>, cols: Vec<ArrayRef>) -> Result<Vec<u8>> {
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(arrow_err("<new>"))?;
    let mut w =
        arrow_ipc::writer::FileWriter::try_new(Vec::new(), &schema).map_err(arrow_err("<new>"))?;
    w.write(&batch).map_err(arrow_err("<new>"))?;
    w.finish().map_err(arrow_err("<new>"))?;
    w.into_inner().map_err(arrow_err("<new>"))
}

/// A shard's rows with string ids, sorted by label: its id file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RowLabels {
    pub(crate) rows: Vec<u32>,
    pub(crate) ids: Vec<u64>,
    pub(crate) labels: Vec<String>,
}

impl RowLabels {
    /// From `(label, row, id)` triples, in any order.
    pub(crate) fn sorted(mut t: Vec<(String, u32, u64)>) -> RowLabels {
        t.sort_unstable();
        let mut out = RowLabels::default();
        for (l, r, i) in t {
            out.labels.push(l);
            out.rows.push(r);
            out.ids.push(i);
        }
        out
    }

    /// The row and id holding `label`.
    pub(crate) fn find(&self, label: &str) -> Option<(u32, u64)> {
        let i = self
            .labels
            .binary_search_by(|l| l.as_str().cmp(label))
            .ok()?;
        Some((self.rows[i], self.ids[i]))
    }

    /// The file bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("row", DataType::UInt32, false),
            Field::new("id", DataType::UInt64, false),
            Field::new("label", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(self.rows.clone())),
            Arc::new(UInt64Array::from(self.ids.clone())),
            Arc::new(arrow_array::StringArray::from(self.labels.clone())),
        ];
        ipc_file(schema, cols)
    }

    /// Parses an id file with labels; `file` names it in errors.
    pub(crate) fn decode(bytes: bytes::Bytes, file: &str) -> Result<RowLabels> {
        let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(arrow_err(file))?;
        let mut out = RowLabels::default();
        for batch in reader {
            let batch = batch.map_err(arrow_err(file))?;
            let rows = batch
                .column_by_name("row")
                .and_then(|c| c.as_primitive_opt::<UInt32Type>());
            let ids = batch
                .column_by_name("id")
                .and_then(|c| c.as_primitive_opt::<UInt64Type>());
            let labels = batch
                .column_by_name("label")
                .and_then(|c| c.as_string_opt::<i32>());
            let (Some(rows), Some(ids), Some(labels)) = (rows, ids, labels) else {
                return Err(corrupt(
                    file,
                    "needs columns row: u32, id: u64 and label: utf8",
                ));
            };
            out.rows.extend_from_slice(rows.values());
            out.ids.extend_from_slice(ids.values());
            out.labels
                .extend(labels.iter().map(|l| l.unwrap_or_default().to_string()));
        }
        if out.labels.windows(2).any(|w| w[0] > w[1]) {
            return Err(corrupt(file, "labels are not sorted"));
        }
        Ok(out)
    }
}

pub(crate) fn corrupt(file: &str, message: impl Into<String>) -> ShardError {
    ShardError::Corrupt {
        file: file.to_string(),
        message: message.into(),
    }
}

pub(crate) fn arrow_err(file: &str) -> impl Fn(arrow_schema::ArrowError) -> ShardError + '_ {
    move |e| corrupt(file, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lookup() {
        let r = RowIds::sorted_by_id(vec![(30, 0), (10, 1), (20, 2)]);
        assert_eq!(r.ids, vec![10, 20, 30]);
        assert_eq!(r.row_of(20), Some(2));
        assert_eq!(r.row_of(25), None);
        let b = bytes::Bytes::from(r.encode().unwrap());
        assert_eq!(RowIds::decode(b.clone(), "f").unwrap(), r);
        let e = RowIds::decode(b.slice(..b.len() / 2), "f").unwrap_err();
        assert!(e.to_string().starts_with("f: "), "{e}");
        let l = RowLabels::sorted(vec![("b".into(), 0, 5), ("a".into(), 1, 7)]);
        assert_eq!(l.find("b"), Some((0, 5)));
        assert_eq!(l.find("c"), None);
        let b = bytes::Bytes::from(l.encode().unwrap());
        assert_eq!(RowLabels::decode(b, "f").unwrap(), l);
    }
}
