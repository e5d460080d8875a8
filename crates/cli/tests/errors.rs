//! Error messages as the user sees them (`error: {:#}`): each cause printed once, the flag that
//! fixes a library error added by the command line.

use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::Command;

const HIERCOG: &str = env!("CARGO_BIN_EXE_hiercog");

/// Runs hiercog, expects failure, returns its standard error.
fn fails(args: &[&str]) -> String {
    let out = Command::new(HIERCOG).args(args).output().unwrap();
    assert!(!out.status.success(), "hiercog {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `hiercog taxonomy distances` of a label file, which fails.
fn distances_fail(labels: &Path) -> String {
    let out = labels.with_file_name("dist.tsv");
    fails(&[
        "taxonomy",
        "distances",
        "--labels",
        arg(labels),
        "--out",
        arg(&out),
    ])
}

#[test]
fn a_missing_file_is_named_once_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.txt");
    let err = distances_fail(&labels);
    assert_eq!(
        err,
        format!(
            "error: cannot read {}: No such file or directory (os error 2)\n",
            labels.display()
        )
    );
}

#[test]
fn a_bad_line_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "# dogs\nn02084071\nn99999999\n").unwrap();
    let err = distances_fail(&labels);
    assert!(
        err.starts_with(&format!(
            "error: {}:3: unknown concept \"n99999999\"",
            labels.display()
        )),
        "{err}"
    );
    assert_eq!(err.matches("n99999999").count(), 1, "{err}");
}

#[test]
fn the_command_line_adds_the_flag_that_fixes_a_library_error() {
    let dir = tempfile::tempdir().unwrap();
    let isa = dir.path().join("isa.tsv");
    std::fs::write(&isa, "root\ta\nroot\tb\na\ta1\na\ta2\nb\tb1\n").unwrap();
    let seen = dir.path().join("seen.txt");
    std::fs::write(&seen, "a1\nunicorn\n").unwrap();
    let pool = dir.path().join("pool.txt");
    std::fs::write(&pool, "a2\nb1\n").unwrap();
    let out = dir.path().join("levels");
    let err = fails(&[
        "cog",
        "build",
        "--preset",
        "generic",
        "--taxonomy",
        arg(&isa),
        "--seen",
        arg(&seen),
        "--pool",
        arg(&pool),
        "--levels",
        "1",
        "--per-level",
        "1",
        "--no-plots",
        "--out",
        arg(&out),
    ]);
    assert!(
        err.starts_with("error: 1 seen concepts are not in the taxonomy, e.g. unicorn: ")
            && err.ends_with("\n  hint: --skip-unknown drops the unknown names\n"),
        "{err}"
    );
    assert_eq!(err.matches("unicorn").count(), 1, "{err}");
    assert!(!out.exists());
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // A reader that has already gone, as `| head -1` is after its line: every write fails.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors; the read end is closed at once, the write
    // end is owned by the `OwnedFd` handed to the child's standard output.
    let writer = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        std::os::fd::OwnedFd::from_raw_fd(fds[1])
    };
    let out = Command::new(HIERCOG)
        .args(["taxonomy", "show", "n02084071"])
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
}
