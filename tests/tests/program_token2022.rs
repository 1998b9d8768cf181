//! The same marketplace on a Token-2022 mint: every token movement goes through the
//! token interface (`transfer_checked`), so a network can run on either token program.
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Config, JobState, Node};
use tessera_client::{ix, pda, token};
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
        pda::escrow(&job).0,
    ];
    for n in &nodes {
        all.push(s.ata(&n.pubkey()));
        all.push(pda::stake_vault(&pda::node(&n.pubkey()).0).0);
    }
    let total0 = s.total(&all);

    let args = s.job_args(1, 3, PRICE, 0);
    s.post(&client, args).unwrap();
    assert_eq!(s.balance(&pda::escrow(&job).0), 3 * PRICE);
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
            &[ix::settle_claim(&t, &cranker.pubkey(), &job, &n.pubkey())],
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
