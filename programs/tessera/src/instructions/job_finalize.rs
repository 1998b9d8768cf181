use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{
    AuditUndecided, JobCompleted, JobEscalated, JobExpired, JobFailed, MajorityReached,
    RevealOpened, RoundReopened,
};
use crate::state::{JobCore, JobHead, JobState};

#[derive(Accounts)]
pub struct FinalizeJob<'info> {
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
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
            } else if job.challenged {
                // an audit nobody committed to: the challenged majority stands
                close_undecided_audit(job, key);
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
            if job.challenged {
                audit_verdict(job, key, now, slot)?;
            } else if let Some(hash) = job.majority() {
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

/// The end of an audit round's reveals. Seats that did not reveal never decide the verdict:
/// * every seat revealed, or another hash already overturns, or no hash could overturn even
///   with the silent seats' votes: decided on the votes (the challenge window opens again);
/// * otherwise the silent seats are drawn again (a new round of as many seats, paid from the
///   client's budget; the silent claims are slashed as silent at settlement);
/// * with no budget or time left for that: undecided, the challenged majority stands.
pub fn audit_verdict(job: &mut JobCore, key: Pubkey, now: i64, slot: u64) -> Result<()> {
    let hash = job.majority().unwrap_or(job.challenged_hash);
    let silent = job.round_size.saturating_sub(job.round_reveals);
    if silent == 0 || hash != job.challenged_hash || !job.overturn_possible(silent) {
        open_challenge(job, key, hash, now);
        return Ok(());
    }
    // slots of the round that no claim holds are still free; only the rest is paid again
    let held = job.active_claims.saturating_add(job.reserved_at(now));
    let free = job.slots.saturating_sub(held);
    let extra = silent.saturating_sub(free);
    if job.budget_allows(extra)? && job.next_round_fits(now) {
        new_round(job, now, slot, extra, silent)?;
        emit!(JobEscalated {
            job: key,
            round: job.round,
            slots: job.slots,
            commit_deadline: job.commit_deadline,
            challenged: true,
        });
    } else {
        close_undecided_audit(job, key);
    }
    Ok(())
}

/// An audit that cannot finish: the challenged majority stands and the job completes.
pub fn close_undecided_audit(job: &mut JobCore, key: Pubkey) {
    let silent = job.round_size.saturating_sub(job.round_reveals);
    job.audit_undecided = true;
    job.state = JobState::Completed;
    job.winning_hash = job.challenged_hash;
    job.has_winner = true;
    emit!(AuditUndecided {
        job: key,
        result_hash: job.challenged_hash,
        silent_seats: silent,
    });
    emit!(JobCompleted {
        job: key,
        result_hash: job.winning_hash,
    });
}

/// A strict majority agreed on `hash`: the challenge window opens.
pub fn open_challenge(job: &mut JobCore, key: Pubkey, hash: [u8; 32], now: i64) {
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
pub fn escalate(job: &mut JobCore, now: i64, slot: u64, extra: u8) -> Result<()> {
    new_round(job, now, slot, extra, extra)
}

/// Open a new round of `size` seats, adding `extra` paid slots (a redrawn audit's silent seats
/// reuse the slots no claim holds).
fn new_round(job: &mut JobCore, now: i64, slot: u64, extra: u8, size: u8) -> Result<()> {
    job.round = job.round.checked_add(1).ok_or(TesseraError::MathOverflow)?;
    job.slots = job
        .slots
        .checked_add(extra)
        .ok_or(TesseraError::MathOverflow)?;
    job.round_size = size;
    job.has_winner = false;
    job.open_round(now, slot);
    Ok(())
}
