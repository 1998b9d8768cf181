//! Instruction builders for every Tessera instruction. Accounts come from the program's own
//! generated `tessera::accounts::*` structs and data from `tessera::instruction::*`, so a
//! change in the program's account list is a compile error here, not a runtime surprise.
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};
use tessera::instructions as args;
use tessera::state::ConfigParams;

use crate::pda;

fn build(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: tessera::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// Parameters used by the local network demo and tests: short windows so a job settles in
/// seconds, a 2.5% protocol fee, 100-token minimum stake (6 decimals).
pub fn localnet_params() -> ConfigParams {
    ConfigParams {
        protocol_fee_bps: 250,
        min_stake: 100_000_000,
        unbonding_secs: 10,
        slash_timeout_bps: 500,
        slash_wrong_result_bps: 2_000,
        slash_no_reveal_bps: 1_000,
        slash_client_share_bps: 5_000,
        crank_reward_bps: 500,
        commit_window_secs: 60,
        reveal_window_secs: 30,
        challenge_window_secs: 5,
        max_replicas: 5,
        escalation_cap: 2,
        challenge_bond: 10_000_000,
        priority_min_value: 1_000_000_000,
        priority_window_secs: 5,
        priority_min_stake: 500_000_000,
        priority_min_reputation_bps: 6_000,
    }
}

/// `initialize_config`. `upgradeable`: pass the ProgramData account (required when the program
/// was deployed through the upgradeable loader; `authority` must be its upgrade authority).
pub fn initialize_config(
    authority: &Pubkey,
    mint: &Pubkey,
    treasury: &Pubkey,
    token_program: &Pubkey,
    upgradeable: bool,
    params: ConfigParams,
) -> Instruction {
    build(
        tessera::accounts::InitializeConfig {
            authority: *authority,
            config: pda::config().0,
            mint: *mint,
            treasury: *treasury,
            program: tessera::ID,
            program_data: upgradeable.then(pda::program_data),
            token_program: *token_program,
            system_program: solana_system_interface::program::ID,
        },
        tessera::instruction::InitializeConfig {
            args: args::InitializeConfigArgs { params },
        },
    )
}

pub fn update_config(
    authority: &Pubkey,
    token_program: &Pubkey,
    params: Option<ConfigParams>,
    new_authority: Option<Pubkey>,
    new_treasury: Option<Pubkey>,
) -> Instruction {
    build(
        tessera::accounts::UpdateConfig {
            authority: *authority,
            config: pda::config().0,
            new_treasury,
            token_program: *token_program,
        },
        tessera::instruction::UpdateConfig {
            args: args::UpdateConfigArgs {
                params,
                new_authority,
            },
        },
    )
}

pub fn set_paused(authority: &Pubkey, paused: bool) -> Instruction {
    build(
        tessera::accounts::SetPaused {
            authority: *authority,
            config: pda::config().0,
        },
        tessera::instruction::SetPaused {
            args: args::SetPausedArgs { paused },
        },
    )
}
