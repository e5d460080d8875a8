//! Line files: the text format of every hiercog list (concepts, counts, is-a edges, pairs).
//!
//! `#` starts a comment that runs to the end of the line; surrounding whitespace is trimmed; blank
//! lines are skipped. What remains is yielded with its 1-based line number, so that a caller's
//! parse error names `file:line` ([`LineFile::error`]).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The content lines of `text`: `(line number, text)` with comments and surrounding whitespace
/// removed and blank lines skipped; line numbers count from 1.
///
/// ```
/// let text = "# concepts\nn02084071  # dog\n\n n02121808\n";
/// let lines: Vec<_> = hiercog_io::content_lines(text).collect();
/// assert_eq!(lines, [(2, "n02084071"), (4, "n02121808")]);
/// ```
pub fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let content = line.split('#').next().unwrap_or("").trim();
        (!content.is_empty()).then_some((i + 1, content))
    })
}

/// A line file read into memory, with its path for error messages.
#[derive(Clone, Debug)]
pub struct LineFile {
    path: PathBuf,
    text: String,
}

impl LineFile {
    /// Reads `path`; a file that is not UTF-8 text is an error naming its first bad line.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(Error::read(path))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            Error::Line {
                path: path.to_path_buf(),
                line: good.iter().filter(|&&b| b == b'\n').count() + 1,
                message: "not UTF-8 text".into(),
            }
        })?;
        Ok(LineFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// A line file from text already in memory; `path` names it in errors.
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        LineFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The file's path (as given).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole text, comments included (e.g. to fingerprint it).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The content lines (see [`content_lines`]).
    pub fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        content_lines(&self.text)
    }

    /// An error at `line` of this file: `path:line: message`.
    pub fn error(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Line {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_numbers() {
        let text = "# header\n\na\tb  # note\n   \n  c d\r\n#only\ne#";
        let got: Vec<_> = content_lines(text).collect();
        assert_eq!(got, [(3, "a\tb"), (5, "c d"), (7, "e")]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("counts.tsv");
        std::fs::write(&p, "a\t1\nb\tmany\n").unwrap();
        let f = LineFile::read(&p).unwrap();
        let (line, text) = f.lines().nth(1).unwrap();
        let err = f.error(line, format!("count {text:?} is not a number"));
        assert_eq!(
            err.to_string(),
            format!("{}:2: count \"b\\tmany\" is not a number", p.display())
        );
    }

    #[test]
    fn unreadable_and_non_utf8_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let msg = LineFile::read(&missing).unwrap_err().to_string();
        assert!(
            msg.starts_with(&format!("cannot read {}: ", missing.display())),
            "{msg}"
        );
        let p = dir.path().join("latin1.txt");
        std::fs::write(&p, b"ok\nalso ok\ncaf\xe9\n").unwrap();
        assert_eq!(
            LineFile::read(&p).unwrap_err().to_string(),
            format!("{}:3: not UTF-8 text", p.display())
        );
    }
}
