//! Which network mints the program accepts. A classic SPL Token mint always; a Token-2022 mint
//! only when every extension it carries leaves raw transfers exact and vaults under the
//! program's sole control. Refused, each with `UnsupportedMintExtension`: transfer fees (an
//! escrow would receive less than the accounting says, and `close_job` could never balance),
//! permanent delegates (could drain every vault), transfer hooks (arbitrary code on every
//! payout), mint close authorities (the mint could be closed and re-created differently),
//! default-frozen accounts, non-transferable and pausable mints (payouts could be stopped),
//! confidential transfers and mint/burn (balances the program cannot see), and any extension
//! this list does not know.
use anchor_lang::prelude::*;

use crate::errors::TesseraError;

/// Token-2022 mint layout: the 82-byte base mint, padding up to the 165-byte base account
/// length, one account-type byte, then type-length-value extensions.
const BASE_ACCOUNT_LEN: usize = 165;
const ACCOUNT_TYPE_MINT: u8 = 1;

/// Extension types (spl-token-2022 `ExtensionType` numbers) that are safe to hold.
pub const ALLOWED_EXTENSIONS: [u16; 8] = [
    10, // InterestBearingConfig: display only, raw amounts unchanged
    18, // MetadataPointer
    19, // TokenMetadata
    20, // GroupPointer
    21, // TokenGroup
    22, // GroupMemberPointer
    23, // TokenGroupMember
    25, // ScaledUiAmount: display only, raw amounts unchanged
];

/// Checks the mint account's data (owned by `token_program`) against the allow-list.
pub fn check_mint(mint: &AccountInfo, token_program: &Pubkey) -> Result<()> {
    if *token_program != anchor_spl::token_2022::ID {
        return Ok(());
    }
    let data = mint.try_borrow_data()?;
    if data.len() <= BASE_ACCOUNT_LEN {
        return Ok(()); // a plain 82-byte mint: no extensions
    }
    require!(
        data[BASE_ACCOUNT_LEN] == ACCOUNT_TYPE_MINT,
        TesseraError::UnsupportedMintExtension
    );
    let mut rest = data
        .get(BASE_ACCOUNT_LEN.saturating_add(1)..)
        .unwrap_or(&[]);
    while let [t0, t1, l0, l1, tail @ ..] = rest {
        let kind = u16::from_le_bytes([*t0, *t1]);
        let len = usize::from(u16::from_le_bytes([*l0, *l1]));
        if kind == 0 {
            break; // uninitialized: the end of the extensions
        }
        if !ALLOWED_EXTENSIONS.contains(&kind) {
            msg!("mint extension type {} is not supported", kind);
            return err!(TesseraError::UnsupportedMintExtension);
        }
        rest = tail.get(len..).unwrap_or(&[]);
    }
    Ok(())
}
