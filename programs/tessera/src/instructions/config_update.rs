use anchor_lang::prelude::*;
use anchor_spl::token_interface::{TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::ConfigUpdated;
use crate::state::{Config, ConfigParams};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct UpdateConfigArgs {
    /// New parameters (validated as a whole); `None` keeps the current ones.
    pub params: Option<ConfigParams>,
    /// Propose another key as the authority; it takes over only when it signs
    /// `accept_authority`. `Some(Pubkey::default())` withdraws a proposal; `None` keeps it.
    pub new_authority: Option<Pubkey>,
}

#[derive(Accounts)]
pub struct UpdateConfig<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        has_one = authority @ TesseraError::Unauthorized,
    )]
    pub config: Account<'info, Config>,
    /// A new treasury token account (same mint); omit to keep the current one.
    #[account(
        token::token_program = token_program,
        constraint = new_treasury.mint == config.mint @ TesseraError::TreasuryMintMismatch,
    )]
    pub new_treasury: Option<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl UpdateConfig<'_> {
    pub fn validate(&self, args: &UpdateConfigArgs) -> Result<()> {
        if let Some(p) = &args.params {
            p.validate()?;
            // stake snapshots are kept in epochs of this length: renumbering them would let
            // stake count early
            require!(
                p.stake_epoch_slots == self.config.stake_epoch_slots,
                TesseraError::StakeEpochFixed
            );
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<UpdateConfig>, args: UpdateConfigArgs) -> Result<()> {
    let config = &mut ctx.accounts.config;
    if let Some(p) = &args.params {
        config.apply(p);
    }
    if let Some(a) = args.new_authority {
        config.pending_authority = a;
    }
    if let Some(t) = &ctx.accounts.new_treasury {
        config.treasury = t.key();
    }
    emit!(ConfigUpdated {
        config: config.key(),
        authority: ctx.accounts.authority.key(),
        pending_authority: config.pending_authority,
        treasury: config.treasury,
        params: config.params(),
    });
    Ok(())
}
