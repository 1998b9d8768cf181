//! One file per instruction: `…Args`, the `#[derive(Accounts)]` struct, `validate`, `handler`.
#![allow(ambiguous_glob_reexports)]
pub mod config_initialize;
pub mod config_set_paused;
pub mod config_update;

pub use config_initialize::*;
pub use config_set_paused::*;
pub use config_update::*;
