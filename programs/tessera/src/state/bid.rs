use anchor_lang::prelude::*;

/// A node's bid in a reverse auction. PDA `["bid", job, node]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Bid {
    pub job: Pubkey,
    pub node: Pubkey,
    pub operator: Pubkey,
    pub price: u64,
    pub placed_at: i64,
    /// Set by `close_auction` for the k lowest bids.
    pub won: bool,
    pub bump: u8,
}
