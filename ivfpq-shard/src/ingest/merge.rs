//! Merging shards of one model into one, partition by partition.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ivfpq_core::{Lists, Partition, Rows};
use ivfpq_io::{OpenOptions, Shard, ShardWriter, model_hash, write_file_atomic};

use super::Progress;
use crate::error::{Result, ShardError, invalid};

/// Merges shard files encoded with one model into `output`: partition `l` of the result
/// is partition `l` of each input in turn, so the file is the one an in-memory index of
/// the inputs' rows, added in input order, writes (and merging merged shards again still
/// is). Memory holds one partition of the output; inputs are read in place.
///
/// Errors name the input whose model, vector storage or string ids differ from the
/// first's. Returns the output's length in bytes.
pub fn merge_shards(inputs: &[PathBuf], output: &Path, progress: &dyn Progress) -> Result<u64> {
    let Some(first) = inputs.first() else {
        return Err(invalid("inputs", "no shards to merge"));
    };
    let open = |p: &PathBuf| Shard::open(&p.display().to_string(), &OpenOptions::default());
    let shards = inputs
        .iter()
        .map(open)
        .collect::<ivfpq_io::Result<Vec<_>>>()?;
    let model = shards[0].model().clone();
    let hash = model_hash(&model)?;
    let storage = shards[0].header().storage;
    for (s, path) in shards.iter().zip(inputs) {
        let differs = |what: &str| ShardError::ShardMismatch {
            shard: path.display().to_string(),
            message: format!("{what} differs from {}'s", first.display()),
        };
        if model_hash(s.model())? != hash {
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
    let views = shards
        .iter()
        .zip(inputs)
        .map(|(s, p)| {
            s.mapped()
                .ok_or_else(|| invalid("inputs", format!("{} is not a local file", p.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    let dim = model.dim();
    tracing::info!(shards = inputs.len(), output = %output.display(), "merging shards");
    progress.stage("merging", model.nlist() as u64);
    let bytes = write_file_atomic(output, |file, name| {
        let sink = BufWriter::with_capacity(1 << 20, file);
        let mut w = ShardWriter::new(sink, &model, storage, None, name)?;
        let mut scratch = vec![0f32; dim];
        let zeros = vec![0f32; dim];
        for l in 0..model.nlist() {
            let mut p = Partition::empty(storage);
            for (v, path) in views.iter().zip(inputs) {
                // An empty list reads as none; a damaged one records its error.
                let Some(list) = v.list(l) else {
                    v.finish()?;
                    continue;
                };
                for i in 0..list.ids.len() {
                    let row = if storage == ivfpq_core::VectorStorage::None {
                        &zeros[..]
                    } else if let Some(r) = v.row(l, i, &mut scratch) {
                        r
                    } else {
                        v.finish()?;
                        return Err(ivfpq_io::IoError::Index(
                            ivfpq_core::IvfPqError::InvalidParameter {
                                param: "inputs",
                                message: format!(
                                    "{}: row {i} of partition {l} is unreadable",
                                    path.display()
                                ),
                            },
                        ));
                    };
                    p.push_from(&model, &list, i, row)?;
                }
            }
            w.write_partition(&p)?;
            progress.advance(1);
        }
        for v in &views {
            v.finish()?;
        }
        w.finish()
    })?;
    Ok(bytes)
}
