//! The embedder's caches: a byte-bounded map in memory, and an
//! optional folder of one file per input (the vector's little-endian f32 values, named by
//! the input's hash) that outlives the process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::unsync::Cache;

/// Bytes an entry is charged beyond its values: the key, the map's slot, the `Arc`.
const ENTRY_OVERHEAD: u64 = 96;

/// An entry's weight: what it holds in memory.
#[derive(Clone, Copy)]
struct Bytes;

impl Weighter<[u8; 32], Arc<[f32]>> for Bytes {
    fn weight(&self, _: &[u8; 32], v: &Arc<[f32]>) -> u64 {
        std::mem::size_of_val::<[f32]>(v) as u64 + ENTRY_OVERHEAD
    }
}

/// Vectors by input hash, within a bound in bytes. Eviction is quick_cache's (S3-FIFO:
/// an entry seen once leaves before one read again).
pub(crate) struct MemoryCache {
    map: Cache<[u8; 32], Arc<[f32]>, Bytes>,
}

impl MemoryCache {
    /// A cache of at most `bound` bytes of `dim`-value vectors.
    pub(crate) fn new(bound: usize, dim: usize) -> MemoryCache {
        let entry = dim as u64 * 4 + ENTRY_OVERHEAD;
        let items = (bound as u64 / entry).max(1) as usize;
        MemoryCache {
            map: Cache::with_weighter(items, bound as u64, Bytes),
        }
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<[f32]>> {
        self.map.get(key).cloned()
    }

    /// Keeps `v`, evicting entries to stay within the bound.
    pub(crate) fn put(&mut self, key: [u8; 32], v: Arc<[f32]>) {
        self.map.insert(key, v);
    }

    /// Bytes held (values and per-entry overhead).
    pub(crate) fn bytes(&self) -> usize {
        self.map.weight() as usize
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// One file per vector under a folder.
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub(crate) fn new(dir: &Path) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(dir)?;
        Ok(DiskCache {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &[u8; 32]) -> PathBuf {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(hex)
    }

    /// The vector stored for `key`, if a whole one of `dim` values is there (a file of
    /// another length, from another function or a torn write, is a miss).
    pub(crate) fn get(&self, key: &[u8; 32], dim: usize) -> Option<Arc<[f32]>> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        if bytes.len() != dim * 4 {
            return None;
        }
        Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }

    /// Stores `v` (a temporary file, then a rename: readers never see half a vector).
    /// Failures are ignored: the cache is an optimisation.
    pub(crate) fn put(&self, key: &[u8; 32], v: &[f32]) {
        let path = self.path(key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        if std::fs::write(&tmp, bytes).is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
