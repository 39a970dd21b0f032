//! Software prefetch: refine rows read at random, and the next probe's table and codes.
//!
//! Refine reads `k · refine_factor` full vectors scattered over a large index; each is a
//! cache miss. Asking for all of them before computing the first distance lets the misses
//! overlap instead of queueing one after another. A probe's precomputed table and codes
//! are streams, but each starts cold: asking for the next probe's while the current one
//! is scanned hides the start.

/// Hints that the cache lines of `data` will be read soon, into every cache level. Never
/// faults, never changes a value; a no-op where no stable prefetch instruction is
/// available.
#[inline]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    lines::<{ std::arch::x86_64::_MM_HINT_T0 }, T>(data);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// As [`prefetch`], but into L2 and below, not L1: for data larger than L1 that is read
/// after the current work (the next probe's table), which must not evict it.
#[inline]
pub fn prefetch_l2<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    lines::<{ std::arch::x86_64::_MM_HINT_T1 }, T>(data);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Prefetches each cache line of `data` with hint `HINT`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lines<const HINT: i32, T>(data: &[T]) {
    let p = data.as_ptr().cast::<i8>();
    for off in line_offsets(p as usize, std::mem::size_of_val(data)) {
        // SAFETY: a prefetch is only a hint: it reads no value and never faults. The
        // address stays inside `data` (`line_offsets` yields offsets below its length).
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(p.add(off)) };
    }
}

/// Offsets into `len` bytes at address `addr`, one in each 64-byte cache line the bytes
/// touch: the start, then each later line's first byte. (Stepping 64 from the start
/// misses the last line when the bytes end early in it: a 100-byte row at offset 40 of
/// a line touches three lines, and offsets 0 and 64 reach only two.)
#[inline(always)]
fn line_offsets(addr: usize, len: usize) -> impl Iterator<Item = usize> {
    let first_line_end = (addr | 63).wrapping_add(1).wrapping_sub(addr);
    std::iter::once(0)
        .filter(move |_| len > 0)
        .chain((first_line_end..len).step_by(64))
}

#[cfg(test)]
mod tests {
    use super::line_offsets;

    #[test]
    fn line_offsets_reach_every_line_once() {
        for addr in 0..200usize {
            for len in 0..300usize {
                let offs: Vec<usize> = line_offsets(addr, len).collect();
                let lines: Vec<usize> = offs.iter().map(|o| (addr + o) / 64).collect();
                let want: Vec<usize> = if len == 0 {
                    vec![]
                } else {
                    (addr / 64..=(addr + len - 1) / 64).collect()
                };
                assert_eq!(lines, want, "addr {addr} len {len}");
                assert!(offs.iter().all(|&o| o < len));
            }
        }
    }
}
