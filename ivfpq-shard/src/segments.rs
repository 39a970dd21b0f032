//! Memory-mapped shards of one model searched as one index: shard `s`'s list of partition
//! `l` is list `s · nlist + l` (`ivfpq_core::Lists` segments), so every probe's table is
//! made once for all shards and each query batch reads each probed list once. Each shard
//! keeps its own candidates, so the results are those of searching each shard alone and
//! merging: the map-reduce search's, in one pass.

use std::sync::Arc;

use ivfpq_core::{Hit, IvfPqModel, ListRef, Lists, QueryBatch, Rows, VectorStorage};
use ivfpq_io::{MappedShard, Shard};

use crate::error::{Result, invalid};
use crate::merged::{MergedLists, MergedView};
use crate::results::{ResultHit, SearchResults, SearchStats};
use ivfpq_core::SearchOptions;

/// The shards' in-place views, one segment each (`None`: an empty shard).
pub(crate) struct Segments<'a> {
    views: Vec<Option<MappedShard<'a>>>,
    nlist: usize,
}

impl Segments<'_> {
    fn view(&self, id: usize) -> Option<(&MappedShard<'_>, usize)> {
        let v = self.views.get(id / self.nlist)?.as_ref()?;
        Some((v, id % self.nlist))
    }

    /// Shards (segments), empty ones included.
    pub(crate) fn shards(&self) -> usize {
        self.views.len()
    }

    /// Partitions of the model.
    pub(crate) fn nlist(&self) -> usize {
        self.nlist
    }

    /// Rows that shard `s` stores in partition `l`, as its directory says.
    pub(crate) fn list_rows(&self, s: usize, l: usize) -> u64 {
        self.views
            .get(s)
            .and_then(Option::as_ref)
            .and_then(|v| v.shard().directory().entries.get(l))
            .map_or(0, |e| e.rows)
    }
}

impl Lists for Segments<'_> {
    fn list(&self, id: usize) -> Option<ListRef<'_>> {
        let (v, l) = self.view(id)?;
        v.list(l)
    }

    fn segments(&self) -> usize {
        self.views.len()
    }
}

impl Rows for Segments<'_> {
    fn row<'a>(&'a self, id: usize, off: usize, scratch: &'a mut [f32]) -> Option<&'a [f32]> {
        let (v, l) = self.view(id)?;
        v.row(l, off, scratch)
    }

    fn prefetch(&self, id: usize, off: usize) {
        if let Some((v, l)) = self.view(id) {
            v.prefetch(l, off);
        }
    }
}

/// Whether `shards` (by manifest index; `None` for empty ones) can be searched as
/// segments: all memory-mapped, and their list ids fit in 32 bits.
pub(crate) fn searchable(shards: &[Option<Arc<Shard>>], nlist: usize) -> bool {
    shards.iter().flatten().all(|s| s.mapped().is_some())
        && nlist
            .checked_mul(shards.len())
            .is_some_and(|n| n <= u32::MAX as usize)
}

/// Searches `shards` (all encoded with `model`) as segments of one index, through
/// `merged` lists when given (`crate::merged`).
pub(crate) fn search(
    model: &Arc<IvfPqModel>,
    shards: &[Option<Arc<Shard>>],
    queries: &[f32],
    opts: &SearchOptions,
    merged: Option<&MergedLists>,
    mut res: SearchResults,
) -> Result<SearchResults> {
    let p = &opts.params;
    if (p.refine_factor > 1 || opts.vectors)
        && shards
            .iter()
            .flatten()
            .any(|s| s.header().storage == VectorStorage::None)
    {
        return Err(invalid(
            if opts.vectors {
                "vectors"
            } else {
                "refine_factor"
            },
            "a shard of this collection stores no full vectors",
        ));
    }
    let nlist = model.nlist();
    let seg = Segments {
        views: shards
            .iter()
            .map(|s| s.as_ref().and_then(|s| s.mapped()))
            .collect(),
        nlist,
    };
    let batch = QueryBatch::new(model, queries, p)?;
    let view = merged.and_then(|m| MergedView::new(&seg, m, model));
    let hits = match &view {
        // Merged lists are numbered by partition; their rows map back to each shard's.
        Some(view) => {
            let hits = batch.rerank(view, &batch.scan(view));
            result_hits(hits, &seg, (opts.vectors, model.dim()), |h| {
                view.locate(h.list as usize, h.offset as usize)
            })
        }
        None => {
            let hits = batch.rerank(&seg, &batch.scan(&seg));
            result_hits(hits, &seg, (opts.vectors, model.dim()), |h| {
                let l = h.list as usize;
                Some((l / nlist, l % nlist, h.offset as usize))
            })
        }
    };
    // A damaged list or row skipped during the scan fails the search here.
    for v in seg.views.iter().flatten() {
        v.finish()?;
    }
    res.hits = hits;
    res.stats = SearchStats {
        shards: shards.len() as u64,
        partitions: batch.probed(),
        ..SearchStats::default()
    };
    Ok(res)
}

/// Each query's hits as results, `locate` giving each hit's shard, partition and offset
/// in the shard; with `vectors`, each with its stored row (`dim` values).
fn result_hits(
    hits: Vec<Vec<Hit>>,
    seg: &Segments<'_>,
    (vectors, dim): (bool, usize),
    locate: impl Fn(&Hit) -> Option<(usize, usize, usize)>,
) -> Vec<Vec<ResultHit>> {
    let mut scratch = vec![0.0f32; dim];
    hits.into_iter()
        .map(|q| {
            q.into_iter()
                .filter_map(|h| {
                    // Every hit was read from a row `locate` knows.
                    let (s, l, off) = locate(&h)?;
                    Some(ResultHit {
                        id: h.id,
                        distance: h.distance,
                        estimate: h.estimate,
                        shard: s as u32,
                        partition: l as u32,
                        offset: off as u32,
                        vector: vectors.then(|| {
                            seg.row(s * seg.nlist + l, off, &mut scratch)
                                .map(<[f32]>::to_vec)
                                .unwrap_or_default()
                        }),
                        label: None,
                    })
                })
                .collect()
        })
        .collect()
}
