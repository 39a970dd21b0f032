//! Search results of a collection: one shard's (a partial) or merged across shards, the
//! k-way merge that reduces partials, and their files (Arrow IPC, CSV).
//!
//! A partial and a merged result are the same type, so the map step's output, the
//! reduce's inputs and its output share one schema and one writer.

use ivfpq_core::Metric;
use ivfpq_io::ModelHash;
use rayon::prelude::*;

use crate::error::{Result, ShardError};

/// One result row: a result, or in a partial result a candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultHit {
    /// The caller's id.
    pub id: u64,
    /// Distance under the collection's metric: exact when the search reranked.
    pub distance: f32,
    /// The distance the codes estimate (equal to `distance` without refine).
    pub estimate: f32,
    /// Index of the shard in the manifest it was searched under.
    pub shard: u32,
    /// The partition of the shard that holds the row.
    pub partition: u32,
    /// The row's position in its partition.
    pub offset: u32,
    /// The stored vector, when asked for.
    pub vector: Option<Vec<f32>>,
    /// The row's string id, for rows added with one (`id` then numbers the rows of its
    /// shard or segment).
    pub label: Option<String>,
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

/// Per query, the top `k` of a collection's shards, nearest first, ties by id; or, as a
/// partial result (the map step's output for one shard), that shard's candidates.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SearchResults {
    /// Results asked for per query (a query may have fewer when its shards hold fewer).
    pub k: usize,
    /// Candidates a shard contributes per query: `k · refine_factor` when the search
    /// reranks, else `k`.
    pub candidates: usize,
    /// Whether these are one shard's candidates (rows nearest estimate first), to be
    /// merged, rather than final results.
    pub partial: bool,
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

/// The order of candidates in a search over all shards at once: estimate, then where the
/// row is stored (shard, partition, offset), which is the scan's own tie-break.
fn by_estimate(a: &ResultHit, b: &ResultHit) -> std::cmp::Ordering {
    a.estimate
        .total_cmp(&b.estimate)
        .then((a.shard, a.partition, a.offset).cmp(&(b.shard, b.partition, b.offset)))
}

/// The order of reranked candidates: exact distance, then the candidate order.
fn by_distance(a: &ResultHit, b: &ResultHit) -> std::cmp::Ordering {
    a.distance.total_cmp(&b.distance).then(by_estimate(a, b))
}

/// The order of final results: distance, then id.
fn by_result(a: &ResultHit, b: &ResultHit) -> std::cmp::Ordering {
    a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id))
}

/// The first `k` of `all` in `order`: select the k-th in linear time, then sort only
/// those (no heap of size k touched per row; k can be 50,000).
pub(crate) fn smallest(
    mut all: Vec<ResultHit>,
    k: usize,
    order: fn(&ResultHit, &ResultHit) -> std::cmp::Ordering,
) -> Vec<ResultHit> {
    if all.len() > k && k > 0 {
        all.select_nth_unstable_by(k - 1, order);
        all.truncate(k);
    }
    all.sort_unstable_by(order);
    all
}

/// One query's final results from every shard's candidates: the best `candidates` of
/// all by estimate, then (when reranked) the best `k` of those by exact distance, sorted
/// by distance then id. This is what one search over all the shards returns.
pub(crate) fn reduce_query(
    all: Vec<ResultHit>,
    k: usize,
    candidates: usize,
    exact: bool,
) -> Vec<ResultHit> {
    // Growing rows are exact already: they join the shards' final results by distance.
    let (growing, all): (Vec<ResultHit>, Vec<ResultHit>) = all
        .into_iter()
        .partition(|h| h.partition == crate::growing::GROWING_PARTITION);
    let mut best = if exact {
        let pool = smallest(all, candidates, by_estimate);
        smallest(pool, k, by_distance)
    } else {
        smallest(all, k, by_estimate)
    };
    if !growing.is_empty() {
        best.extend(growing);
        return smallest(best, k, by_result);
    }
    best.sort_by(by_result);
    best
}

