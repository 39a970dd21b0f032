//! HDF5 input (cargo feature `hdf5`): a 2-D `embedding` dataset of f32 or f16 rows, and an
//! optional 1-D `id` dataset of integers or variable-length strings, read by row ranges
//! (hyperslabs), so a file larger than memory streams like the other formats.

use std::ops::Range;
use std::path::Path;

use hdf5::types::{FloatSize, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5_metno as hdf5;

use crate::error::{IoError, Result};
use crate::input::{InputIds, InputVectors};
use crate::npy::ElementType;

/// The dataset names of an HDF5 input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hdf5Names {
    pub vectors: String,
    pub ids: String,
}

/// What opening an HDF5 input finds: rows, dimension and element type.
pub(crate) fn shape(path: &Path, names: &Hdf5Names) -> Result<(u64, usize, ElementType)> {
    let file = open(path)?;
    let ds = dataset(&file, path, &names.vectors)?;
    let bad = |msg: String| IoError::format(path, format!("dataset {:?}", names.vectors), msg);
    let [rows, dim] = ds.shape()[..] else {
        return Err(bad(format!("shape {:?} is not 2-D", ds.shape())));
    };
    let elem = match descriptor(&ds, path, &names.vectors)? {
        TypeDescriptor::Float(FloatSize::U4) => ElementType::F32,
        TypeDescriptor::Float(FloatSize::U2) => ElementType::F16,
        other => return Err(bad(format!("element type {other} is not f32 or f16"))),
    };
    if let Ok(ids) = file.dataset(&names.ids)
        && ids.shape() != [rows]
    {
        return Err(IoError::format(
            path,
            format!("dataset {:?}", names.ids),
            format!("shape {:?} is not ({rows},), one id a row", ids.shape()),
        ));
    }
    Ok((rows as u64, dim, elem))
}

/// Rows `range` of the vectors (widened to f32) and their ids.
pub(crate) fn read_rows(
    path: &Path,
    names: &Hdf5Names,
    elem: ElementType,
    dim: usize,
    range: Range<u64>,
) -> Result<InputVectors> {
    let file = open(path)?;
    let ds = dataset(&file, path, &names.vectors)?;
    let (a, b) = (range.start as usize, range.end as usize);
    let h5 = |e: hdf5::Error| {
        IoError::format(path, format!("dataset {:?}", names.vectors), e.to_string())
    };
    let data: Vec<f32> = match elem {
        ElementType::F16 => ds
            .read_slice_2d::<half::f16, _>((a..b, ..))
            .map_err(h5)?
            .iter()
            .map(|x| x.to_f32())
            .collect(),
        _ => ds
            .read_slice_2d::<f32, _>((a..b, ..))
            .map_err(h5)?
            .iter()
            .copied()
            .collect(),
    };
    let ids = match file.dataset(&names.ids) {
        Err(_) => InputIds::RowNumbers,
        Ok(ids) => read_ids(&ids, path, &names.ids, a..b)?,
    };
    Ok(InputVectors { data, dim, ids })
}

fn read_ids(ds: &hdf5::Dataset, path: &Path, name: &str, r: Range<usize>) -> Result<InputIds> {
    let h5 = |e: hdf5::Error| IoError::format(path, format!("dataset {name:?}"), e.to_string());
    Ok(match descriptor(ds, path, name)? {
        TypeDescriptor::Unsigned(_) => {
            InputIds::Numbers(ds.read_slice_1d::<u64, _>(r).map_err(h5)?.to_vec())
        }
        TypeDescriptor::Integer(_) => {
            let v = ds.read_slice_1d::<i64, _>(r).map_err(h5)?;
            if let Some(x) = v.iter().find(|x| **x < 0) {
                return Err(IoError::format(
                    path,
                    format!("dataset {name:?}"),
                    format!("negative id {x}"),
                ));
            }
            InputIds::Numbers(v.iter().map(|&x| x as u64).collect())
        }
        TypeDescriptor::VarLenUnicode => InputIds::Strings(
            ds.read_slice_1d::<VarLenUnicode, _>(r)
                .map_err(h5)?
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        ),
        TypeDescriptor::VarLenAscii => InputIds::Strings(
            ds.read_slice_1d::<VarLenAscii, _>(r)
                .map_err(h5)?
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
        ),
        other => {
            return Err(IoError::format(
                path,
                format!("dataset {name:?}"),
                format!("ids of type {other}; expected integers or variable-length strings"),
            ));
        }
    })
}

fn open(path: &Path) -> Result<hdf5::File> {
    hdf5::File::open(path).map_err(|e| IoError::format(path, "hdf5", e.to_string()))
}

fn dataset(file: &hdf5::File, path: &Path, name: &str) -> Result<hdf5::Dataset> {
    file.dataset(name)
        .map_err(|e| IoError::format(path, format!("dataset {name:?}"), e.to_string()))
}

fn descriptor(ds: &hdf5::Dataset, path: &Path, name: &str) -> Result<TypeDescriptor> {
    ds.dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| IoError::format(path, format!("dataset {name:?}"), e.to_string()))
}
