//! The `ivfpq` Python package's native module: indexes, shard files and collections, with
//! numpy arrays in and out. Every long call releases the GIL. Errors are raised as the
//! package's exception classes (`ivfpq.IvfpqError` and its `ValueError` and `OSError`
//! subclasses), with the Rust error's message.

use std::sync::Arc;

use ivfpq_core::{
    CodeKind, IndexParams, IvfPqError, IvfPqIndex, Metric, Neighbor, SearchOptions, SearchParams,
};
use ivfpq_io::{IoError, OpenOptions, Shard, StoreOptions};
use ivfpq_shard::{Collection, CollectionOptions, CompactOptions, ShardError, VacuumOptions};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The Python class for an error: bad arguments are `ValueError`s, storage failures
/// `OSError`s, the rest `IvfpqError`s (`ivfpq/_errors.py` defines all three).
fn raise(py: Python<'_>, kind: &str, message: String) -> PyErr {
    let cls = match py.import("ivfpq._errors").and_then(|m| m.getattr(kind)) {
        Ok(cls) => cls,
        Err(e) => return e,
    };
    match cls.call1((message,)) {
        Ok(err) => PyErr::from_value(err),
        Err(e) => e,
    }
}

fn core_kind(e: &IvfPqError) -> &'static str {
    match e {
        IvfPqError::Simd(_) => "IvfpqError",
        _ => "InvalidArgumentError",
    }
}

fn io_kind(e: &IoError) -> &'static str {
    match e {
        IoError::Os { .. } | IoError::Store { .. } => "StorageError",
        IoError::Index(c) => core_kind(c),
        _ => "IvfpqError",
    }
}

trait IntoPy<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, IvfPqError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| raise(py, core_kind(&e), e.to_string()))
    }
}

impl<T> IntoPy<T> for Result<T, IoError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| raise(py, io_kind(&e), e.to_string()))
    }
}

impl<T> IntoPy<T> for Result<T, ShardError> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| {
            let kind = match &e {
                ShardError::InvalidParameter { .. } | ShardError::DuplicateId { .. } => {
                    "InvalidArgumentError"
                }
                ShardError::DuplicateLabel { .. } => "InvalidArgumentError",
                ShardError::Io(io) => io_kind(io),
                _ => "IvfpqError",
            };
            raise(py, kind, e.to_string())
        })
    }
}

/// Rows of a 2-D float32 array, borrowed when C-contiguous (no copy).
fn rows<'a>(
    py: Python<'_>,
    a: &'a PyReadonlyArray2<'_, f32>,
    what: &str,
) -> PyResult<(&'a [f32], usize)> {
    let dim = a.shape()[1];
    let s = a.as_slice().map_err(|_| {
        raise(
            py,
            "InvalidArgumentError",
            format!("{what}: not C-contiguous"),
        )
    })?;
    Ok((s, dim))
}

fn metric(py: Python<'_>, name: &str) -> PyResult<Metric> {
    name.parse::<Metric>().py(py)
}

fn search_params(k: usize, nprobe: usize, refine: usize) -> SearchParams {
    SearchParams::new(k, nprobe).with_refine(refine)
}

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
    neighbors_to_numpy(py, res, k)
}

/// Search results as numpy arrays: `(ids, distances)`.
type Nearest<'py> = (Bound<'py, PyArray2<u64>>, Bound<'py, PyArray2<f32>>);

/// `(ids, distances)` of shape `(nq, k)`: ids padded with the largest u64 and distances
/// with infinity where a query found fewer than `k`.
fn neighbors_to_numpy<'py>(
    py: Python<'py>,
    res: Vec<Vec<Neighbor>>,
    k: usize,
) -> PyResult<Nearest<'py>> {
    let nq = res.len();
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

fn store_options(opts: Option<&Bound<'_, PyDict>>) -> PyResult<StoreOptions> {
    let mut s = StoreOptions::default();
    if let Some(d) = opts {
        for (k, v) in d.iter() {
            s = s.with(&k.extract::<String>()?, &v.str()?.to_string());
        }
    }
    Ok(s)
}

/// An in-memory index: trained, then filled, then searched or saved as a shard file.
#[pyclass(frozen)]
struct Index {
    inner: IvfPqIndex,
}

