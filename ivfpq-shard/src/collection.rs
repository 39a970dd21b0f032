//! The public face: a collection of shards at one location, pinned to a version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use ivfpq_core::{IvfPqIndex, IvfPqModel, Metric, VectorStorage};
use ivfpq_io::{ModelHash, Shard, StoreOptions, model_file_bytes, read_model_bytes};

use crate::commit::{commit, latest_version, list_versions, read_version};
use crate::error::{Result, ShardError, invalid};
use crate::filecache::FileCache;
use crate::manifest::{Manifest, ModelRef, ShardEntry, model_path, storage_name};
use crate::merged::MergedLists;
use crate::store::Store;

/// How a collection reads and searches its shards.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CollectionOptions {
    /// Object-store connection options (ignored for local folders).
    pub store: StoreOptions,
    /// Bytes of partition lists kept between searches, shared by all remote shards (each
    /// open shard gets an equal part). Local shards are memory-mapped and need none.
    pub cache_bytes: u64,
    /// Remote shards searched at once. Each costs a thread that mostly waits on the
    /// network, so this can be well above the core count.
    pub concurrency: usize,
    /// A local folder to copy remote shards into before searching them, for batches of at
    /// least [`CollectionOptions::download_min_queries`] queries (a whole file costs less
    /// than thousands of ranged reads). `None`: always read ranges.
    pub local_cache: Option<PathBuf>,
    /// See [`CollectionOptions::local_cache`].
    pub download_min_queries: usize,
    /// Merge each partition's short lists of all shards into one list in memory, the
    /// first time a search probes it, when the lists average under 256 rows a shard and
    /// their codes and ids fit in [`CollectionOptions::cache_bytes`]: shards of a few
    /// hundred thousand rows then search as fast as one index over all their rows. The
    /// results are the same either way.
    pub merge_short_lists: bool,
    /// Growing rows at which [`Collection::add`] seals them into a shard.
    pub seal_rows: u64,
}

impl Default for CollectionOptions {
    fn default() -> Self {
        CollectionOptions {
            store: StoreOptions::default(),
            cache_bytes: 256 << 20,
            concurrency: 64,
            local_cache: None,
            download_min_queries: 1000,
            merge_short_lists: true,
            seal_rows: 1_000_000,
        }
    }
}

impl CollectionOptions {
    /// Sets the object-store options.
    pub fn with_store(mut self, store: StoreOptions) -> Self {
        self.store = store;
        self
    }

    /// Sets the shared cache budget in bytes.
    pub fn with_cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Sets how many remote shards are searched at once (at least 1).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Sets whether short lists are merged in memory
    /// ([`CollectionOptions::merge_short_lists`]).
    pub fn with_merge_short_lists(mut self, on: bool) -> Self {
        self.merge_short_lists = on;
        self
    }

    /// Sets the growing rows at which adds seal them ([`CollectionOptions::seal_rows`]).
    pub fn with_seal_rows(mut self, rows: u64) -> Self {
        self.seal_rows = rows.max(1);
        self
    }

    /// Copies remote shards to `folder` for batches of at least `min_queries` queries.
    pub fn with_local_cache(mut self, folder: impl Into<PathBuf>, min_queries: usize) -> Self {
        self.local_cache = Some(folder.into());
        self.download_min_queries = min_queries;
        self
    }
}

/// One version as [`Collection::versions`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionInfo {
    /// The version.
    pub version: u64,
    /// Commit time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// What the commit did.
    pub operation: String,
    /// Shards in this version.
    pub shards: usize,
    /// Rows in this version.
    pub rows: u64,
}

/// What a pinned version holds: its manifest and model.
pub(crate) struct Snapshot {
    pub(crate) manifest: Manifest,
    pub(crate) model: Option<(Arc<IvfPqModel>, ModelHash)>,
    /// The version's short lists merged, when its search merges them (`crate::merged`).
    pub(crate) merged: OnceLock<MergedLists>,
    /// Every shard's deleted ids in one set, when one filter can serve all shards
    /// (`Collection::global_deletions`).
    pub(crate) deleted: OnceLock<Option<Arc<ivfpq_core::IdSet>>>,
}

impl Snapshot {
    pub(crate) fn new(manifest: Manifest, model: Option<(Arc<IvfPqModel>, ModelHash)>) -> Self {
        Snapshot {
            manifest,
            model,
            merged: OnceLock::new(),
            deleted: OnceLock::new(),
        }
    }
}

