//! Every state change emits one of these (via `emit!`), with enough fields for an indexer to
//! rebuild the state without reading accounts.
use anchor_lang::prelude::*;

use crate::state::ConfigParams;

#[event]
pub struct ConfigInitialized {
    pub config: Pubkey,
    pub authority: Pubkey,
    pub mint: Pubkey,
    pub token_program: Pubkey,
    pub treasury: Pubkey,
    pub params: ConfigParams,
}

#[event]
pub struct ConfigUpdated {
    pub config: Pubkey,
    pub authority: Pubkey,
    pub new_authority: Pubkey,
    pub treasury: Pubkey,
    pub params: ConfigParams,
}

#[event]
pub struct PausedSet {
    pub config: Pubkey,
    pub paused: bool,
}
