//! Every kernel, at every level this CPU runs, against `ivfpq_simd::reference`.
//!
//! Inputs are sub-slices at odd offsets (so unaligned), of lengths 0 to 1000, with values
//! spanning several orders of magnitude. Float tolerances follow the worst-case error of a
//! reordered f32 sum: `(n + 4) · ε · Σ|terms|`.

use ivfpq_simd::{
    Kernels, Level, Pq4Layout, Pq4Query, TopK, pack_pq4_blocks, pack_pq8_blocks, pq4_code,
    pq4_m_pad, pq4_push, pq4_relayout, reference, unpack_pq8_code,
};
use proptest::prelude::*;

fn levels() -> Vec<&'static Kernels> {
    Level::available()
        .into_iter()
        .map(|l| Kernels::for_level(l).unwrap())
        .collect()
}

/// A vector of `len` values at one magnitude, plus an offset into it (unaligned views).
fn vecs(max: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>, usize)> {
    (
        0..=max,
        0usize..4,
        prop_oneof![Just(1e-3f32), Just(1.0), Just(1e3)],
    )
        .prop_flat_map(|(len, off, scale)| {
            let v = prop::collection::vec(-1.0f32..1.0, len + off)
                .prop_map(move |v| v.into_iter().map(|x| x * scale).collect::<Vec<_>>());
            (v.clone(), v, Just(off))
        })
}

const LAYOUTS: [Pq4Layout; 2] = [Pq4Layout::Blocked, Pq4Layout::Transposed];

/// Row-major 4-bit codes (`n × m`) blocked in `layout`, after `off` filler bytes (so a
/// view from `off` is unaligned). Transposed codes are made both by pushing each code and
/// by reordering the blocked ones; the two must agree.
fn packed(codes: &[u8], m: usize, layout: Pq4Layout, off: usize) -> Vec<u8> {
    let mut b = pack_pq4_blocks(codes, m);
    pq4_relayout(&mut b, Pq4Layout::Blocked, layout);
    let mut pushed = Vec::new();
    for (i, code) in codes.chunks_exact(m).enumerate() {
        pq4_push(&mut pushed, layout, m, i, code);
    }
    assert_eq!(pushed, b, "pq4_push and pq4_relayout disagree ({layout:?})");
    let mut back = b.clone();
    pq4_relayout(&mut back, layout, Pq4Layout::Blocked);
    assert_eq!(
        back,
        pack_pq4_blocks(codes, m),
        "relayout does not invert ({layout:?})"
    );
    let mut out = vec![0x55u8; off];
    out.extend(b);
    out
}

fn tol(n: usize, sum_abs: f32) -> f32 {
    (n as f32 + 4.0) * f32::EPSILON * sum_abs + f32::MIN_POSITIVE
}

