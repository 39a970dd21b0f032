//! Finding rows by id without reading every shard: the manifest's id range of each shard
//! and segment rules most out, and a shard's sorted id file (`ids/…`) finds the rest by
//! binary search. Deletion files are read once and kept as id sets for search filters.

use ivfpq_core::IdSet;
use std::sync::Arc;

use ivfpq_core::Lists;
use ivfpq_io::Shard;

use crate::collection::{Collection, Snapshot};
use crate::error::Result;
use crate::growing::Segment;
use crate::manifest::{DeletionRef, SegmentEntry, ShardEntry};
use crate::rowfile::{RowIds, RowLabels};

/// A deletion file, parsed: its rows and the set of their ids.
pub(crate) struct Deleted {
    pub(crate) rows: RowIds,
    pub(crate) ids: Arc<IdSet>,
}

/// Live rows of one shard or segment holding some of the ids looked up.
#[derive(Debug)]
pub(crate) struct Found {
    /// The shard's or segment's path.
    pub(crate) path: String,
    /// Its deletion file now.
    pub(crate) deletion: Option<DeletionRef>,
    /// `(row, id)` of each live row found.
    pub(crate) rows: Vec<(u32, u64)>,
    /// For a lookup by string id, the string id of each row found.
    pub(crate) labels: Vec<String>,
}

/// Every row of `shard` as `(id, row)` pairs sorted by id, rows numbered in file order
/// (partition by partition).
pub(crate) fn shard_row_ids(shard: &Shard) -> Result<RowIds> {
    let ids = ids_in_order(shard)?;
    Ok(RowIds::sorted_by_id(ids.into_iter().zip(0u32..).collect()))
}

/// A shard with string ids: every row's label, row number and id, sorted by label.
pub(crate) fn shard_row_labels(shard: &Shard) -> Result<RowLabels> {
    let ids = ids_in_order(shard)?;
    let labels = shard.labels_in_order()?;
    Ok(RowLabels::sorted(
        labels
            .into_iter()
            .zip(0u32..)
            .zip(ids)
            .map(|((l, r), i)| (l, r, i))
            .collect(),
    ))
}

/// Every row's id in file order (partition by partition). Reads a mapped shard in place, a
/// remote one a partition at a time.
pub(crate) fn ids_in_order(shard: &Shard) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(shard.rows() as usize);
    let view = shard.mapped();
    for l in 0..shard.header().nlist as usize {
        let rows = shard.directory().entries.get(l).map_or(0, |e| e.rows);
        if rows == 0 {
            continue;
        }
        let owned;
        let ids: &[u64] = match &view {
            Some(v) => match v.list(l) {
                Some(list) => list.ids,
                None => {
                    v.finish()?;
                    &[]
                }
            },
            None => {
                owned = shard.partition(l)?.ids;
                &owned
            }
        };
        out.extend_from_slice(ids);
    }
    if let Some(v) = &view {
        v.finish()?;
    }
    Ok(out)
}

/// Whether any of `sorted` lies in `lo..=hi`.
pub(crate) fn any_in(sorted: &[u64], lo: u64, hi: u64) -> bool {
    let i = sorted.partition_point(|&x| x < lo);
    sorted.get(i).is_some_and(|&x| x <= hi)
}

impl Collection {
    /// A growing segment's rows.
    pub(crate) fn segment(&self, snap: &Snapshot, g: &SegmentEntry) -> Result<Arc<Segment>> {
        let dim = snap.manifest.dim as usize;
        self.files.get(&self.store, &g.path, |b, url| {
            let s = Segment::decode(b, dim, url)?;
            if s.len() as u64 != g.rows {
                return Err(crate::rowfile::corrupt(
                    url,
                    format!("holds {} rows, the manifest says {}", s.len(), g.rows),
                ));
            }
            Ok(s)
        })
    }

