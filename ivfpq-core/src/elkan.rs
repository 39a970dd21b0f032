//! Lloyd iterations with Elkan's bounds: after the first iteration, a row computes only
//! the distances that could still change its label.
//!
//! Each row keeps an upper bound `u` on the distance to its centroid and one lower bound
//! `l_c` per centroid. When centroid `c` moves by `δ_c`, the triangle inequality turns
//! them into `u + δ_a` and `l_c − δ_c`. A centroid with `l_c ≥ u` cannot be nearer than
//! the row's own, so its distance is not computed. The first iteration fills the bounds
//! from the GEMM; after it, on synth960 (114k training rows, 447 centroids, 960
//! dimensions), 2–6 % of the row-centroid distances are computed per iteration, each as one
//! direct `l2sq`, instead of a whole GEMM.
//!
//! The labels are those of plain Lloyd iterations up to ties within rounding: every
//! bound carries an allowance for it ([`rounding`]), so a distance is skipped only when it
//! provably cannot win. The bounds take `n × k` floats, so [`MAX_BOUNDS`] caps them
//! per call (plain iterations beyond it; rows deferred to the GEMM go in batches of
//! [`DEFERRED_BATCH`], a few MiB more); the training sample is 256 rows per centroid by
//! default, so the cap admits up to about 720 centroids. k-means calls that run in
//! parallel (PQ sub-spaces, which are 128 dimensions wide only for very small `m`) each
//! hold their own.

use ivfpq_simd::Kernels;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::assign::{Gemm, Nearest, row_norms};
use crate::recenter::recenter;

/// The narrowest rows that take the bounds. A skipped distance saves `dim` FMAs of the
/// GEMM, but every bound is read and written once an iteration, and a distance that is
/// computed costs a call of its own: at 50 dimensions (glove50, 631 centroids, 7–27 % of
/// the distances computed) the coarse k-means took 1.5 s longer than with the GEMM; at
/// 960 (synth960) it took 6.4 s less (10.8 → 4.4 s on one thread).
pub(crate) const MIN_DIM: usize = 128;

/// The most row-centroid bounds (`f32`) one k-means call keeps: 512 MiB.
pub(crate) const MAX_BOUNDS: usize = 1 << 27;

/// Relative allowance for rounding in squared distances of `dim`-wide rows. A sum of
/// `dim` terms in `f32` can be off by `dim` ulps of its magnitude at worst: of `‖x‖² +
/// ‖c‖²` for the GEMM's `‖c‖² − 2x·c + ‖x‖²` (cancellation), of itself for a direct
/// `Σ (x − c)²`. (The kernels add in several partial sums, so the real error is far
/// smaller.) At least 1e-4, which costs almost nothing in skipped work.
fn rounding(dim: usize) -> f32 {
    (dim as f32 * f32::EPSILON).max(1e-4)
}

/// A row whose bounds leave more than `k / DEFER` centroids open is reassigned through the
/// GEMM (with the other such rows) rather than one distance at a time.
const DEFER: usize = 4;

/// Deferred rows sent to the GEMM together: enough tiles for every thread, and a bounded
/// amount of memory (their rows and `k` bounds each). Smaller under test, so that the
/// tests' few thousand rows take several batches.
const DEFERRED_BATCH: usize = if cfg!(test) { 256 } else { 4096 };

/// Rows per rayon task in the bound passes.
const CHUNK: usize = 64;

/// The label and bounds of every row: `upper[i]` and `lower[i·k + c]` are Euclidean
/// distances (not squared).
struct Bounds {
    labels: Vec<u32>,
    upper: Vec<f32>,
    lower: Vec<f32>,
}

/// A lower bound on the distance whose square was computed directly as `sq`.
fn below(sq: f32, dim: usize) -> f32 {
    (sq * (1.0 - rounding(dim))).max(0.0).sqrt()
}

/// An upper bound on the distance whose square was computed directly as `sq`.
fn above(sq: f32, dim: usize) -> f32 {
    (sq * (1.0 + rounding(dim))).sqrt()
}

