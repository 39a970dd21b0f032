//! Bad command lines and inputs give `ivfpq` a clear message and exit code, never a panic.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ivfpq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ivfpq"))
}

fn run(args: &[&str]) -> Output {
    ivfpq().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh temporary folder for one test.
fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivfpq-cli-errors-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a usage error (exit code 2, no panic) whose message holds every one of `words`.
fn assert_usage_error(args: &[&str], words: &[&str]) {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for w in words {
        assert!(err.contains(w), "{args:?}: no {w:?} in {err}");
    }
}

#[test]
fn timeouts_that_are_not_finite_positive_and_sane_are_usage_errors() {
    for bad in ["inf", "1e20", "nan", "-5", "0", "86401", "soon"] {
        let arg = format!("--timeout={bad}");
        assert_usage_error(
            &["inspect", "/nonexistent/x.shard", &arg],
            &["--timeout", &format!("{bad:?}")],
        );
    }
    // A good timeout parses: the command then fails on the missing file instead.
    let out = run(&["inspect", "/nonexistent/x.shard", "--timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent/x.shard"));
}

#[test]
fn zero_sizes_are_usage_errors_and_write_nothing() {
    let dir = tmp("zero");
    let out = dir.join("ds");
    for (flag, value) in [
        ("--dim", "0"),
        ("--n", "0"),
        ("--queries", "0"),
        ("--n", "-1"),
    ] {
        let arg = format!("{flag}={value}");
        assert_usage_error(&["synth", "--out", s(&out), &arg], &[flag]);
        assert!(!out.exists(), "{flag} {value} created {}", out.display());
    }
    for flag in [
        "--synth-dim",
        "--synth-n",
        "--threads",
        "--repeat",
        "--kmeans-iters",
    ] {
        let arg = format!("{flag}=0");
        assert_usage_error(&["bench", &arg], &[flag]);
    }
    for flag in ["--kmeans-iters", "--opq-iters", "--repeat", "--threads"] {
        let arg = format!("{flag}=18446744073709551615");
        assert_usage_error(&["bench", &arg], &[flag]);
    }
    assert_usage_error(
        &[
            "search",
            "--index",
            "x.shard",
            "--queries",
            "q.fvecs",
            "--batch",
            "0",
        ],
        &["--batch"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_vector_file_is_reported_as_empty() {
    let dir = tmp("empty");
    let empty = dir.join("empty.fvecs");
    std::fs::write(&empty, b"").unwrap();
    let shard = dir.join("x.shard");
    let out = run(&["build", "--input", s(&empty), "--output", s(&shard)]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("empty.fvecs") && err.contains("empty"),
        "{err}"
    );
    assert!(!err.contains("4-byte words"), "{err}");
    assert!(!shard.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes a tiny dataset folder and a shard built on it; returns the folder.
fn tiny_index(dir: &Path, queries: &str) -> (PathBuf, PathBuf) {
    let ds = dir.join("ds");
    let shard = dir.join("ds.shard");
    for args in [
        vec![
            "synth",
            "--out",
            s(&ds),
            "--n",
            "400",
            "--queries",
            queries,
            "--dim",
            "8",
        ],
        vec![
            "build",
            "--input",
            &format!("{}/base.fvecs", s(&ds)),
            "--output",
            s(&shard),
            "--nlist",
            "4",
            "--m",
            "4",
        ],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    (ds, shard)
}

#[test]
fn a_closed_stdout_ends_search_quietly() {
    let dir = tmp("pipe");
    let (ds, shard) = tiny_index(&dir, "2000");
    // 2000 queries × 100 rows of CSV is far more than a pipe buffer holds: the command is
    // still writing when the reader goes away.
    let mut child = ivfpq()
        .args([
            "search",
            "--index",
            s(&shard),
            "--queries",
            &format!("{}/query.fvecs", s(&ds)),
            "--k",
            "100",
            "--nprobe",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "query,rank,id,distance");
    // The reader is dropped here, closing the pipe.
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_rows_print_each_key_once() {
    let out = run(&[
        "bench",
        "--synth-n",
        "600",
        "--synth-dim",
        "16",
        "--nlist",
        "8",
        "--m",
        "4",
        "--nprobe",
        "2",
        "--refine",
        "1,2",
        "--threads",
        "2",
        "--keys",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("engine=")).collect();
    assert_eq!(rows.len(), 2, "{text}");
    for row in rows {
        let keys: Vec<&str> = row
            .split_whitespace()
            .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
            .collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "a key repeats in {row}");
        for kv in ["codes=pq ", "m=4 ", "bits=8 "] {
            assert!(row.contains(kv), "no {kv:?} in {row}");
        }
    }
}

#[test]
fn kmeans_iteration_help_states_faiss_defaults_correctly() {
    let out = run(&["build", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let text = help.split_whitespace().collect::<Vec<_>>().join(" ");
    // The option's paragraph: from its name to the next option.
    let at = text.find("--kmeans-iters <KMEANS_ITERS>").expect(&text);
    let para = &text[at + 2..];
    let para = &para[..para.find(" --").unwrap_or(para.len())];
    assert!(para.contains("[default: 10]"), "{para}");
    assert!(para.contains("cp.niter = 10"), "{para}");
    assert!(!para.contains("FAISS's default is 25"), "{para}");
}
