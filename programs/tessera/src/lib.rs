//! Tessera: a decentralized GPU compute marketplace.
//!
//! Node operators stake the network token and register hardware; clients post jobs whose
//! payment sits in a per-job escrow; nodes claim replica slots, commit to a result hash, then
//! reveal it; a strict majority of matching replicas releases the escrow, the rest are
//! slashed, and every node carries an on-chain reputation. See `docs/PROTOCOL.md`.
#![deny(arithmetic_overflow)]
#![deny(clippy::arithmetic_side_effects)]
#![allow(unexpected_cfgs)]

#[cfg(target_arch = "bpf")]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;

pub mod constants;
pub mod errors;
pub mod events;
pub mod instructions;
pub mod state;

use instructions::*;

declare_id!("H5Hi3xwQ22nX6Lm79ZXqzBNjuH37oj8nZ5Yvd1u7uvzP");

#[program]
pub mod tessera {
    use super::*;

    /// Create the network's `Config` (once). On an upgradeable deployment only the program's
    /// upgrade authority may do this.
    pub fn initialize_config(
        ctx: Context<InitializeConfig>,
        args: InitializeConfigArgs,
    ) -> Result<()> {
        instructions::config_initialize::handler(ctx, args)
    }

    /// Change parameters, the treasury or the authority (authority only).
    pub fn update_config(ctx: Context<UpdateConfig>, args: UpdateConfigArgs) -> Result<()> {
        instructions::config_update::handler(ctx, args)
    }

    /// Pause or resume new work (authority only). Exits (withdraw, refunds, settlement) stay open.
    pub fn set_paused(ctx: Context<SetPaused>, args: SetPausedArgs) -> Result<()> {
        instructions::config_set_paused::handler(ctx, args)
    }
}