fn sum_abs_prod(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

fn sum_sq_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dot_l2_cosine_match_reference((a, b, off) in vecs(1000)) {
        let (a, b) = (&a[off..], &b[off..]);
        let n = a.len();
        for k in levels() {
            let want = reference::dot(a, b);
            let got = k.dot(a, b);
            prop_assert!((got - want).abs() <= tol(n, sum_abs_prod(a, b)),
                "{} dot {got} vs {want}", k.level());
            let want = reference::l2sq(a, b);
            let got = k.l2sq(a, b);
            prop_assert!((got - want).abs() <= tol(n, sum_sq_diff(a, b)),
                "{} l2sq {got} vs {want}", k.level());
            let (na, nb) = (reference::dot(a, a).sqrt(), reference::dot(b, b).sqrt());
            let want = reference::cosine(a, b);
            let got = k.cosine(a, b);
            let scale = if na * nb > 0.0 { sum_abs_prod(a, b) / (na * nb) } else { 0.0 };
            prop_assert!((got - want).abs() <= 4.0 * tol(n, scale) + 1e-6,
                "{} cosine {got} vs {want}", k.level());
            prop_assert!((k.norm_sq(a) - reference::dot(a, a)).abs() <= tol(n, reference::dot(a, a)));
        }
    }

    #[test]
    fn many_forms_match_reference(dim in 0usize..400, rows in 0usize..150, off in 0usize..8,
                                  scale in prop_oneof![Just(1e-3f32), Just(1.0), Just(1e3)],
                                  seed in any::<u64>()) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale };
        let data: Vec<f32> = (0..off + dim * (rows + 1)).map(|_| next()).collect();
        let other: Vec<f32> = (0..dim + 1).map(|_| next()).collect();
        let q = &data[off..off + dim];
        let r = &data[off + dim..];
        // A second query, misaligned differently from the first.
        let q2 = &other[1..];
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for k in levels() {
            // The two-query forms equal two one-query calls, bit for bit.
            let (mut a, mut b, mut one) = (vec![f32::NAN; rows], vec![f32::NAN; rows], vec![f32::NAN; rows]);
            k.dot_many2([q, q2], r, [&mut a, &mut b]);
            k.dot_many(q, r, &mut one);
            prop_assert_eq!(bits(&a), bits(&one), "{} dot_many2, first query", k.level());
            k.dot_many(q2, r, &mut one);
            prop_assert_eq!(bits(&b), bits(&one), "{} dot_many2, second query", k.level());
            k.l2sq_many2([q, q2], r, [&mut a, &mut b]);
            k.l2sq_many(q, r, &mut one);
            prop_assert_eq!(bits(&a), bits(&one), "{} l2sq_many2, first query", k.level());
            k.l2sq_many(q2, r, &mut one);
            prop_assert_eq!(bits(&b), bits(&one), "{} l2sq_many2, second query", k.level());
            let mut out = vec![f32::NAN; rows];
            k.dot_many(q, r, &mut out);
            for i in 0..rows {
                let row = &r[i * dim..(i + 1) * dim];
                prop_assert!((out[i] - reference::dot(q, row)).abs() <= tol(dim, sum_abs_prod(q, row)),
                    "{} dot_many row {i}", k.level());
            }
            k.l2sq_many(q, r, &mut out);
            for i in 0..rows {
                let row = &r[i * dim..(i + 1) * dim];
                prop_assert!((out[i] - reference::l2sq(q, row)).abs() <= tol(dim, sum_sq_diff(q, row)),
                    "{} l2sq_many row {i}", k.level());
            }
            k.cosine_many(q, r, &mut out);
            for i in 0..rows {
                let row = &r[i * dim..(i + 1) * dim];
                prop_assert!((out[i] - reference::cosine(q, row)).abs() <= 1e-4,
                    "{} cosine_many row {i}: {} vs {}", k.level(), out[i], reference::cosine(q, row));
            }
            k.norms_sq(r, dim, &mut out);
            for i in 0..rows {
                let row = &r[i * dim..(i + 1) * dim];
                let want = reference::dot(row, row);
                prop_assert!((out[i] - want).abs() <= tol(dim, want), "{} norms_sq", k.level());
            }
        }
    }

    #[test]
    fn pq_luts_match_reference(m in 1usize..9, dsub in 1usize..10, wide in any::<bool>(),
                               off in 0usize..4, seed in any::<u64>()) {
        let ksub = if wide { 256 } else { 16 };
        let dim = m * dsub;
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5 };
        let q: Vec<f32> = (0..off + dim).map(|_| next()).collect();
        let q = &q[off..];
        let cb: Vec<f32> = (0..m * ksub * dsub).map(|_| next()).collect();
        // Transpose each sub-quantizer's ksub x dsub block to dsub x ksub.
        let mut cb_t = vec![0.0; cb.len()];
        for j in 0..m {
            for c in 0..ksub {
                for d in 0..dsub {
                    cb_t[j * dsub * ksub + d * ksub + c] = cb[(j * ksub + c) * dsub + d];
                }
            }
        }
        let want_l2 = reference::pq_lut_l2(q, &cb, m, ksub);
        let want_ip = reference::pq_lut_dot(q, &cb, m, ksub);
        for k in levels() {
            let mut out = vec![f32::NAN; m * ksub];
            k.pq_lut_l2(q, &cb_t, ksub, &mut out);
            for (g, w) in out.iter().zip(&want_l2) {
                prop_assert!((g - w).abs() <= tol(dsub, 1.0 * dsub as f32), "{} lut l2 {g} vs {w}", k.level());
            }
            k.pq_lut_dot(q, &cb_t, ksub, &mut out);
            for (g, w) in out.iter().zip(&want_ip) {
                prop_assert!((g - w).abs() <= tol(dsub, 0.25 * dsub as f32), "{} lut dot {g} vs {w}", k.level());
            }
        }
    }

    #[test]
    fn pq8_scan_is_bit_exact(n in 0usize..1200, m in 1usize..70, bias in -10.0f32..10.0,
                             seed in any::<u64>(), off in 0usize..3) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let codes: Vec<u8> = (0..n * m).map(|_| next() as u8).collect();
        let lut: Vec<f32> = (0..off + m * 256).map(|_| (next() >> 40) as f32 / 1e5).collect();
        let lut = &lut[off..];
        let want = reference::pq8_scan(lut, &codes, m, bias);
        let mut blocked = vec![0xAAu8; off];
        blocked.extend(pack_pq8_blocks(&codes, m));
        let blocked = &blocked[off..];
        let mut code = vec![0u8; m];
        for i in 0..n {
            unpack_pq8_code(blocked, m, i, &mut code);
            prop_assert_eq!(&code[..], &codes[i * m..(i + 1) * m]);
        }
        // Early abandoning: a threshold near the low end of the scores, and the exact
        // row minima, so some blocks are abandoned and some are not.
        let mut suffix = vec![0.0f32; m + 1];
        for j in (0..m).rev() {
            let row_min = lut[j * 256..(j + 1) * 256].iter().fold(f32::INFINITY, |a, &b| a.min(b));
            suffix[j] = suffix[j + 1] + row_min;
        }
        let mut sorted = want.clone();
        sorted.sort_by(f32::total_cmp);
        let threshold = sorted.get(n / 50).copied().unwrap_or(0.0);
        for k in levels() {
            let mut out = vec![f32::NAN; n];
            k.pq8_scan(lut, blocked, m, bias, &mut out);
            prop_assert_eq!(&out, &want, "{}", k.level());
            out.fill(f32::NAN);
            k.pq8_scan_bounded(lut, blocked, m, bias, Some((&suffix, threshold)), &mut out);
            for (i, (&got, &full)) in out.iter().zip(&want).enumerate() {
                if got == f32::INFINITY {
                    prop_assert!(full > threshold, "{}: code {} abandoned at {} <= {}", k.level(), i, full, threshold);
                } else {
                    prop_assert_eq!(got, full, "{}: code {}", k.level(), i);
                }
            }
        }
    }

    #[test]
    fn pq8_byte_scan_matches_reference(n in 0usize..300, m in 1usize..70, seed in any::<u64>(),
                                       off in 0usize..3, thr in any::<u16>(), small in any::<bool>()) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        // Codes over the whole byte range: both 128-entry halves and the top-bit select.
        let codes: Vec<u8> = (0..n * m).map(|_| next() as u8).collect();
        // Small entries exercise the threshold; full bytes exercise wrapping u16 sums.
        let cap = if small { 8 } else { 256 };
        let mut lut = vec![0u8; off + m * 256];
        for v in &mut lut[off..] {
            *v = (next() % cap) as u8;
        }
        let lut = &lut[off..];
        let thr = if small { thr % (8 * m as u16 + 1) } else { thr };
        let (want_sums, want_hits) = reference::pq8_byte_scan(lut, &codes, m, thr);
        let mut blocked = vec![0x55u8; off];
        blocked.extend(pack_pq8_blocks(&codes, m));
        let blocked = &blocked[off..];
        for k in levels() {
            let (mut sums, mut hits) = (Vec::new(), Vec::new());
            k.pq8_byte_scan(lut, blocked, m, n, thr, &mut sums, &mut hits);
            prop_assert_eq!(&sums[..n], &want_sums[..], "{} (byte scan in registers: {})", k.level(), k.has_pq8_byte_scan());
            prop_assert_eq!(&hits, &want_hits, "{}", k.level());
        }
    }

    #[test]
    fn quantize_matches_reference(m in 0usize..300, off in 0usize..4, seed in any::<u64>(),
                                  spread in prop::sample::select(vec![0.0f32, 1e-3, 1.0, 1e4]),
                                  k16 in prop::sample::select(vec![16usize, 256])) {
        // k16: 16-entry rows (pq4_quantize) or 256-entry rows (pq8_quantize); m up to 300
        // forces a scale under 255/width for the u16 bound.
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x >> 40) as f32 / (1u64 << 24) as f32 };
        let mut lut = vec![0.0f32; off + k16 * m];
        for v in &mut lut[off..] {
            *v = (next() - 0.3) * spread;
        }
        let lut = &lut[off..];
        let (want, want_scale, want_base) = if k16 == 16 {
            reference::pq4_quantize(lut, m)
        } else {
            reference::pq8_quantize(lut, m)
        };
        // The scale keeps every one-byte-per-row sum inside u16 ...
        let top: u32 = want.chunks_exact(k16).map(|r| u32::from(*r.iter().max().unwrap_or(&0))).sum();
        prop_assert!(top <= 65535);
        // ... and a byte is its float within half a step.
        for (r, q) in lut.chunks_exact(k16).zip(want.chunks_exact(k16)) {
            let lo = r.iter().fold(f32::INFINITY, |a, &b| a.min(b));
            for (v, &b) in r.iter().zip(q) {
                let err = (f32::from(b) - (v - lo) * want_scale).abs();
                prop_assert!(err <= 0.5 + 1e-3, "byte {} for {}", b, (v - lo) * want_scale);
            }
        }
        for k in levels() {
            let mut out = vec![7u8; 3];
            let (scale, base) = if k16 == 16 {
                k.pq4_quantize(lut, m, &mut out)
            } else {
                k.pq8_quantize(lut, m, &mut out)
            };
            prop_assert_eq!(&out, &want, "{}", k.level());
            prop_assert_eq!(scale.to_bits(), want_scale.to_bits(), "{}", k.level());
            prop_assert_eq!(base.to_bits(), want_base.to_bits(), "{}", k.level());
        }
    }

    #[test]
    fn quantize_sum_matches_reference(m in 0usize..150, off in 0usize..4, seed in any::<u64>(),
                                      loose in prop::sample::select(vec![0.0f32, 0.5, -0.25]),
                                      k16 in prop::sample::select(vec![16usize, 256])) {
        // k16: 16-entry rows (pq4_quantize_sum) or 256-entry rows (pq8_quantize_sum).
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x >> 40) as f32 / (1u64 << 24) as f32 };
        let mut buf = vec![0.0f32; off + 2 * k16 * m + 2 * m];
        for v in &mut buf[off..] {
            *v = next() - 0.3;
        }
        let (a, rest) = buf[off..].split_at(k16 * m);
        let (b, _) = rest.split_at(k16 * m);
        // Bounds from each part's row extremes (as the index makes them), loosened, or
        // tightened past the data (negative `loose`) so the clamps are exercised.
        let ext = |t: &[f32], j: usize, f: fn(f32, f32) -> f32, init: f32| t[k16 * j..k16 * (j + 1)].iter().fold(init, |acc, &v| f(acc, v));
        let lo: Vec<f32> = (0..m).map(|j| ext(a, j, f32::min, f32::INFINITY) + ext(b, j, f32::min, f32::INFINITY) - loose).collect();
        let hi: Vec<f32> = (0..m).map(|j| ext(a, j, f32::max, f32::NEG_INFINITY) + ext(b, j, f32::max, f32::NEG_INFINITY) + loose).collect();
        let (want, want_scale, want_base) = if k16 == 16 {
            reference::pq4_quantize_sum(a, b, &lo, &hi, m)
        } else {
            reference::pq8_quantize_sum(a, b, &lo, &hi, m)
        };
        let top: u32 = want.chunks_exact(k16).map(|r| u32::from(*r.iter().max().unwrap_or(&0))).sum();
        prop_assert!(top <= 65535);
        if loose >= 0.0 {
            // With true bounds a byte is its float within half a step.
            for j in 0..m {
                for c in 0..k16 {
                    let v = (a[k16 * j + c] + b[k16 * j + c] - lo[j]) * want_scale;
                    let err = (f32::from(want[k16 * j + c]) - v).abs();
                    prop_assert!(err <= 0.5 + 1e-3, "byte {} for {}", want[k16 * j + c], v);
                }
            }
        }
        for k in levels() {
            let mut out = vec![7u8; 3];
            let (scale, base) = if k16 == 16 {
                k.pq4_quantize_sum((a, b), (&lo, &hi), m, &mut out)
            } else {
                k.pq8_quantize_sum((a, b), (&lo, &hi), m, &mut out)
            };
            prop_assert_eq!(&out, &want, "{}", k.level());
            prop_assert_eq!(scale.to_bits(), want_scale.to_bits(), "{}", k.level());
            prop_assert_eq!(base.to_bits(), want_base.to_bits(), "{}", k.level());
        }
    }

    #[test]
    fn pq4_scan_matches_reference(n in 0usize..200, m in 1usize..70, seed in any::<u64>(),
                                  off in 0usize..3, thr in any::<u16>(), small in any::<bool>()) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let codes: Vec<u8> = (0..n * m).map(|_| next() as u8 & 15).collect();
        // Small entries exercise the threshold; full bytes exercise wrapping u16 sums.
        let cap = if small { 8 } else { 256 };
        let m_pad = pq4_m_pad(m);
        let mut lut = vec![0u8; off + m_pad * 16];
        for v in &mut lut[off..off + m * 16] {
            *v = (next() % cap) as u8;
        }
        let lut = &lut[off..];
        let thr = if small { thr % (8 * m as u16 + 1) } else { thr };
        let (want_sums, want_hits) = reference::pq4_scan(lut, &codes, m, thr);
        for layout in LAYOUTS {
            let blocked = packed(&codes, m, layout, off);
            let blocked = &blocked[off..];
            for i in 0..n {
                for j in 0..m {
                    prop_assert_eq!(pq4_code(blocked, layout, m, i, j), codes[i * m + j]);
                }
            }
            for k in levels() {
                let (mut sums, mut hits) = (Vec::new(), Vec::new());
                k.pq4_scan(lut, (blocked, layout), m, n, thr, &mut sums, &mut hits);
                prop_assert_eq!(&sums[..n], &want_sums[..], "{} {:?}", k.level(), layout);
                prop_assert_eq!(&hits, &want_hits, "{} {:?}", k.level(), layout);
            }
        }
    }

    #[test]
    fn pq4_scan_queries_matches_reference(n in 0usize..150, m in 1usize..40, nq in 0usize..7,
                                          seed in any::<u64>(), off in 0usize..3) {
        let mut x = seed | 1;
        let mut next = || { x ^= x << 13; x ^= x >> 7; x ^= x << 17; x };
        let codes: Vec<u8> = (0..n * m).map(|_| next() as u8 & 15).collect();
        let m_pad = pq4_m_pad(m);
        // Query `q`'s table sits at offset `off + q` of its own buffer (unaligned), its
        // entries under 8 so that thresholds up to 8m split the codes.
        let luts: Vec<Vec<u8>> = (0..nq)
            .map(|q| {
                let mut t = vec![0u8; off + q + m_pad * 16];
                for v in &mut t[off + q..off + q + m * 16] {
                    *v = (next() % 8) as u8;
                }
                t
            })
            .collect();
        let thrs: Vec<u16> = (0..nq).map(|_| (next() % (8 * m as u64 + 1)) as u16).collect();
        for (k, layout) in levels().into_iter().flat_map(|k| LAYOUTS.map(|l| (k, l))) {
            let blocked = packed(&codes, m, layout, off);
            let blocked = &blocked[off..];
            let mut sums = vec![Vec::new(); nq];
            let mut hits = vec![Vec::new(); nq];
            let mut qs: Vec<Pq4Query> = luts
                .iter()
                .zip(&thrs)
                .zip(sums.iter_mut().zip(hits.iter_mut()))
                .enumerate()
                .map(|(q, ((lut, &threshold), (sums, hits)))| Pq4Query {
                    lut: &lut[off + q..],
                    threshold,
                    all_sums: q % 2 == 0,
                    sums,
                    hits,
                })
                .collect();
            k.pq4_scan_queries((blocked, layout), m, n, &mut qs);
            drop(qs);
            for q in 0..nq {
                let (want_sums, want_hits) = reference::pq4_scan(&luts[q][off + q..], &codes, m, thrs[q]);
                prop_assert_eq!(&hits[q], &want_hits, "{} {:?} query {}", k.level(), layout, q);
                // Even queries want every sum; odd ones only those of blocks with a hit.
                for (i, &want) in want_sums.iter().enumerate() {
                    let kept = q % 2 == 0 || want_hits.iter().any(|&h| h as usize / 32 == i / 32);
                    if kept {
                        prop_assert_eq!(sums[q][i], want, "{} {:?} query {} code {}", k.level(), layout, q, i);
                    }
                }
            }
        }
    }

    #[test]
    fn select_below_and_topk_match_reference(d in prop::collection::vec(0u8..50, 0..700),
                                             thr in 0u8..60, k in 0usize..40, off in 0usize..3) {
        let d: Vec<f32> = d.into_iter().map(f32::from).collect();
        let d = &d[off.min(d.len())..];
        let want = reference::select_below(d, thr as f32);
        for kern in levels() {
            let mut got = Vec::new();
            kern.select_below(d, thr as f32, &mut got);
            prop_assert_eq!(&got, &want, "{}", kern.level());
        }
        // Many equal distances: ties must resolve by id, as the full sort does.
        let pairs: Vec<(f32, u64)> = d.iter().enumerate().map(|(i, &x)| (x, (i as u64 * 7919) % 1000)).collect();
        let mut top = TopK::new(k);
        for &(x, id) in &pairs { top.push(x, id); }
        prop_assert_eq!(top.into_sorted(), reference::top_k(&pairs, k));
        // Compacting or tightening between pushes (as scans do between lists) only prunes
        // what cannot enter the top k.
        let mut top = TopK::new(k);
        for (i, &(x, id)) in pairs.iter().enumerate() {
            top.push(x, id);
            match i % 7 { 0 => top.tighten(), 3 => top.compact(), _ => {} }
        }
        prop_assert_eq!(top.into_sorted(), reference::top_k(&pairs, k));
    }
}

