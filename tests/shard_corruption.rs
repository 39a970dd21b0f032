//! A damaged shard file is always a typed error naming the file and the section — never a
//! panic, never silently wrong results. Truncation at every section boundary and at random
//! points, and random byte flips; plus replay of the fuzz target's saved inputs.

use std::sync::Arc;

use bytes::Bytes;
use ivfpq::core::{IndexParams, IvfPqIndex, Metric, SearchOptions, SearchParams, VectorStorage};
use ivfpq::io::shard::fuzz::exercise;
use ivfpq::io::{IoError, MmapSource, Shard, ShardWriter};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn shard_bytes(labels: bool) -> Vec<u8> {
    let dim = 16;
    let n = 700;
    let data: Vec<f32> = (0..n * dim)
        .map(|i| ((i * 7919) % 1013) as f32 / 1013.0)
        .collect();
    let ids: Vec<u64> = (0..n as u64).collect();
    let p = IndexParams::default()
        .with_metric(Metric::L2)
        .with_nlist(6)
        .with_m(4)
        .with_storage(VectorStorage::F16);
    let index = IvfPqIndex::build(&data, &ids, dim, &p).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("row-{i}")).collect();
    let mut out = Vec::new();
    let lab = labels.then_some(&names[..]);
    let mut w = ShardWriter::new(&mut out, index.model(), index.storage(), lab, "t").unwrap();
    for part in index.partitions() {
        w.write_partition(part).unwrap();
    }
    w.finish().unwrap();
    out
}

/// Opens, verifies and searches; `Err` if anything was rejected.
fn open_verify_search(bytes: Vec<u8>) -> Result<(), IoError> {
    let src = Arc::new(MmapSource::from_bytes("damaged.shard", Bytes::from(bytes)));
    let shard = Shard::open_source(src, 1 << 20)?;
    let q = vec![0.5f32; 16];
    shard.query(
        &q,
        &SearchOptions::new(SearchParams::new(5, 6).with_refine(2))
            .with_labels(true)
            .with_vectors(true),
    )?;
    shard.verify()
}

fn assert_typed(err: IoError, what: &str) {
    match &err {
        IoError::Format { path, section, .. } => {
            assert_eq!(path.to_str(), Some("damaged.shard"), "{what}: {err}");
            assert!(!section.is_empty(), "{what}: {err}");
        }
        other => panic!("{what}: expected a format error, got {other}"),
    }
}

/// Every boundary between sections, from the directory of an intact file.
fn boundaries(bytes: &[u8]) -> Vec<usize> {
    let src = Arc::new(MmapSource::from_bytes("x", Bytes::copy_from_slice(bytes)));
    let shard = Shard::open_source(src, 0).unwrap();
    let d = shard.directory();
    let mut b = vec![
        0,
        8,
        64,
        d.centroids.offset as usize,
        d.codebooks.offset as usize,
    ];
    b.push(d.labels.offset as usize);
    for e in &d.entries {
        b.push(e.list_offset as usize);
        b.push(e.vectors_offset as usize);
    }
    b.push(shard.footer().dir_offset as usize);
    b.push(bytes.len() - 64);
    b.push(bytes.len() - 1);
    b.retain(|&x| x < bytes.len());
    b.sort_unstable();
    b.dedup();
    b
}

#[test]
fn intact_file_passes() {
    for labels in [false, true] {
        open_verify_search(shard_bytes(labels)).unwrap();
    }
}

#[test]
fn truncation_anywhere_is_a_typed_error() {
    let mut rng = StdRng::seed_from_u64(1);
    for labels in [false, true] {
        let full = shard_bytes(labels);
        let mut cuts = boundaries(&full);
        cuts.extend((0..100).map(|_| rng.random_range(0..full.len())));
        for cut in cuts {
            let err =
                open_verify_search(full[..cut].to_vec()).expect_err("truncated file accepted");
            assert_typed(err, &format!("truncated at {cut}"));
        }
    }
}

