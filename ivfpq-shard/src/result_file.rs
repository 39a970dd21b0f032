//! Result files: [`SearchResults`] as an Arrow `RecordBatch` (columns `query`, `id`,
//! `_distance`, `shard`, and `vector` when asked), written as Arrow IPC with the search's
//! settings in the schema metadata, so a partial file alone says what it may merge with;
//! or as CSV for people.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, Float32Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use ivfpq_io::{IoError, ModelHash, write_file_atomic};

use crate::error::{Result, ShardError};
use crate::results::{ResultHit, SearchResults, SearchStats, hash_or_none};

/// Schema metadata keys.
const META_K: &str = "ivfpq.k";
const META_QUERIES: &str = "ivfpq.queries";
const META_DIM: &str = "ivfpq.dim";
const META_METRIC: &str = "ivfpq.metric";
const META_MODEL: &str = "ivfpq.model";
const META_EXACT: &str = "ivfpq.exact";
const META_SHARDS: &str = "ivfpq.shards";
const META_CANDIDATES: &str = "ivfpq.candidates";
const META_PARTIAL: &str = "ivfpq.partial";

impl SearchResults {
    /// One row per `(query, rank)`, queries in order and each nearest first.
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let rows = self.hits.iter().map(Vec::len).sum::<usize>();
        let mut query = Vec::with_capacity(rows);
        let mut id = Vec::with_capacity(rows);
        let mut dist = Vec::with_capacity(rows);
        let mut shard = Vec::with_capacity(rows);
        let mut estimate = Vec::with_capacity(rows);
        let mut partition = Vec::with_capacity(rows);
        let mut offset = Vec::with_capacity(rows);
        let with_vectors = self.hits.iter().flatten().any(|h| h.vector.is_some());
        let with_labels = self.hits.iter().flatten().any(|h| h.label.is_some());
        let mut labels = Vec::with_capacity(if with_labels { rows } else { 0 });
        let dim = i32::try_from(self.dim).map_err(|_| bad_dim(self.dim))?;
        let mut vectors = FixedSizeListBuilder::with_capacity(Float32Builder::new(), dim, rows);
        for (q, hits) in self.hits.iter().enumerate() {
            for h in hits {
                query.push(q as u32);
                id.push(h.id);
                dist.push(h.distance);
                shard.push(h.shard);
                estimate.push(h.estimate);
                partition.push(h.partition);
                offset.push(h.offset);
                if with_labels {
                    labels.push(h.label.clone());
                }
                if with_vectors {
                    match &h.vector {
                        Some(v) if v.len() == self.dim => {
                            vectors.values().append_slice(v);
                            vectors.append(true);
                        }
                        _ => {
                            vectors.values().append_slice(&vec![0.0; self.dim]);
                            vectors.append(false);
                        }
                    }
                }
            }
        }
        let mut fields = vec![
            Field::new("query", DataType::UInt32, false),
            Field::new("id", DataType::UInt64, false),
            Field::new("_distance", DataType::Float32, false),
            Field::new("shard", DataType::UInt32, false),
            Field::new("_estimate", DataType::Float32, false),
            Field::new("_partition", DataType::UInt32, false),
            Field::new("_offset", DataType::UInt32, false),
        ];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(query)),
            Arc::new(UInt64Array::from(id)),
            Arc::new(Float32Array::from(dist)),
            Arc::new(UInt32Array::from(shard)),
            Arc::new(Float32Array::from(estimate)),
            Arc::new(UInt32Array::from(partition)),
            Arc::new(UInt32Array::from(offset)),
        ];
        if with_labels {
            fields.push(Field::new("label", DataType::Utf8, true));
            cols.push(Arc::new(arrow_array::StringArray::from(labels)));
        }
        if with_vectors {
            let v = vectors.finish();
            fields.push(Field::new("vector", v.data_type().clone(), true));
            cols.push(Arc::new(v));
        }
        let schema = Schema::new(fields).with_metadata(self.metadata());
        RecordBatch::try_new(Arc::new(schema), cols).map_err(|e| ShardError::Partial {
            file: "<memory>".into(),
            message: e.to_string(),
        })
    }

    fn metadata(&self) -> HashMap<String, String> {
        let shards: Vec<String> = self.shards.iter().map(u32::to_string).collect();
        HashMap::from([
            (META_K.into(), self.k.to_string()),
            (META_QUERIES.into(), self.hits.len().to_string()),
            (META_DIM.into(), self.dim.to_string()),
            (META_METRIC.into(), self.metric.name().into()),
            (META_MODEL.into(), hash_or_none(&self.model)),
            (META_EXACT.into(), self.exact.to_string()),
            (META_SHARDS.into(), shards.join(",")),
            (META_CANDIDATES.into(), self.candidates.to_string()),
            (META_PARTIAL.into(), self.partial.to_string()),
        ])
    }

    /// Reads results back from a batch written by [`SearchResults::to_record_batch`]
    /// (`file` names it in errors).
    pub fn from_record_batch(batch: &RecordBatch, file: &str) -> Result<SearchResults> {
        let bad = |message: String| ShardError::Partial {
            file: file.to_string(),
            message,
        };
        let meta = batch.schema().metadata().clone();
        let get = |key: &str| {
            meta.get(key)
                .ok_or_else(|| bad(format!("no {key:?} in the schema metadata")))
        };
        let num = |key: &str| -> Result<usize> {
            get(key)?
                .parse()
                .map_err(|_| bad(format!("{key:?} is not a number")))
        };
        let (k, nq, dim) = (num(META_K)?, num(META_QUERIES)?, num(META_DIM)?);
        let candidates = num(META_CANDIDATES)?;
        let partial = get(META_PARTIAL)? == "true";
        let per_query = if partial { candidates } else { k };
        let metric = get(META_METRIC)?
            .parse()
            .map_err(|_| bad("unknown metric".into()))?;
        let model = match get(META_MODEL)?.as_str() {
            "none" => None,
            h => Some(ModelHash::parse(h).ok_or_else(|| bad(format!("bad model hash {h:?}")))?),
        };
        let exact = get(META_EXACT)? == "true";
        let shards_meta = get(META_SHARDS)?;
        let shards = shards_meta
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u32>()
                    .map_err(|_| bad(format!("bad shard list {s:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let col = |name: &str, ty: DataType| -> Result<&ArrayRef> {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| bad(format!("no column {name:?}")))?;
            if *c.data_type() != ty || c.null_count() > 0 {
                return Err(bad(format!("column {name:?} is not a {ty} without nulls")));
            }
            Ok(c)
        };
        let query = col("query", DataType::UInt32)?.as_primitive::<UInt32Type>();
        let id = col("id", DataType::UInt64)?.as_primitive::<UInt64Type>();
        let dist = col("_distance", DataType::Float32)?.as_primitive::<Float32Type>();
        let shard = col("shard", DataType::UInt32)?.as_primitive::<UInt32Type>();
        let estimate = col("_estimate", DataType::Float32)?.as_primitive::<Float32Type>();
        let partition = col("_partition", DataType::UInt32)?.as_primitive::<UInt32Type>();
        let offset = col("_offset", DataType::UInt32)?.as_primitive::<UInt32Type>();
        let vectors = match batch.column_by_name("vector") {
            None => None,
            Some(c) => match c.data_type() {
                DataType::FixedSizeList(f, n)
                    if *f.data_type() == DataType::Float32 && *n as usize == dim =>
                {
                    Some(c.as_fixed_size_list())
                }
                t => return Err(bad(format!("column \"vector\" is {t}"))),
            },
        };
        let labels = match batch.column_by_name("label") {
            None => None,
            Some(c) => Some(
                c.as_string_opt::<i32>()
                    .ok_or_else(|| bad(format!("column \"label\" is {}", c.data_type())))?,
            ),
        };
        let mut hits: Vec<Vec<ResultHit>> = vec![Vec::new(); nq];
        for r in 0..batch.num_rows() {
            let q = query.value(r) as usize;
            let row = hits
                .get_mut(q)
                .ok_or_else(|| bad(format!("row {r}: query {q} out of range ({nq} queries)")))?;
            if row.len() == per_query {
                return Err(bad(format!("query {q} has more than {per_query} rows")));
            }
            let vector = vectors.filter(|v| v.is_valid(r)).map(|v| {
                let vals = v.value(r);
                vals.as_primitive::<Float32Type>().values().to_vec()
            });
            row.push(ResultHit {
                id: id.value(r),
                distance: dist.value(r),
                estimate: estimate.value(r),
                shard: shard.value(r),
                partition: partition.value(r),
                offset: offset.value(r),
                vector,
                label: labels
                    .filter(|l| l.is_valid(r))
                    .map(|l| l.value(r).to_string()),
            });
        }
        Ok(SearchResults {
            k,
            candidates,
            partial,
            dim,
            metric,
            model,
            exact,
            shards,
            hits,
            stats: SearchStats::default(),
        })
    }
}

fn bad_dim(dim: usize) -> ShardError {
    ShardError::Partial {
        file: "<memory>".into(),
        message: format!("dim {dim} too large for Arrow"),
    }
}

/// Writes results atomically, by extension: `.arrow` / `.ipc` (Arrow IPC file, with the
/// settings in the schema metadata: a partial result for [`read_results`]) or `.csv`
/// (`query,rank,id,distance,shard`, then the vector's values space-separated when asked).
pub fn write_results(path: &Path, results: &SearchResults) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let batch = results.to_record_batch()?;
    let fill = |f: &mut std::fs::File, name: &str| -> ivfpq_io::Result<u64> {
        let os = |e: std::io::Error| IoError::Os {
            path: name.into(),
            source: e,
        };
        let mut w = std::io::BufWriter::new(f);
        match ext.as_str() {
            "csv" => write_csv(&mut w, results).map_err(os)?,
            "arrow" | "ipc" | "feather" => {
                let arrow = |e: arrow_schema::ArrowError| IoError::Format {
                    path: name.into(),
                    section: "arrow".into(),
                    message: e.to_string(),
                };
                let mut iw = arrow_ipc::writer::FileWriter::try_new(&mut w, &batch.schema())
                    .map_err(arrow)?;
                iw.write(&batch).map_err(arrow)?;
                iw.finish().map_err(arrow)?;
            }
            _ => {
                return Err(IoError::Format {
                    path: name.into(),
                    section: "extension".into(),
                    message: "expected .csv or .arrow".into(),
                });
            }
        }
        w.flush().map_err(os)?;
        Ok(0)
    };
    write_file_atomic(path, fill)?;
    Ok(())
}

