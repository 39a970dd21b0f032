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
    for off in (0..std::mem::size_of_val(data)).step_by(64) {
        // SAFETY: a prefetch is only a hint: it reads no value and never faults. The
        // address stays inside `data` (`off < bytes`).
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(p.add(off)) };
    }
}
