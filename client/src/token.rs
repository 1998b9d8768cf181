//! SPL Token helpers: mints and token accounts for the network token.
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};
use spl_token_interface::state::{Account as TokenAccountState, Mint as MintState};
use solana_sdk::program_pack::Pack;

pub use spl_token_interface::ID as TOKEN_PROGRAM_ID;

pub const MINT_LEN: usize = MintState::LEN;
pub const TOKEN_ACCOUNT_LEN: usize = TokenAccountState::LEN;

/// Instructions creating `mint` (a fresh keypair account) with `decimals` and `authority`.
pub fn create_mint(
    payer: &Pubkey,
    mint: &Pubkey,
    authority: &Pubkey,
    decimals: u8,
    rent_lamports: u64,
) -> Vec<Instruction> {
    vec![
        solana_system_interface::instruction::create_account(
            payer,
            mint,
            rent_lamports,
            MINT_LEN as u64,
            &TOKEN_PROGRAM_ID,
        ),
        spl_token_interface::instruction::initialize_mint2(
            &TOKEN_PROGRAM_ID,
            mint,
            authority,
            None,
            decimals,
        )
        .expect("static instruction"),
    ]
}

/// The associated token account of `owner` for `mint` (classic Token program).
pub fn ata(owner: &Pubkey, mint: &Pubkey) -> Pubkey {
    spl_associated_token_account_interface::address::get_associated_token_address(owner, mint)
}

/// Idempotently create `owner`'s associated token account for `mint`.
pub fn create_ata(payer: &Pubkey, owner: &Pubkey, mint: &Pubkey) -> Instruction {
    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        payer,
        owner,
        mint,
        &TOKEN_PROGRAM_ID,
    )
}

pub fn mint_to(mint: &Pubkey, to: &Pubkey, authority: &Pubkey, amount: u64) -> Instruction {
    spl_token_interface::instruction::mint_to(&TOKEN_PROGRAM_ID, mint, to, authority, &[], amount)
        .expect("static instruction")
}

/// Token balance from raw token-account data (works for Token and Token-2022 base layout).
pub fn balance_of(data: &[u8]) -> Option<u64> {
    if data.len() < 72 {
        return None;
    }
    Some(u64::from_le_bytes(data[64..72].try_into().ok()?))
}