/// A collection of shard files sharing one trained model (or trained separately), at a
/// local folder or an object-store prefix, pinned to one version.
///
/// `Collection` is `Send + Sync`: a service keeps one open and searches it from many
/// threads; [`Collection::refresh`] moves it to the newest version while searches in
/// flight finish on the version they started with.
pub struct Collection {
    pub(crate) store: Store,
    pub(crate) opts: CollectionOptions,
    state: RwLock<Arc<Snapshot>>,
    /// Open shards by path. Shard files never change, so a handle serves every version.
    pub(crate) handles: Mutex<HashMap<String, Arc<Shard>>>,
    /// Parsed segments, id and deletion files, by path (they never change either).
    pub(crate) files: FileCache,
}

impl Collection {
    /// Creates a collection at `uri` whose shards are all encoded with `model`: writes the
    /// model file and commits version 1.
    pub fn create(uri: &str, model: &IvfPqModel, opts: CollectionOptions) -> Result<Collection> {
        let store = Store::open(uri, &opts.store, true)?;
        Collection::create_in(store, Some(model), model.dim(), model.metric(), opts)
    }

    /// Creates a collection whose shards are trained separately (each with its own
    /// model): their PQ estimates do not compare, so every shard must store full vectors
    /// and every search reranks exactly (`refine_factor` ≥ 2).
    pub fn create_separately_trained(
        uri: &str,
        dim: usize,
        metric: Metric,
        opts: CollectionOptions,
    ) -> Result<Collection> {
        let store = Store::open(uri, &opts.store, true)?;
        Collection::create_in(store, None, dim, metric, opts)
    }