#[pymethods]
impl Index {
    /// Trains on `vectors` and adds them with `ids`.
    #[staticmethod]
    #[pyo3(signature = (vectors, ids, metric="l2", nlist=None, m=None, bits=8, codes="pq", vectors_storage="f32", seed=7))]
    #[allow(clippy::too_many_arguments)]
    fn build(
        py: Python<'_>,
        vectors: PyReadonlyArray2<'_, f32>,
        ids: PyReadonlyArray1<'_, u64>,
        metric: &str,
        nlist: Option<usize>,
        m: Option<usize>,
        bits: u32,
        codes: &str,
        vectors_storage: &str,
        seed: u64,
    ) -> PyResult<Index> {
        let (data, dim) = rows(py, &vectors, "vectors")?;
        let ids = ids
            .as_slice()
            .map_err(|_| raise(py, "InvalidArgumentError", "ids: not contiguous".into()))?;
        let mut p = IndexParams::default()
            .with_metric(self::metric(py, metric)?)
            .with_nbits(bits)
            .with_seed(seed)
            .with_codes(match codes {
                "pq" => CodeKind::Pq,
                "rabitq" => CodeKind::Rabitq,
                c => {
                    return Err(raise(
                        py,
                        "InvalidArgumentError",
                        format!("codes: {c:?} is not pq or rabitq"),
                    ));
                }
            })
            .with_storage(
                match ivfpq_shard::manifest::parse_storage(vectors_storage) {
                    Some(s) => s,
                    None => {
                        return Err(raise(
                            py,
                            "InvalidArgumentError",
                            format!("vectors_storage: {vectors_storage:?} is not f32, f16 or none"),
                        ));
                    }
                },
            );
        p.nlist = nlist;
        p.m = m;
        let inner = py.detach(|| IvfPqIndex::build(data, ids, dim, &p)).py(py)?;
        Ok(Index { inner })
    }

    /// The `k` nearest of each query: `(ids, distances)`, both `(nq, k)`.
    #[pyo3(signature = (queries, k, nprobe=16, refine=1))]
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

    /// Writes the index as one shard file (atomically).
    fn save(&self, py: Python<'_>, path: &str) -> PyResult<u64> {
        py.detach(|| ivfpq_io::write_shard(&self.inner, std::path::Path::new(path)))
            .py(py)
    }

