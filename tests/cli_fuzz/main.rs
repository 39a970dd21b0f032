//! Random command lines: every subcommand's flags with valid values mixed with garbage
//! (0, -1, NaN, infinity, 1e20, empty strings, huge integers, missing or wrong files).
//! Whatever the arguments, `ivfpq` ends with a result or a message, never a panic (exit
//! code 101, "panicked" on stderr) or a crash.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use specs::{GARBAGE, Kind, SCAN, SPECS, STORE};

#[path = "../common/cli.rs"]
mod cli;
mod specs;

/// Command lines tried.
const RUNS: usize = 800;
/// The generator's seed: the same seed tries the same command lines.
const SEED: u64 = 0x1f2e_3d4c_5b6a_7988;
/// A command still running after this is killed and reported (not a failure: the
/// sizes below keep every command small, so it would be a hang worth a look).
const TIMEOUT: Duration = Duration::from_secs(20);

/// xorshift64*: small, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// The files every command line picks from.
struct Fixtures {
    dir: PathBuf,
    ds: PathBuf,
    shard: PathBuf,
    collection: PathBuf,
}

impl Fixtures {
    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }

    /// A value for a flag of `kind`: garbage `garbage` times in a hundred.
    fn value(&self, rng: &mut Rng, kind: Kind, garbage: usize, run: usize) -> String {
        if rng.chance(garbage) {
            return rng.pick(GARBAGE).to_string();
        }
        let ds = self.ds.display().to_string();
        let pick = |rng: &mut Rng, xs: &[&str]| rng.pick(xs).to_string();
        match kind {
            Kind::Size => pick(rng, &["1", "2", "3", "8", "16", "24", "300"]),
            Kind::Count => pick(
                rng,
                &[
                    "0",
                    "1",
                    "2",
                    "3",
                    "4",
                    "8",
                    "16",
                    "64",
                    "1000",
                    "4294967296",
                    "18446744073709551615",
                ],
            ),
            Kind::Repeat => pick(rng, &["1", "2", "3"]),
            Kind::Threads => pick(rng, &["1", "2", "4"]),
            Kind::Float => pick(rng, &["0.001", "1.5", "2", "30", "86400"]),
            Kind::Metric => pick(rng, &["l2", "cosine", "dot", "L2", "manhattan"]),
            Kind::Bits => pick(rng, &["8", "4", "1", "2", "3", "9", "16"]),
            Kind::Codes => pick(rng, &["pq", "rabitq", "opq"]),
            Kind::Bool => pick(rng, &["true", "false", "yes"]),
            Kind::Vectors => pick(rng, &["f32", "f16", "none", "f64"]),
            Kind::Storage => pick(rng, &["f32", "f16", "none"]),
            Kind::Counts => pick(
                rng,
                &["1", "1,2", "4,16", "1,1000", "2,,3", "18446744073709551615"],
            ),
            Kind::Refines => pick(
                rng,
                &[
                    "1",
                    "1,2",
                    "auto",
                    "auto:4,1",
                    "2,auto:2",
                    "18446744073709551615",
                ],
            ),
            Kind::Ratios => pick(rng, &["off", "1.5", "off,1.8", "1,2"]),
            Kind::Refine => pick(
                rng,
                &[
                    "1",
                    "2",
                    "4",
                    "auto",
                    "auto:8",
                    "1000",
                    "auto:18446744073709551615",
                    "18446744073709551615",
                ],
            ),
            Kind::Ratio => pick(rng, &["off", "1", "1.5", "1.8", "100"]),
            Kind::Input => match rng.below(14) {
                0..=2 => format!("{ds}/base.fvecs"),
                3..=6 => format!("{ds}/query.fvecs"),
                7 => self.path("empty.fvecs"),
                8 => self.path("wide.fvecs"),
                9 => self.path("garbage.npy"),
                10 => self.path("text.arrow"),
                11 => self.path("missing/x.fvecs"),
                12 => self.shard.display().to_string(),
                _ => self.path("notes.txt"),
            },
            Kind::ShardIn => match rng.below(7) {
                0..=2 => self.shard.display().to_string(),
                3 => self.path("garbage.shard"),
                4 => self.path("empty.fvecs"),
                5 => format!("{ds}/base.fvecs"),
                _ => self.path("missing.shard"),
            },
            Kind::ShardOut => match rng.below(6) {
                0..=3 => self.path(&format!("out/o{run}.shard")),
                4 => self.path("missing/dir/x.shard"),
                _ => self.path("out"),
            },
            Kind::Output => match rng.below(7) {
                0 => self.path(&format!("out/o{run}.shard")),
                1 => self.path(&format!("out/o{run}.csv")),
                2 => self.path(&format!("out/o{run}.arrow")),
                3 => self.path(&format!("out/o{run}.json")),
                4 => self.path("missing/dir/x.csv"),
                5 => self.path("out"),
                _ => self.path(&format!("out/o{run}.bad")),
            },
            Kind::Dataset => match rng.below(4) {
                0 | 1 => ds,
                2 => self.path("out"),
                _ => self.path("missing-ds"),
            },
            Kind::Collection => match rng.below(5) {
                0 | 1 => self.collection.display().to_string(),
                2 => self.path(&format!("out/c{run}")),
                3 => self.shard.display().to_string(),
                _ => self.path("missing/deeper/c"),
            },
            Kind::Partial => match rng.below(6) {
                0..=2 => self.path("partial.arrow"),
                3 => self.path("text.arrow"),
                4 => self.shard.display().to_string(),
                _ => self.path("missing.arrow"),
            },
            Kind::Seed => rng.next().to_string(),
            Kind::Switch => String::new(),
            Kind::Name => pick(rng, &["id", "vector", "missing"]),
            Kind::Plan => match rng.below(5) {
                0..=2 => self.path("plan.json"),
                3 => self.path("notes.txt"),
                _ => self.path("missing.json"),
            },
            Kind::Bytes => pick(rng, &["64MiB", "2GiB", "1k", "10", "1.5G", "5 PiB", "-3M"]),
        }
    }
}

