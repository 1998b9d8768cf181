use anchor_lang::prelude::*;

use crate::constants::*;

#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::NoUninit,
    bytemuck::CheckedBitPattern,
)]
#[repr(u8)]
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
/// claim per job, by construction. The fixed-size fields are in [`ClaimCore`] (one copy in and
/// out, `state::layout`), reached through `Deref`.
#[account]
#[derive(Debug)]
pub struct Claim {
    // the IDL builder cannot read `serialize_with`; it describes the same bytes from the
    // core's derived Borsh (`layout::tests` checks both encodings are equal)
    #[cfg_attr(
        not(feature = "idl-build"),
        borsh(
            serialize_with = "super::layout::write",
            deserialize_with = "super::layout::read"
        )
    )]
    pub core: ClaimCore,
    /// At most `MAX_URI_LEN` bytes.
    pub output_uri: String,
}

// `InitSpace` cannot be derived through `serialize_with`: the same sum, by hand.
impl Space for Claim {
    const INIT_SPACE: usize = ClaimCore::INIT_SPACE + (4 + MAX_URI_LEN);
}

/// A claim through its core only ([`super::layout::Head`]). (The IDL build describes the
/// whole account.)
#[cfg(not(feature = "idl-build"))]
pub type ClaimHead = super::layout::Head<Claim, ClaimCore>;
#[cfg(feature = "idl-build")]
pub type ClaimHead = Claim;

impl Claim {
    /// The `output_uri` of the Claim account `info`, read from its data (the tail after the
    /// core: u32 length + bytes). The caller has checked it is a Claim.
    pub fn output_uri(info: &AccountInfo) -> Result<String> {
        let data = info.try_borrow_data()?;
        let start = 8 + core::mem::size_of::<ClaimCore>();
        let bad = || error!(anchor_lang::error::ErrorCode::AccountDidNotDeserialize);
        let len = data
            .get(start..start + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(bad)? as usize;
        let bytes = data.get(start + 4..start + 4 + len).ok_or_else(bad)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| bad())
    }
}

crate::deref_to_core!(Claim => ClaimCore);

/// The fixed-size fields of a [`Claim`], `#[repr(C)]` in Borsh order with no padding (`job`
/// first: clients filter a job's claims on it at offset 8).
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    InitSpace,
    bytemuck::NoUninit,
    bytemuck::CheckedBitPattern,
)]
#[repr(C)]
pub struct ClaimCore {
    pub job: Pubkey,
    pub node: Pubkey,
    pub operator: Pubkey,
    /// What this replica is paid if it wins (fixed price or its winning bid).
    pub price: u64,
    pub claimed_at: i64,
    /// Commit by this time or be expired.
    pub deadline: i64,
    pub committed_at: i64,
    pub revealed_at: i64,
    /// Bonded stake of the node this claim locks until it is expired or settled.
    pub collateral: u64,
    /// hash(result_hash || node || salt), see `commitment()`.
    pub commitment: [u8; 32],
    pub result_hash: [u8; 32],
    pub round: u8,
    pub state: ClaimState,
    pub bump: u8,
    /// Explicit padding (always zero): no hidden padding bytes, so the core's memory is its
    /// Borsh encoding.
    pub reserved: [u8; 5],
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
