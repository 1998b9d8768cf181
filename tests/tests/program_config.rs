//! In-process tests of the config instructions against the real SBF build (LiteSVM).
#![allow(clippy::result_large_err, clippy::type_complexity)]
use anchor_lang::error::ErrorCode as AnchorError;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::constants::*;
use tessera::errors::TesseraError;
use tessera::state::Config;
use tessera_sdk::{ix, pda, token};
use tessera_tests::svm::*;

#[test]
fn initialize_config_creates_the_pda_with_every_field() {
    let s = Svm::with_config();
    let (addr, bump) = pda::config();
    let c: Config = s.account(&addr);
    assert_eq!(c.authority, s.authority.pubkey());
    assert_eq!(c.mint, s.mint);
    assert_eq!(c.treasury, s.treasury);
    assert_eq!(c.token_program, token::TOKEN_PROGRAM_ID);
    assert_eq!(c.bump, bump, "canonical bump stored");
    assert_eq!(c.params(), test_params());
    assert!(!c.paused);
}

#[test]
fn initialize_config_twice_fails() {
    let mut s = Svm::with_config();
    let again = s.init_config_ix(ix::localnet_params());
    let res = s.send(&[again], &[]);
    // the `init` of an existing PDA fails in the system program's create_account
    assert_fails(&res);
    let logs = res.unwrap_err().meta.logs.join("\n");
    assert!(logs.contains("already in use"), "{logs}");
}

#[test]
fn initialize_config_requires_the_upgrade_authority() {
    let mut s = Svm::new();
    let intruder = Keypair::new();
    s.fund(&intruder.pubkey(), 1_000_000_000);
    let ix = ix::initialize_config(
        &intruder.pubkey(),
        &s.mint,
        &s.treasury,
        &token::TOKEN_PROGRAM_ID,
        true,
        ix::localnet_params(),
    );
    assert_err(
        &s.send_as(&intruder, &[ix], &[]),
        TesseraError::Unauthorized,
    );
    // and without the ProgramData account at all
    let ix = ix::initialize_config(
        &s.authority.pubkey(),
        &s.mint,
        &s.treasury,
        &token::TOKEN_PROGRAM_ID,
        false,
        ix::localnet_params(),
    );
    assert_err(&s.send(&[ix], &[]), TesseraError::Unauthorized);
    assert!(!s.exists(&pda::config().0));
}

#[test]
fn initialize_config_rejects_bad_parameters() {
    let mut s = Svm::new();
    let base = ix::localnet_params();
    let cases: Vec<(Box<dyn Fn(&mut tessera::state::ConfigParams)>, TesseraError)> = vec![
        (
            Box::new(|p| p.protocol_fee_bps = 10_001),
            TesseraError::InvalidBps,
        ),
        (
            Box::new(|p| p.slash_timeout_bps = u16::MAX),
            TesseraError::InvalidBps,
        ),
        (
            Box::new(|p| p.slash_client_share_bps = 10_001),
            TesseraError::InvalidBps,
        ),
        (Box::new(|p| p.min_stake = 0), TesseraError::InvalidMinStake),
        (
            Box::new(|p| p.unbonding_secs = 0),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.commit_window_secs = -5),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.reveal_window_secs = i64::MAX),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.priority_window_secs = -1),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.max_replicas = 0),
            TesseraError::InvalidMaxReplicas,
        ),
        (
            Box::new(|p| p.max_replicas = 200),
            TesseraError::InvalidMaxReplicas,
        ),
        (
            Box::new(|p| p.escalation_cap = 9),
            TesseraError::InvalidEscalationCap,
        ),
        // the bounds on what an authority may set (docs/PROTOCOL.md, "Parameter bounds")
        (
            Box::new(|p| p.protocol_fee_bps = MAX_PROTOCOL_FEE_BPS + 1),
            TesseraError::InvalidBps,
        ),
        (
            Box::new(|p| p.slash_wrong_result_bps = MAX_SLASH_BPS + 1),
            TesseraError::InvalidBps,
        ),
        (
            Box::new(|p| p.slash_no_reveal_bps = 10_000),
            TesseraError::InvalidBps,
        ),
        (
            Box::new(|p| p.crank_reward_bps = MAX_CRANK_REWARD_BPS + 1),
            TesseraError::InvalidBps,
        ),
        (
            Box::new(|p| p.commit_window_secs = MAX_WINDOW_SECS + 1),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.challenge_window_secs = MAX_WINDOW_SECS + 1),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.unbonding_secs = MAX_UNBONDING_SECS + 1),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.priority_window_secs = MAX_PRIORITY_WINDOW_SECS + 1),
            TesseraError::InvalidPeriod,
        ),
        (
            Box::new(|p| p.challenge_bond = 0),
            TesseraError::InvalidChallengeBond,
        ),
    ];
    for (mutate, err) in cases {
        let mut p = base.clone();
        mutate(&mut p);
        let ix = s.init_config_ix(p);
        assert_err(&s.send(&[ix], &[]), err);
    }
    assert!(!s.exists(&pda::config().0));
}