    /// [`Collection::create`] (with `Some` model) or
    /// [`Collection::create_separately_trained`] on an open store.
    pub fn create_in(
        store: Store,
        model: Option<&IvfPqModel>,
        dim: usize,
        metric: Metric,
        opts: CollectionOptions,
    ) -> Result<Collection> {
        let dim32 = u32::try_from(dim)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| invalid("dim", format!("{dim} is not in 1..2^32")))?;
        if latest_version(&store)?.is_some() {
            return Err(ShardError::AlreadyExists {
                uri: store.uri().to_string(),
            });
        }
        let mut loaded = None;
        let model_ref = match model {
            Some(m) => {
                let bytes = model_file_bytes(m)?;
                let hash = ivfpq_io::hash_bytes(&bytes);
                let path = model_path(&hash.hex());
                // Content-addressed: an existing file of this name holds these bytes.
                store.put_new(&path, bytes::Bytes::from(bytes))?;
                loaded = Some((Arc::new(m.clone()), hash));
                Some(ModelRef {
                    hash: hash.hex(),
                    path,
                })
            }
            None => None,
        };
        let first = Manifest::first(dim32, metric, model_ref);
        commit(&store, &first).map_err(|e| match e {
            ShardError::Conflict { uri, .. } => ShardError::AlreadyExists { uri },
            e => e,
        })?;
        Ok(Collection::from_snapshot(
            store,
            opts,
            Snapshot::new(first, loaded),
        ))
    }

    /// Opens the newest version at `uri`.
    pub fn open(uri: &str, opts: CollectionOptions) -> Result<Collection> {
        Collection::open_in(Store::open(uri, &opts.store, false)?, None, opts)
    }

    /// Opens version `version` at `uri` (time travel).
    pub fn open_version(uri: &str, version: u64, opts: CollectionOptions) -> Result<Collection> {
        Collection::open_in(Store::open(uri, &opts.store, false)?, Some(version), opts)
    }

    /// Opens `version` (or the newest) on an open store.
    pub fn open_in(
        store: Store,
        version: Option<u64>,
        opts: CollectionOptions,
    ) -> Result<Collection> {
        let snap = load(&store, version, None)?;
        Ok(Collection::from_snapshot(store, opts, snap))
    }

    fn from_snapshot(store: Store, opts: CollectionOptions, snap: Snapshot) -> Collection {
        Collection {
            store,
            opts,
            state: RwLock::new(Arc::new(snap)),
            handles: Mutex::new(HashMap::new()),
            files: FileCache::default(),
        }
    }

    /// The location.
    pub fn uri(&self) -> &str {
        self.store.uri()
    }

    /// The store under the collection.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock only means a panic elsewhere; the snapshot is still whole.
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The pinned version's manifest.
    pub fn manifest(&self) -> Manifest {
        self.snapshot().manifest.clone()
    }

    /// The pinned version.
    pub fn version(&self) -> u64 {
        self.snapshot().manifest.version
    }

    /// The collection's model (`None` when shards are trained separately).
    pub fn model(&self) -> Option<Arc<IvfPqModel>> {
        self.snapshot().model.as_ref().map(|(m, _)| m.clone())
    }

    /// The model's hash (`None` when shards are trained separately).
    pub fn model_hash(&self) -> Option<ModelHash> {
        self.snapshot().model.as_ref().map(|(_, h)| *h)
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> Result<Vec<VersionInfo>> {
        let mut out = Vec::new();
        for v in list_versions(&self.store)? {
            if let Some(m) = read_version(&self.store, v)? {
                out.push(VersionInfo {
                    version: v,
                    timestamp_ms: m.timestamp_ms,
                    operation: m.operation.clone(),
                    shards: m.shards.len(),
                    rows: m.rows(),
                });
            }
        }
        Ok(out)
    }

    /// Moves to the newest version; returns it. Searches already running finish on the
    /// version they started with.
    pub fn refresh(&self) -> Result<u64> {
        let snap = self.load_latest(&self.snapshot())?;
        let v = snap.manifest.version;
        self.set_snapshot(snap);
        Ok(v)
    }

    /// The newest version, reusing `cur`'s model when it is the same.
    pub(crate) fn load_latest(&self, cur: &Snapshot) -> Result<Snapshot> {
        load(&self.store, None, cur.model.clone())
    }

    /// Pins `snap`, dropping open shards and parsed files it no longer references.
    pub(crate) fn set_snapshot(&self, snap: Snapshot) {
        let keep: std::collections::HashSet<String> = snap.manifest.files().into_iter().collect();
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p, _| keep.contains(p.strip_prefix("local:").unwrap_or(p)));
        self.files.retain(&keep);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
    }

    /// Writes `index` as a new shard and commits it as the next version. The index must
    /// use the collection's model (build it with `IvfPqIndex::new(collection.model())`).
    pub fn add_index(&self, index: &IvfPqIndex) -> Result<u64> {
        let tmp = temp_file(&self.store, "add");
        let res = ivfpq_io::write_shard(index, &tmp)
            .map_err(ShardError::from)
            .and_then(|_| self.stage_shard_file(&tmp));
        let _ = std::fs::remove_file(&tmp);
        self.commit_shards(vec![res?])
    }

    /// Copies local shard files into the collection and commits them in one version.
    pub fn add_shard_files(&self, files: &[PathBuf]) -> Result<u64> {
        let entries = files
            .iter()
            .map(|f| self.stage_shard_file(f))
            .collect::<Result<Vec<_>>>()?;
        self.commit_shards(entries)
    }

    /// Checks a local shard file against the collection and copies it in under a fresh
    /// name; returns its manifest entry, to pass to [`Collection::commit_shards`]. Until
    /// then no version references it (a crashed writer leaves only an orphan file).
    /// Distributed builds stage in their workers and commit once from the driver.
    pub fn stage_shard_file(&self, file: &Path) -> Result<ShardEntry> {
        let name = file.display().to_string();
        let shard = Shard::open(&name, &Default::default())?;
        self.check_shard(&shard, &name)?;
        let name = unique_name();
        let rel = format!("shards/{name}.ivfpq");
        let (ids_rel, label_range) = if shard.header().labels {
            let labels = crate::lookup::shard_row_labels(&shard)?;
            let range = labels
                .labels
                .first()
                .cloned()
                .zip(labels.labels.last().cloned());
            let (rel, _) = self.write_unique("ids", &name, labels.encode()?.into())?;
            self.files.put(&rel, Arc::new(labels));
            (rel, range)
        } else {
            let ids = crate::lookup::shard_row_ids(&shard)?;
            let (rel, _) = self.write_unique("ids", &name, ids.encode()?.into())?;
            self.files.put(&rel, Arc::new(ids));
            (rel, None)
        };
        let bytes = self.store.upload(file, &rel)?;
        let (lo, hi) = shard.directory().id_range;
        Ok(ShardEntry {
            path: rel,
            rows: shard.rows(),
            bytes,
            checksum: shard.footer().dir_crc,
            model_hash: format!("{:016x}", shard.header().model_hash),
            id_min: lo,
            id_max: hi,
            storage: storage_name(shard.header().storage).into(),
            ids: Some(ids_rel),
            deletion: None,
            labels: shard.header().labels,
            label_range,
        })
    }

    /// Whether `shard` may join the collection.
    fn check_shard(&self, shard: &Shard, name: &str) -> Result<()> {
        let snap = self.snapshot();
        let m = &snap.manifest;
        let h = shard.header();
        let bad = |message: String| ShardError::ShardMismatch {
            shard: name.to_string(),
            message,
        };
        if h.dim != m.dim || h.metric != m.metric() {
            return Err(bad(format!(
                "dim {} metric {} but the collection has dim {} metric {}",
                h.dim, h.metric, m.dim, m.metric
            )));
        }
        match &snap.model {
            Some((_, hash)) if h.model_hash != hash.short() => Err(bad(format!(
                "encoded with model {:016x}, but the collection's model is {:016x} ({}); \
                 encode shards with the collection's model",
                h.model_hash,
                hash.short(),
                hash.hex()
            ))),
            None if h.storage == VectorStorage::None => Err(bad(
                "stores no full vectors; a collection of separately trained shards reranks \
                 every shard exactly"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Commits staged shards in a new version. Another writer's commit in between is no
    /// conflict: the shards are added to the newest version. Every id must be new to the
    /// collection ([`ShardError::DuplicateId`] names one that is not).
    pub fn commit_shards(&self, entries: Vec<ShardEntry>) -> Result<u64> {
        if entries.is_empty() {
            return Err(invalid("shards", "nothing to commit"));
        }
        let (mut new_ids, mut new_labels) = (Vec::new(), Vec::new());
        let snap = self.snapshot();
        for e in &entries {
            if e.labels {
                new_labels.extend_from_slice(&self.shard_labels(&snap, e)?.labels);
            } else {
                new_ids.extend_from_slice(&self.shard_ids(&snap, e)?.ids);
            }
        }
        new_ids.sort_unstable();
        new_labels.sort_unstable();
        if let Some(w) = new_ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(self.duplicate(w[0]));
        }
        if let Some(w) = new_labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(ShardError::DuplicateLabel {
                uri: self.uri().to_string(),
                label: w[0].clone(),
            });
        }
        self.commit_change("add", |snap| {
            if let Some(f) = self.find_live(snap, &new_ids)?.first() {
                return Err(self.duplicate(f.rows[0].1));
            }
            if let Some(f) = self.find_live_labels(snap, &new_labels)?.first() {
                return Err(ShardError::DuplicateLabel {
                    uri: self.uri().to_string(),
                    label: f.labels[0].clone(),
                });
            }
            Ok(crate::change::Change {
                operation: format!("add {} shards", entries.len()),
                add_shards: entries.clone(),
                ..Default::default()
            })
        })
    }
}

/// Loads `version` (or the newest), reusing `model` when its hash is the manifest's.
fn load(
    store: &Store,
    version: Option<u64>,
    model: Option<(Arc<IvfPqModel>, ModelHash)>,
) -> Result<Snapshot> {
    let latest = latest_version(store)?.ok_or_else(|| ShardError::NotACollection {
        uri: store.uri().to_string(),
    })?;
    let v = version.unwrap_or(latest);
    let manifest = read_version(store, v)?.ok_or(ShardError::NoSuchVersion {
        uri: store.uri().to_string(),
        version: v,
        latest,
    })?;
    let model = match &manifest.model {
        None => None,
        Some(r) if model.as_ref().is_some_and(|(_, h)| h.hex() == r.hash) => model,
        Some(r) => {
            let url = store.url(&r.path);
            let bytes = store.get(&r.path)?.ok_or_else(|| ShardError::Manifest {
                file: store.url(&crate::manifest::version_file(v)),
                message: format!("model file {url} is missing"),
            })?;
            let (m, hash) = read_model_bytes(bytes, &url)?;
            if hash.hex() != r.hash {
                return Err(ShardError::ShardMismatch {
                    shard: url,
                    message: format!("content hash is {}, not its name's", hash.hex()),
                });
            }
            Some((m, hash))
        }
    };
    Ok(Snapshot::new(manifest, model))
}

/// A name no other writer will pick: time, process and 64 random bits.
pub(crate) fn unique_name() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{ms:012x}-{:016x}", rand::random::<u64>())
}

/// A temporary file for a shard on its way in: in the collection's folder when local (so
/// the copy in is a link), else in the system's temporary folder.
pub(crate) fn temp_file(store: &Store, what: &str) -> PathBuf {
    let dir = store
        .local_folder()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!(".ivfpq-{what}-{}.tmp", unique_name()))
}
