//! Token movements (CPI into the config's token program) and the slashing split. Every token
//! the program moves goes through here.
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{
    close_account, transfer_checked, CloseAccount, Mint, TokenAccount, TokenInterface,
    TransferChecked,
};

use crate::constants::BPS_DENOMINATOR;
use crate::errors::TesseraError;
use crate::state::Config;

/// Move `amount` from `from` to `to`, signed by `authority` (a PDA when `seeds` is non-empty).
pub fn transfer<'info>(
    token_program: &Interface<'info, TokenInterface>,
    mint: &InterfaceAccount<'info, Mint>,
    from: &InterfaceAccount<'info, TokenAccount>,
    to: &InterfaceAccount<'info, TokenAccount>,
    authority: &AccountInfo<'info>,
    seeds: &[&[&[u8]]],
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let accounts = TransferChecked {
        from: from.to_account_info(),
        mint: mint.to_account_info(),
        to: to.to_account_info(),
        authority: authority.clone(),
    };
    let ctx = CpiContext::new_with_signer(token_program.key(), accounts, seeds);
    transfer_checked(ctx, amount, mint.decimals)
}

/// Close a program-owned token account (balance must be zero), rent to `destination`.
pub fn close<'info>(
    token_program: &Interface<'info, TokenInterface>,
    account: &InterfaceAccount<'info, TokenAccount>,
    destination: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    seeds: &[&[&[u8]]],
) -> Result<()> {
    let accounts = CloseAccount {
        account: account.to_account_info(),
        destination: destination.clone(),
        authority: authority.clone(),
    };
    close_account(CpiContext::new_with_signer(
        token_program.key(),
        accounts,
        seeds,
    ))
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
pub fn slash_split(config: &Config, stake: u64, rate_bps: u16) -> Result<SlashSplit> {
    let total = bps_of(stake, rate_bps)?;
    let crank = bps_of(total, config.crank_reward_bps)?;
    let rest = total.checked_sub(crank).ok_or(TesseraError::MathOverflow)?;
    let job = bps_of(rest, config.slash_client_share_bps)?;
    let treasury = rest.checked_sub(job).ok_or(TesseraError::MathOverflow)?;
    Ok(SlashSplit {
        total,
        crank,
        job,
        treasury,
    })
}
