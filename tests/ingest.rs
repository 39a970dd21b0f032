//! The out-of-core build: plans, streamed training, bucket builds under a memory limit
//! that match an in-memory build byte for byte, merges, and builds that are killed.

use std::path::{Path, PathBuf};
use std::process::Command;

use ivfpq::core::{CodeKind, IndexParams, IvfPqIndex, IvfPqModel, Metric, VectorStorage};
use ivfpq::io::{model_hash, write_fvecs, write_shard};
use ivfpq::shard::ShardError;
use ivfpq::shard::ingest::{
    BuildOptions, NoProgress, Plan, build_bucket, merge_shards, train_model,
};

#[path = "common/cli.rs"]
mod cli;
#[path = "common/npy.rs"]
mod npy;

use npy::write_npy_as;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-ingest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `n × dim` clustered pseudo-random rows (an LCG around 16 centres).
fn rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(2862933555777941757)
        .wrapping_add(3037000493);
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 40) as f32 / (1u64 << 24) as f32
    };
    let centres: Vec<f32> = (0..16 * dim).map(|_| 4.0 * next()).collect();
    (0..n)
        .flat_map(|_| {
            let c = (next() * 16.0) as usize % 16;
            let base = centres[c * dim..(c + 1) * dim].to_vec();
            base.into_iter()
                .map(|v| v + next() - 0.5)
                .collect::<Vec<_>>()
        })
        .collect()
}

const DIM: usize = 24;

/// Three inputs of 7,000, 5,000 and 8,000 rows: f32 `.npy`, `.fvecs`, and `.npy` (f16 when
/// `f16`; the plan then needs every file f16, so all are).
fn inputs(dir: &Path, f16: bool) -> (Vec<PathBuf>, Vec<f32>) {
    let all = rows(20_000, DIM, 3);
    let cut = |a: usize, b: usize| &all[a * DIM..b * DIM];
    let paths = if f16 {
        let p: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("in{i}.npy"))).collect();
        write_npy_as(&p[0], cut(0, 7000), DIM, true);
        write_npy_as(&p[1], cut(7000, 12_000), DIM, true);
        write_npy_as(&p[2], cut(12_000, 20_000), DIM, true);
        p
    } else {
        let p = vec![
            dir.join("in0.npy"),
            dir.join("in1.fvecs"),
            dir.join("in2.npy"),
        ];
        write_npy_as(&p[0], cut(0, 7000), DIM, false);
        write_fvecs(&p[1], cut(7000, 12_000), DIM).unwrap();
        write_npy_as(&p[2], cut(12_000, 20_000), DIM, false);
        p
    };
    // What the build reads: f16 inputs widen their rounded values.
    let read: Vec<f32> = if f16 {
        all.iter()
            .map(|&x| half::f16::from_f32(x).to_f32())
            .collect()
    } else {
        all
    };
    (paths, read)
}

