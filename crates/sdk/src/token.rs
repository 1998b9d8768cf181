//! SPL Token helpers: mints and token accounts for the network token.
use solana_sdk::program_pack::Pack;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};
use spl_token_interface::state::{Account as TokenAccountState, Mint as MintState};

pub use spl_token_2022_interface::ID as TOKEN_2022_PROGRAM_ID;
pub use spl_token_interface::ID as TOKEN_PROGRAM_ID;

pub const MINT_LEN: usize = MintState::LEN;
pub const TOKEN_ACCOUNT_LEN: usize = TokenAccountState::LEN;

/// Instructions creating `mint` (a fresh keypair account) with `decimals` and `authority`
/// under the classic Token program.
pub fn create_mint(
    payer: &Pubkey,
    mint: &Pubkey,
    authority: &Pubkey,
    decimals: u8,
    rent_lamports: u64,
) -> Vec<Instruction> {
    create_mint_for(
        &TOKEN_PROGRAM_ID,
        payer,
        mint,
        authority,
        decimals,
        rent_lamports,
    )
}

/// [`create_mint`] under `token_program` (Token or Token-2022; a plain mint, no extensions).
pub fn create_mint_for(
    token_program: &Pubkey,
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
            token_program,
        ),
        spl_token_2022_interface::instruction::initialize_mint2(
            token_program,
            mint,
            authority,
            None,
            decimals,
        )
        .expect("token program id is Token or Token-2022"),
    ]
}

/// The associated token account of `owner` for `mint` (classic Token program).
pub fn ata(owner: &Pubkey, mint: &Pubkey) -> Pubkey {
    ata_for(&TOKEN_PROGRAM_ID, owner, mint)
}

/// The associated token account of `owner` for `mint` under `token_program`.
pub fn ata_for(token_program: &Pubkey, owner: &Pubkey, mint: &Pubkey) -> Pubkey {
    spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
        owner,
        mint,
        token_program,
    )
}

/// Idempotently create `owner`'s associated token account for `mint`.
pub fn create_ata(payer: &Pubkey, owner: &Pubkey, mint: &Pubkey) -> Instruction {
    create_ata_for(&TOKEN_PROGRAM_ID, payer, owner, mint)
}

/// [`create_ata`] under `token_program`.
pub fn create_ata_for(
    token_program: &Pubkey,
    payer: &Pubkey,
    owner: &Pubkey,
    mint: &Pubkey,
) -> Instruction {
    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
        payer,
        owner,
        mint,
        token_program,
    )
}

pub fn mint_to(mint: &Pubkey, to: &Pubkey, authority: &Pubkey, amount: u64) -> Instruction {
    mint_to_for(&TOKEN_PROGRAM_ID, mint, to, authority, amount)
}

/// [`mint_to`] under `token_program`.
pub fn mint_to_for(
    token_program: &Pubkey,
    mint: &Pubkey,
    to: &Pubkey,
    authority: &Pubkey,
    amount: u64,
) -> Instruction {
    spl_token_2022_interface::instruction::mint_to(token_program, mint, to, authority, &[], amount)
        .expect("token program id is Token or Token-2022")
}

/// `transfer_checked` of `amount` from `from` (owned by `owner`) to `to` under `token_program`.
pub fn transfer_checked_for(
    token_program: &Pubkey,
    from: &Pubkey,
    mint: &Pubkey,
    to: &Pubkey,
    owner: &Pubkey,
    amount: u64,
    decimals: u8,
) -> Instruction {
    spl_token_2022_interface::instruction::transfer_checked(
        token_program,
        from,
        mint,
        to,
        owner,
        &[],
        amount,
        decimals,
    )
    .expect("token program id is Token or Token-2022")
}

/// Token balance from raw token-account data (works for Token and Token-2022 base layout).
pub fn balance_of(data: &[u8]) -> Option<u64> {
    if data.len() < 72 {
        return None;
    }
    Some(u64::from_le_bytes(data[64..72].try_into().ok()?))
}

/// Decimals of a mint (Token or Token-2022: byte 44 of the base layout).
pub fn decimals_of(mint_data: &[u8]) -> Option<u8> {
    mint_data.get(44).copied()
}
