//! The checked entry points of a [`Kernels`] table.
//!
//! Shapes are checked here, once per call, so the per-level bodies can assume them.

use crate::{Kernels, Pq4Layout, Pq4Query};

impl Kernels {
    /// `a · b`.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "dot: slices differ in length");
        (self.dot)(a, b)
    }

    /// Squared Euclidean distance `‖a − b‖²`.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn l2sq(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "l2sq: slices differ in length");
        (self.l2sq)(a, b)
    }

    /// Cosine distance `1 − a·b / (‖a‖‖b‖)`; 1 when either vector is zero.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn cosine(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "cosine: slices differ in length");
        (self.cosine)(a, b)
    }

    /// `‖a‖²`.
    #[inline]
    pub fn norm_sq(&self, a: &[f32]) -> f32 {
        (self.dot)(a, a)
    }

    /// Squared norms of the `out.len()` rows of `rows` (row-major, `dim` wide).
    ///
    /// # Panics
    /// If `rows.len() != dim * out.len()`.
    #[inline]
    pub fn norms_sq(&self, rows: &[f32], dim: usize, out: &mut [f32]) {
        assert_eq!(
            rows.len(),
            dim * out.len(),
            "norms_sq: rows is not dim x out.len()"
        );
        (self.norms_sq)(rows, dim, out)
    }

    /// `out[i] = q · rows[i]` for the `out.len()` rows of `rows` (row-major, `q.len()` wide).
    ///
    /// # Panics
    /// If `rows.len() != q.len() * out.len()`.
    #[inline]
    pub fn dot_many(&self, q: &[f32], rows: &[f32], out: &mut [f32]) {
        assert_eq!(
            rows.len(),
            q.len() * out.len(),
            "dot_many: rows is not q.len() x out.len()"
        );
        (self.dot_many)(q, rows, out)
    }

    /// `out[i] = ‖q − rows[i]‖²`, shapes as in [`Kernels::dot_many`].
    ///
    /// # Panics
    /// If `rows.len() != q.len() * out.len()`.
    #[inline]
    pub fn l2sq_many(&self, q: &[f32], rows: &[f32], out: &mut [f32]) {
        assert_eq!(
            rows.len(),
            q.len() * out.len(),
            "l2sq_many: rows is not q.len() x out.len()"
        );
        (self.l2sq_many)(q, rows, out)
    }

    /// [`Kernels::dot_many`] for two queries at once: `out[0]` for `q[0]`, `out[1]` for
    /// `q[1]`, bit for bit as two calls give them. With 32 vector registers (AVX-512)
    /// each row is read once for both queries, which halves the row traffic when the rows
    /// come from L2 (a group's coarse centroids).
    ///
    /// ```
    /// let k = ivfpq_simd::Kernels::active();
    /// let rows: Vec<f32> = (0..10 * 300).map(|i| (i % 17) as f32).collect();
    /// let a: Vec<f32> = (0..300).map(|i| i as f32).collect();
    /// let b: Vec<f32> = (0..300).map(|i| 1.0 - i as f32).collect();
    /// let (mut x, mut y) = (vec![0.0; 10], vec![0.0; 10]);
    /// k.dot_many2([&a, &b], &rows, [&mut x, &mut y]);
    /// let mut one = vec![0.0; 10];
    /// k.dot_many(&b, &rows, &mut one);
    /// assert_eq!(y, one);
    /// ```
    ///
    /// # Panics
    /// If the queries differ in length or `rows` is not `q[0].len() × out[i].len()`.
    #[inline]
    pub fn dot_many2(&self, q: [&[f32]; 2], rows: &[f32], out: [&mut [f32]; 2]) {
        check_many2(q, rows, &out);
        let [o0, o1] = out;
        (self.dot_many2)(q[0], q[1], rows, o0, o1)
    }

    /// [`Kernels::l2sq_many`] for two queries at once, as [`Kernels::dot_many2`].
    ///
    /// # Panics
    /// As [`Kernels::dot_many2`].
    #[inline]
    pub fn l2sq_many2(&self, q: [&[f32]; 2], rows: &[f32], out: [&mut [f32]; 2]) {
        check_many2(q, rows, &out);
        let [o0, o1] = out;
        (self.l2sq_many2)(q[0], q[1], rows, o0, o1)
    }

    /// `out[i] = 1 − cos(q, rows[i])`, shapes as in [`Kernels::dot_many`].
    ///
    /// # Panics
    /// If `rows.len() != q.len() * out.len()`.
    #[inline]
    pub fn cosine_many(&self, q: &[f32], rows: &[f32], out: &mut [f32]) {
        assert_eq!(
            rows.len(),
            q.len() * out.len(),
            "cosine_many: rows is not q.len() x out.len()"
        );
        (self.cosine_many)(q, rows, out)
    }

    /// The squared-L2 lookup table of query `q` against PQ codebooks.
    ///
    /// `cb_t` holds, for each of the `m = out.len() / ksub` sub-quantizers, its `ksub`
    /// centroids transposed (`dsub × ksub`, coordinate-major), `dsub = q.len() / m`.
    /// `out[j * ksub + c] = ‖q_j − centroid_{j,c}‖²`.
    ///
    /// # Panics
    /// If `ksub == 0`, `out.len()` is not a multiple of `ksub`, `q.len()` not a multiple of
    /// `m`, or `cb_t.len() != q.len() * ksub`.
    #[inline]
    pub fn pq_lut_l2(&self, q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) {
        check_lut(q, cb_t, ksub, out);
        (self.pq_lut_l2)(q, cb_t, ksub, out)
    }

    /// The inner-product lookup table: `out[j * ksub + c] = q_j · centroid_{j,c}`.
    ///
    /// # Panics
    /// As [`Kernels::pq_lut_l2`].
    #[inline]
    pub fn pq_lut_dot(&self, q: &[f32], cb_t: &[f32], ksub: usize, out: &mut [f32]) {
        check_lut(q, cb_t, ksub, out);
        (self.pq_lut_dot)(q, cb_t, ksub, out)
    }

    /// Scores `out.len()` 8-bit PQ codes: `out[i] = bias + Σ_j lut[j * 256 + code_i[j]]`.
    ///
    /// `codes` is in the blocked layout of [`crate::pack_pq8_blocks`]; the sum runs over
    /// sub-quantizers in order, so every level returns bit-identical results.
    ///
    /// # Panics
    /// If `lut.len() != m * 256` or `codes` is shorter than `out.len()` blocked codes.
    #[inline]
    pub fn pq8_scan(&self, lut: &[f32], codes: &[u8], m: usize, bias: f32, out: &mut [f32]) {
        (self.pq8_scan)(lut, codes, m, bias, out)
    }

    /// [`Kernels::pq8_scan`] that skips blocks which cannot score at or under a threshold.
    ///
    /// `bound = Some((suffix_min, threshold))`: `suffix_min[j] = Σ_{j' ≥ j} min_c
    /// lut[j'][c]` (`m + 1` entries). A block of 32 whose partial sums after `m/4`, `m/2` or
    /// `3m/4` sub-quantizers all exceed `threshold − suffix_min[j]` is abandoned and its
    /// scores set to `+inf`; every other score is bit-identical to `pq8_scan`'s. Exact for
    /// top-k: an abandoned code's full score exceeds the threshold.
    ///
    /// # Panics
    /// As [`Kernels::pq8_scan`], or if `suffix_min` has fewer than `m + 1` entries.
    #[inline]
    pub fn pq8_scan_bounded(
        &self,
        lut: &[f32],
        codes: &[u8],
        m: usize,
        bias: f32,
        bound: Option<(&[f32], f32)>,
        out: &mut [f32],
    ) {
        if let Some((suffix, _)) = bound {
            assert!(
                suffix.len() > m,
                "pq8_scan_bounded: suffix_min needs m + 1 entries"
            );
        }
        (self.pq8_scan_bounded)(lut, codes, m, bias, bound, out)
    }

    /// Appends the index of every `dists[i] <= threshold` to `out`, in increasing order.
    ///
    /// The top-k threshold test: it runs vector-wide and touches scalar code only for the
    /// few survivors, so the heap sees only candidates that may enter it.
    #[inline]
    pub fn select_below(&self, dists: &[f32], threshold: f32, out: &mut Vec<u32>) {
        (self.select_below)(dists, threshold, out)
    }

    /// The layout of 4-bit codes that this level's fast-scan reads fastest: where codes
    /// are kept in memory (an index's partitions), they are kept in it. Files always hold
    /// [`Pq4Layout::Blocked`].
    #[inline]
    pub fn pq4_layout(&self) -> Pq4Layout {
        (self.pq4.layout)()
    }

    /// 4-bit fast-scan of `n` codes in blocks of 32 ([`crate::pack_pq4_blocks`]), their
    /// chunks ordered as `layout` says: writes every code's `u16` sum
    /// `Σ_j lut[16j + code_i[j]]` to `out` (resized to whole blocks), and appends to
    /// `hits`, in increasing order, each `i < n` whose sum is at most `threshold`. `lut`
    /// is `pq4_m_pad(m) × 16` bytes (padding rows zero); the caller scales it so that sums
    /// fit in `u16`. Every level returns identical results for either layout (a level
    /// whose [`Kernels::pq4_layout`] is `Blocked` scans transposed codes with the scalar
    /// kernel).
    ///
    /// # Panics
    /// If `lut` or `codes` is shorter than that layout needs.
    #[inline]
    pub fn pq4_scan(
        &self,
        lut: &[u8],
        (codes, layout): (&[u8], Pq4Layout),
        m: usize,
        n: usize,
        threshold: u16,
        out: &mut Vec<u16>,
        hits: &mut Vec<u32>,
    ) {
        let m_pad = crate::pq4_m_pad(m);
        let len = crate::pq4_blocked_len(n, m);
        assert!(
            lut.len() >= 16 * m_pad,
            "pq4_scan: lut needs pq4_m_pad(m) × 16 bytes"
        );
        assert!(
            codes.len() >= len,
            "pq4_scan: codes shorter than n blocked codes"
        );
        out.resize(n.div_ceil(crate::PQ4_BLOCK) * crate::PQ4_BLOCK, 0);
        if m_pad > 0 {
            let scan = self.pq4.scan[layout as usize];
            scan(lut, &codes[..len], m_pad, n, threshold, out, hits)
        }
    }

    /// [`Kernels::pq4_scan`] of one list of codes for several queries, each with its own
    /// table, threshold, sums and hits; the results are those of one call per query.
    /// Where the CPU has AVX-512 VBMI and VNNI, each block of codes is loaded and split
    /// into nibbles once for up to four queries (FAISS's batched "implem 12" kernels).
    ///
    /// # Panics
    /// If a table or `codes` is shorter than the layout needs.
    pub fn pq4_scan_queries(
        &self,
        (codes, layout): (&[u8], Pq4Layout),
        m: usize,
        n: usize,
        qs: &mut [Pq4Query<'_>],
    ) {
        let m_pad = crate::pq4_m_pad(m);
        let len = crate::pq4_blocked_len(n, m);
        assert!(
            qs.iter().all(|q| q.lut.len() >= 16 * m_pad),
            "pq4_scan_queries: a lut needs pq4_m_pad(m) × 16 bytes"
        );
        assert!(
            codes.len() >= len,
            "pq4_scan_queries: codes shorter than n blocked codes"
        );
        for q in qs.iter_mut() {
            q.sums
                .resize(n.div_ceil(crate::PQ4_BLOCK) * crate::PQ4_BLOCK, 0);
        }
        if m_pad > 0 {
            let codes = &codes[..len];
            match self.pq4.scan_queries[layout as usize] {
                Some(scan) => scan(codes, m_pad, n, qs),
                None => crate::pq4::each_query(self.pq4.scan[layout as usize], codes, m_pad, n, qs),
            }
        }
    }

    /// Quantizes a fast-scan table: `lut` is `m × 16` floats; `out` becomes
    /// `pq4_m_pad(m) × 16` bytes, row `j` = `(lut[j][c] − min_j)·scale` rounded to the
    /// nearest integer, ties to even (at most 255; padding rows zero). Returns `(scale, base)` with `base = Σ_j min_j`, so a float sum
    /// is about `base + Σ bytes / scale`. The scale keeps every sum of one byte per row
    /// within `u16` with room for the rounding. Every level returns identical results.
    ///
    /// # Panics
    /// If `lut.len() != 16 · m`.
    #[inline]
    pub fn pq4_quantize(&self, lut: &[f32], m: usize, out: &mut Vec<u8>) -> (f32, f32) {
        assert_eq!(lut.len(), 16 * m, "pq4_quantize: lut must be m × 16");
        out.resize(16 * crate::pq4_m_pad(m), 0);
        (self.pq4_quantize)(lut, out)
    }

    /// Quantizes the fast-scan table `a + b` (each `m × 16` floats) given bounds of its
    /// rows, `lo[j] ≤ (a + b)[j][c] ≤ hi[j]` (`m` each), into `out` as
    /// [`Kernels::pq4_quantize`] does, but with the bounds in place of each row's minimum
    /// and maximum: no row is reduced and the float sum is not stored. A precomputed
    /// table plus a query's term has such bounds as the sums of each part's row minima
    /// and maxima. The widths are `max(hi − lo, 0)`; bytes are clamped to `[0, 255]`, so
    /// loose or wrong bounds cost precision, never memory safety. Every level returns
    /// identical results.
    ///
    /// # Panics
    /// If `a` or `b` is not `m × 16`, or `lo` or `hi` is not `m` long.
    #[inline]
    pub fn pq4_quantize_sum(
        &self,
        (a, b): (&[f32], &[f32]),
        (lo, hi): (&[f32], &[f32]),
        m: usize,
        out: &mut Vec<u8>,
    ) -> (f32, f32) {
        assert!(
            a.len() == 16 * m && b.len() == 16 * m && lo.len() == m && hi.len() == m,
            "pq4_quantize_sum: tables must be m × 16 and bounds m"
        );
        out.resize(16 * crate::pq4_m_pad(m), 0);
        (self.pq4_quantize_sum)(a, b, lo, hi, out)
    }
}

