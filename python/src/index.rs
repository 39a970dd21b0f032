//! `Index` (in memory), `Model` (trained, shared by a collection's shards) and
//! `ShardFile` (a shard file, local or on an object store).

use std::sync::Arc;

use ivfpq_core::{IvfPqIndex, IvfPqModel, Neighbor};
use ivfpq_io::{OpenOptions, Shard};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::{IntoPy, TrainArgs, interruptible, invalid, rows, search_params, store_options};

/// Search results as numpy arrays: `(ids, distances)`.
type Nearest<'py> = (
    Bound<'py, numpy::PyArray2<u64>>,
    Bound<'py, numpy::PyArray2<f32>>,
);

/// The `k` nearest of each query by any searcher (an index or a shard file), the GIL
/// released while it searches.
fn nearest<'py, S>(
    py: Python<'py>,
    searcher: &S,
    queries: PyReadonlyArray2<'_, f32>,
    (k, nprobe, refine): (usize, usize, usize),
) -> PyResult<Nearest<'py>>
where
    S: ivfpq_core::Searcher + Sync,
    Result<Vec<Vec<Neighbor>>, S::Error>: IntoPy<Vec<Vec<Neighbor>>>,
{
    let (q, _) = rows(py, &queries, "queries")?;
    let p = search_params(k, nprobe, refine);
    let res = py.detach(|| searcher.nearest(q, &p)).py(py)?;
    let nq = res.len();
    // Padded with the largest u64 and infinity where a query found fewer than `k`.
    let mut ids = vec![u64::MAX; nq * k];
    let mut dist = vec![f32::INFINITY; nq * k];
    for (q, hits) in res.into_iter().enumerate() {
        for (r, h) in hits.into_iter().take(k).enumerate() {
            ids[q * k + r] = h.id;
            dist[q * k + r] = h.distance;
        }
    }
    let ids = PyArray1::from_vec(py, ids).reshape([nq, k])?;
    let dist = PyArray1::from_vec(py, dist).reshape([nq, k])?;
    Ok((ids, dist))
}

/// A trained model: coarse centroids and codebooks. Pickles as its file's bytes.
#[pyclass(frozen, module = "ivfpq._ivfpq")]
pub(crate) struct Model {
    pub(crate) inner: Arc<IvfPqModel>,
}

#[pymethods]
impl Model {
    /// Reads a model file (`ivfpq train` output).
    #[staticmethod]
    fn load(py: Python<'_>, path: &str) -> PyResult<Model> {
        let (inner, _) = py
            .detach(|| ivfpq_io::read_model(std::path::Path::new(path)))
            .py(py)?;
        Ok(Model { inner })
    }

    /// A model from the bytes of its file (`to_bytes`).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Model> {
        let bytes = bytes_of(data);
        let (inner, _) = py
            .detach(|| ivfpq_io::read_model_bytes(bytes, "<model bytes>"))
            .py(py)?;
        Ok(Model { inner })
    }

    /// Writes the model file (atomically); returns its content hash.
    fn save(&self, py: Python<'_>, path: &str) -> PyResult<String> {
        let h = py
            .detach(|| ivfpq_io::write_model(&self.inner, std::path::Path::new(path)))
            .py(py)?;
        Ok(h.hex())
    }

    /// The bytes of the model's file.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = py
            .detach(|| ivfpq_io::model_file_bytes(&self.inner))
            .py(py)?;
        Ok(PyBytes::new(py, &b))
    }

    /// The content hash (hex) a collection names the model by.
    #[getter]
    fn hash(&self, py: Python<'_>) -> PyResult<String> {
        Ok(ivfpq_io::model_hash(&self.inner).py(py)?.hex())
    }

    /// Vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Partitions.
    #[getter]
    fn nlist(&self) -> usize {
        self.inner.nlist()
    }

    /// `l2`, `cosine` or `dot`.
    #[getter]
    fn metric(&self) -> String {
        self.inner.metric().to_string()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let ctor = py.get_type::<Model>().getattr("from_bytes")?;
        Ok((ctor, (slf.get().to_bytes(py)?,)))
    }
}

pub(crate) fn bytes_of(data: &[u8]) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(data)
}

/// An in-memory index: trained, then filled, then searched or saved as a shard file.
#[pyclass(frozen, module = "ivfpq._ivfpq")]
pub(crate) struct Index {
    pub(crate) inner: IvfPqIndex,
}

#[pymethods]
impl Index {
    /// Trains on `vectors` and adds them with `ids` (`train`: a dict of training settings).
    #[staticmethod]
    fn build(
        py: Python<'_>,
        vectors: PyReadonlyArray2<'_, f32>,
        ids: PyReadonlyArray1<'_, u64>,
        train: TrainArgs,
        vectors_storage: &str,
    ) -> PyResult<Index> {
        let (data, dim) = rows(py, &vectors, "vectors")?;
        let ids = ids
            .as_slice()
            .map_err(|_| invalid(py, "ids: not contiguous".into()))?;
        let p = train
            .params(py)?
            .with_storage(crate::vector_storage(py, vectors_storage)?);
        let inner = interruptible(py, || IvfPqIndex::build(data, ids, dim, &p))?.py(py)?;
        Ok(Index { inner })
    }

    /// The `k` nearest of each query: `(ids, distances)`, both `(nq, k)`.
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'_, f32>,
        k: usize,
        nprobe: usize,
        refine: usize,
    ) -> PyResult<Nearest<'py>> {
        nearest(py, &self.inner, queries, (k, nprobe, refine))
    }

    /// Writes the index as one shard file (atomically); returns its length in bytes.
    fn save(&self, py: Python<'_>, path: &str) -> PyResult<u64> {
        py.detach(|| ivfpq_io::write_shard(&self.inner, std::path::Path::new(path)))
            .py(py)
    }

    /// The trained model.
    #[getter]
    fn model(&self) -> Model {
        Model {
            inner: self.inner.model().clone(),
        }
    }

    /// Rows in the index.
    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A shard file, local (memory-mapped) or on an object store (ranged reads).
#[pyclass(frozen, module = "ivfpq._ivfpq")]
pub(crate) struct ShardFile {
    inner: Arc<Shard>,
}

#[pymethods]
impl ShardFile {
    /// Opens a local path or an `s3://`, `gs://`, `az://` or `file://` URL.
    #[staticmethod]
    #[pyo3(signature = (path_or_url, storage_options=None))]
    fn open(
        py: Python<'_>,
        path_or_url: &str,
        storage_options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<ShardFile> {
        let opts = OpenOptions {
            store: store_options(storage_options)?,
            ..OpenOptions::default()
        };
        let inner = py.detach(|| Shard::open(path_or_url, &opts)).py(py)?;
        Ok(ShardFile {
            inner: Arc::new(inner),
        })
    }

    /// As `Index.search`.
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'_, f32>,
        k: usize,
        nprobe: usize,
        refine: usize,
    ) -> PyResult<Nearest<'py>> {
        nearest(py, &*self.inner, queries, (k, nprobe, refine))
    }

    /// Rows in the shard.
    fn __len__(&self) -> usize {
        self.inner.rows() as usize
    }
}