/// One command line: arguments, and `IVFPQ_SIMD` if set.
struct Case {
    /// The subcommand's words.
    command: String,
    args: Vec<String>,
    simd: Option<&'static str>,
}

fn generate(fx: &Fixtures, rng: &mut Rng, run: usize) -> Case {
    let spec = &SPECS[rng.below(SPECS.len())];
    let mut args: Vec<String> = spec.words.iter().map(|w| w.to_string()).collect();
    // Most lines are valid but for one or two values, so that they get past parsing
    // and into the files and the index; some are all valid, some mostly garbage.
    let garbage = [0, 0, 4, 8, 8, 12, 35][rng.below(7)];
    let flag = |args: &mut Vec<String>, rng: &mut Rng, name: &str, kind: Kind| {
        args.push(name.to_string());
        if !matches!(kind, Kind::Switch) {
            args.push(fx.value(rng, kind, garbage, run));
        }
    };
    for &(name, kind) in spec.always {
        // Now and then a required flag is left out; not a size, whose default is large.
        if matches!(kind, Kind::Size) || !rng.chance(5) {
            flag(&mut args, rng, name, kind);
        }
    }
    let search_flags = matches!(
        spec.words,
        ["search"] | ["collection", "search" | "search-shard"]
    );
    let scan: &[(&str, Kind)] = if search_flags { SCAN } else { &[] };
    let store: &[(&str, Kind)] = if matches!(spec.words, ["bench" | "synth" | "cpu"]) {
        &[]
    } else {
        STORE
    };
    for &(name, kind) in spec.optional.iter().chain(scan).chain(store) {
        if rng.chance(30) {
            flag(&mut args, rng, name, kind);
        }
    }
    for &kind in spec.positional {
        if !rng.chance(5) {
            args.push(fx.value(rng, kind, garbage, run));
        }
    }
    match rng.below(30) {
        0 => args.push("--bogus".into()),
        1 => args.push(fx.value(rng, Kind::Count, 50, run)),
        2 if args.len() > 2 => {
            // The same flag twice.
            let i = 1 + rng.below(args.len() - 1);
            if args[i].starts_with("--") {
                let dup = args[i].clone();
                args.push(dup);
            }
        }
        _ => {}
    }
    let simd = match rng.below(16) {
        0 => Some("scalar"),
        1 => Some("sse9"),
        2 => Some(""),
        _ => None,
    };
    Case {
        command: spec.words.join(" "),
        args,
        simd,
    }
}

fn ivfpq(args: &[&str]) {
    cli::run_ok(args);
}

