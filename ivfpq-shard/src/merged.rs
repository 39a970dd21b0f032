//! Short lists merged in memory.
//!
//! Shards of one model searched as segments (`crate::segments`) scan every shard's list of
//! each probed partition. When those lists are short (glove50's 400,000 rows in 8 shards
//! over 631 partitions: 79 rows a list) the scan pays per list rather than per row: a
//! partly filled last block of 32 codes in each, and one lookup, kernel call and threshold
//! check each. A collection whose lists average under [`MERGE_BELOW_ROWS`] rows a shard
//! therefore merges each partition's lists into one, in memory, the first time a search
//! probes it: codes repacked into whole blocks (in the active kernel's layout), ids
//! concatenated. The merged lists live as long as the collection's pinned version (its
//! shards never change); rows for refine are still read from each shard in place.
//!
//! The scan sees the same codes with the same estimates, in the same order (shard by
//! shard within a partition), so the results are those of the segments' search.

use std::sync::OnceLock;

use ivfpq_core::{IvfPqModel, ListRef, Lists, Rows};
use ivfpq_simd::{Kernels, Pq4Layout};

use crate::segments::Segments;

/// Mean rows of a partition's list in one shard under which lists are merged: at 256 rows
/// (8 blocks of 32) a list's partly filled last block costs at most 1/8 of its scan.
pub(crate) const MERGE_BELOW_ROWS: u64 = 256;

/// The merged lists of one pinned version, one slot a partition, each filled the first
/// time a search probes it.
pub(crate) struct MergedLists {
    lists: Vec<OnceLock<Merged>>,
}

impl MergedLists {
    pub(crate) fn new(nlist: usize) -> Self {
        MergedLists {
            lists: (0..nlist).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Whether `rows` rows in `shards` non-empty shards of `model` are worth merging
    /// within `budget` bytes: PQ codes (RaBitQ keeps per-block factors that are not
    /// repacked here) in lists that average under [`MERGE_BELOW_ROWS`] rows, whose codes
    /// and ids fit the budget.
    pub(crate) fn worth(model: &IvfPqModel, rows: u64, shards: usize, budget: u64) -> bool {
        let Some(pq) = model.pq() else {
            return false;
        };
        let code = if pq.nbits() == 4 {
            pq.m().div_ceil(2)
        } else {
            pq.m()
        } as u64;
        let lists = (model.nlist() as u64).saturating_mul(shards as u64);
        shards > 1
            && rows < MERGE_BELOW_ROWS.saturating_mul(lists)
            && rows.saturating_mul(code + 8) <= budget
    }
}

/// One partition's lists of every shard as one list.
struct Merged {
    /// Codes in whole blocks, as `ListRef::codes` lays them out.
    codes: Vec<u8>,
    ids: Vec<u64>,
    /// Where each shard's rows start, and the end (shards + 1 entries, non-decreasing).
    starts: Vec<u32>,
    layout: Pq4Layout,
}

impl Merged {
    /// The shard and its offset of merged row `off`.
    fn locate(&self, off: usize) -> Option<(usize, usize)> {
        if off >= *self.starts.last()? as usize {
            return None;
        }
        // The last shard starting at or before `off` (empty shards start where the next
        // one does, so they are passed over).
        let s = self.starts.partition_point(|&st| st as usize <= off) - 1;
        Some((s, off - self.starts[s] as usize))
    }
}

/// The shards' segments seen through merged lists: list ids are partitions (one segment).
pub(crate) struct MergedView<'a> {
    seg: &'a Segments<'a>,
    merged: &'a MergedLists,
    /// Sub-quantizers and whether codes are 4-bit.
    m: usize,
    four_bit: bool,
    /// The layout merged 4-bit lists are written in: the active kernel's.
    layout: Pq4Layout,
}

impl<'a> MergedView<'a> {
    /// `None` unless `model` has PQ codes.
    pub(crate) fn new(
        seg: &'a Segments<'a>,
        merged: &'a MergedLists,
        model: &IvfPqModel,
    ) -> Option<Self> {
        let pq = model.pq()?;
        let four_bit = pq.nbits() == 4;
        let layout = match Kernels::try_active() {
            Ok(k) if four_bit => k.pq4_layout(),
            _ => Pq4Layout::Blocked,
        };
        Some(MergedView {
            seg,
            merged,
            m: pq.m(),
            four_bit,
            layout,
        })
    }

