use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenInterface;

use crate::pda;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::JobPosted;
use crate::state::{
    Config, Job, JobCore, JobRequirements, JobState, MarketType, Requirements, Tally,
};
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
pub struct PostJob<'info> {
    #[account(mut)]
    pub client: Signer<'info>,
    pub config: Account<'info, Config>,
    /// The new job: canonical PDA `["job", client, job_id]`, created by the handler (see
    /// `pda`: Anchor's `init` costs 1 500 CU per bump step).
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub job: UncheckedAccount<'info>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest): the deposit moves in, the job's accounting keeps its share.
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    /// CHECK: the deposit's source; the client signs the transfer as its owner, and the token
    /// program checks it holds the mint.
    #[account(mut)]
    pub client_token: UncheckedAccount<'info>,
    /// CHECK: pinned to the config's mint by address.
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: UncheckedAccount<'info>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl PostJob<'_> {
    pub fn validate(&self, args: &PostJobArgs) -> Result<()> {
        crate::cu_mark!("validate");
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
        // An even k can split evenly with no majority; only an escalation round can break
        // the tie (docs/PROTOCOL.md, "Split votes").
        require!(
            !args.replicas.is_multiple_of(2) || args.max_escalations > 0,
            TesseraError::NoMajorityPossible
        );
        require!(args.price_per_replica > 0, TesseraError::InvalidPrice);
        require!(
            args.price_per_replica >= c.min_price_per_replica,
            TesseraError::PriceBelowMinimum
        );
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
    crate::cu_mark!("handler");
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let config = &a.config;
    let budget = JobCore::budget_slots(args.replicas, args.max_escalations)?;
    let deposit = args
        .price_per_replica
        .checked_mul(u64::from(budget))
        .ok_or(TesseraError::MathOverflow)?;
    let value = args
        .price_per_replica
        .checked_mul(u64::from(args.replicas))
        .ok_or(TesseraError::MathOverflow)?;

    // Create the job and its escrow at their canonical PDAs.
    let client_key = a.client.key();
    let job_key = a.job.key();
    let id_bytes = args.job_id.to_le_bytes();
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.client_token.to_account_info(),
        &a.escrow,
        &a.client,
        &[],
        deposit,
    )?;
    crate::cu_mark!("deposit_transfer");

    let priority_until = if value >= config.priority_min_value {
        now.saturating_add(config.priority_window_secs)
    } else {
        now
    };
    let bump = pda::create_program_account(
        &a.client,
        &a.job,
        &a.system_program,
        &[JOB_SEED, client_key.as_ref(), &id_bytes],
        8 + Job::INIT_SPACE,
    )?;
    crate::cu_mark!("job_pda_create");
    let mut job = Box::new(Job {
        core: JobCore {
            client: client_key,
            state: JobState::Open,
            market: args.market,
            replicas: args.replicas,
            max_escalations: args.max_escalations,
            slots: args.replicas,
            round: 0,
            active_claims: 0,
            round_claims: 0,
            job_id: args.job_id,
            price_per_replica: args.price_per_replica,
            exec_secs: args.exec_secs,
            created_at: now,
            deadline: args.deadline,
            priority_until,
            bid_deadline: 0,
            commit_deadline: 0,
            reveal_deadline: 0,
            challenge_deadline: 0,
            wins_until: 0,
            deposit,
            paid_out: 0,
            slashed_to_client: 0,
            challenger_pool: 0,
            bonds_held: 0,
            refunded: 0,
            treasury_owed: 0,
            seed_slot: 0,
            terms: config.terms(),
            requirements: JobRequirements::from(&args.requirements),
            kernel_id: args.kernel_id,
            spec_version: args.spec_version,
            round_commits: 0,
            round_reveals: 0,
            unsettled_claims: 0,
            bids: 0,
            reserved_slots: 0,
            open_challenges: 0,
            tally_len: 0,
            has_winner: false,
            challenged: false,
            round_size: args.replicas,
            challenges: 0,
            bump,
            audit_undecided: false,
            spec_hash: args.spec_hash,
            tally: [Tally::default(); MAX_SLOTS],
            winning_hash: [0; 32],
            challenged_hash: [0; 32],
            reserved: [0; 2],
        },
        input_uri: args.input_uri,
        result_uri: String::new(),
    });
    match job.market {
        MarketType::Fixed => job.open_round(now, Clock::get()?.slot),
        MarketType::Auction => {
            job.bid_deadline = args.bid_deadline;
            job.state = JobState::Bidding;
            // bids are drawn by sortition too, seeded by the posting slot
            job.seed_slot = Clock::get()?.slot;
        }
    }
    crate::cu_mark!("job_build");
    pda::write_account(&a.job, job.as_ref())?;
    crate::cu_mark!("job_write");

    emit!(JobPosted {
        job: job_key,
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
        terms: job.terms,
    });
    crate::cu_mark!("event");
    Ok(())
}
