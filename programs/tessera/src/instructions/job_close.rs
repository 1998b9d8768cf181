use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::JobClosed;
use crate::state::{Config, Job};
use crate::token_ops;

#[derive(Accounts)]
pub struct CloseJob<'info> {
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = client,
        has_one = client @ TesseraError::NotClient,
    )]
    pub job: Box<Account<'info, Job>>,
    /// CHECK: the job's client (checked by `has_one`); receives rent and the refund.
    #[account(mut)]
    pub client: UncheckedAccount<'info>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = client,
        token::token_program = token_program,
    )]
    pub client_token: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the job's escrow, pinned by address (the token program checks the rest).
    #[account(mut, address = job.escrow @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    /// CHECK: the config's treasury, pinned by address (the token program checks the rest).
    #[account(mut, address = config.treasury @ TesseraError::VaultMismatch)]
    pub treasury: UncheckedAccount<'info>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl CloseJob<'_> {
    pub fn validate(&self) -> Result<()> {
        crate::cu_mark!("validate");
        let job = &self.job;
        require!(job.state.is_terminal(), TesseraError::JobNotSettled);
        require!(
            job.unsettled_claims == 0 && job.open_challenges == 0 && job.bids == 0,
            TesseraError::UnsettledClaims
        );
        Ok(())
    }
}

/// Permissionless once everything is settled: what is owed to the treasury (fees, its share of
/// slashes, forfeited bonds) goes there in one transfer; the rest of the escrow (unused budget,
/// the client's share of slashes) and all rent go to the client.
#[access_control(ctx.accounts.validate())]
pub fn handler(mut ctx: Context<CloseJob>) -> Result<()> {
    crate::cu_mark!("handler");
    let a = &mut ctx.accounts;
    let expected = a.job.escrow_expected()?;
    let owed = a.job.treasury_owed;
    // Tokens sent to the escrow from outside are the client's too.
    let balance = token_ops::amount_of(&a.escrow)?;
    crate::cu_mark!("escrow_balance");
    require!(balance >= expected, TesseraError::MathOverflow);
    let refund = balance
        .checked_sub(owed)
        .ok_or(TesseraError::MathOverflow)?;
    crate::job_signer_seeds!(a.job => seeds);
    let job_info = a.job.to_account_info();
    token_ops::transfer(
        &a.token_program,
        &a.mint,
        &a.escrow.to_account_info(),
        &a.treasury.to_account_info(),
        &job_info,
        &[seeds],
        owed,
    )?;
    crate::cu_mark!("treasury_transfer");
    token_ops::transfer(
        &a.token_program,
        &a.mint,
        &a.escrow.to_account_info(),
        &a.client_token.to_account_info(),
        &job_info,
        &[seeds],
        refund,
    )?;
    crate::cu_mark!("refund_transfer");
    token_ops::close(
        &a.token_program,
        &a.escrow.to_account_info(),
        &a.client.to_account_info(),
        &job_info,
        &[seeds],
    )?;
    crate::cu_mark!("escrow_close");
    let job = &mut a.job;
    job.refunded = job
        .refunded
        .checked_add(
            expected
                .checked_sub(owed)
                .ok_or(TesseraError::MathOverflow)?,
        )
        .ok_or(TesseraError::MathOverflow)?;
    job.treasury_owed = 0;
    emit!(JobClosed {
        job: job.key(),
        refund
    });
    crate::cu_mark!("event");
    Ok(())
}
