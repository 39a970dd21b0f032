//! Search results of a collection: one shard's (a partial) or merged across shards, the
//! k-way merge that reduces partials, and their files (Arrow IPC, CSV).
//!
//! A partial and a merged result are the same type, so the map step's output, the
//! reduce's inputs and its output share one schema and one writer.

use ivfpq_core::Metric;
use ivfpq_io::ModelHash;
use rayon::prelude::*;

use crate::error::{Result, ShardError};

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultHit {
    /// The caller's id.
    pub id: u64,
    /// Distance under the collection's metric: exact when the search reranked.
    pub distance: f32,
    /// Index of the shard in the manifest it was searched under.
    pub shard: u32,
    /// The stored vector, when asked for.
    pub vector: Option<Vec<f32>>,
}

/// What a search read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchStats {
    /// Shards searched.
    pub shards: u64,
    /// Requests to the object store (0 for memory-mapped shards).
    pub requests: u64,
    /// Sequential waves of concurrent requests: shards searched together overlap theirs.
    pub round_trips: u64,
    /// Bytes received from the object store.
    pub bytes_fetched: u64,
    /// Partitions probed, over all shards.
    pub partitions: u64,
}

/// Per query, the top `k` of one or more shards, nearest first, ties by id.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SearchResults {
    /// Results asked for per query (a query may have fewer when its shards hold fewer).
    pub k: usize,
    /// Vector dimension.
    pub dim: usize,
    /// The metric of every distance.
    pub metric: Metric,
    /// The model every contributing shard was encoded with; `None` for separately
    /// trained shards (whose results are then always exact).
    pub model: Option<ModelHash>,
    /// Whether every distance is exact (reranked), not a code estimate.
    pub exact: bool,
    /// The manifest indexes of the shards these results cover, ascending.
    pub shards: Vec<u32>,
    /// Per query, the results.
    pub hits: Vec<Vec<ResultHit>>,
    /// What the search read.
    pub stats: SearchStats,
}

impl SearchResults {
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.hits.len()
    }

    /// Whether there are no queries.
    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }

    /// Per query, the ids, nearest first.
    pub fn ids(&self) -> Vec<Vec<u64>> {
        self.hits
            .iter()
            .map(|q| q.iter().map(|h| h.id).collect())
            .collect()
    }
}

/// The total order of results: distance, then id, then shard (ids are unique in a
/// collection; the shard only makes a malformed input deterministic too).
fn order(a: &ResultHit, b: &ResultHit) -> std::cmp::Ordering {
    a.distance
        .total_cmp(&b.distance)
        .then(a.id.cmp(&b.id))
        .then(a.shard.cmp(&b.shard))
}

/// The top `k` of `all`, sorted: select the k-th in linear time, then sort only those
/// (no heap of size k touched per candidate; k can be 50,000).
pub(crate) fn top_k(mut all: Vec<ResultHit>, k: usize) -> Vec<ResultHit> {
    if all.len() > k {
        all.select_nth_unstable_by(k - 1, order);
        all.truncate(k);
    }
    all.sort_unstable_by(order);
    all
}

/// Reduces partial results to the merged top `k` per query. The partials must agree on
/// the query count, `k`, dimension, metric and model, and cover disjoint shards; results
/// of separately trained shards merge only when exact.
pub fn merge(parts: &[SearchResults]) -> Result<SearchResults> {
    merge_named(parts, &[])
}

