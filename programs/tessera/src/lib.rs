//! Tessera: a decentralized GPU compute marketplace.
//!
//! Node operators stake the network token and register hardware; clients post jobs whose
//! payment sits in escrow (the network's vault, each job's share kept by its own accounting);
//! nodes claim replica slots, commit to a result hash, then reveal it (the last commitment of a
//! round and its reveal in one); a strict majority of matching replicas releases the escrow, the rest are
//! slashed, and every node carries an on-chain reputation. See `docs/PROTOCOL.md`.
#![deny(arithmetic_overflow)]
#![deny(clippy::arithmetic_side_effects)]
#![allow(unexpected_cfgs)]

#[cfg(target_arch = "bpf")]
use solana_compiler_builtins as _;

use anchor_lang::prelude::*;

pub mod constants;
pub mod cu_trace;
pub mod errors;
pub mod events;
pub mod instructions;
pub mod mint_policy;
pub mod pda;
pub mod sortition;
pub mod state;
pub mod token_ops;

use instructions::*;

// The committed localnet key (keys/); a build for another cluster or key takes its id from
// build.rs (`TESSERA_CLUSTER` / `TESSERA_PROGRAM_ID`, see migrations/deploy.sh).
#[cfg(not(tessera_cluster_id))]
declare_id!("H5Hi3xwQ22nX6Lm79ZXqzBNjuH37oj8nZ5Yvd1u7uvzP");
#[cfg(tessera_cluster_id)]
declare_id!(Pubkey::from_str_const(env!("TESSERA_PROGRAM_ID")));

