//! `ivfpq collection` end to end: build shards with one model, create, add, search, and
//! the map (`search-shard`) and reduce (`merge`) steps giving the one-step search's bytes;
//! writers in separate processes racing for a version.

#[path = "common/s3.rs"]
mod s3;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{Array, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};
use ivfpq::datasets::{SynthSpec, synthetic};

const DIM: usize = 16;

fn ivfpq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ivfpq"))
}

fn run(args: &[&str]) -> Output {
    let out = ivfpq().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ivfpq {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Rows `[start, end)` with their global ids, as an Arrow IPC file.
fn write_arrow(path: &Path, data: &[f32], start: usize, end: usize) {
    write_arrow_ids(path, data, start, end, 0)
}

/// Rows `start..end` of `data` with ids `start + offset..end + offset`.
fn write_arrow_ids(path: &Path, data: &[f32], start: usize, end: usize, offset: u64) {
    let mut vb = FixedSizeListBuilder::new(Float32Builder::new(), DIM as i32);
    for r in start..end {
        vb.values().append_slice(&data[r * DIM..(r + 1) * DIM]);
        vb.append(true);
    }
    let v = vb.finish();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("vector", v.data_type().clone(), false),
    ]));
    let ids = UInt64Array::from((start as u64 + offset..end as u64 + offset).collect::<Vec<_>>());
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(v)]).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut f, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
}

/// Builds one shard per row range of `data`: the first trains the model (written to
/// `model`), the rest are encoded with it.
fn build_shards(
    dir: &Path,
    data: &[f32],
    parts: &[(usize, usize)],
    nlist: &str,
    model: &Path,
) -> Vec<PathBuf> {
    let mut shards = Vec::new();
    for (i, &(a, b)) in parts.iter().enumerate() {
        let input = dir.join(format!("in{i}.arrow"));
        write_arrow(&input, data, a, b);
        let out = dir.join(format!("s{i}.ivfpq"));
        let mut args = vec!["build", "--input", s(&input), "--output", s(&out)];
        if i == 0 {
            args.extend(["--nlist", nlist, "--m", "4", "--model-output", s(model)]);
        } else {
            args.extend(["--model", s(model)]);
        }
        run(&args);
        shards.push(out);
    }
    shards
}

