use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::AuctionClosed;
use crate::state::{Bid, Config, JobHead, JobState};

#[derive(Accounts)]
pub struct CloseAuction<'info> {
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    // remaining_accounts: every Bid account of the job (writable), in any order.
}

/// Permissionless after the bid deadline: the k lowest bids win (ties: earlier bid, then lower
/// node address), and the first round opens with a slot reserved for each winner. Slots the
/// auction did not fill (fewer bids than k, none at all) open to fixed-price claims at the
/// maximum price, so the job never sticks.
pub fn handler<'info>(ctx: Context<'info, CloseAuction<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let job_key = ctx.accounts.job.key();
    {
        let job = &ctx.accounts.job;
        require!(
            job.state == JobState::Bidding,
            TesseraError::InvalidJobState
        );
        require!(now > job.bid_deadline, TesseraError::WindowOpen);
        require!(
            ctx.remaining_accounts.len() == usize::from(job.bids),
            TesseraError::BidSetMismatch
        );
    }
    let mut bids: Vec<Account<'info, Bid>> = Vec::with_capacity(ctx.remaining_accounts.len());
    for info in ctx.remaining_accounts.iter() {
        require!(info.is_writable, TesseraError::BidSetMismatch);
        let bid: Account<'info, Bid> = Account::try_from(info)?;
        require_keys_eq!(bid.job, job_key, TesseraError::BidSetMismatch);
        // A program-owned Bid naming this job is one of its bids (only `place_bid` creates
        // them, at their PDA); distinct keys + the count make the set complete.
        require!(
            bids.iter().all(|b| b.key() != info.key()),
            TesseraError::BidSetMismatch
        );
        bids.push(bid);
    }
    bids.sort_by(|a, b| {
        (a.price, a.placed_at, a.node.to_bytes()).cmp(&(b.price, b.placed_at, b.node.to_bytes()))
    });
    let k = usize::from(ctx.accounts.job.replicas);
    let mut winners = Vec::new();
    let mut prices = Vec::new();
    for bid in bids.iter_mut().take(k) {
        bid.won = true;
        winners.push(bid.node);
        prices.push(bid.price);
        bid.exit(&crate::ID)?;
    }
    let job = &mut ctx.accounts.job;
    job.open_round(now, Clock::get()?.slot);
    // Each winner holds a round-0 slot until the first commit window closes; slots no bid won
    // are open to fixed-price claims at the maximum price right away (claim_job).
    job.reserved_slots = u8::try_from(winners.len()).map_err(|_| TesseraError::MathOverflow)?;
    job.wins_until = job.commit_deadline;
    emit!(AuctionClosed {
        job: job_key,
        winners,
        prices,
    });
    Ok(())
}
