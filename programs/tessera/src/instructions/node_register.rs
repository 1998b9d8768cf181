use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::NodeRegistered;
use crate::state::{Config, Hardware, Node, Reputation};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RegisterNodeArgs {
    pub hardware: Hardware,
}

#[derive(Accounts)]
pub struct RegisterNode<'info> {
    #[account(mut)]
    pub operator: Signer<'info>,
    pub config: Account<'info, Config>,
    #[account(
        init,
        payer = operator,
        space = 8 + Node::INIT_SPACE,
        seeds = [NODE_SEED, operator.key().as_ref()],
        bump,
    )]
    pub node: Account<'info, Node>,
    #[account(
        init,
        payer = operator,
        seeds = [STAKE_VAULT_SEED, node.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = node,
        token::token_program = token_program,
    )]
    pub stake_vault: InterfaceAccount<'info, TokenAccount>,
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: InterfaceAccount<'info, Mint>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl RegisterNode<'_> {
    pub fn validate(&self, args: &RegisterNodeArgs) -> Result<()> {
        require!(!self.config.paused, TesseraError::Paused);
        args.hardware.validate()
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<RegisterNode>, args: RegisterNodeArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let node = &mut ctx.accounts.node;
    node.operator = ctx.accounts.operator.key();
    node.hardware = args.hardware;
    node.stake = 0;
    node.unbonding = 0;
    node.unbonding_since = 0;
    node.open_claims = 0;
    node.reputation = Reputation::new(now);
    node.registered_at = now;
    node.last_active = now;
    node.bump = ctx.bumps.node;
    node.vault_bump = ctx.bumps.stake_vault;
    node.stake_vault = ctx.accounts.stake_vault.key();
    emit!(NodeRegistered {
        node: node.key(),
        operator: node.operator,
        hardware: node.hardware.clone(),
        stake_vault: ctx.accounts.stake_vault.key(),
    });
    Ok(())
}
