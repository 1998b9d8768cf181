use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{
    JobCompleted, JobEscalated, JobExpired, JobFailed, MajorityReached, RevealOpened, RoundReopened,
};
use crate::state::{Job, JobState};

#[derive(Accounts)]
pub struct FinalizeJob<'info> {
    #[account(mut)]
    pub job: Box<Account<'info, Job>>,
}

/// Permissionless crank that moves a job past a closed window:
/// * `Open`, commit window over: with commitments -> `Revealing`; without -> the window
///   restarts while the deadline allows, else `Expired` (or `Failed` after earlier rounds).
/// * `Revealing`, all revealed or reveal window over: strict majority -> `Challenge`;
///   none -> escalate (more slots) while budget and deadline allow, else `Failed`.
/// * `Challenge`, challenge window over -> `Completed`.
pub fn handler(ctx: Context<FinalizeJob>) -> Result<()> {
    let clock = Clock::get()?;
    let (now, slot) = (clock.unix_timestamp, clock.slot);
    let job = &mut ctx.accounts.job;
    let terms = job.terms;
    let key = job.key();
    match job.state {
        JobState::Open => {
            require!(now > job.commit_deadline, TesseraError::WindowOpen);
            if job.round_commits > 0 {
                job.state = JobState::Revealing;
                job.reveal_deadline = now.saturating_add(terms.reveal_window_secs);
                emit!(RevealOpened {
                    job: key,
                    round: job.round,
                    commits: job.round_commits,
                    reveal_deadline: job.reveal_deadline,
                });
            } else if job.next_round_fits(now) {
                job.reopen_round(now, slot);
                emit!(RoundReopened {
                    job: key,
                    round: job.round,
                    commit_deadline: job.commit_deadline,
                });
            } else if job.round == 0 {
                job.state = JobState::Expired;
                emit!(JobExpired { job: key });
            } else {
                job.state = JobState::Failed;
                emit!(JobFailed {
                    job: key,
                    round: job.round
                });
            }
        }
        JobState::Revealing => {
            require!(
                job.round_reveals == job.round_commits || now > job.reveal_deadline,
                TesseraError::WindowOpen
            );
            if let Some(hash) = job.majority() {
                open_challenge(job, key, hash, now);
            } else if !job.challenged
                && job.budget_allows(ESCALATION_SLOTS)?
                && job.next_round_fits(now)
            {
                escalate(job, now, slot, ESCALATION_SLOTS)?;
                emit!(JobEscalated {
                    job: key,
                    round: job.round,
                    slots: job.slots,
                    commit_deadline: job.commit_deadline,
                    challenged: false,
                });
            } else {
                job.state = JobState::Failed;
                emit!(JobFailed {
                    job: key,
                    round: job.round
                });
            }
        }
        JobState::Challenge => {
            require!(now > job.challenge_deadline, TesseraError::WindowOpen);
            job.state = JobState::Completed;
            emit!(JobCompleted {
                job: key,
                result_hash: job.winning_hash,
            });
        }
        _ => return err!(TesseraError::InvalidJobState),
    }
    Ok(())
}

/// A strict majority agreed on `hash`: the challenge window opens.
pub fn open_challenge(job: &mut Job, key: Pubkey, hash: [u8; 32], now: i64) {
    job.state = JobState::Challenge;
    job.winning_hash = hash;
    job.has_winner = true;
    job.challenge_deadline = now.saturating_add(job.terms.challenge_window_secs);
    let votes = job
        .tally
        .iter()
        .find(|t| t.hash == hash)
        .map(|t| t.count)
        .unwrap_or(0);
    emit!(MajorityReached {
        job: key,
        result_hash: hash,
        votes,
        challenge_deadline: job.challenge_deadline,
    });
}

/// Add `extra` paid slots (an escalation's ESCALATION_SLOTS, or an audit) and open a new round.
pub fn escalate(job: &mut Job, now: i64, slot: u64, extra: u8) -> Result<()> {
    job.round = job.round.checked_add(1).ok_or(TesseraError::MathOverflow)?;
    job.slots = job
        .slots
        .checked_add(extra)
        .ok_or(TesseraError::MathOverflow)?;
    job.round_size = extra;
    job.has_winner = false;
    job.open_round(now, slot);
    Ok(())
}
