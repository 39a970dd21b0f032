//! [`Embedder`]: any [`EmbeddingFunction`] with batching, caching, retries and checks.

use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::cache::{DiskCache, MemoryCache};
use super::{EmbeddingFunction, Input};
use crate::error::{Result, ShardError, invalid};

/// Inputs from which keys are hashed in parallel.
const PARALLEL_KEYS: usize = 1024;

/// How an [`Embedder`] calls its function.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmbedderOptions {
    /// The most inputs a call to the function gets (default 256).
    pub max_batch: usize,
    /// Bytes of vectors the memory cache keeps (default 64 MiB; 0: no memory cache).
    pub cache_bytes: usize,
    /// A folder that keeps every vector across processes (default none). It is not
    /// bounded: remove it to clear it.
    pub disk_cache: Option<PathBuf>,
    /// Retries of a call that failed transiently (default 3).
    pub retries: u32,
    /// The wait before the first retry, doubled before each next one (default 100 ms).
    pub backoff: Duration,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions {
            max_batch: 256,
            cache_bytes: 64 << 20,
            disk_cache: None,
            retries: 3,
            backoff: Duration::from_millis(100),
        }
    }
}

impl EmbedderOptions {
    /// Sets the largest batch a call gets.
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }

    /// Sets the memory cache's bound in bytes.
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Keeps vectors in `folder` too.
    pub fn with_disk_cache(mut self, folder: impl Into<PathBuf>) -> Self {
        self.disk_cache = Some(folder.into());
        self
    }

    /// Sets the retries and the first backoff.
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self
    }
}

/// An embedding function with batching, a cache, retries, and checks of its output.
pub struct Embedder {
    f: Arc<dyn EmbeddingFunction>,
    opts: EmbedderOptions,
    memory: Mutex<MemoryCache>,
    disk: Option<DiskCache>,
    calls: AtomicU64,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("function", &self.f.name())
            .field("opts", &self.opts)
            .finish()
    }
}

impl Embedder {
    /// Wraps `f`. Fails when `max_batch` is 0 or the disk cache's folder cannot be made.
    pub fn new(f: Arc<dyn EmbeddingFunction>, opts: EmbedderOptions) -> Result<Embedder> {
        if opts.max_batch == 0 {
            return Err(invalid(
                "max_batch",
                "0: a call must embed at least one input",
            ));
        }
        if f.dim() == 0 {
            return Err(invalid("dim", format!("{}: dimension 0", f.name())));
        }
        let disk = match &opts.disk_cache {
            Some(dir) => Some(DiskCache::new(dir).map_err(|source| ivfpq_io::IoError::Os {
                path: dir.clone(),
                source,
            })?),
            None => None,
        };
        Ok(Embedder {
            memory: Mutex::new(MemoryCache::new(opts.cache_bytes, f.dim())),
            f,
            opts,
            disk,
            calls: AtomicU64::new(0),
        })
    }

    /// The wrapped function.
    pub fn function(&self) -> &Arc<dyn EmbeddingFunction> {
        &self.f
    }

    /// Calls made to the function so far (retries count).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Bytes the memory cache holds.
    pub fn cache_bytes(&self) -> usize {
        self.memory().bytes()
    }

