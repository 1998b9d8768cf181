use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::NodeUpdated;
use crate::state::{Hardware, Node};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct UpdateNodeArgs {
    pub hardware: Hardware,
}

#[derive(Accounts)]
pub struct UpdateNode<'info> {
    pub operator: Signer<'info>,
    #[account(
        mut,
        has_one = operator @ TesseraError::NotOperator,
    )]
    pub node: Account<'info, Node>,
}

impl UpdateNode<'_> {
    pub fn validate(&self, args: &UpdateNodeArgs) -> Result<()> {
        args.hardware.validate()
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<UpdateNode>, args: UpdateNodeArgs) -> Result<()> {
    let node = &mut ctx.accounts.node;
    node.hardware = args.hardware;
    node.last_active = Clock::get()?.unix_timestamp;
    emit!(NodeUpdated {
        node: node.key(),
        hardware: node.hardware.clone(),
    });
    Ok(())
}
