//! The same marketplace on a Token-2022 mint: every token movement goes through the
//! token interface (`transfer_checked`), so a network can run on either token program.
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Config, JobState, Node};
use tessera_sdk::{ix, pda, token};
use tessera_tests::svm::*;

const STAKE: u64 = 1_000 * TOKEN;
const PRICE: u64 = 10 * TOKEN;

#[test]
fn a_full_job_and_staking_on_token_2022() {
    let mut s = Svm::with_config_on(token::TOKEN_2022_PROGRAM_ID);
    let c: Config = s.account(&pda::config().0);
    assert_eq!(c.token_program, token::TOKEN_2022_PROGRAM_ID);
    let t = s.tctx();
    let client = s.actor(1_000 * TOKEN);
    let nodes: Vec<Keypair> = (0..3).map(|_| s.node(STAKE, 0)).collect();
    let cranker = s.actor(0);
    let job = pda::job(&client.pubkey(), 1).0;
    let mut all: Vec<Pubkey> = vec![
        s.ata(&client.pubkey()),
        s.treasury,
        s.ata(&cranker.pubkey()),
        pda::escrow().0,
    ];
    for n in &nodes {
        all.push(s.ata(&n.pubkey()));
        all.push(pda::stake_vault(&pda::node(&n.pubkey()).0).0);
    }
    let total0 = s.total(&all);

    let args = s.job_args(1, 3, PRICE, 0);
    s.post(&client, args).unwrap();
    assert_eq!(s.balance(&pda::escrow().0), 3 * PRICE);
    let results = [[1u8; 32], [1; 32], [2; 32]];
    for (i, n) in nodes.iter().enumerate() {
        s.send(&[ix::claim_job(&n.pubkey(), &job, false)], &[n])
            .unwrap();
        let (cm, _) = commit_for(&n.pubkey(), results[i], i as u8);
        s.send(&[ix::commit_result(&n.pubkey(), &job, cm)], &[n])
            .unwrap();
    }
    for (i, n) in nodes.iter().enumerate() {
        let (_, salt) = commit_for(&n.pubkey(), results[i], i as u8);
        s.send(
            &[ix::reveal_result(
                &n.pubkey(),
                &job,
                results[i],
                salt,
                String::new(),
            )],
            &[n],
        )
        .unwrap();
    }
    // the last reveal (2 of 3 agree) opened the challenge window
    s.warp(10);
    for n in &nodes {
        s.send(
            &[ix::settle_claim(
                &t,
                &cranker.pubkey(),
                &job,
                &client.pubkey(),
                &n.pubkey(),
            )],
            &[&cranker],
        )
        .unwrap();
    }
    let fee = PRICE * u64::from(c.protocol_fee_bps) / 10_000;
    assert_eq!(s.balance(&s.ata(&nodes[0].pubkey())), PRICE - fee);
    assert_eq!(s.balance(&s.ata(&nodes[1].pubkey())), PRICE - fee);
    let liar: Node = s.account(&pda::node(&nodes[2].pubkey()).0);
    assert!(liar.stake < STAKE);
    s.send(&[ix::close_job(&t, &client.pubkey(), &job)], &[])
        .unwrap();
    assert!(!s.exists(&job));
    assert_eq!(
        s.total(&all),
        total0,
        "no token created or destroyed on Token-2022"
    );

    // staking out again
    let op = &nodes[0];
    s.send(&[ix::request_unstake(&op.pubkey(), STAKE)], &[op])
        .unwrap();
    s.warp(100);
    s.send(&[ix::withdraw_stake(&t, &op.pubkey())], &[op])
        .unwrap();
    assert_eq!(s.balance(&s.ata(&op.pubkey())), PRICE - fee + STAKE);
    let _ = JobState::Completed;
}

/// A Token-2022 mint carrying `extensions` (type, value length) in its TLV area, with a
/// treasury token account of it; returns `initialize_config`'s result.
fn init_with_extensions(extensions: &[(u16, usize)]) -> (Svm, TxResult) {
    let mut s = Svm::new_with_token_program(token::TOKEN_2022_PROGRAM_ID);
    let mut acc = s.svm.get_account(&s.mint).unwrap();
    let mut data = acc.data[..82].to_vec();
    data.resize(165, 0);
    data.push(1); // account type: mint
    for &(kind, len) in extensions {
        data.extend_from_slice(&kind.to_le_bytes());
        data.extend_from_slice(&(len as u16).to_le_bytes());
        data.extend(std::iter::repeat_n(0u8, len));
    }
    assert_ne!(
        data.len(),
        355,
        "a multisig-sized account would be refused for that reason"
    );
    acc.data = data;
    acc.lamports = s.svm.minimum_balance_for_rent_exemption(acc.data.len());
    s.svm.set_account(s.mint, acc).unwrap();
    let ix = s.init_config_ix(ix::localnet_params());
    let res = s.send(&[ix], &[]);
    (s, res)
}

/// Each Token-2022 extension that would break escrow accounting or hand someone power over
/// the vaults is refused at `initialize_config` with a named error; before the fix any mint
/// was accepted (a transfer-fee mint left every escrow short and `close_job` failing forever,
/// a permanent delegate could drain every vault).
#[test]
fn unsafe_token_2022_extensions_are_refused() {
    for (name, kind, len) in [
        ("TransferFeeConfig", 1u16, 108usize),
        ("MintCloseAuthority", 3, 32),
        ("ConfidentialTransferMint", 4, 65),
        ("DefaultAccountState", 6, 1),
        ("NonTransferable", 9, 0),
        ("PermanentDelegate", 12, 32),
        ("TransferHook", 14, 64),
        ("ConfidentialTransferFeeConfig", 16, 129),
        ("ConfidentialMintBurn", 24, 196),
        ("Pausable", 26, 33),
        ("an unknown future extension", 200, 8),
    ] {
        // alone, and behind an allowed extension
        for exts in [vec![(kind, len)], vec![(18, 64), (kind, len)]] {
            let (s, res) = init_with_extensions(&exts);
            let logs = res
                .as_ref()
                .err()
                .map(|e| e.meta.logs.join("\n"))
                .unwrap_or_default();
            assert_err(
                &res,
                tessera::errors::TesseraError::UnsupportedMintExtension,
            );
            assert!(
                logs.contains(&format!("mint extension type {kind} is not supported")),
                "{name}: {logs}"
            );
            assert!(!s.exists(&pda::config().0), "{name}: no config created");
        }
    }
}

/// Display-only and metadata extensions leave raw transfers exact: accepted.
#[test]
fn metadata_and_display_extensions_are_accepted() {
    let (s, res) = init_with_extensions(&[(18, 64), (10, 52), (25, 56), (20, 64)]);
    res.unwrap();
    assert!(s.exists(&pda::config().0));
}
