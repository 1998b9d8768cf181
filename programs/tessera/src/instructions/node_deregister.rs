use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenInterface;

use crate::errors::TesseraError;
use crate::events::NodeDeregistered;
use crate::state::{Config, Node};
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
    pub node: Account<'info, Node>,
    /// CHECK: the node's stake vault, pinned by address (the token program checks the rest).
    #[account(mut, address = node.stake_vault @ TesseraError::VaultMismatch)]
    pub stake_vault: UncheckedAccount<'info>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl DeregisterNode<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(self.node.open_claims == 0, TesseraError::OpenClaims);
        require!(
            self.node.stake == 0 && token_ops::amount_of(&self.stake_vault)? == 0,
            TesseraError::StakeRemaining
        );
        Ok(())
    }
}

/// Close the node and its stake vault; all rent goes back to the operator.
#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<DeregisterNode>) -> Result<()> {
    crate::node_signer_seeds!(ctx.accounts.node => seeds);
    let a = &ctx.accounts;
    token_ops::close(
        &a.token_program,
        &a.stake_vault.to_account_info(),
        &a.operator.to_account_info(),
        &a.node.to_account_info(),
        &[seeds],
    )?;
    emit!(NodeDeregistered {
        node: a.node.key(),
        operator: a.operator.key(),
    });
    Ok(())
}
