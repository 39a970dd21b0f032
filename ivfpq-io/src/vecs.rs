//! The texmex `.fvecs` / `.ivecs` formats and benchmark dataset folders.
//!
//! Each record is a little-endian `i32` dimension followed by that many `f32` (fvecs) or
//! `i32` (ivecs) values. Every record must have the same dimension.

use std::fs;
use std::io::Write;
use std::path::Path;

use ivfpq_core::Metric;

use crate::error::{IoError, Result};

/// Reads a whole `.fvecs` file: `(rows, dim)` with `rows` row-major.
pub fn read_fvecs(path: &Path) -> Result<(Vec<f32>, usize)> {
    let (words, dim) = read_vecs(path)?;
    Ok((words.into_iter().map(f32::from_bits).collect(), dim))
}

/// Reads a whole `.ivecs` file: `(rows, dim)` with `rows` row-major.
pub fn read_ivecs(path: &Path) -> Result<(Vec<i32>, usize)> {
    let (words, dim) = read_vecs(path)?;
    Ok((words.into_iter().map(|w| w as i32).collect(), dim))
}

fn read_vecs(path: &Path) -> Result<(Vec<u32>, usize)> {
    let bytes = fs::read(path).map_err(|e| IoError::os(path, e))?;
    parse_vecs(&bytes, path)
}

