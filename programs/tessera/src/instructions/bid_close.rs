use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::BidClosed;
use crate::state::{Bid, JobHead, JobState};

#[derive(Accounts)]
pub struct CloseBid<'info> {
    /// Anyone for a lost or lapsed bid; only the bid's operator for a win that can still be
    /// claimed (closing it gives the reserved slot up).
    pub closer: Signer<'info>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        close = operator,
        has_one = job @ TesseraError::BidSetMismatch,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub bid: Box<Account<'info, Bid>>,
    /// CHECK: the bid's operator (checked by `has_one`); receives the rent.
    #[account(mut)]
    pub operator: UncheckedAccount<'info>,
}

impl CloseBid<'_> {
    /// Whether the bid still holds a reserved slot (a win that may be claimed now).
    pub fn validate(&self, now: i64) -> Result<bool> {
        let job = &self.job;
        require!(
            job.state != JobState::Bidding,
            TesseraError::InvalidJobState
        );
        let usable = self.bid.won && job.state == JobState::Open && job.reserved_at(now) > 0;
        if usable {
            require_keys_eq!(
                self.closer.key(),
                self.bid.operator,
                TesseraError::BidStillUsable
            );
        }
        Ok(usable)
    }
}

/// Closes a bid once bidding is over, rent back to its operator. Lost bids and wins whose
/// claim window has lapsed: anyone. A win that can still be claimed: only its operator, who
/// gives the slot up (it opens to fixed-price claims).
pub fn handler(ctx: Context<CloseBid>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let forfeits = ctx.accounts.validate(now)?;
    let job = &mut ctx.accounts.job;
    if forfeits {
        job.reserved_slots = job
            .reserved_slots
            .checked_sub(1)
            .ok_or(TesseraError::MathOverflow)?;
    }
    job.bids = job.bids.checked_sub(1).ok_or(TesseraError::MathOverflow)?;
    emit!(BidClosed {
        job: job.key(),
        node: ctx.accounts.bid.node,
    });
    Ok(())
}
