use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{ResultRevealed, RevealOpened};
use crate::state::{commitment, Claim, ClaimState, JobHead, JobState};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RevealResultArgs {
    pub result_hash: [u8; 32],
    pub salt: [u8; 32],
    pub output_uri: String,
}

#[derive(Accounts)]
pub struct RevealResult<'info> {
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

impl RevealResult<'_> {
    pub fn validate(&self, args: &RevealResultArgs, now: i64) -> Result<()> {
        require!(
            self.job.state == JobState::Revealing,
            TesseraError::InvalidJobState
        );
        require!(now <= self.job.reveal_deadline, TesseraError::WindowClosed);
        require!(
            self.claim.state == ClaimState::Committed,
            TesseraError::InvalidClaimState
        );
        require!(self.claim.round == self.job.round, TesseraError::StaleRound);
        require!(
            args.output_uri.len() <= MAX_URI_LEN,
            TesseraError::StringTooLong
        );
        require!(
            commitment(&args.result_hash, &self.claim.node, &args.salt) == self.claim.commitment,
            TesseraError::CommitmentMismatch
        );
        Ok(())
    }
}

pub fn handler(ctx: Context<RevealResult>, args: RevealResultArgs) -> Result<()> {
    crate::cu_mark!("handler");
    let now = Clock::get()?.unix_timestamp;
    // The commit window closed with some commitments: the reveal phase opens lazily.
    {
        let job = &mut ctx.accounts.job;
        let reveal_secs = job.terms.reveal_window_secs;
        if job.state == JobState::Open && now > job.commit_deadline && job.round_commits > 0 {
            job.state = JobState::Revealing;
            job.reveal_deadline = job.commit_deadline.saturating_add(reveal_secs);
            emit!(RevealOpened {
                job: job.key(),
                round: job.round,
                commits: job.round_commits,
                reveal_deadline: job.reveal_deadline,
            });
        }
    }
    crate::cu_mark!("lazy_open");
    ctx.accounts.validate(&args, now)?;
    crate::cu_mark!("validate_commitment");
    let claim = &mut ctx.accounts.claim;
    claim.result_hash = args.result_hash;
    claim.output_uri = args.output_uri.clone();
    claim.revealed_at = now;
    claim.state = ClaimState::Revealed;
    let job = &mut ctx.accounts.job;
    crate::cu_mark!("claim_update");
    job.tally_add(args.result_hash)?;
    crate::cu_mark!("tally");
    job.round_reveals = job
        .round_reveals
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    emit!(ResultRevealed {
        job: job.key(),
        claim: claim.key(),
        node: claim.node,
        result_hash: args.result_hash,
        output_uri: args.output_uri,
    });
    crate::cu_mark!("event");
    after_reveal(job, now)?;
    crate::cu_mark!("verdict");
    Ok(())
}

/// After a reveal: the last reveal of the round with a strict majority opens the challenge
/// window itself (no finalize_job needed). Without a majority the round stays for
/// finalize_job, which escalates or fails it. An audit round decides through the same verdict
/// as finalize_job (silent seats never decide it).
pub fn after_reveal(job: &mut Account<JobHead>, now: i64) -> Result<()> {
    if job.round_reveals == job.round_commits {
        let key = job.key();
        if job.challenged {
            super::job_finalize::audit_verdict(job, key, now, Clock::get()?.slot)?;
        } else if let Some(hash) = job.majority() {
            super::job_finalize::open_challenge(job, key, hash, now);
        }
    }
    Ok(())
}
