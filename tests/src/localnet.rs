//! Helpers for tests against a real local validator started by `anchor test`.
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::signature::{read_keypair_file, Keypair};

/// The validator URL `anchor test` exports (ANCHOR_PROVIDER_URL), or None outside `anchor test`.
pub fn provider_url() -> Option<String> {
    std::env::var("ANCHOR_PROVIDER_URL").ok()
}

pub fn rpc(url: &str) -> RpcClient {
    RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::confirmed())
}

/// The wallet `anchor test` uses (ANCHOR_WALLET), which the validator funded at genesis.
pub fn wallet() -> Keypair {
    let path = std::env::var("ANCHOR_WALLET").expect("ANCHOR_WALLET is set by anchor test");
    read_keypair_file(&path).unwrap_or_else(|e| panic!("reading wallet {path}: {e}"))
}
