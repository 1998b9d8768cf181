//! Tessera's blob store, jobs and the `tessera` CLI (to be split further, one crate per job,
//! by issue 30): the seeds, PDAs, account decoding and instruction builders are in
//! `tessera-sdk` (`crates/sdk`), the RPC helpers in `tessera-rpc` (`crates/rpc`).
//!
//! Cargo features choose how much of it a program pulls in (see `Cargo.toml`).
pub mod cli_util;

// `blobs`: the blob store client and the worker's fetch policy.
#[cfg(feature = "blobs")]
pub mod blobs;
#[cfg(feature = "blobs")]
pub mod fetch_policy;

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
pub mod scene_import;