    /// A deletion file, parsed.
    pub(crate) fn deleted(&self, d: &DeletionRef) -> Result<Arc<Deleted>> {
        self.files.get(&self.store, &d.path, |b, url| {
            let rows = RowIds::decode(b, url)?;
            let ids = Arc::new(rows.ids.iter().copied().collect());
            Ok(Deleted { rows, ids })
        })
    }

    /// The deleted ids of a shard or segment with deletion file `d`.
    pub(crate) fn deleted_ids(&self, d: Option<&DeletionRef>) -> Result<Option<Arc<IdSet>>> {
        d.map(|d| self.deleted(d).map(|x| x.ids.clone()))
            .transpose()
    }

    /// The union of every shard's deleted ids, when one filter can serve all the shards of
    /// `snap` at once: no id deleted in one shard is live in another (an upsert makes one
    /// so) and no shard has string ids. `None` otherwise; computed once per version.
    pub(crate) fn global_deletions(&self, snap: &Snapshot) -> Result<Option<Arc<IdSet>>> {
        if let Some(d) = snap.deleted.get() {
            return Ok(d.clone());
        }
        let shards = &snap.manifest.shards;
        let mut sets = Vec::with_capacity(shards.len());
        for e in shards {
            sets.push(self.deleted_ids(e.deletion.as_ref())?);
        }
        let mut safe = !shards.iter().any(|e| e.labels);
        'check: for (i, d) in sets.iter().enumerate().filter(|(_, d)| safe && d.is_some()) {
            let mut sorted: Vec<u64> = d.iter().flat_map(|d| d.iter().copied()).collect();
            sorted.sort_unstable();
            for (j, e) in shards.iter().enumerate() {
                if j == i || e.rows == 0 || !any_in(&sorted, e.id_min, e.id_max) {
                    continue;
                }
                let ids = self.shard_ids(snap, e)?;
                let dead = sets[j].as_deref();
                if sorted
                    .iter()
                    .any(|id| ids.row_of(*id).is_some() && !dead.is_some_and(|d| d.contains(id)))
                {
                    safe = false;
                    break 'check;
                }
            }
        }
        let out = safe.then(|| {
            let mut all = IdSet::default();
            for d in sets.iter().flatten() {
                all.extend(d.iter().copied());
            }
            Arc::new(all)
        });
        let _ = snap.deleted.set(out.clone());
        Ok(out)
    }

    /// A shard's ids sorted, with their rows: its id file, or the shard itself for an
    /// entry without one.
    pub(crate) fn shard_ids(&self, snap: &Snapshot, e: &ShardEntry) -> Result<Arc<RowIds>> {
        match &e.ids {
            Some(p) => self.files.get(&self.store, p, RowIds::decode),
            // Kept under the shard's own path: the file holds these ids for good.
            None => self
                .files
                .get_with(&e.path, || shard_row_ids(&*self.open_entry(snap, e, 0)?)),
        }
    }

    /// The live rows holding any of `sorted` (ascending, distinct ids), by shard and
    /// segment. Reads only the id files and segments whose id range covers one of them.
    /// Shards with string ids are left out: their u64 ids number their own rows.
    pub(crate) fn find_live(&self, snap: &Snapshot, sorted: &[u64]) -> Result<Vec<Found>> {
        let mut out = Vec::new();
        if sorted.is_empty() {
            return Ok(out);
        }
        for e in &snap.manifest.shards {
            if e.rows == 0 || e.labels || !any_in(sorted, e.id_min, e.id_max) {
                continue;
            }
            let ids = self.shard_ids(snap, e)?;
            let deleted = self.deleted_ids(e.deletion.as_ref())?;
            let rows: Vec<(u32, u64)> = sorted
                .iter()
                .filter(|id| !deleted.as_ref().is_some_and(|d| d.contains(id)))
                .filter_map(|&id| ids.row_of(id).map(|r| (r, id)))
                .collect();
            if !rows.is_empty() {
                out.push(Found {
                    path: e.path.clone(),
                    deletion: e.deletion.clone(),
                    rows,
                    labels: Vec::new(),
                });
            }
        }
        for g in &snap.manifest.growing {
            if g.label_range.is_some() || !any_in(sorted, g.id_min, g.id_max) {
                continue;
            }
            let seg = self.segment(snap, g)?;
            let deleted = self.deleted_ids(g.deletion.as_ref())?;
            let rows: Vec<(u32, u64)> = seg
                .ids
                .iter()
                .enumerate()
                .filter(|(_, id)| sorted.binary_search(id).is_ok())
                .filter(|(_, id)| !deleted.as_ref().is_some_and(|d| d.contains(id)))
                .map(|(i, &id)| (i as u32, id))
                .collect();
            if !rows.is_empty() {
                out.push(Found {
                    path: g.path.clone(),
                    deletion: g.deletion.clone(),
                    rows,
                    labels: Vec::new(),
                });
            }
        }
        Ok(out)
    }
}

