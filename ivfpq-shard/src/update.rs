//! Changing rows: `add` writes a growing segment, `delete` a deletion file per shard or
//! segment it deletes from, and `upsert` both, each in one commit that rebases over
//! other writers' commits (`crate::change`). Rows are named by u64 ids or by string ids
//! (labels); a collection may hold both, each unique among its kind.

use std::sync::Arc;

use ivfpq_core::IvfPqError;

use crate::change::Change;
use crate::collection::{Collection, Snapshot};
use crate::error::{Result, ShardError, invalid};
use crate::growing::Segment;
use crate::lookup::{Deleted, Found};
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

/// What rows are added or deleted by: u64 ids, or string ids.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Keys<'a> {
    Ids(&'a [u64]),
    Labels(&'a [String]),
}

/// Keys sorted, distinct.
enum Sorted {
    Ids(Vec<u64>),
    Labels(Vec<String>),
}

impl Keys<'_> {
    fn len(&self) -> usize {
        match self {
            Keys::Ids(i) => i.len(),
            Keys::Labels(l) => l.len(),
        }
    }

    /// Sorted and distinct; with `unique`, a key given twice is an error.
    fn sorted(&self, unique: bool) -> Result<Sorted> {
        fn sort<T: Ord + Clone + std::fmt::Debug>(v: &[T], unique: bool) -> Result<Vec<T>> {
            let mut s = v.to_vec();
            s.sort_unstable();
            if unique && let Some(w) = s.windows(2).find(|w| w[0] == w[1]) {
                return Err(invalid("ids", format!("id {:?} appears twice", w[0])));
            }
            s.dedup();
            Ok(s)
        }
        Ok(match self {
            Keys::Ids(i) => Sorted::Ids(sort(i, unique)?),
            Keys::Labels(l) => Sorted::Labels(sort(l, unique)?),
        })
    }
}

impl Collection {
    /// Adds rows (`vectors` is `ids.len() × dim`, row-major) as a growing segment in a new
    /// version; they are found by the next search. Every id must be new to the collection
    /// ([`ShardError::DuplicateId`] names one that is not; [`Collection::upsert`] replaces
    /// rows). When the growing rows reach [`crate::CollectionOptions::seal_rows`], they
    /// are sealed into a shard right after (the add is committed even if that fails).
    /// Returns the newest version.
    pub fn add(&self, vectors: &[f32], ids: &[u64]) -> Result<u64> {
        self.add_keyed(vectors, Keys::Ids(ids), false)
    }

    /// [`Collection::add`] with string ids, which searches return in
    /// [`crate::ResultHit::label`] (a label already live is [`ShardError::DuplicateLabel`]).
    pub fn add_labeled(&self, vectors: &[f32], labels: &[String]) -> Result<u64> {
        self.add_keyed(vectors, Keys::Labels(labels), false)
    }

    /// Adds rows, replacing the live rows of any id that exists: the deletes and the add
    /// in one commit. Returns the newest version.
    pub fn upsert(&self, vectors: &[f32], ids: &[u64]) -> Result<u64> {
        self.add_keyed(vectors, Keys::Ids(ids), true)
    }

    /// [`Collection::upsert`] with string ids.
    pub fn upsert_labeled(&self, vectors: &[f32], labels: &[String]) -> Result<u64> {
        self.add_keyed(vectors, Keys::Labels(labels), true)
    }

    /// Deletes the rows of `ids` in a new version; ids not in the collection are skipped.
    /// No search of a later version returns them.
    pub fn delete(&self, ids: &[u64]) -> Result<DeleteReport> {
        self.delete_keyed(Keys::Ids(ids))
    }

    /// [`Collection::delete`] by string ids.
    pub fn delete_labels(&self, labels: &[String]) -> Result<DeleteReport> {
        self.delete_keyed(Keys::Labels(labels))
    }

    fn add_keyed(&self, vectors: &[f32], keys: Keys<'_>, upsert: bool) -> Result<u64> {
        self.check_rows(vectors, keys.len())?;
        let sorted = keys.sorted(true)?;
        let what = if upsert { "upsert" } else { "add" };
        // Refuse a duplicate before writing anything; the commit checks again.
        if !upsert {
            self.refuse_live(&self.snapshot(), &sorted)?;
        }
        let entry = self.write_segment(vectors, keys, &sorted)?;
        let v = self.commit_change(what, |snap| {
            let mut change = Change {
                operation: format!("{what} {} rows", keys.len()),
                add_growing: vec![entry.clone()],
                ..Change::default()
            };
            if upsert {
                let n = self.delete_into(snap, &sorted, &mut change)?;
                change.operation.push_str(&format!(" ({n} replaced)"));
            } else {
                self.refuse_live(snap, &sorted)?;
            }
            Ok(change)
        })?;
        self.seal_if_full().map(|s| s.unwrap_or(v))
    }

