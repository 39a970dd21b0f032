//! The `ivfpq` command end to end.

use std::process::Command;

fn ivfpq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ivfpq"))
}

#[test]
fn bench_prints_peer_keys_for_every_setting() {
    let out = ivfpq()
        .args([
            "bench",
            "--synth-n",
            "3000",
            "--synth-dim",
            "32",
            "--nlist",
            "20",
            "--m",
            "8",
        ])
        .args([
            "--nprobe",
            "1,4",
            "--refine",
            "1,3",
            "--threads",
            "2",
            "--keys",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("engine=ivfpq"))
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    for key in [
        "nlist=20",
        "m=8",
        "nprobe=",
        "refine=",
        "recall=",
        "qps=",
        "train_s=",
        "build_s=",
        "threads=2",
    ] {
        assert!(
            rows.iter().all(|r| r.contains(key)),
            "missing {key} in {text}"
        );
    }
    // Refine and more probes never lose recall on this data.
    let recall = |r: &str| -> f64 {
        r.split("recall=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(recall(rows[3]) >= recall(rows[0]), "{text}");
}

#[test]
fn a_simd_level_the_cpu_lacks_or_that_does_not_exist_is_a_clear_error() {
    let out = ivfpq()
        .arg("cpu")
        .env("IVFPQ_SIMD", "sse9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IVFPQ_SIMD=\"sse9\""));
    let absent = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "avx512"
    };
    let out = ivfpq()
        .arg("cpu")
        .env("IVFPQ_SIMD", absent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(absent));
    let out = ivfpq()
        .arg("cpu")
        .env("IVFPQ_SIMD", "scalar")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("active=scalar"));
}

#[test]
fn bench_reports_a_missing_dataset_by_name() {
    let out = ivfpq()
        .args(["bench", "--dataset", "/nonexistent/ds"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ds/meta.json"));
}

#[test]
fn bench_prints_a_table_and_its_json_rows_carry_every_setting() {
    let dir = std::env::temp_dir().join(format!("ivfpq-cli-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("rows.json");
    let out = ivfpq()
        .args([
            "bench",
            "--synth-n",
            "2000",
            "--synth-dim",
            "16",
            "--nlist",
            "16",
        ])
        .args([
            "--m",
            "4",
            "--nprobe",
            "2,8",
            "--refine",
            "1,4",
            "--threads",
            "2",
        ])
        .args(["--vectors", "f16", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    // A title line, then one row a setting, every line as wide as the title.
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].contains("recall") && lines[0].contains("QPS"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{text}");
    assert!(!text.contains("recall="), "{text}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        for key in [
            "vectors",
            "opq",
            "shared_table",
            "epsilon",
            "probe_ratio",
            "refine",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        assert_eq!(r["vectors"], "f16");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
