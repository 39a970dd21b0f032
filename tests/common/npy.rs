//! Writing `.npy` files as numpy does, for the tests.

use std::path::Path;

/// Writes `data` (`n × dim`, row-major) as a version-1 `.npy` file of `<f4`, or of `<f2`
/// when `f16` (each value rounded to half precision).
pub fn write_npy_as(path: &Path, data: &[f32], dim: usize, f16: bool) {
    let descr = if f16 { "<f2" } else { "<f4" };
    let header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {dim}), }}",
        data.len() / dim
    );
    let mut h = header.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(&h);
    if f16 {
        b.extend(
            data.iter()
                .flat_map(|&x| half::f16::from_f32(x).to_le_bytes()),
        );
    } else {
        b.extend_from_slice(bytemuck::cast_slice(data));
    }
    std::fs::write(path, b).unwrap();
}

/// Writes `data` as a float32 `.npy` file.
#[allow(dead_code)]
pub fn write_npy(path: &Path, data: &[f32], dim: usize) {
    write_npy_as(path, data, dim, false);
}
