//! Tessera's SDK: the one place off-chain code gets seeds, PDAs, account decoding, instruction
//! builders, the sortition draw, token and unit helpers, cluster profiles and blob names from. No I/O: it
//! builds for `wasm32-unknown-unknown` (the browser), and the RPC, blob store, jobs and CLI
//! crates build on it.
pub mod accounts;
pub mod blob_auth;
pub mod blob_id;
pub mod cluster;
pub mod ix;
pub mod pda;
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