/// Lloyd iterations from `c` (`k × dim`) on the rows of `x`, splitting empty clusters
/// after each, as `kmeans::lloyd`; the caller checks that `n × k` fits [`MAX_BOUNDS`].
pub(crate) fn lloyd(
    x: &[f32],
    dim: usize,
    c: Vec<f32>,
    iters: (usize, bool),
    rng: &mut StdRng,
) -> Vec<f32> {
    run(x, dim, c, iters, rng, DEFER)
}

/// [`lloyd`], with rows deferred to the GEMM past `k / defer` open centroids. A
/// spherical update moves each centroid by its normalisation too; `moved` measures the
/// whole step, so the bounds hold.
fn run(
    x: &[f32],
    dim: usize,
    mut c: Vec<f32>,
    (iters, spherical): (usize, bool),
    rng: &mut StdRng,
    defer: usize,
) -> Vec<f32> {
    let kern = Kernels::active();
    let (n, k) = (x.len() / dim, c.len() / dim);
    if k == 0 || n == 0 {
        return c;
    }
    let mut b = Bounds {
        labels: vec![0; n],
        upper: vec![0.0; n],
        lower: vec![0.0; n * k],
    };
    let mut moved = vec![0.0f32; k];
    for iter in 0..iters {
        if crate::interrupt::requested() {
            break; // the caller returns Interrupted
        }
        let computed = if iter == 0 {
            let Bounds {
                labels,
                upper,
                lower,
            } = &mut b;
            let norms = row_norms(&c, dim);
            gemm_pass(kern, x, (&c, &norms, dim), (labels, upper, lower))
        } else {
            bounded_pass(kern, x, (&c, dim), (&moved, defer), &mut b)
        };
        let last = iter + 1 == iters;
        let old = if last { Vec::new() } else { c.clone() };
        let split = recenter(x, dim, &b.labels, (&mut c, spherical), rng);
        if !last {
            for ((m, o), nw) in moved
                .iter_mut()
                .zip(old.chunks_exact(dim))
                .zip(c.chunks_exact(dim))
            {
                *m = above(kern.l2sq(o, nw), dim);
            }
        }
        tracing::debug!(
            iter,
            k,
            n,
            computed,
            split,
            "k-means iteration (Elkan bounds)"
        );
    }
    c
}

/// Every distance of the rows `x` to the centroids `c` (squared norms `norms`), through
/// the GEMM: their labels, and bounds widened by the rounding allowance. Returns the
/// number of distances computed.
fn gemm_pass(
    kern: &Kernels,
    x: &[f32],
    (c, norms, dim): (&[f32], &[f32], usize),
    (labels, upper, lower): (&mut [u32], &mut [f32], &mut [f32]),
) -> usize {
    let widest = norms.iter().fold(0.0f32, |a, &v| a.max(v));
    let g = Gemm::new(c, norms, dim, Nearest::L2);
    let k = g.k;
    x.par_chunks(g.tile * dim)
        .zip(labels.par_chunks_mut(g.tile))
        .zip(upper.par_chunks_mut(g.tile))
        .zip(lower.par_chunks_mut(g.tile * k))
        .for_each_init(Vec::new, |buf: &mut Vec<f32>, (((xt, lt), ut), lwt)| {
            g.scores(xt, buf);
            for r in 0..lt.len() {
                let xn = kern.norm_sq(&xt[r * dim..(r + 1) * dim]);
                let e = rounding(dim) * (xn + widest);
                let (best, d) = g.nearest(kern, xt, buf, r);
                (lt[r], ut[r]) = (best, (d + e).sqrt());
                let scores = &buf[r * k..(r + 1) * k];
                for ((l, &s), &cn) in lwt[r * k..(r + 1) * k].iter_mut().zip(scores).zip(norms) {
                    *l = (s + cn + xn - e).max(0.0).sqrt();
                }
            }
        });
    x.len() / dim * k
}