/// Writes results as CSV: `query,rank,id,distance,shard`, then the vector's values
/// space-separated when asked.
pub fn write_csv(w: &mut impl Write, r: &SearchResults) -> std::io::Result<()> {
    let with_labels = r.hits.iter().flatten().any(|h| h.label.is_some());
    let label_header = if with_labels { ",label" } else { "" };
    writeln!(w, "query,rank,id,distance,shard{label_header}")?;
    for (q, hits) in r.hits.iter().enumerate() {
        for (rank, h) in hits.iter().enumerate() {
            write!(w, "{q},{rank},{},{},{}", h.id, h.distance, h.shard)?;
            if with_labels {
                write!(w, ",{}", csv_field(h.label.as_deref().unwrap_or("")))?;
            }
            if let Some(v) = &h.vector {
                let s: Vec<String> = v.iter().map(f32::to_string).collect();
                write!(w, ",{}", s.join(" "))?;
            }
            writeln!(w)?;
        }
    }
    Ok(())
}

/// A CSV field: quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Reads a results file written as Arrow IPC by [`write_results`].
pub fn read_results(path: &Path) -> Result<SearchResults> {
    let name = path.display().to_string();
    let bad = |message: String| ShardError::Partial {
        file: name.clone(),
        message,
    };
    let f = std::fs::File::open(path).map_err(|e| IoError::Os {
        path: path.into(),
        source: e,
    })?;
    let reader = arrow_ipc::reader::FileReader::try_new(f, None)
        .map_err(|e| bad(format!("not an Arrow IPC file: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let batch = arrow_select_concat(&schema, &batches).map_err(bad)?;
    SearchResults::from_record_batch(&batch, &name)
}

/// One batch from several with the same schema (a writer may split rows).
fn arrow_select_concat(
    schema: &arrow_schema::SchemaRef,
    batches: &[RecordBatch],
) -> std::result::Result<RecordBatch, String> {
    match batches {
        [] => Ok(RecordBatch::new_empty(schema.clone())),
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{} record batches; a results file holds one",
            batches.len()
        )),
    }
}
