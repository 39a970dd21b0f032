//! The `k` smallest of many values: a cheap upper bound of the `k`-th first, then an
//! exact selection among the few values under it.
//!
//! `select_nth_unstable` over all of a list's byte sums (about 700 on glove50) or all of
//! a query's coarse distances (631) mispredicts most of its comparisons; each took about
//! 5 % of a 4-bit query (glove50, nprobe 40, refine 3). The bound costs one branch-free
//! pass and leaves a selection over about `2k` values.

/// An upper bound of the `k`-th smallest of `xs` (counted from 1), or `None` unless
/// `0 < k ≤ xs.len()`: the largest of the minima of `xs` cut into runs of
/// `xs.len() / k`. There are at least `k` runs and each run's minimum is at or under the
/// bound, so at least `k` values are: the `k`-th smallest is too.
pub(crate) fn kth_bound<T: Copy + Ord>(xs: &[T], k: usize) -> Option<T> {
    kth_bound_by(xs, k, |&x| x)
}

/// [`kth_bound`] of `key` over `xs` (the values need not be `Ord` themselves: the
/// coarse distances are `f32`s, ordered by their total-order bits).
pub(crate) fn kth_bound_by<T, K: Ord>(xs: &[T], k: usize, key: impl Fn(&T) -> K) -> Option<K> {
    if k == 0 || k > xs.len() {
        return None;
    }
    xs.chunks(xs.len() / k)
        .filter_map(|run| run.iter().map(&key).min())
        .max()
}

/// Appends `item(i)` to `out` for each `i < n` whose `key(i)` is at or under `bound`, in
/// order. Branch-free: every item is written and the write position advances by the
/// comparison, so items kept at random cost no mispredictions (`out` is another buffer
/// than the one read, so no store waits on a load of the same memory).
pub(crate) fn push_where<K: Ord, V: Copy + Default>(
    n: usize,
    bound: K,
    key: impl Fn(usize) -> K,
    item: impl Fn(usize) -> V,
    out: &mut Vec<V>,
) {
    let start = out.len();
    out.resize(start + n, V::default());
    let mut at = start;
    for i in 0..n {
        out[at] = item(i);
        at += usize::from(key(i) <= bound);
    }
    out.truncate(at);
}

/// Appends to `out` the values of `xs` at or under `bound`, in order ([`push_where`]).
pub(crate) fn push_at_most<T: Copy + Ord + Default>(xs: &[T], bound: T, out: &mut Vec<T>) {
    push_where(xs.len(), bound, |i| xs[i], |i| xs[i], out);
}

/// Appends to `out` the index of each value of `xs` at or under `bound`, in increasing
/// order ([`push_where`]).
pub(crate) fn indices_at_most<T: Copy + Ord>(xs: &[T], bound: T, out: &mut Vec<u32>) {
    push_where(xs.len(), bound, |i| xs[i], |i| i as u32, out);
}

/// The `k`-th smallest of `xs` (counted from 1), or `None` unless `0 < k ≤ xs.len()`;
/// `scratch` is overwritten.
pub(crate) fn kth_smallest<T: Copy + Ord + Default>(
    xs: &[T],
    k: usize,
    scratch: &mut Vec<T>,
) -> Option<T> {
    let bound = kth_bound(xs, k)?;
    scratch.clear();
    push_at_most(xs, bound, scratch);
    Some(*scratch.select_nth_unstable(k - 1).1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The bound is never under the k-th smallest, and the selection equals a sort's.
        #[test]
        fn kth_matches_a_sort(xs in prop::collection::vec(0u16..300, 0..500), k in 0usize..520) {
            let mut sorted = xs.clone();
            sorted.sort_unstable();
            let want = (k > 0 && k <= xs.len()).then(|| sorted[k - 1]);
            if let (Some(b), Some(w)) = (kth_bound(&xs, k), want) {
                prop_assert!(b >= w);
            }
            prop_assert_eq!(kth_bound(&xs, k).is_some(), want.is_some());
            prop_assert_eq!(kth_smallest(&xs, k, &mut vec![9]), want);
        }

        /// Filtering keeps exactly the values at or under the bound, in order.
        #[test]
        fn filters_keep_order(xs in prop::collection::vec(any::<u8>(), 0..300), bound in any::<u8>()) {
            let want: Vec<u8> = xs.iter().copied().filter(|&x| x <= bound).collect();
            let mut v = vec![3];
            push_at_most(&xs, bound, &mut v);
            prop_assert_eq!(v[0], 3);
            prop_assert_eq!(&v[1..], &want[..]);
            let mut idx = vec![7];
            indices_at_most(&xs, bound, &mut idx);
            let got: Vec<u8> = idx[1..].iter().map(|&i| xs[i as usize]).collect();
            prop_assert_eq!(idx[0], 7);
            prop_assert_eq!(got, want);
        }
    }
}