#[test]
fn initialize_config_rejects_a_treasury_of_another_mint() {
    let mut s = Svm::new();
    // a second mint and a token account of it
    let other = Keypair::new();
    let auth = s.authority.pubkey();
    let rent = s.svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
    let mut ixs = token::create_mint(&auth, &other.pubkey(), &auth, DECIMALS, rent);
    ixs.push(token::create_ata(&auth, &auth, &other.pubkey()));
    s.send(&ixs, &[&other]).unwrap();
    let bad_treasury = token::ata(&auth, &other.pubkey());
    let ix = ix::initialize_config(
        &auth,
        &s.mint,
        &bad_treasury,
        &token::TOKEN_PROGRAM_ID,
        true,
        ix::localnet_params(),
    );
    assert_err(&s.send(&[ix], &[]), TesseraError::TreasuryMintMismatch);
    // a mint that is not a mint at all
    let ix = ix::initialize_config(
        &auth,
        &Pubkey::new_unique(),
        &s.treasury,
        &token::TOKEN_PROGRAM_ID,
        true,
        ix::localnet_params(),
    );
    assert_anchor_err(&s.send(&[ix], &[]), AnchorError::AccountNotInitialized);
}

#[test]
fn update_config_changes_parameters_authority_and_treasury() {
    let mut s = Svm::with_config();
    let mut p = ix::localnet_params();
    p.protocol_fee_bps = 100;
    p.min_stake = 5;
    let new_auth = Keypair::new();
    s.fund(&new_auth.pubkey(), 1_000_000_000);
    let new_treasury = {
        let auth = s.authority.pubkey();
        let ix = token::create_ata(&auth, &new_auth.pubkey(), &s.mint);
        s.send(&[ix], &[]).unwrap();
        s.ata(&new_auth.pubkey())
    };
    let ix = ix::update_config(
        &s.authority.pubkey(),
        &token::TOKEN_PROGRAM_ID,
        Some(p.clone()),
        Some(new_auth.pubkey()),
        Some(new_treasury),
    );
    s.send_named("update_config", ix, &[]).unwrap();
    let c: Config = s.account(&pda::config().0);
    assert_eq!(c.params(), p);
    assert_eq!(c.treasury, new_treasury);
    // the transfer is only proposed: the old authority keeps its power until the new one
    // signs (a typo'd key can never take the network over, or lock it)
    assert_eq!(c.authority, s.authority.pubkey());
    assert_eq!(c.pending_authority, new_auth.pubkey());
    let ix = ix::set_paused(&new_auth.pubkey(), true);
    assert_err(
        &s.send_as(&new_auth, &[ix], &[]),
        TesseraError::Unauthorized,
    );
    // only the proposed key can accept
    let intruder = Keypair::new();
    s.fund(&intruder.pubkey(), 1_000_000_000);
    assert_err(
        &s.send_as(&intruder, &[ix::accept_authority(&intruder.pubkey())], &[]),
        TesseraError::NotPendingAuthority,
    );
    s.send_as(&new_auth, &[ix::accept_authority(&new_auth.pubkey())], &[])
        .unwrap();
    let c: Config = s.account(&pda::config().0);
    assert_eq!(c.authority, new_auth.pubkey());
    assert_eq!(c.pending_authority, Pubkey::default());
    // accepting twice is refused
    assert_err(
        &s.send_as(&new_auth, &[ix::accept_authority(&new_auth.pubkey())], &[]),
        TesseraError::NotPendingAuthority,
    );
    // the old authority has lost its power
    let ix = ix::set_paused(&s.authority.pubkey(), true);
    assert_err(&s.send(&[ix], &[]), TesseraError::Unauthorized);
    // the new one has it
    let ix = ix::set_paused(&new_auth.pubkey(), true);
    s.send_as(&new_auth, &[ix], &[]).unwrap();
    assert!(s.account::<Config>(&pda::config().0).paused);
}