impl Kernels {
    /// Whether [`Kernels::pq8_byte_scan`] runs in registers here: AVX-512 with VBMI (Ice
    /// Lake, Sapphire Rapids, Zen 4 and later) at the AVX-512 level. Elsewhere it is a
    /// scalar loop no faster than [`Kernels::pq8_scan`], and callers should keep the float
    /// scan.
    pub fn has_pq8_byte_scan(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.level == crate::Level::Avx512 {
            return crate::pq8_bytes::x86::has_vbmi();
        }
        false
    }

    /// Quantizes the 8-bit scan's table `lut` (`m × 256`) into `out` (`m × 256` bytes) for
    /// [`Kernels::pq8_byte_scan`], as [`Kernels::pq4_quantize`] does 16-entry rows: each
    /// row shifted by its minimum, one scale that keeps bytes ≤ 255 and sums of `m` bytes
    /// in a `u16`. Returns `(scale, base)`: a code's float sum is about `base + Σ bytes /
    /// scale`, within `m / (2·scale)`.
    ///
    /// # Panics
    /// If `lut.len() != 256 · m`.
    #[inline]
    pub fn pq8_quantize(&self, lut: &[f32], m: usize, out: &mut Vec<u8>) -> (f32, f32) {
        assert_eq!(lut.len(), 256 * m, "pq8_quantize: lut must be m × 256");
        out.resize(256 * m, 0);
        (self.pq8_quantize)(lut, out)
    }

