//! Audits that cannot be packed (docs/PROTOCOL.md, "Challenges and audits"), on LiteSVM: an
//! audit has one slot more than the votes for the disputed hash, its votes add to the earlier
//! ones, and the disputed hash falls only to strictly more votes; audit slots are drawn by the
//! round's sortition; several challenges may follow one another within the client's budget,
//! and every challenger of a hash that falls shares the slashes of those who backed it.
#![allow(clippy::result_large_err)]
use solana_sdk::{signature::Keypair, signer::Signer};
use tessera::errors::TesseraError;
use tessera::state::{ConfigParams, JobState};
use tessera_sdk::{ix, pda};
use tessera_tests::svm::*;
use tessera_tests::world::*;

/// A challenger with as many nodes as the unanimous honest majority (three) challenges it and
/// fills three of the four audit slots with its own nodes, all voting BAD, ahead of everyone.
/// Before, an audit of two slots filled this way overturned the majority and slashed it; now
/// the fourth, honest audit node keeps GOOD ahead (4 votes to 3): the honest majority is paid,
/// the challenger's nodes are slashed and its bond is lost.
#[test]
fn a_challenger_cannot_pack_the_audit_to_slash_a_unanimous_honest_majority() {
    let mut w = World::new(7);
    let challenger = w.s.actor(100 * TOKEN);
    let job = w.post(1, 3, 2);
    let mut all = w.accounts();
    all.push(w.s.ata(&challenger.pubkey()));
    let total0 = w.s.total(&all);
    for i in 0..3 {
        w.claim(i, &job).unwrap();
        w.commit(i, &job, GOOD).unwrap();
    }
    for i in 0..3 {
        w.reveal(i, &job, GOOD).unwrap();
    }
    let t = w.s.tctx();
    w.s.send(
        &[ix::challenge_result(&t, &challenger.pubkey(), &job, GOOD)],
        &[&challenger],
    )
    .unwrap();
    assert_eq!(w.job(&job).round_size, 4, "an audit of 3 + 1 slots");
    // the challenger's three nodes (3, 4, 5) take audit slots first and vote BAD
    for i in 3..6 {
        w.claim(i, &job).unwrap();
        w.commit(i, &job, BAD).unwrap();
    }
    w.claim(6, &job).unwrap();
    w.commit(6, &job, GOOD).unwrap();
    for (i, h) in [(3, BAD), (4, BAD), (5, BAD), (6, GOOD)] {
        w.reveal(i, &job, h).unwrap();
    }
    let j = w.job(&job);
    assert_eq!(j.state, JobState::Challenge);
    assert_eq!(j.winning_hash, GOOD, "GOOD keeps 4 votes to BAD's 3");
    w.s.warp(10);
    w.finalize(&job).unwrap();
    for i in 0..7 {
        w.settle(i, &job).unwrap();
    }
    for i in [0, 1, 2, 6] {
        assert_eq!(w.node(i).stake, STAKE, "honest node {i} keeps its stake");
        assert_eq!(w.node(i).reputation.disagreed, 0);
        assert_eq!(w.token(&w.nodes[i].insecure_clone()), PRICE - fee(PRICE));
    }
    for i in 3..6 {
        assert!(w.node(i).stake < STAKE, "packed audit node {i} slashed");
        assert_eq!(w.node(i).reputation.disagreed, 1);
    }
    w.s.send(&[ix::settle_challenge(&t, &challenger.pubkey(), &job)], &[])
        .unwrap();
    let bond = ix::localnet_params().challenge_bond + 4 * PRICE;
    assert_eq!(w.token(&challenger), 100 * TOKEN - bond, "bond lost");
    w.close(&job).unwrap();
    assert_eq!(w.s.total(&all), total0, "no token created or destroyed");
}

