//! Decoding Tessera accounts (Anchor discriminator + Borsh) from raw account data.
use anchor_lang::AccountDeserialize;
use tessera::state::{ClaimState, JobState};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("account not found")]
    NotFound,
    #[error("account is not owned by the Tessera program (owner {0})")]
    WrongOwner(String),
    #[error("account data does not decode as {what}: {source}")]
    Invalid {
        what: &'static str,
        #[source]
        source: anchor_lang::error::Error,
    },
}

/// Decode account data of type `T` (checks the 8-byte discriminator).
pub fn decode<T: AccountDeserialize>(what: &'static str, data: &[u8]) -> Result<T, DecodeError> {
    let mut slice = data;
    T::try_deserialize(&mut slice).map_err(|source| DecodeError::Invalid { what, source })
}

/// Decode an account after checking its owner is the Tessera program.
pub fn decode_owned<T: AccountDeserialize>(
    what: &'static str,
    owner: &solana_sdk::pubkey::Pubkey,
    data: &[u8],
) -> Result<T, DecodeError> {
    if *owner != tessera::ID {
        return Err(DecodeError::WrongOwner(owner.to_string()));
    }
    decode(what, data)
}

/// `unix_timestamp` of the Clock sysvar's account data (fixed layout: slot, epoch start,
/// epoch, leader schedule epoch, unix timestamp; little endian).
pub fn clock_unix_timestamp(data: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(data.get(32..40)?.try_into().ok()?))
}

/// Name of a job state.
pub fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Bidding => "bidding",
        JobState::Open => "open",
        JobState::Revealing => "revealing",
        JobState::Challenge => "challenge window",
        JobState::Completed => "completed",
        JobState::Cancelled => "cancelled",
        JobState::Expired => "expired",
        JobState::Failed => "failed",
    }
}

/// Name of a claim state.
pub fn claim_state_name(s: ClaimState) -> &'static str {
    match s {
        ClaimState::Claimed => "claimed",
        ClaimState::Committed => "committed",
        ClaimState::Revealed => "revealed",
        ClaimState::TimedOut => "timed out",
    }
}
