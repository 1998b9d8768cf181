use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::{JobExpired, JobFailed};
use crate::state::{JobHead, JobState};

#[derive(Accounts)]
pub struct ExpireJob<'info> {
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
}

impl ExpireJob<'_> {
    pub fn validate(&self) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        require!(now > self.job.deadline, TesseraError::WindowOpen);
        require!(
            matches!(self.job.state, JobState::Open | JobState::Bidding)
                && self.job.round_commits == 0,
            TesseraError::InvalidJobState
        );
        Ok(())
    }
}

/// Permissionless: the job deadline passed with nothing left to evaluate. First-round jobs
/// expire, later rounds fail, an unfinished audit leaves the challenged majority standing;
/// either way `settle_claim` then `close_job` return every token.
#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<ExpireJob>) -> Result<()> {
    let job = &mut ctx.accounts.job;
    let key = job.key();
    if job.challenged {
        // an audit that never got a commitment: the challenged majority stands
        super::job_finalize::close_undecided_audit(job, key);
    } else if job.round == 0 && job.tally_len == 0 {
        job.state = JobState::Expired;
        emit!(JobExpired { job: job.key() });
    } else {
        job.state = JobState::Failed;
        emit!(JobFailed {
            job: job.key(),
            round: job.round
        });
    }
    Ok(())
}