    /// [`Kernels::pq4_quantize_sum`] for the 8-bit scan's tables: `a + b` (each `m × 256`)
    /// with row bounds `lo`, `hi` (`m` each) into `out` (`m × 256` bytes), no row reduced
    /// and the float sum not stored.
    ///
    /// # Panics
    /// If `a` or `b` is not `m × 256`, or `lo` or `hi` is not `m` long.
    #[inline]
    pub fn pq8_quantize_sum(
        &self,
        (a, b): (&[f32], &[f32]),
        (lo, hi): (&[f32], &[f32]),
        m: usize,
        out: &mut Vec<u8>,
    ) -> (f32, f32) {
        assert!(
            a.len() == 256 * m && b.len() == 256 * m && lo.len() == m && hi.len() == m,
            "pq8_quantize_sum: tables must be m × 256 and bounds m"
        );
        out.resize(256 * m, 0);
        (self.pq8_quantize_sum)(a, b, lo, hi, out)
    }

    /// The 8-bit scan with a byte table: for each of the `n` codes (the blocked layout of
    /// [`crate::pack_pq8_blocks`]), the `u16` sum (wrapping) of its `m` entries of `lut`
    /// (`m × 256` bytes, from [`Kernels::pq8_quantize`]) into `out` (resized to whole
    /// blocks), and the index of every code whose sum is at most `threshold` appended to
    /// `hits`, in increasing order.
    ///
    /// # Panics
    /// If `lut` is shorter than `256 · m` or `codes` than `n` blocked codes.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn pq8_byte_scan(
        &self,
        lut: &[u8],
        codes: &[u8],
        m: usize,
        n: usize,
        threshold: u16,
        out: &mut Vec<u16>,
        hits: &mut Vec<u32>,
    ) {
        let len = crate::pq8_blocked_len(n, m);
        assert!(
            lut.len() >= 256 * m,
            "pq8_byte_scan: lut needs m × 256 bytes"
        );
        assert!(
            codes.len() >= len,
            "pq8_byte_scan: codes shorter than n blocked codes"
        );
        out.resize(n.div_ceil(crate::PQ8_BLOCK) * crate::PQ8_BLOCK, 0);
        (self.pq8_byte_scan)(lut, &codes[..len], m, n, threshold, out, hits)
    }
}

