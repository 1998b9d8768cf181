//! Creating program accounts at their canonical PDA, cheaply.
//!
//! Anchor's `init` derives the address with `find_program_address`, which charges 1 500 CU for
//! every bump it tries. The canonical bump of a random key needs on average two tries but can
//! need ten or more, so an instruction that creates two PDAs could swing by 15k CU with the keys
//! involved. [`find`] runs the same search (`bump` from 255 down, first off-curve hash wins, so
//! the result is exactly `find_program_address`'s) with the `sol_sha256` and
//! `sol_curve_validate_point` syscalls, about 300 CU a try. [`create_account`] then creates the
//! account signed by those seeds, and [`init_token_vault`] turns one into a token account.
use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::program::invoke;
use anchor_lang::system_program::{
    create_account_allow_prefund, CreateAccount, CreateAccountAllowPrefund,
};

use crate::errors::TesseraError;

/// At most this many seeds (ours use three).
const MAX_SEEDS: usize = 4;

/// The canonical `(address, bump)` of `seeds` under this program, exactly as
/// `Pubkey::find_program_address(seeds, &crate::ID)` returns it.
#[cfg(any(target_os = "solana", target_arch = "bpf"))]
pub fn find(seeds: &[&[u8]]) -> Result<(Pubkey, u8)> {
    const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";
    const CURVE25519_EDWARDS: u64 = 0;
    require!(seeds.len() <= MAX_SEEDS, TesseraError::PdaNotFound);
    let mut parts: [&[u8]; MAX_SEEDS + 3] = [&[]; MAX_SEEDS + 3];
    parts[..seeds.len()].copy_from_slice(seeds);
    let n = seeds.len();
    parts[n + 1] = crate::ID.as_ref();
    parts[n + 2] = PDA_MARKER;
    for bump in (0..=u8::MAX).rev() {
        let bump_seed = [bump];
        let mut candidate = parts;
        candidate[n] = &bump_seed;
        let hash = solana_sha256_hasher::hashv(&candidate[..n + 3]).to_bytes();
        let mut point_ok = 0u8;
        // Returns 0 when the 32 bytes are a valid Edwards point (on the curve: not a PDA).
        // SAFETY: both pointers are valid for the syscall's reads and write.
        let on_curve = unsafe {
            solana_define_syscall::definitions::sol_curve_validate_point(
                CURVE25519_EDWARDS,
                hash.as_ptr(),
                &mut point_ok,
            )
        } == 0;
        if !on_curve {
            return Ok((Pubkey::new_from_array(hash), bump));
        }
    }
    err!(TesseraError::PdaNotFound)
}

/// Host builds (IDL, unit tests): the SDK's derivation.
#[cfg(not(any(target_os = "solana", target_arch = "bpf")))]
pub fn find(seeds: &[&[u8]]) -> Result<(Pubkey, u8)> {
    require!(seeds.len() <= MAX_SEEDS, TesseraError::PdaNotFound);
    Ok(Pubkey::find_program_address(seeds, &crate::ID))
}

/// Checks that `target` is the canonical PDA of `seeds` and returns its bump.
pub fn expect(target: &AccountInfo, seeds: &[&[u8]]) -> Result<u8> {
    let (address, bump) = find(seeds)?;
    if target.key() != address {
        return Err(error!(TesseraError::WrongPda).with_pubkeys((target.key(), address)));
    }
    Ok(bump)
}

