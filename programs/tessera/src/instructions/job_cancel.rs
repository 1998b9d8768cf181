use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::JobCancelled;
use crate::state::{Config, JobHead, JobState};
use crate::token_ops;

#[derive(Accounts)]
pub struct CancelJob<'info> {
    pub client: Signer<'info>,
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        has_one = client @ TesseraError::NotClient,
    )]
    pub job: Box<Account<'info, JobHead>>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = client,
        token::token_program = token_program,
    )]
    pub client_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl CancelJob<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(
            matches!(self.job.state, JobState::Open | JobState::Bidding),
            TesseraError::InvalidJobState
        );
        require!(
            self.job.unsettled_claims == 0 && self.job.active_claims == 0,
            TesseraError::JobHasClaims
        );
        Ok(())
    }
}

/// The client takes the job back while nothing is claimed: the whole escrow is refunded.
#[access_control(ctx.accounts.validate())]
pub fn handler(mut ctx: Context<CancelJob>) -> Result<()> {
    let a = &mut ctx.accounts;
    let refund = a.job.escrow_expected()?;
    crate::config_signer_seeds!(a.config => seeds);
    let config_info = a.config.to_account_info();
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.escrow.to_account_info(),
        &a.client_token.to_account_info(),
        &config_info,
        &[seeds],
        refund,
    )?;
    let job = &mut a.job;
    job.refunded = job
        .refunded
        .checked_add(refund)
        .ok_or(TesseraError::MathOverflow)?;
    job.state = JobState::Cancelled;
    emit!(JobCancelled {
        job: job.key(),
        refund
    });
    Ok(())
}
