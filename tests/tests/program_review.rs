//! Regression tests for the protocol review (issue "Protocol defects"): each scenario is an
//! attack or an honest run that the program before the fixes got wrong. The comment on each
//! test says what the old program did.
use solana_sdk::{pubkey::Pubkey, signer::Signer};
use tessera::errors::TesseraError;
use tessera::state::{JobState, MarketType};
use tessera_sdk::{ix, pda};
use tessera_tests::svm::*;
use tessera_tests::world::*;

// ---------------------------------------------------------------- 1. round accounting

/// k = 1, the claimer stays silent, an outsider reopens the empty round: the old program
/// reset `round_claims` to 0 while the silent claim still held the slot, so `expire_claim`
/// failed with `MathOverflow` and the slot stayed blocked until the job's deadline.
#[test]
fn a_silent_claim_can_be_expired_after_its_round_reopens() {
    let mut w = World::new(2);
    let job = w.post(1, 1, 0);
    w.claim(0, &job).unwrap();
    w.s.warp(ix::localnet_params().commit_window_secs + 1);
    w.finalize(&job).unwrap();
    let j = w.job(&job);
    assert_eq!(
        (j.state, j.round),
        (JobState::Open, 0),
        "the round reopened"
    );
    assert_eq!(j.round_claims, 1, "the silent claim is still this round's");
    w.expire(0, &job).unwrap();
    let j = w.job(&job);
    assert_eq!((j.active_claims, j.round_claims), (0, 0));
    // the freed slot is taken and the job completes
    w.claim(1, &job).unwrap();
    w.commit(1, &job, GOOD).unwrap();
    w.reveal(1, &job, GOOD).unwrap();
    assert_eq!(w.job(&job).state, JobState::Challenge);
}

/// After an escalation, expiring a silent round-0 claim used to decrement the new round's
/// `round_claims`; the round then looked fully committed while a round-1 claimer had not
/// committed yet, the job moved to `Revealing`, and that honest node was slashed for a
/// timeout inside its own window.
#[test]
fn expiring_an_earlier_rounds_claim_leaves_the_new_round_exact() {
    let mut w = World::new(6);
    let job = w.post(2, 3, 1);
    for i in 0..3 {
        w.claim(i, &job).unwrap();
    }
    w.commit(0, &job, GOOD).unwrap();
    w.commit(1, &job, BAD).unwrap();
    // node 2 stays silent; the commit window closes and the reveals split 1-1
    w.s.warp(ix::localnet_params().commit_window_secs + 1);
    w.reveal(0, &job, GOOD).unwrap();
    w.reveal(1, &job, BAD).unwrap();
    w.finalize(&job).unwrap();
    let j = w.job(&job);
    assert_eq!((j.state, j.round, j.slots), (JobState::Open, 1, 5));
    w.claim(3, &job).unwrap();
    w.claim(4, &job).unwrap();
    // the round-0 claim of node 2 expires now: it must not count against round 1
    w.expire(2, &job).unwrap();
    let j = w.job(&job);
    assert_eq!((j.active_claims, j.round_claims), (4, 2));
    w.claim(5, &job).unwrap();
    w.commit(4, &job, GOOD).unwrap();
    w.commit(5, &job, GOOD).unwrap();
    assert_eq!(
        w.job(&job).state,
        JobState::Open,
        "node 3 of this round has not committed: the round stays open"
    );
    w.commit(3, &job, GOOD).unwrap();
    assert_eq!(w.job(&job).state, JobState::Revealing);
    for i in 3..6 {
        w.reveal(i, &job, GOOD).unwrap();
    }
    assert_eq!(w.job(&job).state, JobState::Challenge);
    w.s.warp(10);
    for i in 0..6 {
        w.settle(i, &job).unwrap();
    }
    for i in [0, 3, 4, 5] {
        assert_eq!(w.node(i).stake, STAKE, "honest node {i} is not slashed");
        assert_eq!(w.node(i).reputation.completed, 1);
    }
    assert!(w.node(1).stake < STAKE && w.node(2).stake < STAKE);
}

// ---------------------------------------------------------------- 2. bids

