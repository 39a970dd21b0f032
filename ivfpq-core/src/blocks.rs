//! Several queries against many rows, a block of rows at a time.
//!
//! One query at a time against a large operand (447 coarse centroids of dim 960 are
//! 1.7 MB, an OPQ rotation 3.7 MB) streams all of it from memory per query. Taking the
//! rows a block at a time, each block read by every query of a group before the next,
//! reads the operand once per group and serves the rest from cache.

use std::ops::Range;

/// Bytes of rows a block aims at: most of L1 (32 KB on Zen 4 and most x86 cores), so
/// each query reads the block from L1 and only streams itself from L2. With blocks of
/// 240 KB (in L2) the coarse distances were 26 % of a synth960 query at nprobe 2, and
/// 21 % with these (27–29k → 29–32k QPS on 2 threads).
const BLOCK_BYTES: usize = 24 * 1024;

/// Rows a block for `dim`-wide rows: a multiple of 8, the unit of the many-row kernels,
/// so every result is computed exactly as one unblocked call over all rows computes it;
/// at least 8, so a wide block still uses that unit (8 rows of dim 960 are 30 KB).
pub(crate) fn block_rows(dim: usize) -> usize {
    (BLOCK_BYTES / (4 * dim.max(1)) / 8 * 8).max(8)
}

/// Calls `f(queries, block, first)` for each block of the `dim`-wide `rows` (its first
/// row is `first`) and each pair of query indices below `nq` (`queries` is `i..i + 2`, or
/// `i..i + 1` for the last of an odd `nq`), blocks outermost. Pairs, because the
/// two-query kernels (`Kernels::dot_many2`) read each row once for both.
pub(crate) fn each_block(
    rows: &[f32],
    dim: usize,
    nq: usize,
    mut f: impl FnMut(Range<usize>, &[f32], usize),
) {
    let per = block_rows(dim);
    for (b, block) in rows.chunks(per * dim.max(1)).enumerate() {
        for i in (0..nq).step_by(2) {
            f(i..(i + 2).min(nq), block, b * per);
        }
    }
}

/// The two rows `i` and `i + 1` of `out` (`width` wide), columns `cols`.
pub(crate) fn two_rows(
    out: &mut [f32],
    width: usize,
    i: usize,
    cols: Range<usize>,
) -> [&mut [f32]; 2] {
    let (a, b) = out[i * width..(i + 2) * width].split_at_mut(width);
    [&mut a[cols.clone()], &mut b[cols]]
}
