//! Rewrites: `seal` encodes the growing segments into a shard, and `compact` rewrites
//! shards with many deleted rows and merges small ones (the streaming merge of
//! `crate::ingest`). Each commits "remove these, add these" as one version, and fails
//! with [`crate::ShardError::ConflictingChange`] rather than commit over a concurrent
//! change to what it rewrote (a delete of its rows, say).

use ivfpq_core::IdSet;
use std::sync::Arc;

use ivfpq_core::{IvfPqIndex, VectorStorage};
use ivfpq_io::Shard;

use crate::change::Change;
use crate::collection::{Collection, Snapshot, temp_file};
use crate::error::{Result, invalid};
use crate::ingest::{MergeInput, NoProgress, Progress};
use crate::manifest::{ShardEntry, parse_storage};

/// Which shards [`Collection::compact`] rewrites.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CompactOptions {
    /// Rewrite a shard whose deleted rows are at least this share of its rows.
    pub deleted_share: f64,
    /// Merge shards with fewer live rows than this (when there are at least two).
    pub small_rows: u64,
    /// The most live rows a merged shard gets (a shard larger than this is rewritten
    /// alone).
    pub target_rows: u64,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            deleted_share: 0.1,
            small_rows: 100_000,
            target_rows: 1_000_000,
        }
    }
}

impl CompactOptions {
    /// Sets [`CompactOptions::deleted_share`].
    pub fn with_deleted_share(mut self, share: f64) -> Self {
        self.deleted_share = share;
        self
    }

    /// Sets [`CompactOptions::small_rows`].
    pub fn with_small_rows(mut self, rows: u64) -> Self {
        self.small_rows = rows;
        self
    }

    /// Sets [`CompactOptions::target_rows`].
    pub fn with_target_rows(mut self, rows: u64) -> Self {
        self.target_rows = rows.max(1);
        self
    }
}

impl Collection {
    /// Encodes the live rows of every growing segment with the collection's model into
    /// one shard, committed with the segments' removal in one version. Returns the new
    /// version (the pinned one when there is nothing to seal).
    pub fn seal(&self) -> Result<u64> {
        let snap = self.snapshot();
        let Some((model, _)) = snap.model.clone() else {
            return Err(invalid(
                "seal",
                "the collection has no shared model to encode growing rows with",
            ));
        };
        if snap.manifest.growing.is_empty() {
            return Ok(snap.manifest.version);
        }
        // Rows with u64 ids go to one shard, rows with string ids to another.
        let (mut plain, mut labeled) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        let mut change = Change::default();
        for g in &snap.manifest.growing {
            let seg = self.segment(&snap, g)?;
            let deleted = self.deleted_ids(g.deletion.as_ref())?;
            for (i, &id) in seg.ids.iter().enumerate() {
                if deleted.as_ref().is_some_and(|d| d.contains(&id)) {
                    continue;
                }
                match &seg.labels {
                    Some(l) => {
                        labeled.0.extend_from_slice(seg.row(i));
                        labeled.1.push(l[i].clone());
                    }
                    None => {
                        plain.0.extend_from_slice(seg.row(i));
                        plain.1.push(id);
                    }
                }
            }
            change.remove.push(g.path.clone());
            change
                .based_on
                .push((g.path.clone(), g.deletion.as_ref().map(|d| d.path.clone())));
        }
        change.operation = format!(
            "seal {} segments ({} rows)",
            change.remove.len(),
            plain.1.len() + labeled.1.len()
        );
        // New shards store what the newest shard stores (f32 for the first).
        let storage = snap
            .manifest
            .shards
            .last()
            .and_then(|s| parse_storage(&s.storage))
            .unwrap_or(VectorStorage::F32);
        if !plain.1.is_empty() {
            change
                .add_shards
                .push(self.encode_shard(&model, storage, &plain.0, &plain.1, None)?);
        }
        if !labeled.1.is_empty() {
            // A shard's string ids are indexed by its u64 ids: number the rows.
            let ids: Vec<u64> = (0..labeled.1.len() as u64).collect();
            let labels = Some(&labeled.1[..]);
            change
                .add_shards
                .push(self.encode_shard(&model, storage, &labeled.0, &ids, labels)?);
        }
        self.commit_change("seal", |_| Ok(change.clone()))
    }

    /// Encodes rows with `model` into a staged shard (with string ids when `labels`).
    fn encode_shard(
        &self,
        model: &Arc<ivfpq_core::IvfPqModel>,
        storage: VectorStorage,
        vectors: &[f32],
        ids: &[u64],
        labels: Option<&[String]>,
    ) -> Result<ShardEntry> {
        let mut index = IvfPqIndex::new(model.clone(), storage);
        index.add(vectors, ids)?;
        let tmp = temp_file(&self.store, "seal");
        let staged = ivfpq_io::write_shard_labeled(&index, labels, &tmp)
            .map_err(Into::into)
            .and_then(|_| self.stage_shard_file(&tmp));
        let _ = std::fs::remove_file(&tmp);
        staged
    }

    /// [`Collection::compact_with`] without progress reports.
    pub fn compact(&self, opts: &CompactOptions) -> Result<u64> {
        self.compact_with(opts, &NoProgress)
    }

