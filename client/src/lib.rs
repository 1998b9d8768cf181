//! Tessera Rust SDK: the one place off-chain code gets seeds, PDAs, account decoding and
//! instruction builders from. The worker, the `tessera` CLI, the migrations and the tests all
//! build their transactions through this crate.
//!
//! Cargo features choose how much of it a program pulls in (see `Cargo.toml`): with
//! `default-features = false` it is the instruction builders, PDAs and account decoding only,
//! without solana-client, clap, axum, indicatif or the kernels (`rpc` adds the RPC helpers).
// Always: what a program that only builds instructions and reads accounts needs.
pub mod accounts;
pub mod cli_util;
pub mod cluster;
pub mod ix;
pub mod pda;
pub mod sortition;
pub mod token;
pub mod units;

// `rpc`: reading accounts and sending transactions (solana-client).
#[cfg(feature = "rpc")]
pub mod network;
#[cfg(feature = "rpc")]
pub mod rpc;

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

pub use tessera::constants;
pub use tessera::events;
pub use tessera::state;
pub use tessera::ID as PROGRAM_ID;

/// Version string shown by both binaries (`tessera version`, `tessera-worker version`): with
/// the program id and the cluster this build is for (`cluster`).
pub fn version_string(bin: &str) -> String {
    format!(
        "{bin} {} (tessera program {} for {}, anchor-lang 1.2.2)",
        env!("CARGO_PKG_VERSION"),
        tessera::ID,
        cluster::Cluster::built_for()
    )
}
