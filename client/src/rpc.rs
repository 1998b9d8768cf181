//! RPC helpers over `solana-client`: send-and-confirm with fresh blockhashes, account fetch
//! and decode.
use anyhow::{Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{
    instruction::Instruction, pubkey::Pubkey, signature::Signature, signer::Signer,
    transaction::Transaction,
};
use tessera::state::Config;

use crate::{accounts, pda};

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

pub fn fetch_config(rpc: &RpcClient) -> Result<Config> {
    fetch(rpc, "Config", &pda::config().0)
}

/// Token balance of a token account.
pub fn token_balance(rpc: &RpcClient, account: &Pubkey) -> Result<u64> {
    let acc = rpc
        .get_account(account)
        .with_context(|| format!("fetching token account {account}"))?;
    crate::token::balance_of(&acc.data).context("not a token account")
}
