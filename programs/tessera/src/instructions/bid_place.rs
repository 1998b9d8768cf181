use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::BidPlaced;
use crate::pda;
use crate::state::{Bid, Config, JobHead, JobState, MarketType, Node, NodeHead};

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
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Box<Account<'info, NodeHead>>,
    /// The new bid: canonical PDA `["bid", job, node]` (one bid per node per job), created by
    /// the handler (see `pda`).
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub bid: UncheckedAccount<'info>,
    /// CHECK: the SlotHashes sysvar (address-pinned): where the bidding's seed slot stands.
    #[account(address = SLOT_HASHES_SYSVAR)]
    pub slot_hashes: UncheckedAccount<'info>,
    /// CHECK: the RecentBlockhashes sysvar (address-pinned): the bidding's sortition seed.
    #[account(address = RECENT_BLOCKHASHES_SYSVAR)]
    pub recent_blockhashes: UncheckedAccount<'info>,
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
            args.price >= self.config.min_price_per_replica,
            TesseraError::PriceBelowMinimum
        );
        require!(
            args.price <= job.price_per_replica,
            TesseraError::BidTooHigh
        );
        require!(job.bids < MAX_BIDS, TesseraError::NoFreeSlot);
        let hw = Node::hardware_caps(&self.node.to_account_info())?;
        job.check_eligible(&self.config, &self.node, &hw, now)?;
        // bids are drawn by the same sortition as claims
        job.check_sortition(
            &job.key(),
            &self.node.key(),
            &self.node,
            &self.config,
            &Clock::get()?,
            &self.slot_hashes.try_borrow_data()?,
            &self.recent_blockhashes.try_borrow_data()?,
        )
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<PlaceBid>, args: PlaceBidArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let (job_key, node_key) = (a.job.key(), a.node.key());
    let bump = pda::create_program_account(
        &a.operator,
        &a.bid,
        &a.system_program,
        &[BID_SEED, job_key.as_ref(), node_key.as_ref()],
        8 + Bid::INIT_SPACE,
    )?;
    let bid = Bid {
        job: job_key,
        node: node_key,
        operator: a.operator.key(),
        price: args.price,
        placed_at: now,
        won: false,
        bump,
    };
    pda::write_account(&a.bid, &bid)?;
    let job = &mut ctx.accounts.job;
    job.bids = job.bids.checked_add(1).ok_or(TesseraError::MathOverflow)?;
    emit!(BidPlaced {
        job: job.key(),
        node: bid.node,
        price: args.price,
    });
    Ok(())
}
