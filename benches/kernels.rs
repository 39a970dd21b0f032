//! Kernel throughput at every SIMD level this CPU has.
//!
//! `cargo bench --bench kernels` reports elements (f32 coordinates, or PQ code bytes) per
//! second. Groups:
//! - `pair/{dot,l2sq}/LEVEL/D`: one pair, L1-resident.
//! - `many_l1/{dot,l2sq}/LEVEL/D`: one query against rows that fit in L1 (≤ 16 KiB).
//! - `many_stream/{dot,l2sq}/LEVEL/D`: one query streaming through 1M rows (memory-bound).
//! - `pq8_scan/LEVEL/M`: 8-bit PQ scan of 32k codes; throughput in code bytes.
//! - `pq8_byte_scan/LEVEL/M`: the 8-bit scan with a byte table (`avx512vbmi` where the
//!   CPU has it, a scalar loop elsewhere), threshold 0; throughput in code bytes.
//! - `pq4_scan/LEVEL/M`: 4-bit fast-scan of 32k codes (threshold 0, so no hits);
//!   throughput in codes (vectors) scanned. `LEVEL-4q`: the same codes for four queries
//!   in one call (`Kernels::pq4_scan_queries`), in codes × queries. Each level scans
//!   the layout it keeps codes in (`Kernels::pq4_layout`); `LEVEL-blocked` is the file's
//!   layout where that differs (AVX-512 with VBMI).
//! - `pq4_table/{quantize,quantize_sum}/LEVEL/M`: a probe's 4-bit table to bytes, from
//!   one float table (row by row reductions) or from two with given row bounds; in
//!   table entries (`16 · m`).
//!
//! - `peak/clock`: dependent integer adds, one a cycle: elements per second is the clock.
//! - `peak/fma/LEVEL`: register-only FMAs, no loads: the ceiling the f32 kernels are
//!   measured against, in FMA lanes (= coordinates) per second. It is measured rather than
//!   taken from a data sheet because the clock under 512-bit FMAs and the number of FMA
//!   ports differ between parts and hypervisors.
//!
//! Rows of the in-L1 groups start on a 64-byte boundary, as refine vectors do in a shard
//! file; the streaming group uses an ordinary allocation.
//!
//! Set `IVFPQ_BENCH_QUICK=1` to skip the 1M-row streaming group.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ivfpq::simd::{
    Kernels, Level, Pq4Layout, Pq4Query, pack_pq4_blocks, pack_pq8_blocks, pq4_m_pad, pq4_relayout,
};

const DIMS: [usize; 4] = [50, 128, 384, 960];

fn data(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// `n` values of `data` starting on a 64-byte boundary (the vector is over-allocated).
fn aligned(n: usize, seed: u64) -> (Vec<f32>, usize) {
    let v = data(n + 16, seed);
    let off = v.as_ptr().align_offset(64).min(16);
    (v, off)
}

fn levels() -> Vec<&'static Kernels> {
    Level::available()
        .into_iter()
        .filter_map(|l| Kernels::for_level(l).ok())
        .collect()
}

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("pair");
    for &d in &DIMS {
        let (a, b) = (data(d, 1), data(d, 2));
        g.throughput(Throughput::Elements(d as u64));
        for k in levels() {
            g.bench_with_input(
                BenchmarkId::new(format!("dot/{}", k.level()), d),
                &d,
                |bch, _| bch.iter(|| k.dot(black_box(&a), black_box(&b))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("l2sq/{}", k.level()), d),
                &d,
                |bch, _| bch.iter(|| k.l2sq(black_box(&a), black_box(&b))),
            );
        }
    }
    g.finish();
}

fn many(c: &mut Criterion, name: &str, rows_for: impl Fn(usize) -> usize) {
    let mut g = c.benchmark_group(name);
    if name == "many_stream" {
        g.sample_size(10);
    }
    for &d in &DIMS {
        let n = rows_for(d);
        let ((qb, qo), (rb, ro)) = (aligned(d, 3), aligned(n * d, 4));
        let (q, rows) = (&qb[qo..qo + d], &rb[ro..ro + n * d]);
        let mut out = vec![0.0; n];
        g.throughput(Throughput::Elements((n * d) as u64));
        for k in levels() {
            g.bench_with_input(
                BenchmarkId::new(format!("dot/{}", k.level()), d),
                &d,
                |bch, _| bch.iter(|| k.dot_many(black_box(q), black_box(rows), &mut out)),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("l2sq/{}", k.level()), d),
                &d,
                |bch, _| bch.iter(|| k.l2sq_many(black_box(q), black_box(rows), &mut out)),
            );
        }
    }
    g.finish();
}

fn many_l1(c: &mut Criterion) {
    // 16 KiB of rows (half of L1d), at least 4 rows.
    many(c, "many_l1", |d| (4096 / d).max(4));
}

