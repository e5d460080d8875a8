//! The printed form of errors: causes are part of the message and never also a source, so the
//! CLI's `{:#}` (message, then each source) shows each once.

use hiercog_nn::Checkpoint;
use std::error::Error as _;

#[test]
fn a_missing_checkpoint_names_the_file_and_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.pth");
    let os = std::fs::File::open(&path).unwrap_err().to_string();
    let err = Checkpoint::read(&path).err().expect("no such file");
    assert_eq!(
        err.to_string(),
        format!("cannot read {}: {os}", path.display())
    );
    assert!(err.source().is_none(), "the cause would print twice");
}
