//! Changing rows: `add` writes a growing segment, `delete` a deletion file per shard or
//! segment it deletes from, and `upsert` both, each in one commit that rebases over
//! other writers' commits (`crate::change`).

use std::sync::Arc;

use ivfpq_core::IvfPqError;

use crate::change::Change;
use crate::collection::{Collection, Snapshot};
use crate::error::{Result, ShardError, invalid};
use crate::growing::Segment;
use crate::lookup::Deleted;
use crate::manifest::{DeletionRef, SegmentEntry};
use crate::rowfile::RowIds;

/// What [`Collection::delete`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteReport {
    /// The version it committed (the pinned one when nothing was deleted).
    pub version: u64,
    /// Rows it deleted: ids that were live (absent ids are not an error).
    pub deleted: u64,
}

impl Collection {
    /// Adds rows (`vectors` is `ids.len() × dim`, row-major) as a growing segment in a new
    /// version; they are found by the next search. Every id must be new to the collection
    /// ([`ShardError::DuplicateId`] names one that is not; [`Collection::upsert`] replaces
    /// rows). When the growing rows reach [`crate::CollectionOptions::seal_rows`], they
    /// are sealed into a shard right after (the add is committed even if that fails).
    /// Returns the newest version.
    pub fn add(&self, vectors: &[f32], ids: &[u64]) -> Result<u64> {
        let sorted = self.check_rows(vectors, ids)?;
        // Refuse a duplicate before writing anything; the commit checks again.
        if let Some(id) = self.first_live(&self.snapshot(), &sorted)? {
            return Err(self.duplicate(id));
        }
        let entry = self.write_segment(vectors, ids, &sorted)?;
        let v = self.commit_change("add", |snap| {
            if let Some(id) = self.first_live(snap, &sorted)? {
                return Err(self.duplicate(id));
            }
            Ok(Change {
                operation: format!("add {} rows", ids.len()),
                add_growing: vec![entry.clone()],
                ..Change::default()
            })
        })?;
        self.seal_if_full().map(|s| s.unwrap_or(v))
    }

    /// Adds rows, replacing the live rows of any id that exists: the deletes and the add
    /// in one commit. Returns the newest version.
    pub fn upsert(&self, vectors: &[f32], ids: &[u64]) -> Result<u64> {
        let sorted = self.check_rows(vectors, ids)?;
        let entry = self.write_segment(vectors, ids, &sorted)?;
        let v = self.commit_change("upsert", |snap| {
            let mut change = Change {
                operation: format!("upsert {} rows", ids.len()),
                add_growing: vec![entry.clone()],
                ..Change::default()
            };
            let n = self.delete_into(snap, &sorted, &mut change)?;
            change.operation.push_str(&format!(" ({n} replaced)"));
            Ok(change)
        })?;
        self.seal_if_full().map(|s| s.unwrap_or(v))
    }

