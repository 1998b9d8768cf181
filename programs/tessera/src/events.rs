//! Every state change emits one of these (via `emit!`), with enough fields for an indexer to
//! rebuild the state without reading accounts.
use anchor_lang::prelude::*;

use crate::state::ConfigParams;

#[event]
pub struct ConfigInitialized {
    pub config: Pubkey,
    /// The escrow vault the config created.
    pub vault: Pubkey,
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
    pub pending_authority: Pubkey,
    pub treasury: Pubkey,
    pub params: ConfigParams,
}

#[event]
pub struct AuthorityAccepted {
    pub config: Pubkey,
    pub previous: Pubkey,
    pub authority: Pubkey,
}

#[event]
pub struct PausedSet {
    pub config: Pubkey,
    pub paused: bool,
}

#[event]
pub struct NodeRegistered {
    pub node: Pubkey,
    pub operator: Pubkey,
    pub hardware: crate::state::Hardware,
    pub stake_vault: Pubkey,
}

#[event]
pub struct NodeUpdated {
    pub node: Pubkey,
    pub hardware: crate::state::Hardware,
}

#[event]
pub struct Staked {
    pub node: Pubkey,
    pub amount: u64,
    pub stake: u64,
}

#[event]
pub struct UnstakeRequested {
    pub node: Pubkey,
    pub amount: u64,
    pub unbonding: u64,
    pub unbonding_since: i64,
}

#[event]
pub struct StakeWithdrawn {
    pub node: Pubkey,
    pub amount: u64,
    pub stake: u64,
}

#[event]
pub struct NodeDeregistered {
    pub node: Pubkey,
    pub operator: Pubkey,
    /// Tokens found in the vault beyond the stake (sent from outside), paid to the operator.
    pub swept: u64,
}

#[event]
pub struct JobPosted {
    pub job: Pubkey,
    pub client: Pubkey,
    pub job_id: u64,
    pub kernel_id: u16,
    pub spec_version: u16,
    pub spec_hash: [u8; 32],
    pub input_uri: String,
    pub market: crate::state::MarketType,
    pub price_per_replica: u64,
    pub replicas: u8,
    pub max_escalations: u8,
    pub deposit: u64,
    pub deadline: i64,
    pub terms: crate::state::JobTerms,
}

#[event]
pub struct JobCancelled {
    pub job: Pubkey,
    pub refund: u64,
}

#[event]
pub struct JobClosed {
    pub job: Pubkey,
    pub refund: u64,
    /// What the job owed the treasury, moved to `Config::treasury_owed`.
    pub to_treasury: u64,
}

#[event]
pub struct FeesSwept {
    pub treasury: Pubkey,
    pub amount: u64,
}

#[event]
pub struct BidPlaced {
    pub job: Pubkey,
    pub node: Pubkey,
    pub price: u64,
}

#[event]
pub struct AuctionClosed {
    pub job: Pubkey,
    pub winners: Vec<Pubkey>,
    pub prices: Vec<u64>,
}

#[event]
pub struct BidClosed {
    pub job: Pubkey,
    pub node: Pubkey,
}

#[event]
pub struct JobClaimed {
    pub job: Pubkey,
    pub claim: Pubkey,
    pub node: Pubkey,
    pub price: u64,
    pub round: u8,
    pub deadline: i64,
    pub active_claims: u8,
}

#[event]
pub struct ResultCommitted {
    pub job: Pubkey,
    pub claim: Pubkey,
    pub node: Pubkey,
    pub commitment: [u8; 32],
}

#[event]
pub struct RevealOpened {
    pub job: Pubkey,
    pub round: u8,
    pub commits: u8,
    pub reveal_deadline: i64,
}

#[event]
pub struct ResultRevealed {
    pub job: Pubkey,
    pub claim: Pubkey,
    pub node: Pubkey,
    pub result_hash: [u8; 32],
    pub output_uri: String,
}

/// `submit_result`: the round's last commitment and its reveal in one (the reveal phase opened
/// and this result revealed).
#[event]
pub struct ResultSubmitted {
    pub job: Pubkey,
    pub claim: Pubkey,
    pub node: Pubkey,
    pub round: u8,
    pub result_hash: [u8; 32],
    pub output_uri: String,
}

#[event]
pub struct MajorityReached {
    pub job: Pubkey,
    pub result_hash: [u8; 32],
    pub votes: u8,
    pub challenge_deadline: i64,
}

#[event]
pub struct JobEscalated {
    pub job: Pubkey,
    pub round: u8,
    pub slots: u8,
    pub commit_deadline: i64,
    pub challenged: bool,
}

#[event]
pub struct RoundReopened {
    pub job: Pubkey,
    pub round: u8,
    pub commit_deadline: i64,
}

#[event]
pub struct JobCompleted {
    pub job: Pubkey,
    pub result_hash: [u8; 32],
}

/// An audit ended with seats that never revealed while they could still have overturned the
/// challenged majority, and no budget or time was left to draw them again: the challenged
/// result stands, no auditor who revealed is slashed for disagreeing, and the challengers
/// lose the audit's cost (docs/PROTOCOL.md, "Audits").
#[event]
pub struct AuditUndecided {
    pub job: Pubkey,
    pub result_hash: [u8; 32],
    /// Audit seats of the last audit round that did not reveal.
    pub silent_seats: u8,
}

#[event]
pub struct JobFailed {
    pub job: Pubkey,
    pub round: u8,
}

#[event]
pub struct JobExpired {
    pub job: Pubkey,
}

#[event]
pub struct NodeSlashed {
    pub node: Pubkey,
    pub job: Pubkey,
    pub reason: crate::state::SlashReason,
    pub amount: u64,
    pub to_crank: u64,
    pub to_job: u64,
    pub to_treasury: u64,
    pub reputation_bps: u16,
}

#[event]
pub struct ClaimExpired {
    pub job: Pubkey,
    pub claim: Pubkey,
    pub node: Pubkey,
    pub active_claims: u8,
}

#[event]
pub struct ClaimSettled {
    pub job: Pubkey,
    pub claim: Pubkey,
    pub node: Pubkey,
    pub outcome: crate::state::ClaimOutcome,
    pub paid: u64,
    pub fee: u64,
    pub reputation_bps: u16,
}

/// The job's result pointer (`Job::result_uri`) was taken from its first winning claim.
#[event]
pub struct ResultRecorded {
    pub job: Pubkey,
    pub result_hash: [u8; 32],
    pub uri: String,
}

#[event]
pub struct ResultChallenged {
    pub job: Pubkey,
    pub challenger: Pubkey,
    pub challenged_hash: [u8; 32],
    pub bond: u64,
    /// Slots of the audit round the challenge opens.
    pub audit_slots: u8,
}

#[event]
pub struct ChallengeSettled {
    pub job: Pubkey,
    pub challenger: Pubkey,
    pub upheld: bool,
    pub returned: u64,
    /// Audit cost of a rejected challenge, paid back to the client.
    pub to_client: u64,
    pub to_treasury: u64,
}
