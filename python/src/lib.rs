//! The `ivfpq` Python package's native module: indexes, models, shard files, collections
//! and the out-of-core build's steps, with numpy arrays and Arrow streams in and out.
//!
//! Every long call releases the GIL; builds and training also watch for Ctrl-C
//! ([`interruptible`]). Errors are raised as the package's exception classes
//! (`ivfpq.IvfpqError` and its `ValueError` and `OSError` subclasses) with the Rust
//! error's message.

use ivfpq_core::{CodeKind, IndexParams, IvfPqError, Metric, SearchParams};
use ivfpq_io::{IoError, StoreOptions};
use ivfpq_shard::ShardError;
use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod arrow;
mod collection;
mod embed;
mod index;
mod ingest;

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

/// A `ValueError` (`ivfpq.InvalidArgumentError`) with `message`.
fn invalid(py: Python<'_>, message: String) -> PyErr {
    raise(py, "InvalidArgumentError", message)
}

fn core_kind(e: &IvfPqError) -> &'static str {
    match e {
        IvfPqError::Simd(_) | IvfPqError::Interrupted => "IvfpqError",
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

fn shard_kind(e: &ShardError) -> &'static str {
    match e {
        ShardError::InvalidParameter { .. }
        | ShardError::DuplicateId { .. }
        | ShardError::DuplicateLabel { .. } => "InvalidArgumentError",
        ShardError::EmbeddingUnavailable { .. } => "EmbeddingUnavailableError",
        ShardError::Embedding { .. } => "EmbeddingError",
        ShardError::Io(io) => io_kind(io),
        _ => "IvfpqError",
    }
}

/// Converts the crates' errors into the package's exceptions.
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
        self.map_err(|e| raise(py, shard_kind(&e), e.to_string()))
    }
}

/// Runs `work` on a scoped thread with the GIL released, and Python's signal handlers
/// run every 50 ms meanwhile (they run only on the main thread, which here waits). On
/// Ctrl-C the work is asked to stop ([`ivfpq_core::interrupt`]); once it has returned,
/// the `KeyboardInterrupt` is raised and its result dropped: nothing half-written stays
/// behind, as every file write is atomic.
fn interruptible<T, E, F>(py: Python<'_>, work: F) -> PyResult<Result<T, E>>
where
    T: Send,
    E: Send,
    F: FnOnce() -> Result<T, E> + Send,
{
    ivfpq_core::interrupt::clear();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (res, signal) = std::thread::scope(|s| {
        let handle = s.spawn(move || {
            let r = work();
            let _ = tx.send(());
            r
        });
        let (mut signal, mut rx) = (None, rx);
        loop {
            // The receiver moves into the GIL-free wait and back out (it is not Sync).
            let (back, waited) = py.detach(move || {
                let w = rx.recv_timeout(std::time::Duration::from_millis(50));
                (rx, w)
            });
            rx = back;
            if waited != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                break;
            }
            if signal.is_none()
                && let Err(e) = py.check_signals()
            {
                ivfpq_core::interrupt::request();
                signal = Some(e);
            }
        }
        (py.detach(|| handle.join()), signal)
    });
    ivfpq_core::interrupt::clear();
    if let Some(e) = signal {
        return Err(e);
    }
    res.map_err(|_| raise(py, "IvfpqError", "the work panicked".into()))
}

/// Rows of a 2-D float32 array, borrowed when C-contiguous (no copy).
fn rows<'a>(
    py: Python<'_>,
    a: &'a PyReadonlyArray2<'_, f32>,
    what: &str,
) -> PyResult<(&'a [f32], usize)> {
    let dim = a.shape()[1];
    let s = a
        .as_slice()
        .map_err(|_| invalid(py, format!("{what}: not C-contiguous")))?;
    Ok((s, dim))
}

fn search_params(k: usize, nprobe: usize, refine: usize) -> SearchParams {
    SearchParams::new(k, nprobe).with_refine(refine)
}

/// Training settings: a dict with the keys `Index.build` and `ivfpq.train` take.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct TrainArgs {
    metric: String,
    nlist: Option<usize>,
    m: Option<usize>,
    bits: u32,
    codes: String,
    seed: u64,
    kmeans_iters: Option<usize>,
    opq: Option<bool>,
}

impl TrainArgs {
    fn params(&self, py: Python<'_>) -> PyResult<IndexParams> {
        let metric = self.metric.parse::<Metric>().py(py)?;
        let codes = match self.codes.as_str() {
            "pq" => CodeKind::Pq,
            "rabitq" => CodeKind::Rabitq,
            c => return Err(invalid(py, format!("codes: {c:?} is not pq or rabitq"))),
        };
        let mut p = IndexParams::default()
            .with_metric(metric)
            .with_nbits(self.bits)
            .with_seed(self.seed)
            .with_codes(codes);
        p.nlist = self.nlist;
        p.m = self.m;
        if let Some(iters) = self.kmeans_iters {
            p = p.with_kmeans_iters(iters);
        }
        Ok(p.with_opq(self.opq))
    }
}

fn vector_storage(py: Python<'_>, name: &str) -> PyResult<ivfpq_core::VectorStorage> {
    ivfpq_shard::manifest::parse_storage(name).ok_or_else(|| {
        invalid(
            py,
            format!("vectors_storage: {name:?} is not f32, f16 or none"),
        )
    })
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

/// The SIMD level in use: `scalar`, `avx2`, `avx512` or `neon`.
#[pyfunction]
fn simd_level() -> String {
    ivfpq_simd::level().to_string()
}

#[pymodule]
fn _ivfpq(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<index::Index>()?;
    m.add_class::<index::Model>()?;
    m.add_class::<index::ShardFile>()?;
    m.add_class::<collection::CollectionHandle>()?;
    m.add_class::<ingest::Plan>()?;
    m.add_class::<embed::EmbeddedHandle>()?;
    m.add_class::<arrow::ArrowStream>()?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::train, m)?)?;
    m.add_function(wrap_pyfunction!(ingest::build_bucket, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::arrow_vectors, m)?)?;
    m.add_function(wrap_pyfunction!(collection::merge, m)?)?;
    Ok(())
}
