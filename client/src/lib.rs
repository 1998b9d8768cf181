//! Tessera's jobs and the `tessera` CLI (to be split further, one crate per job, by issue 30):
//! the seeds, PDAs, account decoding and instruction builders are in `tessera-sdk`
//! (`crates/sdk`), the RPC helpers in `tessera-rpc` (`crates/rpc`), the blob store in
//! `tessera-blobs` (`crates/blobs`).
//!
//! Cargo features choose how much of it a program pulls in (see `Cargo.toml`).
pub mod cli_util;

// `jobs`: job specs, posting and results for every kernel.
#[cfg(feature = "jobs")]
pub mod embed_jobs;
#[cfg(feature = "jobs")]
pub mod embedding;
#[cfg(feature = "jobs")]
pub mod jobs;
#[cfg(feature = "jobs")]
pub mod jobspec;
#[cfg(feature = "jobs")]
pub mod render_jobs;
#[cfg(feature = "jobs")]
pub mod render_plan;
#[cfg(feature = "jobs")]
pub mod scene_import;
