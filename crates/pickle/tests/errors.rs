//! The printed form of errors: causes are part of the message and never also a source, so the
//! CLI's `{:#}` (message, then each source) shows each once.

use std::error::Error as _;

#[test]
fn a_corrupt_pickle_names_the_file_offset_and_opcode_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.pkl");
    std::fs::write(&path, b"\x80\x04\x95").unwrap(); // PROTO 4, then a FRAME cut short
    let err = hiercog_pickle::load_pickle(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: byte 2, opcode 0x95: needs 8 more bytes but the input ends at byte 3; \
             the file is corrupt or not a pickle (re-download or re-save it)",
            path.display()
        )
    );
    assert!(err.source().is_none(), "the cause would print twice");
}
