//! A memory-mapped shard searched in place: its lists and rows straight from the mapping,
//! with no per-search maps of fetched blocks. Several such shards of one model can be
//! searched as one (`ivfpq_core::Lists` segments), each probe's table made once for all.

use std::sync::Mutex;

use ivfpq_core::{ListRef, Lists, QueryBatch, Rows, SearchParams, VectorStorage};

use super::super::block::{ListBlock, stored_row};
use super::{QueryOutput, ReadStats, Shard};
use crate::error::{IoError, Result};

/// A local shard's lists and rows, read in place. Each list's checksum is verified the
/// first time any search reads it, and each row's every time it is read. A failed check
/// cannot stop a scan midway; the view records it, skips the data, and
/// [`MappedShard::finish`] returns it, so the search that read it fails.
pub struct MappedShard<'s> {
    shard: &'s Shard,
    file: &'s [u8],
    error: Mutex<Option<IoError>>,
}

impl Shard {
    /// The in-place view of a memory-mapped shard (`None` for a remote one).
    pub fn mapped(&self) -> Option<MappedShard<'_>> {
        Some(MappedShard {
            shard: self,
            file: self.source.mapped()?,
            error: Mutex::new(None),
        })
    }
}

impl Shard {
    /// [`Shard::query`] of a memory-mapped shard, read in place: no maps of fetched
    /// blocks and rows, and every probed list verified only the first time.
    pub(super) fn query_mapped(
        &self,
        view: &MappedShard<'_>,
        queries: &[f32],
        params: &SearchParams,
        vectors: bool,
    ) -> Result<QueryOutput> {
        let refine = params.refine_factor > 1;
        self.check_vectors(params, vectors)?;
        let batch = QueryBatch::new(&self.model, queries, params)?;
        let cands = batch.scan(view);
        let hits = batch.rerank(view, &cands);
        let mut scratch = vec![0.0f32; self.model.dim()];
        let vectors = vectors.then(|| {
            hits.iter()
                .map(|q| {
                    q.iter()
                        .map(|h| {
                            view.row(h.list as usize, h.offset as usize, &mut scratch)
                                .map(<[f32]>::to_vec)
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .collect()
        });
        view.finish()?;
        let stats = ReadStats {
            partitions: batch.probed(),
            rows: if refine { batch.exact_distances() } else { 0 },
            ..ReadStats::default()
        };
        Ok(QueryOutput {
            hits,
            labels: None,
            vectors,
            stats,
        })
    }
}

impl<'s> MappedShard<'s> {
    /// The shard.
    pub fn shard(&self) -> &'s Shard {
        self.shard
    }

    fn fail(&self, e: IoError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }

    /// The first failed check of any read so far, if any.
    pub fn finish(&self) -> Result<()> {
        match self.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Partition `l`'s verified list block (`None` if empty or damaged).
    fn block(&self, l: usize) -> Option<&'s ListBlock> {
        let shard = self.shard;
        let cell = shard.blocks.get(l)?;
        if let Some(b) = cell.get() {
            return Some(b);
        }
        if shard.dir.entries.get(l)?.rows == 0 {
            return None;
        }
        let range = shard.list_range(l as u32);
        let bytes = match shard.source.read_ranges(std::slice::from_ref(&range)) {
            Ok(mut v) => v.pop().unwrap_or_default(),
            Err(e) => {
                self.fail(e);
                return None;
            }
        };
        match shard.check_list(l as u32, bytes) {
            Ok(b) => {
                // Another thread may have set it first; both verified the same bytes.
                let _ = cell.set(b);
                cell.get()
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// The stored bytes of row `off` of partition `l`, checked against its row CRC.
    fn row_bytes(&self, l: usize, off: usize) -> Option<&'s [u8]> {
        let block = self.block(l)?;
        let r = self.shard.row_range(l as u32, off as u32);
        let b = self.file.get(r.start as usize..r.end as usize)?;
        match self.shard.check_row_bytes((l as u32, off as u32), b, block) {
            Ok(()) => Some(b),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }
}

impl Lists for MappedShard<'_> {
    fn list(&self, l: usize) -> Option<ListRef<'_>> {
        Some(self.block(l)?.list_ref())
    }
}

impl Rows for MappedShard<'_> {
    fn row<'a>(&'a self, l: usize, off: usize, scratch: &'a mut [f32]) -> Option<&'a [f32]> {
        stored_row(self.row_bytes(l, off)?, self.shard.header.storage, scratch)
    }

    fn prefetch(&self, l: usize, off: usize) {
        if self.shard.header.storage == VectorStorage::None
            || self
                .shard
                .dir
                .entries
                .get(l)
                .is_none_or(|e| off as u64 >= e.rows)
        {
            return;
        }
        let r = self.shard.row_range(l as u32, off as u32);
        if let Some(b) = self.file.get(r.start as usize..r.end as usize) {
            ivfpq_simd::prefetch(b);
        }
    }
}
