//! Search result files: one row per `(query, rank)` with the id and the distance, and the
//! stored vector when asked. CSV for people, Arrow IPC for programs (and for the
//! map-reduce merge of partial results).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{
    Array, ArrayRef, Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};

use crate::error::{IoError, Result};
use crate::shard::write_file_atomic;

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    /// Query number, from 0.
    pub query: u32,
    /// Rank within the query, from 0 (nearest).
    pub rank: u32,
    /// Numeric id.
    pub id: u64,
    /// String id, for shards built with string ids.
    pub label: Option<String>,
    /// Distance under the shard's metric.
    pub distance: f32,
    /// The stored vector, when asked for.
    pub vector: Option<Vec<f32>>,
}

/// Writes rows as `.csv` or Arrow IPC (`.arrow`), by extension, atomically.
pub fn write_results(path: &Path, rows: &[ResultRow]) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let fill = |f: &mut std::fs::File, name: &str| -> Result<u64> {
        let mut w = std::io::BufWriter::new(f);
        match ext.as_str() {
            "csv" => write_csv(&mut w, rows).map_err(|e| IoError::os(name, e))?,
            "arrow" | "ipc" | "feather" => write_arrow(&mut w, rows, name)?,
            _ => {
                return Err(IoError::format(
                    name,
                    "extension",
                    "expected .csv or .arrow",
                ));
            }
        }
        w.flush().map_err(|e| IoError::os(name, e))?;
        Ok(0)
    };
    write_file_atomic(path, fill).map(|_| ())
}

/// CSV: `query,rank,id,distance[,vector]`, the vector as space-separated values.
pub fn write_csv(w: &mut impl Write, rows: &[ResultRow]) -> std::io::Result<()> {
    let with_vec = rows.iter().any(|r| r.vector.is_some());
    write!(w, "query,rank,id,distance")?;
    if with_vec {
        write!(w, ",vector")?;
    }
    writeln!(w)?;
    for r in rows {
        match &r.label {
            // Labels are quoted, with quotes doubled, as RFC 4180 asks.
            Some(s) => write!(
                w,
                "{},{},\"{}\",{}",
                r.query,
                r.rank,
                s.replace('"', "\"\""),
                r.distance
            )?,
            None => write!(w, "{},{},{},{}", r.query, r.rank, r.id, r.distance)?,
        }
        if let Some(v) = &r.vector {
            let text: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            write!(w, ",{}", text.join(" "))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

fn write_arrow(w: &mut impl Write, rows: &[ResultRow], name: &str) -> Result<()> {
    let err = |e: arrow_schema::ArrowError| IoError::format(name, "arrow ipc", e.to_string());
    let labels = rows.iter().any(|r| r.label.is_some());
    let id: ArrayRef = if labels {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.label.clone().unwrap_or_default()),
        ))
    } else {
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.id)))
    };
    let mut fields = vec![
        Field::new("query", DataType::UInt32, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("id", id.data_type().clone(), false),
        Field::new("distance", DataType::Float32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.query))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.rank))),
        id,
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.distance),
        )),
    ];
    if let Some(dim) = rows.iter().find_map(|r| r.vector.as_ref().map(Vec::len)) {
        let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32);
        for r in rows {
            let v = r.vector.as_deref().unwrap_or(&[]);
            for i in 0..dim {
                b.values()
                    .append_value(v.get(i).copied().unwrap_or(f32::NAN));
            }
            b.append(true);
        }
        let arr = b.finish();
        fields.push(Field::new("vector", arr.data_type().clone(), false));
        cols.push(Arc::new(arr));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(err)?;
    let mut fw = arrow_ipc::writer::FileWriter::try_new(w, &batch.schema()).map_err(err)?;
    fw.write(&batch).map_err(err)?;
    fw.finish().map_err(err)?;
    Ok(())
}
