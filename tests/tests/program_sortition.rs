//! Stake-weighted sortition of replica slots on LiteSVM: only nodes the round's draw makes
//! eligible may claim (the SDK's eligibility function predicts every outcome), nobody can
//! claim in the slot a round opens in (its seed does not exist yet), the threshold widens
//! with the round's age, and the network's bonded total follows every stake movement.
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::errors::TesseraError;
use tessera::state::{Config, Job, Node};
use tessera_client::{ix, pda};
use tessera_tests::svm::*;

const PRICE: u64 = 10 * TOKEN;

fn eligible_now(s: &Svm, job: &Pubkey, op: &Pubkey) -> bool {
    let j: Job = s.account(job);
    let c: Config = s.account(&pda::config().0);
    let n: Node = s.account(&pda::node(op).0);
    let data = s.svm.get_account(&ix::SLOT_HASHES).unwrap().data;
    let seed = tessera::sortition::slot_hash(&data, j.seed_slot).expect("seed in the sysvar");
    tessera::sortition::eligible_for(
        &seed,
        job,
        j.round,
        &pda::node(op).0,
        n.bonded(),
        c.total_bonded,
        j.round_slots(),
        j.terms.sortition_expected_pct,
        s.now() - j.round_opened_at,
        j.terms.sortition_widen_secs,
    )
}

fn claim(s: &mut Svm, op: &Keypair, job: &Pubkey) -> TxResult {
    s.send(&[ix::claim_job(&op.pubkey(), job, false)], &[op])
}

