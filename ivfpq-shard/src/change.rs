//! Optimistic commits that rebase: a writer describes what it changes as a [`Change`]
//! (shards and segments it adds or removes, deletion files it replaces) made on one
//! version. If another writer commits that version first, the change is made again on
//! the winner's version ([`Collection::commit_change`] calls its maker again) and applied
//! there, unless the winner changed a shard or segment this change was made from: then a
//! rewrite (seal, compact) fails with [`ShardError::ConflictingChange`], and nothing is
//! lost either way.

use std::sync::Arc;

use crate::collection::{Collection, Snapshot};
use crate::commit::commit;
use crate::error::{Result, ShardError};
use crate::manifest::{DeletionRef, Manifest, SegmentEntry, ShardEntry};

/// What one commit changes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Change {
    /// In words, for the manifest (`"add 1000 rows"`).
    pub(crate) operation: String,
    pub(crate) add_shards: Vec<ShardEntry>,
    pub(crate) add_growing: Vec<SegmentEntry>,
    /// Shards and segments it replaces, by path.
    pub(crate) remove: Vec<String>,
    /// New deletion files, by the path of the shard or segment they delete from.
    pub(crate) deletions: Vec<(String, DeletionRef)>,
    /// The shards and segments it was made from, with the deletion file each had then:
    /// applying it where one of them is gone or has another deletion file is a conflict.
    pub(crate) based_on: Vec<(String, Option<String>)>,
    /// A new embedding function record.
    pub(crate) embedding: Option<crate::embed::EmbeddingRef>,
}

impl Change {
    /// Whether it changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.add_shards.is_empty()
            && self.add_growing.is_empty()
            && self.remove.is_empty()
            && self.deletions.is_empty()
            && self.embedding.is_none()
    }

    /// `base` with this change: the next version's manifest, or `Err(path)` naming a
    /// shard or segment it was made from that `base` changed.
    pub(crate) fn apply(&self, base: &Manifest) -> std::result::Result<Manifest, String> {
        let deletion_of = |path: &str| -> Option<Option<String>> {
            let d = |d: &Option<DeletionRef>| d.as_ref().map(|d| d.path.clone());
            base.shards
                .iter()
                .find(|s| s.path == path)
                .map(|s| d(&s.deletion))
                .or_else(|| {
                    base.growing
                        .iter()
                        .find(|g| g.path == path)
                        .map(|g| d(&g.deletion))
                })
        };
        for (path, del) in &self.based_on {
            if deletion_of(path).as_ref() != Some(del) {
                return Err(path.clone());
            }
        }
        let mut next = base.next(self.operation.clone());
        next.shards.retain(|s| !self.remove.contains(&s.path));
        next.growing.retain(|g| !self.remove.contains(&g.path));
        for (path, del) in &self.deletions {
            if let Some(s) = next.shards.iter_mut().find(|s| &s.path == path) {
                s.deletion = Some(del.clone());
            } else if let Some(g) = next.growing.iter_mut().find(|g| &g.path == path) {
                g.deletion = Some(del.clone());
            } else {
                return Err(path.clone());
            }
        }
        next.shards.extend(self.add_shards.iter().cloned());
        next.growing.extend(self.add_growing.iter().cloned());
        if let Some(e) = &self.embedding {
            next.embedding = Some(e.clone());
        }
        Ok(next)
    }
}

/// Attempts before a writer that keeps losing gives up with the last conflict.
const ATTEMPTS: usize = 64;

impl Collection {
    /// Commits the change `make` makes on a version: first on the pinned one, then, after
    /// each lost race, on the newest. `what` names the operation in conflict errors.
    /// Returns the committed version (the pinned one when the change is empty).
    pub(crate) fn commit_change(
        &self,
        what: &'static str,
        mut make: impl FnMut(&Snapshot) -> Result<Change>,
    ) -> Result<u64> {
        let mut snap = self.snapshot();
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                // Back off a little, more each time, so racing writers spread out.
                let ms = rand::random::<u64>() % (2 + 4 * attempt as u64);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                snap = Arc::new(self.load_latest(&snap)?);
            }
            let change = make(&snap)?;
            if change.is_empty() {
                return Ok(snap.manifest.version);
            }
            let next =
                change
                    .apply(&snap.manifest)
                    .map_err(|path| ShardError::ConflictingChange {
                        uri: self.uri().to_string(),
                        version: snap.manifest.version,
                        operation: snap.manifest.operation.clone(),
                        path,
                        what,
                    })?;
            // Refuse a manifest a reader would refuse (a shard listed twice, say).
            Manifest::decode(&next.encode(), "new manifest")?;
            match commit(&self.store, &next) {
                Ok(()) => {
                    let v = next.version;
                    self.set_snapshot(Snapshot::new(next, snap.model.clone()));
                    return Ok(v);
                }
                Err(e @ ShardError::Conflict { .. }) => {
                    tracing::debug!(uri = self.uri(), attempt, error = %e, "rebasing");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| crate::error::invalid("commit", "no attempt was made")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivfpq_core::Metric;

    fn seg(path: &str) -> SegmentEntry {
        SegmentEntry {
            path: path.into(),
            rows: 2,
            bytes: 10,
            id_min: 0,
            id_max: 1,
            deletion: None,
            label_range: None,
        }
    }

    #[test]
    fn applies_and_detects_a_changed_base() {
        let mut base = Manifest::first(4, Metric::L2, None);
        base.growing.push(seg("growing/a.arrow"));
        let del = DeletionRef {
            path: "deletions/a-2.arrow".into(),
            rows: 1,
        };
        let delete = Change {
            operation: "delete".into(),
            deletions: vec![("growing/a.arrow".into(), del.clone())],
            based_on: vec![("growing/a.arrow".into(), None)],
            ..Change::default()
        };
        let v2 = delete.apply(&base).unwrap();
        assert_eq!(v2.growing[0].deletion, Some(del));
        assert_eq!(v2.version, 2);
        // A seal made on version 1 no longer applies once version 2 deleted rows.
        let seal = Change {
            operation: "seal".into(),
            remove: vec!["growing/a.arrow".into()],
            based_on: vec![("growing/a.arrow".into(), None)],
            ..Change::default()
        };
        assert_eq!(seal.apply(&v2).unwrap_err(), "growing/a.arrow");
        // An append applies anywhere.
        let add = Change {
            operation: "add".into(),
            add_growing: vec![seg("growing/b.arrow")],
            ..Change::default()
        };
        assert_eq!(add.apply(&v2).unwrap().growing.len(), 2);
    }
}
