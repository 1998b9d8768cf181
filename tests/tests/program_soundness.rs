//! Soundness, round 2 (issue 29), on LiteSVM: each test is the attack as it was measured on the
//! program before the fix, and fails there.
//! * Stake moved in after a round's seed buys no draw: a draw counts only stake bonded when
//!   the seed's epoch began, against the network total of that same moment.
//! * A timed-out claimer cannot leave before its claim is settled, so every job can still be
//!   settled and closed.
//! * Audit seats that stay silent never decide an audit: they are drawn again while the budget
//!   lasts, else the audit is undecided and nobody who revealed is slashed for it; a challenge
//!   that overturns nothing (an audit with no commitment included) costs the challenger.
#![allow(clippy::result_large_err)]
use solana_sdk::{signature::Keypair, signer::Signer};
use tessera::errors::TesseraError;
use tessera::sortition::{age_slots, eligible_for, round_seed};
use tessera::state::{ClaimState, Config, Job, JobState};
use tessera_sdk::sortition::Eligibility;
use tessera_sdk::{ix, pda};
use tessera_tests::svm::*;
use tessera_tests::world::*;

/// An operator with liquid tokens registers 40 empty keys and waits for a job's seed. It then
/// computes every key's draw as if the stake it is about to move in counted, and stakes into
/// the best key in the very transaction that claims. Before, the claim went through at once
/// (a key refused `NotEligible` claimed after staking more); now the draw counts only stake
/// bonded when the seed's epoch began, and the key is refused. The same stake counts for the
/// rounds seeded after the next epoch begins, as the SDK forecasts.
#[test]
fn stake_moved_in_after_the_seed_buys_no_draw() {
    let mut s = Svm::with_params(ix::localnet_params());
    let t = s.tctx();
    let honest: Vec<Keypair> = (0..10u8)
        .map(|i| s.node_with_key([i + 1; 32], 900 * TOKEN))
        .collect();
    let sybils: Vec<Keypair> = (0..40u8)
        .map(|i| {
            let op = s.actor_with_key(Keypair::new_from_array([i + 100; 32]), 2_000 * TOKEN);
            s.send(
                &[ix::register_node(&t, &op.pubkey(), gpu_hardware())],
                &[&op],
            )
            .unwrap();
            op
        })
        .collect();
    let client = s.actor_with_key(Keypair::new_from_array([7; 32]), 1_000 * TOKEN);
    s.post(&client, s.job_args(1, 3, 10 * TOKEN, 0)).unwrap();
    let job = pda::job(&client.pubkey(), 1).0;

    // the seed is public now: the attacker picks the key its liquid stake would make eligible
    let moved = 2_000 * TOKEN;
    let j: Job = s.account(&job);
    let c: Config = s.account(&pda::config().0);
    let hashes = s.svm.get_account(&ix::SLOT_HASHES).unwrap().data;
    let recent = s.svm.get_account(&ix::RECENT_BLOCKHASHES).unwrap().data;
    let seed = round_seed(&hashes, &recent, j.seed_slot).expect("seed in the sysvars");
    let age = age_slots(j.seed_slot, s.slot()).unwrap();
    let best = sybils
        .iter()
        .find(|op| {
            eligible_for(
                &seed,
                &job,
                0,
                &pda::node(&op.pubkey()).0,
                moved,
                c.total_bonded + moved,
                j.terms.sortition_expected_pct,
                age,
                j.terms.sortition_widen_slots,
            )
        })
        .expect("one of 40 keys draws at once with 18 % of the stake behind it");
    assert_eq!(
        s.eligibility(&job, &best.pubkey()),
        Eligibility::Never,
        "the SDK counts none of it for this round"
    );
    let res = s.send_in_slot(
        &s.authority.insecure_clone(),
        &[
            ix::stake(&t, &best.pubkey(), moved),
            ix::claim_job(&best.pubkey(), &job, false),
        ],
        &[best],
    );
    assert_err(&res, TesseraError::NotEligible);
    // staked on its own, a slot later: still nothing for this round
    s.send(&[ix::stake(&t, &best.pubkey(), moved)], &[best])
        .unwrap();
    assert_err(
        &s.send(&[ix::claim_job(&best.pubkey(), &job, false)], &[best]),
        TesseraError::NotEligible,
    );
    // moving stake out after the seed shrinks no denominator: the draw's total is the
    // snapshot of the epoch's start
    let epoch = s.epoch();
    let total_before = s.account::<Config>(&pda::config().0).draw_total(epoch);
    s.send(
        &[ix::request_unstake(&honest[0].pubkey(), 800 * TOKEN)],
        &[&honest[0]],
    )
    .unwrap();
    let c: Config = s.account(&pda::config().0);
    assert_eq!(c.draw_total(epoch), total_before);
    assert_eq!(c.total_bonded, 9_000 * TOKEN + moved - 800 * TOKEN);

    // from the next epoch on the stake counts like anyone's: a new round draws the key in
    // the slot the SDK names
    s.next_epoch();
    s.post(&client, s.job_args(2, 3, 10 * TOKEN, 0)).unwrap();
    let job2 = pda::job(&client.pubkey(), 2).0;
    let at = match s.eligibility(&job2, &best.pubkey()) {
        Eligibility::Now => s.slot(),
        Eligibility::At(at) => at,
        other => panic!("bonded before this epoch, the stake counts: {other:?}"),
    };
    s.advance_slots(at - s.slot());
    s.send_in_slot(
        &s.authority.insecure_clone(),
        &[ix::claim_job(&best.pubkey(), &job2, false)],
        &[best],
    )
    .unwrap();
}

