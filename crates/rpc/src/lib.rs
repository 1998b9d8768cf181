//! Tessera over Solana RPC (`solana-client`): send-and-confirm with fresh blockhashes,
//! account fetch and decode, program-account listing, the cluster clock, the token's decimals
//! and fresh job ids; [`network`] brings a Tessera network up on a cluster.
use anyhow::{Context, Result};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_client::rpc_client::RpcClient;
use solana_client::rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    instruction::Instruction, pubkey::Pubkey, signature::Signature, signer::Signer,
    transaction::Transaction,
};
use tessera::state::{Claim, Config, Job, JobState};

use tessera_sdk::{accounts, pda, token};

pub mod network;
pub mod read;

/// Sign with `payer` + `signers`, send, and wait for confirmation.
pub fn send(
    rpc: &RpcClient,
    ixs: &[Instruction],
    payer: &dyn Signer,
    signers: &[&dyn Signer],
) -> Result<Signature> {
    let blockhash = rpc.get_latest_blockhash().context("get_latest_blockhash")?;
    let mut all: Vec<&dyn Signer> = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
    rpc.send_and_confirm_transaction(&tx)
        .context("send_and_confirm_transaction")
}

/// Sends `ixs` paid and signed by `payer`, in order, in as few transactions as fit
/// (`tessera_sdk::ix::pack`), each with a compute-unit limit for its instructions; stops at the
/// first that fails (the ones before it stay done). Returns the signatures sent.
pub fn send_packed(
    rpc: &RpcClient,
    ixs: &[Instruction],
    payer: &dyn Signer,
) -> Result<Vec<Signature>> {
    let runs = tessera_sdk::ix::pack(&payer.pubkey(), ixs);
    let total = runs.len();
    let mut sent = Vec::with_capacity(total);
    for (i, run) in runs.iter().enumerate() {
        let body = tessera_sdk::ix::with_compute_limit(run);
        sent.push(
            send(rpc, &body, payer, &[])
                .with_context(|| format!("transaction {} of {total}", i + 1))?,
        );
    }
    Ok(sent)
}

/// Fetch and decode an account of the Tessera program.
pub fn fetch<T: anchor_lang::AccountDeserialize>(
    rpc: &RpcClient,
    what: &'static str,
    address: &Pubkey,
) -> Result<T> {
    let acc = rpc
        .get_account(address)
        .with_context(|| format!("fetching {what} {address}"))?;
    Ok(accounts::decode_owned(what, &acc.owner, &acc.data)?)
}

/// The network config; a clear error when the cluster has none (a transport error is passed
/// through as is).
pub fn fetch_config(rpc: &RpcClient) -> Result<Config> {
    let key = pda::config().0;
    let acc = rpc
        .get_account_with_commitment(&key, rpc.commitment())
        .context("reading the Tessera config")?
        .value
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no Tessera config on this cluster (account {key}): deploy and initialise it with `migrations/deploy.sh --url <rpc>`"
            )
        })?;
    Ok(accounts::decode_owned("Config", &acc.owner, &acc.data)?)
}

/// Token balance of a token account.
pub fn token_balance(rpc: &RpcClient, account: &Pubkey) -> Result<u64> {
    let acc = rpc
        .get_account(account)
        .with_context(|| format!("fetching token account {account}"))?;
    token::balance_of(&acc.data).context("not a token account")
}

/// Filters that select accounts of type `T` (its 8-byte Anchor discriminator at offset 0).
pub fn type_filter<T: anchor_lang::Discriminator>() -> RpcFilterType {
    RpcFilterType::Memcmp(Memcmp::new_base58_encoded(0, T::DISCRIMINATOR))
}

/// Filter: the job's `state` byte equals `state`.
pub fn job_state_filter(state: JobState) -> RpcFilterType {
    RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
        Job::STATE_OFFSET,
        &[state as u8],
    ))
}

/// Filter: a 32-byte key at `offset` equals `key`.
pub fn key_filter(offset: usize, key: &Pubkey) -> RpcFilterType {
    RpcFilterType::Memcmp(Memcmp::new_base58_encoded(offset, key.as_ref()))
}

/// `getProgramAccounts` config selecting type `T` plus `extra` filters (base64 data).
pub fn program_accounts_config<T: anchor_lang::Discriminator>(
    extra: Vec<RpcFilterType>,
) -> RpcProgramAccountsConfig {
    let mut filters = vec![type_filter::<T>()];
    filters.extend(extra);
    RpcProgramAccountsConfig {
        filters: Some(filters),
        account_config: RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            commitment: Some(CommitmentConfig::confirmed()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// All accounts of type `T` matching `extra` filters, decoded, sorted by address.
pub fn list<T>(rpc: &RpcClient, extra: Vec<RpcFilterType>) -> Result<Vec<(Pubkey, T)>>
where
    T: anchor_lang::AccountDeserialize + anchor_lang::Discriminator,
{
    let raw = rpc
        .get_program_ui_accounts_with_config(&tessera::ID, program_accounts_config::<T>(extra))
        .context("getProgramAccounts")?;
    let mut out = Vec::with_capacity(raw.len());
    for (key, ui) in raw {
        let Some(acc) = ui.to_account() else { continue };
        if let Ok(v) = accounts::decode::<T>(std::any::type_name::<T>(), &acc.data) {
            out.push((key, v));
        }
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

/// Filter for `Claim` (and `Bid`) accounts of `job` (their first field).
pub fn of_job_filter(job: &Pubkey) -> RpcFilterType {
    key_filter(8, job)
}

/// Filter for `Claim` (and `Bid`) accounts of `node` (their second field).
pub fn of_node_filter(node: &Pubkey) -> RpcFilterType {
    key_filter(8 + 32, node)
}

/// Claims (all states) on `job`.
pub fn claims_of(rpc: &RpcClient, job: &Pubkey) -> Result<Vec<(Pubkey, Claim)>> {
    list::<Claim>(rpc, vec![of_job_filter(job)])
}

/// Decimals of the network token.
pub fn decimals(rpc: &RpcClient, config: &Config) -> Result<u8> {
    let mint = rpc
        .get_account(&config.mint)
        .with_context(|| format!("fetching the network mint {}", config.mint))?;
    token::decimals_of(&mint.data).context("the config's mint is not a token mint")
}

/// A job id not used by `client` yet whose job and escrow PDAs have bump 255 (cheapest).
pub fn next_job_id(rpc: &RpcClient, client: &Pubkey) -> Result<u64> {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let mut id = pda::fast_job_id(client, start);
    while rpc
        .get_account_with_commitment(&pda::job(client, id).0, rpc.commitment())?
        .value
        .is_some()
    {
        id = pda::fast_job_id(client, id + 1);
    }
    Ok(id)
}

/// The cluster's clock (unix seconds), from the Clock sysvar.
pub fn cluster_time(rpc: &RpcClient) -> Result<i64> {
    let acc = rpc
        .get_account(&solana_sdk::sysvar::clock::ID)
        .context("reading the cluster clock")?;
    accounts::clock_unix_timestamp(&acc.data).context("decoding the Clock sysvar")
}
