//! Kernel throughput at every SIMD level this CPU has.
//!
//! `cargo bench --bench kernels` reports elements (f32 coordinates, or PQ code bytes) per
//! second. Groups:
//! - `pair/{dot,l2sq}/LEVEL/D`: one pair, L1-resident.
//! - `many_l1/{dot,l2sq}/LEVEL/D`: one query against rows that fit in L1 (≤ 16 KiB).
//! - `many_stream/{dot,l2sq}/LEVEL/D`: one query streaming through 1M rows (memory-bound).
//! - `pq8_scan/LEVEL/M`: 8-bit PQ scan of 32k codes; throughput in code bytes.
//! - `pq4_scan/LEVEL/M`: 4-bit fast-scan of 32k codes (threshold 0, so no hits);
//!   throughput in codes (vectors) scanned.
//!
//! Set `IVFPQ_BENCH_QUICK=1` to skip the 1M-row streaming group.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ivfpq::simd::{Kernels, Level, pack_pq4_blocks, pack_pq8_blocks, pq4_m_pad};

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
        let (q, rows) = (data(d, 3), data(n * d, 4));
        let mut out = vec![0.0; n];
        g.throughput(Throughput::Elements((n * d) as u64));
        for k in levels() {
            g.bench_with_input(
                BenchmarkId::new(format!("dot/{}", k.level()), d),
                &d,
                |bch, _| bch.iter(|| k.dot_many(black_box(&q), black_box(&rows), &mut out)),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("l2sq/{}", k.level()), d),
                &d,
                |bch, _| bch.iter(|| k.l2sq_many(black_box(&q), black_box(&rows), &mut out)),
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
        let (mut sums, mut hits) = (Vec::new(), Vec::new());
        g.throughput(Throughput::Elements(n as u64));
        for k in levels() {
            g.bench_with_input(BenchmarkId::new(k.level().to_string(), m), &m, |bch, _| {
                bch.iter(|| {
                    hits.clear();
                    k.pq4_scan(
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

criterion_group!(benches, pair, many_l1, many_stream, pq8, pq4);
criterion_main!(benches);