    /// Deletes the rows of `ids` in a new version; ids not in the collection are skipped.
    /// No search of a later version returns them.
    pub fn delete(&self, ids: &[u64]) -> Result<DeleteReport> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut deleted = 0;
        let version = self.commit_change("delete", |snap| {
            let mut change = Change::default();
            deleted = self.delete_into(snap, &sorted, &mut change)?;
            change.operation = format!("delete {deleted} rows");
            Ok(change)
        })?;
        Ok(DeleteReport { version, deleted })
    }

    /// Adds to `change` a new deletion file for every shard and segment of `snap` holding
    /// live rows of `sorted` (each file holds the earlier deletions too); returns the rows.
    fn delete_into(&self, snap: &Snapshot, sorted: &[u64], change: &mut Change) -> Result<u64> {
        let mut n = 0;
        let v = snap.manifest.version + 1;
        for found in self.find_live(snap, sorted)? {
            let mut pairs: Vec<(u32, u64)> = match &found.deletion {
                Some(d) => self.deleted(d)?.rows.pairs().collect(),
                None => Vec::new(),
            };
            n += found.rows.len() as u64;
            pairs.extend(found.rows);
            let rows = RowIds::sorted_by_row(pairs);
            let stem = found.path.rsplit('/').next().unwrap_or(&found.path);
            let stem = stem.split('.').next().unwrap_or(stem);
            let (path, _) =
                self.write_unique("deletions", &format!("{stem}-{v}"), rows.encode()?.into())?;
            let ids = Arc::new(rows.ids.iter().copied().collect());
            let count = rows.len() as u64;
            self.files.put(&path, Arc::new(Deleted { rows, ids }));
            change
                .based_on
                .push((found.path.clone(), found.deletion.map(|d| d.path)));
            change
                .deletions
                .push((found.path, DeletionRef { path, rows: count }));
        }
        Ok(n)
    }

    /// The first of `sorted` that is live in `snap`.
    fn first_live(&self, snap: &Snapshot, sorted: &[u64]) -> Result<Option<u64>> {
        Ok(self
            .find_live(snap, sorted)?
            .iter()
            .flat_map(|f| f.rows.iter().map(|r| r.1))
            .min())
    }

    pub(crate) fn duplicate(&self, id: u64) -> ShardError {
        ShardError::DuplicateId {
            uri: self.uri().to_string(),
            id,
        }
    }

    /// Checks rows to add; returns their ids sorted.
    fn check_rows(&self, vectors: &[f32], ids: &[u64]) -> Result<Vec<u64>> {
        let dim = self.snapshot().manifest.dim as usize;
        if ids.is_empty() {
            return Err(IvfPqError::Empty { param: "ids" }.into());
        }
        if vectors.len() != ids.len() * dim {
            return Err(invalid(
                "vectors",
                format!(
                    "{} values are not {} rows of dim {dim} (one per id)",
                    vectors.len(),
                    ids.len()
                ),
            ));
        }
        if let Some(i) = vectors.iter().position(|x| !x.is_finite()) {
            return Err(IvfPqError::NotFinite {
                param: "vectors",
                row: i / dim,
                col: i % dim,
                value: vectors[i],
            }
            .into());
        }
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid("ids", format!("id {} appears twice", w[0])));
        }
        Ok(sorted)
    }

    /// Writes rows as a growing segment file; returns its manifest entry.
    fn write_segment(&self, vectors: &[f32], ids: &[u64], sorted: &[u64]) -> Result<SegmentEntry> {
        let seg = Segment {
            ids: ids.to_vec(),
            vectors: vectors.to_vec(),
            dim: self.snapshot().manifest.dim as usize,
        };
        let (path, bytes) = self.write_unique(
            "growing",
            &crate::collection::unique_name(),
            seg.encode()?.into(),
        )?;
        self.files.put(&path, Arc::new(seg));
        Ok(SegmentEntry {
            path,
            rows: ids.len() as u64,
            bytes,
            id_min: sorted[0],
            id_max: sorted[sorted.len() - 1],
            deletion: None,
        })
    }

    /// Writes `bytes` as `{dir}/{stem}.arrow`, or under a longer name if that exists (a
    /// racing writer's file); returns the path and length.
    pub(crate) fn write_unique(
        &self,
        dir: &str,
        stem: &str,
        bytes: bytes::Bytes,
    ) -> Result<(String, u64)> {
        let len = bytes.len() as u64;
        let path = format!("{dir}/{stem}.arrow");
        if self.store.put_new(&path, bytes.clone())? {
            return Ok((path, len));
        }
        let path = format!("{dir}/{stem}-{}.arrow", crate::collection::unique_name());
        if self.store.put_new(&path, bytes)? {
            return Ok((path, len));
        }
        Err(invalid("path", format!("{path} exists")))
    }

    /// Seals the growing segments when they hold at least `seal_rows` rows; returns the
    /// sealed version, if it sealed.
    fn seal_if_full(&self) -> Result<Option<u64>> {
        let snap = self.snapshot();
        if snap.model.is_none() || snap.manifest.growing_rows() < self.opts.seal_rows {
            return Ok(None);
        }
        match self.seal() {
            Ok(v) => Ok(Some(v)),
            // Another writer changed the segments first; the next add seals.
            Err(e @ ShardError::ConflictingChange { .. }) => {
                tracing::warn!(uri = self.uri(), error = %e, "automatic seal skipped");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
