//! Nodes and staking on LiteSVM against the SBF build.
use anchor_lang::error::ErrorCode as AnchorError;
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::{instruction::Instruction, signature::Keypair, signer::Signer};
use tessera::constants::*;
use tessera::errors::TesseraError;
use tessera::state::Node;
use tessera_sdk::{ix, pda};
use tessera_tests::svm::*;

#[test]
fn register_stake_unstake_withdraw_deregister() {
    let mut s = Svm::with_config();
    let t = s.tctx();
    let op = s.actor(500 * TOKEN);
    let (node_addr, bump) = pda::node(&op.pubkey());
    let vault = pda::stake_vault(&node_addr).0;

    s.send_named(
        "register_node",
        ix::register_node(&t, &op.pubkey(), gpu_hardware()),
        &[&op],
    )
    .unwrap();
    let n: Node = s.account(&node_addr);
    assert_eq!(n.operator, op.pubkey());
    assert_eq!(n.bump, bump);
    assert_eq!(n.hardware, gpu_hardware());
    assert_eq!(n.reputation.score_bps, INITIAL_REPUTATION_BPS);

    s.send_named("stake", ix::stake(&t, &op.pubkey(), 300 * TOKEN), &[&op])
        .unwrap();
    assert_eq!(s.balance(&vault), 300 * TOKEN);
    assert_eq!(s.balance(&s.ata(&op.pubkey())), 200 * TOKEN);
    assert_eq!(s.account::<Node>(&node_addr).stake, 300 * TOKEN);

    let mut hw = gpu_hardware();
    hw.endpoint = "http://127.0.0.1:9999".into();
    s.send_named(
        "update_node",
        ix::update_node(&op.pubkey(), hw.clone()),
        &[&op],
    )
    .unwrap();
    assert_eq!(s.account::<Node>(&node_addr).hardware, hw);

    // cannot unbond more than bonded
    assert_err(
        &s.send(&[ix::request_unstake(&op.pubkey(), 301 * TOKEN)], &[&op]),
        TesseraError::InsufficientStake,
    );
    s.send_named(
        "request_unstake",
        ix::request_unstake(&op.pubkey(), 300 * TOKEN),
        &[&op],
    )
    .unwrap();
    let n: Node = s.account(&node_addr);
    assert_eq!(
        (n.stake, n.unbonding, n.bonded()),
        (300 * TOKEN, 300 * TOKEN, 0)
    );
    // too early
    assert_err(
        &s.send(&[ix::withdraw_stake(&t, &op.pubkey())], &[&op]),
        TesseraError::UnbondingNotElapsed,
    );
    // cannot deregister with stake in the vault
    assert_err(
        &s.send(&[ix::deregister_node(&t, &op.pubkey())], &[&op]),
        TesseraError::StakeRemaining,
    );
    s.warp(ix::localnet_params().unbonding_secs + 1);
    s.send_named(
        "withdraw_stake",
        ix::withdraw_stake(&t, &op.pubkey()),
        &[&op],
    )
    .unwrap();
    assert_eq!(s.balance(&s.ata(&op.pubkey())), 500 * TOKEN);
    assert_eq!(s.balance(&vault), 0);
    // nothing left to withdraw
    assert_err(
        &s.send(&[ix::withdraw_stake(&t, &op.pubkey())], &[&op]),
        TesseraError::NothingUnbonding,
    );
    let lamports_before = s.svm.get_balance(&op.pubkey()).unwrap();
    s.send_named(
        "deregister_node",
        ix::deregister_node(&t, &op.pubkey()),
        &[&op],
    )
    .unwrap();
    assert!(!s.exists(&node_addr));
    assert!(!s.exists(&vault));
    assert!(
        s.svm.get_balance(&op.pubkey()).unwrap() > lamports_before,
        "rent returned"
    );
}

