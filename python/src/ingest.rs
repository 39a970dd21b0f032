//! The out-of-core build's steps, as `ivfpq plan`, `ivfpq train` and `ivfpq build --plan`
//! run them: a `Plan` of input files in buckets, `train` on a sample of its rows, and
//! `build_bucket` into one shard file. The same plan, settings and seed give the same
//! model and byte-identical shards, wherever each step runs.

use std::path::PathBuf;

use ivfpq_shard::ingest::{self, BuildOptions, NoProgress};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::index::Model;
use crate::{IntoPy, TrainArgs, interruptible, invalid};

/// Input files packed into buckets of at most `bucket_rows` rows, one shard each, from
/// the files' headers. Pickles as its JSON.
#[pyclass(frozen, module = "ivfpq._ivfpq")]
pub(crate) struct Plan {
    inner: ingest::Plan,
}

#[pymethods]
impl Plan {
    /// Plans `inputs` (.npy, .fvecs, Arrow IPC, HDF5 when built with it) in input order.
    #[new]
    #[pyo3(signature = (inputs, bucket_rows, id_column="id"))]
    fn new(
        py: Python<'_>,
        inputs: Vec<PathBuf>,
        bucket_rows: u64,
        id_column: &str,
    ) -> PyResult<Plan> {
        let inner = py
            .detach(|| ingest::Plan::new(&inputs, bucket_rows, id_column))
            .py(py)?;
        Ok(Plan { inner })
    }

    /// Reads a plan file (`ivfpq plan` output).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Plan> {
        let inner = ingest::Plan::load(&path).py(py)?;
        Ok(Plan { inner })
    }

    /// The plan from its JSON.
    #[staticmethod]
    fn from_json(py: Python<'_>, json: &str) -> PyResult<Plan> {
        let inner = serde_json::from_str(json).map_err(|e| invalid(py, format!("plan: {e}")))?;
        Ok(Plan { inner })
    }

    /// The plan as JSON (the file `save` writes).
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        serde_json::to_string(&self.inner).map_err(|e| invalid(py, format!("plan: {e}")))
    }

    /// Writes the plan file (atomically).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        self.inner.save(&path).py(py)
    }

    /// Rows of each bucket.
    #[getter]
    fn bucket_rows(&self) -> Vec<u64> {
        self.inner
            .buckets
            .iter()
            .map(ingest::Bucket::rows)
            .collect()
    }

    /// Rows of all the inputs.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    /// Vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let ctor = py.get_type::<Plan>().getattr("from_json")?;
        Ok((ctor, (slf.get().to_json(py)?,)))
    }

    /// Buckets.
    fn __len__(&self) -> usize {
        self.inner.buckets.len()
    }
}

/// Trains the plan's model on a seeded uniform sample of its rows (`train`: training
/// settings; `sample`: rows, default 256 a partition; both within `memory_limit`).
#[pyfunction]
#[pyo3(signature = (plan, train, sample=None, memory_limit=2u64 << 30))]
pub(crate) fn train(
    py: Python<'_>,
    plan: &Plan,
    train: TrainArgs,
    sample: Option<usize>,
    memory_limit: u64,
) -> PyResult<Model> {
    let p = train.params(py)?;
    let model = interruptible(py, || {
        ingest::train_model(&plan.inner, &p, sample, Some(memory_limit), &NoProgress)
    })?
    .py(py)?;
    Ok(Model {
        inner: std::sync::Arc::new(model),
    })
}

/// Builds bucket `bucket` of `plan` into the shard file `output`, within `memory_limit`
/// bytes; returns a dict of `rows`, `bytes`, `chunk_rows`, `runs`, `encode_seconds` and
/// `write_seconds`.
#[pyfunction]
#[pyo3(signature = (plan, bucket, model, output, memory_limit=2u64 << 30, vectors_storage="f32", temp_dir=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_bucket<'py>(
    py: Python<'py>,
    plan: &Plan,
    bucket: usize,
    model: &Model,
    output: PathBuf,
    memory_limit: u64,
    vectors_storage: &str,
    temp_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut opts = BuildOptions::default()
        .with_memory_limit(memory_limit)
        .with_storage(crate::vector_storage(py, vectors_storage)?);
    if let Some(t) = temp_dir {
        opts = opts.with_temp_dir(t);
    }
    let r = interruptible(py, || {
        ingest::build_bucket(
            &plan.inner,
            bucket,
            &model.inner,
            &output,
            &opts,
            &NoProgress,
        )
    })?
    .py(py)?;
    let d = PyDict::new(py);
    d.set_item("rows", r.rows)?;
    d.set_item("bytes", r.bytes)?;
    d.set_item("chunk_rows", r.chunk_rows)?;
    d.set_item("runs", r.runs)?;
    d.set_item("encode_seconds", r.encode_seconds)?;
    d.set_item("write_seconds", r.write_seconds)?;
    Ok(d)
}
