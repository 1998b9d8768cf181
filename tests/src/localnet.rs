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

/// Waits (at most two minutes) until the cluster is in a later stake epoch than now
/// (`Config::stake_epoch_slots`; 32 slots on localnet, about 13 s): stake bonded before then
/// counts in the sortition draws of rounds seeded from then on.
pub fn wait_for_next_stake_epoch(client: &RpcClient, config: &tessera::state::Config) {
    let now = client.get_slot().expect("getSlot");
    let next = config.stake_epoch_start(config.stake_epoch(now) + 1);
    let t0 = std::time::Instant::now();
    while client.get_slot().expect("getSlot") < next {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(120),
            "slot {next} not reached within two minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
}
