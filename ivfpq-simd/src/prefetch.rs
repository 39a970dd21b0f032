//! Software prefetch for rows about to be read at random (refine candidates).
//!
//! Refine reads `k · refine_factor` full vectors scattered over a large index; each is a
//! cache miss. Asking for all of them before computing the first distance lets the misses
//! overlap instead of queueing one after another.

/// Hints that the cache lines of `data` will be read soon. Never faults, never changes a
/// value; a no-op where no stable prefetch instruction is available.
#[inline]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = data.as_ptr().cast::<i8>();
        let bytes = std::mem::size_of_val(data);
        for off in (0..bytes).step_by(64) {
            // SAFETY: a prefetch is only a hint: it reads no value and never faults. The
            // address stays inside `data` (`off < bytes`).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
