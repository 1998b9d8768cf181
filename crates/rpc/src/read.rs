//! Account reads in plain base64.
//!
//! `solana-client`'s `get_account*` and `get_multiple_accounts*` ask for `base64+zstd`, and the
//! RPC node then builds a zstd compressor for every account it returns (a large table zeroed
//! each time). Under the load bench that was about a third of the validator's RPC thread
//! (`ZSTD_createCCtx` and its `memset`, `perf`, session 21), for accounts of a few hundred
//! bytes and the SlotHashes sysvar's random hashes, none of which compress. The worker's
//! reads and the load bench's polls go through here; the CLI's one-off reads do not.
use solana_account_decoder_client_types::{UiAccount, UiAccountEncoding};
use solana_client::client_error::Result as ClientResult;
use solana_client::rpc_config::RpcAccountInfoConfig;
use solana_client::rpc_response::Response;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{account::Account, pubkey::Pubkey};

/// `getAccountInfo` / `getMultipleAccounts` options: plain base64 at `commitment`.
pub fn plain(commitment: CommitmentConfig) -> RpcAccountInfoConfig {
    RpcAccountInfoConfig {
        encoding: Some(UiAccountEncoding::Base64),
        commitment: Some(commitment),
        data_slice: None,
        min_context_slot: None,
    }
}

fn decoded(accounts: Vec<Option<UiAccount>>) -> Vec<Option<Account>> {
    // (a base64 answer always decodes; one that does not is treated as missing)
    accounts
        .into_iter()
        .map(|a| a.and_then(|a| a.to_account()))
        .collect()
}

/// `getMultipleAccounts` (at most 100 keys) in plain base64, with the answer's slot.
pub fn multiple(
    rpc: &solana_client::rpc_client::RpcClient,
    keys: &[Pubkey],
    commitment: CommitmentConfig,
) -> ClientResult<Response<Vec<Option<Account>>>> {
    let r = rpc.get_multiple_ui_accounts_with_config(keys, plain(commitment))?;
    Ok(Response {
        context: r.context,
        value: decoded(r.value),
    })
}

/// [`multiple`] on the async client.
pub async fn multiple_async(
    rpc: &solana_client::nonblocking::rpc_client::RpcClient,
    keys: &[Pubkey],
    commitment: CommitmentConfig,
) -> ClientResult<Response<Vec<Option<Account>>>> {
    let r = rpc
        .get_multiple_ui_accounts_with_config(keys, plain(commitment))
        .await?;
    Ok(Response {
        context: r.context,
        value: decoded(r.value),
    })
}

/// `getAccountInfo` in plain base64, with the answer's slot (`None`: no such account).
pub fn one(
    rpc: &solana_client::rpc_client::RpcClient,
    key: &Pubkey,
    commitment: CommitmentConfig,
) -> ClientResult<Response<Option<Account>>> {
    let r = rpc.get_ui_account_with_config(key, plain(commitment))?;
    Ok(Response {
        context: r.context,
        value: r.value.and_then(|a| a.to_account()),
    })
}

/// [`one`] on the async client.
pub async fn one_async(
    rpc: &solana_client::nonblocking::rpc_client::RpcClient,
    key: &Pubkey,
    commitment: CommitmentConfig,
) -> ClientResult<Response<Option<Account>>> {
    let r = rpc
        .get_ui_account_with_config(key, plain(commitment))
        .await?;
    Ok(Response {
        context: r.context,
        value: r.value.and_then(|a| a.to_account()),
    })
}
