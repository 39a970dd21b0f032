//! Bounded top-k selection for scans.
//!
//! A reservoir rather than a binary heap: candidates at or under the current threshold are
//! appended to a buffer of up to `2k`; when it fills, `select_nth_unstable` keeps the best
//! `k` and tightens the threshold. Each push is then a compare and an append, which matters
//! for large `k` (up to 50,000), and the amortised cost of the selections is O(1) a push.

/// The `k` smallest `(distance, id)` pairs seen, ties broken by smaller id.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    cap: usize,
    buf: Vec<(f32, u64)>,
    threshold: f32,
    /// Whether a candidate was kept since the last compaction.
    fresh: bool,
}

/// The bits of `d` as a `u32` that orders as `f32::total_cmp` orders the floats: negative
/// values have all bits flipped, others only the sign bit. Selecting and sorting on
/// integer keys compares integers instead of calling a comparator.
#[inline]
pub fn total_order_bits(d: f32) -> u32 {
    let b = d.to_bits();
    if b >> 31 == 1 { !b } else { b | 1 << 31 }
}

/// The order of candidates as one integer: the distance by `f32::total_cmp`, then the id.
#[inline]
fn key(p: &(f32, u64)) -> u128 {
    (u128::from(total_order_bits(p.0)) << 64) | u128::from(p.1)
}

impl TopK {
    /// An empty selection of the best `k`. With `k = 0` nothing is ever kept.
    pub fn new(k: usize) -> TopK {
        let cap = (2 * k).max(k + 32);
        TopK {
            k,
            cap,
            buf: Vec::with_capacity(cap.min(1 << 16)),
            threshold: if k == 0 {
                f32::NEG_INFINITY
            } else {
                f32::INFINITY
            },
            fresh: false,
        }
    }

    /// The number of results asked for.
    pub fn k(&self) -> usize {
        self.k
    }

    /// A distance that any candidate must be at or under to matter. It only decreases.
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Offers one candidate.
    #[inline]
    pub fn push(&mut self, dist: f32, id: u64) {
        if dist <= self.threshold {
            self.buf.push((dist, id));
            self.fresh = true;
            if self.buf.len() >= self.cap {
                self.compact();
            }
        }
    }

    /// Keeps only the best `k` and sets the threshold to the k-th distance. Scans call it
    /// between partitions so that the next partition is pruned with a tight threshold.
    pub fn compact(&mut self) {
        if !self.fresh {
            return;
        }
        self.fresh = false;
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by_key(self.k - 1, key);
            self.buf.truncate(self.k);
        }
        if self.buf.len() == self.k {
            let worst = self
                .buf
                .iter()
                .map(|p| p.0)
                .fold(f32::NEG_INFINITY, f32::max);
            self.threshold = self.threshold.min(worst);
        }
    }

    /// Compacts only when it pays: the first time `k` candidates are held (the threshold
    /// becomes finite), or once the buffer holds a quarter more than `k`. A selection
    /// costs O(len), so compacting after every short list for a few new candidates would
    /// cost more than the tighter threshold saves.
    pub fn tighten(&mut self) {
        let n = self.buf.len();
        if (self.threshold == f32::INFINITY && n >= self.k) || n > self.k + self.k / 4 {
            self.compact();
        }
    }

    /// Merges another selection into this one.
    pub fn merge(&mut self, other: TopK) {
        for (d, id) in other.buf {
            self.push(d, id);
        }
    }

    /// The number of candidates held (up to `2k` before the final sort).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no candidate is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The best `min(k, seen)` pairs, sorted by distance then id.
    pub fn into_sorted(mut self) -> Vec<(f32, u64)> {
        self.compact();
        self.buf.sort_unstable_by_key(key);
        self.buf
    }
}
