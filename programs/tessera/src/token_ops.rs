//! Token movements (CPI into the config's token program) and the slashing split. Every token
//! the program moves goes through here.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::program::invoke_signed;
use anchor_spl::token_interface::{close_account, CloseAccount, TokenInterface};

use crate::constants::BPS_DENOMINATOR;
use crate::errors::TesseraError;
use crate::state::JobTerms;

/// Binds `$seeds: &[&[u8]]` to the signer seeds of the config PDA (`["config", bump]`), the
/// authority of the escrow vault.
#[macro_export]
macro_rules! config_signer_seeds {
    ($config:expr => $seeds:ident) => {
        let config_bump = [$config.bump];
        let $seeds: &[&[u8]] = &[$crate::constants::CONFIG_SEED, &config_bump];
    };
}

/// Binds `$seeds: &[&[u8]]` to the signer seeds of a node PDA (`["node", operator, bump]`).
#[macro_export]
macro_rules! node_signer_seeds {
    ($node:expr => $seeds:ident) => {
        let node_operator = $node.operator;
        let node_bump = [$node.bump];
        let $seeds: &[&[u8]] = &[
            $crate::constants::NODE_SEED,
            node_operator.as_ref(),
            &node_bump,
        ];
    };
}

/// Move `amount` from `from` to `to`, signed by `authority` (a PDA when `seeds` is non-empty).
/// `mint` is the config's mint (callers pin its address); its decimals are read from the SPL
/// layout, and the token program checks they and the mint match both accounts.
pub fn transfer<'info>(
    token_program: &Interface<'info, TokenInterface>,
    mint: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    seeds: &[&[&[u8]]],
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    // TransferChecked (instruction 12, same in Token and Token-2022), built by hand: the
    // generic builders allocate and copy more than this one CPI needs.
    let mut data = [0u8; 10];
    data[0] = 12;
    data[1..9].copy_from_slice(&amount.to_le_bytes());
    data[9] = decimals(mint)?;
    let ix = Instruction {
        program_id: token_program.key(),
        accounts: vec![
            AccountMeta::new(from.key(), false),
            AccountMeta::new_readonly(mint.key(), false),
            AccountMeta::new(to.key(), false),
            AccountMeta::new_readonly(authority.key(), true),
        ],
        data: data.to_vec(),
    };
    invoke_signed(
        &ix,
        &[from.clone(), mint.clone(), to.clone(), authority.clone()],
        seeds,
    )
    .map_err(Into::into)
}

/// Close a program-owned token account (balance must be zero), rent to `destination`.
pub fn close<'info>(
    token_program: &Interface<'info, TokenInterface>,
    account: &AccountInfo<'info>,
    destination: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    seeds: &[&[&[u8]]],
) -> Result<()> {
    let accounts = CloseAccount {
        account: account.clone(),
        destination: destination.clone(),
        authority: authority.clone(),
    };
    close_account(CpiContext::new_with_signer(
        token_program.key(),
        accounts,
        seeds,
    ))
}

/// Decimals of a mint, from the SPL layout (byte 44: after the mint authority option and the
/// supply; the same in Token-2022).
pub fn decimals(mint: &AccountInfo) -> Result<u8> {
    let data = mint.try_borrow_data()?;
    data.get(44)
        .copied()
        .ok_or_else(|| error!(TesseraError::MintMismatch))
}

/// Token balance of a token account whose address the caller already pinned (escrow, stake
/// vault): read straight from the SPL layout (amount at bytes 64..72, same for Token-2022).
pub fn amount_of(account: &AccountInfo) -> Result<u64> {
    let data = account.try_borrow_data()?;
    let bytes: [u8; 8] = data
        .get(64..72)
        .and_then(|b| b.try_into().ok())
        .ok_or(TesseraError::VaultMismatch)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Checks that `account` is a token account (owned by `token_program`) of `mint` whose owner is
/// `owner`, reading the SPL layout (mint at bytes 0..32, owner at 32..64, same in Token-2022):
/// what Anchor's `token::` constraints check, without unpacking the whole account. Another
/// program's account, a short one or someone else's (a program vault included) fails with
/// `not_owner`; another mint with `MintMismatch`.
pub fn check_token_account(
    account: &AccountInfo,
    owner: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
    not_owner: TesseraError,
) -> Result<()> {
    if account.owner != token_program {
        return Err(error!(not_owner));
    }
    let data = account.try_borrow_data()?;
    let field = |r: core::ops::Range<usize>| -> Result<Pubkey> {
        let b: [u8; 32] = data
            .get(r)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| error!(not_owner))?;
        Ok(Pubkey::new_from_array(b))
    };
    require_keys_eq!(field(0..32)?, *mint, TesseraError::MintMismatch);
    if field(32..64)? != *owner {
        return Err(error!(not_owner));
    }
    Ok(())
}

/// A wallet's own token account of the config's mint (where a payment or refund goes):
/// `TokenAccountNotOwner` otherwise ([`check_token_account`]).
pub fn check_wallet_account(
    account: &AccountInfo,
    wallet: &Pubkey,
    config: &crate::state::ConfigCore,
) -> Result<()> {
    check_token_account(
        account,
        wallet,
        &config.mint,
        &config.token_program,
        TesseraError::TokenAccountNotOwner,
    )
}

/// The crank reward account of `expire_claim` / `settle_claim`: a token account of the
/// config's mint owned by the signing `cranker` ([`check_token_account`]).
pub fn check_crank_account(
    account: &AccountInfo,
    cranker: &Pubkey,
    config: &crate::state::ConfigCore,
) -> Result<()> {
    check_token_account(
        account,
        cranker,
        &config.mint,
        &config.token_program,
        TesseraError::CrankTokenNotCranker,
    )
}

/// `amount * bps / 10000`, rounded down, checked.
pub fn bps_of(amount: u64, bps: u16) -> Result<u64> {
    let v = u128::from(amount)
        .checked_mul(u128::from(bps))
        .ok_or(TesseraError::MathOverflow)?
        .checked_div(u128::from(BPS_DENOMINATOR))
        .ok_or(TesseraError::MathOverflow)?;
    u64::try_from(v).map_err(|_| error!(TesseraError::MathOverflow))
}

/// How a slash of `total` tokens is split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlashSplit {
    pub total: u64,
    /// Paid to the crank that triggered the slash.
    pub crank: u64,
    /// Credited to the affected job (its client, or a proven-right challenger).
    pub job: u64,
    /// Paid to the treasury.
    pub treasury: u64,
}

/// Slash `rate_bps` of `stake`: the crank reward comes first, then the client share of the
/// rest, and the remainder goes to the treasury. The parts always add up to `total`.
pub fn slash_split(terms: &JobTerms, stake: u64, rate_bps: u16) -> Result<SlashSplit> {
    let total = bps_of(stake, rate_bps)?;
    let crank = bps_of(total, terms.crank_reward_bps)?;
    let rest = total.checked_sub(crank).ok_or(TesseraError::MathOverflow)?;
    let job = bps_of(rest, terms.slash_client_share_bps)?;
    let treasury = rest.checked_sub(job).ok_or(TesseraError::MathOverflow)?;
    Ok(SlashSplit {
        total,
        crank,
        job,
        treasury,
    })
}