/// Reduces partial results (each shard's candidates, from
/// [`crate::Collection::search_shard`]) to the final top `k` per query: the results of
/// one search over all their shards. The partials must agree on the query count, `k`,
/// candidates, dimension, metric and model, and cover disjoint shards; results of
/// separately trained shards merge only when exact.
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
        if !p.partial {
            return Err(bad("holds final results, not a shard's candidates".into()));
        }
        let (a, b) = (
            (p.k, p.candidates, p.hits.len(), p.dim, p.metric, p.exact),
            (
                first.k,
                first.candidates,
                first.hits.len(),
                first.dim,
                first.metric,
                first.exact,
            ),
        );
        if a != b {
            return Err(bad(format!(
                "k {} ({} candidates) over {} queries, dim {}, metric {}, exact {} differs from {}'s k {} ({} candidates) over {} queries, dim {}, metric {}, exact {}",
                a.0,
                a.1,
                a.2,
                a.3,
                a.4,
                a.5,
                name(0),
                b.0,
                b.1,
                b.2,
                b.3,
                b.4,
                b.5
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
    let (k, candidates, exact) = (first.k, first.candidates, first.exact);
    // Separately trained shards: each shard's estimates only order its own candidates,
    // so every shard's reranked candidates compete by exact distance alone.
    let shared = first.model.is_some();
    let nq = first.hits.len();
    let hits: Vec<Vec<ResultHit>> = (0..nq)
        .into_par_iter()
        .map(|q| {
            let all: Vec<ResultHit> = parts
                .iter()
                .flat_map(|p| p.hits[q].iter().cloned())
                .collect();
            if shared {
                reduce_query(all, k, candidates, exact)
            } else {
                let mut best = smallest(all, k, by_distance);
                best.sort_by(by_result);
                best
            }
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
        candidates,
        partial: false,
        dim: first.dim,
        metric: first.metric,
        model: first.model,
        exact,
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

    fn hit(shard: u32, id: u64, distance: f32, estimate: f32) -> ResultHit {
        ResultHit {
            id,
            distance,
            estimate,
            shard,
            partition: 0,
            offset: id as u32,
            vector: None,
            label: None,
        }
    }

    fn part(shard: u32, rows: &[(u64, f32, f32)], k: usize, candidates: usize) -> SearchResults {
        SearchResults {
            k,
            candidates,
            partial: true,
            dim: 4,
            metric: Metric::L2,
            model: Some(ModelHash([7; 32])),
            exact: candidates > k,
            shards: vec![shard],
            hits: vec![
                rows.iter()
                    .map(|&(id, d, e)| hit(shard, id, d, e))
                    .collect(),
            ],
            stats: SearchStats::default(),
        }
    }

    #[test]
    fn merge_reranks_the_best_candidates_of_all_shards() {
        // k 2 of 4 candidates: the best 4 estimates overall are 5, 4, 9, 2 (1 and 8 are
        // beyond them, so their good exact distances do not count), then by exact distance.
        let a = part(0, &[(5, 3.0, 1.0), (9, 0.5, 2.0), (1, 0.1, 7.0)], 2, 4);
        let b = part(1, &[(4, 2.0, 1.5), (2, 1.0, 2.5), (8, 0.2, 9.0)], 2, 4);
        let m = merge(&[a, b]).unwrap();
        let got: Vec<u64> = m.hits[0].iter().map(|h| h.id).collect();
        assert_eq!(got, vec![9, 2]);
        assert_eq!(m.shards, vec![0, 1]);
        assert!(!m.partial);
        // A final result is not merged again.
        let e = merge(&[m]).unwrap_err().to_string();
        assert!(e.contains("final results"), "{e}");
    }

    #[test]
    fn merge_without_refine_takes_the_k_smallest_sorted_by_distance_then_id() {
        let a = part(0, &[(5, 1.0, 1.0), (9, 2.0, 2.0), (1, 3.0, 3.0)], 3, 3);
        let b = part(1, &[(4, 1.0, 1.0), (2, 2.0, 2.0), (8, 9.0, 9.0)], 3, 3);
        let m = merge(&[a, b]).unwrap();
        let got: Vec<u64> = m.hits[0].iter().map(|h| h.id).collect();
        // A tie at the cut (9 and 2 at 2.0) goes by where the rows are stored, as the
        // scan of all shards at once breaks it: shard 0 first.
        assert_eq!(got, vec![4, 5, 9]);
    }

    #[test]
    fn merge_refuses_disagreeing_parts() {
        let a = part(0, &[(5, 1.0, 1.0)], 3, 3);
        let b = part(1, &[(4, 1.0, 1.0)], 4, 4);
        let e = merge(&[a.clone(), b]).unwrap_err().to_string();
        assert!(e.contains("k 4"), "{e}");
        let mut c = part(2, &[(4, 1.0, 1.0)], 3, 3);
        c.metric = Metric::Dot;
        let e = merge(&[a.clone(), c]).unwrap_err().to_string();
        assert!(e.contains("metric dot"), "{e}");
        let e = merge(&[a.clone(), a.clone()]).unwrap_err().to_string();
        assert!(e.contains("covered twice"), "{e}");
        let mut d = part(3, &[(4, 1.0, 1.0)], 3, 3);
        d.model = None;
        let e = merge(&[d.clone(), a]).unwrap_err().to_string();
        assert!(e.contains("refine"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn smallest_equals_a_full_sort(
            v in proptest::collection::vec((0u64..50, 0u8..8), 0..200),
            k in 1usize..60,
        ) {
            let all: Vec<ResultHit> = v
                .iter()
                .enumerate()
                .map(|(i, &(id, d))| hit(0, id * 1000 + i as u64, d as f32, d as f32))
                .collect();
            let mut sorted = all.clone();
            sorted.sort_by(by_result);
            sorted.truncate(k);
            proptest::prop_assert_eq!(smallest(all, k, by_result), sorted);
        }
    }
}
