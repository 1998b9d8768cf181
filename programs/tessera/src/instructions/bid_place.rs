use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::BidPlaced;
use crate::state::{Bid, Config, Job, JobState, MarketType, Node};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct PlaceBidArgs {
    pub price: u64,
}

#[derive(Accounts)]
pub struct PlaceBid<'info> {
    #[account(mut)]
    pub operator: Signer<'info>,
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub job: Box<Account<'info, Job>>,
    #[account(
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Box<Account<'info, Node>>,
    #[account(
        init,
        payer = operator,
        space = 8 + Bid::INIT_SPACE,
        seeds = [BID_SEED, job.key().as_ref(), node.key().as_ref()],
        bump,
    )]
    pub bid: Box<Account<'info, Bid>>,
    pub system_program: Program<'info, System>,
}

impl PlaceBid<'_> {
    pub fn validate(&self, args: &PlaceBidArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        require!(!self.config.paused, TesseraError::Paused);
        require!(
            job.market == MarketType::Auction,
            TesseraError::NotAuctionJob
        );
        require!(
            job.state == JobState::Bidding,
            TesseraError::InvalidJobState
        );
        require!(now <= job.bid_deadline, TesseraError::WindowClosed);
        require!(args.price > 0, TesseraError::InvalidPrice);
        require!(
            args.price <= job.price_per_replica,
            TesseraError::BidTooHigh
        );
        require!(job.bids < MAX_BIDS, TesseraError::NoFreeSlot);
        job.check_eligible(&self.config, &self.node, now)
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<PlaceBid>, args: PlaceBidArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let bid = &mut ctx.accounts.bid;
    bid.job = ctx.accounts.job.key();
    bid.node = ctx.accounts.node.key();
    bid.operator = ctx.accounts.operator.key();
    bid.price = args.price;
    bid.placed_at = now;
    bid.won = false;
    bid.bump = ctx.bumps.bid;
    let job = &mut ctx.accounts.job;
    job.bids = job.bids.checked_add(1).ok_or(TesseraError::MathOverflow)?;
    emit!(BidPlaced {
        job: job.key(),
        node: bid.node,
        price: args.price,
    });
    Ok(())
}
