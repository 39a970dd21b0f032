//! A shard file over 4 GiB: offsets past 2³² are written, checked and read back, through
//! mmap and through the object-store path. Ignored by default (it writes ~4.6 GB and takes
//! a few minutes); run with
//! `cargo test --test shard_large -- --ignored --nocapture`.

use std::sync::Arc;

use ivfpq::core::{IndexParams, IvfPqIndex, IvfPqModel, Metric, SearchParams, VectorStorage};
use ivfpq::io::{OpenOptions, Shard, write_shard};

const DIM: usize = 1024;
const N: usize = 1_150_000;
const CHUNK: usize = 50_000;

/// Row `i`: a cheap deterministic pattern, distinct per row.
fn rows(start: usize, n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n * DIM);
    for i in start..start + n {
        let h = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for d in 0..DIM {
            let x = h.rotate_left((d % 64) as u32) ^ (d as u64).wrapping_mul(0x2545_f491);
            v.push(((x >> 40) & 0xffff) as f32 / 65536.0 - 0.5);
        }
    }
    v
}

#[test]
#[ignore = "writes ~4.6 GB; run by hand"]
fn shard_over_4_gib_round_trips() {
    let p = IndexParams::default()
        .with_metric(Metric::L2)
        .with_nlist(16)
        .with_m(8)
        .with_storage(VectorStorage::F32);
    let model = Arc::new(IvfPqModel::train(&rows(0, 20_000), DIM, &p).unwrap());
    let mut index = IvfPqIndex::new(model, VectorStorage::F32);
    for start in (0..N).step_by(CHUNK) {
        let ids: Vec<u64> = (start as u64..(start + CHUNK) as u64).collect();
        index.add(&rows(start, CHUNK), &ids).unwrap();
    }
    let dir = std::env::var("IVFPQ_LARGE_DIR")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let path = std::path::Path::new(&dir).join(format!("ivfpq-large-{}.shard", std::process::id()));
    let len = write_shard(&index, &path).unwrap();
    eprintln!("wrote {} bytes", len);
    assert!(len > 4 << 30);
    let queries: Vec<f32> = [7, N / 2, N - 1].iter().flat_map(|&i| rows(i, 1)).collect();
    let sp = SearchParams::new(5, 16).with_refine(4);
    let want = index.search(&queries, &sp).unwrap();
    // Every query is a stored row: refine finds it at distance 0, wherever its bytes lie.
    for (r, &i) in want.iter().zip(&[7, N / 2, N - 1]) {
        assert_eq!((r[0].id, r[0].distance), (i as u64, 0.0));
    }
    drop(index);
    let mapped = Shard::open(path.to_str().unwrap(), &OpenOptions::default()).unwrap();
    let far = mapped
        .directory()
        .entries
        .iter()
        .filter(|e| e.vectors_offset > 1 << 32)
        .count();
    eprintln!("{far} of 16 partitions start past 4 GiB");
    assert!(far > 0);
    assert_eq!(mapped.search(&queries, &sp).unwrap(), want);
    let url = format!("file://{}", path.display());
    let remote = Shard::open(&url, &OpenOptions::default()).unwrap();
    assert_eq!(remote.search(&queries, &sp).unwrap(), want);
    mapped.verify().unwrap();
    let _ = std::fs::remove_file(&path);
}
