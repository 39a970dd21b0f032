//! Versions and commits: finding the newest version, reading one, and committing the next
//! with a conditional create, so that of two writers racing for a version exactly one
//! wins and the other learns who did.

use bytes::Bytes;

use crate::error::{Result, ShardError};
use crate::manifest::{LATEST_HINT, Manifest, VERSIONS_DIR, parse_version_file, version_file};
use crate::store::Store;

/// Manifest `v`, or `None` if there is no such version.
pub(crate) fn read_version(store: &Store, v: u64) -> Result<Option<Manifest>> {
    let rel = version_file(v);
    let Some(bytes) = store.get(&rel)? else {
        return Ok(None);
    };
    let m = Manifest::decode(&bytes, &store.url(&rel))?;
    if m.version != v {
        return Err(ShardError::Manifest {
            file: store.url(&rel),
            message: format!("holds version {} under the name of version {v}", m.version),
        });
    }
    Ok(Some(m))
}

/// Every committed version, oldest first.
pub(crate) fn list_versions(store: &Store) -> Result<Vec<u64>> {
    let mut v: Vec<u64> = store
        .list(VERSIONS_DIR)?
        .iter()
        .filter_map(|(name, _)| parse_version_file(name))
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// The newest version, or `None` for an empty prefix. The hint file is trusted only when
/// the version after it does not exist (versions are committed one after another, so none
/// beyond can exist either); otherwise one LIST decides.
pub(crate) fn latest_version(store: &Store) -> Result<Option<u64>> {
    let hint = store
        .get(LATEST_HINT)?
        .and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse::<u64>().ok());
    if let Some(v) = hint
        && v > 0
        && !store.exists(&version_file(v + 1))?
        && store.exists(&version_file(v))?
    {
        return Ok(Some(v));
    }
    Ok(list_versions(store)?.last().copied())
}

/// Commits `next` as version `next.version`. Fails with [`ShardError::Conflict`] if that
/// version exists; then nothing was written.
pub(crate) fn commit(store: &Store, next: &Manifest) -> Result<()> {
    let v = next.version;
    let bytes = Bytes::from(next.encode());
    let created = match store.put_new(&version_file(v), bytes.clone()) {
        Ok(true) => true,
        // The create may have landed with its response lost (a timeout), or a retry of it
        // found the first attempt's object: the version is ours if it holds our bytes
        // (each manifest carries its commit time, so no other writer's is equal).
        other => {
            let ours = matches!(store.get(&version_file(v)), Ok(Some(b)) if b == bytes);
            match other {
                Err(e) if !ours => return Err(e),
                _ => ours,
            }
        }
    };
    if created {
        // Only a hint: a failure here costs readers one LIST, never correctness.
        if let Err(e) = store.put(LATEST_HINT, Bytes::from(v.to_string())) {
            tracing::warn!(uri = store.uri(), version = v, error = %e, "latest-version hint not written");
        }
        tracing::info!(uri = store.uri(), version = v, operation = %next.operation, "committed");
        return Ok(());
    }
    let operation = match read_version(store, v) {
        Ok(Some(m)) => m.operation,
        Ok(None) => "unknown".into(),
        Err(e) => format!("unreadable: {e}"),
    };
    Err(ShardError::Conflict {
        uri: store.uri().to_string(),
        version: v,
        operation,
    })
}
