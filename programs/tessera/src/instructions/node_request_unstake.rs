use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::UnstakeRequested;
use crate::state::{Config, NodeHead};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct RequestUnstakeArgs {
    pub amount: u64,
}

#[derive(Accounts)]
pub struct RequestUnstake<'info> {
    pub operator: Signer<'info>,
    /// Keeps the network's bonded total (sortition).
    #[account(mut)]
    pub config: Account<'info, Config>,
    #[account(
        mut,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Account<'info, NodeHead>,
}

impl RequestUnstake<'_> {
    pub fn validate(&self, args: &RequestUnstakeArgs) -> Result<()> {
        require!(args.amount > 0, TesseraError::ZeroAmount);
        require!(
            args.amount <= self.node.bonded(),
            TesseraError::InsufficientStake
        );
        // collateral of open claims stays bonded until they settle
        require!(
            args.amount <= self.node.free_collateral(),
            TesseraError::InsufficientCollateral
        );
        Ok(())
    }
}

/// Start unbonding `amount` more tokens. The unbonding clock restarts for the whole unbonding
/// amount (one timer per node keeps the account small and the rule simple).
#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<RequestUnstake>, args: RequestUnstakeArgs) -> Result<()> {
    let clock = Clock::get()?;
    let (now, epoch) = (
        clock.unix_timestamp,
        ctx.accounts.config.stake_epoch(clock.slot),
    );
    ctx.accounts.config.unbond(args.amount, epoch)?;
    let node = &mut ctx.accounts.node;
    node.start_unbonding(args.amount, epoch)?;
    node.unbonding_since = now;
    node.last_active = now;
    emit!(UnstakeRequested {
        node: node.key(),
        amount: args.amount,
        unbonding: node.unbonding,
        unbonding_since: now,
    });
    Ok(())
}
