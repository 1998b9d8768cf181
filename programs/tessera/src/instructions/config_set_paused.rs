use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::PausedSet;
use crate::state::Config;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct SetPausedArgs {
    pub paused: bool,
}

#[derive(Accounts)]
pub struct SetPaused<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        has_one = authority @ TesseraError::Unauthorized,
    )]
    pub config: Account<'info, Config>,
}

pub fn handler(ctx: Context<SetPaused>, args: SetPausedArgs) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.paused = args.paused;
    emit!(PausedSet {
        config: config.key(),
        paused: args.paused,
    });
    Ok(())
}