    /// Rows in the index.
    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A shard file, local (memory-mapped) or on an object store (ranged reads).
#[pyclass(frozen)]
struct ShardFile {
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
    #[pyo3(signature = (queries, k, nprobe=16, refine=1))]
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

/// A collection of shards at a folder or object-store prefix, pinned to a version.
#[pyclass(frozen)]
struct CollectionHandle {
    inner: Collection,
}

fn collection_options(storage_options: Option<&Bound<'_, PyDict>>) -> PyResult<CollectionOptions> {
    Ok(CollectionOptions::default().with_store(store_options(storage_options)?))
}

#[pymethods]
impl CollectionHandle {
    /// Creates a collection whose shards use `index`'s trained model.
    #[staticmethod]
    #[pyo3(signature = (uri, index, storage_options=None))]
    fn create(
        py: Python<'_>,
        uri: &str,
        index: &Index,
        storage_options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CollectionHandle> {
        let opts = collection_options(storage_options)?;
        let model = index.inner.model().clone();
        let inner = py.detach(|| Collection::create(uri, &model, opts)).py(py)?;
        Ok(CollectionHandle { inner })
    }

    /// Opens the newest version, or `version`.
    #[staticmethod]
    #[pyo3(signature = (uri, version=None, storage_options=None))]
    fn open(
        py: Python<'_>,
        uri: &str,
        version: Option<u64>,
        storage_options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CollectionHandle> {
        let opts = collection_options(storage_options)?;
        let inner = py
            .detach(|| match version {
                Some(v) => Collection::open_version(uri, v, opts),
                None => Collection::open(uri, opts),
            })
            .py(py)?;
        Ok(CollectionHandle { inner })
    }

    /// Adds rows with u64 ids (a list of str: string ids) as a growing segment.
    fn add(
        &self,
        py: Python<'_>,
        vectors: PyReadonlyArray2<'_, f32>,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        self.write(py, vectors, ids, false)
    }

    /// Adds rows, replacing the rows of ids that exist.
    fn upsert(
        &self,
        py: Python<'_>,
        vectors: PyReadonlyArray2<'_, f32>,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        self.write(py, vectors, ids, true)
    }

    /// Deletes rows by id (u64s, or str for string ids); returns how many it deleted.
    fn delete(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<u64> {
        if let Ok(labels) = ids.extract::<Vec<String>>() {
            return Ok(py
                .detach(|| self.inner.delete_labels(&labels))
                .py(py)?
                .deleted);
        }
        let ids: Vec<u64> = ids.extract()?;
        Ok(py.detach(|| self.inner.delete(&ids)).py(py)?.deleted)
    }

    /// Searches: a `pyarrow.Table` of `query`, `id`, `_distance` (and `label` when rows
    /// have string ids), nearest first per query.
    #[pyo3(signature = (queries, k, nprobe=16, refine=1))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'_, f32>,
        k: usize,
        nprobe: usize,
        refine: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (q, _) = rows(py, &queries, "queries")?;
        let opts = SearchOptions::new(search_params(k, nprobe, refine));
        let res = py.detach(|| self.inner.search(q, &opts)).py(py)?;
        let (mut query, mut id, mut dist, mut label) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (qi, hits) in res.hits.iter().enumerate() {
            for h in hits {
                query.push(qi as u32);
                id.push(h.id);
                dist.push(h.distance);
                label.push(h.label.clone());
            }
        }
        let cols = PyDict::new(py);
        cols.set_item("query", PyArray1::from_vec(py, query))?;
        cols.set_item("id", PyArray1::from_vec(py, id))?;
        cols.set_item("_distance", PyArray1::from_vec(py, dist))?;
        if label.iter().any(Option::is_some) {
            cols.set_item("label", label)?;
        }
        py.import("pyarrow")?.call_method1("table", (cols,))
    }

    /// Encodes the growing rows into a shard; returns the version.
    fn seal(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.inner.seal()).py(py)
    }

    /// Rewrites shards with many deleted rows and merges small ones; returns the version.
    #[pyo3(signature = (deleted_share=0.1, small_rows=100_000, target_rows=1_000_000))]
    fn compact(
        &self,
        py: Python<'_>,
        deleted_share: f64,
        small_rows: u64,
        target_rows: u64,
    ) -> PyResult<u64> {
        let o = CompactOptions::default()
            .with_deleted_share(deleted_share)
            .with_small_rows(small_rows)
            .with_target_rows(target_rows);
        py.detach(|| self.inner.compact(&o)).py(py)
    }

    /// Removes versions older than `older_than_s` seconds (never the newest) and files no
    /// remaining version references; returns the versions removed.
    #[pyo3(signature = (older_than_s, grace_s=3600.0))]
    fn vacuum(&self, py: Python<'_>, older_than_s: f64, grace_s: f64) -> PyResult<Vec<u64>> {
        let secs = |s: f64, what: &str| {
            std::time::Duration::try_from_secs_f64(s).map_err(|_| {
                raise(
                    py,
                    "InvalidArgumentError",
                    format!("{what}: {s} is not a number of seconds"),
                )
            })
        };
        let o = VacuumOptions::new(secs(older_than_s, "older_than_s")?)
            .with_grace(secs(grace_s, "grace_s")?);
        Ok(py.detach(|| self.inner.vacuum(&o)).py(py)?.versions)
    }

    /// Every version: a list of dicts `version`, `timestamp_ms`, `operation`, `shards`, `rows`.
    fn versions<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let vs = py.detach(|| self.inner.versions()).py(py)?;
        vs.into_iter()
            .map(|v| {
                let d = PyDict::new(py);
                d.set_item("version", v.version)?;
                d.set_item("timestamp_ms", v.timestamp_ms)?;
                d.set_item("operation", v.operation)?;
                d.set_item("shards", v.shards)?;
                d.set_item("rows", v.rows)?;
                Ok(d)
            })
            .collect()
    }

    /// The pinned version.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version()
    }

    /// Live rows (in shards and growing segments).
    fn __len__(&self) -> usize {
        self.inner.manifest().live_rows() as usize
    }
}

impl CollectionHandle {
    fn write(
        &self,
        py: Python<'_>,
        vectors: PyReadonlyArray2<'_, f32>,
        ids: &Bound<'_, PyAny>,
        upsert: bool,
    ) -> PyResult<u64> {
        let (data, _) = rows(py, &vectors, "vectors")?;
        if let Ok(labels) = ids.extract::<Vec<String>>() {
            return py
                .detach(|| {
                    if upsert {
                        self.inner.upsert_labeled(data, &labels)
                    } else {
                        self.inner.add_labeled(data, &labels)
                    }
                })
                .py(py);
        }
        let ids: Vec<u64> = ids.extract()?;
        py.detach(|| {
            if upsert {
                self.inner.upsert(data, &ids)
            } else {
                self.inner.add(data, &ids)
            }
        })
        .py(py)
    }
}

/// The SIMD level in use: `scalar`, `avx2`, `avx512` or `neon`.
#[pyfunction]
fn simd_level() -> String {
    ivfpq_simd::level().to_string()
}

#[pymodule]
fn _ivfpq(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Index>()?;
    m.add_class::<ShardFile>()?;
    m.add_class::<CollectionHandle>()?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    Ok(())
}