    /// Vectors the memory cache holds.
    pub fn cached(&self) -> usize {
        self.memory().len()
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, MemoryCache> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `inputs.len() × dim` values, one row per input in order. Inputs already embedded
    /// (by hash, in this call or the caches) are not embedded again; the rest go to the
    /// function in batches of at most `max_batch`.
    pub fn embed(&self, inputs: &[Input<'_>]) -> Result<Vec<f32>> {
        if inputs.is_empty() {
            return Err(invalid("inputs", "an empty batch: nothing to embed"));
        }
        let dim = self.f.dim();
        let mut out = vec![0f32; inputs.len() * dim];
        // Hashing is most of the wrapper's own work: spread it over the cores.
        let keys: Vec<[u8; 32]> = if inputs.len() >= PARALLEL_KEYS {
            inputs.par_iter().map(Input::key).collect()
        } else {
            inputs.iter().map(Input::key).collect()
        };
        // The first row of each distinct input; later rows of it copy that row at the end.
        let mut first: FxHashMap<[u8; 32], usize> = FxHashMap::default();
        first.reserve(inputs.len());
        let (mut repeats, mut missing) = (Vec::new(), Vec::new());
        {
            let memory = self.memory(); // one lock for every lookup
            for (i, key) in keys.iter().enumerate() {
                match first.entry(*key) {
                    Entry::Occupied(e) => repeats.push((i, *e.get())),
                    Entry::Vacant(e) => {
                        e.insert(i);
                        match memory.get(key) {
                            Some(v) => out[i * dim..(i + 1) * dim].copy_from_slice(&v),
                            None => missing.push(i),
                        }
                    }
                }
            }
        }
        if let Some(disk) = &self.disk {
            missing.retain(|&i| match disk.get(&keys[i], dim) {
                Some(v) => {
                    out[i * dim..(i + 1) * dim].copy_from_slice(&v);
                    self.memory().put(keys[i], v);
                    false
                }
                None => true,
            });
        }
        // Each batch's vectors go into the caches on another core while the function
        // embeds the next batch: the caches cost the caller nothing it waits for.
        rayon::in_place_scope(|scope| -> Result<()> {
            for batch in missing.chunks(self.opts.max_batch) {
                let ins: Vec<Input<'_>> = batch.iter().map(|&i| inputs[i]).collect();
                let vs = self.call(&ins)?;
                for (j, &i) in batch.iter().enumerate() {
                    out[i * dim..(i + 1) * dim].copy_from_slice(&vs[j * dim..(j + 1) * dim]);
                }
                let keys: Vec<[u8; 32]> = batch.iter().map(|&i| keys[i]).collect();
                scope.spawn(move |_| self.store(&keys, &vs, dim));
            }
            Ok(())
        })?;
        for (i, f) in repeats {
            out.copy_within(f * dim..(f + 1) * dim, i * dim);
        }
        Ok(out)
    }

    /// Puts `vs` (one row of `dim` values per key) into the caches.
    fn store(&self, keys: &[[u8; 32]], vs: &[f32], dim: usize) {
        if let Some(d) = &self.disk {
            for (key, v) in keys.iter().zip(vs.chunks_exact(dim)) {
                d.put(key, v);
            }
        }
        if self.opts.cache_bytes == 0 {
            return;
        }
        let rows: Vec<Arc<[f32]>> = vs.chunks_exact(dim).map(Arc::from).collect();
        let mut memory = self.memory();
        for (key, v) in keys.iter().zip(rows) {
            memory.put(*key, v);
        }
    }

    /// One call, retried while it fails transiently; its output checked.
    fn call(&self, inputs: &[Input<'_>]) -> Result<Vec<f32>> {
        let name = self.f.name();
        let fail = |message: String| ShardError::Embedding {
            function: name.to_string(),
            message,
        };
        let mut wait = self.opts.backoff;
        let mut attempt = 0;
        let vs = loop {
            self.calls.fetch_add(1, Ordering::Relaxed);
            match self.f.embed(inputs) {
                Ok(vs) => break vs,
                Err(e) if e.transient && attempt < self.opts.retries => {
                    tracing::warn!(function = name, attempt, error = %e.message, "retrying");
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                Err(e) => return Err(fail(e.message)),
            }
        };
        let dim = self.f.dim();
        if vs.len() != inputs.len() * dim {
            return Err(fail(format!(
                "returned {} values for {} inputs of dimension {dim}",
                vs.len(),
                inputs.len()
            )));
        }
        if let Some(p) = vs.iter().position(|x| !x.is_finite()) {
            return Err(fail(format!(
                "input {} of the batch: value {} of its vector is {} (NaN and infinity are \
                 not allowed)",
                p / dim,
                p % dim,
                vs[p]
            )));
        }
        Ok(vs)
    }
}
