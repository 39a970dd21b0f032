//! The body of the shard-reader fuzz target, as a plain function so that stable tests can
//! replay saved inputs (`fuzz/fuzz_targets/shard.rs` calls it under libFuzzer).

use std::sync::Arc;

use bytes::Bytes;
use ivfpq_core::SearchParams;

use super::Shard;
use crate::source::MmapSource;

/// Opens `data` as a shard, verifies it, and runs a small search and a labelled query.
/// Errors are fine; panics, unbounded allocation and out-of-bounds reads are the bugs.
pub fn exercise(data: &[u8]) {
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
    let _ = shard.query(&q, &SearchParams::new(3, 2).with_refine(2), true, true);
}
