//! Bucket planning: input files packed into buckets of at most `bucket_rows` rows, one
//! shard each, from the files' headers alone.

use std::path::{Path, PathBuf};

use ivfpq_io::{ElementType, VectorFile};
use serde::{Deserialize, Serialize};

use crate::error::{Result, ShardError, invalid};

/// One input file of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlanFile {
    /// The file (made absolute when the plan was made).
    pub path: PathBuf,
    /// Its rows.
    pub rows: u64,
    /// The id of its first row when it has no id column: files are numbered on from
    /// each other in input order, so every row of a plan has a distinct id.
    pub first_id: u64,
}

/// Rows `start..end` of input file `file` (an index into [`Plan::files`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Index of the file in [`Plan::files`].
    pub file: usize,
    /// First row.
    pub start: u64,
    /// One past the last row.
    pub end: u64,
}

impl Part {
    /// Rows in the part.
    pub fn rows(&self) -> u64 {
        self.end - self.start
    }
}

/// The rows of one shard to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Bucket {
    /// Its parts, in input order (file, then row).
    pub parts: Vec<Part>,
}

impl Bucket {
    /// Rows in the bucket.
    pub fn rows(&self) -> u64 {
        self.parts.iter().map(Part::rows).sum()
    }
}

/// Input files packed into buckets. Saved as JSON by [`Plan::save`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Plan {
    /// Format tag, `"ivfpq-plan"`.
    pub format: String,
    /// The most rows a bucket holds.
    pub bucket_rows: u64,
    /// The inputs' dimension.
    pub dim: usize,
    /// The inputs' element type (`f32` or `f16`).
    pub element_type: String,
    /// The Arrow id column (or HDF5 id dataset) the files were planned with.
    pub id_column: String,
    /// The HDF5 dataset of vectors.
    #[serde(default = "default_vector_dataset")]
    pub vector_dataset: String,
    /// The input files, in the order given.
    pub files: Vec<PlanFile>,
    /// The buckets.
    pub buckets: Vec<Bucket>,
}

const FORMAT: &str = "ivfpq-plan";

fn default_vector_dataset() -> String {
    ivfpq_io::DEFAULT_VECTOR_DATASET.into()
}

impl Plan {
    /// Plans `inputs` (read for their headers only) into buckets of at most `bucket_rows`
    /// rows by best-fit decreasing: files larger than a bucket are split into whole
    /// buckets' worth of rows and a remainder, pieces go largest first into the fullest
    /// bucket that still has room, or a new one. Files of different dimensions or
    /// element types are an error naming both.
    pub fn new(inputs: &[PathBuf], bucket_rows: u64, id_column: &str) -> Result<Plan> {
        Plan::with_datasets(
            inputs,
            bucket_rows,
            id_column,
            ivfpq_io::DEFAULT_VECTOR_DATASET,
        )
    }

    /// [`Plan::new`] with the HDF5 vector dataset named.
    pub fn with_datasets(
        inputs: &[PathBuf],
        bucket_rows: u64,
        id_column: &str,
        vector_dataset: &str,
    ) -> Result<Plan> {
        if bucket_rows == 0 {
            return Err(invalid("bucket_rows", "0: a bucket must hold rows"));
        }
        if inputs.is_empty() {
            return Err(invalid("inputs", "no input files"));
        }
        let mut files = Vec::with_capacity(inputs.len());
        let mut shape: Option<(usize, ElementType, &Path)> = None;
        let mut next_id = 0u64;
        for path in inputs {
            let f = VectorFile::open_named(path, id_column, vector_dataset)?;
            match shape {
                None => shape = Some((f.dim(), f.element_type(), path)),
                Some((dim, elem, first)) if (dim, elem) != (f.dim(), f.element_type()) => {
                    return Err(ShardError::Plan {
                        file: path.display().to_string(),
                        message: format!(
                            "{}-d {} rows, but {} holds {dim}-d {} rows",
                            f.dim(),
                            f.element_type().name(),
                            first.display(),
                            elem.name()
                        ),
                    });
                }
                Some(_) => {}
            }
            // Absolute, so that builds may run from any folder (or machine sharing it).
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            files.push(PlanFile {
                path,
                rows: f.rows(),
                first_id: next_id,
            });
            next_id = next_id.saturating_add(f.rows());
        }
        let (dim, elem, _) = shape.ok_or_else(|| invalid("inputs", "no input files"))?;
        Ok(Plan {
            format: FORMAT.into(),
            bucket_rows,
            dim,
            element_type: elem.name().into(),
            id_column: id_column.into(),
            vector_dataset: vector_dataset.into(),
            buckets: pack(&files, bucket_rows),
            files,
        })
    }