/// [`merge`], naming each part (a file) in errors.
pub fn merge_named(parts: &[SearchResults], names: &[String]) -> Result<SearchResults> {
    let name = |i: usize| {
        names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("partial {i}"))
    };
    let first = parts.first().ok_or_else(|| ShardError::Partial {
        file: "<none>".into(),
        message: "nothing to merge".into(),
    })?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in parts.iter().enumerate() {
        let bad = |message: String| ShardError::Partial {
            file: name(i),
            message,
        };
        let (a, b) = (
            (p.k, p.hits.len(), p.dim, p.metric),
            (first.k, first.hits.len(), first.dim, first.metric),
        );
        if a != b {
            return Err(bad(format!(
                "k {} over {} queries, dim {}, metric {} differs from {}'s k {} over {} queries, dim {}, metric {}",
                a.0,
                a.1,
                a.2,
                a.3,
                name(0),
                b.0,
                b.1,
                b.2,
                b.3
            )));
        }
        if p.model != first.model {
            return Err(bad(format!(
                "model {} differs from {}'s {}; estimates of different models do not compare",
                hash_or_none(&p.model),
                name(0),
                hash_or_none(&first.model)
            )));
        }
        if p.model.is_none() && !p.exact {
            return Err(bad(
                "estimates of separately trained shards do not compare; search with refine".into(),
            ));
        }
        for &s in &p.shards {
            if !seen.insert(s) {
                return Err(bad(format!("shard {s} is covered twice")));
            }
        }
    }
    let k = first.k;
    let nq = first.hits.len();
    let hits: Vec<Vec<ResultHit>> = (0..nq)
        .into_par_iter()
        .map(|q| {
            let all: Vec<ResultHit> = parts
                .iter()
                .flat_map(|p| p.hits[q].iter().cloned())
                .collect();
            top_k(all, k)
        })
        .collect();
    let mut stats = SearchStats::default();
    for p in parts {
        stats.shards += p.stats.shards;
        stats.requests += p.stats.requests;
        stats.round_trips = stats.round_trips.max(p.stats.round_trips);
        stats.bytes_fetched += p.stats.bytes_fetched;
        stats.partitions += p.stats.partitions;
    }
    Ok(SearchResults {
        k,
        dim: first.dim,
        metric: first.metric,
        model: first.model,
        exact: parts.iter().all(|p| p.exact),
        shards: seen.into_iter().collect(),
        hits,
        stats,
    })
}

pub(crate) fn hash_or_none(h: &Option<ModelHash>) -> String {
    h.map(|h| h.hex()).unwrap_or_else(|| "none".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(shard: u32, rows: &[(u64, f32)], k: usize) -> SearchResults {
        SearchResults {
            k,
            dim: 4,
            metric: Metric::L2,
            model: None,
            exact: true,
            shards: vec![shard],
            hits: vec![
                rows.iter()
                    .map(|&(id, distance)| ResultHit {
                        id,
                        distance,
                        shard,
                        vector: None,
                    })
                    .collect(),
            ],
            stats: SearchStats::default(),
        }
    }

    #[test]
    fn merge_takes_the_k_smallest_with_ties_by_id() {
        let a = part(0, &[(5, 1.0), (9, 2.0), (1, 3.0)], 3);
        let b = part(1, &[(4, 1.0), (2, 2.0), (8, 9.0)], 3);
        let m = merge(&[a, b]).unwrap();
        let got: Vec<u64> = m.hits[0].iter().map(|h| h.id).collect();
        assert_eq!(got, vec![4, 5, 2]);
        assert_eq!(m.shards, vec![0, 1]);
    }

    #[test]
    fn merge_refuses_disagreeing_parts() {
        let a = part(0, &[(5, 1.0)], 3);
        let b = part(1, &[(4, 1.0)], 4);
        let e = merge(&[a.clone(), b]).unwrap_err().to_string();
        assert!(e.contains("k 4"), "{e}");
        let mut c = part(2, &[(4, 1.0)], 3);
        c.metric = Metric::Dot;
        let e = merge(&[a.clone(), c]).unwrap_err().to_string();
        assert!(e.contains("metric dot"), "{e}");
        let e = merge(&[a.clone(), a.clone()]).unwrap_err().to_string();
        assert!(e.contains("covered twice"), "{e}");
        let mut d = part(3, &[(4, 1.0)], 3);
        d.exact = false;
        let e = merge(&[a, d]).unwrap_err().to_string();
        assert!(e.contains("refine"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn top_k_equals_a_full_sort(
            v in proptest::collection::vec((0u64..50, 0u8..8), 0..200),
            k in 1usize..60,
        ) {
            let all: Vec<ResultHit> = v
                .iter()
                .enumerate()
                .map(|(i, &(id, d))| ResultHit { id: id * 1000 + i as u64, distance: d as f32, shard: 0, vector: None })
                .collect();
            let mut sorted = all.clone();
            sorted.sort_by(order);
            sorted.truncate(k);
            proptest::prop_assert_eq!(top_k(all, k), sorted);
        }
    }
}
