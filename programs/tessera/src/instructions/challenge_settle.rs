use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::ChallengeSettled;
use crate::state::{Challenge, Config, JobHead, JobState};
use crate::token_ops;

#[derive(Accounts)]
pub struct SettleChallenge<'info> {
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        close = challenger,
        has_one = job @ TesseraError::ClaimMismatch,
        has_one = challenger @ TesseraError::ClaimMismatch,
    )]
    pub challenge: Box<Account<'info, Challenge>>,
    /// CHECK: the challenger (checked by `has_one`); receives the challenge's rent.
    #[account(mut)]
    pub challenger: UncheckedAccount<'info>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = challenger,
        token::token_program = token_program,
    )]
    pub challenger_token: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl SettleChallenge<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(self.job.state.is_terminal(), TesseraError::JobNotSettled);
        // All claims first, so the wrong majority's slashes are in the challenger pool.
        require!(
            self.job.unsettled_claims == 0,
            TesseraError::UnsettledClaims
        );
        Ok(())
    }
}

/// Permissionless once the job and its claims are settled. Upheld (the disputed hash lost):
/// bond back plus an equal share of the challenger pool (the wrong majority's slashes) among
/// the job's challengers still to settle. Rejected (the disputed hash won): the audit's cost
/// goes to the client, the rest of the bond is owed to the treasury (paid by close_job).
/// Undecided (the audit could not finish, the challenged result stands): the audit's cost goes
/// to the client, the rest of the bond back. (A challenged job can no longer fail or expire.)
#[access_control(ctx.accounts.validate())]
pub fn handler(mut ctx: Context<SettleChallenge>) -> Result<()> {
    let a = &mut ctx.accounts;
    let bond = a.challenge.bond;
    let completed = a.job.state == JobState::Completed;
    let upheld = completed && a.job.winning_hash != a.challenge.challenged_hash;
    let undecided = completed && !upheld && a.job.audit_undecided;
    let rejected = completed && !upheld && !undecided;
    // Every challenge of a job disputes the same hash: all are upheld or none. The pool is
    // split evenly among the challenges still open (the last takes the remainder).
    let share = if upheld {
        a.job
            .challenger_pool
            .checked_div(u64::from(a.job.open_challenges))
            .ok_or(TesseraError::MathOverflow)?
    } else {
        0
    };
    let audit_cost = a.challenge.audit_cost.min(bond);
    let (returned, to_client, to_treasury) = if upheld {
        (
            bond.checked_add(share).ok_or(TesseraError::MathOverflow)?,
            0,
            0,
        )
    } else if rejected {
        (0, audit_cost, bond.saturating_sub(audit_cost)) // audit_cost ≤ bond
    } else if undecided {
        // a challenge that overturned nothing costs its audit, even when silent seats (not
        // the challenger) left it undecided: no one can fail a job for free
        (bond.saturating_sub(audit_cost), audit_cost, 0)
    } else {
        (bond, 0, 0)
    };
    crate::config_signer_seeds!(a.config => seeds);
    let config_info = a.config.to_account_info();
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.escrow.to_account_info(),
        &a.challenger_token.to_account_info(),
        &config_info,
        &[seeds],
        returned,
    )?;
    let job = &mut a.job;
    job.bonds_held = job
        .bonds_held
        .checked_sub(bond)
        .ok_or(TesseraError::MathOverflow)?;
    // a forfeited bond stays in escrow, owed to the treasury (paid by close_job)
    job.treasury_owed = job
        .treasury_owed
        .checked_add(to_treasury)
        .ok_or(TesseraError::MathOverflow)?;
    job.slashed_to_client = job
        .slashed_to_client
        .checked_add(to_client)
        .ok_or(TesseraError::MathOverflow)?;
    if upheld {
        job.challenger_pool = job
            .challenger_pool
            .checked_sub(share)
            .ok_or(TesseraError::MathOverflow)?;
    } else {
        // Nothing to reward: whatever was set aside goes to the client with the escrow.
        job.slashed_to_client = job
            .slashed_to_client
            .checked_add(job.challenger_pool)
            .ok_or(TesseraError::MathOverflow)?;
        job.challenger_pool = 0;
    }
    job.open_challenges = job
        .open_challenges
        .checked_sub(1)
        .ok_or(TesseraError::MathOverflow)?;
    emit!(ChallengeSettled {
        job: job.key(),
        challenger: a.challenge.challenger,
        upheld,
        returned,
        to_client,
        to_treasury,
    });
    Ok(())
}
