//! Vacuum: removes old versions and every file no remaining version references.
//!
//! Versions committed within `older_than` (and always the newest) are kept with every
//! file they reference. Other files go only once they are older than `grace`: a writer
//! writes its files before it commits the version naming them, so a young unreferenced
//! file may belong to a commit still in flight.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use crate::collection::Collection;
use crate::commit::{list_versions, read_version};
use crate::error::Result;
use crate::manifest::version_file;

/// The folders of data files vacuum looks in.
const DATA_DIRS: [&str; 5] = ["shards", "ids", "growing", "deletions", "model"];

/// What [`Collection::vacuum`] keeps.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VacuumOptions {
    /// Keep every version committed this recently (and always the newest).
    pub older_than: Duration,
    /// Keep every file written this recently, referenced or not.
    pub grace: Duration,
}

impl VacuumOptions {
    /// Keeps versions younger than `older_than`, with a grace period of one hour.
    pub fn new(older_than: Duration) -> Self {
        VacuumOptions {
            older_than,
            grace: Duration::from_secs(3600),
        }
    }

    /// Sets the grace period ([`VacuumOptions::grace`]). It must be longer than any
    /// writer takes from writing a file to committing it.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

/// What [`Collection::vacuum`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VacuumReport {
    /// Versions removed.
    pub versions: Vec<u64>,
    /// Data files removed.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl Collection {
    /// Removes versions older than `opts.older_than` but the newest, then every data file
    /// that no remaining version references and that is older than the grace period.
    /// Opening a removed version afterwards is [`crate::ShardError::NoSuchVersion`].
    pub fn vacuum(&self, opts: &VacuumOptions) -> Result<VacuumReport> {
        let now = SystemTime::now();
        let cut_ms = now
            .checked_sub(opts.older_than)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        let versions = list_versions(&self.store)?;
        let Some(&newest) = versions.last() else {
            return Ok(VacuumReport::default());
        };
        let mut report = VacuumReport::default();
        let mut keep: HashSet<String> = HashSet::new();
        let mut drop = Vec::new();
        // Newest first: what a kept version references is known before anything goes.
        for &v in versions.iter().rev() {
            let Some(m) = read_version(&self.store, v)? else {
                continue;
            };
            if v == newest || m.timestamp_ms >= cut_ms {
                keep.extend(m.files());
            } else {
                drop.push(v);
            }
        }
        // Oldest first, so a vacuum cut short leaves a contiguous run of versions.
        for &v in drop.iter().rev() {
            self.store.delete(&version_file(v))?;
            report.versions.push(v);
        }
        let young = now
            .checked_sub(opts.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for dir in DATA_DIRS {
            for (name, size, at) in self.store.list_dated(dir)? {
                let rel = format!("{dir}/{name}");
                if keep.contains(&rel) || at > young {
                    continue;
                }
                self.store.delete(&rel)?;
                report.files += 1;
                report.bytes += size;
            }
        }
        if let Some(folder) = self.store.local_folder() {
            sweep_temp_files(folder, young, &mut report);
        }
        tracing::info!(
            uri = self.uri(),
            versions = report.versions.len(),
            files = report.files,
            bytes = report.bytes,
            "vacuumed"
        );
        Ok(report)
    }
}

/// Removes temporary files that killed writers left in a local collection's folder: ours
/// (hidden, `.tmp` in the name) and the object store's staging files (`name#n`).
fn sweep_temp_files(folder: &std::path::Path, young: SystemTime, report: &mut VacuumReport) {
    let dirs = std::iter::once(folder.to_path_buf()).chain(
        DATA_DIRS
            .iter()
            .chain(&["_versions"])
            .map(|d| folder.join(d)),
    );
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let temp = (name.starts_with('.') && name.contains(".tmp")) || name.contains('#');
            let Ok(meta) = e.metadata() else { continue };
            if temp
                && meta.is_file()
                && meta.modified().is_ok_and(|t| t <= young)
                && std::fs::remove_file(e.path()).is_ok()
            {
                report.files += 1;
                report.bytes += meta.len();
            }
        }
    }
}
