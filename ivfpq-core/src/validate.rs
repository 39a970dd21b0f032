//! Input checks shared by training, adding and searching.

use rayon::prelude::*;

use crate::error::{IvfPqError, Result};

/// Checks that `data` is `n × dim` with `n ≥ 1` and every value finite; returns `n`.
pub(crate) fn rows(param: &'static str, data: &[f32], dim: usize) -> Result<usize> {
    whole_rows(param, data, dim)?;
    if data.is_empty() {
        return Err(IvfPqError::Empty { param });
    }
    // In parallel: a training set or batch of adds can be gigabytes.
    if let Some(i) = data
        .par_chunks(1 << 16)
        .position_first(|c| c.iter().any(|x| !x.is_finite()))
        .and_then(|c| {
            let at = c << 16;
            data[at..]
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| at + i)
        })
    {
        return Err(IvfPqError::NotFinite {
            param,
            row: i / dim,
            col: i % dim,
            value: data[i],
        });
    }
    Ok(data.len() / dim)
}

/// Scales `row` to unit length in place (a zero row stays zero).
pub(crate) fn normalize(k: &ivfpq_simd::Kernels, row: &mut [f32]) {
    let n = k.norm_sq(row).sqrt();
    if n > 0.0 {
        let inv = 1.0 / n;
        row.iter_mut().for_each(|x| *x *= inv);
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
        // Copied and scaled row by row in parallel (a fresh zeroed buffer is mapped
        // lazily, so its page faults are taken in parallel too).
        let mut v = vec![0f32; data.len()];
        v.par_chunks_exact_mut(dim.max(1))
            .zip(data.par_chunks_exact(dim.max(1)))
            .with_min_len(256)
            .for_each(|(out, row)| {
                out.copy_from_slice(row);
                normalize(k, out);
            });
        std::borrow::Cow::Owned(v)
    } else {
        std::borrow::Cow::Borrowed(data)
    }
}

/// The number of `dim`-wide rows in `data` (possibly none), or an error naming `dim` (if
/// 0) or `param` (if `data` is not whole rows).
pub(crate) fn whole_rows(param: &'static str, data: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(IvfPqError::InvalidParameter {
            param: "dim",
            message: "must be at least 1".into(),
        });
    }
    if !data.len().is_multiple_of(dim) {
        return Err(IvfPqError::DimensionMismatch {
            param,
            expected: dim,
            got: data.len() % dim,
        });
    }
    Ok(data.len() / dim)
}
