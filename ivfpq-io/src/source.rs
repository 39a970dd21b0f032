//! Byte sources: where a shard's bytes come from (compare tantivy's `Directory` and
//! `FileHandle`). A local file is memory-mapped and read without copies; an object-store
//! URL is read with ranged GETs. Readers ask for many ranges at once, so a remote source
//! can issue them concurrently: one round trip, however many ranges.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use memmap2::Mmap;

use crate::error::{IoError, Result};

/// Read-only random access to one immutable file.
pub trait ByteSource: Send + Sync {
    /// The path or URL, for error messages.
    fn name(&self) -> &str;

    /// The last `n` bytes (fewer if the file is shorter) and the file length, in one
    /// request.
    fn read_tail(&self, n: u64) -> Result<(Bytes, u64)>;

    /// Reads every range in one round trip (concurrently where the source allows) and
    /// returns them in order. Ranges must lie within the file.
    fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>>;

    /// Whether reads are local and free (memory-mapped): such sources need no cache and
    /// no request coalescing.
    fn is_local(&self) -> bool;

    /// Requests and bytes read so far.
    fn counters(&self) -> &Counters;

    /// The whole file as one slice, for a memory-mapped source (`None` otherwise), so
    /// that search can read it in place without a request per range.
    fn mapped(&self) -> Option<&[u8]> {
        None
    }
}

/// Cumulative request and byte counts of a source.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
}

impl Counters {
    /// Records one request of `bytes` bytes.
    pub fn record(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `(requests, bytes)` so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// A local file, memory-mapped. Ranges are zero-copy views of the mapping.
pub struct MmapSource {
    name: String,
    map: Bytes,
    counters: Counters,
}

impl MmapSource {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<MmapSource> {
        let file = File::open(path).map_err(|e| IoError::os(path, e))?;
        // SAFETY: shard files are immutable once renamed into place (writers only ever
        // create new files), so the mapped bytes do not change under the reader. A file
        // truncated by another process would fault on access; that is the documented
        // contract of memory-mapped readers (FAISS and Lance map files the same way).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| IoError::os(path, e))?;
        Ok(MmapSource {
            name: path.display().to_string(),
            map: Bytes::from_owner(map),
            counters: Counters::default(),
        })
    }

    /// Serves an in-memory copy of a file (tests, and bytes already fetched).
    pub fn from_bytes(name: &str, bytes: Bytes) -> MmapSource {
        MmapSource {
            name: name.to_string(),
            map: bytes,
            counters: Counters::default(),
        }
    }

    fn slice(&self, r: &Range<u64>) -> Result<Bytes> {
        let len = self.map.len() as u64;
        if r.start > r.end || r.end > len {
            return Err(IoError::format(
                &self.name,
                "read",
                format!("range {r:?} outside a {len}-byte file"),
            ));
        }
        Ok(self.map.slice(r.start as usize..r.end as usize))
    }
}

impl ByteSource for MmapSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_tail(&self, n: u64) -> Result<(Bytes, u64)> {
        let len = self.map.len() as u64;
        let tail = self.slice(&(len - n.min(len)..len))?;
        Ok((tail, len))
    }

    fn read_ranges(&self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        ranges.iter().map(|r| self.slice(r)).collect()
    }

    fn mapped(&self) -> Option<&[u8]> {
        Some(&self.map)
    }

    fn is_local(&self) -> bool {
        true
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

/// Merges sorted-by-start `ranges` into fewer requests while the bytes read in gaps stay
/// within `waste` × the bytes asked for (gaps of at most `free_gap` bytes always merge).
/// Returns the merged ranges; smallest gaps are merged first, so the budget buys the
/// most requests.
pub(crate) fn coalesce(ranges: &[Range<u64>], waste: f64, free_gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.iter().filter(|r| r.end > r.start).cloned().collect();
    sorted.sort_by_key(|r| (r.start, r.end));
    // Overlapping or touching ranges join first.
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    if merged.len() < 2 {
        return merged;
    }
    let needed: u64 = merged.iter().map(|r| r.end - r.start).sum();
    let mut budget = (needed as f64 * waste) as u64;
    let mut gaps: Vec<(u64, usize)> = merged
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1].start - w[0].end, i))
        .collect();
    gaps.sort_unstable();
    let mut join = vec![false; merged.len() - 1];
    for (gap, i) in gaps {
        if gap <= free_gap {
            join[i] = true;
        } else if gap <= budget {
            budget -= gap;
            join[i] = true;
        } else {
            break;
        }
    }
    let mut out: Vec<Range<u64>> = Vec::new();
    for (i, r) in merged.into_iter().enumerate() {
        match out.last_mut() {
            Some(last) if join[i - 1] => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// Reads `ranges` from `source` through coalesced requests, and returns one `Bytes` per
/// asked range (zero-copy slices of the merged reads). Also returns the bytes fetched.
pub(crate) fn read_coalesced(
    source: &dyn ByteSource,
    ranges: &[Range<u64>],
) -> Result<(Vec<Bytes>, u64)> {
    if source.is_local() {
        let out = source.read_ranges(ranges)?;
        return Ok((out, 0));
    }
    // Up to 10% extra bytes buy fewer requests; gaps of one alignment pad are free.
    let merged = coalesce(ranges, 0.10, 64);
    let fetched = source.read_ranges(&merged)?;
    let total = merged.iter().map(|r| r.end - r.start).sum();
    let mut out = Vec::with_capacity(ranges.len());
    for r in ranges {
        if r.end <= r.start {
            out.push(Bytes::new());
            continue;
        }
        let i = merged.partition_point(|m| m.end < r.end);
        let Some(m) = merged
            .get(i)
            .filter(|m| m.start <= r.start && r.end <= m.end)
        else {
            return Err(IoError::format(source.name(), "read", "range not covered"));
        };
        let b = &fetched[i];
        let (a, z) = ((r.start - m.start) as usize, (r.end - m.start) as usize);
        if z > b.len() {
            return Err(IoError::format(
                source.name(),
                "read",
                format!("short read: {} of {} bytes", b.len(), m.end - m.start),
            ));
        }
        out.push(b.slice(a..z));
    }
    Ok((out, total))
}

/// An `Arc`'d source, as readers hold them.
pub type SharedSource = Arc<dyn ByteSource>;
