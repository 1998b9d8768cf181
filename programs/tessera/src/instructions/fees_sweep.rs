use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenInterface;

use crate::errors::TesseraError;
use crate::events::FeesSwept;
use crate::state::Config;
use crate::token_ops;

#[derive(Accounts)]
pub struct SweepFees<'info> {
    #[account(mut)]
    pub config: Box<Account<'info, Config>>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    /// CHECK: the config's treasury, pinned by address (the token program checks the rest).
    #[account(mut, address = config.treasury @ TesseraError::VaultMismatch)]
    pub treasury: UncheckedAccount<'info>,
    /// CHECK: pinned to the config's mint by address.
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: UncheckedAccount<'info>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

/// Permissionless: pay what closed jobs owe the treasury (protocol fees, its share of slashes,
/// forfeited bonds: `Config::treasury_owed`) from the escrow vault to the config's treasury in
/// one transfer, so no job pays a transfer for its fee. Only ever to the config's treasury.
pub fn handler(ctx: Context<SweepFees>) -> Result<()> {
    let a = ctx.accounts;
    let amount = a.config.treasury_owed;
    require!(amount > 0, TesseraError::ZeroAmount);
    crate::config_signer_seeds!(a.config => seeds);
    token_ops::transfer(
        &a.token_program,
        &a.mint,
        &a.escrow,
        &a.treasury,
        &a.config.to_account_info(),
        &[seeds],
        amount,
    )?;
    a.config.treasury_owed = 0;
    emit!(FeesSwept {
        treasury: a.config.treasury,
        amount,
    });
    Ok(())
}
