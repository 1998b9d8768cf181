use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{ResultSubmitted, RevealOpened};
use crate::state::{commitment, Claim, ClaimState, JobHead, JobState};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct SubmitResultArgs {
    pub result_hash: [u8; 32],
    pub output_uri: String,
}

#[derive(Accounts)]
pub struct SubmitResult<'info> {
    pub operator: Signer<'info>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        has_one = job @ TesseraError::ClaimMismatch,
        has_one = operator @ TesseraError::ClaimMismatch,
    )]
    pub claim: Box<Account<'info, Claim>>,
}

impl SubmitResult<'_> {
    pub fn validate(&self, args: &SubmitResultArgs) -> Result<()> {
        crate::cu_mark!("validate");
        let now = Clock::get()?.unix_timestamp;
        let (job, claim) = (&self.job, &self.claim);
        require!(job.state == JobState::Open, TesseraError::InvalidJobState);
        require!(
            claim.state == ClaimState::Claimed,
            TesseraError::InvalidClaimState
        );
        require!(claim.round == job.round, TesseraError::StaleRound);
        require!(now <= claim.deadline, TesseraError::WindowClosed);
        require!(
            args.output_uri.len() <= MAX_URI_LEN,
            TesseraError::StringTooLong
        );
        // Commit-reveal keeps a replica from copying another's result before committing. The
        // round's last commitment, with every slot taken, has nobody left to copy it: it may
        // reveal at once. Anyone else commits first (commit_result).
        let commits = job
            .round_commits
            .checked_add(1)
            .ok_or(TesseraError::MathOverflow)?;
        require!(
            job.active_claims == job.slots && commits == job.round_claims,
            TesseraError::RoundNotComplete
        );
        Ok(())
    }
}

/// `commit_result` and `reveal_result` in one for the last commitment of a full round: the
/// round moves to its reveal phase and this result is revealed; if it was the round's only
/// commitment (k = 1) the verdict follows at once (`reveal_result::after_reveal`).
#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<SubmitResult>, args: SubmitResultArgs) -> Result<()> {
    crate::cu_mark!("handler");
    let now = Clock::get()?.unix_timestamp;
    let claim = &mut ctx.accounts.claim;
    // the commitment it would have posted (salt zero: it opens in the same instruction)
    claim.commitment = commitment(&args.result_hash, &claim.node, &[0; 32]);
    claim.committed_at = now;
    claim.result_hash = args.result_hash;
    claim.output_uri = args.output_uri.clone();
    claim.revealed_at = now;
    claim.state = ClaimState::Revealed;
    let job = &mut ctx.accounts.job;
    job.round_commits = job
        .round_commits
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    job.state = JobState::Revealing;
    job.reveal_deadline = now.saturating_add(job.terms.reveal_window_secs);
    crate::cu_mark!("commitment");
    job.tally_add(args.result_hash)?;
    job.round_reveals = job
        .round_reveals
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    crate::cu_mark!("tally");
    emit!(ResultSubmitted {
        job: job.key(),
        claim: claim.key(),
        node: claim.node,
        round: claim.round,
        result_hash: args.result_hash,
        output_uri: args.output_uri,
    });
    crate::cu_mark!("event");
    if job.round_reveals < job.round_commits {
        // the round's other commitments reveal now
        emit!(RevealOpened {
            job: job.key(),
            round: job.round,
            commits: job.round_commits,
            reveal_deadline: job.reveal_deadline,
        });
    }
    super::result_reveal::after_reveal(job, now)?;
    crate::cu_mark!("verdict");
    Ok(())
}