fn auction(w: &mut World, id: u64, k: u8, bidders: &[(usize, u64)]) -> Pubkey {
    let c = w.client.insecure_clone();
    let now = w.s.now();
    let mut a = w.s.job_args(id, k, PRICE, 1);
    a.market = MarketType::Auction;
    a.bid_deadline = now + 20;
    w.s.post(&c, a).unwrap();
    let job = pda::job(&c.pubkey(), id).0;
    for &(i, price) in bidders {
        let op = w.nodes[i].insecure_clone();
        w.s.send(&[ix::place_bid(&op.pubkey(), &job, price)], &[&op])
            .unwrap();
    }
    w.s.warp(21);
    let bids: Vec<Pubkey> = bidders
        .iter()
        .map(|&(i, _)| pda::bid(&job, &pda::node(&w.nodes[i].pubkey()).0).0)
        .collect();
    w.s.send(&[ix::close_auction(&job, &bids)], &[]).unwrap();
    job
}

fn close_bid_as(
    w: &mut World,
    closer: &solana_sdk::signature::Keypair,
    i: usize,
    job: &Pubkey,
) -> TxResult {
    let n = w.nodes[i].pubkey();
    let node = pda::node(&n).0;
    w.s.send_named(
        "close_bid",
        ix::close_bid(&closer.pubkey(), job, &node, &n),
        &[closer],
    )
}

/// `close_bid` needed no signature: a stranger closed a winning bid between `close_auction`
/// and the winner's claim, and the win was void.
#[test]
fn a_stranger_cannot_void_a_winning_bid() {
    let mut w = World::new(4);
    let job = auction(
        &mut w,
        3,
        2,
        &[(0, 6 * TOKEN), (1, 7 * TOKEN), (2, 9 * TOKEN)],
    );
    let cr = w.cranker.insecure_clone();
    assert_err(
        &close_bid_as(&mut w, &cr, 0, &job),
        TesseraError::BidStillUsable,
    );
    // a lost bid: anyone may close it, rent to its operator
    close_bid_as(&mut w, &cr, 2, &job).unwrap();
    // the winner claims at its bid; the claim spends (closes) the bid
    let op0 = w.nodes[0].insecure_clone();
    w.s.send(&[ix::claim_job(&op0.pubkey(), &job, true)], &[&op0])
        .unwrap();
    assert!(!w.s.exists(&pda::bid(&job, &pda::node(&op0.pubkey()).0).0));
    assert_eq!(
        w.s.account::<tessera::state::Claim>(&pda::claim(&job, &pda::node(&op0.pubkey()).0).0)
            .price,
        6 * TOKEN
    );
    // the other winner gives its slot up: it opens to a fixed-price claim at the maximum
    assert_err(&w.claim(3, &job), TesseraError::NoFreeSlot);
    let op1 = w.nodes[1].insecure_clone();
    close_bid_as(&mut w, &op1, 1, &job).unwrap();
    w.claim(3, &job).unwrap();
    let j = w.job(&job);
    assert_eq!((j.active_claims, j.reserved_slots, j.bids), (2, 0, 0));
}

/// With fewer bids than k, the round-0 slots no bid won could never be filled (claims
/// without a winning bid were refused), so the job failed.
#[test]
fn slots_no_bid_won_open_to_fixed_price_claims() {
    let mut w = World::new(5);
    let job = auction(&mut w, 4, 3, &[(0, 5 * TOKEN)]);
    let j = w.job(&job);
    assert_eq!((j.state, j.reserved_slots), (JobState::Open, 1));
    // two free slots at the maximum price; the third is held for the winner
    w.claim(1, &job).unwrap();
    w.claim(2, &job).unwrap();
    assert_err(&w.claim(3, &job), TesseraError::NoFreeSlot);
    // a node that never bid cannot pose as a winner (it has no bid account)
    let op3 = w.nodes[3].insecure_clone();
    assert_anchor_err(
        &w.s.send(&[ix::claim_job(&op3.pubkey(), &job, true)], &[&op3]),
        anchor_lang::error::ErrorCode::AccountNotInitialized,
    );
    let op0 = w.nodes[0].insecure_clone();
    w.s.send(&[ix::claim_job(&op0.pubkey(), &job, true)], &[&op0])
        .unwrap();
    for i in 0..3 {
        w.commit(i, &job, GOOD).unwrap();
    }
    for i in 0..3 {
        w.reveal(i, &job, GOOD).unwrap();
    }
    w.s.warp(10);
    for i in 0..3 {
        w.settle(i, &job).unwrap();
    }
    assert_eq!(
        w.token(&w.nodes[0].insecure_clone()),
        5 * TOKEN - fee(5 * TOKEN)
    );
    assert_eq!(w.token(&w.nodes[1].insecure_clone()), PRICE - fee(PRICE));
    w.close(&job).unwrap();
}

