use anchor_lang::prelude::*;

use crate::errors::TesseraError;
use crate::events::AuthorityAccepted;
use crate::state::Config;

#[derive(Accounts)]
pub struct AcceptAuthority<'info> {
    /// The key `update_config` proposed.
    pub new_authority: Signer<'info>,
    #[account(mut)]
    pub config: Account<'info, Config>,
}

impl AcceptAuthority<'_> {
    pub fn validate(&self) -> Result<()> {
        let pending = self.config.pending_authority;
        require!(
            pending != Pubkey::default() && pending == self.new_authority.key(),
            TesseraError::NotPendingAuthority
        );
        Ok(())
    }
}

/// Second step of an authority transfer: the proposed key signs and takes over, so the
/// authority can never pass to a key no one holds.
#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<AcceptAuthority>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    let previous = config.authority;
    config.authority = config.pending_authority;
    config.pending_authority = Pubkey::default();
    emit!(AuthorityAccepted {
        config: config.key(),
        previous,
        authority: config.authority,
    });
    Ok(())
}
