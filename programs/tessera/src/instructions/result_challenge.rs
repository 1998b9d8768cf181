use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{JobEscalated, ResultChallenged};
use crate::pda;
use crate::state::{Challenge, Config, JobHead, JobState};
use crate::token_ops;

use super::job_finalize::escalate;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ChallengeResultArgs {
    /// The majority hash being disputed (must be the job's current winning hash).
    pub challenged_hash: [u8; 32],
}

#[derive(Accounts)]
pub struct ChallengeResult<'info> {
    #[account(mut)]
    pub challenger: Signer<'info>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = challenger,
        token::token_program = token_program,
    )]
    pub challenger_token: Box<InterfaceAccount<'info, TokenAccount>>,
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    /// The new challenge: canonical PDA `["challenge", job, challenger]`, created by the
    /// handler (see `pda`).
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub challenge: UncheckedAccount<'info>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl ChallengeResult<'_> {
    pub fn validate(&self, args: &ChallengeResultArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        require!(
            job.state == JobState::Challenge,
            TesseraError::InvalidJobState
        );
        require!(now <= job.challenge_deadline, TesseraError::WindowClosed);
        require!(
            job.has_winner && args.challenged_hash == job.winning_hash,
            TesseraError::ChallengeMismatch
        );
        // Every challenge of a job disputes the same hash: once an audit has overturned it,
        // the audit's hash (backed by more independent replicas) is final.
        require!(
            !job.challenged || job.challenged_hash == args.challenged_hash,
            TesseraError::AuditOverturned
        );
        require!(
            job.budget_allows(job.audit_size()?)?,
            TesseraError::NoEscalationBudget
        );
        require!(job.next_round_fits(now), TesseraError::JobDeadlinePassed);
        Ok(())
    }
}

/// Dispute a majority with a bond: the job escalates into an audit round of fresh replicas,
/// drawn by the same sortition, one more than the votes for the disputed hash, paid from the
/// client's escalation budget. The audit's votes add to the earlier ones; a hash overturns the
/// disputed one only with strictly more votes (a unanimous audit). The bond is the config's
/// base bond plus what the audit costs the client. Overturned: every challenger of the hash
/// gets its bond back plus a share of the wrong majority's slashes. Upheld: the audit's cost
/// goes back to the client, the base bond to the treasury. Several challenges may follow one
/// another while the budget lasts.
#[access_control(ctx.accounts.validate(&args))]
pub fn handler(mut ctx: Context<ChallengeResult>, args: ChallengeResultArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let size = ctx.accounts.job.audit_size()?;
    let audit_cost = ctx
        .accounts
        .job
        .price_per_replica
        .checked_mul(u64::from(size))
        .ok_or(TesseraError::MathOverflow)?;
    let bond = ctx
        .accounts
        .job
        .terms
        .challenge_bond
        .checked_add(audit_cost)
        .ok_or(TesseraError::MathOverflow)?;
    let a = &mut ctx.accounts;
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.challenger_token.to_account_info(),
        &a.escrow.to_account_info(),
        &a.challenger.to_account_info(),
        &[],
        bond,
    )?;
    let (job_key, challenger) = (a.job.key(), a.challenger.key());
    let round = a.job.round;
    let bump = pda::create_program_account(
        &a.challenger,
        &a.challenge,
        &a.system_program,
        &[CHALLENGE_SEED, job_key.as_ref(), challenger.as_ref()],
        8 + Challenge::INIT_SPACE,
    )?;
    let ch = Challenge {
        job: job_key,
        challenger,
        bond,
        challenged_hash: args.challenged_hash,
        round,
        audit_cost,
        created_at: now,
        bump,
    };
    pda::write_account(&a.challenge, &ch)?;

    let job = &mut a.job;
    job.bonds_held = job
        .bonds_held
        .checked_add(bond)
        .ok_or(TesseraError::MathOverflow)?;
    job.open_challenges = job
        .open_challenges
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    job.challenges = job
        .challenges
        .checked_add(1)
        .ok_or(TesseraError::MathOverflow)?;
    job.challenged = true;
    job.challenged_hash = args.challenged_hash;
    job.audit_undecided = false;
    escalate(job, now, Clock::get()?.slot, size)?;
    emit!(ResultChallenged {
        job: job.key(),
        challenger: ch.challenger,
        challenged_hash: args.challenged_hash,
        bond,
        audit_slots: size,
    });
    emit!(JobEscalated {
        job: job.key(),
        round: job.round,
        slots: job.slots,
        commit_deadline: job.commit_deadline,
        challenged: true,
    });
    Ok(())
}
