use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};

use crate::errors::TesseraError;
use crate::events::ClaimExpired;
use crate::state::{Claim, ClaimState, Config, JobHead, JobState, NodeHead, SlashReason};
use crate::token_ops;

use super::claim_settle::{apply_slash, SlashAccounts};

#[derive(Accounts)]
pub struct ExpireClaim<'info> {
    /// Anyone; receives the crank reward.
    pub cranker: Signer<'info>,
    /// The cranker's own token account of the network mint (never a program vault: a stake
    /// vault or escrow passed here would turn the reward into a self-transfer). Checked in
    /// `validate` (`token_ops::check_token_account`) rather than by Anchor, because an operator
    /// settling its own claim passes the same account as `operator_token` too.
    /// CHECK: token-program-owned, of the config mint, owned by `cranker`; checked in validate.
    #[account(mut)]
    pub cranker_token: UncheckedAccount<'info>,
    /// Writable: a slash lowers the network's bonded total (sortition).
    #[account(mut)]
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        has_one = job @ TesseraError::ClaimMismatch,
        has_one = node @ TesseraError::ClaimMismatch,
    )]
    pub claim: Box<Account<'info, Claim>>,
    #[account(mut)]
    pub node: Box<Account<'info, NodeHead>>,
    /// CHECK: the node's stake vault, pinned by address (the token program checks the rest).
    #[account(mut, address = node.stake_vault @ TesseraError::VaultMismatch)]
    pub stake_vault: UncheckedAccount<'info>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl ExpireClaim<'_> {
    pub fn validate(&self) -> Result<()> {
        token_ops::check_crank_account(&self.cranker_token, &self.cranker.key(), &self.config)?;
        let now = Clock::get()?.unix_timestamp;
        require!(
            self.job.state == JobState::Open,
            TesseraError::InvalidJobState
        );
        require!(
            self.claim.state == ClaimState::Claimed,
            TesseraError::InvalidClaimState
        );
        require!(now > self.claim.deadline, TesseraError::ClaimNotExpired);
        Ok(())
    }
}

/// Permissionless: a claim missed its commit deadline. The node is slashed for the timeout
/// (crank reward first), its reputation drops, and the slot opens again for another node.
#[access_control(ctx.accounts.validate())]
pub fn handler(mut ctx: Context<ExpireClaim>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &mut ctx.accounts;
    let mut slash = SlashAccounts {
        config: &mut a.config,
        node: &mut a.node,
        stake_vault: a.stake_vault.to_account_info(),
        escrow: a.escrow.to_account_info(),
        cranker_token: a.cranker_token.to_account_info(),
        mint: a.mint.to_account_info(),
        token_program: &a.token_program,
    };
    apply_slash(&mut slash, &mut a.job, SlashReason::Timeout, false, now)?;
    let claim = &mut a.claim;
    claim.state = ClaimState::TimedOut;
    let job = &mut a.job;
    job.active_claims = job
        .active_claims
        .checked_sub(1)
        .ok_or(TesseraError::MathOverflow)?;
    // A claim of an earlier round (before an escalation or audit) is not one of this round's.
    if claim.round == job.round {
        job.round_claims = job
            .round_claims
            .checked_sub(1)
            .ok_or(TesseraError::MathOverflow)?;
    }
    let node = &mut a.node;
    node.open_claims = node
        .open_claims
        .checked_sub(1)
        .ok_or(TesseraError::MathOverflow)?;
    node.unlock(claim.collateral)?;
    node.reputation.timed_out = node.reputation.timed_out.saturating_add(1);
    emit!(ClaimExpired {
        job: job.key(),
        claim: claim.key(),
        node: node.key(),
        active_claims: job.active_claims,
    });
    Ok(())
}