/// Runs one `collection add` process per shard at once; each must land (a writer that
/// loses a version rebases onto the winner's). Returns how many landed.
fn race_adds(uri: &str, shards: &[PathBuf], extra: &[&str]) -> usize {
    let racers: Vec<_> = shards
        .iter()
        .map(|shard| {
            ivfpq()
                .args(["collection", "add", uri, s(shard)])
                .args(extra)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut landed = 0;
    for r in racers {
        let out = r.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        landed += 1;
    }
    landed
}

#[test]
fn collection_commands_map_reduce_and_racing_processes() {
    let dir = std::env::temp_dir().join(format!("ivfpq-cli-coll-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ds = synthetic(&SynthSpec {
        n: 4000,
        queries: 12,
        dim: DIM,
        seed: 9,
        ..Default::default()
    });
    let q = dir.join("q.fvecs");
    ivfpq::io::write_fvecs(&q, &ds.queries, DIM).unwrap();
    let parts = [(0, 1800), (1800, 2600), (2600, 4000)];
    let model = dir.join("model.ivfpq");
    let shards = build_shards(&dir, &ds.base, &parts, "16", &model);
    let coll = dir.join("coll");
    run(&["collection", "create", s(&coll), "--model", s(&model)]);
    let mut add = vec!["collection", "add", s(&coll)];
    add.extend(shards.iter().map(|p| s(p)));
    run(&add);
    let search = [
        "--queries",
        s(&q),
        "--k",
        "10",
        "--nprobe",
        "6",
        "--refine",
        "3",
    ];
    let whole = dir.join("whole.csv");
    let mut args = vec!["collection", "search", s(&coll), "--output", s(&whole)];
    args.extend(search);
    run(&args);
    let mut partials = Vec::new();
    for i in 0..3 {
        let p = dir.join(format!("p{i}.arrow"));
        let i = i.to_string();
        let mut args = vec![
            "collection",
            "search-shard",
            s(&coll),
            "--shard",
            &i,
            "--output",
            s(&p),
        ];
        args.extend(search);
        run(&args);
        partials.push(p);
    }
    let merged = dir.join("merged.csv");
    let mut args = vec!["collection", "merge", "--output", s(&merged)];
    args.extend(partials.iter().map(|p| s(p)));
    run(&args);
    let text = std::fs::read_to_string(&whole).unwrap();
    assert_eq!(text, std::fs::read_to_string(&merged).unwrap());
    assert_eq!(text.lines().count(), 1 + 12 * 10, "{text}");
    // Every id the collection returns is one of the rows added.
    for line in text.lines().skip(1) {
        let id: u64 = line.split(',').nth(2).unwrap().parse().unwrap();
        assert!(id < 4000, "{line}");
    }

    // Four processes add a shard of new ids each at once: every commit lands, each in the
    // newest manifest exactly once.
    let racers: Vec<PathBuf> = (0..4)
        .map(|i| {
            let input = dir.join(format!("race{i}.arrow"));
            write_arrow_ids(&input, &ds.base, i * 1000, (i + 1) * 1000, 10_000);
            let out = dir.join(format!("race{i}.ivfpq"));
            run(&[
                "build",
                "--input",
                s(&input),
                "--output",
                s(&out),
                "--model",
                s(&model),
            ]);
            out
        })
        .collect();
    let landed = race_adds(s(&coll), &racers, &[]);
    assert_eq!(landed, 4);
    // A shard whose ids are in the collection already is refused, naming one.
    let out = ivfpq()
        .args(["collection", "add", s(&coll), s(&racers[0])])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("id 10000 is already"));
    let versions = String::from_utf8(run(&["collection", "versions", s(&coll)]).stdout).unwrap();
    assert_eq!(versions.lines().count(), 1 + 2 + landed, "{versions}");
    let inspect = String::from_utf8(run(&["collection", "inspect", s(&coll)]).stdout).unwrap();
    let shard_rows = inspect.lines().filter(|l| l.contains("shards/")).count();
    assert_eq!(shard_rows, 3 + landed, "{inspect}");

    // A shard trained on its own model is refused, and nothing is committed.
    let other = dir.join("other.ivfpq");
    let input = dir.join("in0.arrow");
    run(&[
        "build",
        "--input",
        s(&input),
        "--output",
        s(&other),
        "--nlist",
        "8",
        "--m",
        "4",
    ]);
    let out = ivfpq()
        .args(["collection", "add", s(&coll), s(&other)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("model"));
    let after = String::from_utf8(run(&["collection", "versions", s(&coll)]).stdout).unwrap();
    assert_eq!(after, versions);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two processes commit to a collection on the S3 server (`.ci/run` starts one) at once:
/// the server's conditional create lets exactly one of them take each version, and the
/// other rebases onto it.
#[test]
#[cfg_attr(
    not(s3_server),
    ignore = "needs an S3 server: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET when building (.ci/run starts one)"
)]
fn processes_racing_on_s3_commit_one_version_each() {
    let (endpoint, bucket) = s3::server();
    let dir = std::env::temp_dir().join(format!("ivfpq-cli-s3coll-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ds = synthetic(&SynthSpec {
        n: 1500,
        queries: 4,
        dim: DIM,
        seed: 2,
        ..Default::default()
    });
    let model = dir.join("model.ivfpq");
    let shards = build_shards(
        &dir,
        &ds.base,
        &[(0, 500), (500, 1000), (1000, 1500)],
        "8",
        &model,
    );
    let uri = format!("s3://{bucket}/cli-race-{}", std::process::id());
    let store = s3::args(&endpoint);
    let store: Vec<&str> = store.iter().map(String::as_str).collect();
    let mut args = vec!["collection", "create", uri.as_str(), "--model", s(&model)];
    args.extend(&store);
    run(&args);
    let landed = race_adds(&uri, &shards[1..], &store);
    assert_eq!(landed, 2);
    let mut args = vec!["collection", "inspect", uri.as_str()];
    args.extend(&store);
    let inspect = String::from_utf8(run(&args).stdout).unwrap();
    assert!(
        inspect.contains(&format!("version {}", 1 + landed)),
        "{inspect}"
    );
    assert_eq!(
        inspect.lines().filter(|l| l.contains("shards/")).count(),
        landed,
        "{inspect}"
    );
    let q = dir.join("q.fvecs");
    ivfpq::io::write_fvecs(&q, &ds.queries, DIM).unwrap();
    let mut args = vec![
        "collection",
        "search",
        uri.as_str(),
        "--queries",
        s(&q),
        "--k",
        "5",
        "--stats",
    ];
    args.extend(&store);
    let out = run(&args);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1 + 4 * 5
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rows with string ids through the command: `add-rows` of an Arrow file whose id column
/// holds strings, a search whose CSV carries them, `delete --labels`, `seal`, and the
/// same search again.
#[test]
fn string_ids_through_add_rows_search_and_delete() {
    let dir = std::env::temp_dir().join(format!("ivfpq-cli-labels-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ds = synthetic(&SynthSpec {
        n: 1200,
        queries: 2,
        dim: DIM,
        seed: 4,
        ..Default::default()
    });
    let model = dir.join("model.ivfpq");
    build_shards(&dir, &ds.base, &[(0, 1000)], "8", &model);
    let coll = dir.join("coll");
    run(&["collection", "create", s(&coll), "--model", s(&model)]);
    // 200 rows with string ids, one of them with a comma.
    let mut vb = FixedSizeListBuilder::new(Float32Builder::new(), DIM as i32);
    for r in 1000..1200 {
        vb.values().append_slice(&ds.base[r * DIM..(r + 1) * DIM]);
        vb.append(true);
    }
    let v = vb.finish();
    let labels: Vec<String> = (1000..1200).map(|r| format!("doc-{r}")).collect();
    let mut labels_col = labels.clone();
    labels_col[5] = "a,b".into();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("vector", v.data_type().clone(), false),
    ]));
    let ids = arrow_array::StringArray::from(labels_col);
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(v)]).unwrap();
    let input = dir.join("rows.arrow");
    let mut f = std::fs::File::create(&input).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut f, &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    run(&["collection", "add-rows", s(&coll), "--input", s(&input)]);
    let out = ivfpq()
        .args(["collection", "add-rows", s(&coll), "--input", s(&input)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("string id"));
    // Query: row 1005's own vector, so its string id comes first.
    let q = dir.join("q.fvecs");
    ivfpq::io::write_fvecs(&q, &ds.base[1005 * DIM..1006 * DIM], DIM).unwrap();
    let search = |coll: &Path| {
        let args = [
            "collection",
            "search",
            s(coll),
            "--queries",
            s(&q),
            "--k",
            "3",
            "--refine",
            "4",
        ];
        String::from_utf8(run(&args).stdout).unwrap()
    };
    let csv = search(&coll);
    assert!(
        csv.starts_with("query,rank,id,distance,shard,label\n"),
        "{csv}"
    );
    assert!(csv.lines().nth(1).unwrap().ends_with(",\"a,b\""), "{csv}");
    let out = run(&["collection", "delete", s(&coll), "--labels", "a,b"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 0 rows"));
    let file = dir.join("gone.txt");
    std::fs::write(&file, "a,b\ndoc-1006\n").unwrap();
    let out = run(&["collection", "delete", s(&coll), "--labels-file", s(&file)]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 2 rows"));
    run(&["collection", "seal", s(&coll)]);
    let csv = search(&coll);
    assert!(!csv.contains("a,b") && !csv.contains("doc-1006,"), "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",doc-")), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}