#[test]
fn flipped_bytes_are_typed_errors() {
    let mut rng = StdRng::seed_from_u64(2);
    for labels in [false, true] {
        let full = shard_bytes(labels);
        let mut spots = boundaries(&full);
        spots.extend((0..400).map(|_| rng.random_range(0..full.len())));
        for at in spots {
            let mut bad = full.clone();
            bad[at] ^= 1 << rng.random_range(0..8u32);
            let err = open_verify_search(bad).expect_err("flipped byte accepted");
            assert_typed(err, &format!("flip at {at}"));
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = StdRng::seed_from_u64(3);
    let full = shard_bytes(true);
    for len in [0usize, 1, 63, 64, 127, 128, 500, 4096] {
        let noise: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        exercise(&noise);
    }
    // Intact files with a plausible footer but hostile directories.
    for _ in 0..200 {
        let mut bad = full.clone();
        let at = rng.random_range(bad.len().saturating_sub(4096)..bad.len());
        bad[at] = rng.random();
        exercise(&bad);
    }
}

/// Replays every input saved by `cargo fuzz run shard` (crashes, and the seed corpus).
#[test]
fn fuzz_inputs_replay() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for sub in ["corpus/shard", "artifacts/shard"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            exercise(&std::fs::read(e.path()).unwrap());
            n += 1;
        }
    }
    assert!(n > 0, "no saved fuzz inputs under fuzz/corpus/shard");
}

/// The named cases: bad magic, unknown version, an offset outside the file — each names
/// its section.
#[test]
fn magic_version_and_offsets_are_named() {
    let full = shard_bytes(false);
    let expect = |bytes: Vec<u8>, section: &str, words: &str| {
        let err = open_verify_search(bytes).expect_err("accepted");
        let msg = err.to_string();
        assert!(msg.contains(section) && msg.contains(words), "{msg}");
    };
    let mut bad = full.clone();
    bad[0] = b'X';
    expect(bad, "header", "bad magic");
    let mut bad = full.clone();
    bad[8] = 5; // version 5, then a matching header checksum so only the version is wrong
    let c = crc32c::crc32c(&bad[..60]);
    bad[60..64].copy_from_slice(&c.to_le_bytes());
    expect(bad, "header", "version 5");
    let n = full.len();
    let mut bad = full.clone();
    bad[n - 8..].copy_from_slice(b"NOTASHRD");
    expect(bad, "footer", "bad magic");
    // A directory offset past the end, with a valid footer checksum.
    let mut bad = full.clone();
    let f = n - 64;
    bad[f..f + 8].copy_from_slice(&(n as u64 * 2).to_le_bytes());
    let c = crc32c::crc32c(&bad[f..f + 52]);
    bad[f + 52..f + 56].copy_from_slice(&c.to_le_bytes());
    expect(bad, "footer", "directory at");
}

/// Writes the fuzz seed corpus (`fuzz/corpus/shard`) in the current format: small shards of
/// each storage, metric and code type. Run after a format change:
/// `cargo test --test shard_corruption -- --ignored regenerate_fuzz_seeds`.
#[test]
#[ignore]
fn regenerate_fuzz_seeds() {
    use ivfpq::core::CodeKind;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/shard");
    let seeds = [
        (
            "f16-l2",
            Metric::L2,
            VectorStorage::F16,
            CodeKind::Pq,
            8,
            8,
            3,
            2,
        ),
        (
            "none-dot",
            Metric::Dot,
            VectorStorage::None,
            CodeKind::Pq,
            8,
            8,
            2,
            4,
        ),
        (
            "pq4-cos",
            Metric::Cosine,
            VectorStorage::F16,
            CodeKind::Pq,
            4,
            16,
            4,
            2,
        ),
        (
            "pq8-dot",
            Metric::Dot,
            VectorStorage::F32,
            CodeKind::Pq,
            8,
            16,
            3,
            4,
        ),
        (
            "rabitq-l2",
            Metric::L2,
            VectorStorage::None,
            CodeKind::Rabitq,
            4,
            16,
            4,
            0,
        ),
    ];
    for (name, metric, storage, codes, nbits, dim, nlist, m) in seeds {
        let n = 300;
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5)
            .collect();
        let ids: Vec<u64> = (0..n as u64).map(|i| i * 3 + 1).collect();
        let mut p = IndexParams::default()
            .with_metric(metric)
            .with_nlist(nlist)
            .with_codes(codes)
            .with_nbits(nbits)
            .with_storage(storage);
        p.m = (m > 0).then_some(m);
        let index = IvfPqIndex::build(&data, &ids, dim, &p).unwrap();
        ivfpq::io::write_shard(&index, &dir.join(format!("{name}.shard"))).unwrap();
    }
}