    /// Rows in all buckets.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Writes the plan as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| ShardError::Plan {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        ivfpq_io::write_atomic(path, &json)?;
        Ok(())
    }

    /// Reads a plan written by [`Plan::save`], checking that its buckets cover its files.
    pub fn load(path: &Path) -> Result<Plan> {
        let bad = |message: String| ShardError::Plan {
            file: path.display().to_string(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| ivfpq_io::IoError::Os {
            path: path.to_path_buf(),
            source: e,
        })?;
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if plan.format != FORMAT {
            return Err(bad(format!("format {:?} is not {FORMAT:?}", plan.format)));
        }
        let mut covered = vec![0u64; plan.files.len()];
        for (b, bucket) in plan.buckets.iter().enumerate() {
            for p in &bucket.parts {
                match plan.files.get(p.file) {
                    Some(f) if p.start < p.end && p.end <= f.rows => covered[p.file] += p.rows(),
                    _ => return Err(bad(format!("bucket {b}: part {p:?} is outside its file"))),
                }
            }
        }
        if covered.iter().zip(&plan.files).any(|(&c, f)| c != f.rows) {
            return Err(bad("the buckets do not cover every row once".into()));
        }
        Ok(plan)
    }

    /// Bucket `i`, or an error naming the plan's bucket count.
    pub fn bucket(&self, i: usize) -> Result<&Bucket> {
        self.buckets.get(i).ok_or_else(|| {
            invalid(
                "bucket",
                format!(
                    "{i} is out of range: the plan has {} buckets",
                    self.buckets.len()
                ),
            )
        })
    }
}

/// Best-fit decreasing bin packing of the files' rows into buckets of `cap` rows.
fn pack(files: &[PlanFile], cap: u64) -> Vec<Bucket> {
    let mut pieces: Vec<Part> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut start = 0;
        while start < f.rows {
            let end = (start + cap).min(f.rows);
            pieces.push(Part {
                file: i,
                start,
                end,
            });
            start = end;
        }
    }
    // Largest first; ties in input order, so the plan is a function of its inputs.
    pieces.sort_by(|a, b| {
        b.rows()
            .cmp(&a.rows())
            .then((a.file, a.start).cmp(&(b.file, b.start)))
    });
    let mut buckets: Vec<(u64, Vec<Part>)> = Vec::new();
    for p in pieces {
        let best = buckets
            .iter_mut()
            .filter(|(fill, _)| fill + p.rows() <= cap)
            .max_by_key(|(fill, _)| *fill);
        match best {
            Some((fill, parts)) => {
                *fill += p.rows();
                parts.push(p);
            }
            None => buckets.push((p.rows(), vec![p])),
        }
    }
    buckets
        .into_iter()
        .map(|(_, mut parts)| {
            parts.sort_by_key(|p| (p.file, p.start));
            Bucket { parts }
        })
        .collect()
}

impl Plan {
    /// Opens input file `i` as it was planned.
    pub(crate) fn open_file(&self, i: usize) -> Result<VectorFile> {
        let pf = &self.files[i];
        let f = VectorFile::open_named(&pf.path, &self.id_column, &self.vector_dataset)?;
        super::check_file(self, pf, &f)?;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(rows: &[u64]) -> Vec<PlanFile> {
        let mut next = 0;
        rows.iter()
            .enumerate()
            .map(|(i, &r)| {
                let f = PlanFile {
                    path: format!("f{i}").into(),
                    rows: r,
                    first_id: next,
                };
                next += r;
                f
            })
            .collect()
    }

    #[test]
    fn packs_best_fit_decreasing_and_covers_every_row_once() {
        let f = files(&[70, 30, 60, 40, 250, 0]);
        let b = pack(&f, 100);
        let fills: Vec<u64> = b.iter().map(Bucket::rows).collect();
        // 250 → 100, 100, 50; then 70, 60 (own buckets), 50 + 40 → 90... best fit puts 40
        // with 60 (fullest with room), 30 with 70.
        assert_eq!(fills, [100, 100, 100, 100, 50]);
        let mut seen = vec![0u64; f.len()];
        for bucket in &b {
            assert!(bucket.rows() <= 100);
            assert!(
                bucket
                    .parts
                    .windows(2)
                    .all(|w| (w[0].file, w[0].start) < (w[1].file, w[1].start))
            );
            for p in &bucket.parts {
                seen[p.file] += p.rows();
            }
        }
        assert_eq!(seen, [70, 30, 60, 40, 250, 0]);
    }
}