fn many_stream(c: &mut Criterion) {
    if std::env::var_os("IVFPQ_BENCH_QUICK").is_none() {
        many(c, "many_stream", |_| 1_000_000);
    }
}

fn pq8(c: &mut Criterion) {
    let mut g = c.benchmark_group("pq8_scan");
    let n = 32 * 1024;
    for m in [8usize, 16, 24, 60] {
        let lut = data(m * 256, 5);
        let codes: Vec<u8> = data(n * m, 6)
            .iter()
            .map(|x| ((x + 0.5) * 255.0) as u8)
            .collect();
        let blocked = pack_pq8_blocks(&codes, m);
        let mut out = vec![0.0; n];
        g.throughput(Throughput::Elements((n * m) as u64));
        for k in levels() {
            g.bench_with_input(BenchmarkId::new(k.level().to_string(), m), &m, |bch, _| {
                bch.iter(|| k.pq8_scan(black_box(&lut), black_box(&blocked), m, 0.0, &mut out))
            });
        }
    }
    g.finish();
}

fn pq8_bytes(c: &mut Criterion) {
    let mut g = c.benchmark_group("pq8_byte_scan");
    let n = 32 * 1024;
    for m in [8usize, 16, 24, 60] {
        let lut: Vec<u8> = data(m * 256, 7)
            .iter()
            .map(|x| ((x + 0.5) * 255.0) as u8)
            .collect();
        let codes: Vec<u8> = data(n * m, 6)
            .iter()
            .map(|x| ((x + 0.5) * 255.0) as u8)
            .collect();
        let blocked = pack_pq8_blocks(&codes, m);
        let (mut sums, mut hits) = (Vec::new(), Vec::new());
        g.throughput(Throughput::Elements((n * m) as u64));
        for k in levels() {
            let name = if k.has_pq8_byte_scan() {
                "avx512vbmi".to_string()
            } else {
                k.level().to_string()
            };
            g.bench_with_input(BenchmarkId::new(name, m), &m, |bch, _| {
                bch.iter(|| {
                    hits.clear();
                    k.pq8_byte_scan(
                        black_box(&lut),
                        black_box(&blocked),
                        m,
                        n,
                        0,
                        &mut sums,
                        &mut hits,
                    )
                })
            });
        }
    }
    g.finish();
}

fn pq4(c: &mut Criterion) {
    let mut g = c.benchmark_group("pq4_scan");
    let n = 32 * 1024;
    for m in [16usize, 32, 64, 120] {
        let mut lut: Vec<u8> = data(m * 16, 7)
            .iter()
            .map(|x| ((x + 0.5) * 255.0) as u8)
            .collect();
        lut.resize(pq4_m_pad(m) * 16, 0);
        let codes: Vec<u8> = data(n * m, 8)
            .iter()
            .map(|x| ((x + 0.5) * 15.0) as u8)
            .collect();
        let blocked = pack_pq4_blocks(&codes, m);
        // Each level in the layout it keeps codes in (`Kernels::pq4_layout`), and in the
        // file's blocked layout when that differs (`LEVEL-blocked`).
        let runs: Vec<(&Kernels, Pq4Layout, String)> = levels()
            .into_iter()
            .flat_map(|k| {
                let (layout, level) = (k.pq4_layout(), k.level());
                let file = (k, Pq4Layout::Blocked, format!("{level}-blocked"));
                std::iter::once((k, layout, level.to_string()))
                    .chain((layout != Pq4Layout::Blocked).then_some(file))
            })
            .collect();
        let laid = |layout: Pq4Layout| {
            let mut b = blocked.clone();
            pq4_relayout(&mut b, Pq4Layout::Blocked, layout);
            b
        };
        let (mut sums, mut hits) = (Vec::new(), Vec::new());
        g.throughput(Throughput::Elements(n as u64));
        for (k, layout, name) in &runs {
            let codes = laid(*layout);
            g.bench_with_input(BenchmarkId::new(name, m), &m, |bch, _| {
                bch.iter(|| {
                    hits.clear();
                    k.pq4_scan(
                        black_box(&lut),
                        (black_box(&codes), *layout),
                        m,
                        n,
                        0,
                        &mut sums,
                        &mut hits,
                    )
                })
            });
        }
        // Four queries (four tables) per call: each block of codes is read once for all.
        let luts: Vec<Vec<u8>> = (0..4)
            .map(|q| lut.iter().map(|&v| v ^ q).collect())
            .collect();
        let mut out = vec![(Vec::new(), Vec::new()); 4];
        g.throughput(Throughput::Elements(4 * n as u64));
        for (k, layout, name) in &runs {
            let codes = laid(*layout);
            let id = BenchmarkId::new(format!("{name}-4q"), m);
            g.bench_with_input(id, &m, |bch, _| {
                bch.iter(|| {
                    let mut qs: Vec<Pq4Query> = luts
                        .iter()
                        .zip(out.iter_mut())
                        .map(|(lut, (sums, hits))| {
                            hits.clear();
                            Pq4Query {
                                lut: black_box(lut),
                                threshold: 0,
                                all_sums: false,
                                sums,
                                hits,
                            }
                        })
                        .collect();
                    k.pq4_scan_queries((black_box(&codes), *layout), m, n, &mut qs)
                })
            });
        }
    }
    g.finish();
}

