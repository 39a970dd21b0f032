//! `ivfpq build`, `search` and `inspect` end to end, from each input format.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use ivfpq::datasets::{SynthSpec, synthetic};

#[path = "common/cli.rs"]
mod cli;
#[path = "common/npy.rs"]
mod npy;

use cli::run_ok as run;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

use npy::write_npy;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_arrow(path: &Path, data: &[f32], dim: usize, labels: &[String]) {
    let mut b = FixedSizeListBuilder::new(Float32Builder::new(), dim as i32);
    for row in data.chunks(dim) {
        b.values().append_slice(row);
        b.append(true);
    }
    let vectors = b.finish();
    let ids = StringArray::from_iter_values(labels);
    let schema = Schema::new(vec![
        Field::new("id", ids.data_type().clone(), false),
        Field::new("embedding", vectors.data_type().clone(), false),
    ]);
    let batch =
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(ids), Arc::new(vectors)]).unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(f, &batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
}

#[test]
fn build_inspect_search_from_npy_and_arrow_with_string_ids() {
    let dir = tmp("shard");
    let ds = synthetic(&SynthSpec {
        n: 3000,
        queries: 4,
        dim: 16,
        seed: 9,
        ..Default::default()
    });
    let npy = dir.join("base.npy");
    write_npy(&npy, &ds.base, 16);
    let qnpy = dir.join("q.npy");
    write_npy(&qnpy, &ds.queries, 16);
    let labels: Vec<String> = (0..3000).map(|i| format!("P{i:05}")).collect();
    let arrow = dir.join("base.arrow");
    write_arrow(&arrow, &ds.base, 16, &labels);

    let a = dir.join("a.shard");
    run(&[
        "build",
        "--input",
        s(&npy),
        "--output",
        s(&a),
        "--nlist",
        "20",
        "--m",
        "4",
        "--metric",
        "cosine",
    ]);
    let text = String::from_utf8(run(&["inspect", s(&a), "--verify"]).stdout).unwrap();
    for want in [
        "3000 rows, dim 16",
        "nlist 20, m 4",
        "metric     cosine",
        "partitions min",
        "verify",
    ] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
    // `search` of shard `index` for the 4 queries, k 5, every list probed, with `extra`
    // options; returns the CSV.
    let search = |index: &Path, tag: &str, extra: &[&str]| {
        let csv = dir.join(format!("{tag}.csv"));
        let q = ["--queries", s(&qnpy), "--k", "5", "--nprobe", "20"];
        let out = ["--index", s(index), "--output", s(&csv)];
        run(&[&["search"][..], &out, &q, extra].concat());
        std::fs::read_to_string(&csv).unwrap()
    };
    let out = search(&a, "a", &["--refine", "4"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "query,rank,id,distance");
    assert_eq!(lines.len(), 1 + 4 * 5);
    // Query 0 is not in the base; its nearest neighbour by exact search is ds.gt[0].
    let nearest = format!("0,0,{},", ds.gt[0]);
    assert!(lines[1].starts_with(&nearest), "{}", lines[1]);

    // The shared cosine table (`--shared-table`): reranked, it finds the same neighbour.
    let out = search(&a, "shared", &["--refine", "50", "--shared-table"]);
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with(&nearest), "{first}");

    // RaBitQ codes through the same commands: the error-bounded rerank finds the exact
    // nearest neighbour.
    let r = dir.join("r.shard");
    let args = [
        "--nlist", "20", "--metric", "cosine", "--codes", "rabitq", "--bits", "4",
    ];
    run(&[&["build", "--input", s(&npy), "--output", s(&r)][..], &args].concat());
    let text = String::from_utf8(run(&["inspect", s(&r), "--verify"]).stdout).unwrap();
    assert!(text.contains("RaBitQ 4 bits"), "{text}");
    let out = search(&r, "r", &["--refine", "auto"]);
    let first = out.lines().nth(1).unwrap_or_default();
    assert!(first.starts_with(&nearest), "{first}");

    let b = dir.join("b.shard");
    run(&[
        "build",
        "--input",
        s(&arrow),
        "--output",
        s(&b),
        "--nlist",
        "20",
        "--m",
        "4",
    ]);
    let text = String::from_utf8(run(&["inspect", s(&b)]).stdout).unwrap();
    assert!(text.contains("string ids yes"), "{text}");
    let res = dir.join("b.arrow");
    let out = run(&[
        "search",
        "--index",
        s(&b),
        "--queries",
        s(&qnpy),
        "--k",
        "3",
        "--nprobe",
        "20",
        "--refine",
        "4",
        "--with-vectors",
        "--stats",
        "--output",
        s(&res),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("round trips"));
    let f = std::fs::File::open(&res).unwrap();
    let batches: Vec<RecordBatch> = arrow_ipc::reader::FileReader::try_new(f, None)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 12);
    let ids = batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(ids.value(0), labels[ds.gt[0] as usize]);
    assert!(batch.column_by_name("vector").is_some());
}