#[test]
fn register_rejects_bad_hardware_and_double_registration() {
    let mut s = Svm::with_config();
    let t = s.tctx();
    let op = s.actor(0);
    let mut hw = gpu_hardware();
    hw.gpu_model = "x".repeat(MAX_GPU_MODEL_LEN + 1);
    assert_err(
        &s.send(&[ix::register_node(&t, &op.pubkey(), hw)], &[&op]),
        TesseraError::StringTooLong,
    );
    let mut hw = gpu_hardware();
    hw.capabilities = 0;
    assert_err(
        &s.send(&[ix::register_node(&t, &op.pubkey(), hw)], &[&op]),
        TesseraError::InvalidCapabilities,
    );
    let mut hw = gpu_hardware();
    hw.capabilities = 0x80;
    assert_err(
        &s.send(&[ix::register_node(&t, &op.pubkey(), hw)], &[&op]),
        TesseraError::InvalidCapabilities,
    );
    s.send(
        &[ix::register_node(&t, &op.pubkey(), gpu_hardware())],
        &[&op],
    )
    .unwrap();
    assert_fails(&s.send(
        &[ix::register_node(&t, &op.pubkey(), gpu_hardware())],
        &[&op],
    ));
}

#[test]
fn staking_is_guarded_against_other_signers_and_hostile_values() {
    let mut s = Svm::with_config();
    let t = s.tctx();
    let victim = s.node(200 * TOKEN, 0);
    let thief = s.actor(10 * TOKEN);
    let victim_node = pda::node(&victim.pubkey()).0;

    // the thief names the victim's node while signing for itself: not its operator
    let mut accounts = tessera::accounts::RequestUnstake {
        operator: thief.pubkey(),
        config: pda::config().0,
        node: victim_node,
    }
    .to_account_metas(None);
    let data = tessera::instruction::RequestUnstake {
        args: tessera::instructions::RequestUnstakeArgs { amount: 1 },
    }
    .data();
    let bad = Instruction {
        program_id: tessera::ID,
        accounts: accounts.clone(),
        data: data.clone(),
    };
    assert_err(&s.send(&[bad], &[&thief]), TesseraError::NotOperator);
    // ... or without the victim's signature
    accounts[0].pubkey = victim.pubkey();
    accounts[0].is_signer = false;
    let unsigned = Instruction {
        program_id: tessera::ID,
        accounts,
        data,
    };
    assert_anchor_err(&s.send(&[unsigned], &[]), AnchorError::AccountNotSigner);

    // withdrawing into someone else's token account: operator_token must be the signer's
    let mut w = ix::withdraw_stake(&t, &victim.pubkey());
    w.accounts[4].pubkey = s.ata(&thief.pubkey()); // operator_token
    s.send(&[ix::request_unstake(&victim.pubkey(), TOKEN)], &[&victim])
        .unwrap();
    s.warp(100);
    assert_anchor_err(&s.send(&[w], &[&victim]), AnchorError::ConstraintTokenOwner);

    // zero and overflowing amounts
    assert_err(
        &s.send(&[ix::stake(&t, &victim.pubkey(), 0)], &[&victim]),
        TesseraError::ZeroAmount,
    );
    assert_fails(&s.send(&[ix::stake(&t, &victim.pubkey(), u64::MAX)], &[&victim]));
    assert_err(
        &s.send(
            &[ix::request_unstake(&victim.pubkey(), u64::MAX)],
            &[&victim],
        ),
        TesseraError::InsufficientStake,
    );
    assert_eq!(s.account::<Node>(&victim_node).stake, 200 * TOKEN);
}

#[test]
fn paused_network_blocks_new_registrations_and_stake_but_not_exits() {
    let mut s = Svm::with_config();
    let t = s.tctx();
    let op = s.node(150 * TOKEN, 50 * TOKEN);
    s.send(&[ix::set_paused(&s.authority.pubkey(), true)], &[])
        .unwrap();
    let newcomer = s.actor(0);
    assert_err(
        &s.send(
            &[ix::register_node(&t, &newcomer.pubkey(), gpu_hardware())],
            &[&newcomer],
        ),
        TesseraError::Paused,
    );
    assert_err(
        &s.send(&[ix::stake(&t, &op.pubkey(), TOKEN)], &[&op]),
        TesseraError::Paused,
    );
    // exits stay open
    s.send(&[ix::request_unstake(&op.pubkey(), 150 * TOKEN)], &[&op])
        .unwrap();
    s.warp(100);
    s.send(&[ix::withdraw_stake(&t, &op.pubkey())], &[&op])
        .unwrap();
    assert_eq!(s.balance(&s.ata(&op.pubkey())), 200 * TOKEN);
    let _ = Keypair::new();
}
