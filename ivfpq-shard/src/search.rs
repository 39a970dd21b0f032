//! Map-reduce search over a collection's shards: each shard returns its top `k` (the map,
//! [`Collection::search_shard`]); a k-way merge reduces them ([`crate::merge`]).
//! [`Collection::search`] runs both in one process: memory-mapped shards on rayon,
//! remote shards on up to `concurrency` threads, so their requests overlap.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ivfpq_core::IdSet;

use ivfpq_core::{IdFilter, SearchOptions, SearchParams};
use ivfpq_io::{OpenOptions, Shard};
use rayon::prelude::*;

use crate::collection::{Collection, Snapshot};
use crate::error::{Result, ShardError, invalid};
use crate::manifest::ShardEntry;
use crate::merged::MergedLists;
use crate::results::{ResultHit, SearchResults, SearchStats, merge};

impl Collection {
    /// Searches every shard of the pinned version and merges their results: the top `k`
    /// per query by (distance, id). With a shared model these are the results of one
    /// index over all the rows (the same candidates, reranked the same way).
    pub fn search(&self, queries: &[f32], opts: &SearchOptions) -> Result<SearchResults> {
        let snap = self.snapshot();
        let nq = self.check_search(&snap, queries, opts)?;
        let mut res = self.search_shards(&snap, nq, queries, opts)?;
        let n = snap.manifest.shards.len();
        for j in 0..snap.manifest.growing.len() {
            let part = self.search_growing(&snap, j, queries, opts)?;
            res.shards.push((n + j) as u32);
            for (mine, theirs) in res.hits.iter_mut().zip(part) {
                mine.extend(theirs);
                mine.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
                mine.truncate(opts.params.k);
            }
        }
        self.attach_labels(&snap, &mut res)?;
        Ok(res)
    }

    /// Fills in the string ids of the hits in shards that have them (one read of their
    /// labels a shard; growing rows carry theirs).
    fn attach_labels(&self, snap: &Snapshot, res: &mut SearchResults) -> Result<()> {
        let shards = &snap.manifest.shards;
        let mut wanted: std::collections::BTreeMap<usize, Vec<(usize, usize)>> = Default::default();
        for (q, hits) in res.hits.iter().enumerate() {
            for (r, h) in hits.iter().enumerate() {
                let s = h.shard as usize;
                if h.label.is_none() && shards.get(s).is_some_and(|e| e.labels) {
                    wanted.entry(s).or_default().push((q, r));
                }
            }
        }
        for (s, at) in wanted {
            let shard = self.open_entry(snap, &shards[s], 0)?;
            let keys: Vec<(u32, u32)> = at
                .iter()
                .map(|&(q, r)| (res.hits[q][r].partition, res.hits[q][r].offset))
                .collect();
            for ((q, r), label) in at.into_iter().zip(shard.labels_at(&keys)?) {
                res.hits[q][r].label = Some(label);
            }
        }
        Ok(())
    }

    /// The exact top `k` of growing segment `j` for each query, its deleted rows left out.
    fn search_growing(
        &self,
        snap: &Snapshot,
        j: usize,
        queries: &[f32],
        opts: &SearchOptions,
    ) -> Result<Vec<Vec<ResultHit>>> {
        let g = &snap.manifest.growing[j];
        let seg = self.segment(snap, g)?;
        let params = with_deleted(&opts.params, self.deleted_ids(g.deletion.as_ref())?);
        let metric = snap.manifest.metric();
        let index = (snap.manifest.shards.len() + j) as u32;
        let mut hits = seg.search(metric, queries, params.k, params.filter.as_ref(), index)?;
        if opts.vectors {
            for h in hits.iter_mut().flatten() {
                let mut v = seg.row(h.offset as usize).to_vec();
                if metric == ivfpq_core::Metric::Cosine {
                    // Shards store cosine rows at unit length; so do these results.
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().filter(|_| n > 0.0).for_each(|x| *x /= n);
                }
                h.vector = Some(v);
            }
        }
        Ok(hits)
    }