proptest! {
    #[test]
    fn argmin_sum_matches_reference(a in prop::collection::vec(0u8..20, 0..600),
                                    b in prop::collection::vec(0u8..20, 600), off in 0usize..3) {
        // Small integers: many exact ties, which must go to the first index.
        let a: Vec<f32> = a.into_iter().map(f32::from).collect();
        let b: Vec<f32> = b.into_iter().map(f32::from).collect();
        let a = &a[off.min(a.len())..];
        let b = &b[..a.len()];
        for k in levels() {
            prop_assert_eq!(k.argmin_sum(a, b), reference::argmin_sum(a, b), "{}", k.level());
            let mut out = vec![f32::NAN; a.len()];
            k.add(a, b, &mut out);
            prop_assert_eq!(&out, &reference::add(a, b), "{}", k.level());
            for row_len in [1usize, 7, 16, 33] {
                let rows = a.len() / row_len;
                let mut mins = vec![f32::NAN; rows];
                k.row_mins(&a[..rows * row_len], row_len, &mut mins);
                prop_assert_eq!(&mins, &reference::row_mins(&a[..rows * row_len], row_len), "{}", k.level());
                k.row_maxs(&a[..rows * row_len], row_len, &mut mins);
                prop_assert_eq!(&mins, &reference::row_maxs(&a[..rows * row_len], row_len), "{}", k.level());
            }
        }
    }
}