/// One iteration after the first: moves the bounds by `moved` (each centroid's shift),
/// then computes, row by row, only the distances the bounds do not settle. Rows that
/// would need many go through the GEMM together instead. Returns how many distances it
/// computed.
fn bounded_pass(
    kern: &Kernels,
    x: &[f32],
    (c, dim): (&[f32], usize),
    (moved, defer): (&[f32], usize),
    b: &mut Bounds,
) -> usize {
    let k = moved.len();
    let (computed, deferred) = x
        .par_chunks(CHUNK * dim)
        .zip(b.labels.par_chunks_mut(CHUNK))
        .zip(b.upper.par_chunks_mut(CHUNK))
        .zip(b.lower.par_chunks_mut(CHUNK * k))
        .enumerate()
        .map(|(t, (((xt, lt), ut), lwt))| {
            let (mut computed, mut deferred) = (0, Vec::new());
            for (r, (label, upper)) in lt.iter_mut().zip(ut.iter_mut()).enumerate() {
                let row = &xt[r * dim..(r + 1) * dim];
                let lower = &mut lwt[r * k..(r + 1) * k];
                match settle(kern, row, (c, dim), (moved, defer), (label, upper, lower)) {
                    Some(n) => computed += n,
                    None => deferred.push(t * CHUNK + r),
                }
            }
            (computed, deferred)
        })
        .reduce(
            || (0, Vec::new()),
            |(n, mut d), (m, e)| {
                d.extend(e);
                (n + m, d)
            },
        );
    // The deferred rows through the GEMM, a batch at a time, so the extra memory stays at
    // a batch's rows and bounds whatever the number deferred.
    let mut done = 0;
    let norms = if deferred.is_empty() {
        Vec::new()
    } else {
        row_norms(c, dim)
    };
    let (mut rows, mut labels, mut upper, mut lower) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for batch in deferred.chunks(DEFERRED_BATCH) {
        let m = batch.len();
        rows.clear();
        for &i in batch {
            rows.extend_from_slice(&x[i * dim..(i + 1) * dim]);
        }
        labels.resize(m, 0u32);
        upper.resize(m, 0.0f32);
        lower.resize(m * k, 0.0f32);
        done += gemm_pass(
            kern,
            &rows,
            (c, &norms, dim),
            (&mut labels, &mut upper, &mut lower[..m * k]),
        );
        for (j, &i) in batch.iter().enumerate() {
            (b.labels[i], b.upper[i]) = (labels[j], upper[j]);
            b.lower[i * k..(i + 1) * k].copy_from_slice(&lower[j * k..(j + 1) * k]);
        }
    }
    computed + done
}