    /// Partition `l`'s merged list, merged now if no search has yet; `None` when a
    /// shard's list of it failed its check (that shard's view recorded why, and the
    /// search fails; nothing is kept, so a later search checks again).
    fn merged(&self, l: usize) -> Option<&'a Merged> {
        let cell = self.merged.lists.get(l)?;
        if let Some(m) = cell.get() {
            return Some(m);
        }
        let m = self.merge(l)?;
        // Another thread may have merged it first, from the same verified lists.
        let _ = cell.set(m);
        cell.get()
    }

    fn merge(&self, l: usize) -> Option<Merged> {
        let m = self.m;
        let mut flat = Vec::new();
        let mut codes = Vec::new();
        let mut ids: Vec<u64> = Vec::new();
        let mut starts = vec![0u32];
        let mut code = vec![0u8; m];
        for s in 0..self.seg.shards() {
            if self.seg.list_rows(s, l) > 0 {
                let part = self.seg.list(s * self.seg.nlist() + l)?;
                for i in 0..part.ids.len() {
                    if self.four_bit {
                        for (j, c) in code.iter_mut().enumerate() {
                            *c = ivfpq_simd::pq4_code(part.codes, part.layout, m, i, j);
                        }
                        ivfpq_simd::pq4_push(&mut codes, self.layout, m, ids.len() + i, &code);
                    } else {
                        ivfpq_simd::unpack_pq8_code(part.codes, m, i, &mut code);
                        flat.extend_from_slice(&code);
                    }
                }
                ids.extend_from_slice(part.ids);
            }
            starts.push(u32::try_from(ids.len()).ok()?);
        }
        if !self.four_bit {
            codes = ivfpq_simd::pack_pq8_blocks(&flat, m);
        }
        Some(Merged {
            codes,
            ids,
            starts,
            layout: if self.four_bit {
                self.layout
            } else {
                Pq4Layout::Blocked
            },
        })
    }

    /// The shard, partition and offset in the shard of row `off` of merged list `l`.
    pub(crate) fn locate(&self, l: usize, off: usize) -> Option<(usize, usize, usize)> {
        let (s, o) = self.merged(l)?.locate(off)?;
        Some((s, l, o))
    }
}

impl Lists for MergedView<'_> {
    fn list(&self, l: usize) -> Option<ListRef<'_>> {
        let m = self.merged(l)?;
        Some(ListRef {
            codes: &m.codes,
            ids: &m.ids,
            aux: &[],
            records: &[],
            layout: m.layout,
        })
    }
}

impl Rows for MergedView<'_> {
    fn row<'r>(&'r self, l: usize, off: usize, scratch: &'r mut [f32]) -> Option<&'r [f32]> {
        let (s, l, o) = self.locate(l, off)?;
        self.seg.row(s * self.seg.nlist() + l, o, scratch)
    }

    fn prefetch(&self, l: usize, off: usize) {
        if let Some((s, l, o)) = self.locate(l, off) {
            self.seg.prefetch(s * self.seg.nlist() + l, o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Merged;
    use ivfpq_simd::Pq4Layout;

    #[test]
    fn locate_skips_empty_shards() {
        let m = Merged {
            codes: Vec::new(),
            ids: vec![0; 7],
            starts: vec![0, 0, 3, 3, 7],
            layout: Pq4Layout::Blocked,
        };
        let got: Vec<_> = (0..8).map(|o| m.locate(o)).collect();
        let want = [
            Some((1, 0)),
            Some((1, 1)),
            Some((1, 2)),
            Some((3, 0)),
            Some((3, 1)),
            Some((3, 2)),
            Some((3, 3)),
            None,
        ];
        assert_eq!(got, want);
    }
}
