//! Running the `ivfpq` command from the integration tests.

use std::process::{Command, Output};

/// Runs `ivfpq ARGS` and returns its output; fails the test, with its stderr, unless it
/// succeeded.
pub fn run_ok(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ivfpq"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