/// A node times out on a job that is still open, has its claim expired, unbonds and withdraws
/// everything, then deregisters. Before, that closed the Node account: the claim could never be
/// settled and `close_job` failed with `UnsettledClaims` for good, locking the client's budget
/// and the treasury's fees. Now the node cannot leave while it has a claim to settle; once the
/// job ends, anyone settles it, the job closes, and then the node may go.
#[test]
fn a_timed_out_claimer_cannot_leave_before_its_claim_is_settled() {
    let mut w = World::new(2);
    let t = w.s.tctx();
    let job = w.post(1, 1, 0);
    let all = w.accounts();
    let total0 = w.s.total(&all);
    w.claim(0, &job).unwrap();
    w.s.warp(31);
    w.expire(0, &job).unwrap();
    assert_eq!(w.job(&job).state, JobState::Open, "the job goes on");
    let op = w.nodes[0].insecure_clone();
    let bonded = w.node(0).bonded();
    w.s.send(&[ix::request_unstake(&op.pubkey(), bonded)], &[&op])
        .unwrap();
    w.s.warp(11);
    w.s.send(&[ix::withdraw_stake(&t, &op.pubkey())], &[&op])
        .unwrap();
    assert_eq!(w.node(0).stake, 0);
    assert_eq!(w.node(0).open_claims, 0, "its slot was freed by the expiry");
    let res = w.s.send(&[ix::deregister_node(&t, &op.pubkey())], &[&op]);
    assert_err(&res, TesseraError::NodeHasUnsettledClaims);
    assert_eq!(w.node(0).unsettled_claims, 1);

    // the job ends with another node; every claim settles and the job closes
    w.claim(1, &job).unwrap();
    w.commit(1, &job, GOOD).unwrap();
    w.reveal(1, &job, GOOD).unwrap();
    w.s.warp(6);
    w.settle(1, &job).unwrap();
    w.settle(0, &job).unwrap();
    w.close(&job).unwrap();
    assert!(!w.s.exists(&job));
    w.s.send(&[ix::deregister_node(&t, &op.pubkey())], &[&op])
        .unwrap();
    assert!(!w.s.exists(&pda::node(&op.pubkey()).0));
    assert_eq!(w.s.total(&all), total0, "no token created or destroyed");
}

/// A captured wrong majority of three (BAD) is challenged; the audit has four seats: three
/// honest auditors reveal GOOD, the fourth commits and never reveals.
fn audit_with_a_silent_seat(
    w: &mut World,
    challenger: &Keypair,
    max_esc: u8,
) -> solana_sdk::pubkey::Pubkey {
    let job = w.post(1, 3, max_esc);
    for i in 0..3 {
        w.claim(i, &job).unwrap();
        w.commit(i, &job, BAD).unwrap();
    }
    for i in 0..3 {
        w.reveal(i, &job, BAD).unwrap();
    }
    assert_eq!(w.job(&job).state, JobState::Challenge);
    let t = w.s.tctx();
    w.s.send(
        &[ix::challenge_result(&t, &challenger.pubkey(), &job, BAD)],
        &[challenger],
    )
    .unwrap();
    assert_eq!(w.job(&job).round_size, 4);
    for i in 3..7 {
        w.claim(i, &job).unwrap();
        w.commit(i, &job, GOOD).unwrap();
    }
    for i in 3..6 {
        w.reveal(i, &job, GOOD).unwrap();
    }
    // node 6 stays silent; the reveal window closes
    w.s.warp(31);
    w.finalize(&job).unwrap();
    job
}

