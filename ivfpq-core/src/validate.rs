//! Input checks shared by training, adding and searching.

use crate::error::{IvfPqError, Result};

/// Checks that `data` is `n × dim` with `n ≥ 1` and every value finite; returns `n`.
pub(crate) fn rows(param: &'static str, data: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(IvfPqError::InvalidParameter {
            param: "dim",
            message: "must be at least 1".into(),
        });
    }
    if data.is_empty() {
        return Err(IvfPqError::Empty { param });
    }
    if !data.len().is_multiple_of(dim) {
        return Err(IvfPqError::DimensionMismatch {
            param,
            expected: dim,
            got: data.len() % dim,
        });
    }
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(IvfPqError::NotFinite {
            param,
            row: i / dim,
            col: i % dim,
            value: data[i],
        });
    }
    Ok(data.len() / dim)
}

/// Scales each `dim`-wide row of `data` to unit length in place (zero rows stay zero).
pub(crate) fn normalize_rows(k: &ivfpq_simd::Kernels, data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        let n = k.norm_sq(row).sqrt();
        if n > 0.0 {
            let inv = 1.0 / n;
            row.iter_mut().for_each(|x| *x *= inv);
        }
    }
}

/// `data` as the index stores it: unit rows for cosine (a normalised copy), else as is.
pub(crate) fn for_metric<'a>(
    k: &ivfpq_simd::Kernels,
    metric: crate::Metric,
    data: &'a [f32],
    dim: usize,
) -> std::borrow::Cow<'a, [f32]> {
    if metric == crate::Metric::Cosine {
        let mut v = data.to_vec();
        normalize_rows(k, &mut v, dim);
        std::borrow::Cow::Owned(v)
    } else {
        std::borrow::Cow::Borrowed(data)
    }
}