/// A winner that never claims loses its reservation when the first commit window closes:
/// the slot opens to anyone and the stale bid can be closed by anyone.
#[test]
fn an_unclaimed_win_lapses_with_the_first_commit_window() {
    let mut w = World::new(3);
    let job = auction(&mut w, 5, 1, &[(0, 5 * TOKEN)]);
    assert_err(&w.claim(1, &job), TesseraError::NoFreeSlot);
    w.s.warp(ix::localnet_params().commit_window_secs + 1);
    w.finalize(&job).unwrap(); // empty round reopens
    let cr = w.cranker.insecure_clone();
    close_bid_as(&mut w, &cr, 0, &job).unwrap();
    w.claim(1, &job).unwrap();
}

// ---------------------------------------------------------------- 3. vault donations

/// One token sent into a stake vault made `deregister_node` fail with `StakeRemaining`
/// forever; the surplus is now swept to the operator.
#[test]
fn a_donation_to_a_stake_vault_never_blocks_deregistration() {
    let mut w = World::new(1);
    let t = w.s.tctx();
    let op = w.nodes[0].insecure_clone();
    let vault = pda::stake_vault(&pda::node(&op.pubkey()).0).0;
    let donor = w.client.insecure_clone();
    w.s.donate(&donor, &vault, 5 * TOKEN).unwrap();
    w.s.send(&[ix::request_unstake(&op.pubkey(), STAKE)], &[&op])
        .unwrap();
    w.s.warp(ix::localnet_params().unbonding_secs + 1);
    w.s.send(&[ix::withdraw_stake(&t, &op.pubkey())], &[&op])
        .unwrap();
    assert_eq!(w.s.balance(&vault), 5 * TOKEN, "only the stake left");
    w.s.send_named(
        "deregister_node",
        ix::deregister_node(&t, &op.pubkey()),
        &[&op],
    )
    .unwrap();
    assert!(!w.s.exists(&vault));
    assert_eq!(
        w.token(&op),
        STAKE + 5 * TOKEN,
        "surplus swept to the operator"
    );
}

// ---------------------------------------------------------------- 4. split votes

/// k = 2 without an escalation budget can split 1-1 with no way to break the tie: a client
/// running one replica revealed garbage and got the honest replica's work for free.
#[test]
fn an_even_k_without_escalation_budget_is_refused() {
    let mut w = World::new(0);
    let c = w.client.insecure_clone();
    for k in [2u8, 4] {
        let a = w.s.job_args(6 + u64::from(k), k, PRICE, 0);
        assert_err(&w.s.post(&c, a), TesseraError::NoMajorityPossible);
    }
    let a = w.s.job_args(20, 2, PRICE, 1);
    w.s.post(&c, a).unwrap();
}

/// A job that fails without a majority pays each revealed replica its price: the old program
/// refunded the client in full while the honest result was public.
#[test]
fn a_failed_split_pays_every_revealed_replica() {
    let mut w = World::new(3);
    let client0 = w.token(&w.client.insecure_clone());
    let job = w.post(21, 3, 0);
    let all = w.accounts();
    let total0 = w.s.total(&all);
    let results = [GOOD, BAD, [0x33; 32]];
    for i in 0..3 {
        w.claim(i, &job).unwrap();
        w.commit(i, &job, results[i]).unwrap();
    }
    for i in 0..3 {
        w.reveal(i, &job, results[i]).unwrap();
    }
    w.finalize(&job).unwrap();
    assert_eq!(w.job(&job).state, JobState::Failed);
    for i in 0..3 {
        w.settle(i, &job).unwrap();
        assert_eq!(w.token(&w.nodes[i].insecure_clone()), PRICE - fee(PRICE));
        assert_eq!(w.node(i).stake, STAKE);
    }
    w.close(&job).unwrap();
    assert_eq!(client0 - w.token(&w.client.insecure_clone()), 3 * PRICE);
    assert_eq!(w.s.total(&all), total0);
}

