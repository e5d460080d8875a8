//! Running the `hiercog` binary from the CLI's integration tests.

use std::process::{Command, Output};

/// The binary under test.
const HIERCOG: &str = env!("CARGO_BIN_EXE_hiercog");

/// `hiercog ARGS`, not yet started (without the test-only abort point of the environment).
pub fn hiercog(args: &[&str]) -> Command {
    let mut c = Command::new(HIERCOG);
    c.args(args).env_remove("HIERCOG_ABORT_AT");
    c
}

/// Runs `hiercog ARGS` and fails the test, with both outputs, unless it succeeds.
pub fn run_ok(args: &[&str]) -> Output {
    let out = hiercog(args).output().unwrap();
    assert!(
        out.status.success(),
        "hiercog {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
