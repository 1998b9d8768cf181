//! Tessera Rust SDK: the one place off-chain code gets seeds, PDAs, account decoding and
//! instruction builders from. The worker, the `tessera` CLI, the migrations and the tests all
//! build their transactions through this crate.
pub mod accounts;
pub mod blobs;
pub mod cli_util;
pub mod cluster;
pub mod embed_jobs;
pub mod embedding;
pub mod fetch_policy;
pub mod ix;
pub mod jobs;
pub mod jobspec;
pub mod network;
pub mod pda;
pub mod render_jobs;
pub mod rpc;
pub mod scene_import;
pub mod sortition;
pub mod token;
pub mod units;

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