    /// Rewrites the shards `opts` selects without their deleted rows, merging small ones,
    /// and commits the swap in one version. Returns the new version (the pinned one when
    /// no shard needs it).
    pub fn compact_with(&self, opts: &CompactOptions, progress: &dyn Progress) -> Result<u64> {
        let snap = self.snapshot();
        let Some((model, _)) = snap.model.clone() else {
            return Err(invalid(
                "compact",
                "the shards were trained separately and cannot be merged",
            ));
        };
        let groups = plan_compaction(&snap.manifest.shards, opts);
        if groups.is_empty() {
            return Ok(snap.manifest.version);
        }
        let mut change = Change::default();
        let mut rewritten = 0usize;
        for group in &groups {
            let entries: Vec<&ShardEntry> =
                group.iter().map(|&i| &snap.manifest.shards[i]).collect();
            for e in &entries {
                change.remove.push(e.path.clone());
                change
                    .based_on
                    .push((e.path.clone(), e.deletion.as_ref().map(|d| d.path.clone())));
            }
            rewritten += entries.len();
            if entries.iter().all(|e| e.live_rows() == 0) {
                continue;
            }
            change
                .add_shards
                .push(self.merge_entries(&snap, &model, &entries, progress)?);
        }
        change.operation = format!(
            "compact {rewritten} shards into {}",
            change.add_shards.len()
        );
        self.commit_change("compaction", |_| Ok(change.clone()))
    }

    /// Merges the live rows of `entries` into one staged shard.
    fn merge_entries(
        &self,
        snap: &Snapshot,
        model: &Arc<ivfpq_core::IvfPqModel>,
        entries: &[&ShardEntry],
        progress: &dyn Progress,
    ) -> Result<ShardEntry> {
        let storage = parse_storage(&entries[0].storage).unwrap_or(VectorStorage::F32);
        if let Some(e) = entries.iter().find(|e| e.storage != entries[0].storage) {
            return Err(invalid(
                "compact",
                format!(
                    "{} stores {} vectors, {} stores {}",
                    e.path, e.storage, entries[0].path, entries[0].storage
                ),
            ));
        }
        let mut shards: Vec<(Shard, Option<Arc<IdSet>>)> = Vec::new();
        for e in entries {
            // Read a partition at a time with no cache: each is read once.
            let shard = Shard::open_source(self.store.source(&e.path)?, 0)?;
            crate::search::verify_entry(&shard, e, snap)?;
            shards.push((shard, self.deleted_ids(e.deletion.as_ref())?));
        }
        let inputs = shards
            .iter()
            .map(|(s, d)| {
                let labels = s.header().labels.then(|| s.labels_in_order()).transpose()?;
                Ok(MergeInput {
                    shard: s,
                    deleted: d.as_deref(),
                    labels,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let tmp = temp_file(&self.store, "compact");
        let res = crate::ingest::write_merged(model, storage, &inputs, &tmp, progress)
            .and_then(|_| self.stage_shard_file(&tmp));
        let _ = std::fs::remove_file(&tmp);
        res
    }
}

/// Groups of shard indexes to merge: shards with a deleted share at or above the bound and
/// shards under `small_rows` live rows (when at least two are, or one has deletions),
/// packed in manifest order into groups of at most `target_rows` live rows.
/// Shards with u64 ids and shards with string ids are grouped apart.
fn plan_compaction(shards: &[ShardEntry], opts: &CompactOptions) -> Vec<Vec<usize>> {
    let mut groups = plan_kind(shards, opts, false);
    groups.extend(plan_kind(shards, opts, true));
    groups
}

/// [`plan_compaction`] of the shards with (`labels`) or without string ids.
fn plan_kind(shards: &[ShardEntry], opts: &CompactOptions, labels: bool) -> Vec<Vec<usize>> {
    let heavy = |e: &ShardEntry| {
        e.rows > 0
            && (e.rows - e.live_rows()) as f64 >= opts.deleted_share * e.rows as f64
            && e.live_rows() < e.rows
    };
    let kind: Vec<usize> = (0..shards.len())
        .filter(|&i| shards[i].labels == labels)
        .collect();
    let small: Vec<usize> = kind
        .iter()
        .copied()
        .filter(|&i| shards[i].live_rows() < opts.small_rows)
        .collect();
    let mut pick: Vec<usize> = kind.into_iter().filter(|&i| heavy(&shards[i])).collect();
    if small.len() >= 2 {
        pick.extend(small);
    }
    pick.sort_unstable();
    pick.dedup();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut rows = 0u64;
    for i in pick {
        let live = shards[i].live_rows();
        match groups.last_mut() {
            Some(g) if rows + live <= opts.target_rows => {
                g.push(i);
                rows += live;
            }
            _ => {
                groups.push(vec![i]);
                rows = live;
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::DeletionRef;

    fn shard(rows: u64, deleted: u64) -> ShardEntry {
        ShardEntry {
            path: format!("shards/{rows}-{deleted}.ivfpq"),
            rows,
            bytes: 1,
            checksum: 0,
            model_hash: "0".into(),
            id_min: 0,
            id_max: 0,
            storage: "f32".into(),
            ids: None,
            labels: false,
            label_range: None,
            deletion: (deleted > 0).then(|| DeletionRef {
                path: "d".into(),
                rows: deleted,
            }),
        }
    }

    #[test]
    fn picks_heavy_and_small_shards_and_packs_them() {
        let opts = CompactOptions::default()
            .with_small_rows(100)
            .with_target_rows(1000);
        let shards = [
            shard(1000, 0),
            shard(1000, 500),
            shard(50, 0),
            shard(2000, 100),
            shard(60, 0),
        ];
        assert_eq!(plan_compaction(&shards, &opts), vec![vec![1, 2, 4]]);
        let tight = opts.clone().with_target_rows(560);
        assert_eq!(plan_compaction(&shards, &tight), vec![vec![1, 2], vec![4]]);
        // One small shard alone is left as it is.
        assert!(plan_compaction(&shards[..3], &opts.clone().with_deleted_share(0.9)).is_empty());
    }
}
