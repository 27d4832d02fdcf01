//! One module per group of commands.

pub mod directory;
pub mod init;
pub mod run;
