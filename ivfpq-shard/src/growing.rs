//! Growing segments: recent rows, kept whole in an Arrow IPC file of `id: u64`,
//! `vector: FixedSizeList<f32>` and, for rows with string ids, `label: Utf8` (the `id`s
//! then number the rows), searched exactly until `seal` encodes them into a shard. Small and short-lived, so a reader loads one whole and keeps it in memory.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use ivfpq_core::{IdFilter, Metric, flat_search};

use crate::error::Result;
use crate::results::ResultHit;
use crate::rowfile::{arrow_err, corrupt, ipc_file};

/// The rows of one growing segment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Segment {
    pub(crate) ids: Vec<u64>,
    /// `ids.len() × dim`, row-major, as added.
    pub(crate) vectors: Vec<f32>,
    pub(crate) dim: usize,
    /// The string ids, for rows added with them (`ids` are then `0..len`).
    pub(crate) labels: Option<Vec<String>>,
}

/// The partition number growing rows report in results: they belong to none.
pub const GROWING_PARTITION: u32 = u32::MAX;

impl Segment {
    /// The file bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let dim = i32::try_from(self.dim).map_err(|_| corrupt("<new>", "dim over 2^31"))?;
        let mut fields = vec![
            Field::new("id", DataType::UInt64, false),
            Field::new("vector", DataType::FixedSizeList(item.clone(), dim), false),
        ];
        let values = Arc::new(Float32Array::from(self.vectors.clone()));
        let list =
            FixedSizeListArray::try_new(item, dim, values, None).map_err(arrow_err("<new>"))?;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(self.ids.clone())),
            Arc::new(list),
        ];
        if let Some(labels) = &self.labels {
            fields.push(Field::new("label", DataType::Utf8, false));
            cols.push(Arc::new(arrow_array::StringArray::from(labels.clone())));
        }
        ipc_file(Arc::new(Schema::new(fields)), cols)
    }

    /// Parses a segment file of `dim`-d vectors; `file` names it in errors.
    pub(crate) fn decode(bytes: bytes::Bytes, dim: usize, file: &str) -> Result<Segment> {
        let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(arrow_err(file))?;
        let mut seg = Segment {
            ids: Vec::new(),
            vectors: Vec::new(),
            dim,
            labels: None,
        };
        for batch in reader {
            let batch = batch.map_err(arrow_err(file))?;
            let ids = batch
                .column_by_name("id")
                .and_then(|c| c.as_primitive_opt::<UInt64Type>());
            let list = batch
                .column_by_name("vector")
                .and_then(|c| c.as_fixed_size_list_opt());
            let (Some(ids), Some(list)) = (ids, list) else {
                return Err(corrupt(
                    file,
                    "needs columns id: u64 and vector: list of f32",
                ));
            };
            let values = list.values().as_primitive_opt::<Float32Type>();
            let Some(values) = values.filter(|_| list.value_length() as usize == dim) else {
                return Err(corrupt(file, format!("vectors are not {dim}-d f32")));
            };
            let start = list.offset() * dim;
            let v = values
                .values()
                .get(start..start + list.len() * dim)
                .ok_or_else(|| corrupt(file, "vector column shorter than its rows"))?;
            if list.null_count() > 0 || ids.null_count() > 0 || ids.len() != list.len() {
                return Err(corrupt(file, "null or missing rows"));
            }
            if let Some(c) = batch.column_by_name("label") {
                let l = c
                    .as_string_opt::<i32>()
                    .filter(|l| l.null_count() == 0 && l.len() == ids.len())
                    .ok_or_else(|| corrupt(file, "column label is not Utf8 without nulls"))?;
                let labels = seg.labels.get_or_insert_with(Vec::new);
                labels.extend(l.iter().map(|s| s.unwrap_or_default().to_string()));
            }
            seg.ids.extend_from_slice(ids.values());
            seg.vectors.extend_from_slice(v);
            if seg
                .labels
                .as_ref()
                .is_some_and(|l| l.len() != seg.ids.len())
            {
                return Err(corrupt(file, "some batches have labels and some do not"));
            }
        }
        Ok(seg)
    }

    /// Rows.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Row `i`'s vector.
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// The exact top `k` of each query among the rows `filter` accepts, as results of
    /// segment number `index` (numbered after the shards).
    pub(crate) fn search(
        &self,
        metric: Metric,
        queries: &[f32],
        k: usize,
        filter: Option<&IdFilter>,
        index: u32,
    ) -> Result<Vec<Vec<ResultHit>>> {
        let found = flat_search(
            metric,
            self.dim,
            &self.vectors,
            &self.ids,
            queries,
            k,
            filter,
        )?;
        // Ids are unique in a segment, so each hit's row is found by its id.
        let row_of: std::collections::HashMap<u64, u32> = if found.iter().any(|q| !q.is_empty()) {
            self.ids
                .iter()
                .enumerate()
                .map(|(i, &id)| (id, i as u32))
                .collect()
        } else {
            Default::default()
        };
        let hit = |n: ivfpq_core::Neighbor| {
            let row = row_of.get(&n.id).copied().unwrap_or(0);
            ResultHit {
                id: n.id,
                distance: n.distance,
                estimate: n.distance,
                shard: index,
                partition: GROWING_PARTITION,
                offset: row,
                vector: None,
                label: self
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(row as usize).cloned()),
            }
        };
        Ok(found
            .into_iter()
            .map(|q| q.into_iter().map(&hit).collect())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let seg = Segment {
            ids: vec![7, 3],
            vectors: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            dim: 3,
            labels: None,
        };
        let b = bytes::Bytes::from(seg.encode().unwrap());
        assert_eq!(Segment::decode(b.clone(), 3, "g").unwrap(), seg);
        assert!(Segment::decode(b.clone(), 2, "g").is_err());
        assert!(Segment::decode(b.slice(..20), 3, "g").is_err());
        let hits = seg
            .search(Metric::L2, &[5.0, 5.0, 6.0], 1, None, 4)
            .unwrap();
        assert_eq!(
            (hits[0][0].id, hits[0][0].offset, hits[0][0].shard),
            (3, 1, 4)
        );
        let labeled = Segment {
            ids: vec![0, 1],
            labels: Some(vec!["a".into(), "b,c".into()]),
            ..seg
        };
        let b = bytes::Bytes::from(labeled.encode().unwrap());
        assert_eq!(Segment::decode(b, 3, "g").unwrap(), labeled);
        let hits = labeled
            .search(Metric::L2, &[5.0, 5.0, 6.0], 1, None, 0)
            .unwrap();
        assert_eq!(hits[0][0].label.as_deref(), Some("b,c"));
    }
}
