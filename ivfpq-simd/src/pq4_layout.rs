//! Where each 4-bit code lives in a partition's blocks: the file's layout and the
//! transposed one the AVX-512 VBMI kernel reads in memory (the block structure is
//! described in `pq4.rs`).

/// Vectors per code block.
pub const PQ4_BLOCK: usize = 32;

/// `m` padded for the kernels: a multiple of 4 (four sub-quantizers per 512-bit load).
pub fn pq4_m_pad(m: usize) -> usize {
    m.next_multiple_of(4)
}

/// Bytes that `n` codes of `m` 4-bit sub-quantizers take in the blocked layout.
pub fn pq4_blocked_len(n: usize, m: usize) -> usize {
    n.div_ceil(PQ4_BLOCK) * 16 * pq4_m_pad(m)
}

/// How the bytes of each 64-byte chunk of a block (four sub-quantizers) are ordered.
///
/// Files hold [`Pq4Layout::Blocked`], the layout every level's kernel reads. In memory,
/// codes may be [`Pq4Layout::Transposed`] when the active kernel reads that faster
/// ([`crate::Kernels::pq4_layout`]): the AVX-512 VBMI kernel otherwise starts each chunk
/// with a `vpermb` that transposes it, 12 % of its time (m 52, four queries a call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pq4Layout {
    /// Sub-quantizer-major (`docs/format.md` §5): byte `16s + t` of a chunk is
    /// sub-quantizer `s` of the four, vectors `t` (low nibble) and `t + 16` (high).
    #[default]
    Blocked = 0,
    /// Vector-major: byte `4t + s` of a chunk is what byte `16s + t` is in `Blocked`, so
    /// each 32-bit lane holds one vector pair's four sub-quantizers. In memory only.
    Transposed = 1,
}

impl Pq4Layout {
    /// Offset within a block of the byte that holds sub-quantizer `j` of vectors `t` and
    /// `t + 16` (`t < 16`).
    #[inline]
    pub const fn offset(self, j: usize, t: usize) -> usize {
        match self {
            Pq4Layout::Blocked => 16 * j + t,
            Pq4Layout::Transposed => 64 * (j / 4) + 4 * t + j % 4,
        }
    }
}

/// Reorders blocked 4-bit codes (a whole number of blocks, so of 64-byte chunks) from
/// layout `from` to `to`, in place.
///
/// # Panics
/// If `codes.len()` is not a multiple of 64.
pub fn pq4_relayout(codes: &mut [u8], from: Pq4Layout, to: Pq4Layout) {
    assert!(
        codes.len().is_multiple_of(64),
        "pq4_relayout: not whole 64-byte chunks"
    );
    if from == to {
        return;
    }
    for chunk in codes.as_chunks_mut::<64>().0 {
        let old = *chunk;
        for s in 0..4 {
            for t in 0..16 {
                chunk[to.offset(s, t)] = old[from.offset(s, t)];
            }
        }
    }
}

/// Byte and shift of vector `i`, sub-quantizer `j` in the blocked codes.
fn slot(layout: Pq4Layout, m: usize, i: usize, j: usize) -> (usize, u32) {
    let byte = (i / PQ4_BLOCK) * 16 * pq4_m_pad(m) + layout.offset(j, i % 16);
    (byte, if i % PQ4_BLOCK < 16 { 0 } else { 4 })
}

/// Sets the code of vector `i` (codes `< 16`, `m` of them) in codes of `layout`, growing
/// `blocked` by a zeroed block when `i` starts one. Vectors must be pushed in order.
pub fn pq4_push(blocked: &mut Vec<u8>, layout: Pq4Layout, m: usize, i: usize, code: &[u8]) {
    if i.is_multiple_of(PQ4_BLOCK) {
        blocked.resize(blocked.len() + 16 * pq4_m_pad(m), 0);
    }
    for (j, &c) in code.iter().enumerate() {
        let (b, s) = slot(layout, m, i, j);
        blocked[b] |= (c & 15) << s;
    }
}

/// Rearranges row-major 4-bit codes (`n × m`, one code a byte) into the blocked layout
/// ([`Pq4Layout::Blocked`]).
pub fn pack_pq4_blocks(codes: &[u8], m: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(pq4_blocked_len(codes.len() / m.max(1), m));
    for (i, code) in codes.chunks_exact(m).enumerate() {
        pq4_push(&mut out, Pq4Layout::Blocked, m, i, code);
    }
    out
}

/// The code of vector `i`, sub-quantizer `j`, in codes of `layout`.
#[inline]
pub fn pq4_code(blocked: &[u8], layout: Pq4Layout, m: usize, i: usize, j: usize) -> u8 {
    let (b, s) = slot(layout, m, i, j);
    (blocked[b] >> s) & 15
}
