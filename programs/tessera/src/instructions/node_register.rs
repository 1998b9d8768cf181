use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};

use crate::constants::*;
use crate::errors::TesseraError;
use crate::events::NodeRegistered;
use crate::pda;
use crate::state::{Config, Hardware, Node, NodeCore, Reputation, StakeHistory};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RegisterNodeArgs {
    pub hardware: Hardware,
}

#[derive(Accounts)]
pub struct RegisterNode<'info> {
    #[account(mut)]
    pub operator: Signer<'info>,
    pub config: Account<'info, Config>,
    /// The new node: canonical PDA `["node", operator]` (one node per operator key), created
    /// by the handler (see `pda`).
    /// CHECK: must be empty and at its canonical PDA; both checked in the handler.
    #[account(mut)]
    pub node: UncheckedAccount<'info>,
    /// The node's stake vault: canonical PDA `["stake_vault", node]`, a token account of the
    /// config mint owned by the node, created by the handler.
    /// CHECK: same as `node`.
    #[account(mut)]
    pub stake_vault: UncheckedAccount<'info>,
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
    let a = &ctx.accounts;
    let operator = a.operator.key();
    let node_key = a.node.key();
    let vault_bump = pda::expect(&a.stake_vault, &[STAKE_VAULT_SEED, node_key.as_ref()])?;
    pda::init_token_vault(
        &a.operator,
        &a.stake_vault,
        &a.mint.to_account_info(),
        &node_key,
        &a.token_program,
        &a.system_program,
        &[STAKE_VAULT_SEED, node_key.as_ref(), &[vault_bump]],
    )?;
    let bump = pda::create_program_account(
        &a.operator,
        &a.node,
        &a.system_program,
        &[NODE_SEED, operator.as_ref()],
        8 + Node::INIT_SPACE,
    )?;
    let node = Node {
        core: NodeCore {
            operator,
            stake_vault: a.stake_vault.key(),
            stake: 0,
            unbonding: 0,
            unbonding_since: 0,
            registered_at: now,
            last_active: now,
            locked: 0,
            draw_stake: StakeHistory::default(),
            reputation: Reputation::new(now),
            open_claims: 0,
            unsettled_claims: 0,
            bump,
            vault_bump,
            reserved: [0; 6],
        },
        hardware: args.hardware,
    };
    pda::write_account(&a.node, &node)?;
    emit!(NodeRegistered {
        node: node_key,
        operator,
        hardware: node.hardware,
        stake_vault: a.stake_vault.key(),
    });
    Ok(())
}