impl Kernels {
    /// Index and value of the first minimum of `a[i] + b[i]`; `(0, +inf)` when empty.
    ///
    /// The fused argmin of k-means assignment: `a` holds `−2·x·c` from a GEMM and `b` the
    /// centroid norms. Ties go to the lowest index, as a scalar scan would.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn argmin_sum(&self, a: &[f32], b: &[f32]) -> (usize, f32) {
        assert_eq!(a.len(), b.len(), "argmin_sum: slices differ in length");
        (self.argmin_sum)(a, b)
    }

    /// For each short row of `rows`, its nearest of `k = norms.len()` centroids by
    /// squared L2: into `labels[i]` the first minimum of the score `norms[c] − 2·x·c`, and
    /// into `dists[i]` that score plus `‖x‖²` (summed in order), at least 0. `ct` is the centroid matrix
    /// transposed (`dim × k`, `dim = ct.len() / k`), as [`Kernels::pq_lut_dot`] takes one
    /// sub-quantizer's; `norms` are the centroids' squared norms.
    ///
    /// The label is `argmin_sum(−2 · pq_lut_dot(x), norms)` bit for bit (the score of
    /// the k-means GEMM path), in one pass and one call for all rows: k-means assignment
    /// in PQ sub-spaces. With `k = 0` every row gets `(0, +inf)`.
    ///
    /// # Panics
    /// If `ct.len()` is not a multiple of `k`, or the rows are not `labels.len()` rows of
    /// `dim`, or `dists.len() != labels.len()`.
    #[inline]
    pub fn nearest_l2(
        &self,
        rows: &[f32],
        ct: &[f32],
        norms: &[f32],
        labels: &mut [u32],
        dists: &mut [f32],
    ) {
        let k = norms.len();
        let dim = ct.len().checked_div(k).unwrap_or(0);
        assert!(
            k == 0 || ct.len() == dim * k,
            "nearest_l2: ct is not dim x k"
        );
        assert_eq!(
            dists.len(),
            labels.len(),
            "nearest_l2: labels and dists differ"
        );
        assert!(
            k == 0 || rows.len() == labels.len() * dim,
            "nearest_l2: rows is not labels.len() x dim"
        );
        (self.nearest_l2)(rows, ct, norms, labels, dists)
    }

    /// `out[i] = a[i] + b[i]`: assembling a probe's lookup table from its precomputed
    /// part and the query's part.
    ///
    /// # Panics
    /// If the three lengths differ.
    #[inline]
    pub fn add(&self, a: &[f32], b: &[f32], out: &mut [f32]) {
        assert!(
            a.len() == b.len() && a.len() == out.len(),
            "add: slices differ in length"
        );
        (self.add)(a, b, out)
    }
}

