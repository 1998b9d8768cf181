use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::BidClosed;
use crate::state::{Bid, Job, JobState};

#[derive(Accounts)]
pub struct CloseBid<'info> {
    #[account(mut)]
    pub job: Box<Account<'info, Job>>,
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

/// Permissionless once bidding is over: closes a bid, rent back to its operator.
pub fn handler(ctx: Context<CloseBid>) -> Result<()> {
    let job = &mut ctx.accounts.job;
    require!(
        job.state != JobState::Bidding,
        TesseraError::InvalidJobState
    );
    job.bids = job.bids.checked_sub(1).ok_or(TesseraError::MathOverflow)?;
    emit!(BidClosed {
        job: job.key(),
        node: ctx.accounts.bid.node,
    });
    Ok(())
}
