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

/// Waits (at most a minute) until the cluster is in a later epoch than now: stake bonded before
/// then counts in the sortition draws of rounds seeded from then on. The test validators run
/// 32-slot epochs (`--slots-per-epoch 32`, Anchor.toml), so this is about 13 s.
pub fn wait_for_next_epoch(client: &RpcClient) {
    let start = client.get_epoch_info().expect("getEpochInfo").epoch;
    let t0 = std::time::Instant::now();
    while client.get_epoch_info().expect("getEpochInfo").epoch <= start {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "epoch {start} did not end within a minute (is the validator run with --slots-per-epoch 32?)"
        );
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
}
