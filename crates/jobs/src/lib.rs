//! Tessera's jobs: job files, input builders, posting, following and verified results for
//! every kernel, render plans and tiles, scene import, embeddings. It builds on `tessera-sdk`
//! (instructions, PDAs, accounts), `tessera-rpc` and `tessera-blobs`; the `tessera` binary is
//! `tessera-cli`.
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
