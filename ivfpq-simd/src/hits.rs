//! Hits of a block scan: the vectors of a block of 32 whose sums pass the threshold. The
//! 4-bit and 8-bit byte-table kernels share the block size, so they share these.

use crate::pq4_layout::PQ4_BLOCK;

/// Appends the lanes of block `b` at or under `threshold` (and below `n`). Shared with
/// the 8-bit byte-table scan, whose blocks are also 32 vectors.
#[inline]
pub(crate) fn push_hits(sums: &[u16], b: usize, n: usize, threshold: u16, hits: &mut Vec<u32>) {
    for (v, &s) in sums.iter().enumerate() {
        let i = b * PQ4_BLOCK + v;
        if s <= threshold && i < n {
            hits.push(i as u32);
        }
    }
}

/// Lanes of a 32-bit mask (bit `v` = vector `v` of block `b` passed) below `n`.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn push_mask(mut mask: u32, b: usize, n: usize, hits: &mut Vec<u32>) {
    while mask != 0 {
        let v = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        let i = b * PQ4_BLOCK + v;
        if i < n {
            hits.push(i as u32);
        }
    }
}
