//! `.npy` files: a 2-D little-endian float32 or float16 array in C order.

use std::path::Path;

use crate::error::{IoError, Result};

/// How an input file stores each coordinate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementType {
    /// IEEE float32.
    F32,
    /// IEEE float16, widened to f32 as it is read.
    F16,
}

impl ElementType {
    /// Bytes a coordinate.
    pub fn size(self) -> usize {
        match self {
            ElementType::F32 => 4,
            ElementType::F16 => 2,
        }
    }

    /// The numpy name: `f32` or `f16`.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::F32 => "f32",
            ElementType::F16 => "f16",
        }
    }

    /// Widens `bytes` (whole coordinates, little-endian) into `out`.
    pub(crate) fn widen(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            ElementType::F32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            ElementType::F16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
            ),
        }
    }
}

/// What a `.npy` header says: where the data starts, its shape and element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    pub data_offset: u64,
    pub rows: u64,
    pub dim: usize,
    pub elem: ElementType,
}

impl NpyHeader {
    /// Bytes of the data the header promises.
    pub(crate) fn data_len(&self) -> Option<u64> {
        self.rows
            .checked_mul(self.dim as u64)?
            .checked_mul(self.elem.size() as u64)
    }
}

/// Reads the header at the start of `b` (the whole file, or at least its header).
pub(crate) fn parse_header(b: &[u8], path: &Path) -> Result<NpyHeader> {
    let bad = |msg: String| IoError::format(path, "npy header", msg);
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(bad("bad magic".into()));
    }
    // Version 1 has a u16 header length; versions 2 and 3 a u32.
    let (hlen, start): (usize, usize) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        v => return Err(bad(format!("unsupported version {v}"))),
    };
    let header = b
        .get(start..start.saturating_add(hlen))
        .ok_or_else(|| bad("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}'"))? + key.len() + 2;
        let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").ok_or_else(|| bad("no descr".into()))?;
    let elem = if descr.starts_with("'<f4'") || descr.starts_with("'=f4'") {
        ElementType::F32
    } else if descr.starts_with("'<f2'") || descr.starts_with("'=f2'") {
        ElementType::F16
    } else {
        return Err(bad(format!(
            "dtype {} is not little-endian float32 or float16",
            descr.split(',').next().unwrap_or("")
        )));
    };
    if !field("fortran_order").is_some_and(|v| v.starts_with("False")) {
        return Err(bad("only C-order arrays are read".into()));
    }
    let shape = field("shape").ok_or_else(|| bad("no shape".into()))?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("bad shape".into()))?;
    let dims: Vec<u64> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| bad(format!("bad shape {inner:?}")))
        })
        .collect::<Result<_>>()?;
    let [rows, dim] = dims[..] else {
        return Err(bad(format!("shape ({inner}) is not 2-D")));
    };
    let dim = usize::try_from(dim).map_err(|_| bad(format!("dimension {dim} is too large")))?;
    Ok(NpyHeader {
        data_offset: (start + hlen) as u64,
        rows,
        dim,
        elem,
    })
}

/// Parses a `.npy` file holding a 2-D little-endian f32 or f16 array in C order, widened
/// to f32.
pub fn parse_npy(b: &[u8], path: &Path) -> Result<(Vec<f32>, usize)> {
    let h = parse_header(b, path)?;
    let body = &b[h.data_offset as usize..];
    if h.data_len() != Some(body.len() as u64) {
        return Err(IoError::format(
            path,
            "npy data",
            format!(
                "{} bytes for shape ({}, {}) of {} (truncated?)",
                body.len(),
                h.rows,
                h.dim,
                h.elem.name()
            ),
        ));
    }
    let mut out = Vec::with_capacity(body.len() / h.elem.size());
    h.elem.widen(body, &mut out);
    Ok((out, h.dim))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 `.npy` file of `shape` with `body`, as numpy writes it (header padded
    /// to a multiple of 64 bytes, ending in a newline).
    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn npy_parses_and_every_truncation_is_an_error() {
        let path = Path::new("x.npy");
        let rows: Vec<f32> = (0..12).map(|i| i as f32 - 2.5).collect();
        let good = npy("<f4", false, "(3, 4)", bytemuck::cast_slice(&rows));
        assert_eq!(parse_npy(&good, path).unwrap(), (rows, 4));
        for cut in 0..good.len() {
            let e = parse_npy(&good[..cut], path).unwrap_err().to_string();
            assert!(e.contains("x.npy") && e.contains("npy"), "{e}");
        }
    }

    #[test]
    fn npy_rejects_what_it_cannot_read_by_name() {
        let path = Path::new("x.npy");
        let body = [0u8; 16];
        let cases: [(Vec<u8>, &str); 6] = [
            (
                npy("<f8", false, "(2, 1)", &body),
                "not little-endian float32 or float16",
            ),
            (npy("<f4", true, "(2, 2)", &body), "C-order"),
            (npy("<f4", false, "(1, 2, 2)", &body), "not 2-D"),
            (npy("<f4", false, "(2, x)", &body), "bad shape"),
            (npy("<f4", false, "(3, 2)", &body), "truncated"),
            (
                npy("<f4", false, "(4611686018427387904, 8)", &body),
                "truncated",
            ),
        ];
        for (bytes, words) in cases {
            let e = parse_npy(&bytes, path).unwrap_err().to_string();
            assert!(e.contains(words), "{words}: {e}");
        }
    }

    /// The seeds of the `npy` fuzz target parse to their shapes.
    #[test]
    fn fuzz_seeds_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/npy");
        let shapes: Vec<(usize, usize)> = ["v1-3x4.npy", "v2-2x2.npy"]
            .iter()
            .map(|f| {
                let bytes = std::fs::read(dir.join(f)).unwrap();
                let (rows, dim) = parse_npy(&bytes, Path::new(f)).unwrap();
                (rows.len() / dim, dim)
            })
            .collect();
        assert_eq!(shapes, [(3, 4), (2, 2)]);
    }

    #[test]
    fn npy_f16_widens() {
        let path = Path::new("h.npy");
        let vals = [1.5f32, -2.0, 0.25, 65504.0];
        let bytes: Vec<u8> = vals
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let good = npy("<f2", false, "(2, 2)", &bytes);
        assert_eq!(parse_npy(&good, path).unwrap(), (vals.to_vec(), 2));
        let e = parse_npy(&good[..good.len() - 1], path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("f16") && e.contains("truncated"), "{e}");
    }
}
