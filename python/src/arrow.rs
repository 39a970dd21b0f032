//! Arrow through the C stream interface (the Arrow PyCapsule protocol): vectors and ids
//! from any object with `__arrow_c_stream__` (a pyarrow `Table` or `RecordBatchReader`,
//! polars, DuckDB), and partial results out as a stream pyarrow imports without a copy.

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchIterator};
use ivfpq_io::{InputIds, InputVectors};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::CStr;

use crate::{IntoPy, invalid};

const STREAM: &CStr = c"arrow_array_stream";

/// The record batches of an object with `__arrow_c_stream__` (`what` names it in errors).
pub(crate) fn import_batches(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<(arrow_schema::SchemaRef, Vec<RecordBatch>)> {
    if !obj.hasattr("__arrow_c_stream__")? {
        return Err(invalid(
            py,
            format!("{what}: not an Arrow table or stream (no __arrow_c_stream__)"),
        ));
    }
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule.pointer_checked(Some(STREAM))?;
    // SAFETY: a capsule named "arrow_array_stream" holds an ArrowArrayStream (the Arrow
    // PyCapsule protocol). `from_raw` moves the stream out and leaves the capsule's copy
    // released, as the protocol asks of a consumer, so the capsule's destructor frees
    // nothing twice.
    let reader = unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr().cast()) }
        .map_err(|e| invalid(py, format!("{what}: {e}")))?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(py, format!("{what}: {e}")))?;
    Ok((schema, batches))
}

/// A stream of record batches, for pyarrow to import (`pa.RecordBatchReader.from_stream`).
#[pyclass(module = "ivfpq._ivfpq")]
pub(crate) struct ArrowStream {
    batches: Option<(arrow_schema::SchemaRef, Vec<RecordBatch>)>,
}

impl ArrowStream {
    pub(crate) fn new(batch: RecordBatch) -> ArrowStream {
        ArrowStream {
            batches: Some((batch.schema(), vec![batch])),
        }
    }
}

#[pymethods]
impl ArrowStream {
    /// Exports the batches once, through the C stream interface.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &mut self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the schema is the results' own
        let (schema, batches) = self
            .batches
            .take()
            .ok_or_else(|| invalid(py, "the stream was already read".into()))?;
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, STREAM)
    }
}

/// `(vectors, ids)` of an Arrow table: vectors from the first `FixedSizeList<Float32>`
/// column as a 2-D float32 array; ids from `id_column`, as a uint64 array, a list of
/// str, or `None` when there is no such column.
#[pyfunction]
pub(crate) fn arrow_vectors<'py>(
    py: Python<'py>,
    table: &Bound<'py, PyAny>,
    id_column: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (_, batches) = import_batches(py, table, "vectors")?;
    let v = py
        .detach(|| InputVectors::from_batches(&batches, id_column))
        .py(py)?;
    if v.is_empty() {
        return Err(invalid(py, "vectors: the table holds no rows".into()));
    }
    let (n, dim) = (v.len(), v.dim);
    let data = PyArray1::from_vec(py, v.data).reshape([n, dim])?.into_any();
    let ids = match v.ids {
        InputIds::RowNumbers => py.None().into_bound(py),
        InputIds::Numbers(ids) => PyArray1::from_vec(py, ids).into_any(),
        InputIds::Strings(s) => s.into_pyobject(py)?.into_any(),
    };
    Ok((data, ids))
}

/// One record batch of a stream of them, or `schema`'s empty batch.
pub(crate) fn one_batch(
    py: Python<'_>,
    schema: arrow_schema::SchemaRef,
    batches: Vec<RecordBatch>,
    what: &str,
) -> PyResult<RecordBatch> {
    let mut batches = batches;
    if batches.len() > 1 {
        return arrow_select::concat::concat_batches(&schema, &batches)
            .map_err(|e| invalid(py, format!("{what}: {e}")));
    }
    Ok(batches
        .pop()
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}
