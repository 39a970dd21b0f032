//! `Collection`: shards of one model at a folder or object-store prefix, with versions,
//! row changes, and the map (`search_shard`) and reduce (`merge`) steps of a search.

use ivfpq_core::SearchOptions;
use ivfpq_shard::{
    Collection, CollectionOptions, CompactOptions, SearchResults, ShardEntry, VacuumOptions,
};
use numpy::{PyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrow::{ArrowStream, import_batches, one_batch};
use crate::index::Model;
use crate::{IntoPy, interruptible, invalid, rows, search_params, store_options};

/// Final results as a `pyarrow.Table`: `query`, `id`, `_distance`, and `label` when rows
/// have string ids; queries in order, each nearest first.
pub(crate) fn results_table<'py>(
    py: Python<'py>,
    res: &SearchResults,
) -> PyResult<Bound<'py, PyAny>> {
    let rows = res.hits.iter().map(Vec::len).sum();
    let (mut query, mut id, mut dist) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let mut label = Vec::new();
    let labeled = res.hits.iter().flatten().any(|h| h.label.is_some());
    for (qi, hits) in res.hits.iter().enumerate() {
        for h in hits {
            query.push(qi as u32);
            id.push(h.id);
            dist.push(h.distance);
            if labeled {
                label.push(h.label.clone());
            }
        }
    }
    let cols = PyDict::new(py);
    cols.set_item("query", PyArray1::from_vec(py, query))?;
    cols.set_item("id", PyArray1::from_vec(py, id))?;
    cols.set_item("_distance", PyArray1::from_vec(py, dist))?;
    if labeled {
        cols.set_item("label", label)?;
    }
    py.import("pyarrow")?.call_method1("table", (cols,))
}

/// The reduce step: partial results (Arrow streams from `search_shard`) merged into the
/// top `k` per query, as `Collection.search` returns them.
#[pyfunction]
pub(crate) fn merge<'py>(
    py: Python<'py>,
    parts: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut partials = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let what = format!("parts[{i}]");
        let (schema, batches) = import_batches(py, p, &what)?;
        let batch = one_batch(py, schema, batches, &what)?;
        partials.push(SearchResults::from_record_batch(&batch, &what).py(py)?);
    }
    let merged = py.detach(|| ivfpq_shard::merge(&partials)).py(py)?;
    results_table(py, &merged)
}

/// A collection of shards at a folder or object-store prefix, pinned to a version.
#[pyclass(frozen, module = "ivfpq._ivfpq")]
pub(crate) struct CollectionHandle {
    inner: std::sync::Arc<Collection>,
}

fn collection_options(storage_options: Option<&Bound<'_, PyDict>>) -> PyResult<CollectionOptions> {
    Ok(CollectionOptions::default().with_store(store_options(storage_options)?))
}