/// Creates `target` (the PDA of `seeds ‖ [bump]`) with `space` bytes owned by `owner`, rent paid
/// by `payer`. An address someone pre-funded with lamports is still created (topped up).
pub fn create_account<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system_program: &AccountInfo<'info>,
    seeds_with_bump: &[&[u8]],
    space: usize,
    owner: &Pubkey,
) -> Result<()> {
    let rent = Rent::get()?.minimum_balance(space);
    let current = target.lamports();
    if current == 0 {
        let cpi = CpiContext::new(
            system_program.key(),
            CreateAccount {
                from: payer.clone(),
                to: target.clone(),
            },
        );
        anchor_lang::system_program::create_account(
            cpi.with_signer(&[seeds_with_bump]),
            rent,
            space as u64,
            owner,
        )
    } else {
        require_keys_neq!(payer.key(), target.key(), TesseraError::WrongPda);
        let cpi = CpiContext::new(
            system_program.key(),
            CreateAccountAllowPrefund {
                from: payer.clone(),
                to: target.clone(),
            },
        );
        create_account_allow_prefund(
            cpi.with_signer(&[seeds_with_bump]),
            rent.max(1).saturating_sub(current),
            space as u64,
            owner,
        )
    }
}

/// Creates the token account `vault` at the PDA `seeds_with_bump`, for `mint`, owned by
/// `authority`, under `token_program` (Token or Token-2022, sized for the mint's extensions).
pub fn init_token_vault<'info>(
    payer: &AccountInfo<'info>,
    vault: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    authority: &Pubkey,
    token_program: &AccountInfo<'info>,
    system_program: &AccountInfo<'info>,
    seeds_with_bump: &[&[u8]],
) -> Result<()> {
    let space = token_account_space(mint)?;
    create_account(
        payer,
        vault,
        system_program,
        seeds_with_bump,
        space,
        token_program.key,
    )?;
    // InitializeAccount3 (instruction 18, same in Token and Token-2022): [18] ‖ owner.
    let mut data = [0u8; 33];
    data[0] = 18;
    data[1..].copy_from_slice(authority.as_ref());
    let ix = Instruction {
        program_id: token_program.key(),
        accounts: vec![
            AccountMeta::new(vault.key(), false),
            AccountMeta::new_readonly(mint.key(), false),
        ],
        data: data.to_vec(),
    };
    invoke(&ix, &[vault.clone(), mint.clone()]).map_err(Into::into)
}

#[allow(deprecated)] // the same calculation Anchor's `init` uses
fn token_account_space(mint: &AccountInfo) -> Result<usize> {
    if *mint.owner == anchor_spl::token_2022::ID {
        use anchor_spl::token_2022::spl_token_2022::extension::{
            BaseStateWithExtensions, ExtensionType, StateWithExtensions,
        };
        use anchor_spl::token_2022::spl_token_2022::state::{Account, Mint};
        let data = mint.try_borrow_data()?;
        let state = StateWithExtensions::<Mint>::unpack(&data)?;
        let required =
            ExtensionType::get_required_init_account_extensions(&state.get_extension_types()?);
        Ok(ExtensionType::try_calculate_account_len::<Account>(
            &required,
        )?)
    } else {
        Ok(anchor_spl::token::TokenAccount::LEN)
    }
}

/// Creates the program account `target` (`space` bytes) at the canonical PDA of `seeds`, rent
/// paid by `payer`. Returns the bump; fill it with [`write_account`].
pub fn create_program_account<'info>(
    payer: &AccountInfo<'info>,
    target: &AccountInfo<'info>,
    system_program: &AccountInfo<'info>,
    seeds: &[&[u8]],
    space: usize,
) -> Result<u8> {
    let bump = expect(target, seeds)?;
    let bump_seed = [bump];
    let mut signer: [&[u8]; MAX_SEEDS + 1] = [&[]; MAX_SEEDS + 1];
    signer[..seeds.len()].copy_from_slice(seeds);
    signer[seeds.len()] = &bump_seed;
    create_account(
        payer,
        target,
        system_program,
        &signer[..=seeds.len()],
        space,
        &crate::ID,
    )?;
    Ok(bump)
}

/// Writes `value` (discriminator + Borsh) into an account this instruction created.
pub fn write_account<T: AccountSerialize>(target: &AccountInfo, value: &T) -> Result<()> {
    let mut data = target.try_borrow_mut_data()?;
    let mut cursor: &mut [u8] = &mut data;
    value.try_serialize(&mut cursor)
}