proptest! {
    #[test]
    fn nearest_l2_is_the_first_minimum_of_the_lookup_table(
        dim in 1usize..20, k in 0usize..300, off in 0usize..3, seed in any::<u64>(),
        grid in any::<bool>(),
    ) {
        let mut z = seed | 1;
        // `grid` draws small integers, so many centroids tie and the first must win.
        let mut next = || {
            z ^= z << 13; z ^= z >> 7; z ^= z << 17;
            if grid { ((z >> 60) % 4) as f32 } else { (z >> 40) as f32 / (1u64 << 24) as f32 - 0.5 }
        };
        let n = 3;
        let x: Vec<f32> = (0..n * dim + off).map(|_| next()).collect();
        let ct: Vec<f32> = (0..dim * k + off).map(|_| next()).collect();
        let (xs, ct) = (&x[off..], &ct[off..]);
        let norms: Vec<f32> = (0..k).map(|c| (0..dim).map(|d| ct[d * k + c].powi(2)).sum()).collect();
        for kern in levels() {
            let (mut labels, mut dists) = (vec![7u32; n], vec![f32::NAN; n]);
            kern.nearest_l2(if k == 0 { &[] } else { xs }, ct, &norms, &mut labels, &mut dists);
            for (i, x) in xs.chunks_exact(dim).enumerate() {
                let got = (labels[i] as usize, dists[i]);
                if k == 0 {
                    prop_assert_eq!(got, (0, f32::INFINITY));
                    continue;
                }
                // Bit-identical to the first minimum of the inner-product table's score at
                // the same level.
                let mut lut = vec![0.0; k];
                kern.pq_lut_dot(x, ct, k, &mut lut);
                lut.iter_mut().for_each(|v| *v *= -2.0);
                let (best, score) = kern.argmin_sum(&lut, &norms);
                let xn = x.iter().fold(0.0f32, |a, v| a + v * v);
                prop_assert_eq!(got, (best, (score + xn).max(0.0)), "{}", kern.level());
                // And within rounding of the scalar reference.
                let want = reference::nearest_l2(x, ct, k);
                let tol = 1e-5 * (1.0 + want.1.abs() + kern.norm_sq(x));
                prop_assert!((got.1 - want.1).abs() <= tol, "{}", kern.level());
                let at: f32 = x.iter().enumerate().map(|(d, v)| (v - ct[d * k + got.0]).powi(2)).sum();
                prop_assert!((at - want.1).abs() <= tol, "{}", kern.level());
            }
        }
    }
}

#[test]
fn unknown_and_missing_levels_are_errors() {
    assert!(
        Level::parse("sse9")
            .unwrap_err()
            .to_string()
            .contains("sse9")
    );
    assert_eq!(Level::parse(" AVX2 ").unwrap(), Level::Avx2);
    let absent = if cfg!(target_arch = "x86_64") {
        Level::Neon
    } else {
        Level::Avx512
    };
    let err = Kernels::for_level(absent)
        .err()
        .expect("this CPU cannot run both ISAs");
    assert!(err.to_string().contains(absent.name()), "{err}");
    assert!(Level::available().contains(&Level::Scalar));
}

#[test]
fn topk_merge_equals_single_pass() {
    let pairs: Vec<(f32, u64)> = (0..5000u64)
        .map(|i| (((i * 2654435761) % 997) as f32, i))
        .collect();
    let (a, b) = pairs.split_at(2100);
    let mut ta = TopK::new(100);
    let mut tb = TopK::new(100);
    a.iter().for_each(|p| ta.push(p.0, p.1));
    b.iter().for_each(|p| tb.push(p.0, p.1));
    ta.merge(tb);
    assert_eq!(ta.into_sorted(), reference::top_k(&pairs, 100));
}