    /// The shards' part of [`Collection::search`].
    fn search_shards(
        &self,
        snap: &Arc<Snapshot>,
        nq: usize,
        queries: &[f32],
        opts: &SearchOptions,
    ) -> Result<SearchResults> {
        let snap = &**snap;
        let n = snap.manifest.shards.len();
        if n == 0 {
            return Ok(self.empty_results(snap, nq, opts, (Vec::new(), false)));
        }
        if let Some(res) = self.search_as_segments(snap, nq, queries, opts)? {
            return Ok(res);
        }
        let one = |i: usize| self.search_shard_in(snap, i, queries, opts);
        let parts: Vec<Result<SearchResults>> = if self.store.local_folder().is_some() {
            (0..n).into_par_iter().map(one).collect()
        } else {
            // Remote shards mostly wait on the network: a thread each, up to `concurrency`.
            let threads = self.opts.concurrency.clamp(1, n);
            let next = AtomicUsize::new(0);
            let mut done: Vec<(usize, Result<SearchResults>)> = std::thread::scope(|s| {
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| {
                            let mut mine = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= n {
                                    return mine;
                                }
                                mine.push((i, one(i)));
                            }
                        })
                    })
                    .collect();
                let mut all = Vec::with_capacity(n);
                for w in workers {
                    match w.join() {
                        Ok(mine) => all.extend(mine),
                        Err(_) => all.push((n, Err(invalid("shards", "a shard search panicked")))),
                    }
                }
                all
            });
            done.sort_by_key(|d| d.0);
            done.into_iter().map(|d| d.1).collect()
        };
        let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
        let mut merged = merge(&parts)?;
        // Requests of shards searched together overlap: waves add up only across rounds.
        let rounds = n.div_ceil(self.opts.concurrency.max(1)) as u64;
        if self.store.local_folder().is_none() {
            merged.stats.round_trips *= rounds;
        }
        Ok(merged)
    }

    /// Local shards of one model (or remote ones copied to the local cache) are searched
    /// as segments of one index (`crate::segments`): the same results as the map and
    /// merge, each probe's table made once. `None`: not applicable here.
    fn search_as_segments(
        &self,
        snap: &Snapshot,
        nq: usize,
        queries: &[f32],
        opts: &SearchOptions,
    ) -> Result<Option<SearchResults>> {
        let Some((model, _)) = &snap.model else {
            return Ok(None);
        };
        // Deleted rows are left out by a filter of ids. One filter serves every shard
        // unless an id deleted in one is live in another (an upsert's): then each shard
        // searches alone with its own.
        let mut opts = std::borrow::Cow::Borrowed(opts);
        if snap.manifest.shards.iter().any(|s| s.deletion.is_some()) {
            let Some(all) = self.global_deletions(snap)? else {
                return Ok(None);
            };
            let params = with_deleted(&opts.params, Some(all)).into_owned();
            opts.to_mut().params = params;
        }
        let opts = &*opts;
        let local = self.store.local_folder().is_some()
            || (self.opts.local_cache.is_some() && nq >= self.opts.download_min_queries);
        if !local {
            return Ok(None);
        }
        let shards = snap
            .manifest
            .shards
            .iter()
            .map(|e| {
                if e.rows == 0 {
                    return Ok(None);
                }
                self.open_entry(snap, e, nq).map(Some)
            })
            .collect::<Result<Vec<_>>>()?;
        if !crate::segments::searchable(&shards, model.nlist()) {
            return Ok(None);
        }
        let all: Vec<u32> = (0..shards.len() as u32).collect();
        let res = self.empty_results(snap, nq, opts, (all, false));
        let non_empty = shards.iter().flatten().count();
        let merged = (self.opts.merge_short_lists
            && MergedLists::worth(
                model,
                snap.manifest.rows(),
                non_empty,
                self.opts.cache_bytes,
            ))
        .then(|| snap.merged.get_or_init(|| MergedLists::new(model.nlist())));
        crate::segments::search(model, &shards, queries, opts, merged, res).map(Some)
    }

    /// Searches shard `i` of the pinned version alone: its top `k` per query, a partial
    /// result for [`crate::merge`]. Indexes from the shard count up name the growing
    /// segments, whose exact results [`crate::merge`] joins by distance.
    pub fn search_shard(
        &self,
        i: usize,
        queries: &[f32],
        opts: &SearchOptions,
    ) -> Result<SearchResults> {
        let snap = self.snapshot();
        let nq = self.check_search(&snap, queries, opts)?;
        let (n, g) = (snap.manifest.shards.len(), snap.manifest.growing.len());
        if i >= n + g {
            return Err(invalid(
                "shard",
                format!(
                    "{i} is out of range: version {} has {n} shards and {g} growing segments",
                    snap.manifest.version,
                ),
            ));
        }
        if i >= n {
            // A growing segment's exact results, numbered after the shards.
            let mut res = self.empty_results(&snap, nq, opts, (vec![i as u32], true));
            res.stats.shards = 1;
            res.hits = self.search_growing(&snap, i - n, queries, opts)?;
            return Ok(res);
        }
        let mut res = self.search_shard_in(&snap, i, queries, opts)?;
        self.attach_labels(&snap, &mut res)?;
        Ok(res)
    }

    /// The shard at index `i` of the pinned version, opened (once) and checked against
    /// what the manifest recorded of it.
    pub fn open_shard(&self, i: usize) -> Result<Arc<Shard>> {
        let snap = self.snapshot();
        let entry = snap.manifest.shards.get(i).ok_or_else(|| {
            invalid(
                "shard",
                format!(
                    "{i} is out of range ({} shards)",
                    snap.manifest.shards.len()
                ),
            )
        })?;
        self.open_entry(&snap, entry, 0)
    }

    fn check_search(
        &self,
        snap: &Snapshot,
        queries: &[f32],
        opts: &SearchOptions,
    ) -> Result<usize> {
        let p = &opts.params;
        p.check()?;
        let dim = snap.manifest.dim as usize;
        if queries.is_empty() || !queries.len().is_multiple_of(dim) {
            return Err(invalid(
                "queries",
                format!(
                    "{} values are not a whole number (≥ 1) of {dim}-d queries",
                    queries.len()
                ),
            ));
        }
        if !snap.manifest.shared_model() && p.refine_factor < 2 {
            return Err(invalid(
                "refine_factor",
                "this collection's shards were trained separately: their estimates do not \
                 compare, so every shard must rerank exactly (refine_factor ≥ 2)",
            ));
        }
        Ok(queries.len() / dim)
    }

    /// Results with no hits yet: a shard's partial result, or final results.
    fn empty_results(
        &self,
        snap: &Snapshot,
        nq: usize,
        opts: &SearchOptions,
        (shards, partial): (Vec<u32>, bool),
    ) -> SearchResults {
        let p = &opts.params;
        SearchResults {
            k: p.k,
            candidates: if p.refine_factor > 1 {
                p.k.saturating_mul(p.refine_factor)
            } else {
                p.k
            },
            partial,
            dim: snap.manifest.dim as usize,
            metric: snap.manifest.metric(),
            model: snap.model.as_ref().map(|(_, h)| *h),
            exact: p.refine_factor > 1,
            shards,
            hits: vec![Vec::new(); nq],
            stats: SearchStats::default(),
        }
    }

    /// The map step for shard `i`: its candidates, with estimates and exact distances.
    fn search_shard_in(
        &self,
        snap: &Snapshot,
        i: usize,
        queries: &[f32],
        opts: &SearchOptions,
    ) -> Result<SearchResults> {
        let entry = &snap.manifest.shards[i];
        let nq = queries.len() / snap.manifest.dim as usize;
        let mut res = self.empty_results(snap, nq, opts, (vec![i as u32], true));
        res.stats.shards = 1;
        if entry.rows == 0 {
            return Ok(res);
        }
        let shard = self.open_entry(snap, entry, nq)?;
        let params = with_deleted(&opts.params, self.deleted_ids(entry.deletion.as_ref())?);
        let out = shard.candidates(queries, &params, opts.vectors)?;
        for (q, cands) in out.candidates.into_iter().enumerate() {
            res.hits[q] = cands
                .into_iter()
                .map(|c| ResultHit {
                    id: c.id,
                    distance: c.exact.unwrap_or(c.estimate),
                    estimate: c.estimate,
                    shard: i as u32,
                    partition: c.list,
                    offset: c.offset,
                    vector: c.vector,
                    label: None,
                })
                .collect();
        }
        res.stats.requests = out.stats.requests;
        res.stats.round_trips = out.stats.round_trips;
        res.stats.bytes_fetched = out.stats.bytes_fetched;
        res.stats.partitions = out.stats.partitions;
        Ok(res)
    }

    /// Opens `entry` (or returns its open handle). A remote shard is copied to the local
    /// cache folder first when one is set and the batch has enough queries.
    pub(crate) fn open_entry(
        &self,
        snap: &Snapshot,
        entry: &ShardEntry,
        nq: usize,
    ) -> Result<Arc<Shard>> {
        let download = self.store.local_folder().is_none()
            && self.opts.local_cache.is_some()
            && nq >= self.opts.download_min_queries;
        let key = if download {
            format!("local:{}", entry.path)
        } else {
            entry.path.clone()
        };
        if let Some(s) = self
            .handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(s.clone());
        }
        let shard = if download {
            let path = self.cached_copy(entry)?;
            Shard::open(&path.display().to_string(), &OpenOptions::default())?
        } else {
            // One budget for all remote shards: an equal part each.
            let n = snap.manifest.shards.len().max(1) as u64;
            Shard::open_source(self.store.source(&entry.path)?, self.opts.cache_bytes / n)?
        };
        verify_entry(&shard, entry, snap)?;
        let shard = Arc::new(shard);
        self.handles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, shard.clone());
        Ok(shard)
    }

    /// The local copy of a remote shard, downloaded once (named by its checksum too, so a
    /// stale copy is never taken for it).
    fn cached_copy(&self, entry: &ShardEntry) -> Result<PathBuf> {
        let folder = self
            .opts
            .local_cache
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&folder).map_err(|e| ivfpq_io::IoError::Os {
            path: folder.clone(),
            source: e,
        })?;
        let base = entry.path.rsplit('/').next().unwrap_or(&entry.path);
        let path = folder.join(format!("{:08x}-{base}", entry.checksum));
        let fresh = std::fs::metadata(&path).is_ok_and(|m| m.len() == entry.bytes);
        if !fresh {
            tracing::info!(shard = %entry.path, bytes = entry.bytes, "copying shard to the local cache");
            self.store.download(&entry.path, &path)?;
        }
        Ok(path)
    }
}

