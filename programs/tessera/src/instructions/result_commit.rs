use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::{ResultCommitted, RevealOpened};
use crate::state::{Claim, ClaimState, JobHead, JobState};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct CommitResultArgs {
    /// `commitment(result_hash, node, salt)` (see `state::claim::commitment`).
    pub commitment: [u8; 32],
}

#[derive(Accounts)]
pub struct CommitResult<'info> {
    pub operator: Signer<'info>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        has_one = job @ TesseraError::ClaimMismatch,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub claim: Box<Account<'info, Claim>>,
}

impl CommitResult<'_> {
    pub fn validate(&self) -> Result<()> {
        crate::cu_mark!("validate");
        let now = Clock::get()?.unix_timestamp;
        require!(
            self.job.state == JobState::Open,
            TesseraError::InvalidJobState
        );
        require!(
            self.claim.state == ClaimState::Claimed,
            TesseraError::InvalidClaimState
        );
        require!(self.claim.round == self.job.round, TesseraError::StaleRound);
        require!(now <= self.claim.deadline, TesseraError::WindowClosed);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<CommitResult>, args: CommitResultArgs) -> Result<()> {
    crate::cu_mark!("handler");
    let now = Clock::get()?.unix_timestamp;
    let reveal_secs = ctx.accounts.job.terms.reveal_window_secs;
    let claim = &mut ctx.accounts.claim;
    claim.commitment = args.commitment;
    claim.committed_at = now;
    claim.state = ClaimState::Committed;
    let job = &mut ctx.accounts.job;
    job.round_commits = job
        .round_commits
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    emit!(ResultCommitted {
        job: job.key(),
        claim: claim.key(),
        node: claim.node,
        commitment: args.commitment,
    });
    crate::cu_mark!("event");
    // Every slot is taken and every claim of this round has committed: reveal right away.
    if job.active_claims == job.slots && job.round_commits == job.round_claims {
        job.state = JobState::Revealing;
        job.reveal_deadline = now.saturating_add(reveal_secs);
        emit!(RevealOpened {
            job: job.key(),
            round: job.round,
            commits: job.round_commits,
            reveal_deadline: job.reveal_deadline,
        });
    }
    crate::cu_mark!("end");
    Ok(())
}