/// One row of [`bounded_pass`]: its label, upper bound and lower bounds, updated in place.
/// Returns how many distances it computed, or `None` when more than `k / defer` of the
/// centroids would need theirs (the row is left for the GEMM).
fn settle(
    kern: &Kernels,
    row: &[f32],
    (c, dim): (&[f32], usize),
    (moved, defer): (&[f32], usize),
    (label, upper, lower): (&mut u32, &mut f32, &mut [f32]),
) -> Option<usize> {
    let mut a = *label as usize;
    let mut u = *upper + moved[a];
    for (l, m) in lower.iter_mut().zip(moved) {
        *l -= m;
    }
    // The nearest any other centroid can be: the own centroid's bound set aside (it is
    // at most `u`, so it would always fail the test).
    let own = std::mem::replace(&mut lower[a], f32::INFINITY);
    let mut others = [0.0f32];
    kern.row_mins(lower, lower.len(), &mut others);
    lower[a] = own;
    if u <= others[0] {
        *upper = u;
        return Some(0);
    }
    // Tighten to the exact distance first: that alone often settles the row.
    let centroid = |j: usize| &c[j * dim..(j + 1) * dim];
    let mut best = kern.l2sq(row, centroid(a));
    let mut computed = 1;
    lower[a] = below(best, dim);
    u = above(best, dim);
    if u > others[0] {
        // One call per distance costs a few times the GEMM's share of it (the centroid
        // comes from L2 or L3, and the call has its overhead), so a row that needs many
        // goes to the GEMM.
        let open = lower.iter().filter(|&&l| l < u).count();
        if open > lower.len() / defer {
            return None;
        }
        for j in 0..lower.len() {
            // `u` only shrinks, so a centroid passed over stays beyond the final one.
            if j == a || lower[j] >= u {
                continue;
            }
            let d = kern.l2sq(row, centroid(j));
            computed += 1;
            lower[j] = below(d, dim);
            if d < best {
                (best, a, u) = (d, j, above(d, dim));
            }
        }
    }
    (*label, *upper) = (a as u32, u);
    Some(computed)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::kmeans::{gather_rows, plain_lloyd as plain};

    #[test]
    fn training_with_bounds_does_not_depend_on_the_thread_count() {
        // Wide enough that `kmeans::train` takes the bounds.
        let dim = MIN_DIM;
        let mut z = 0x2545_f491_4f6c_dd1du64;
        let x: Vec<f32> = (0..2000 * dim)
            .map(|i| {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                ((i / dim) % 5) as f32 + (z >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let p = crate::kmeans::KMeansParams {
            k: 12,
            iters: 8,
            max_points_per_centroid: 256,
            seed: 9,
            spherical: false,
        };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| crate::kmeans::train(&x, dim, &p)).unwrap()
        };
        let one = on(1);
        assert_eq!(one, on(2), "1 thread against 2");
        assert_eq!(one, on(3), "1 thread against 3");
    }

    #[test]
    fn bounds_give_the_centroids_of_plain_lloyd_iterations() {
        // Overlapping blobs, so rows change clusters for several iterations, and plain
        // noise (spread 0), where many rows sit near a boundary; plain and spherical
        // updates (a centroid's normalisation is part of its move).
        for spread in [1.0f32, 0.0] {
            for spherical in [false, true] {
                check_against_plain(spread, spherical);
            }
        }
    }

    fn check_against_plain(spread: f32, spherical: bool) {
        let dim = 24;
        let mut z = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            (z >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut x: Vec<f32> = (0..3000 * dim)
            .map(|i| ((i / dim) % 6 * 2 + i % 2) as f32 * spread + 3.0 * next())
            .collect();
        if spherical {
            // Spherical k-means is for unit rows (cosine data). Far from the unit
            // centroids every row would sit near a tie, which plain Lloyd's GEMM scores
            // do not resolve exactly.
            for row in x.chunks_exact_mut(dim) {
                crate::validate::normalize(Kernels::active(), row);
            }
        }
        let start = gather_rows(&x, dim, &(0..20).map(|i| i * 7).collect::<Vec<_>>());
        let iters = (15, spherical);
        let want = plain(&x, dim, start.clone(), iters, &mut StdRng::seed_from_u64(5));
        // One distance at a time only (no row has more than k open centroids), the
        // default, and nearly every unsettled row through the GEMM.
        for defer in [1, DEFER, 20] {
            let fast = run(
                &x,
                dim,
                start.clone(),
                iters,
                &mut StdRng::seed_from_u64(5),
                defer,
            );
            if spherical {
                // Unit rows sit near ties between the centroids that share a blob, which
                // the reference's GEMM scores and the bounds' direct distances may break
                // differently: the partitions must be as good, not bit for bit the same.
                let (got, best) = (objective(&x, dim, &fast), objective(&x, dim, &want));
                assert!(
                    (got - best).abs() <= 1e-4 * best,
                    "spread {spread}, defer {defer}: objective {got} against {best}"
                );
            } else {
                assert_eq!(fast, want, "spread {spread}, defer {defer}");
            }
        }
    }

    /// Sum over rows of the squared distance to the nearest centroid, computed directly.
    fn objective(x: &[f32], dim: usize, c: &[f32]) -> f64 {
        let kern = Kernels::active();
        x.chunks_exact(dim)
            .map(|row| {
                let d = c.chunks_exact(dim).map(|cj| kern.l2sq(row, cj));
                f64::from(d.fold(f32::INFINITY, f32::min))
            })
            .sum()
    }
}
