//! Parsed immutable files of a collection (growing segments, id and deletion files), kept
//! by path: a file never changes once written, so a parse serves every version that
//! references it. [`FileCache::retain`] drops what the current version no longer needs.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::error::{Result, ShardError};
use crate::store::Store;

type Entry = Arc<dyn Any + Send + Sync>;

/// Parsed files by path.
#[derive(Default)]
pub(crate) struct FileCache {
    map: Mutex<HashMap<String, Entry>>,
}

impl FileCache {
    /// The parse of `rel`, loading and parsing it with `parse` on first use. A missing
    /// file is a [`ShardError::Corrupt`] error: a committed version references it.
    pub(crate) fn get<T: Send + Sync + 'static>(
        &self,
        store: &Store,
        rel: &str,
        parse: impl FnOnce(bytes::Bytes, &str) -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some(e) = self.lock().get(rel).cloned()
            && let Ok(t) = e.downcast::<T>()
        {
            return Ok(t);
        }
        let url = store.url(rel);
        let bytes = store.get(rel)?.ok_or_else(|| ShardError::Corrupt {
            file: url.clone(),
            message: "is referenced by the manifest but missing".into(),
        })?;
        let t = Arc::new(parse(bytes, &url)?);
        self.lock().insert(rel.to_string(), t.clone());
        Ok(t)
    }

    /// The value kept under `key`, computing it with `make` on first use.
    pub(crate) fn get_with<T: Send + Sync + 'static>(
        &self,
        key: &str,
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        if let Some(e) = self.lock().get(key).cloned()
            && let Ok(t) = e.downcast::<T>()
        {
            return Ok(t);
        }
        let t = Arc::new(make()?);
        self.lock().insert(key.to_string(), t.clone());
        Ok(t)
    }

    /// Puts a parse a writer already holds (a file it just wrote).
    pub(crate) fn put<T: Send + Sync + 'static>(&self, rel: &str, t: Arc<T>) {
        self.lock().insert(rel.to_string(), t);
    }

    /// Keeps only the files in `keep`.
    pub(crate) fn retain(&self, keep: &HashSet<String>) {
        self.lock().retain(|k, _| keep.contains(k));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}
