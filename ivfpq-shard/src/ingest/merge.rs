//! Merging shards of one model into one, partition by partition.

use ivfpq_core::IdSet;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ivfpq_core::{IvfPqModel, ListRef, Partition, VectorStorage, Vectors};
use ivfpq_io::{OpenOptions, Shard, ShardWriter, model_hash, write_file_atomic};

use super::Progress;
use crate::error::{Result, ShardError, invalid};

/// Merges shard files encoded with one model into `output`: partition `l` of the result
/// is partition `l` of each input in turn, so the file is the one an in-memory index of
/// the inputs' rows, added in input order, writes (and merging merged shards again still
/// is). Memory holds one partition of each input and of the output: inputs are read a
/// partition at a time, by ranged reads, each verified against its checksums.
///
/// Errors name the input whose model, vector storage or string ids differ from the
/// first's. Returns the output's length in bytes.
pub fn merge_shards(inputs: &[PathBuf], output: &Path, progress: &dyn Progress) -> Result<u64> {
    let Some(first) = inputs.first() else {
        return Err(invalid("inputs", "no shards to merge"));
    };
    // Ranged reads, not a memory map: pages of inputs read once would otherwise stay
    // resident (and counted) until the kernel reclaims them.
    let open = |p: &PathBuf| {
        let abs = std::fs::canonicalize(p).map_err(|e| ivfpq_io::IoError::Os {
            path: p.clone(),
            source: e,
        })?;
        let opts = OpenOptions {
            cache_bytes: 0,
            ..OpenOptions::default()
        };
        Shard::open(&format!("file://{}", abs.display()), &opts)
    };
    let shards = inputs
        .iter()
        .map(open)
        .collect::<ivfpq_io::Result<Vec<_>>>()?;
    let model = shards[0].model().clone();
    let hash = model_hash(&model)?;
    let storage = shards[0].header().storage;
    // The first input sets the model and storage; the rest are checked against it.
    for (i, (s, path)) in shards.iter().zip(inputs).enumerate() {
        let differs = |what: &str| ShardError::ShardMismatch {
            shard: path.display().to_string(),
            message: format!("{what} differs from {}'s", first.display()),
        };
        if i > 0 && model_hash(s.model())? != hash {
            return Err(differs("its model"));
        }
        if s.header().storage != storage {
            return Err(differs("its vector storage"));
        }
        if s.header().labels {
            return Err(ShardError::ShardMismatch {
                shard: path.display().to_string(),
                message: "shards with string ids are not merged (their ids number each \
                          shard's rows)"
                    .into(),
            });
        }
    }
    tracing::info!(shards = inputs.len(), output = %output.display(), "merging shards");
    let inputs: Vec<MergeInput<'_>> = shards
        .iter()
        .map(|shard| MergeInput {
            shard,
            deleted: None,
            labels: None,
        })
        .collect();
    write_merged(&model, storage, &inputs, output, progress)
}

/// One shard to merge.
pub(crate) struct MergeInput<'a> {
    pub(crate) shard: &'a Shard,
    /// Ids of rows to leave out.
    pub(crate) deleted: Option<&'a IdSet>,
    /// Every row's string id in file order, for a shard with string ids.
    pub(crate) labels: Option<Vec<String>>,
}

/// The string ids of the merged shard, indexed by its ids: the rows kept, in the order
/// they are written (partition by partition, input by input). `None` without labels.
fn merged_labels(inputs: &[MergeInput<'_>], nlist: usize) -> Result<Option<Vec<String>>> {
    if inputs.iter().all(|i| i.labels.is_none()) {
        return Ok(None);
    }
    let mut per_input = Vec::with_capacity(inputs.len());
    for i in inputs {
        let Some(labels) = &i.labels else {
            return Err(invalid(
                "inputs",
                "shards with and without string ids are not merged",
            ));
        };
        let ids = crate::lookup::ids_in_order(i.shard)?;
        let mut starts = Vec::with_capacity(nlist + 1);
        let mut at = 0usize;
        for e in &i.shard.directory().entries {
            starts.push(at);
            at += e.rows as usize;
        }
        starts.push(at);
        if labels.len() != at || ids.len() != at {
            return Err(invalid(
                "inputs",
                "a shard's labels and rows differ in number",
            ));
        }
        per_input.push((labels, ids, starts));
    }
    let mut out = Vec::new();
    for l in 0..nlist {
        for (input, (labels, ids, starts)) in inputs.iter().zip(&per_input) {
            for r in starts[l]..starts[l + 1] {
                if !input.deleted.is_some_and(|d| d.contains(&ids[r])) {
                    out.push(labels[r].clone());
                }
            }
        }
    }
    Ok(Some(out))
}

/// Writes the rows of `inputs` (all encoded with `model` and storing `storage`) but those
/// whose id is in an input's deleted set, partition by partition, as one shard at
/// `output` (atomically). Inputs with string ids keep them, their rows numbered anew in
/// the order written. Returns its length in bytes.
pub(crate) fn write_merged(
    model: &Arc<IvfPqModel>,
    storage: VectorStorage,
    inputs: &[MergeInput<'_>],
    output: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let dim = model.dim();
    let labels = merged_labels(inputs, model.nlist())?;
    let mut next_id = 0u64;
    progress.stage("merging", model.nlist() as u64);
    let bytes = write_file_atomic(output, |file, name| {
        let sink = BufWriter::with_capacity(1 << 20, file);
        let mut w = ShardWriter::new(sink, model, storage, labels.as_deref(), name)?;
        let mut row = vec![0f32; dim];
        for l in 0..model.nlist() {
            let mut p = Partition::empty(storage);
            for MergeInput { shard, deleted, .. } in inputs {
                // Read whole and verified, one input partition at a time.
                let part = shard.partition(l)?;
                let list = ListRef {
                    codes: &part.codes,
                    ids: &part.ids,
                    aux: &part.aux,
                    records: &part.records,
                    layout: part.layout,
                };
                for i in 0..part.ids.len() {
                    if deleted.is_some_and(|d| d.contains(&part.ids[i])) {
                        continue;
                    }
                    let r = dim * i..dim * (i + 1);
                    match &part.vectors {
                        Vectors::F32(v) => row.copy_from_slice(&v[r]),
                        Vectors::F16(v) => {
                            for (o, x) in row.iter_mut().zip(&v[r]) {
                                *o = x.to_f32();
                            }
                        }
                        _ => row.fill(0.0),
                    }
                    p.push_from(model, &list, i, &row)?;
                    if labels.is_some() {
                        // String ids are indexed by the shard's ids: number the rows.
                        if let Some(id) = p.ids.last_mut() {
                            *id = next_id;
                        }
                        next_id += 1;
                    }
                }
            }
            w.write_partition(&p)?;
            progress.advance(1);
        }
        w.finish()
    })?;
    Ok(bytes)
}
