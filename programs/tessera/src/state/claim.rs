use anchor_lang::prelude::*;

use crate::constants::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ClaimState {
    /// Holding a slot, computing.
    Claimed,
    /// Commitment posted.
    Committed,
    /// Result hash revealed.
    Revealed,
    /// Deadline missed without a commitment: slashed, slot freed.
    TimedOut,
}

/// One node's replica of one job. PDA `["claim", job, node]`: a node can hold at most one
/// claim per job, by construction.
#[account]
#[derive(InitSpace, Debug)]
pub struct Claim {
    pub job: Pubkey,
    pub node: Pubkey,
    pub operator: Pubkey,
    /// What this replica is paid if it wins (fixed price or its winning bid).
    pub price: u64,
    pub round: u8,
    pub claimed_at: i64,
    /// Commit by this time or be expired.
    pub deadline: i64,
    /// hash(result_hash || node || salt), see `commitment()`.
    pub commitment: [u8; 32],
    pub committed_at: i64,
    pub result_hash: [u8; 32],
    #[max_len(MAX_URI_LEN)]
    pub output_uri: String,
    pub revealed_at: i64,
    pub state: ClaimState,
    pub bump: u8,
    /// Bonded stake of the node this claim locks until it is expired or settled.
    pub collateral: u64,
}

/// The commitment a node posts: SHA-256 over result_hash || node PDA || salt. Binding the node
/// address means a copied commitment does not open for anyone else.
pub fn commitment(result_hash: &[u8; 32], node: &Pubkey, salt: &[u8; 32]) -> [u8; 32] {
    solana_sha256_hasher::hashv(&[result_hash, node.as_ref(), salt]).to_bytes()
}

/// Why a node was slashed.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum SlashReason {
    Timeout,
    WrongResult,
    NoReveal,
}

/// How a claim ended, reported by `settle_claim`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum ClaimOutcome {
    /// In the majority: paid.
    Paid,
    /// Revealed, but the job failed without a majority: paid its price (the client holds a
    /// result it can read), not slashed, reputation unchanged.
    Unresolved,
    /// Revealed a losing result: slashed.
    Disagreed,
    /// Committed and never revealed: slashed.
    NoReveal,
    /// Never committed: slashed (now or earlier by `expire_claim`).
    TimedOut,
}
