use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::JobPosted;
use crate::state::{Config, Job, JobState, MarketType, Requirements, Tally};
use crate::token_ops;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct PostJobArgs {
    /// Client-chosen id, unique per client (part of the job PDA seeds).
    pub job_id: u64,
    pub kernel_id: u16,
    pub spec_version: u16,
    pub spec_hash: [u8; 32],
    pub input_uri: String,
    pub market: MarketType,
    /// Fixed price per replica, or the maximum price in an auction.
    pub price_per_replica: u64,
    pub replicas: u8,
    /// Escalation rounds budgeted (each adds ESCALATION_SLOTS paid slots).
    pub max_escalations: u8,
    pub requirements: Requirements,
    /// Seconds a claimer has to commit after claiming (at most the commit window).
    pub exec_secs: i64,
    /// Absolute unix time after which unspent escrow is refunded.
    pub deadline: i64,
    /// Auction only: absolute end of bidding.
    pub bid_deadline: i64,
}

#[derive(Accounts)]
#[instruction(args: PostJobArgs)]
pub struct PostJob<'info> {
    #[account(mut)]
    pub client: Signer<'info>,
    pub config: Account<'info, Config>,
    #[account(
        init,
        payer = client,
        space = 8 + Job::INIT_SPACE,
        seeds = [JOB_SEED, client.key().as_ref(), &args.job_id.to_le_bytes()],
        bump,
    )]
    pub job: Box<Account<'info, Job>>,
    #[account(
        init,
        payer = client,
        seeds = [ESCROW_SEED, job.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = job,
        token::token_program = token_program,
    )]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = client,
        token::token_program = token_program,
    )]
    pub client_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl PostJob<'_> {
    pub fn validate(&self, args: &PostJobArgs) -> Result<()> {
        let c = &self.config;
        let now = Clock::get()?.unix_timestamp;
        require!(!c.paused, TesseraError::Paused);
        require!(
            args.replicas >= 1 && args.replicas <= c.max_replicas,
            TesseraError::InvalidReplicas
        );
        require!(
            args.max_escalations <= c.escalation_cap,
            TesseraError::InvalidEscalations
        );
        require!(args.price_per_replica > 0, TesseraError::InvalidPrice);
        require!(
            args.input_uri.len() <= MAX_URI_LEN,
            TesseraError::StringTooLong
        );
        require!(
            args.requirements.capabilities & !CAP_ALL == 0
                && u64::from(args.requirements.min_reputation_bps) <= BPS_DENOMINATOR,
            TesseraError::InvalidCapabilities
        );
        require!(
            args.exec_secs > 0 && args.exec_secs <= c.commit_window_secs,
            TesseraError::InvalidDeadline
        );
        let round = c
            .commit_window_secs
            .checked_add(c.reveal_window_secs)
            .ok_or(TesseraError::MathOverflow)?;
        let mut first_round_start = now;
        if args.market == MarketType::Auction {
            require!(
                args.bid_deadline > now && args.bid_deadline <= now.saturating_add(MAX_PERIOD_SECS),
                TesseraError::InvalidDeadline
            );
            first_round_start = args.bid_deadline;
        }
        require!(
            args.deadline >= first_round_start.saturating_add(round)
                && args.deadline <= now.saturating_add(MAX_PERIOD_SECS),
            TesseraError::InvalidDeadline
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<PostJob>, args: PostJobArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let config = &ctx.accounts.config;
    let budget = Job::budget_slots(args.replicas, args.max_escalations)?;
    let deposit = args
        .price_per_replica
        .checked_mul(u64::from(budget))
        .ok_or(TesseraError::MathOverflow)?;
    let value = args
        .price_per_replica
        .checked_mul(u64::from(args.replicas))
        .ok_or(TesseraError::MathOverflow)?;
    let a = &ctx.accounts;
    token_ops::transfer(
        &a.token_program,
        &a.mint,
        &a.client_token.to_account_info(),
        &a.escrow.to_account_info(),
        &a.client.to_account_info(),
        &[],
        deposit,
    )?;

    let job = &mut ctx.accounts.job;
    job.client = ctx.accounts.client.key();
    job.job_id = args.job_id;
    job.kernel_id = args.kernel_id;
    job.spec_version = args.spec_version;
    job.spec_hash = args.spec_hash;
    job.input_uri = args.input_uri.clone();
    job.market = args.market;
    job.price_per_replica = args.price_per_replica;
    job.replicas = args.replicas;
    job.max_escalations = args.max_escalations;
    job.slots = args.replicas;
    job.round = 0;
    job.requirements = args.requirements;
    job.exec_secs = args.exec_secs;
    job.created_at = now;
    job.deadline = args.deadline;
    job.priority_until = if value >= config.priority_min_value {
        now.saturating_add(config.priority_window_secs)
    } else {
        now
    };
    job.tally = [Tally::default(); MAX_SLOTS];
    job.tally_len = 0;
    job.deposit = deposit;
    job.bump = ctx.bumps.job;
    job.escrow_bump = ctx.bumps.escrow;
    job.escrow = ctx.accounts.escrow.key();
    match args.market {
        MarketType::Fixed => {
            job.bid_deadline = 0;
            job.open_round(now, config.commit_window_secs);
        }
        MarketType::Auction => {
            job.bid_deadline = args.bid_deadline;
            job.state = JobState::Bidding;
        }
    }
    emit!(JobPosted {
        job: job.key(),
        client: job.client,
        job_id: job.job_id,
        kernel_id: job.kernel_id,
        spec_version: job.spec_version,
        spec_hash: job.spec_hash,
        input_uri: job.input_uri.clone(),
        market: job.market,
        price_per_replica: job.price_per_replica,
        replicas: job.replicas,
        max_escalations: job.max_escalations,
        deposit,
        deadline: job.deadline,
    });
    Ok(())
}
