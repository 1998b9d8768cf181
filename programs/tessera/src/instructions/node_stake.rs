use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::errors::TesseraError;
use crate::events::Staked;
use crate::state::{Config, NodeHead};
use crate::token_ops;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct StakeArgs {
    pub amount: u64,
}

#[derive(Accounts)]
pub struct Stake<'info> {
    pub operator: Signer<'info>,
    #[account(mut)]
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

impl Stake<'_> {
    pub fn validate(&self, args: &StakeArgs) -> Result<()> {
        require!(!self.config.paused, TesseraError::Paused);
        require!(args.amount > 0, TesseraError::ZeroAmount);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<Stake>, args: StakeArgs) -> Result<()> {
    let a = &ctx.accounts;
    token_ops::transfer(
        &a.token_program,
        &a.mint.to_account_info(),
        &a.operator_token.to_account_info(),
        &a.stake_vault.to_account_info(),
        &a.operator.to_account_info(),
        &[],
        args.amount,
    )?;
    let clock = Clock::get()?;
    let epoch = ctx.accounts.config.stake_epoch(clock.slot);
    ctx.accounts.config.bond(args.amount, epoch)?;
    let node = &mut ctx.accounts.node;
    node.add_stake(args.amount, epoch)?;
    node.last_active = clock.unix_timestamp;
    emit!(Staked {
        node: node.key(),
        amount: args.amount,
        stake: node.stake,
    });
    Ok(())
}
