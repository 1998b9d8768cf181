use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::StakeWithdrawn;
use crate::state::{Config, NodeHead};
use crate::token_ops;

#[derive(Accounts)]
pub struct WithdrawStake<'info> {
    pub operator: Signer<'info>,
    pub config: Account<'info, Config>,
    #[account(
        mut,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Account<'info, NodeHead>,
    /// CHECK: the node's stake vault, pinned by address (the token program checks the rest).
    #[account(mut, address = node.stake_vault @ TesseraError::VaultMismatch)]
    pub stake_vault: UncheckedAccount<'info>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = operator,
        token::token_program = token_program,
    )]
    pub operator_token: InterfaceAccount<'info, TokenAccount>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl WithdrawStake<'_> {
    pub fn validate(&self) -> Result<()> {
        let node = &self.node;
        require!(node.unbonding > 0, TesseraError::NothingUnbonding);
        require!(node.open_claims == 0, TesseraError::OpenClaims);
        let now = Clock::get()?.unix_timestamp;
        let ready = node
            .unbonding_since
            .checked_add(self.config.unbonding_secs)
            .ok_or(TesseraError::MathOverflow)?;
        require!(now >= ready, TesseraError::UnbondingNotElapsed);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<WithdrawStake>) -> Result<()> {
    let amount = ctx.accounts.node.unbonding;
    crate::node_signer_seeds!(ctx.accounts.node => seeds);
    let a = &ctx.accounts;
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.stake_vault.to_account_info(),
        &a.operator_token.to_account_info(),
        &a.node.to_account_info(),
        &[seeds],
        amount,
    )?;
    let node = &mut ctx.accounts.node;
    node.stake = node
        .stake
        .checked_sub(amount)
        .ok_or(TesseraError::MathOverflow)?;
    node.unbonding = 0;
    node.last_active = Clock::get()?.unix_timestamp;
    emit!(StakeWithdrawn {
        node: node.key(),
        amount,
        stake: node.stake,
    });
    Ok(())
}
