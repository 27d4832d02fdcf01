//! One module per group of commands.

pub mod audit;
pub mod backup;
pub mod bench;
pub mod demo;
pub mod directory;
pub mod init;
pub mod referral;
pub mod run;
pub mod services_import;
pub mod status;
pub mod user;
