//! Crash safety of changing a collection: `ivfpq collection add-rows | delete | seal |
//! compact | vacuum` run as child processes and are killed (SIGKILL) at random points.
//! After each kill the collection opens at its last committed version with exactly that
//! version's ids: none lost, none twice, no file named but missing. On the local disk, and
//! on the S3 server when one is set (`.ci/run` starts one). Also: processes appending at
//! once all land.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::run_ok;
use ivfpq::core::{IndexParams, IvfPqModel, SearchParams};
use ivfpq::io::write_fvecs;
use ivfpq::shard::{Collection, CollectionOptions, SearchOptions, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const DIM: usize = 32;
const NLIST: usize = 16;

fn vector(id: u64) -> Vec<f32> {
    let mut x = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f32 / 100.0
        })
        .collect()
}

fn rows(ids: impl Iterator<Item = u64>) -> Vec<f32> {
    ids.flat_map(vector).collect()
}

/// The newest version's live ids, read afresh; checks that every file it names exists.
fn live(uri: &str, opts: &CollectionOptions) -> (u64, BTreeSet<u64>) {
    let c = Collection::open(uri, opts.clone()).unwrap();
    let m = c.manifest();
    let store = Store::open(uri, &opts.store, false).unwrap();
    for f in m.files() {
        assert!(
            store.exists(&f).unwrap(),
            "version {} names missing {f}",
            m.version
        );
    }
    let n = m.live_rows() as usize;
    let p = SearchParams::new(n.max(1), NLIST).with_refine(2);
    let res = c.search(&vector(0), &SearchOptions::new(p)).unwrap();
    let ids: BTreeSet<u64> = res.hits[0].iter().map(|h| h.id).collect();
    assert_eq!(
        (ids.len(), res.hits[0].len()),
        (n, n),
        "an id lost or twice"
    );
    (m.version, ids)
}

/// A collection at `uri` with 6,000 rows in two shards.
fn setup(uri: &str, opts: &CollectionOptions) {
    let data = rows(0..4000);
    let model = IvfPqModel::train(
        &data,
        DIM,
        &IndexParams::default().with_nlist(NLIST).with_m(4),
    )
    .unwrap();
    let c = Collection::create_in(
        Store::open(uri, &opts.store, true).unwrap(),
        Some(&model),
        DIM,
        model.metric(),
        opts.clone(),
    )
    .unwrap();
    for part in 0..2u64 {
        let ids: Vec<u64> = (part * 3000..part * 3000 + 3000).collect();
        c.add(&rows(ids.iter().copied()), &ids).unwrap();
        c.seal().unwrap();
    }
}