impl Kernels {
    /// `out[r]` = the minimum of row `r` of `rows` (`out.len()` rows of `row_len`): the
    /// per-sub-quantizer table minima behind the scan's early-abandon bound.
    ///
    /// # Panics
    /// If `rows.len() != row_len * out.len()`.
    #[inline]
    pub fn row_mins(&self, rows: &[f32], row_len: usize, out: &mut [f32]) {
        assert_eq!(
            rows.len(),
            row_len * out.len(),
            "row_mins: rows is not out.len() x row_len"
        );
        (self.row_mins)(rows, row_len, out)
    }

    /// `out[r]` = the maximum of row `r` of `rows`: with [`Kernels::row_mins`], the row
    /// bounds that size a byte table's scale.
    ///
    /// # Panics
    /// If `rows.len() != row_len * out.len()`.
    #[inline]
    pub fn row_maxs(&self, rows: &[f32], row_len: usize, out: &mut [f32]) {
        assert_eq!(
            rows.len(),
            row_len * out.len(),
            "row_maxs: rows is not out.len() x row_len"
        );
        (self.row_maxs)(rows, row_len, out)
    }
}

fn check_many2(q: [&[f32]; 2], rows: &[f32], out: &[&mut [f32]; 2]) {
    assert_eq!(
        q[0].len(),
        q[1].len(),
        "many2: the queries differ in length"
    );
    for o in out {
        assert_eq!(
            rows.len(),
            q[0].len() * o.len(),
            "many2: rows is not q.len() x out.len()"
        );
    }
}

fn check_lut(q: &[f32], cb_t: &[f32], ksub: usize, out: &[f32]) {
    assert!(
        ksub > 0 && out.len().is_multiple_of(ksub),
        "pq_lut: out is not m x ksub"
    );
    let m = out.len() / ksub;
    assert!(
        m > 0 && q.len().is_multiple_of(m),
        "pq_lut: query length is not a multiple of m"
    );
    assert_eq!(
        cb_t.len(),
        q.len() * ksub,
        "pq_lut: codebooks are not dim x ksub"
    );
}