/// The cluster this build is for (`TESSERA_CLUSTER` at build time: localnet, devnet, mainnet).
pub const BUILD_CLUSTER: &str = env!("TESSERA_BUILD_CLUSTER");

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

    /// Change parameters (within their bounds) or the treasury, or propose a new authority
    /// (authority only). Jobs already posted keep the terms they were posted under.
    pub fn update_config(ctx: Context<UpdateConfig>, args: UpdateConfigArgs) -> Result<()> {
        instructions::config_update::handler(ctx, args)
    }

    /// The proposed authority signs to take over (second step of an authority transfer).
    pub fn accept_authority(ctx: Context<AcceptAuthority>) -> Result<()> {
        instructions::config_accept_authority::handler(ctx)
    }

    /// Pause or resume new work (authority only). Exits (withdraw, refunds, settlement) stay open.
    pub fn set_paused(ctx: Context<SetPaused>, args: SetPausedArgs) -> Result<()> {
        instructions::config_set_paused::handler(ctx, args)
    }

    // ---------------------------------------------------------------- nodes and stake

    /// Register the signer as a node with its hardware; creates its stake vault.
    pub fn register_node(ctx: Context<RegisterNode>, args: RegisterNodeArgs) -> Result<()> {
        instructions::node_register::handler(ctx, args)
    }

    /// Change the node's declared hardware or endpoint.
    pub fn update_node(ctx: Context<UpdateNode>, args: UpdateNodeArgs) -> Result<()> {
        instructions::node_update::handler(ctx, args)
    }

    /// Move tokens from the operator into the node's stake vault.
    pub fn stake(ctx: Context<Stake>, args: StakeArgs) -> Result<()> {
        instructions::node_stake::handler(ctx, args)
    }

    /// Start unbonding part of the stake (it stops backing new claims at once).
    pub fn request_unstake(ctx: Context<RequestUnstake>, args: RequestUnstakeArgs) -> Result<()> {
        instructions::node_request_unstake::handler(ctx, args)
    }

    /// Withdraw the unbonded stake after the unbonding period, with no claim open.
    pub fn withdraw_stake(ctx: Context<WithdrawStake>) -> Result<()> {
        instructions::node_withdraw_stake::handler(ctx)
    }

    /// Close a node with no stake and no open claim; tokens donated to its vault and all
    /// rent go back to the operator.
    pub fn deregister_node(ctx: Context<DeregisterNode>) -> Result<()> {
        instructions::node_deregister::handler(ctx)
    }

    // ---------------------------------------------------------------- jobs and markets

    /// Post a job; `price × (k + 2 × max_escalations)` moves into escrow.
    pub fn post_job(ctx: Context<PostJob>, args: PostJobArgs) -> Result<()> {
        instructions::job_post::handler(ctx, args)
    }

    /// Client: cancel while nothing is claimed; the escrow is refunded.
    pub fn cancel_job(ctx: Context<CancelJob>) -> Result<()> {
        instructions::job_cancel::handler(ctx)
    }

    /// Permissionless: close a settled job; the rest of its escrow and all rent go to the
    /// client, what it owes the treasury to `Config::treasury_owed`.
    pub fn close_job(ctx: Context<CloseJob>) -> Result<()> {
        instructions::job_close::handler(ctx)
    }

    /// Permissionless: pay `Config::treasury_owed` from the escrow vault to the treasury.
    pub fn sweep_fees(ctx: Context<SweepFees>) -> Result<()> {
        instructions::fees_sweep::handler(ctx)
    }

    /// Take a replica slot (fixed price, escalation slots, or an auction win).
    pub fn claim_job(ctx: Context<ClaimJob>) -> Result<()> {
        instructions::job_claim::handler(ctx)
    }

    /// Auction: bid at most the job's maximum price before the bid deadline.
    pub fn place_bid(ctx: Context<PlaceBid>, args: PlaceBidArgs) -> Result<()> {
        instructions::bid_place::handler(ctx, args)
    }

    /// Permissionless after the bid deadline: the k lowest bids win. Pass every bid account.
    pub fn close_auction<'info>(ctx: Context<'info, CloseAuction<'info>>) -> Result<()> {
        instructions::auction_close::handler(ctx)
    }

    /// After bidding: close a bid, rent to its operator (a win that can still be claimed:
    /// its operator only).
    pub fn close_bid(ctx: Context<CloseBid>) -> Result<()> {
        instructions::bid_close::handler(ctx)
    }

    // ---------------------------------------------------------------- results and settlement

    /// Post `commitment(result_hash, node, salt)` before the claim's deadline.
    pub fn commit_result(ctx: Context<CommitResult>, args: CommitResultArgs) -> Result<()> {
        instructions::result_commit::handler(ctx, args)
    }

    /// Open the commitment once every claim committed or the commit window closed.
    pub fn reveal_result(ctx: Context<RevealResult>, args: RevealResultArgs) -> Result<()> {
        instructions::result_reveal::handler(ctx, args)
    }

    /// The last commitment of a full round and its reveal in one transaction (nobody is left
    /// to copy it): a k = 1 job's only replica, or the last of a larger round.
    pub fn submit_result(ctx: Context<SubmitResult>, args: SubmitResultArgs) -> Result<()> {
        instructions::result_submit::handler(ctx, args)
    }

    /// Permissionless crank through the job's windows (see the handler's doc).
    pub fn finalize_job(ctx: Context<FinalizeJob>) -> Result<()> {
        instructions::job_finalize::handler(ctx)
    }

    /// Permissionless: slash a claim that missed its commit deadline and free its slot.
    pub fn expire_claim(ctx: Context<ExpireClaim>) -> Result<()> {
        instructions::claim_expire::handler(ctx)
    }

    /// Permissionless: pay or slash one claim of a finished job and close it.
    pub fn settle_claim(ctx: Context<SettleClaim>) -> Result<()> {
        instructions::claim_settle::handler(ctx)
    }

    /// Permissionless: a job past its deadline with nothing to evaluate expires.
    pub fn expire_job(ctx: Context<ExpireJob>) -> Result<()> {
        instructions::job_expire::handler(ctx)
    }

    /// Bond a dispute of the majority result; forces an audit round.
    pub fn challenge_result(
        ctx: Context<ChallengeResult>,
        args: ChallengeResultArgs,
    ) -> Result<()> {
        instructions::result_challenge::handler(ctx, args)
    }

    /// Permissionless: return or forfeit a challenge bond once the job is settled.
    pub fn settle_challenge(ctx: Context<SettleChallenge>) -> Result<()> {
        instructions::challenge_settle::handler(ctx)
    }
}
