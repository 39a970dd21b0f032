//! Rows grouped by a small integer key (a partition, a cluster label) with a counting
//! sort: stable, so each group keeps its rows in input order, which is what lets callers
//! fill partitions or sum clusters in parallel and still get the serial result.

/// The rows `0..keys.len()` grouped by key: group `j` is `order[start[j]..start[j + 1]]`.
pub(crate) struct Buckets {
    start: Vec<usize>,
    order: Vec<usize>,
}

impl Buckets {
    /// Groups the rows by `keys`, each below `k`.
    pub(crate) fn by_key(keys: &[u32], k: usize) -> Buckets {
        let mut start = vec![0usize; k + 1];
        for &key in keys {
            start[key as usize + 1] += 1;
        }
        for j in 0..k {
            start[j + 1] += start[j];
        }
        let mut next = start.clone();
        let mut order = vec![0usize; keys.len()];
        for (i, &key) in keys.iter().enumerate() {
            order[next[key as usize]] = i;
            next[key as usize] += 1;
        }
        Buckets { start, order }
    }

    /// The rows with key `j`, in input order.
    pub(crate) fn rows(&self, j: usize) -> &[usize] {
        &self.order[self.start[j]..self.start[j + 1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_input_order() {
        let b = Buckets::by_key(&[2, 0, 2, 1, 0, 2], 4);
        assert_eq!(b.rows(0), &[1, 4]);
        assert_eq!(b.rows(1), &[3]);
        assert_eq!(b.rows(2), &[0, 2, 5]);
        assert!(b.rows(3).is_empty());
    }
}