/// Runs each change several times, the first to the end (timing it) and the rest killed
/// at a random point of that time; checks the collection after each.
fn kill_at_random_points(uri: &str, store_args: &[&str], opts: &CollectionOptions, dir: &Path) {
    setup(uri, opts);
    let mut rng = StdRng::seed_from_u64(7);
    let mut next_id = 100_000u64;
    let exe = env!("CARGO_BIN_EXE_ivfpq");
    for kind in ["add-rows", "delete", "seal", "compact", "vacuum"] {
        let mut took = Duration::ZERO;
        for round in 0..10 {
            // Give the seal and the compaction work to do in every round.
            let c = Collection::open(uri, opts.clone()).unwrap();
            match kind {
                "seal" => {
                    let ids: Vec<u64> = (next_id..next_id + 2000).collect();
                    next_id += 2000;
                    c.add(&rows(ids.iter().copied()), &ids).unwrap();
                }
                "compact" => {
                    let m = c.manifest();
                    let ids: Vec<u64> = (m.shards[0].id_min..).step_by(7).take(300).collect();
                    c.delete(&ids).unwrap();
                }
                _ => {}
            }
            let (v0, before) = live(uri, opts);
            let mut args: Vec<String> = vec!["collection".into(), kind.into(), uri.into()];
            let mut after = before.clone();
            match kind {
                "add-rows" => {
                    let input = dir.join(format!("rows-{round}.fvecs"));
                    write_fvecs(&input, &rows(next_id..next_id + 4000), DIM).unwrap();
                    args.extend(["--input".into(), input.display().to_string()]);
                    args.extend(["--first-id".into(), next_id.to_string()]);
                    after.extend(next_id..next_id + 4000);
                    next_id += 4000;
                }
                "delete" => {
                    let live: Vec<u64> = before.iter().copied().collect();
                    let ids: BTreeSet<u64> = (0..800)
                        .map(|_| live[rng.random_range(0..live.len())])
                        .collect();
                    let file = dir.join("ids.txt");
                    let text: Vec<String> = ids.iter().map(u64::to_string).collect();
                    std::fs::write(&file, text.join("\n")).unwrap();
                    args.extend(["--ids-file".into(), file.display().to_string()]);
                    after.retain(|i| !ids.contains(i));
                }
                "compact" => args.extend(
                    ["--small-rows", "1000000", "--deleted-share", "0.01"].map(String::from),
                ),
                "vacuum" => args.extend(["--older-than", "0s", "--grace", "0s"].map(String::from)),
                _ => {}
            }
            args.extend(store_args.iter().map(|s| s.to_string()));
            let start = Instant::now();
            let mut child = Command::new(exe)
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            if round == 0 {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                took = start.elapsed();
            } else {
                let at = took.mul_f64(rng.random_range(0.0..1.2));
                std::thread::sleep(at);
                let _ = child.kill();
                let _ = child.wait();
            }
            let (v1, now) = live(uri, opts);
            eprintln!("{kind} round {round}: took {took:?}, version {v0} → {v1}");
            if v1 == v0 || kind == "vacuum" {
                // Not committed (or a vacuum, which changes no rows): as it was.
                assert_eq!(now, before, "{kind} round {round}: version {v1}");
            } else {
                assert_eq!(now, after, "{kind} round {round}: version {v0} → {v1}");
            }
        }
    }
    // A vacuum run to the end clears what the killed writers left behind.
    let mut args = vec![
        "collection",
        "vacuum",
        uri,
        "--older-than",
        "0s",
        "--grace",
        "0s",
    ];
    args.extend(store_args);
    run_ok(&args);
    let (_, ids) = live(uri, opts);
    let c = Collection::open(uri, opts.clone()).unwrap();
    let keep: BTreeSet<String> = c.manifest().files().into_iter().collect();
    let store = Store::open(uri, &opts.store, false).unwrap();
    for d in ["shards", "ids", "growing", "deletions"] {
        for (name, _) in store.list(d).unwrap() {
            assert!(
                keep.contains(&format!("{d}/{name}")),
                "{d}/{name} left after vacuum"
            );
        }
    }
    assert!(!ids.is_empty());
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-crash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn killed_writers_lose_nothing_on_local_disk() {
    let dir = tmpdir("local");
    let uri = dir.join("c").display().to_string();
    kill_at_random_points(&uri, &[], &CollectionOptions::default(), &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(
    not(s3_server),
    ignore = "needs an S3 server: set IVFPQ_TEST_S3_ENDPOINT and IVFPQ_TEST_S3_BUCKET when building (.ci/run starts one)"
)]
fn killed_writers_lose_nothing_on_s3() {
    let (endpoint, bucket) = crate::s3::server();
    let opts = CollectionOptions::default().with_store(crate::s3::options(&endpoint));
    let args = crate::s3::args(&endpoint);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dir = tmpdir("s3");
    let uri = format!("s3://{bucket}/crash-{}", std::process::id());
    kill_at_random_points(&uri, &args, &opts, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn processes_appending_at_once_all_land() {
    let dir = tmpdir("procs");
    let uri = dir.join("c").display().to_string();
    let opts = CollectionOptions::default();
    setup(&uri, &opts);
    let (v0, before) = live(&uri, &opts);
    let children: Vec<_> = (0..3u64)
        .map(|w| {
            let input = dir.join(format!("w{w}.fvecs"));
            let first = 50_000 + w * 1000;
            write_fvecs(&input, &rows(first..first + 1000), DIM).unwrap();
            Command::new(env!("CARGO_BIN_EXE_ivfpq"))
                .args([
                    "collection",
                    "add-rows",
                    &uri,
                    "--input",
                    input.to_str().unwrap(),
                    "--first-id",
                    &first.to_string(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (v1, now) = live(&uri, &opts);
    assert_eq!(v1, v0 + 3);
    let mut want = before;
    want.extend(50_000..53_000);
    assert_eq!(now, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_delete_process_racing_a_compaction_process_is_never_lost() {
    let dir = tmpdir("delcompact");
    let uri = dir.join("c").display().to_string();
    let opts = CollectionOptions::default();
    setup(&uri, &opts);
    Collection::open(&uri, opts.clone())
        .unwrap()
        .delete(&(0..600).collect::<Vec<_>>())
        .unwrap();
    let (_, before) = live(&uri, &opts);
    let exe = env!("CARGO_BIN_EXE_ivfpq");
    let spawn = |args: &[&str]| {
        Command::new(exe)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let compact = spawn(&["collection", "compact", &uri, "--small-rows", "1000000"]);
    let delete = spawn(&["collection", "delete", &uri, "--ids", "3000,3001,3002,5999"]);
    let (compact, delete) = (
        compact.wait_with_output().unwrap(),
        delete.wait_with_output().unwrap(),
    );
    // The delete always lands (it rebases); the compaction lands, or is refused whole.
    assert!(
        delete.status.success(),
        "{}",
        String::from_utf8_lossy(&delete.stderr)
    );
    assert!(String::from_utf8_lossy(&delete.stdout).contains("deleted 4 rows"));
    let err = String::from_utf8_lossy(&compact.stderr);
    assert!(
        compact.status.success() || err.contains("which this compaction rewrites"),
        "{err}"
    );
    let (_, now) = live(&uri, &opts);
    let mut want = before;
    for id in [3000, 3001, 3002, 5999] {
        want.remove(&id);
    }
    assert_eq!(now, want);
    let _ = std::fs::remove_dir_all(&dir);
}
