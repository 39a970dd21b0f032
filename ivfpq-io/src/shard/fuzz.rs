//! The body of the shard-reader fuzz target, as a plain function so that stable tests can
//! replay saved inputs (`fuzz/fuzz_targets/shard.rs` calls it under libFuzzer).

use std::sync::Arc;

use bytes::Bytes;
use ivfpq_core::{SearchOptions, SearchParams};

use super::Shard;
use crate::source::MmapSource;

/// Opens `data` as a shard, verifies it, and runs a small search and a labelled query;
/// then does it again with the header, directory and footer checksums recomputed, so
/// that mutations reach the structure checks behind them instead of stopping at a CRC.
/// Errors are fine; panics, unbounded allocation and out-of-bounds reads are the bugs.
pub fn exercise(data: &[u8]) {
    run(data);
    if let Some(sealed) = reseal(data) {
        run(&sealed);
    }
}

/// `data` with valid header, directory and footer checksums, when it is long enough to
/// have them.
fn reseal(data: &[u8]) -> Option<Vec<u8>> {
    use super::layout::{FOOTER_LEN, HEADER_LEN, crc};
    let mut b = data.to_vec();
    let n = b.len();
    if n < HEADER_LEN + FOOTER_LEN {
        return None;
    }
    let c = crc(&b[..60]);
    b[60..64].copy_from_slice(&c.to_le_bytes());
    let f = n - FOOTER_LEN;
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
    let (off, len) = (word(&b, f), word(&b, f + 8));
    let end = off.checked_add(len).filter(|&e| e <= f as u64);
    if let Some(end) = end {
        let c = crc(&b[off as usize..end as usize]);
        b[f + 16..f + 20].copy_from_slice(&c.to_le_bytes());
    }
    let c = crc(&b[f..f + 52]);
    b[f + 52..f + 56].copy_from_slice(&c.to_le_bytes());
    Some(b)
}

fn run(data: &[u8]) {
    let source = Arc::new(MmapSource::from_bytes("fuzz", Bytes::copy_from_slice(data)));
    let Ok(shard) = Shard::open_source(source, 1 << 20) else {
        return;
    };
    let _ = shard.verify();
    let dim = shard.header().dim as usize;
    // A query only when it is small: the header's dim is bounded by the file's size.
    if dim == 0 || dim > 4096 {
        return;
    }
    let q: Vec<f32> = (0..dim).map(|i| (i % 7) as f32 - 3.0).collect();
    let _ = shard.search(&q, &SearchParams::new(3, 2));
    let _ = shard.query(&q, &all(SearchParams::new(3, 2).with_refine(2)));
}

/// Every extra a query can return: string ids and stored vectors.
fn all(params: SearchParams) -> SearchOptions {
    SearchOptions::new(params)
        .with_labels(true)
        .with_vectors(true)
}
