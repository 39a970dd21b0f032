//! The collection's storage: a prefix on an object store, or a local folder through the
//! same interface (`object_store`'s local file system), with the one primitive commits
//! need: create an object only if it does not exist.
//!
//! Local folders go through `LocalFileSystem`, whose conditional create links a staged
//! file to its name (a no-replace link), so local and remote commits share one code path.
//! Shards in a local folder are still memory-mapped for search.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use ivfpq_io::{
    IoError, MmapSource, ObjectSource, SharedSource, StoreOptions, block_on, is_url, open_store,
    store_err,
};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Result, ShardError};

/// A collection's prefix: where its model, shards and manifests live.
#[derive(Clone)]
pub struct Store {
    uri: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The folder, for a local collection (its shards are memory-mapped).
    local: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("uri", &self.uri).finish()
    }
}

impl Store {
    /// A local folder (created when `create`) or an object-store URL (`s3://`, `gs://`,
    /// `az://`, `file://`).
    pub fn open(uri: &str, opts: &StoreOptions, create: bool) -> Result<Store> {
        if is_url(uri) && !uri.starts_with("file://") {
            let (store, prefix) = open_store(uri, opts)?;
            return Ok(Store {
                uri: uri.trim_end_matches('/').to_string(),
                store,
                prefix,
                local: None,
            });
        }
        let folder = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
        if create {
            std::fs::create_dir_all(&folder).map_err(|e| IoError::Os {
                path: folder.clone(),
                source: e,
            })?;
        } else if !folder.is_dir() {
            return Err(ShardError::NotACollection {
                uri: uri.to_string(),
            });
        }
        let folder = folder.canonicalize().map_err(|e| IoError::Os {
            path: folder.clone(),
            source: e,
        })?;
        let fs = LocalFileSystem::new_with_prefix(&folder)
            .map_err(|e| store_err(uri, e))?
            .with_fsync(true);
        Ok(Store {
            uri: uri.trim_end_matches('/').to_string(),
            store: Arc::new(fs),
            prefix: Path::default(),
            local: Some(folder),
        })
    }

    /// A prefix on any object store (tests use `InMemory` and fault-injecting wrappers).
    pub fn from_object_store(uri: &str, store: Arc<dyn ObjectStore>, prefix: Path) -> Store {
        Store {
            uri: uri.trim_end_matches('/').to_string(),
            store,
            prefix,
            local: None,
        }
    }

    /// The collection's location as given.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The local folder, for a local collection.
    pub fn local_folder(&self) -> Option<&FsPath> {
        self.local.as_deref()
    }

    /// The URL (or local path) of `rel`, for messages.
    pub fn url(&self, rel: &str) -> String {
        match &self.local {
            Some(f) => f.join(rel).display().to_string(),
            None => format!("{}/{rel}", self.uri),
        }
    }