/// The audit round is drawn by the same sortition as any round: its seed is a slot hash that
/// did not exist when the challenge was made, and a burst of the challenger's keys in the
/// audit's first slot gets in only where the draw (as the SDK computes it) says so.
#[test]
fn audit_slots_are_drawn_by_the_sortition() {
    let mut s = Svm::with_params(ix::localnet_params());
    let honest: Vec<Keypair> = (0..3u8)
        .map(|i| s.node_with_key([i + 1; 32], 3_000 * TOKEN))
        .collect();
    let sybils: Vec<Keypair> = (0..30u8)
        .map(|i| s.node_with_key([i + 100; 32], 100 * TOKEN))
        .collect();
    let client = s.actor_with_key(Keypair::new_from_array([7; 32]), 1_000 * TOKEN);
    let challenger = s.actor(1_000 * TOKEN);
    s.post(&client, s.job_args(1, 3, 10 * TOKEN, 2)).unwrap();
    let job = pda::job(&client.pubkey(), 1).0;
    // the three big honest nodes hold 75 % of the stake: wait for each one's draw
    for op in &honest {
        let mut tries = 0;
        loop {
            let res = s.send(&[ix::claim_job(&op.pubkey(), &job, false)], &[op]);
            if res.is_ok() {
                break;
            }
            assert_err(&res, TesseraError::NotEligible);
            tries += 1;
            assert!(tries < 100, "an honest node was never drawn");
        }
    }
    let (_, salt) = commit_for(&honest[0].pubkey(), GOOD, 9);
    for op in &honest {
        let (c, _) = commit_for(&op.pubkey(), GOOD, 9);
        s.send(&[ix::commit_result(&op.pubkey(), &job, c)], &[op])
            .unwrap();
    }
    for op in &honest {
        s.send(
            &[ix::reveal_result(
                &op.pubkey(),
                &job,
                GOOD,
                salt,
                "http://127.0.0.1:7070/blobs/o".into(),
            )],
            &[op],
        )
        .unwrap();
    }
    let t = s.tctx();
    // a claim in the challenge's own transaction: the audit's seed does not exist yet
    let res = s.send(
        &[
            ix::challenge_result(&t, &challenger.pubkey(), &job, GOOD),
            ix::claim_job(&sybils[0].pubkey(), &job, false),
        ],
        &[&challenger, &sybils[0]],
    );
    assert_err(&res, TesseraError::SeedNotReady);
    s.send(
        &[ix::challenge_result(&t, &challenger.pubkey(), &job, GOOD)],
        &[&challenger],
    )
    .unwrap();
    let (mut got, mut refused) = (0, 0);
    for op in &sybils {
        let now = s.eligibility(&job, &op.pubkey()) == tessera_sdk::sortition::Eligibility::Now;
        let payer = s.authority.insecure_clone();
        let res = s.send_in_slot(&payer, &[ix::claim_job(&op.pubkey(), &job, false)], &[op]);
        if now {
            res.unwrap();
            got += 1;
        } else {
            assert_err(&res, TesseraError::NotEligible);
            refused += 1;
        }
    }
    // 1 expected eligible node in the first slot, of which a quarter sybil stake: the 30 keys
    // cannot take all four audit slots at once
    assert!(got < 4, "{got} sybil keys drawn in the audit's first slot");
    assert!(refused > 26);
}

/// Several challenges of one hash, within the client's budget. The first audit (2 slots, one
/// of them the liar's accomplice) leaves BAD standing on a tie; a second challenger's audit (3
/// slots) overturns it. Both challengers were right: each gets its bond back and half of the
/// slashes of the three BAD votes; every token is accounted for.
#[test]
fn several_challenges_share_the_slashes_when_the_hash_falls() {
    let params = ConfigParams {
        escalation_cap: 3,
        ..test_params()
    };
    let mut w = World::with_params(6, params);
    let a = w.s.actor(100 * TOKEN);
    let b = w.s.actor(100 * TOKEN);
    let job = w.post(1, 1, 3);
    let mut all = w.accounts();
    all.push(w.s.ata(&a.pubkey()));
    all.push(w.s.ata(&b.pubkey()));
    let total0 = w.s.total(&all);
    // the liar takes the single replica
    w.claim(0, &job).unwrap();
    w.commit(0, &job, BAD).unwrap();
    w.reveal(0, &job, BAD).unwrap();
    let t = w.s.tctx();
    w.s.send(&[ix::challenge_result(&t, &a.pubkey(), &job, BAD)], &[&a])
        .unwrap();
    assert_eq!(w.job(&job).round_size, 2);
    // audit 1: the accomplice (1) votes BAD, an honest node (2) GOOD: 2 BAD to 1 GOOD
    w.claim(1, &job).unwrap();
    w.claim(2, &job).unwrap();
    w.commit(1, &job, BAD).unwrap();
    w.commit(2, &job, GOOD).unwrap();
    w.reveal(1, &job, BAD).unwrap();
    w.reveal(2, &job, GOOD).unwrap();
    assert_eq!(w.job(&job).state, JobState::Challenge);
    assert_eq!(w.job(&job).winning_hash, BAD, "BAD stands");
    // only the disputed hash may be challenged again
    assert_err(
        &w.s.send(&[ix::challenge_result(&t, &b.pubkey(), &job, GOOD)], &[&b]),
        TesseraError::ChallengeMismatch,
    );
    w.s.send(&[ix::challenge_result(&t, &b.pubkey(), &job, BAD)], &[&b])
        .unwrap();
    let j = w.job(&job);
    assert_eq!((j.round_size, j.slots, j.challenges), (3, 6, 2));
    for i in 3..6 {
        w.claim(i, &job).unwrap();
        w.commit(i, &job, GOOD).unwrap();
    }
    for i in 3..6 {
        w.reveal(i, &job, GOOD).unwrap();
    }
    assert_eq!(
        w.job(&job).winning_hash,
        GOOD,
        "4 GOOD to 2 BAD: overturned"
    );
    w.s.warp(10);
    w.finalize(&job).unwrap();
    for i in 0..6 {
        w.settle(i, &job).unwrap();
    }
    for i in 2..6 {
        assert_eq!(w.token(&w.nodes[i].insecure_clone()), PRICE - fee(PRICE));
    }
    let pool = w.job(&job).challenger_pool;
    assert!(pool > 0);
    w.s.send(&[ix::settle_challenge(&t, &a.pubkey(), &job)], &[])
        .unwrap();
    w.s.send(&[ix::settle_challenge(&t, &b.pubkey(), &job)], &[])
        .unwrap();
    let won_a = w.token(&a) - 100 * TOKEN;
    let won_b = w.token(&b) - 100 * TOKEN;
    assert_eq!(won_a + won_b, pool, "the pool is shared out exactly");
    assert_eq!(won_a, pool / 2);
    assert_eq!(w.job(&job).challenger_pool, 0);
    w.close(&job).unwrap();
    assert_eq!(w.s.total(&all), total0, "no token created or destroyed");
}