#[test]
fn bad_inputs_are_named() {
    let dir = tmp("bad");
    let npy = dir.join("x.npy");
    std::fs::write(&npy, b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ivfpq"))
        .args([
            "build",
            "--input",
            s(&npy),
            "--output",
            s(&dir.join("o.shard")),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("x.npy") && err.contains("npy header"), "{err}");
    assert!(!dir.join("o.shard").exists());
    let junk = dir.join("junk.shard");
    std::fs::write(&junk, vec![7u8; 500]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ivfpq"))
        .args(["inspect", s(&junk)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.shard") && err.contains("footer"),
        "{err}"
    );
}

/// The 8-bit byte-table scan (AVX-512 VBMI, the default where the CPU has it) and the
/// float scan (forced by `IVFPQ_SIMD=avx2`) return the same neighbours: survivors of the
/// byte table are rescored with the float table, so its rounding never decides the order.
/// Refine 1 on purpose (no exact rerank to hide a difference); dot and L2 tables both.
#[test]
fn pq8_byte_table_scan_returns_what_the_float_scan_does() {
    let dir = tmp("pq8bytes");
    let ds = synthetic(&SynthSpec {
        n: 6000,
        queries: 40,
        dim: 32,
        seed: 4,
        ..Default::default()
    });
    let (base, queries) = (dir.join("base.npy"), dir.join("q.npy"));
    write_npy(&base, &ds.base, 32);
    write_npy(&queries, &ds.queries, 32);
    for metric in ["l2", "dot"] {
        let index = dir.join(format!("{metric}.shard"));
        let build = ["build", "--input", s(&base), "--output", s(&index)];
        run(&[
            &build[..],
            &["--nlist", "16", "--m", "8", "--metric", metric],
        ]
        .concat());
        let search = |level: Option<&str>| {
            let csv = dir.join(format!("{metric}-{}.csv", level.unwrap_or("default")));
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ivfpq"));
            cmd.args(["search", "--index", s(&index), "--queries", s(&queries)])
                .args([
                    "--k",
                    "10",
                    "--nprobe",
                    "6",
                    "--refine",
                    "1",
                    "--output",
                    s(&csv),
                ]);
            if let Some(level) = level {
                cmd.env("IVFPQ_SIMD", level);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::read_to_string(&csv).unwrap()
        };
        let (fast, float) = (search(None), search(Some("avx2")));
        let rows = |t: &str| -> Vec<(String, f32)> {
            t.lines()
                .skip(1)
                .map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (format!("{},{}", f[0], f[2]), f[3].parse().unwrap())
                })
                .collect()
        };
        let (a, b) = (rows(&fast), rows(&float));
        assert_eq!(a.len(), 40 * 10);
        assert_eq!(a.len(), b.len());
        // The same (query, id) pairs at the same distances, up to the float table's
        // summation order (ties may swap ranks, so pairs are compared as sets).
        let sorted = |mut v: Vec<(String, f32)>| {
            v.sort_by(|x, y| x.0.cmp(&y.0));
            v
        };
        for ((ia, da), (ib, db)) in sorted(a).iter().zip(&sorted(b)) {
            assert_eq!(ia, ib, "{metric}");
            assert!(
                (da - db).abs() <= 1e-4 * da.abs().max(1.0),
                "{metric} {ia}: {da} vs {db}"
            );
        }
    }
}