    fn delete_keyed(&self, keys: Keys<'_>) -> Result<DeleteReport> {
        let sorted = keys.sorted(false)?;
        let mut deleted = 0;
        let version = self.commit_change("delete", |snap| {
            let mut change = Change::default();
            deleted = self.delete_into(snap, &sorted, &mut change)?;
            change.operation = format!("delete {deleted} rows");
            Ok(change)
        })?;
        Ok(DeleteReport { version, deleted })
    }

    /// The live rows of `sorted` in `snap`.
    fn find_sorted(&self, snap: &Snapshot, sorted: &Sorted) -> Result<Vec<Found>> {
        match sorted {
            Sorted::Ids(ids) => self.find_live(snap, ids),
            Sorted::Labels(labels) => self.find_live_labels(snap, labels),
        }
    }

    /// An error naming the first of `sorted` that is live in `snap`, if one is.
    fn refuse_live(&self, snap: &Snapshot, sorted: &Sorted) -> Result<()> {
        let found = self.find_sorted(snap, sorted)?;
        if let Some(l) = found.iter().flat_map(|f| f.labels.iter()).min() {
            return Err(ShardError::DuplicateLabel {
                uri: self.uri().to_string(),
                label: l.clone(),
            });
        }
        match found.iter().flat_map(|f| f.rows.iter().map(|r| r.1)).min() {
            Some(id) => Err(self.duplicate(id)),
            None => Ok(()),
        }
    }

    /// Adds to `change` a new deletion file for every shard and segment of `snap` holding
    /// live rows of `sorted` (each file holds the earlier deletions too); returns the rows.
    fn delete_into(&self, snap: &Snapshot, sorted: &Sorted, change: &mut Change) -> Result<u64> {
        let mut n = 0;
        let v = snap.manifest.version + 1;
        for found in self.find_sorted(snap, sorted)? {
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

    pub(crate) fn duplicate(&self, id: u64) -> ShardError {
        ShardError::DuplicateId {
            uri: self.uri().to_string(),
            id,
        }
    }

    /// Checks `n` rows of vectors to add.
    fn check_rows(&self, vectors: &[f32], n: usize) -> Result<()> {
        let dim = self.snapshot().manifest.dim as usize;
        if n == 0 {
            return Err(IvfPqError::Empty { param: "ids" }.into());
        }
        if vectors.len() != n * dim {
            return Err(invalid(
                "vectors",
                format!(
                    "{} values are not {n} rows of dim {dim} (one per id)",
                    vectors.len(),
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
        Ok(())
    }

    /// Writes rows as a growing segment file; returns its manifest entry.
    fn write_segment(
        &self,
        vectors: &[f32],
        keys: Keys<'_>,
        sorted: &Sorted,
    ) -> Result<SegmentEntry> {
        let n = keys.len();
        let (ids, labels, range) = match (keys, sorted) {
            (Keys::Ids(ids), Sorted::Ids(s)) => (ids.to_vec(), None, (s[0], s[s.len() - 1], None)),
            (Keys::Labels(l), Sorted::Labels(s)) => (
                (0..n as u64).collect(),
                Some(l.to_vec()),
                (
                    0,
                    n as u64 - 1,
                    Some((s[0].clone(), s[s.len() - 1].clone())),
                ),
            ),
            _ => return Err(invalid("ids", "keys and their sorted form differ")),
        };
        let seg = Segment {
            ids,
            vectors: vectors.to_vec(),
            dim: self.snapshot().manifest.dim as usize,
            labels,
        };
        let (path, bytes) = self.write_unique(
            "growing",
            &crate::collection::unique_name(),
            seg.encode()?.into(),
        )?;
        self.files.put(&path, Arc::new(seg));
        Ok(SegmentEntry {
            path,
            rows: n as u64,
            bytes,
            id_min: range.0,
            id_max: range.1,
            deletion: None,
            label_range: range.2,
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
