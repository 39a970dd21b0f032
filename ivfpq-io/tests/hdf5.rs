//! HDF5 input (feature `hdf5`): shapes, row ranges, ids of each type, and errors that name
//! the file and dataset.
#![cfg(feature = "hdf5")]

use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use hdf5_metno as hdf5;
use ivfpq_io::{ElementType, InputIds, VectorFile, read_vectors};

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ivfpq-h5-{}-{name}", std::process::id()))
}

fn rows(n: usize, dim: usize) -> Vec<f32> {
    (0..n * dim)
        .map(|i| ((i * 37) % 101) as f32 / 8.0 - 6.0)
        .collect()
}

/// Writes an HDF5 file with `embedding` (`n × dim`) and, when given, `id`.
fn write(path: &Path, data: &[f32], dim: usize, f16: bool, ids: Option<Ids>) {
    let file = hdf5::File::create(path).unwrap();
    let n = data.len() / dim;
    if f16 {
        let v: Vec<half::f16> = data.iter().map(|&x| half::f16::from_f32(x)).collect();
        let ds = file
            .new_dataset::<half::f16>()
            .shape((n, dim))
            .create("embedding")
            .unwrap();
        ds.write_raw(&v).unwrap();
    } else {
        let ds = file
            .new_dataset::<f32>()
            .shape((n, dim))
            .create("embedding")
            .unwrap();
        ds.write_raw(data).unwrap();
    }
    match ids {
        Some(Ids::U64(v)) => {
            let ds = file
                .new_dataset::<u64>()
                .shape(v.len())
                .create("id")
                .unwrap();
            ds.write_raw(&v).unwrap();
        }
        Some(Ids::I64(v)) => {
            let ds = file
                .new_dataset::<i64>()
                .shape(v.len())
                .create("id")
                .unwrap();
            ds.write_raw(&v).unwrap();
        }
        Some(Ids::Str(v)) => {
            let s: Vec<VarLenUnicode> = v.iter().map(|x| x.parse().unwrap()).collect();
            let ds = file
                .new_dataset::<VarLenUnicode>()
                .shape(s.len())
                .create("id")
                .unwrap();
            ds.write_raw(&s).unwrap();
        }
        None => {}
    }
}

enum Ids {
    U64(Vec<u64>),
    I64(Vec<i64>),
    Str(Vec<String>),
}

#[test]
fn reads_row_ranges_and_ids_of_each_type() {
    let (n, dim) = (1000, 12);
    let data = rows(n, dim);
    let path = tmp("u64.h5");
    write(
        &path,
        &data,
        dim,
        false,
        Some(Ids::U64((0..n as u64).map(|i| i * 3).collect())),
    );
    let f = VectorFile::open(&path, "id").unwrap();
    assert_eq!(
        (f.rows(), f.dim(), f.element_type()),
        (n as u64, dim, ElementType::F32)
    );
    let r = f.read_rows(100..250).unwrap();
    assert_eq!(r.data, data[100 * dim..250 * dim]);
    assert_eq!(
        r.ids,
        InputIds::Numbers((100..250u64).map(|i| i * 3).collect())
    );
    let whole = read_vectors(&path, "id").unwrap();
    assert_eq!(whole.data, data);

    let path = tmp("f16-str.h5");
    let names: Vec<String> = (0..n).map(|i| format!("protein-{i}")).collect();
    write(&path, &data, dim, true, Some(Ids::Str(names.clone())));
    let f = VectorFile::open(&path, "id").unwrap();
    assert_eq!(f.element_type(), ElementType::F16);
    let r = f.read_rows(990..1000).unwrap();
    let want: Vec<f32> = data[990 * dim..]
        .iter()
        .map(|&x| half::f16::from_f32(x).to_f32())
        .collect();
    assert_eq!(r.data, want);
    assert_eq!(r.ids, InputIds::Strings(names[990..].to_vec()));

    // No id dataset: rows are numbered by the caller.
    let path = tmp("noid.h5");
    write(&path, &data, dim, false, None);
    assert_eq!(
        VectorFile::open(&path, "id")
            .unwrap()
            .read_rows(0..5)
            .unwrap()
            .ids,
        InputIds::RowNumbers
    );
    // A named vector dataset that is not there.
    let e = VectorFile::open_named(&path, "id", "vectors")
        .unwrap_err()
        .to_string();
    assert!(e.contains("noid.h5") && e.contains("\"vectors\""), "{e}");
}

#[test]
fn bad_files_are_errors_that_name_them() {
    let dim = 4;
    let data = rows(10, dim);
    let path = tmp("neg.h5");
    write(
        &path,
        &data,
        dim,
        false,
        Some(Ids::I64((0..10).map(|i| i - 5).collect())),
    );
    let e = VectorFile::open(&path, "id")
        .unwrap()
        .read_rows(0..10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neg.h5") && e.contains("negative id"), "{e}");

    let path = tmp("short-ids.h5");
    write(&path, &data, dim, false, Some(Ids::U64(vec![1, 2, 3])));
    let e = VectorFile::open(&path, "id").unwrap_err().to_string();
    assert!(
        e.contains("short-ids.h5") && e.contains("one id a row"),
        "{e}"
    );

    let path = tmp("text.h5");
    std::fs::write(&path, b"not an hdf5 file").unwrap();
    let e = VectorFile::open(&path, "id").unwrap_err().to_string();
    assert!(e.contains("text.h5"), "{e}");
}
