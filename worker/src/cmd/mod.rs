//! The operator's commands that talk to a running daemon or wind a node down: `status`,
//! `drain`, `deregister` (the set-up commands and `run` are in `main.rs`).
pub mod deregister;
pub mod drain;
pub mod status;
