//! Where search finds inverted lists and stored vectors.
//!
//! Search does not care whether a partition lives in a `Vec`, in a memory-mapped shard
//! file or in bytes just fetched from object storage: it reads through [`Lists`] (codes
//! and ids, for the scan) and [`Rows`] (full vectors, for refine). Keeping the two apart
//! lets a remote reader fetch codes first and only the few candidate rows afterwards.

use half::f16;
use half::slice::HalfFloatSliceExt;
use ivfpq_simd::Pq4Layout;

/// Codes and ids of one partition, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct ListRef<'a> {
    /// Codes in whole blocks of 32 vectors: 8-bit as `ivfpq_simd::pack_pq8_blocks` lays
    /// them out (`ceil(len / 32) · 32 · m` bytes), 4-bit as `ivfpq_simd::pack_pq4_blocks`
    /// does, reordered as `layout` says.
    pub codes: &'a [u8],
    /// One id per vector.
    pub ids: &'a [u64],
    /// RaBitQ only: the factors of each block of codes; empty for PQ.
    pub aux: &'a [u8],
    /// RaBitQ only: one record a vector (its `B`-bit code); empty for PQ.
    pub records: &'a [u8],
    /// How 4-bit PQ codes order each 64-byte chunk (`Blocked` for other codes).
    pub layout: Pq4Layout,
}

/// Codes and ids per partition.
///
/// A partition may come in several lists, one per *segment*: shards encoded with one
/// model and searched as one collection keep each partition's rows in every shard. List
/// `s · nlist + l` is segment `s` of partition `l`; a probe of `l` computes its table once
/// and scans every segment's list with it. Candidates and [`Rows`] name lists this way.
pub trait Lists: Sync {
    /// List `id` (`segment · nlist + partition`), or `None` when it is not available to
    /// this search (it is then skipped, as an empty list would be).
    fn list(&self, id: usize) -> Option<ListRef<'_>>;

    /// Segments per partition; 1 (the default) when each partition is one list, so that
    /// list ids are partition numbers.
    fn segments(&self) -> usize {
        1
    }
}

/// The non-empty lists of partition `l` of `nlist`, one per segment, with their ids.
pub(crate) fn segment_lists<'l>(
    lists: &'l dyn Lists,
    nlist: usize,
    l: u32,
) -> impl Iterator<Item = (u32, ListRef<'l>)> + Clone {
    (0..lists.segments()).filter_map(move |s| {
        let id = s * nlist + l as usize;
        let part = lists.list(id).filter(|p| !p.ids.is_empty())?;
        Some((u32::try_from(id).ok()?, part))
    })
}

/// The lists of the partitions a scan probes, taken in order: each partition's lists
/// (one per segment) are looked up once, a probe ahead, and their codes started on their
/// way then (a list starts cold: the hardware prefetcher only follows once it streams).
pub(crate) struct ProbeLists<'l> {
    lists: &'l dyn Lists,
    nlist: usize,
    current: Vec<(u32, ListRef<'l>)>,
    /// The partition looked up ahead, and its lists.
    next: Option<u32>,
    ahead: Vec<(u32, ListRef<'l>)>,
    /// Prefetch whole lists into L2 rather than their first bytes into L1.
    whole_to_l2: bool,
}

/// Code bytes of the next partition prefetched while the current one is scanned, split
/// over its segments' lists: each segment's first 4 KB would stall on the line fill
/// buffers at 8 segments.
const PREFETCH_CODES: usize = 4096;

/// The least of a segment's codes prefetched: four cache lines.
const PREFETCH_MIN: usize = 256;

impl<'l> ProbeLists<'l> {
    pub(crate) fn new(lists: &'l dyn Lists, nlist: usize) -> Self {
        ProbeLists {
            lists,
            nlist,
            current: Vec::new(),
            next: None,
            ahead: Vec::new(),
            whole_to_l2: false,
        }
    }

    /// Prefetches the next partition's lists whole into L2, not their first bytes into L1
    /// (for a scan that reads each list for one query, where the list need not stay in L1).
    pub(crate) fn whole_to_l2(mut self) -> Self {
        self.whole_to_l2 = true;
        self
    }

    /// The non-empty lists of partition `l`, with their ids; starts those of `next` (the
    /// partition scanned after `l`) on their way.
    pub(crate) fn advance(&mut self, l: u32, next: Option<u32>) -> &[(u32, ListRef<'l>)] {
        if self.next == Some(l) {
            std::mem::swap(&mut self.current, &mut self.ahead);
        } else {
            self.current.clear();
            self.current
                .extend(segment_lists(self.lists, self.nlist, l));
        }
        self.ahead.clear();
        self.next = next;
        if let Some(n) = next {
            self.ahead.extend(segment_lists(self.lists, self.nlist, n));
            let each = PREFETCH_CODES
                .div_ceil(self.ahead.len().max(1))
                .max(PREFETCH_MIN);
            for (_, part) in &self.ahead {
                if self.whole_to_l2 {
                    ivfpq_simd::prefetch_l2(part.codes);
                } else {
                    ivfpq_simd::prefetch(&part.codes[..part.codes.len().min(each)]);
                }
            }
        }
        &self.current
    }
}

/// Full vectors per `(list, offset)` (list ids as [`Lists`] numbers them), in the space
/// the index searches (unit rows for cosine).
pub trait Rows: Sync {
    /// Row `off` of partition `l`, borrowed when stored as f32 or converted into
    /// `scratch` (`dim` long) otherwise; `None` when not stored.
    fn row<'a>(&'a self, l: usize, off: usize, scratch: &'a mut [f32]) -> Option<&'a [f32]>;

    /// Hints that row `off` of partition `l` is read soon (refine asks for all its
    /// candidates first, so their cache misses overlap). The default does nothing.
    fn prefetch(&self, _l: usize, _off: usize) {}
}

/// A stored row as f32: borrowed when already f32, converted into `scratch` from f16.
pub fn row_as_f32<'a>(stored: VectorsRef<'a>, scratch: &'a mut [f32]) -> Option<&'a [f32]> {
    match stored {
        VectorsRef::F32(x) => Some(x),
        VectorsRef::F16(x) => {
            // `half` converts with F16C/NEON when the CPU has it (8 lanes an instruction).
            let out = scratch.get_mut(..x.len())?;
            x.convert_to_f32_slice(out);
            Some(out)
        }
        VectorsRef::None => None,
    }
}

/// One stored row, borrowed, in its stored precision.
#[derive(Clone, Copy, Debug)]
pub enum VectorsRef<'a> {
    /// 4 bytes a coordinate.
    F32(&'a [f32]),
    /// 2 bytes a coordinate.
    F16(&'a [f16]),
    /// Not stored.
    None,
}
