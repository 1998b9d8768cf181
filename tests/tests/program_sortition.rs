//! Stake-weighted sortition of replica slots on LiteSVM: only nodes the round's draw makes
//! eligible may claim (the SDK's eligibility function predicts every outcome), nobody can
//! claim in the slot a round opens in (its seed does not exist yet), the threshold rises
//! slot by slot, and the network's bonded total follows every stake movement.
use solana_sdk::{clock::Clock, pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::errors::TesseraError;
use tessera::state::{Config, Job, Node};
use tessera_sdk::sortition::Eligibility;
use tessera_sdk::{ix, pda};
use tessera_tests::svm::*;

const PRICE: u64 = 10 * TOKEN;

fn slot(s: &Svm) -> u64 {
    s.svm.get_sysvar::<Clock>().slot
}

/// The SDK's verdict for `op` on `job` in the current slot (what a worker computes).
fn verdict(s: &Svm, job: &Pubkey, op: &Pubkey) -> Eligibility {
    s.eligibility(job, op)
}

fn eligible_now(s: &Svm, job: &Pubkey, op: &Pubkey) -> bool {
    verdict(s, job, op) == Eligibility::Now
}

fn claim(s: &mut Svm, op: &Keypair, job: &Pubkey) -> TxResult {
    s.send(&[ix::claim_job(&op.pubkey(), job, false)], &[op])
}

/// A claim landing in the current slot, with others in the same slot.
fn claim_in_slot(s: &mut Svm, op: &Keypair, job: &Pubkey) -> TxResult {
    let payer = s.authority.insecure_clone();
    s.send_in_slot(&payer, &[ix::claim_job(&op.pubkey(), job, false)], &[op])
}

/// An operator with 30 funded keys (a quarter of the stake) tries to take every replica of a
/// k = 3 job as soon as it opens, as it could under first-come claims, and again in every
/// slot after, always ahead of the honest nodes. Only the keys the draw has made eligible by
/// then get in, exactly as the SDK predicts; the rest are refused by name.
#[test]
fn many_keys_cannot_fill_a_jobs_replicas_unless_eligible() {
    let mut s = Svm::with_params(ix::localnet_params());
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
    // in the very transaction that posts the job, no claim is possible: its seed is the
    // blockhash of the slot being produced
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
    let (mut taken, mut sybil_slots, mut refused, mut slots) = (0u8, 0u8, 0u32, 0u32);
    let mut holders = vec![];
    while taken < 3 {
        slots += 1;
        assert!(slots < 200, "the round never filled");
        // the attacker's burst lands first in the slot, then the honest nodes drawn by now
        for (op, is_sybil) in sybils
            .iter()
            .map(|k| (k, true))
            .chain(honest.iter().map(|k| (k, false)))
        {
            if taken == 3 || holders.contains(&op.pubkey()) {
                continue;
            }
            let expect = eligible_now(&s, &job, &op.pubkey());
            let res = claim_in_slot(&mut s, op, &job);
            if expect {
                res.unwrap();
                taken += 1;
                sybil_slots += u8::from(is_sybil);
                holders.push(op.pubkey());
            } else {
                assert_err(&res, TesseraError::NotEligible);
                refused += u32::from(is_sybil);
            }
        }
        s.advance_slots(1);
    }
    // at the first slot each sybil key has about a 1.25 % chance (1.5 expected x 100/12 000
    // of the stake); every later slot adds as much again: the keys are drawn a few at a time,
    // and the honest nodes (three quarters of the stake) are drawn three times as fast
    assert!(refused >= 25, "the draw refused {refused} sybil claims");
    assert!(
        sybil_slots < 3,
        "the 30 keys took every replica: {sybil_slots}"
    );
    println!(
        "k=3 job filled in {slots} slot(s): {sybil_slots} replica(s) to the 30 sybil keys (25 % of the stake; {refused} sybil claims refused), {} to honest nodes",
        3 - sybil_slots
    );
}

/// A node the draw left out becomes eligible in exactly the slot the SDK names, and not
/// before: the threshold rises every slot (and doubles every `sortition_widen_slots`), so a
/// job never starves and the slots go in the order of the draws.
#[test]
fn the_threshold_rises_until_a_node_is_drawn_in_the_named_slot() {
    let mut s = Svm::with_params(ix::localnet_params());
    let nodes: Vec<Keypair> = (0..40u8)
        .map(|i| s.node_with_key([i + 1; 32], 200 * TOKEN))
        .collect();
    let client = s.actor(1_000 * TOKEN);
    s.post(&client, s.job_args(2, 1, PRICE, 0)).unwrap();
    let job = pda::job(&client.pubkey(), 2).0;
    let (out, at) = nodes
        .iter()
        .find_map(|n| match verdict(&s, &job, &n.pubkey()) {
            Eligibility::At(at) if at > slot(&s) + 1 => Some((n, at)),
            _ => None,
        })
        .expect("with 40 equal nodes and 0.5 expected per slot, most are drawn later");
    assert_err(&claim_in_slot(&mut s, out, &job), TesseraError::NotEligible);
    // one slot early: still refused
    s.advance_slots(at - 1 - slot(&s));
    assert_err(&claim_in_slot(&mut s, out, &job), TesseraError::NotEligible);
    s.advance_slots(1);
    assert_eq!(slot(&s), at);
    assert_eq!(verdict(&s, &job, &out.pubkey()), Eligibility::Now);
    claim_in_slot(&mut s, out, &job).unwrap();
    let j: Job = s.account(&job);
    println!(
        "an undrawn node became eligible {} slot(s) after the seed slot, as the SDK named",
        at - j.seed_slot
    );
}

/// `total_bonded` (the sortition denominator) follows stake, unbonding and slashes.
#[test]
fn the_bonded_total_follows_stakes_unbonding_and_slashes() {
    let mut s = Svm::with_params(ix::localnet_params());
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
        .or_else(|| {
            // 0.5 expected in the first slot: a few slots on, one of the two is drawn
            s.advance_slots(3);
            [&a, &b]
                .into_iter()
                .find(|k| eligible_now(&s, &job, &k.pubkey()))
        })
        .expect("two nodes, 2 expected by the fourth slot: both drawn");
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

/// The workers' courtesy order (`sortition::ahead_of`): every node drawn before a node's
/// slot counts as `earlier`, and the nodes first drawn in one chain slot are ranked 0, 1, 2, …
/// by their draw for their stake, each exactly once; the one ranked first is accepted by the
/// program then.
#[test]
fn nodes_drawn_in_the_same_slot_are_ranked_once_each() {
    let mut s = Svm::with_params(ix::localnet_params());
    let ops: Vec<Keypair> = (0..40u8)
        .map(|i| s.node_with_key([i + 1; 32], 100 * TOKEN + u64::from(i) * TOKEN))
        .collect();
    let client = s.actor(1_000 * TOKEN);
    s.post(&client, s.job_args(3, 1, PRICE, 0)).unwrap();
    let job = pda::job(&client.pubkey(), 3).0;
    let peers: Vec<(Pubkey, Node)> = ops
        .iter()
        .map(|o| {
            let k = pda::node(&o.pubkey()).0;
            (k, s.account::<Node>(&k))
        })
        .collect();
    let ahead = |s: &Svm, op: &Keypair| {
        let j: Job = s.account(&job);
        let c: Config = s.account(&pda::config().0);
        let k = pda::node(&op.pubkey()).0;
        let n: Node = s.account(&k);
        let data = s.svm.get_account(&ix::SLOT_HASHES).unwrap().data;
        let recent = s.svm.get_account(&ix::RECENT_BLOCKHASHES).unwrap().data;
        let view = tessera_sdk::sortition::RoundView {
            job_key: &job,
            job: &j,
            node_key: &k,
            node: &n,
            config: &c,
            slot_hashes: &data,
            recent_blockhashes: &recent,
            slot: slot(s),
        };
        tessera_sdk::sortition::ahead_of(&view, &peers)
    };
    // The first slot looked at may already be past the round's first drawing slot (nodes
    // drawn in several slots then look alike): it only sets who was drawn before; from then
    // on every slot is looked at, so the nodes first drawn in it are exactly the new ones.
    s.advance_slots(1);
    let mut drawn_before: Vec<Pubkey> = ops
        .iter()
        .filter(|o| eligible_now(&s, &job, &o.pubkey()))
        .map(|o| o.pubkey())
        .collect();
    let mut groups = 0;
    for _ in 0..60 {
        s.advance_slots(1);
        let new: Vec<&Keypair> = ops
            .iter()
            .filter(|o| eligible_now(&s, &job, &o.pubkey()))
            .filter(|o| !drawn_before.contains(&o.pubkey()))
            .collect();
        for o in &new {
            assert_eq!(ahead(&s, o).earlier, drawn_before.len(), "drawn earlier");
        }
        let mut ranks: Vec<usize> = new.iter().map(|o| ahead(&s, o).same_slot).collect();
        ranks.sort();
        assert_eq!(
            ranks,
            (0..new.len()).collect::<Vec<_>>(),
            "each node first drawn in slot {} ranked once",
            slot(&s)
        );
        if new.len() >= 2 {
            groups += 1;
            if groups == 2 {
                let first = new.iter().find(|o| ahead(&s, o).same_slot == 0).unwrap();
                claim_in_slot(&mut s, first, &job).unwrap();
                return;
            }
        }
        drawn_before.extend(new.iter().map(|o| o.pubkey()));
    }
    panic!("no two slots drew two nodes or more");
}

/// A round's seed is the blockhash of the slot it opened in (RecentBlockhashes at that slot's
/// place in SlotHashes), not the slot's bank hash: so a worker knows it from the seed slot's
/// own frozen view (RPC at `processed` shows that slot's RecentBlockhashes with its own
/// blockhash in front, and SlotHashes without it), and its claim can land in the next slot.
/// The SDK's verdicts from that view are the program's in the next slot, for every node.
#[test]
fn the_seed_is_known_from_the_seed_slots_own_view() {
    use tessera::sortition::round_seed;
    let mut s = Svm::with_params(ix::localnet_params());
    let ops: Vec<Keypair> = (0..30u8)
        .map(|i| s.node_with_key([i + 1; 32], 100 * TOKEN))
        .collect();
    s.next_epoch();
    let client = s.actor_with_key(Keypair::new_from_array([7; 32]), 1_000 * TOKEN);
    let mut claimed_at_once = 0;
    for id in 1..=12u64 {
        s.post(&client, s.job_args(id, 1, PRICE, 0)).unwrap();
        let job = pda::job(&client.pubkey(), id).0;
        let j: Job = s.account(&job);
        let c: Config = s.account(&pda::config().0);
        // post's slot + 1: the first slot a claim can land in
        assert_eq!(slot(&s), j.seed_slot + 1);
        let sh = s.svm.get_account(&ix::SLOT_HASHES).unwrap().data;
        let rb = s.svm.get_account(&ix::RECENT_BLOCKHASHES).unwrap().data;
        let seed = round_seed(&sh, &rb, j.seed_slot).expect("seeded");
        assert_eq!(
            seed,
            Svm::blockhash_of(j.seed_slot),
            "the seed slot's blockhash"
        );
        assert_ne!(seed, sh[16..48], "not its bank hash");

        // the seed slot's own frozen view: SlotHashes up to its parent, RecentBlockhashes
        // already with its blockhash in front (the list a transaction now sees)
        let count = u64::from_le_bytes(sh[..8].try_into().unwrap());
        let mut frozen_sh = (count - 1).to_le_bytes().to_vec();
        frozen_sh.extend_from_slice(&sh[48..]);
        let child = tessera_sdk::sortition::slot_hashes_for_child(j.seed_slot, &frozen_sh);
        assert_eq!(child.len(), sh.len());
        assert_eq!(round_seed(&child, &rb, j.seed_slot), Some(seed));
        let mut drawn = None;
        for op in &ops {
            let k = pda::node(&op.pubkey()).0;
            let n: Node = s.account(&k);
            let from_view =
                tessera_sdk::sortition::eligibility(&tessera_sdk::sortition::RoundView {
                    job_key: &job,
                    job: &j,
                    node_key: &k,
                    node: &n,
                    config: &c,
                    slot_hashes: &child,
                    recent_blockhashes: &rb,
                    slot: j.seed_slot + 1,
                });
            assert_eq!(from_view, verdict(&s, &job, &op.pubkey()), "job {id}");
            if from_view == Eligibility::Now && drawn.is_none() {
                drawn = Some(op);
            } else if from_view != Eligibility::Now {
                assert_err(&claim_in_slot(&mut s, op, &job), TesseraError::NotEligible);
            }
        }
        if let Some(op) = drawn {
            claim_in_slot(&mut s, op, &job).expect("drawn in the slot after the post: claims");
            claimed_at_once += 1;
        }
        s.advance_slots(1);
    }
    // one node expected drawn per slot (localnet): most jobs have one in the first slot
    assert!(
        claimed_at_once >= 4,
        "{claimed_at_once} of 12 jobs claimed in the post's next slot"
    );
}