/// Parses the bytes of a `.fvecs`/`.ivecs` file into raw 32-bit words (`n × dim`) and
/// `dim`; `path` only names the file in errors. Any input gives a value or an error.
pub fn parse_vecs(bytes: &[u8], path: &Path) -> Result<(Vec<u32>, usize)> {
    if bytes.is_empty() {
        return Err(IoError::format(
            path,
            "record 0",
            "the file is empty: it holds no vectors",
        ));
    }
    if bytes.len() < 4 || !bytes.len().is_multiple_of(4) {
        return Err(IoError::format(
            path,
            "record 0",
            format!(
                "file length {} is not a whole number of 4-byte words",
                bytes.len()
            ),
        ));
    }
    let words: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect();
    let dim = words[0] as i32;
    if dim <= 0 {
        return Err(IoError::format(
            path,
            "record 0",
            format!("dimension {dim} must be positive"),
        ));
    }
    let dim = dim as usize;
    let stride = dim + 1;
    if !words.len().is_multiple_of(stride) {
        return Err(IoError::format(
            path,
            "last record",
            format!(
                "truncated: {} words do not split into records of {stride}",
                words.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(words.len() / stride * dim);
    for (r, rec) in words.chunks_exact(stride).enumerate() {
        if rec[0] as usize != dim {
            return Err(IoError::format(
                path,
                format!("record {r}"),
                format!("dimension {} differs from {dim}", rec[0] as i32),
            ));
        }
        out.extend_from_slice(&rec[1..]);
    }
    Ok((out, dim))
}

/// Writes rows (`n × dim`) as `.fvecs`, atomically (temporary file, then rename).
pub fn write_fvecs(path: &Path, rows: &[f32], dim: usize) -> Result<()> {
    write_vecs(path, rows.iter().map(|x| x.to_bits()), rows.len(), dim)
}

/// Writes rows (`n × dim`) as `.ivecs`, atomically.
pub fn write_ivecs(path: &Path, rows: &[i32], dim: usize) -> Result<()> {
    write_vecs(path, rows.iter().map(|x| *x as u32), rows.len(), dim)
}

fn write_vecs(path: &Path, words: impl Iterator<Item = u32>, len: usize, dim: usize) -> Result<()> {
    if dim == 0 || !len.is_multiple_of(dim) {
        return Err(IoError::format(
            path,
            "rows",
            format!("{len} values do not form rows of {dim}"),
        ));
    }
    let mut buf = Vec::with_capacity((len + len / dim) * 4);
    for (i, w) in words.enumerate() {
        if i % dim == 0 {
            buf.extend_from_slice(&(dim as u32).to_le_bytes());
        }
        buf.extend_from_slice(&w.to_le_bytes());
    }
    write_atomic(path, &buf)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a partial file and an existing file survives a failed write.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::shard::write_file_atomic(path, |f, name| {
        f.write_all(bytes).map_err(|e| IoError::os(name, e))?;
        Ok(bytes.len() as u64)
    })
    .map(|_| ())
}

/// A benchmark dataset folder: `base.fvecs`, `query.fvecs`, `gt.ivecs`, `meta.json`.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Base vectors, `n × dim`.
    pub base: Vec<f32>,
    /// Query vectors, `nq × dim`.
    pub queries: Vec<f32>,
    /// Exact neighbours of each query, `nq × gt_k`, as 0-based rows of `base`.
    pub gt: Vec<i32>,
    /// Neighbours per query in `gt`.
    pub gt_k: usize,
    /// Vector dimension.
    pub dim: usize,
    /// The metric the ground truth was computed under.
    pub metric: Metric,
}

impl Dataset {
    /// Loads a dataset folder as written by `shared/bench/datasets.py`.
    pub fn load(dir: &Path) -> Result<Dataset> {
        let meta_path = dir.join("meta.json");
        let meta_text = fs::read_to_string(&meta_path).map_err(|e| IoError::os(&meta_path, e))?;
        let meta: serde_json::Value = serde_json::from_str(&meta_text)
            .map_err(|e| IoError::format(&meta_path, "json", e.to_string()))?;
        let metric: Metric = meta
            .get("metric")
            .and_then(|m| m.as_str())
            .ok_or_else(|| IoError::format(&meta_path, "metric", "missing"))?
            .parse()?;
        let (base, dim) = read_fvecs(&dir.join("base.fvecs"))?;
        let (queries, qdim) = read_fvecs(&dir.join("query.fvecs"))?;
        if qdim != dim {
            return Err(IoError::format(
                dir.join("query.fvecs"),
                "record 0",
                format!("dimension {qdim} differs from base {dim}"),
            ));
        }
        let (gt, gt_k) = read_ivecs(&dir.join("gt.ivecs"))?;
        if gt.len() / gt_k != queries.len() / dim {
            return Err(IoError::format(
                dir.join("gt.ivecs"),
                "rows",
                "ground truth rows differ from the query count",
            ));
        }
        Ok(Dataset {
            base,
            queries,
            gt,
            gt_k,
            dim,
            metric,
        })
    }

    /// Writes the folder (all four files). The shapes are checked first, so a dataset
    /// that [`Dataset::load`] could not read back is an error before anything is written.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.check_shape(dir)?;
        fs::create_dir_all(dir).map_err(|e| IoError::os(dir, e))?;
        write_fvecs(&dir.join("base.fvecs"), &self.base, self.dim)?;
        write_fvecs(&dir.join("query.fvecs"), &self.queries, self.dim)?;
        write_ivecs(&dir.join("gt.ivecs"), &self.gt, self.gt_k)?;
        let meta = serde_json::json!({
            "metric": self.metric.name(), "n": self.base.len() / self.dim, "dim": self.dim,
            "queries": self.queries.len() / self.dim, "k_gt": self.gt_k, "source": "ivfpq synthetic",
        });
        write_atomic(&dir.join("meta.json"), meta.to_string().as_bytes())
    }

    /// Checks that base, queries and ground truth are non-empty whole rows that agree in
    /// number; `dir` names the folder in the error.
    fn check_shape(&self, dir: &Path) -> Result<()> {
        let rows = |name: &str, len: usize, width: usize, what: &str| {
            if width == 0 {
                return Err(IoError::format(
                    dir.join(name),
                    "rows",
                    format!("{what} must be at least 1"),
                ));
            }
            if len == 0 || !len.is_multiple_of(width) {
                return Err(IoError::format(
                    dir.join(name),
                    "rows",
                    format!("{len} values do not form one or more rows of {width}"),
                ));
            }
            Ok(len / width)
        };
        rows("base.fvecs", self.base.len(), self.dim, "dim")?;
        let nq = rows("query.fvecs", self.queries.len(), self.dim, "dim")?;
        let ngt = rows("gt.ivecs", self.gt.len(), self.gt_k, "gt_k")?;
        if ngt != nq {
            return Err(IoError::format(
                dir.join("gt.ivecs"),
                "rows",
                format!("{ngt} ground-truth rows differ from the {nq} queries"),
            ));
        }
        Ok(())
    }

    /// Mean fraction of each query's true `k` nearest found among its first `k` results
    /// (recall@k, as `shared/bench/vecio.py` computes it).
    pub fn recall_at(&self, found: &[Vec<u64>], k: usize) -> f64 {
        let mut hits = 0usize;
        for (q, f) in found.iter().enumerate() {
            let truth = &self.gt[q * self.gt_k..q * self.gt_k + k.min(self.gt_k)];
            hits += f
                .iter()
                .take(k)
                .filter(|id| truth.contains(&(**id as i32)))
                .count();
        }
        hits as f64 / (k * found.len()).max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_is_an_error() {
        let dir = std::env::temp_dir().join(format!("ivfpq-vecs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.fvecs");
        let rows: Vec<f32> = (0..30).map(|i| i as f32 * 0.5).collect();
        write_fvecs(&path, &rows, 3).unwrap();
        assert_eq!(read_fvecs(&path).unwrap(), (rows, 3));
        let bytes = fs::read(&path).unwrap();
        for cut in 0..bytes.len() {
            let r = parse_vecs(&bytes[..cut], &path);
            // Cutting at a record boundary leaves a valid shorter file; anything else fails.
            if cut > 0 && cut % 16 == 0 {
                assert_eq!(r.unwrap().0.len(), cut / 16 * 3);
            } else {
                let e = r.unwrap_err().to_string();
                assert!(e.contains("x.fvecs"), "{e}");
            }
        }
        let mut bad = bytes.clone();
        bad[16] = 9; // second record claims dimension 9
        assert!(
            parse_vecs(&bad, &path)
                .unwrap_err()
                .to_string()
                .contains("record 1")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_file_is_reported_as_empty() {
        let e = parse_vecs(&[], Path::new("q.fvecs"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("q.fvecs") && e.contains("empty"), "{e}");
        assert!(!e.contains("4-byte"), "{e}");
    }

    #[test]
    fn save_checks_every_shape_before_writing_anything() {
        let dir = std::env::temp_dir().join(format!("ivfpq-vecs-save-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let good = Dataset {
            base: vec![0.5; 6],
            queries: vec![1.0; 2],
            gt: vec![0, 1],
            gt_k: 2,
            dim: 2,
            metric: Metric::L2,
        };
        let cases = [
            (
                Dataset {
                    base: Vec::new(),
                    ..good.clone()
                },
                "base.fvecs",
            ),
            (
                Dataset {
                    dim: 0,
                    ..good.clone()
                },
                "dim",
            ),
            (
                Dataset {
                    queries: vec![1.0; 3],
                    ..good.clone()
                },
                "query.fvecs",
            ),
            (
                Dataset {
                    gt_k: 0,
                    ..good.clone()
                },
                "gt_k",
            ),
            (
                Dataset {
                    gt: vec![0, 1, 2, 0],
                    ..good.clone()
                },
                "ground-truth",
            ),
        ];
        for (ds, words) in cases {
            let e = ds.save(&dir).unwrap_err().to_string();
            assert!(e.contains(words), "{words}: {e}");
            assert!(!dir.exists(), "{words}: the folder was created");
        }
        good.save(&dir).unwrap();
        let back = Dataset::load(&dir).unwrap();
        assert_eq!((back.base, back.gt_k), (good.base, 2));
        fs::remove_dir_all(&dir).unwrap();
    }
}
