//! Named abort points, so that tests interrupt a process at an exact place instead of racing a
//! timer: with `HIERCOG_ABORT_AT=<name>` in its environment, a process aborts (no destructor, no
//! cleanup: what `kill -9` leaves) the first time it reaches [`abort_point`] `name`.

/// The environment variable naming the point where the process aborts.
pub const ABORT_AT_ENV: &str = "HIERCOG_ABORT_AT";

/// Aborts the process when `HIERCOG_ABORT_AT` equals `name`; does nothing otherwise.
///
/// Points of this crate: `commit <file name>`, just before a temporary is renamed over its
/// target (the temporary is complete on disk then).
pub fn abort_point(name: &str) {
    if std::env::var_os(ABORT_AT_ENV).is_some_and(|at| at == name) {
        eprintln!("aborting at {name:?} ({ABORT_AT_ENV})");
        std::process::abort();
    }
}
