use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenInterface;

use crate::errors::TesseraError;
use crate::events::JobClosed;
use crate::state::{Config, JobCore, JobHead};
use crate::token_ops;

#[derive(Accounts)]
pub struct CloseJob<'info> {
    /// Writable: what the job owes the treasury moves into `treasury_owed`.
    #[account(mut)]
    pub config: Box<Account<'info, Config>>,
    #[account(mut, has_one = client @ TesseraError::NotClient)]
    pub job: Box<Account<'info, JobHead>>,
    /// CHECK: the job's client (checked by `has_one`); receives rent and the refund.
    #[account(mut)]
    pub client: UncheckedAccount<'info>,
    /// The client's token account of the network mint: the refund goes here.
    /// CHECK: checked when a refund goes to it (`token_ops::check_wallet_account`).
    #[account(mut)]
    pub client_token: UncheckedAccount<'info>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    /// CHECK: pinned to the config's mint by address.
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: UncheckedAccount<'info>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl CloseJob<'_> {
    pub fn validate(&self) -> Result<()> {
        let job = &self.job;
        require!(job.state.is_terminal(), TesseraError::JobNotSettled);
        require!(
            job.unsettled_claims == 0 && job.open_challenges == 0 && job.bids == 0,
            TesseraError::UnsettledClaims
        );
        Ok(())
    }
}

/// Permissionless once everything is settled (see [`close_settled`]).
#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<CloseJob>) -> Result<()> {
    let a = ctx.accounts;
    close_settled(
        &mut a.config,
        &mut a.job,
        &a.client,
        &a.client_token,
        &a.escrow,
        &a.mint,
        &a.token_program,
    )
}

/// A finished job whose claims, challenges and bids are all settled can close.
pub fn closable(job: &JobCore) -> bool {
    job.state.is_terminal()
        && job.unsettled_claims == 0
        && job.open_challenges == 0
        && job.bids == 0
}

/// Close a [`closable`] job: what it owes the treasury (fees, its share of slashes, forfeited
/// bonds) moves to the config's `treasury_owed` (paid by `sweep_fees` in batches, no transfer
/// here); the rest of its escrow (unused budget, the client's share of slashes) goes back to
/// the client's token account; the job's rent goes to the client. The job's escrow share is
/// zero afterwards.
pub fn close_settled<'info>(
    config: &mut Account<'info, Config>,
    job: &mut Account<'info, JobHead>,
    client: &AccountInfo<'info>,
    client_token: &AccountInfo<'info>,
    escrow: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    token_program: &Interface<'info, TokenInterface>,
) -> Result<()> {
    let expected = job.escrow_expected()?;
    let owed = job.treasury_owed;
    let refund = expected
        .checked_sub(owed)
        .ok_or(TesseraError::MathOverflow)?;
    if refund > 0 {
        token_ops::check_wallet_account(client_token, &job.client, config)?;
        crate::config_signer_seeds!(config => seeds);
        token_ops::transfer(
            token_program,
            mint,
            escrow,
            client_token,
            &config.to_account_info(),
            &[seeds],
            refund,
        )?;
    }
    config.treasury_owed = config
        .treasury_owed
        .checked_add(owed)
        .ok_or(TesseraError::MathOverflow)?;
    job.refunded = job
        .refunded
        .checked_add(refund)
        .ok_or(TesseraError::MathOverflow)?;
    job.treasury_owed = 0;
    emit!(JobClosed {
        job: job.key(),
        refund,
        to_treasury: owed,
    });
    job.close(client.clone())
}
