use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{BidClosed, JobClaimed};
use crate::pda;
use crate::state::{
    Bid, Claim, ClaimCore, ClaimState, Config, JobHead, JobState, MarketType, Node, NodeHead,
};

#[derive(Accounts)]
pub struct ClaimJob<'info> {
    #[account(mut)]
    pub operator: Signer<'info>,
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Box<Account<'info, NodeHead>>,
    /// The new claim: canonical PDA `["claim", job, node]`, created by the handler, so one
    /// claim per (job, node): a second claim by the same node fails there.
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub claim: UncheckedAccount<'info>,
    /// The node's winning bid (auction jobs, first round only): spent by this claim, so it is
    /// closed here (rent back to the operator).
    #[account(
        mut,
        close = operator,
        constraint = bid.job == job.key() && bid.node == node.key() @ TesseraError::NotAuctionWinner,
    )]
    pub bid: Option<Box<Account<'info, Bid>>>,
    /// CHECK: the SlotHashes sysvar (address-pinned): where the round's seed slot stands.
    #[account(address = SLOT_HASHES_SYSVAR)]
    pub slot_hashes: UncheckedAccount<'info>,
    /// CHECK: the RecentBlockhashes sysvar (address-pinned): the round's sortition seed.
    #[account(address = RECENT_BLOCKHASHES_SYSVAR)]
    pub recent_blockhashes: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

impl ClaimJob<'_> {
    /// Returns the price this replica will be paid and whether it takes a reserved auction slot.
    pub fn validate(&self) -> Result<(u64, bool)> {
        crate::cu_mark!("validate");
        let clock = Clock::get()?;
        let now = clock.unix_timestamp;
        let job = &self.job;
        require!(!self.config.paused, TesseraError::Paused);
        require!(job.state != JobState::Bidding, TesseraError::AuctionJob);
        require!(job.state == JobState::Open, TesseraError::InvalidJobState);
        require!(now <= job.commit_deadline, TesseraError::WindowClosed);
        let hw = Node::hardware_caps(&self.node.to_account_info())?;
        job.check_eligible(&self.config, &self.node, &hw, now)?;
        crate::cu_mark!("eligible");
        let reserved = job.reserved_at(now);
        // An auction winner takes the slot held for it, at its bid, until `wins_until`.
        let (price, takes_reserved) = if let Some(bid) = self.bid.as_ref() {
            require!(
                job.market == MarketType::Auction && bid.won && reserved > 0,
                TesseraError::NotAuctionWinner
            );
            (bid.price, true)
        } else {
            // Everyone else (fixed market, escalation rounds, round-0 slots no winner holds)
            // takes a free slot at the job's (maximum) price.
            let taken = job
                .active_claims
                .checked_add(reserved)
                .ok_or(TesseraError::MathOverflow)?;
            require!(taken < job.slots, TesseraError::NoFreeSlot);
            // Only nodes the round's stake-weighted sortition draws may take a slot.
            job.check_sortition(
                &job.key(),
                &self.node.key(),
                &self.node,
                &self.config,
                &clock,
                &self.slot_hashes.try_borrow_data()?,
                &self.recent_blockhashes.try_borrow_data()?,
            )?;
            crate::cu_mark!("sortition");
            (job.price_per_replica, false)
        };
        // One stake cannot back unlimited concurrent claims: each locks collateral.
        require!(
            self.node.free_collateral() >= job.terms.collateral(price)?,
            TesseraError::InsufficientCollateral
        );
        Ok((price, takes_reserved))
    }
}

pub fn handler(ctx: Context<ClaimJob>) -> Result<()> {
    let (price, takes_reserved) = ctx.accounts.validate()?;
    crate::cu_mark!("validated");
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
    crate::cu_mark!("claim_pda_create");
    let claim = Claim {
        core: ClaimCore {
            job: job_key,
            node: node_key,
            operator: a.node.operator,
            price,
            claimed_at: now,
            deadline,
            committed_at: 0,
            revealed_at: 0,
            collateral: a.job.terms.collateral(price)?,
            commitment: [0; 32],
            result_hash: [0; 32],
            round: a.job.round,
            state: ClaimState::Claimed,
            bump,
            reserved: [0; 5],
        },
        output_uri: String::new(),
    };
    pda::write_account(&a.claim, &claim)?;
    crate::cu_mark!("claim_write");

    let job = &mut ctx.accounts.job;
    let node = &mut ctx.accounts.node;
    if takes_reserved {
        job.reserved_slots = job
            .reserved_slots
            .checked_sub(1)
            .ok_or(TesseraError::MathOverflow)?;
        job.bids = job.bids.checked_sub(1).ok_or(TesseraError::MathOverflow)?;
    }
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
    node.unsettled_claims = node
        .unsettled_claims
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    node.lock(claim.collateral)?;
    node.last_active = now;
    crate::cu_mark!("counters");
    emit!(JobClaimed {
        job: job_key,
        claim: ctx.accounts.claim.key(),
        node: node_key,
        price,
        round: claim.round,
        deadline: claim.deadline,
        active_claims: job.active_claims,
    });
    crate::cu_mark!("event");
    if takes_reserved {
        emit!(BidClosed {
            job: job_key,
            node: node_key,
        });
    }
    Ok(())
}
