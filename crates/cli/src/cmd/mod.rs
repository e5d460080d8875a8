//! One module per subcommand family; each owns its clap arguments and calls into a library crate.

pub mod cog;
pub mod common;
pub mod experiment;
pub mod extract;
pub mod pretrain;
pub mod probe;
pub mod reduce;
pub mod retrieval;
pub mod run;
pub mod taxonomy;
