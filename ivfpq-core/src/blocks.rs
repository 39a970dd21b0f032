//! Several queries against many rows, a block of rows at a time.
//!
//! One query at a time against a large operand (447 coarse centroids of dim 960 are
//! 1.7 MB, an OPQ rotation 3.7 MB) streams all of it from memory per query. Taking the
//! rows a block at a time, each block read by every query of a group before the next,
//! reads the operand once per group and serves the rest from L2.

/// Rows a block: a multiple of 8, the unit of the many-row kernels, so every result is
/// computed exactly as one unblocked call over all rows computes it; and 240 KB at dim
/// 960, so a block stays in L2 while the group reads it.
pub(crate) const BLOCK_ROWS: usize = 64;

/// Calls `f(query, block, first)` for each block of the `dim`-wide `rows` (its first row
/// is `first`) and each query index below `nq`, blocks outermost.
pub(crate) fn each_block(
    rows: &[f32],
    dim: usize,
    nq: usize,
    mut f: impl FnMut(usize, &[f32], usize),
) {
    for (b, block) in rows.chunks(BLOCK_ROWS * dim.max(1)).enumerate() {
        for qi in 0..nq {
            f(qi, block, b * BLOCK_ROWS);
        }
    }
}