/// The shard an in-memory index of `plan`'s bucket `b` writes: its rows, in plan order,
/// numbered by their place among all the inputs' rows.
fn in_memory(
    plan: &Plan,
    b: usize,
    all: &[f32],
    model: &IvfPqModel,
    storage: VectorStorage,
) -> Vec<u8> {
    let mut idx = IvfPqIndex::new(std::sync::Arc::new(model.clone()), storage);
    for p in &plan.buckets[b].parts {
        let first = plan.files[p.file].first_id;
        let (a, z) = ((first + p.start) as usize, (first + p.end) as usize);
        let ids: Vec<u64> = (a as u64..z as u64).collect();
        idx.add(&all[a * DIM..z * DIM], &ids).unwrap();
    }
    let path = std::env::temp_dir().join(format!("ivfpq-ingest-mem-{}-{b}", std::process::id()));
    write_shard(&idx, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    bytes
}

/// Bucket builds spilled in many runs write what an in-memory build writes, for each code
/// type, metric and storage; merging the buckets' shards writes the whole input's shard.
#[test]
fn bucket_builds_and_merges_match_in_memory_builds() {
    let cases = [
        (Metric::L2, CodeKind::Pq, 8, VectorStorage::F32, false),
        (Metric::Cosine, CodeKind::Pq, 4, VectorStorage::F16, true),
        (Metric::Dot, CodeKind::Rabitq, 4, VectorStorage::None, false),
    ];
    for (metric, codes, bits, storage, f16) in cases {
        let what = format!("{metric:?} {codes:?} {bits} {storage:?}");
        let dir = tmp(&format!("match-{}", what.replace(' ', "-")));
        let (paths, all) = inputs(&dir, f16);
        let plan = Plan::new(&paths, 12_000, "id").unwrap();
        assert_eq!(plan.rows(), 20_000);
        assert_eq!(plan.buckets.len(), 2, "{what}");
        let params = IndexParams::default()
            .with_metric(metric)
            .with_codes(codes)
            .with_nbits(bits)
            .with_nlist(20)
            .with_m(6);
        let model = train_model(&plan, &params, Some(3000), None, &NoProgress).unwrap();
        // Training twice gives the same model: the sample is seeded.
        let again = train_model(&plan, &params, Some(3000), None, &NoProgress).unwrap();
        assert_eq!(
            model_hash(&model).unwrap(),
            model_hash(&again).unwrap(),
            "{what}"
        );
        // About 1,300 rows a chunk: every bucket spills several runs.
        let opts = BuildOptions::default()
            .with_memory_limit((24 << 20) + 4_000_000)
            .with_storage(storage);
        let mut shards = Vec::new();
        for b in 0..plan.buckets.len() {
            let out = dir.join(format!("b{b}.ivfpq"));
            let r = build_bucket(&plan, b, &model, &out, &opts, &NoProgress).unwrap();
            assert!(r.runs > 2, "{what}: {} runs of {}", r.runs, r.chunk_rows);
            assert_eq!(r.rows, plan.buckets[b].rows());
            let want = in_memory(&plan, b, &all, &model, storage);
            assert!(
                std::fs::read(&out).unwrap() == want,
                "{what}: bucket {b} differs"
            );
            shards.push(out);
        }
        // No spill folders or temporary files are left.
        let left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{what}: {left:?}");

        // Merging the buckets' shards is the in-memory build of their rows in that order.
        let merged = dir.join("merged.ivfpq");
        merge_shards(&shards, &merged, &NoProgress).unwrap();
        let mut order = plan.clone();
        order.buckets = vec![ivfpq_bucket_concat(&plan)];
        let want = in_memory(&order, 0, &all, &model, storage);
        assert!(
            std::fs::read(&merged).unwrap() == want,
            "{what}: merge differs"
        );
        // Merging a merged shard again still holds: merged + bucket 0.
        let twice = dir.join("twice.ivfpq");
        merge_shards(&[merged.clone(), shards[0].clone()], &twice, &NoProgress).unwrap();
        let mut order2 = order.clone();
        order2.buckets[0]
            .parts
            .extend(plan.buckets[0].parts.clone());
        let want = in_memory(&order2, 0, &all, &model, storage);
        assert!(
            std::fs::read(&twice).unwrap() == want,
            "{what}: second merge differs"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Every part of every bucket of `plan`, bucket after bucket.
fn ivfpq_bucket_concat(plan: &Plan) -> ivfpq::shard::ingest::Bucket {
    let mut b = plan.buckets[0].clone();
    for other in &plan.buckets[1..] {
        b.parts.extend(other.parts.iter().copied());
    }
    b
}

#[test]
fn plans_name_what_is_wrong() {
    let dir = tmp("plan-errors");
    let a = dir.join("a.npy");
    let b = dir.join("b.npy");
    let c = dir.join("c.npy");
    write_npy_as(&a, &rows(100, 8, 1), 8, false);
    write_npy_as(&b, &rows(100, 6, 1), 6, false);
    write_npy_as(&c, &rows(100, 8, 1), 8, true);
    for (other, words) in [(&b, "6-d f32"), (&c, "8-d f16")] {
        let e = Plan::new(&[a.clone(), other.clone()], 50, "id").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ShardError::Plan { .. }), "{msg}");
        assert!(
            msg.contains(words) && msg.contains("a.npy") && msg.contains(other.to_str().unwrap()),
            "{msg}"
        );
    }
    assert!(Plan::new(std::slice::from_ref(&a), 0, "id").is_err());
    let plan = Plan::new(std::slice::from_ref(&a), 30, "id").unwrap();
    assert_eq!(
        plan.buckets.iter().map(|b| b.rows()).collect::<Vec<_>>(),
        [30, 30, 30, 10]
    );
    let saved = dir.join("plan.json");
    plan.save(&saved).unwrap();
    assert_eq!(Plan::load(&saved).unwrap(), plan);
    // A plan whose buckets do not cover the file is refused.
    let text = std::fs::read_to_string(&saved)
        .unwrap()
        .replacen("\"end\": 30", "\"end\": 29", 1);
    std::fs::write(&saved, text).unwrap();
    assert!(
        Plan::load(&saved)
            .unwrap_err()
            .to_string()
            .contains("cover")
    );
    // An input that changed since it was planned is refused by name.
    write_npy_as(&a, &rows(90, 8, 1), 8, false);
    let model = IvfPqModel::train(
        &rows(2000, 8, 2),
        8,
        &IndexParams::default().with_nlist(4).with_m(2),
    )
    .unwrap();
    let out = dir.join("x.ivfpq");
    let fails = |bucket: usize| {
        let opts = BuildOptions::default();
        let e = build_bucket(&plan, bucket, &model, &out, &opts, &NoProgress).unwrap_err();
        e.to_string()
    };
    let e = fails(0);
    assert!(e.contains("a.npy") && e.contains("when planned"), "{e}");
    assert!(!out.exists());
    let e = fails(9);
    assert!(e.contains("bucket") && e.contains("4 buckets"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merging_shards_of_different_models_is_an_error() {
    let dir = tmp("merge-models");
    let data = rows(3000, 8, 5);
    let ids: Vec<u64> = (0..3000).collect();
    let mut shards = Vec::new();
    for seed in [1, 2] {
        let p = IndexParams::default()
            .with_nlist(8)
            .with_m(2)
            .with_seed(seed);
        let idx = IvfPqIndex::build(&data, &ids, 8, &p).unwrap();
        let path = dir.join(format!("s{seed}.ivfpq"));
        write_shard(&idx, &path).unwrap();
        shards.push(path);
    }
    let out = dir.join("m.ivfpq");
    let e = merge_shards(&shards, &out, &NoProgress).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ShardError::ShardMismatch { .. }), "{msg}");
    assert!(msg.contains("s2.ivfpq") && msg.contains("model"), "{msg}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The peak memory an `ivfpq` run printed (`peak memory N MiB`).
fn peak_mib(stdout: &[u8]) -> Option<u64> {
    let s = String::from_utf8_lossy(stdout);
    let at = s.find("peak memory ")? + "peak memory ".len();
    s[at..].split_whitespace().next()?.parse().ok()
}

/// Writes `n × 64` rows to `name` in `dir`, plans them as one bucket and trains a model
/// on them from the command line (with `train` options `extra`). Returns the plan's and
/// the model's paths, and `train`'s output.
fn plan_and_train(dir: &Path, name: &str, n: usize, extra: &[&str]) -> (String, String, Vec<u8>) {
    let input = dir.join(name);
    write_npy_as(&input, &rows(n, 64, n as u64), 64, false);
    let s = |p: PathBuf| p.to_str().unwrap().to_string();
    let (plan, model) = (s(dir.join("plan.json")), s(dir.join("model.ivfpq")));
    let n = n.to_string();
    let i = s(input);
    cli::run_ok(&[
        "plan",
        "--input",
        &i,
        "--bucket-rows",
        &n,
        "--output",
        &plan,
    ]);
    let mut train = vec!["train", "--plan", &plan, "--output", &model, "--m", "8"];
    train.extend_from_slice(extra);
    let out = cli::run_ok(&train);
    (plan, model, out.stdout)
}

/// 300,000 rows of 64 (77 MB of f32) build within a 64 MiB limit, as the operating system
/// measures the process's peak resident memory; the plan → train → build steps run from
/// the command line.
#[test]
fn a_bucket_builds_within_its_memory_limit() {
    let dir = tmp("rss");
    let limit = ["--memory-limit", "64MiB"];
    let (p, m, t) = plan_and_train(
        &dir,
        "big.npy",
        300_000,
        &["--nlist", "64", limit[0], limit[1]],
    );
    let out = dir.join("shard.ivfpq");
    let o = out.to_str().unwrap();
    let b = cli::run_ok(&[
        "build", "--plan", &p, "--bucket", "0", "--model", &m, "--output", o, limit[0], limit[1],
    ]);
    if cfg!(target_os = "linux") {
        for (what, out) in [("train", &t), ("build", &b.stdout)] {
            let mib =
                peak_mib(out).unwrap_or_else(|| panic!("{what}: {}", String::from_utf8_lossy(out)));
            assert!(
                mib <= 64,
                "{what}: peak memory {mib} MiB over the 64 MiB limit"
            );
        }
    }
    let info = cli::run_ok(&["inspect", o]);
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("300000"),
        "{}",
        String::from_utf8_lossy(&info.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A build killed while it runs leaves no shard under its name; the next build of the
/// same output removes what it left and finishes.
#[test]
fn a_killed_build_leaves_nothing_and_reruns_cleanly() {
    let dir = tmp("kill");
    let (p, m, _) = plan_and_train(&dir, "in.npy", 200_000, &["--nlist", "32"]);
    let out = dir.join("out.ivfpq");
    let o = out.to_str().unwrap();
    let args = [
        "build",
        "--plan",
        &p,
        "--bucket",
        "0",
        "--model",
        &m,
        "--output",
        o,
        "--memory-limit",
        "40MiB",
    ];
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".out.ivfpq"))
            .collect()
    };
    // Kill at a few points: as soon as the spill folder appears, and later.
    for delay_ms in [0u64, 150, 400] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ivfpq"))
            .args(args)
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while leftovers().is_empty()
            && start.elapsed().as_secs() < 60
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            // The build finished before the kill: nothing to check at this point.
            std::fs::remove_file(&out).unwrap();
            assert!(leftovers().is_empty(), "{:?}", leftovers());
            continue;
        }
        cli::run_ok(&args);
        assert!(out.exists());
        assert!(leftovers().is_empty(), "after a rerun: {:?}", leftovers());
        std::fs::remove_file(&out).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
