use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::JobClaimed;
use crate::pda;
use crate::state::{Bid, Claim, ClaimState, Config, Job, JobState, MarketType, Node};

#[derive(Accounts)]
pub struct ClaimJob<'info> {
    #[account(mut)]
    pub operator: Signer<'info>,
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub job: Box<Account<'info, Job>>,
    #[account(
        mut,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Box<Account<'info, Node>>,
    /// The new claim: canonical PDA `["claim", job, node]`, created by the handler, so one
    /// claim per (job, node): a second claim by the same node fails there.
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub claim: UncheckedAccount<'info>,
    /// The node's winning bid (auction jobs, first round only).
    #[account(constraint = bid.job == job.key() && bid.node == node.key() @ TesseraError::NotAuctionWinner)]
    pub bid: Option<Box<Account<'info, Bid>>>,
    pub system_program: Program<'info, System>,
}

impl ClaimJob<'_> {
    /// Returns the price this replica will be paid.
    pub fn validate(&self) -> Result<u64> {
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        require!(!self.config.paused, TesseraError::Paused);
        require!(job.state != JobState::Bidding, TesseraError::AuctionJob);
        require!(job.state == JobState::Open, TesseraError::InvalidJobState);
        require!(now <= job.commit_deadline, TesseraError::WindowClosed);
        require!(job.active_claims < job.slots, TesseraError::NoFreeSlot);
        job.check_eligible(&self.config, &self.node, now)?;
        // Auction jobs: the first round's slots belong to the auction winners at their bids;
        // escalation rounds are open to anyone at the maximum price.
        if job.market == MarketType::Auction && job.round == 0 {
            let bid = self.bid.as_ref().ok_or(TesseraError::NotAuctionWinner)?;
            require!(bid.won, TesseraError::NotAuctionWinner);
            return Ok(bid.price);
        }
        Ok(job.price_per_replica)
    }
}

pub fn handler(ctx: Context<ClaimJob>) -> Result<()> {
    let price = ctx.accounts.validate()?;
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let (job_key, node_key) = (a.job.key(), a.node.key());
    let deadline = now
        .checked_add(a.job.exec_secs)
        .ok_or(TesseraError::MathOverflow)?
        .min(a.job.commit_deadline);
    let bump = pda::create_program_account(
        &a.operator,
        &a.claim,
        &a.system_program,
        &[CLAIM_SEED, job_key.as_ref(), node_key.as_ref()],
        8 + Claim::INIT_SPACE,
    )?;
    let claim = Claim {
        job: job_key,
        node: node_key,
        operator: a.node.operator,
        price,
        round: a.job.round,
        claimed_at: now,
        deadline,
        commitment: [0; 32],
        committed_at: 0,
        result_hash: [0; 32],
        output_uri: String::new(),
        revealed_at: 0,
        state: ClaimState::Claimed,
        bump,
    };
    pda::write_account(&a.claim, &claim)?;

    let job = &mut ctx.accounts.job;
    let node = &mut ctx.accounts.node;
    job.active_claims = job
        .active_claims
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    job.round_claims = job
        .round_claims
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    job.unsettled_claims = job
        .unsettled_claims
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    node.open_claims = node
        .open_claims
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    node.last_active = now;
    emit!(JobClaimed {
        job: job_key,
        claim: ctx.accounts.claim.key(),
        node: node_key,
        price,
        round: claim.round,
        deadline: claim.deadline,
        active_claims: job.active_claims,
    });
    Ok(())
}
