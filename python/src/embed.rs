//! Embedding functions from Python: any callable from a list of inputs (str or bytes) to
//! a 2-D float array, wrapped in the library's `Embedder` (batches, cache, retries,
//! checks) and attached to a collection that records it.

use std::sync::Arc;

use ivfpq_core::{Metric, SearchOptions};
use ivfpq_shard::Collection;
use ivfpq_shard::embed::{
    EmbedError, EmbeddedCollection, EmbedderOptions, EmbeddingFunction, Input,
};
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::{IntoPy, interruptible, invalid, search_params};

/// A Python embedding function: its record (name, JSON config, dim, metric) and the
/// callable.
pub(crate) struct PyFunction {
    name: String,
    config: serde_json::Value,
    dim: usize,
    metric: Metric,
    call: Py<PyAny>,
}

/// `(name, config JSON, dim, metric, callable)`, as the Python package passes one.
type FunctionArgs = (String, String, usize, String, Py<PyAny>);

impl PyFunction {
    pub(crate) fn new(
        py: Python<'_>,
        (name, config, dim, metric, call): FunctionArgs,
    ) -> PyResult<Self> {
        let config = serde_json::from_str(&config)
            .map_err(|e| invalid(py, format!("embedding config of {name}: {e}")))?;
        let metric = metric.parse::<Metric>().py(py)?;
        Ok(PyFunction {
            name,
            config,
            dim,
            metric,
            call,
        })
    }

    fn call_py(&self, py: Python<'_>, inputs: &[Input<'_>]) -> PyResult<Vec<f32>> {
        let items: Vec<Bound<'_, PyAny>> = inputs
            .iter()
            .map(|i| match i {
                Input::Text(s) => PyString::new(py, s).into_any(),
                Input::Bytes(b) => PyBytes::new(py, b).into_any(),
            })
            .collect();
        let out = self.call.bind(py).call1((PyList::new(py, items)?,))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", "float32")?;
        let arr = py
            .import("numpy")?
            .call_method("ascontiguousarray", (out,), Some(&kwargs))?;
        let arr: PyReadonlyArray2<'_, f32> = arr
            .extract()
            .map_err(|_| invalid(py, "the function returned no 2-D array of numbers".into()))?;
        if arr.shape()[0] != inputs.len() {
            return Err(invalid(
                py,
                format!(
                    "returned {} rows for {} inputs",
                    arr.shape()[0],
                    inputs.len()
                ),
            ));
        }
        Ok(arr.as_slice()?.to_vec())
    }
}

impl EmbeddingFunction for PyFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn config(&self) -> serde_json::Value {
        self.config.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn metric(&self) -> Metric {
        self.metric
    }
    fn embed(&self, inputs: &[Input<'_>]) -> Result<Vec<f32>, EmbedError> {
        Python::attach(|py| {
            self.call_py(py, inputs).map_err(|e| {
                // `ivfpq.TransientEmbeddingError` asks for a retry; the rest fail at once.
                let transient = py
                    .import("ivfpq._errors")
                    .and_then(|m| m.getattr("TransientEmbeddingError"))
                    .is_ok_and(|cls| e.is_instance(py, &cls));
                let message = match e.get_type(py).name() {
                    Ok(t) => format!("{t}: {}", e.value(py)),
                    Err(_) => e.to_string(),
                };
                EmbedError { message, transient }
            })
        })
    }
}

/// A collection with its embedding function: raw inputs in, raw queries searched.
#[pyclass(frozen, module = "ivfpq._ivfpq")]
pub(crate) struct EmbeddedHandle {
    inner: EmbeddedCollection,
}

/// Inputs as the library takes them: every item a str, or every item bytes.
enum Inputs {
    Text(Vec<String>),
    Bytes(Vec<Vec<u8>>),
}

impl Inputs {
    fn extract(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Inputs> {
        if let Ok(t) = obj.extract::<Vec<String>>() {
            return Ok(Inputs::Text(t));
        }
        if let Ok(b) = obj.extract::<Vec<Vec<u8>>>() {
            return Ok(Inputs::Bytes(b));
        }
        Err(invalid(
            py,
            "inputs: expected a list of str or of bytes".into(),
        ))
    }

    fn as_inputs(&self) -> Vec<Input<'_>> {
        match self {
            Inputs::Text(t) => t.iter().map(|s| Input::Text(s)).collect(),
            Inputs::Bytes(b) => b.iter().map(|s| Input::Bytes(s)).collect(),
        }
    }
}

impl EmbeddedHandle {
    /// `collection` with the one of `functions` its manifest records.
    pub(crate) fn attach(
        py: Python<'_>,
        collection: Arc<Collection>,
        functions: Vec<FunctionArgs>,
        (max_batch, cache_bytes, disk_cache): (usize, usize, Option<std::path::PathBuf>),
    ) -> PyResult<EmbeddedHandle> {
        let fs = functions
            .into_iter()
            .map(|f| Ok(Arc::new(PyFunction::new(py, f)?) as Arc<dyn EmbeddingFunction>))
            .collect::<PyResult<Vec<_>>>()?;
        let mut eo = EmbedderOptions::default()
            .with_max_batch(max_batch)
            .with_cache_bytes(cache_bytes);
        if let Some(d) = disk_cache {
            eo = eo.with_disk_cache(d);
        }
        let inner = py
            .detach(|| EmbeddedCollection::new(collection, &fs, eo))
            .py(py)?;
        Ok(EmbeddedHandle { inner })
    }
}

#[pymethods]
impl EmbeddedHandle {
    /// Embeds `inputs` and adds (or upserts) them with `ids` (u64s, or str).
    fn add(
        &self,
        py: Python<'_>,
        inputs: &Bound<'_, PyAny>,
        ids: &Bound<'_, PyAny>,
        upsert: bool,
    ) -> PyResult<u64> {
        let inputs = Inputs::extract(py, inputs)?;
        let ins = inputs.as_inputs();
        let c = &self.inner;
        if let Ok(labels) = ids.extract::<Vec<String>>() {
            if upsert {
                return Err(invalid(
                    py,
                    "upsert with string ids: use the vector API".into(),
                ));
            }
            return interruptible(py, || c.add_labeled(&ins, &labels))?.py(py);
        }
        let ids: Vec<u64> = ids.extract()?;
        interruptible(py, || match upsert {
            true => c.upsert(&ins, &ids),
            false => c.add(&ins, &ids),
        })?
        .py(py)
    }

    /// Embeds the queries and searches: a `pyarrow.Table` as `Collection.search`.
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        nprobe: usize,
        refine: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let queries = Inputs::extract(py, queries)?;
        let qs = queries.as_inputs();
        let opts = SearchOptions::new(search_params(k, nprobe, refine));
        let res = interruptible(py, || self.inner.search(&qs, &opts))?.py(py)?;
        crate::collection::results_table(py, &res)
    }

    /// Vectors embedded (input batches sent to the function, retries included).
    #[getter]
    fn calls(&self) -> u64 {
        self.inner.embedder().calls()
    }

    /// Vectors the memory cache holds, and its bytes.
    #[getter]
    fn cache(&self) -> (usize, usize) {
        let e = self.inner.embedder();
        (e.cached(), e.cache_bytes())
    }
}

/// Records an embedding function (name, config, dim, metric) on a collection.
pub(crate) fn set_embedding(py: Python<'_>, c: &Collection, f: FunctionArgs) -> PyResult<u64> {
    let f = PyFunction::new(py, f)?;
    py.detach(|| c.set_embedding(&f)).py(py)
}