fn pq4_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("pq4_table");
    for m in [48usize, 96] {
        let (a, b) = (data(m * 16, 9), data(m * 16, 10));
        let bound = |t: &[f32], f: fn(f32, f32) -> f32| -> Vec<f32> {
            t.chunks_exact(16)
                .map(|r| r.iter().copied().reduce(f).unwrap_or(0.0))
                .collect()
        };
        let add = |x: Vec<f32>, y: Vec<f32>| -> Vec<f32> {
            x.iter().zip(&y).map(|(p, q)| p + q).collect()
        };
        let lo = add(bound(&a, f32::min), bound(&b, f32::min));
        let hi = add(bound(&a, f32::max), bound(&b, f32::max));
        let mut out = Vec::new();
        g.throughput(Throughput::Elements(16 * m as u64));
        for k in levels() {
            let level = k.level().to_string();
            g.bench_with_input(
                BenchmarkId::new(format!("quantize/{level}"), m),
                &m,
                |bch, _| bch.iter(|| k.pq4_quantize(black_box(&a), m, &mut out)),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("quantize_sum/{level}"), m),
                &m,
                |bch, _| {
                    bch.iter(|| k.pq4_quantize_sum((black_box(&a), &b), (&lo, &hi), m, &mut out))
                },
            );
        }
    }
    g.finish();
}

/// Register-only FMA throughput (see the module docs).
#[cfg(target_arch = "x86_64")]
mod fma_peak {
    use std::arch::x86_64::*;

    /// Independent accumulators: more than latency (4 cycles) × ports (2) needs.
    const CHAINS: usize = 12;
    /// FMAs per chain per call.
    pub const ITERS: usize = 4096;

    /// FMA lanes per call at `lanes` lanes a vector.
    pub fn lanes_per_call(lanes: usize) -> u64 {
        (CHAINS * ITERS * lanes) as u64
    }

    #[target_feature(enable = "avx512f")]
    pub fn avx512(seed: f32) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(seed); CHAINS];
        for _ in 0..ITERS {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let s = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, x| _mm512_add_ps(s, *x));
        _mm512_reduce_add_ps(s)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn avx2(seed: f32) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(seed); CHAINS];
        for _ in 0..ITERS {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut out = [0.0f32; 8];
        for x in acc {
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` is 8 f32s, the width of one unaligned 256-bit store.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
            out.iter_mut().zip(lanes).for_each(|(o, l)| *o += l);
        }
        out.iter().sum()
    }
}

/// Core clock: a chain of dependent integer adds retires one add per cycle on every x86-64
/// core of the last decade, so adds per second is cycles per second. It turns the other
/// groups' rates into per-cycle figures (this VM exposes no cycle counter to `perf`).
#[cfg(target_arch = "x86_64")]
mod clock {
    /// Dependent adds per call.
    pub const ADDS: u64 = 1 << 20;

    pub fn adds(seed: u64) -> u64 {
        let mut x = seed;
        let mut n = ADDS / 8;
        // SAFETY: register-only arithmetic on the two named registers; no memory access.
        unsafe {
            std::arch::asm!(
                "2:",
                "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                "add {x}, 1", "add {x}, 1", "add {x}, 1", "add {x}, 1",
                "sub {n}, 1",
                "jnz 2b",
                x = inout(reg) x,
                n = inout(reg) n,
                options(nomem, nostack),
            );
        }
        let _ = n;
        x
    }
}

#[cfg(target_arch = "x86_64")]
fn peak(c: &mut Criterion) {
    let mut g = c.benchmark_group("peak");
    g.throughput(Throughput::Elements(clock::ADDS));
    g.bench_function("clock", |b| b.iter(|| clock::adds(black_box(1))));
    if Level::Avx512.is_available() {
        g.throughput(Throughput::Elements(fma_peak::lanes_per_call(16)));
        g.bench_function("fma/avx512", |b| {
            // SAFETY: AVX-512F is available (checked above).
            b.iter(|| unsafe { fma_peak::avx512(black_box(1.0)) })
        });
    }
    if Level::Avx2.is_available() {
        g.throughput(Throughput::Elements(fma_peak::lanes_per_call(8)));
        g.bench_function("fma/avx2", |b| {
            // SAFETY: AVX2 and FMA are available (checked above).
            b.iter(|| unsafe { fma_peak::avx2(black_box(1.0)) })
        });
    }
    g.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn peak(_: &mut Criterion) {}

criterion_group!(
    benches,
    peak,
    pair,
    many_l1,
    many_stream,
    pq8,
    pq8_bytes,
    pq4,
    pq4_table
);
criterion_main!(benches);