#[test]
fn update_config_rejects_wrong_signer_and_bad_values() {
    let mut s = Svm::with_config();
    let intruder = Keypair::new();
    s.fund(&intruder.pubkey(), 1_000_000_000);
    let mut p = ix::localnet_params();
    p.protocol_fee_bps = 0;
    let ix = ix::update_config(
        &intruder.pubkey(),
        &token::TOKEN_PROGRAM_ID,
        Some(p),
        None,
        None,
    );
    assert_err(
        &s.send_as(&intruder, &[ix], &[]),
        TesseraError::Unauthorized,
    );

    let mut p = ix::localnet_params();
    p.max_replicas = 0;
    let ix = ix::update_config(
        &s.authority.pubkey(),
        &token::TOKEN_PROGRAM_ID,
        Some(p),
        None,
        None,
    );
    assert_err(&s.send(&[ix], &[]), TesseraError::InvalidMaxReplicas);

    // a proposal can be withdrawn (the default key means none); nobody can accept it then
    let other = Keypair::new();
    s.fund(&other.pubkey(), 1_000_000_000);
    let propose = |k: Pubkey| {
        ix::update_config(
            &s.authority.pubkey(),
            &token::TOKEN_PROGRAM_ID,
            None,
            Some(k),
            None,
        )
    };
    let (a, b) = (propose(other.pubkey()), propose(Pubkey::default()));
    s.send(&[a], &[]).unwrap();
    s.send(&[b], &[]).unwrap();
    assert_err(
        &s.send_as(&other, &[ix::accept_authority(&other.pubkey())], &[]),
        TesseraError::NotPendingAuthority,
    );
    // bounds hold on update too
    let mut p = ix::localnet_params();
    p.slash_timeout_bps = MAX_SLASH_BPS + 1;
    let ix = ix::update_config(
        &s.authority.pubkey(),
        &token::TOKEN_PROGRAM_ID,
        Some(p),
        None,
        None,
    );
    assert_err(&s.send(&[ix], &[]), TesseraError::InvalidBps);

    // a treasury that is not a token account of the config mint
    let ix = ix::update_config(
        &s.authority.pubkey(),
        &token::TOKEN_PROGRAM_ID,
        None,
        None,
        Some(s.authority.pubkey()),
    );
    assert_fails(&s.send(&[ix], &[]));
    // nothing changed
    let c: Config = s.account(&pda::config().0);
    assert_eq!(c.params(), test_params());
    assert_eq!(c.treasury, s.treasury);
}

#[test]
fn set_paused_toggles_and_is_guarded() {
    let mut s = Svm::with_config();
    let ix = ix::set_paused(&s.authority.pubkey(), true);
    s.send_named("set_paused", ix, &[]).unwrap();
    assert!(s.account::<Config>(&pda::config().0).paused);
    let intruder = Keypair::new();
    s.fund(&intruder.pubkey(), 1_000_000_000);
    let ix = ix::set_paused(&intruder.pubkey(), false);
    assert_err(
        &s.send_as(&intruder, &[ix], &[]),
        TesseraError::Unauthorized,
    );
    let ix = ix::set_paused(&s.authority.pubkey(), false);
    s.send(&[ix], &[]).unwrap();
    assert!(!s.account::<Config>(&pda::config().0).paused);
}