/// `params` whose filter also refuses the ids in `deleted`.
fn with_deleted(
    params: &SearchParams,
    deleted: Option<Arc<IdSet>>,
) -> std::borrow::Cow<'_, SearchParams> {
    let Some(d) = deleted else {
        return std::borrow::Cow::Borrowed(params);
    };
    let filter = match &params.filter {
        None => IdFilter::Deny(d),
        Some(IdFilter::Deny(u)) => IdFilter::Deny(Arc::new(u.union(&d).copied().collect())),
        Some(IdFilter::Allow(a)) => IdFilter::Allow(Arc::new(a.difference(&d).copied().collect())),
    };
    std::borrow::Cow::Owned(params.clone().with_filter(filter))
}

/// Refuses a shard file that is not the one the manifest recorded.
pub(crate) fn verify_entry(shard: &Shard, entry: &ShardEntry, snap: &Snapshot) -> Result<()> {
    let mut diffs = Vec::new();
    let f = shard.footer();
    if f.rows != entry.rows {
        diffs.push(format!("{} rows, not {}", f.rows, entry.rows));
    }
    if f.file_len != entry.bytes {
        diffs.push(format!("{} bytes, not {}", f.file_len, entry.bytes));
    }
    if f.dir_crc != entry.checksum {
        diffs.push(format!(
            "checksum {:08x}, not {:08x}",
            f.dir_crc, entry.checksum
        ));
    }
    let h = format!("{:016x}", shard.header().model_hash);
    if h != entry.model_hash {
        diffs.push(format!("model {h}, not {}", entry.model_hash));
    }
    if let Some((_, hash)) = &snap.model
        && shard.header().model_hash != hash.short()
    {
        diffs.push(format!(
            "model {h}, not the collection's {:016x}",
            hash.short()
        ));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    Err(ShardError::ShardMismatch {
        shard: shard.name().to_string(),
        message: format!("differs from the manifest: {}", diffs.join(", ")),
    })
}

impl ivfpq_core::Searcher for Collection {
    type Error = ShardError;

    /// The dimension of the pinned version.
    fn dim(&self) -> usize {
        self.snapshot().manifest.dim as usize
    }

    fn metric(&self) -> ivfpq_core::Metric {
        self.snapshot().manifest.metric()
    }

    fn nearest(
        &self,
        queries: &[f32],
        params: &ivfpq_core::SearchParams,
    ) -> Result<Vec<Vec<ivfpq_core::Neighbor>>> {
        let res = self.search(queries, &SearchOptions::new(params.clone()))?;
        Ok(res
            .hits
            .into_iter()
            .map(|q| {
                q.into_iter()
                    .map(|h| ivfpq_core::Neighbor {
                        id: h.id,
                        distance: h.distance,
                    })
                    .collect()
            })
            .collect())
    }
}