// ---------------------------------------------------------------- 6. admin powers

/// `update_config` used to change the fees, slashes and windows of jobs already in flight.
#[test]
fn jobs_keep_the_terms_they_were_posted_under() {
    let mut w = World::new(2);
    let job_a = w.post(30, 1, 0);
    let job_b = w.post(31, 1, 0);
    w.claim(0, &job_a).unwrap();
    w.claim(1, &job_b).unwrap();
    // the authority raises every economic parameter to its bound
    let mut p = ix::localnet_params();
    p.protocol_fee_bps = tessera::constants::MAX_PROTOCOL_FEE_BPS;
    p.slash_timeout_bps = tessera::constants::MAX_SLASH_BPS;
    p.crank_reward_bps = tessera::constants::MAX_CRANK_REWARD_BPS;
    p.challenge_window_secs = 3_600;
    let t = w.s.tctx();
    let auth = w.s.authority.pubkey();
    w.s.send(
        &[ix::update_config(
            &auth,
            &t.token_program,
            Some(p),
            None,
            None,
        )],
        &[],
    )
    .unwrap();
    // job B: commits and reveals after the change; its challenge window is the posted one
    w.commit(1, &job_b, GOOD).unwrap();
    w.reveal(1, &job_b, GOOD).unwrap();
    let old = ix::localnet_params();
    assert_eq!(
        w.job(&job_b).challenge_deadline,
        w.s.now() + old.challenge_window_secs
    );
    // job A: the silent node is slashed at the posted 5 %, not 50 %, with the posted reward
    w.s.warp(31);
    w.expire(0, &job_a).unwrap();
    let slash = STAKE * u64::from(old.slash_timeout_bps) / 10_000;
    assert_eq!(w.node(0).stake, STAKE - slash);
    assert_eq!(
        w.token(&w.cranker.insecure_clone()),
        slash * u64::from(old.crank_reward_bps) / 10_000
    );
    // job B is paid with the posted fee
    w.settle(1, &job_b).unwrap();
    assert_eq!(w.token(&w.nodes[1].insecure_clone()), PRICE - fee(PRICE));
    // a job posted now gets the new terms
    let job_c = w.post(32, 1, 0);
    assert_eq!(
        w.job(&job_c).terms.slash_timeout_bps,
        tessera::constants::MAX_SLASH_BPS
    );
}

/// The crank-account check must not refuse what workers do all day: a node settles its own
/// claim as the cranker, so its token account is both the payout and the crank reward
/// account. (A first version of the fix checked the account through Anchor, whose
/// duplicate-mutable-account rule refused exactly this; the real-validator fault test caught
/// it.)
#[test]
fn a_node_settles_its_own_claim_as_the_cranker() {
    let mut w = World::new(2);
    let t = w.s.tctx();
    let job = w.post(40, 1, 0);
    w.claim(0, &job).unwrap();
    w.commit(0, &job, GOOD).unwrap();
    w.reveal(0, &job, GOOD).unwrap();
    w.s.warp(ix::localnet_params().challenge_window_secs + 1);
    let op = w.nodes[0].insecure_clone();
    w.s.send(
        &[ix::settle_claim(
            &t,
            &op.pubkey(),
            &job,
            &w.client.pubkey(),
            &op.pubkey(),
        )],
        &[&op],
    )
    .unwrap();
    assert_eq!(w.token(&op), PRICE - fee(PRICE));
    // and a node expires a silent claim with its own account as the reward account
    let job2 = w.post(41, 1, 0);
    w.claim(1, &job2).unwrap();
    w.s.warp(31);
    let before = w.token(&op);
    w.s.send(
        &[ix::expire_claim(
            &t,
            &op.pubkey(),
            &job2,
            &w.nodes[1].pubkey(),
        )],
        &[&op],
    )
    .unwrap();
    assert!(
        w.token(&op) > before,
        "crank reward paid to the cranker's own account"
    );
}
