use anchor_lang::prelude::*;

/// A bonded challenge of a job's majority result. PDA `["challenge", job, challenger]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Challenge {
    pub job: Pubkey,
    pub challenger: Pubkey,
    pub bond: u64,
    /// The majority hash being disputed.
    pub challenged_hash: [u8; 32],
    /// Job round when the challenge was made.
    pub round: u8,
    /// Part of `bond` that pays the audit's slots: back to the client if the audit upholds
    /// the disputed hash (the rest of the bond goes to the treasury).
    pub audit_cost: u64,
    pub created_at: i64,
    pub bump: u8,
}
