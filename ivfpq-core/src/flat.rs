//! Exact search over rows held whole: what a collection's growing segments (recent rows
//! not yet encoded) are searched with, and a reference any test can trust.

use ivfpq_simd::{Kernels, TopK};
use rayon::prelude::*;

use crate::error::Result;
use crate::params::IdFilter;
use crate::search::Neighbor;
use crate::validate;
use crate::{MAX_K, Metric};

/// Rows `ids[i]` → `data[i·dim..]` searched exactly under `metric`: per query, the `k`
/// nearest rows that `filter` accepts, sorted by distance then id. Distances are the
/// metric's (cosine `1 − cos`, dot `−a·b`), as the index reports them after refine.
///
/// Queries are checked as a search checks them (whole rows, finite, `1 ≤ k ≤ MAX_K`);
/// `data` is trusted to be finite (it was checked when it was added).
pub fn flat_search(
    metric: Metric,
    dim: usize,
    data: &[f32],
    ids: &[u64],
    queries: &[f32],
    k: usize,
    filter: Option<&IdFilter>,
) -> Result<Vec<Vec<Neighbor>>> {
    validate::rows("queries", queries, dim)?;
    let n = validate::whole_rows("data", data, dim)?;
    if k == 0 || k > MAX_K {
        return Err(crate::error::invalid(
            "k",
            format!("{k} is not in 1..={MAX_K}"),
        ));
    }
    if ids.len() != n {
        return Err(crate::error::invalid(
            "ids",
            format!("{} ids for {n} rows", ids.len()),
        ));
    }
    let kern = Kernels::try_active()?;
    // Cosine compares unit vectors by L2 (`1 − cos = ‖a − b‖² / 2`), as the index does.
    let data = validate::for_metric(kern, metric, data, dim);
    let queries = validate::for_metric(kern, metric, queries, dim);
    let l2 = metric.is_l2_family();
    // Queries go in pairs, each block of rows read once for both (the two-query kernels).
    Ok(queries
        .par_chunks(2 * dim)
        .flat_map_iter(|pair| {
            let two = pair.len() == 2 * dim;
            let mut top = [TopK::new(k), TopK::new(k)];
            let (mut d0, mut d1) = (vec![0f32; BLOCK], vec![0f32; BLOCK]);
            for (b, rows) in data.chunks(BLOCK * dim).enumerate() {
                let n = rows.len() / dim;
                let (o0, o1) = (&mut d0[..n], &mut d1[..n]);
                match (two, l2) {
                    (true, true) => kern.l2sq_many2([&pair[..dim], &pair[dim..]], rows, [o0, o1]),
                    (true, false) => kern.dot_many2([&pair[..dim], &pair[dim..]], rows, [o0, o1]),
                    (false, true) => kern.l2sq_many(pair, rows, o0),
                    (false, false) => kern.dot_many(pair, rows, o0),
                }
                let ids = &ids[b * BLOCK..b * BLOCK + n];
                for (t, d) in top
                    .iter_mut()
                    .zip([&d0[..n], &d1[..n]])
                    .take(1 + two as usize)
                {
                    for (&x, &id) in d.iter().zip(ids) {
                        // Internal distances: L2², or −dot.
                        let x = if l2 { x } else { -x };
                        // The filter is asked only of rows that would enter.
                        if x <= t.threshold() && filter.is_none_or(|f| f.accepts(id)) {
                            t.push(x, id);
                        }
                    }
                }
            }
            top.into_iter()
                .take(1 + two as usize)
                .map(|t| {
                    t.into_sorted()
                        .into_iter()
                        .map(|(d, id)| Neighbor {
                            id,
                            distance: metric.from_internal(d),
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .collect())
}

/// Rows whose distances are computed in one kernel call.
const BLOCK: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn finds_the_nearest_and_honours_the_filter() {
        let data = [0.0, 0.0, 1.0, 0.0, 3.0, 0.0, 0.5, 0.0];
        let ids = [10, 11, 12, 13];
        let got = flat_search(Metric::L2, 2, &data, &ids, &[0.9, 0.0], 2, None).unwrap();
        let got: Vec<u64> = got[0].iter().map(|n| n.id).collect();
        assert_eq!(got, vec![11, 13]);
        let deny = IdFilter::Deny(Arc::new(crate::IdSet::from_iter([11])));
        let got = flat_search(Metric::L2, 2, &data, &ids, &[0.9, 0.0], 2, Some(&deny)).unwrap();
        assert_eq!(got[0][0].id, 13);
        assert!((got[0][0].distance - 0.16).abs() < 1e-6);
        let cos = flat_search(
            Metric::Cosine,
            2,
            &data[2..],
            &ids[1..],
            &[2.0, 0.0],
            1,
            None,
        )
        .unwrap();
        assert!(cos[0][0].distance.abs() < 1e-6);
    }

    #[test]
    fn equals_a_plain_sort_across_blocks_and_odd_batches() {
        let (dim, n, nq, k) = (7, 2 * BLOCK + 37, 5, 9);
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let data: Vec<f32> = (0..n * dim).map(|_| next()).collect();
        let queries: Vec<f32> = (0..nq * dim).map(|_| next()).collect();
        let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
        let deny = IdFilter::Deny(Arc::new(ids.iter().copied().step_by(4).collect()));
        for metric in [Metric::L2, Metric::Cosine, Metric::Dot] {
            let got = flat_search(metric, dim, &data, &ids, &queries, k, Some(&deny)).unwrap();
            for (q, hits) in queries.chunks(dim).zip(&got) {
                let unit = |v: &[f32]| {
                    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
                    v.iter().map(|a| a / n).collect::<Vec<f32>>()
                };
                let mut all: Vec<(f32, u64)> = data
                    .chunks(dim)
                    .zip(&ids)
                    .filter(|(_, id)| deny.accepts(**id))
                    .map(|(r, &id)| {
                        let d = match metric {
                            Metric::L2 => r.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(),
                            Metric::Dot => -r.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(),
                            Metric::Cosine => {
                                let (r, q) = (unit(r), unit(q));
                                0.5 * r
                                    .iter()
                                    .zip(&q)
                                    .map(|(a, b)| (a - b) * (a - b))
                                    .sum::<f32>()
                            }
                        };
                        (d, id)
                    })
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let want: Vec<u64> = all[..k].iter().map(|p| p.1).collect();
                let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
                assert_eq!(ids, want, "{metric}");
                for (h, w) in hits.iter().zip(&all) {
                    assert!(
                        (h.distance - w.0).abs() < 1e-4,
                        "{metric}: {} vs {}",
                        h.distance,
                        w.0
                    );
                }
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let data = [0.0f32; 4];
        assert!(flat_search(Metric::Dot, 2, &data, &[1, 2], &[0.0], 1, None).is_err());
        assert!(flat_search(Metric::Dot, 2, &data, &[1, 2], &[0.0, f32::NAN], 1, None).is_err());
        assert!(flat_search(Metric::Dot, 2, &data, &[1, 2], &[0.0, 0.0], 0, None).is_err());
        assert!(flat_search(Metric::Dot, 2, &data, &[1], &[0.0, 0.0], 1, None).is_err());
    }
}