#[pymethods]
impl CollectionHandle {
    /// Creates a collection whose shards use `model`.
    #[staticmethod]
    #[pyo3(signature = (uri, model, storage_options=None))]
    fn create(
        py: Python<'_>,
        uri: &str,
        model: &Model,
        storage_options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CollectionHandle> {
        let opts = collection_options(storage_options)?;
        let inner = py
            .detach(|| Collection::create(uri, &model.inner, opts))
            .py(py)?;
        Ok(CollectionHandle {
            inner: std::sync::Arc::new(inner),
        })
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
        Ok(CollectionHandle {
            inner: std::sync::Arc::new(inner),
        })
    }

    /// Adds rows with u64 ids (a list of str: string ids) as a growing segment.
    fn add(
        &self,
        py: Python<'_>,
        vectors: PyReadonlyArray2<'_, f32>,
        ids: &Bound<'_, PyAny>,
        upsert: bool,
    ) -> PyResult<u64> {
        let (data, _) = rows(py, &vectors, "vectors")?;
        let c = &self.inner;
        if let Ok(labels) = ids.extract::<Vec<String>>() {
            return interruptible(py, || match upsert {
                true => c.upsert_labeled(data, &labels),
                false => c.add_labeled(data, &labels),
            })?
            .py(py);
        }
        let ids: Vec<u64> = ids.extract()?;
        interruptible(py, || match upsert {
            true => c.upsert(data, &ids),
            false => c.add(data, &ids),
        })?
        .py(py)
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

    /// Searches every shard and growing segment and merges: a `pyarrow.Table`.
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
        results_table(py, &res)
    }

    /// The map step: part `i` (a shard, or from `parts - growing` on a growing segment)
    /// searched alone; a partial result for `merge`, as an Arrow stream.
    fn search_shard(
        &self,
        py: Python<'_>,
        i: usize,
        queries: PyReadonlyArray2<'_, f32>,
        k: usize,
        nprobe: usize,
        refine: usize,
    ) -> PyResult<ArrowStream> {
        let (q, _) = rows(py, &queries, "queries")?;
        let opts = SearchOptions::new(search_params(k, nprobe, refine));
        let batch = py
            .detach(|| {
                self.inner
                    .search_shard(i, q, &opts)
                    .and_then(|r| r.to_record_batch())
            })
            .py(py)?;
        Ok(ArrowStream::new(batch))
    }

    /// Shards plus growing segments of the pinned version: the parts `search_shard` takes.
    #[getter]
    fn parts(&self) -> usize {
        let m = self.inner.manifest();
        m.shards.len() + m.growing.len()
    }

    /// Copies local shard files into the collection and commits them in one version.
    fn add_shard_files(&self, py: Python<'_>, paths: Vec<std::path::PathBuf>) -> PyResult<u64> {
        py.detach(|| self.inner.add_shard_files(&paths)).py(py)
    }

    /// Checks a local shard file and copies it in under a fresh name, uncommitted; returns
    /// its manifest entry (JSON) for `commit_shards`.
    fn stage_shard_file(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
        let entry = py.detach(|| self.inner.stage_shard_file(&path)).py(py)?;
        serde_json::to_string(&entry).map_err(|e| invalid(py, format!("entry: {e}")))
    }

    /// Commits staged shards (entries from `stage_shard_file`) in one new version.
    fn commit_shards(&self, py: Python<'_>, entries: Vec<String>) -> PyResult<u64> {
        let entries = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                serde_json::from_str::<ShardEntry>(e)
                    .map_err(|err| invalid(py, format!("entries[{i}]: {err}")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        py.detach(|| self.inner.commit_shards(entries)).py(py)
    }

    /// Encodes the growing rows into a shard; returns the version.
    fn seal(&self, py: Python<'_>) -> PyResult<u64> {
        interruptible(py, || self.inner.seal())?.py(py)
    }

    /// Rewrites shards with many deleted rows and merges small ones; returns the version.
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
        interruptible(py, || self.inner.compact(&o))?.py(py)
    }

    /// Removes versions older than `older_than_s` seconds (never the newest) and files no
    /// remaining version references; returns the versions removed.
    fn vacuum(&self, py: Python<'_>, older_than_s: f64, grace_s: f64) -> PyResult<Vec<u64>> {
        let secs = |s: f64, what: &str| {
            std::time::Duration::try_from_secs_f64(s)
                .map_err(|_| invalid(py, format!("{what}: {s} is not a number of seconds")))
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

    /// Records an embedding function `(name, config JSON, dim, metric, callable)`; returns
    /// the version.
    fn set_embedding(
        &self,
        py: Python<'_>,
        function: (String, String, usize, String, Py<PyAny>),
    ) -> PyResult<u64> {
        crate::embed::set_embedding(py, &self.inner, function)
    }

    /// This collection with the one of `functions` its manifest records, embedding
    /// through a cache of `cache_bytes` (and `disk_cache`), `max_batch` inputs a call.
    fn attach_embedding(
        &self,
        py: Python<'_>,
        functions: Vec<(String, String, usize, String, Py<PyAny>)>,
        max_batch: usize,
        cache_bytes: usize,
        disk_cache: Option<std::path::PathBuf>,
    ) -> PyResult<crate::embed::EmbeddedHandle> {
        crate::embed::EmbeddedHandle::attach(
            py,
            self.inner.clone(),
            functions,
            (max_batch, cache_bytes, disk_cache),
        )
    }

    /// The recorded embedding function: `(name, config JSON, dim, metric)`, or `None`.
    #[getter]
    fn embedding(&self) -> Option<(String, String, u32, String)> {
        self.inner
            .embedding()
            .map(|e| (e.name, e.config.to_string(), e.dim, e.metric))
    }

    /// The collection's model (`None` for separately trained shards).
    #[getter]
    fn model(&self) -> Option<Model> {
        self.inner.model().map(|inner| Model { inner })
    }

    /// Live rows (in shards and growing segments).
    fn __len__(&self) -> usize {
        self.inner.manifest().live_rows() as usize
    }
}