/// Before, the silent seat left BAD standing (GOOD had 3 votes to its 3), every honest auditor
/// was slashed 20 % as a minority and the challenger's bond was forfeited. Now, with budget
/// left, the silent seat is drawn again; the new seat reveals GOOD, which overturns BAD 4 to 3.
/// The wrong majority and the silent seat are slashed, every honest auditor is paid.
#[test]
fn a_silent_audit_seat_is_drawn_again_and_never_gets_the_honest_auditors_slashed() {
    let mut p = test_params();
    p.escalation_cap = tessera::constants::MAX_ESCALATIONS;
    let mut w = World::with_params(8, p);
    let challenger = w.s.actor(100 * TOKEN);
    let job = audit_with_a_silent_seat(&mut w, &challenger, 3);
    let j = w.job(&job);
    assert_eq!(j.state, JobState::Open, "the silent seat is drawn again");
    assert_eq!(j.round_size, 1);
    w.claim(7, &job).unwrap();
    w.commit(7, &job, GOOD).unwrap();
    w.reveal(7, &job, GOOD).unwrap();
    let j = w.job(&job);
    assert_eq!(j.state, JobState::Challenge);
    assert_eq!(j.winning_hash, GOOD, "4 revealed votes overturn 3");
    w.s.warp(6);
    for i in 0..8 {
        w.settle(i, &job).unwrap();
    }
    for i in [3, 4, 5, 7] {
        assert_eq!(w.node(i).stake, STAKE, "honest auditor {i} keeps its stake");
        assert_eq!(w.node(i).reputation.completed, 1);
        assert_eq!(w.token(&w.nodes[i].insecure_clone()), PRICE - fee(PRICE));
    }
    for i in 0..3 {
        assert_eq!(
            w.node(i).reputation.disagreed,
            1,
            "wrong majority {i} slashed"
        );
    }
    assert_eq!(
        w.node(6).reputation.no_reveal,
        1,
        "the silent seat is slashed as silent"
    );
    assert!(w.node(6).stake < STAKE);
    let t = w.s.tctx();
    w.s.send(&[ix::settle_challenge(&t, &challenger.pubkey(), &job)], &[])
        .unwrap();
    assert!(
        w.token(&challenger) > 100 * TOKEN,
        "bond back plus the wrong majority's slashes"
    );
    w.close(&job).unwrap();
}

/// The same audit with no budget left to draw the silent seat again: undecided. BAD stands (it
/// had a strict majority before the challenge), nobody who revealed is slashed for it (the
/// honest auditors keep 1,000 tokens, not 800, and are paid for their work), the silent seat
/// is slashed as silent, and the challenger loses the audit's cost (to the client, whose
/// budget paid the seats) but not its base bond.
#[test]
fn an_audit_left_undecided_by_a_silent_seat_slashes_only_the_silent_seat() {
    let mut w = World::new(7);
    let challenger = w.s.actor(100 * TOKEN);
    let mut all = w.accounts();
    all.push(w.s.ata(&challenger.pubkey()));
    let job = audit_with_a_silent_seat(&mut w, &challenger, 2);
    let j = w.job(&job);
    assert_eq!(j.state, JobState::Completed);
    assert!(j.audit_undecided);
    assert_eq!(j.winning_hash, BAD);
    for i in 0..7 {
        w.settle(i, &job).unwrap();
    }
    for i in 3..6 {
        assert_eq!(w.node(i).stake, STAKE, "honest auditor {i} is not slashed");
        assert_eq!(w.node(i).reputation.disagreed, 0);
        assert_eq!(w.token(&w.nodes[i].insecure_clone()), PRICE - fee(PRICE));
    }
    assert_eq!(w.node(6).reputation.no_reveal, 1);
    assert!(w.node(6).stake < STAKE);
    let t = w.s.tctx();
    let client_before = w.token(&w.client.insecure_clone());
    w.s.send(&[ix::settle_challenge(&t, &challenger.pubkey(), &job)], &[])
        .unwrap();
    assert_eq!(
        w.token(&challenger),
        100 * TOKEN - 4 * PRICE,
        "the audit's cost is lost, the base bond comes back"
    );
    w.close(&job).unwrap();
    assert!(w.token(&w.client.insecure_clone()) > client_before);
}

/// A challenge whose audit nobody commits to. Before, the job failed and the bond came back in
/// full: anyone could fail any job for free in a thin market (the honest majority got no
/// reputation and no result was published). Now the challenged majority stands: the job
/// completes with its result, the majority is paid with reputation, and the challenger loses
/// the audit's cost.
#[test]
fn a_challenge_whose_audit_gets_no_commitment_costs_the_challenger() {
    let mut w = World::new(3);
    let challenger = w.s.actor(100 * TOKEN);
    let job = w.post(1, 3, 2);
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
    w.s.warp(3_700);
    w.s.send(&[ix::expire_job(&job)], &[]).unwrap();
    let j = w.job(&job);
    assert_eq!(j.state, JobState::Completed, "not Failed");
    assert_eq!(j.winning_hash, GOOD);
    for i in 0..3 {
        assert_eq!(w.claim_state(i, &job), ClaimState::Revealed);
        w.settle(i, &job).unwrap();
        assert_eq!(w.node(i).reputation.completed, 1);
        assert!(w.node(i).reputation.credit > 0);
    }
    assert!(
        !w.job(&job).result_uri.is_empty(),
        "the result is published"
    );
    w.s.send(&[ix::settle_challenge(&t, &challenger.pubkey(), &job)], &[])
        .unwrap();
    assert_eq!(w.token(&challenger), 100 * TOKEN - 4 * PRICE);
    w.close(&job).unwrap();
}
