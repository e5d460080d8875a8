//! The crate's error type: every variant names the file and, where it applies, the byte offset and
//! opcode, and says what the user can do about it.
//!
//! Causes are part of the message, never also a [`source`](std::error::Error::source), so a
//! printed chain (`{:#}` of anyhow) shows each once.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing a pickle or a torch checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] hiercog_io::Error),
    /// The pickle stream is malformed (truncated, bad argument, stack underflow, ...).
    #[error("{file}: byte {offset}, opcode {opcode}: {msg}; the file is corrupt or not a pickle (re-download or re-save it)")]
    Malformed {
        /// The file (or `<bytes>`).
        file: String,
        /// Byte offset of the opcode.
        offset: usize,
        /// The opcode, as a character and in hex.
        opcode: String,
        /// What is wrong.
        msg: String,
    },
    /// Decoding would exceed the bounds derived from the input's size (a corrupt or hostile file).
    #[error("{file}: {msg}; the file is corrupt or was crafted to exhaust memory")]
    Limit {
        /// The file.
        file: String,
        /// Which bound was exceeded.
        msg: String,
    },
    /// The pickle references a Python global outside the whitelist; we never execute code.
    #[error("{file}: byte {offset}: this file contains a Python object of class `{global}` that hiercog refuses to execute; re-save it as a state_dict of tensors (torch.save(model.state_dict(), path)) or as safetensors")]
    Forbidden {
        /// The file.
        file: String,
        /// Byte offset of the opcode naming the global.
        offset: usize,
        /// `module.name` of the global.
        global: String,
    },
    /// An opcode the reader does not implement (extension registry, out-of-band buffers, ...).
    #[error("{file}: byte {offset}: unsupported pickle opcode {opcode}; re-save the file with torch.save / pickle.dump of plain containers, tensors and numbers")]
    Unsupported {
        /// The file.
        file: String,
        /// Byte offset of the opcode.
        offset: usize,
        /// The opcode.
        opcode: String,
    },
    /// The zip container of a torch checkpoint is broken or lacks an entry.
    #[error("{file}: {msg}")]
    Archive {
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// A tensor's storage is missing, too short, or of a dtype we do not read.
    #[error("{file}: storage `{key}`: {msg}")]
    Storage {
        /// The file.
        file: String,
        /// The storage's key.
        key: String,
        /// What is wrong.
        msg: String,
    },
    /// A value did not have the shape the caller asked for (e.g. a state_dict entry that is not a tensor).
    #[error("{0}")]
    Shape(String),
    /// A value cannot be written as a torch checkpoint.
    #[error("{file}: cannot save: {msg}")]
    Save {
        /// The destination.
        file: PathBuf,
        /// Why.
        msg: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