impl Collection {
    /// A shard's string ids sorted, with their rows and ids: its id file, or the shard
    /// itself for an entry without one.
    pub(crate) fn shard_labels(&self, snap: &Snapshot, e: &ShardEntry) -> Result<Arc<RowLabels>> {
        match &e.ids {
            Some(p) => self.files.get(&self.store, p, RowLabels::decode),
            None => self.files.get_with(&format!("{}#labels", e.path), || {
                shard_row_labels(&*self.open_entry(snap, e, 0)?)
            }),
        }
    }

    /// The live rows holding any of the string ids `sorted` (ascending, distinct), by
    /// shard and segment, found as [`Collection::find_live`] finds u64 ids (through the
    /// label ranges and the id files).
    pub(crate) fn find_live_labels(
        &self,
        snap: &Snapshot,
        sorted: &[String],
    ) -> Result<Vec<Found>> {
        let mut out = Vec::new();
        let covers = |r: &Option<(String, String)>| {
            r.as_ref().is_some_and(|(lo, hi)| {
                let i = sorted.partition_point(|s| s < lo);
                sorted.get(i).is_some_and(|s| s <= hi)
            })
        };
        for e in &snap.manifest.shards {
            if !e.labels || !covers(&e.label_range) {
                continue;
            }
            let labels = self.shard_labels(snap, e)?;
            let deleted = self.deleted_ids(e.deletion.as_ref())?;
            let (rows, found): (Vec<(u32, u64)>, Vec<String>) = sorted
                .iter()
                .filter_map(|l| labels.find(l).map(|r| (r, l.clone())))
                .filter(|((_, id), _)| !deleted.as_ref().is_some_and(|d| d.contains(id)))
                .unzip();
            if !rows.is_empty() {
                out.push(Found {
                    path: e.path.clone(),
                    deletion: e.deletion.clone(),
                    rows,
                    labels: found,
                });
            }
        }
        for g in &snap.manifest.growing {
            if !covers(&g.label_range) {
                continue;
            }
            let seg = self.segment(snap, g)?;
            let deleted = self.deleted_ids(g.deletion.as_ref())?;
            let labels = seg.labels.as_deref().unwrap_or_default();
            let (rows, found): (Vec<(u32, u64)>, Vec<String>) = labels
                .iter()
                .zip(&seg.ids)
                .enumerate()
                .filter(|(_, (l, _))| sorted.binary_search(l).is_ok())
                .filter(|(_, (_, id))| !deleted.as_ref().is_some_and(|d| d.contains(id)))
                .map(|(i, (l, &id))| ((i as u32, id), l.clone()))
                .unzip();
            if !rows.is_empty() {
                out.push(Found {
                    path: g.path.clone(),
                    deletion: g.deletion.clone(),
                    rows,
                    labels: found,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_in_finds_an_overlap() {
        let s = [3, 8, 20];
        assert!(super::any_in(&s, 5, 8));
        assert!(!super::any_in(&s, 9, 19));
        assert!(super::any_in(&s, 0, 3));
        assert!(!super::any_in(&s, 21, 30));
    }
}
