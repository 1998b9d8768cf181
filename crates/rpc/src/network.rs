//! Bringing a Tessera network up on a cluster: the token mint, the treasury and the config.
//! Used by `migrations/deploy.sh` (through `tessera config init`), the demo and the tests.
use anyhow::{bail, Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Config, ConfigParams};

use crate as rpc;
use tessera_sdk::{ix, pda, token};

/// Is the program deployed through the upgradeable loader (so `initialize_config` needs the
/// ProgramData account)?
pub fn program_is_upgradeable(client: &RpcClient) -> Result<bool> {
    let acc = client
        .get_account(&tessera::ID)
        .context("the Tessera program is not deployed on this cluster")?;
    if !acc.executable {
        bail!("account {} is not an executable program", tessera::ID);
    }
    Ok(acc.owner == anchor_lang::solana_program::bpf_loader_upgradeable::ID)
}

/// Create a new SPL mint (authority `authority`) and return its address.
pub fn create_mint(client: &RpcClient, authority: &Keypair, decimals: u8) -> Result<Pubkey> {
    let mint = Keypair::new();
    let rent = client.get_minimum_balance_for_rent_exemption(token::MINT_LEN)?;
    let ixs = token::create_mint(
        &authority.pubkey(),
        &mint.pubkey(),
        &authority.pubkey(),
        decimals,
        rent,
    );
    rpc::send(client, &ixs, authority, &[&mint]).context("creating the token mint")?;
    Ok(mint.pubkey())
}

/// Initialise the config (idempotent: an existing config is returned as is).
/// The treasury is `authority`'s associated token account of `mint`.
pub fn init_config(
    client: &RpcClient,
    authority: &Keypair,
    mint: &Pubkey,
    params: ConfigParams,
) -> Result<Config> {
    if let Ok(existing) = rpc::fetch_config(client) {
        return Ok(existing);
    }
    let upgradeable = program_is_upgradeable(client)?;
    let treasury = token::ata(&authority.pubkey(), mint);
    let ixs = [
        token::create_ata(&authority.pubkey(), &authority.pubkey(), mint),
        ix::initialize_config(
            &authority.pubkey(),
            mint,
            &treasury,
            &token::TOKEN_PROGRAM_ID,
            upgradeable,
            params,
        ),
    ];
    rpc::send(client, &ixs, authority, &[]).context("initialize_config")?;
    rpc::fetch_config(client)
}

/// Human-readable summary of a config.
pub fn describe_config(c: &Config) -> String {
    format!(
        "config        {}\nauthority     {}\nmint          {}\ntoken program {}\ntreasury      {}\n\
         fee           {} bps\nmin stake     {}\nunbonding     {} s\nslash         timeout {} / wrong {} / no-reveal {} bps (client share {} bps, crank {} bps)\n\
         windows       commit {} s / reveal {} s / challenge {} s\nreplicas      max {} (+{} escalation rounds)\n\
         challenge     bond {}\npriority      jobs >= {} for {} s: stake >= {}, reputation >= {} bps\n\
         prices        min {} per replica; {} per full reputation success; collateral {} bps of the price per open claim\n\
         paused        {}",
        pda::config().0,
        c.authority,
        c.mint,
        c.token_program,
        c.treasury,
        c.protocol_fee_bps,
        c.min_stake,
        c.unbonding_secs,
        c.slash_timeout_bps,
        c.slash_wrong_result_bps,
        c.slash_no_reveal_bps,
        c.slash_client_share_bps,
        c.crank_reward_bps,
        c.commit_window_secs,
        c.reveal_window_secs,
        c.challenge_window_secs,
        c.max_replicas,
        c.escalation_cap,
        c.challenge_bond,
        c.priority_min_value,
        c.priority_window_secs,
        c.priority_min_stake,
        c.priority_min_reputation_bps,
        c.min_price_per_replica,
        c.reputation_unit,
        c.collateral_bps,
        c.paused,
    )
}
