//! hiercog-io: the file I/O every hiercog crate shares, small enough that any crate can depend on
//! it (no SQLite, no serde).
//!
//! * [`write_atomic`] / [`write_atomic_with`]: a file is replaced atomically (temporary sibling,
//!   fsync, rename, fsync of the directory); [`AtomicPath`] does the same for writers that need a
//!   path (image encoders) or build a whole directory.
//! * [`sweep_temporaries`]: removes the temporaries that a killed writer left behind; every
//!   temporary has one recognisable name, `.<target>.tmp-<pid>-<n>[.<ext>]` ([`is_temporary`]).
//! * [`FileLock`]: an exclusive lock per task of a run directory, free again when its holder dies.
//! * [`abort_point`]: tests abort a process at a named point (`HIERCOG_ABORT_AT`).
//! * [`LineFile`] / [`content_lines`]: text files of lines with `#` comments, yielded as
//!   `(line number, text)`, whose errors name `file:line`.
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let list = dir.path().join("seen.txt");
//! hiercog_io::write_atomic(&list, b"n02084071  # dog\n\nn02121808\n")?;
//! let file = hiercog_io::LineFile::read(&list)?;
//! let names: Vec<&str> = file.lines().map(|(_, name)| name).collect();
//! assert_eq!(names, ["n02084071", "n02121808"]);
//! assert!(hiercog_io::sweep_temporaries(dir.path())?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod abort;
mod atomic;
mod error;
mod lines;
mod lock;

pub use abort::{abort_point, ABORT_AT_ENV};
pub use atomic::{
    is_temporary, sweep_temporaries, sweep_temporaries_of, write_atomic, write_atomic_with,
    AtomicPath,
};
pub use error::{Error, Result};
pub use lines::{content_lines, LineFile};
pub use lock::FileLock;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
