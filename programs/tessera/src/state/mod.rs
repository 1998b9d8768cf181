//! One file per account type. Each stores its canonical bump.
pub mod config;

pub use config::*;
