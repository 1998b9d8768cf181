use anchor_lang::prelude::*;
use anchor_lang::solana_program::bpf_loader_upgradeable;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::ConfigInitialized;
use crate::pda;
use crate::state::{Config, ConfigParams};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct InitializeConfigArgs {
    pub params: ConfigParams,
}

#[derive(Accounts)]
pub struct InitializeConfig<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(
        init,
        payer = authority,
        space = 8 + Config::INIT_SPACE,
        seeds = [CONFIG_SEED],
        bump,
    )]
    pub config: Account<'info, Config>,
    #[account(mint::token_program = token_program)]
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(
        token::token_program = token_program,
        constraint = treasury.mint == mint.key() @ TesseraError::TreasuryMintMismatch,
    )]
    pub treasury: InterfaceAccount<'info, TokenAccount>,
    /// CHECK: only its address and owner are read (is the program upgradeable?).
    #[account(address = crate::ID)]
    pub program: UncheckedAccount<'info>,
    /// The program's ProgramData; required when the program is upgradeable, so that only the
    /// upgrade authority can initialise (no front-running of a fresh deployment). Deploy with
    /// an upgrade authority, initialise, and only then make the program immutable.
    pub program_data: Option<Account<'info, ProgramData>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
    /// The escrow vault: the canonical PDA `["escrow"]` (its seeds in the IDL, so wallets
    /// resolve it), made a token account of `mint` owned by the config by the handler.
    /// CHECK: at its canonical PDA (seeds constraint); created empty by the handler.
    #[account(mut, seeds = [ESCROW_SEED], bump)]
    pub escrow: UncheckedAccount<'info>,
}

impl InitializeConfig<'_> {
    pub fn validate(&self, args: &InitializeConfigArgs) -> Result<()> {
        args.params.validate()?;
        crate::mint_policy::check_mint(&self.mint.to_account_info(), &self.token_program.key())?;
        if *self.program.owner == bpf_loader_upgradeable::ID {
            let (expected, _) =
                Pubkey::find_program_address(&[crate::ID.as_ref()], &bpf_loader_upgradeable::ID);
            let data = self
                .program_data
                .as_ref()
                .ok_or(error!(TesseraError::Unauthorized))?;
            require_keys_eq!(data.key(), expected, TesseraError::Unauthorized);
            // An immutable program (no upgrade authority; a genesis-loaded program shows the
            // all-zero key) has no one better to gate on.
            if let Some(upgrade_authority) = data
                .upgrade_authority_address
                .filter(|a| *a != Pubkey::default())
            {
                require_keys_eq!(
                    upgrade_authority,
                    self.authority.key(),
                    TesseraError::Unauthorized
                );
            }
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<InitializeConfig>, args: InitializeConfigArgs) -> Result<()> {
    let a = &ctx.accounts;
    let config_key = a.config.key();
    let vault_bump = ctx.bumps.escrow;
    pda::init_token_vault(
        &a.authority,
        &a.escrow,
        &a.mint.to_account_info(),
        &config_key,
        &a.token_program,
        &a.system_program,
        &[ESCROW_SEED, &[vault_bump]],
    )?;
    let vault = a.escrow.key();
    let config = &mut ctx.accounts.config;
    config.vault = vault;
    config.vault_bump = vault_bump;
    config.treasury_owed = 0;
    config.authority = ctx.accounts.authority.key();
    config.mint = ctx.accounts.mint.key();
    config.token_program = ctx.accounts.token_program.key();
    config.treasury = ctx.accounts.treasury.key();
    config.apply(&args.params);
    config.paused = false;
    config.pending_authority = Pubkey::default();
    config.bump = ctx.bumps.config;
    emit!(ConfigInitialized {
        config: config.key(),
        vault,
        authority: config.authority,
        mint: config.mint,
        token_program: config.token_program,
        treasury: config.treasury,
        params: args.params,
    });
    Ok(())
}
