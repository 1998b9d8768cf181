//! Seeds and protocol-wide limits. Every PDA seed lives here, and the client crate
//! (`tessera-sdk`) re-exports these so that nothing off-chain spells a seed again.

/// `["config"]` -> [`crate::state::Config`]
pub const CONFIG_SEED: &[u8] = b"config";
/// `["node", operator]` -> [`crate::state::Node`]
pub const NODE_SEED: &[u8] = b"node";
/// `["stake_vault", node]` -> the node's stake token account (authority: the node PDA)
pub const STAKE_VAULT_SEED: &[u8] = b"stake_vault";
/// `["job", client, job_id u64 le]` -> [`crate::state::Job`]
pub const JOB_SEED: &[u8] = b"job";
/// `["escrow"]` -> the network's escrow vault: one token account holding every job's escrow
/// (authority: the config PDA); each job's share is its own accounting (`Job::escrow_expected`)
pub const ESCROW_SEED: &[u8] = b"escrow";
/// `["claim", job, node]` -> [`crate::state::Claim`]
pub const CLAIM_SEED: &[u8] = b"claim";
/// `["bid", job, node]` -> [`crate::state::Bid`]
pub const BID_SEED: &[u8] = b"bid";
/// `["challenge", job, challenger]` -> [`crate::state::Challenge`]
pub const CHALLENGE_SEED: &[u8] = b"challenge";

/// The SlotHashes sysvar: where a round's seed slot stands among the executing slot's
/// ancestors (`sortition::round_seed`).
pub const SLOT_HASHES_SYSVAR: anchor_lang::prelude::Pubkey =
    anchor_lang::prelude::pubkey!("SysvarS1otHashes111111111111111111111111111");

/// The RecentBlockhashes sysvar: claims and bids read their round's sortition seed (the seed
/// slot's blockhash) from it (`sortition::round_seed`).
pub const RECENT_BLOCKHASHES_SYSVAR: anchor_lang::prelude::Pubkey =
    anchor_lang::prelude::pubkey!("SysvarRecentB1ockHashes11111111111111111111");

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;
/// Hard cap on replicas a job may ask for (config.max_replicas is at most this).
pub const MAX_REPLICAS: u8 = 7;
/// Replica slots one escalation round adds.
pub const ESCALATION_SLOTS: u8 = 2;
/// Hard cap on escalation rounds (config.escalation_cap is at most this).
pub const MAX_ESCALATIONS: u8 = 3;
/// Most replica slots a job can ever have: MAX_REPLICAS + MAX_ESCALATIONS * ESCALATION_SLOTS.
pub const MAX_SLOTS: usize = 13;
/// Longest input / output URI stored on-chain.
pub const MAX_URI_LEN: usize = 200;
/// Longest GPU model string.
pub const MAX_GPU_MODEL_LEN: usize = 48;
/// Longest node endpoint string.
pub const MAX_ENDPOINT_LEN: usize = 96;
/// Upper bound for any configured window or period, in seconds (one year).
pub const MAX_PERIOD_SECS: i64 = 365 * 24 * 3600;

// ---- bounds on what the config authority may set (docs/PROTOCOL.md, "Parameter bounds")
/// Protocol fee: at most 10 % of a replica's price.
pub const MAX_PROTOCOL_FEE_BPS: u16 = 1_000;
/// Any one slash: at most 50 % of the node's stake.
pub const MAX_SLASH_BPS: u16 = 5_000;
/// Crank reward: at most 10 % of a slash.
pub const MAX_CRANK_REWARD_BPS: u16 = 1_000;
/// Commit, reveal and challenge windows: at most 7 days each (a job's round must stay short
/// enough to finish; the job deadline is at most MAX_PERIOD_SECS anyway).
pub const MAX_WINDOW_SECS: i64 = 7 * 24 * 3600;
/// Unbonding: at least one second (the stake of a node with open claims never leaves anyway),
/// at most 90 days (longer would hold operators' funds hostage).
pub const MAX_UNBONDING_SECS: i64 = 90 * 24 * 3600;
/// Collateral locked per open claim: at most 5× the claim's price.
pub const MAX_COLLATERAL_BPS: u16 = 50_000;
/// Sortition: expected newly eligible nodes per free slot per chain slot, in percent
/// (0.1x .. 100x).
pub const MIN_SORTITION_PCT: u16 = 10;
/// Sortition: the threshold doubles at least every ~4.6 days of slots.
pub const MAX_WIDEN_SLOTS: u64 = 1_000_000;
pub const MAX_SORTITION_PCT: u16 = 10_000;
/// Stake epochs (`Config::stake_epoch_slots`): at least 32 slots (Solana's shortest epoch), at
/// most 10 × a Solana epoch of 432 000 slots.
pub const MIN_STAKE_EPOCH_SLOTS: u64 = 32;
pub const MAX_STAKE_EPOCH_SLOTS: u64 = 4_320_000;
/// Priority window: at most one day.
pub const MAX_PRIORITY_WINDOW_SECS: i64 = 24 * 3600;
/// Reputation score a fresh node starts with (Beta mean with no history = 1/2).
pub const INITIAL_REPUTATION_BPS: u16 = 5_000;

/// Hardware capability flags (`Node::capabilities`, `Job::required_capabilities`).
pub const CAP_CUDA: u8 = 1 << 0;
pub const CAP_CPU: u8 = 1 << 1;
pub const CAP_ALL: u8 = CAP_CUDA | CAP_CPU;
/// Most bids an auction job accepts (close_auction reads them all in one transaction).
pub const MAX_BIDS: u8 = 16;
