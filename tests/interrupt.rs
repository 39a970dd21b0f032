//! A stop request (`ivfpq::core::interrupt`) ends training and out-of-core builds with
//! `Interrupted` and writes nothing; once cleared, the same calls succeed. Its own test
//! binary: the flag is process-wide and would stop other tests' builds.

use ivfpq::core::{IndexParams, IvfPqError, IvfPqModel, interrupt};
use ivfpq::io::write_fvecs;
use ivfpq::shard::ShardError;
use ivfpq::shard::ingest::{BuildOptions, NoProgress, Plan, build_bucket, train_model};

fn rows(n: usize, dim: usize) -> Vec<f32> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n * dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn interrupted<T: std::fmt::Debug>(r: Result<T, ShardError>) -> bool {
    matches!(
        r,
        Err(ShardError::Io(ivfpq::io::IoError::Index(
            IvfPqError::Interrupted
        )))
    )
}

#[test]
fn a_stop_request_interrupts_training_and_bucket_builds_and_clears() {
    let dir = std::env::temp_dir().join(format!("ivfpq-interrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (n, dim) = (3000, 16);
    let data = rows(n, dim);
    let input = dir.join("x.fvecs");
    write_fvecs(&input, &data, dim).unwrap();
    let plan = Plan::new(&[input], 2000, "id").unwrap();
    let params = IndexParams::default().with_nlist(16).with_m(4);
    let model = IvfPqModel::train(&data, dim, &params).unwrap();
    let out = dir.join("b0.ivfpq");

    interrupt::request();
    assert!(matches!(
        IvfPqModel::train(&data, dim, &params),
        Err(IvfPqError::Interrupted)
    ));
    assert!(interrupted(train_model(
        &plan,
        &params,
        None,
        None,
        &NoProgress
    )));
    let opts = BuildOptions::default();
    assert!(interrupted(build_bucket(
        &plan,
        0,
        &model,
        &out,
        &opts,
        &NoProgress
    )));
    assert!(!out.exists(), "an interrupted build wrote its shard");

    interrupt::clear();
    let again = IvfPqModel::train(&data, dim, &params).unwrap();
    assert_eq!(again.nlist(), 16);
    let report = build_bucket(&plan, 0, &model, &out, &opts, &NoProgress).unwrap();
    assert_eq!(report.rows, 2000);
    assert!(out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
