//! The k-means update step: centroids become the means of their rows, and empty clusters
//! are split. Shared by the plain Lloyd loop and the bounded one (`crate::elkan`).

use rand::RngExt;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::assign::DIRECT_MAX_DIM;
use crate::buckets::Buckets;

/// The update step: each centroid becomes the mean of its rows (centroids without rows
/// keep theirs), then empty clusters are split, and with `spherical` every centroid is
/// scaled to unit norm. Returns how many clusters were split. Each centroid sums its rows
/// in `f64`, in row order, so the result does not depend on the thread count.
pub(crate) fn recenter(
    x: &[f32],
    dim: usize,
    labels: &[u32],
    (c, spherical): (&mut [f32], bool),
    rng: &mut StdRng,
) -> usize {
    let k = c.len() / dim;
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l as usize] += 1;
    }
    let mut sums = vec![0f64; k * dim];
    if dim <= DIRECT_MAX_DIM {
        // Short rows: one pass in row order, the sums stay in cache.
        for (row, &l) in x.chunks_exact(dim).zip(labels) {
            let l = l as usize;
            for (s, v) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row) {
                *s += f64::from(*v);
            }
        }
    } else {
        // Wide rows (each a run of cache lines): centroids in parallel, each reading its
        // own rows, in order, so the sums are the same.
        let members = Buckets::by_key(labels, k);
        sums.par_chunks_mut(dim).enumerate().for_each(|(j, sum)| {
            for &i in members.rows(j) {
                let row = &x[i * dim..(i + 1) * dim];
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += f64::from(*v);
                }
            }
        });
    }
    for (j, (cj, sum)) in c
        .chunks_exact_mut(dim)
        .zip(sums.chunks_exact(dim))
        .enumerate()
    {
        if counts[j] > 0 {
            let inv = 1.0 / counts[j] as f64;
            for (cv, s) in cj.iter_mut().zip(sum) {
                *cv = (*s * inv) as f32;
            }
        }
    }
    let split = split_empty(c, dim, &mut counts, rng);
    if spherical {
        // In f64, not `validate::normalize`'s f32 kernel: a centroid is scaled once an
        // iteration, and its norm is then 1 to the last bit the f32 rows can show.
        for cj in c.chunks_exact_mut(dim) {
            let norm = cj
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                cj.iter_mut()
                    .for_each(|v| *v = (f64::from(*v) / norm) as f32);
            }
        }
    }
    split
}

/// Gives each empty cluster half of a populous one: the donor is drawn with probability
/// proportional to its size, its centroid copied and both copies nudged apart by a
/// relative 1/1024 in opposite directions, as FAISS does.
fn split_empty(c: &mut [f32], dim: usize, counts: &mut [usize], rng: &mut StdRng) -> usize {
    const EPS: f32 = 1.0 / 1024.0;
    let mut split = 0;
    for ci in 0..counts.len() {
        if counts[ci] != 0 {
            continue;
        }
        let total: usize = counts.iter().map(|&x| x.saturating_sub(1)).sum();
        if total == 0 {
            break;
        }
        let mut r = rng.random_range(0..total);
        let mut cj = 0;
        for (j, &cnt) in counts.iter().enumerate() {
            let w = cnt.saturating_sub(1);
            if r < w {
                cj = j;
                break;
            }
            r -= w;
        }
        for d in 0..dim {
            let v = c[cj * dim + d];
            let (a, b) = if d % 2 == 0 {
                (1.0 + EPS, 1.0 - EPS)
            } else {
                (1.0 - EPS, 1.0 + EPS)
            };
            c[ci * dim + d] = v * a;
            c[cj * dim + d] = v * b;
        }
        counts[ci] = counts[cj] / 2;
        counts[cj] -= counts[ci];
        split += 1;
    }
    split
}
