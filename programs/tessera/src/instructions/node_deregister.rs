use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::NodeDeregistered;
use crate::state::{Config, NodeHead};
use crate::token_ops;

#[derive(Accounts)]
pub struct DeregisterNode<'info> {
    #[account(mut)]
    pub operator: Signer<'info>,
    pub config: Account<'info, Config>,
    #[account(
        mut,
        close = operator,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Account<'info, NodeHead>,
    /// CHECK: the node's stake vault, pinned by address (the token program checks the rest).
    #[account(mut, address = node.stake_vault @ TesseraError::VaultMismatch)]
    pub stake_vault: UncheckedAccount<'info>,
    /// Receives whatever is left in the vault: tokens someone sent there from outside.
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

impl DeregisterNode<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(self.node.open_claims == 0, TesseraError::OpenClaims);
        // a timed-out claim no longer holds a slot or collateral, but settling it needs this
        // account: closing the node first would lock its job's escrow for good
        require!(
            self.node.unsettled_claims == 0,
            TesseraError::NodeHasUnsettledClaims
        );
        require!(self.node.stake == 0, TesseraError::StakeRemaining);
        Ok(())
    }
}

/// Close the node and its stake vault once its stake is withdrawn: tokens donated to the vault
/// (they were never stake) go to the operator, all rent goes back to the operator.
#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<DeregisterNode>) -> Result<()> {
    crate::node_signer_seeds!(ctx.accounts.node => seeds);
    let a = &ctx.accounts;
    let swept = token_ops::amount_of(&a.stake_vault)?;
    let node_info = a.node.to_account_info();
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.stake_vault.to_account_info(),
        &a.operator_token.to_account_info(),
        &node_info,
        &[seeds],
        swept,
    )?;
    token_ops::close(
        &a.token_program,
        &a.stake_vault.to_account_info(),
        &a.operator.to_account_info(),
        &node_info,
        &[seeds],
    )?;
    emit!(NodeDeregistered {
        node: a.node.key(),
        operator: a.operator.key(),
        swept,
    });
    Ok(())
}
