use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::{JobEscalated, ResultChallenged};
use crate::pda;
use crate::state::{Challenge, Config, Job, JobState, Tally};
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
    pub job: Box<Account<'info, Job>>,
    /// The new challenge: canonical PDA `["challenge", job, challenger]`, created by the
    /// handler (see `pda`).
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub challenge: UncheckedAccount<'info>,
    /// CHECK: the job's escrow, pinned by address (the token program checks the rest).
    #[account(mut, address = job.escrow @ TesseraError::VaultMismatch)]
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
        require!(
            !job.challenged && job.round < job.max_escalations,
            TesseraError::NoEscalationBudget
        );
        require!(job.next_round_fits(now), TesseraError::JobDeadlinePassed);
        Ok(())
    }
}

/// Dispute a majority with a bond: the job escalates into an audit round of
/// ESCALATION_SLOTS fresh replicas whose agreement decides the result. If the audit overturns
/// the majority, the challenger gets the bond back plus the slashes of the wrong majority;
/// otherwise the bond goes to the treasury.
#[access_control(ctx.accounts.validate(&args))]
pub fn handler(mut ctx: Context<ChallengeResult>, args: ChallengeResultArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let bond = ctx.accounts.job.terms.challenge_bond;
    let a = &mut ctx.accounts;
    token_ops::transfer(
        &a.token_program,
        &a.mint,
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
    job.challenged = true;
    job.challenged_hash = args.challenged_hash;
    // The audit round decides alone: earlier votes no longer count.
    job.tally = [Tally::default(); MAX_SLOTS];
    job.tally_len = 0;
    escalate(job, now, Clock::get()?.slot)?;
    emit!(ResultChallenged {
        job: job.key(),
        challenger: ch.challenger,
        challenged_hash: args.challenged_hash,
        bond,
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