    fn path(&self, rel: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// The whole object `rel`; `Ok(None)` if it does not exist.
    pub fn get(&self, rel: &str) -> Result<Option<Bytes>> {
        let url = self.url(rel);
        let path = self.path(rel);
        let r = block_on(&url, async {
            match self.store.get(&path).await {
                Ok(g) => g.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        Ok(r.map_err(|e| store_err(&url, e))?)
    }

    /// Writes `rel`, replacing what is there (atomically: readers see old or new).
    pub fn put(&self, rel: &str, bytes: Bytes) -> Result<()> {
        let url = self.url(rel);
        let path = self.path(rel);
        block_on(&url, self.store.put(&path, PutPayload::from(bytes)))?
            .map_err(|e| store_err(&url, e))?;
        Ok(())
    }

    /// Creates `rel` only if nothing is there (`If-None-Match: *`, or a no-replace link
    /// on local disk). `Ok(false)`: it existed, and nothing was written.
    pub fn put_new(&self, rel: &str, bytes: Bytes) -> Result<bool> {
        let url = self.url(rel);
        let path = self.path(rel);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let r = block_on(&url, async {
            match self
                .store
                .put_opts(&path, PutPayload::from(bytes), opts)
                .await
            {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })?;
        Ok(r.map_err(|e| store_err(&url, e))?)
    }

    /// Whether `rel` exists.
    pub fn exists(&self, rel: &str) -> Result<bool> {
        let url = self.url(rel);
        let path = self.path(rel);
        let r = block_on(&url, async {
            match self.store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(e),
            }
        })?;
        Ok(r.map_err(|e| store_err(&url, e))?)
    }

    /// Names (relative to `dir`) and sizes of the objects directly under `dir`.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .list_dated(dir)?
            .into_iter()
            .map(|(n, s, _)| (n, s))
            .collect())
    }

    /// Names, sizes and modification times of the objects directly under `dir`.
    pub fn list_dated(&self, dir: &str) -> Result<Vec<(String, u64, std::time::SystemTime)>> {
        let url = self.url(dir);
        let path = self.path(dir);
        let metas: Vec<object_store::ObjectMeta> = block_on(&url, async {
            self.store.list(Some(&path)).try_collect().await
        })?
        .map_err(|e| store_err(&url, e))?;
        let mut out: Vec<(String, u64, std::time::SystemTime)> = metas
            .into_iter()
            .filter_map(|m| {
                let name = m.location.prefix_match(&path)?.collect::<Vec<_>>();
                let ms = u64::try_from(m.last_modified.timestamp_millis()).unwrap_or(0);
                let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
                match name.as_slice() {
                    [one] => Some((one.as_ref().to_string(), m.size, at)),
                    _ => None,
                }
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Deletes `rel` (absent is fine).
    pub fn delete(&self, rel: &str) -> Result<()> {
        let url = self.url(rel);
        let path = self.path(rel);
        let r = block_on(&url, async {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })?;
        Ok(r.map_err(|e| store_err(&url, e))?)
    }

    /// Copies the finished local file `local` to `rel`, never replacing an object.
    /// Returns its length.
    pub fn upload(&self, local: &FsPath, rel: &str) -> Result<u64> {
        let Some(folder) = &self.local else {
            let (store, path) = (self.store.clone(), self.path(rel));
            return Ok(ivfpq_io::upload_to(local, &self.url(rel), store, path)?);
        };
        let os = |path: &FsPath, e: std::io::Error| IoError::Os {
            path: path.to_path_buf(),
            source: e,
        };
        let dest = folder.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| os(parent, e))?;
        }
        let len = std::fs::metadata(local).map_err(|e| os(local, e))?.len();
        // A hard link fails if `dest` exists (no replace) and across file systems: then
        // stream a copy beside `dest` and link that.
        if std::fs::hard_link(local, &dest).is_err() {
            let tmp = folder.join(format!(".upload-{}.tmp", crate::collection::unique_name()));
            let linked = std::fs::copy(local, &tmp).and_then(|_| std::fs::hard_link(&tmp, &dest));
            let _ = std::fs::remove_file(&tmp);
            linked.map_err(|e| os(&dest, e))?;
        }
        Ok(len)
    }

    /// A byte source over `rel`: memory-mapped for a local collection, ranged reads
    /// otherwise.
    pub fn source(&self, rel: &str) -> Result<SharedSource> {
        Ok(match &self.local {
            Some(folder) => Arc::new(MmapSource::open(&folder.join(rel))?),
            None => Arc::new(ObjectSource::new(
                &self.url(rel),
                self.store.clone(),
                self.path(rel),
            )),
        })
    }

    /// Copies the whole object `rel` to the local file `dest`, streaming, atomically.
    pub fn download(&self, rel: &str, dest: &FsPath) -> Result<u64> {
        let url = self.url(rel);
        let path = self.path(rel);
        let store = self.store.clone();
        Ok(ivfpq_io::write_file_atomic(dest, |f, name| {
            let os = |e: std::io::Error| IoError::Os {
                path: PathBuf::from(name),
                source: e,
            };
            block_on(&url, async {
                let mut stream = store
                    .get(&path)
                    .await
                    .map_err(|e| store_err(&url, e))?
                    .into_stream();
                let mut len = 0u64;
                while let Some(chunk) = stream.try_next().await.map_err(|e| store_err(&url, e))? {
                    std::io::Write::write_all(f, &chunk).map_err(os)?;
                    len += chunk.len() as u64;
                }
                Ok::<u64, IoError>(len)
            })?
        })?)
    }
}