fn fixtures(dir: &Path) -> Fixtures {
    let ds = dir.join("ds");
    let shard = dir.join("ds.shard");
    let collection = dir.join("coll");
    let p = |p: &Path| p.display().to_string();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::create_dir_all(dir.join("cwd")).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    ivfpq(&[
        "synth",
        "--out",
        &p(&ds),
        "--n",
        "300",
        "--queries",
        "20",
        "--dim",
        "16",
    ]);
    let base = format!("{}/base.fvecs", p(&ds));
    ivfpq(&[
        "build",
        "--input",
        &base,
        "--output",
        &p(&shard),
        "--nlist",
        "4",
        "--m",
        "4",
    ]);
    ivfpq(&[
        "collection",
        "create",
        &p(&collection),
        "--model",
        &p(&shard),
    ]);
    ivfpq(&["collection", "add", &p(&collection), &p(&shard)]);
    let queries = format!("{}/query.fvecs", p(&ds));
    let partial = p(&dir.join("partial.arrow"));
    ivfpq(&[
        "collection",
        "search-shard",
        &p(&collection),
        "--queries",
        &queries,
        "--shard",
        "0",
        "--output",
        &partial,
    ]);
    ivfpq(&[
        "plan",
        "--input",
        &base,
        "--bucket-rows",
        "200",
        "--output",
        &p(&dir.join("plan.json")),
    ]);
    std::fs::write(dir.join("empty.fvecs"), b"").unwrap();
    // Two rows of dimension 3: the wrong width for the index.
    let mut wide = Vec::new();
    for row in 0..2 {
        wide.extend_from_slice(&3u32.to_le_bytes());
        for c in 0..3 {
            wide.extend_from_slice(&((row * 3 + c) as f32).to_le_bytes());
        }
    }
    std::fs::write(dir.join("wide.fvecs"), wide).unwrap();
    std::fs::write(
        dir.join("garbage.npy"),
        b"\x93NUMPY\x01\x00\xff\xff{'descr'",
    )
    .unwrap();
    std::fs::write(dir.join("text.arrow"), b"ARROW1 but not really").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not vectors").unwrap();
    let mut garbage = std::fs::read(&shard).unwrap();
    let mid = garbage.len() / 2;
    garbage.truncate(mid);
    std::fs::write(dir.join("garbage.shard"), garbage).unwrap();
    Fixtures {
        dir: dir.to_path_buf(),
        ds,
        shard,
        collection,
    }
}

/// How one command line ended: its exit code (`None` if it was killed or crashed), and a
/// description if it ended badly.
fn run_case(fx: &Fixtures, case: &Case, run: usize) -> (Option<i32>, Option<String>) {
    let logs = fx.dir.join("logs");
    let (out_path, err_path) = (
        logs.join(format!("{run}.out")),
        logs.join(format!("{run}.err")),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ivfpq"));
    // Garbage values taken as relative paths, and the command's own temporary files (a
    // killed command leaves them), go under the test's folder.
    cmd.current_dir(fx.dir.join("cwd"))
        .env("TMPDIR", fx.dir.join("tmp"))
        .args(&case.args)
        .env_remove("IVFPQ_SIMD")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    if let Some(level) = case.simd {
        cmd.env("IVFPQ_SIMD", level);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let shown = format!("ivfpq {:?} (IVFPQ_SIMD={:?})", case.args, case.simd);
    let code = status.and_then(|s| s.code());
    let bad = match status {
        None => {
            eprintln!("timed out after {TIMEOUT:?}: {shown}");
            None
        }
        Some(s) if s.code() == Some(101) || stderr.contains("panicked") => {
            Some(format!("{shown}: panicked ({s}):\n{stderr}"))
        }
        Some(s) if s.code().is_none() => Some(format!("{shown}: crashed ({s}):\n{stderr}")),
        Some(_) => None,
    };
    (code, bad)
}

#[test]
fn random_command_lines_never_panic() {
    let dir = std::env::temp_dir().join(format!("ivfpq-cli-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let fx = fixtures(&dir);
    let mut rng = Rng(SEED);
    let cases: Vec<Case> = (0..RUNS).map(|i| generate(&fx, &mut rng, i)).collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    // Exit codes by subcommand, to show that the lines reach past argument parsing.
    let codes = Mutex::new(std::collections::BTreeMap::new());
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else {
                        break;
                    };
                    let (code, bad) = run_case(&fx, case, i);
                    let key = (case.command.clone(), code);
                    *codes.lock().unwrap().entry(key).or_insert(0usize) += 1;
                    if let Some(f) = bad {
                        failures.lock().unwrap().push(f);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!("{RUNS} command lines in {:.1}s", t.elapsed().as_secs_f64());
    for ((command, code), count) in codes.into_inner().unwrap() {
        eprintln!("{command:>28}  exit {code:?}: {count}");
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} command lines failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