/// An operator with 30 funded keys (a quarter of the stake) tries to take every replica of a
/// k = 3 job as soon as it opens, as it could under first-come claims. Only the keys the
/// draw made eligible get in, exactly as the SDK predicts; the rest are refused by name.
#[test]
fn many_keys_cannot_fill_a_jobs_replicas_unless_eligible() {
    let mut s = Svm::with_config();
    let honest: Vec<Keypair> = (0..10u8)
        .map(|i| s.node_with_key([i + 1; 32], 900 * TOKEN))
        .collect();
    let sybils: Vec<Keypair> = (0..30u8)
        .map(|i| s.node_with_key([i + 100; 32], 100 * TOKEN))
        .collect();
    let c: Config = s.account(&pda::config().0);
    assert_eq!(c.total_bonded, 12_000 * TOKEN, "the network's bonded total");
    let client = s.actor_with_key(Keypair::new_from_array([7; 32]), 1_000 * TOKEN);
    let job = pda::job(&client.pubkey(), 1).0;
    // in the very transaction that posts the job, no claim is possible: its seed is the hash
    // of the slot being produced
    let post = ix::post_job(&s.tctx(), &client.pubkey(), s.job_args(1, 3, PRICE, 1));
    let res = s.send(
        &[
            post.clone(),
            ix::claim_job(&sybils[0].pubkey(), &job, false),
        ],
        &[&client, &sybils[0]],
    );
    assert_err(&res, TesseraError::SeedNotReady);
    s.send(&[post], &[&client]).unwrap();
    let mut taken = 0u8;
    let (mut sybil_slots, mut refused) = (0, 0);
    for op in &sybils {
        let free = 3 - taken;
        if free == 0 {
            break;
        }
        let expect = eligible_now(&s, &job, &op.pubkey());
        let res = claim(&mut s, op, &job);
        if expect {
            res.unwrap();
            taken += 1;
            sybil_slots += 1;
        } else {
            assert_err(&res, TesseraError::NotEligible);
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "the draw refused none of the sybil keys it was asked about"
    );
    // each key has about a 5 % chance (6 expected x 100/12 000 of the stake): of all 30, only a
    // few are drawn (10 or more has a chance below one in a million)
    let drawn = sybils
        .iter()
        .filter(|op| eligible_now(&s, &job, &op.pubkey()))
        .count();
    assert!(drawn < 10, "{drawn} of 30 sybil keys drawn");
    // honest nodes the draw picked fill the rest
    for op in &honest {
        let free = 3 - taken;
        if free == 0 {
            break;
        }
        if eligible_now(&s, &job, &op.pubkey()) {
            claim(&mut s, op, &job).unwrap();
            taken += 1;
        } else {
            assert_err(&claim(&mut s, op, &job), TesseraError::NotEligible);
        }
    }
    println!(
        "k=3 job: {sybil_slots} slot(s) to the 30 sybil keys (25 % of the stake; {refused} keys refused), {} to honest nodes",
        taken - sybil_slots
    );
}

/// A node the draw left out becomes eligible as the round ages: the threshold doubles every
/// `sortition_widen_secs`, so a job never starves.
#[test]
fn the_threshold_widens_until_a_node_is_drawn() {
    let mut s = Svm::with_config();
    let nodes: Vec<Keypair> = (0..40u8)
        .map(|i| s.node_with_key([i + 1; 32], 200 * TOKEN))
        .collect();
    let client = s.actor(1_000 * TOKEN);
    s.post(&client, s.job_args(2, 1, PRICE, 0)).unwrap();
    let job = pda::job(&client.pubkey(), 2).0;
    let out = nodes
        .iter()
        .find(|n| !eligible_now(&s, &job, &n.pubkey()))
        .expect("with 40 equal nodes and 2 expected, most are not drawn at first");
    assert_err(&claim(&mut s, out, &job), TesseraError::NotEligible);
    let widen = ix::localnet_params().sortition_widen_secs;
    let mut waited = 0;
    while !eligible_now(&s, &job, &out.pubkey()) {
        s.warp(widen);
        waited += widen;
        assert!(
            waited <= 6 * widen,
            "2 << 6 expected nodes make every one of 40 eligible"
        );
    }
    claim(&mut s, out, &job).unwrap();
    println!("an undrawn node became eligible after {waited} s");
}

/// `total_bonded` (the sortition denominator) follows stake, unbonding and slashes.
#[test]
fn the_bonded_total_follows_stakes_unbonding_and_slashes() {
    let mut s = Svm::with_config();
    let t = s.tctx();
    let a = s.node(300 * TOKEN, 100 * TOKEN);
    let b = s.node(500 * TOKEN, 0);
    let sum = |s: &Svm| -> u64 {
        [&a, &b]
            .iter()
            .map(|k| s.account::<Node>(&pda::node(&k.pubkey()).0).bonded())
            .sum()
    };
    let total = |s: &Svm| s.account::<Config>(&pda::config().0).total_bonded;
    assert_eq!(total(&s), 800 * TOKEN);
    s.send(&[ix::stake(&t, &a.pubkey(), 100 * TOKEN)], &[&a])
        .unwrap();
    s.send(&[ix::request_unstake(&b.pubkey(), 150 * TOKEN)], &[&b])
        .unwrap();
    assert_eq!(total(&s), sum(&s));
    assert_eq!(total(&s), 750 * TOKEN);
    // a slash for a timeout lowers it by what the node lost from its bonded stake
    let client = s.actor(1_000 * TOKEN);
    let mut p = s.job_args(3, 1, PRICE, 0);
    p.requirements.min_vram_mb = 0;
    s.post(&client, p).unwrap();
    let job = pda::job(&client.pubkey(), 3).0;
    let who = [&a, &b]
        .into_iter()
        .find(|k| eligible_now(&s, &job, &k.pubkey()))
        .expect("two nodes, 2 expected: both drawn");
    claim(&mut s, who, &job).unwrap();
    s.warp(31);
    let cr = s.actor(0);
    s.send(
        &[ix::expire_claim(&t, &cr.pubkey(), &job, &who.pubkey())],
        &[&cr],
    )
    .unwrap();
    assert!(total(&s) < 750 * TOKEN);
    assert_eq!(total(&s), sum(&s));
}
