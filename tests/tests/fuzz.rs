//! Stateful fuzzing of the program on LiteSVM (proptest): random sequences of every
//! instruction from several actors (honest and lying nodes, clients, a cranker, an attacker
//! who passes other people's accounts), with random clock warps. After **every** step:
//!
//! * the escrow vault holds exactly what every live job's accounting says
//!   (`Job::escrow_expected`), plus what closed jobs owe the treasury (`Config::treasury_owed`),
//!   plus what outsiders sent into it;
//! * each node's stake vault holds exactly its `stake` plus what outsiders sent into it (a
//!   crank reward can never be paid into a vault, so the two never drift apart);
//! * each node's locked collateral equals the collateral of its open claims, and the config's
//!   `total_bonded` (the sortition denominator) equals Σ bonded stake;
//! * a live job's counters are exact: `active_claims` = its claims holding a slot,
//!   `round_claims` / `round_commits` / `round_reveals` = this round's claims holding a slot /
//!   committed / revealed, and `active_claims + reserved auction slots <= slots`;
//! * the sum of every token account of the mint never changes (no token created or destroyed;
//!   fees and slashes only move between known accounts);
//! * reputation counters (completed, disagreed, timed out, no reveal, slashed, earned) never go
//!   backwards; a job never has more live claims than slots;
//! * the attacker, who holds no tokens and no stake, gains nothing but crank rewards; it
//!   cannot close a winning bid that can still be claimed, nor pass a vault as its reward
//!   account;
//! * every accepted claim was allowed by the program's own draw with the stake as of the
//!   round seed's epoch (the SDK's forecast), and a node that stakes more in the transaction
//!   that claims (`attack:stake-after-seed-buys-draw`) never gets a claim the draw refused;
//! * a node leaves (unbond all, withdraw, deregister; preferably one with a timed-out claim)
//!   only with no claim left to settle, and its jobs still settle and close in the drain;
//! * no node is slashed as a minority in an audit left undecided by silent seats.
//!
//! After the sequence, a drain phase warps far ahead and cranks everything: every job must
//! reach a closed state with its escrow empty, and every node can unstake and withdraw all of
//! its stake and deregister (donations to its vault swept to it): no job is left without a way
//! to settle, no token is stuck.
//!
//! CI runs `TESSERA_FUZZ_CASES` (default 256) sequences of up to 127 steps; for a longer run:
//! `TESSERA_FUZZ_CASES=2000 cargo test --release -p tessera-tests --test fuzz -- --nocapture`.
//! `TESSERA_FUZZ_BREAK=1` plants a wrong invariant (escrow must hold one unit more) to show the
//! harness fails when an invariant does not hold.
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Successful transactions per action kind, over the whole run (coverage report).
static STATS: Mutex<BTreeMap<&'static str, (u64, u64)>> = Mutex::new(BTreeMap::new());

fn tally(kind: &'static str, ok: bool) {
    let mut s = STATS.lock().unwrap();
    let e = s.entry(kind).or_default();
    if ok {
        e.0 += 1;
    } else {
        e.1 += 1;
    }
}

use proptest::prelude::*;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Claim, ClaimState, Job, JobState, MarketType, Node, Reputation};
use tessera_sdk::{ix, pda};
use tessera_tests::svm::*;

const NODES: usize = 5;
const CLIENTS: usize = 2;
const GOOD: [u8; 32] = [0x11; 32];
const BAD: [u8; 32] = [0x66; 32];

#[derive(Clone, Debug)]
enum Action {
    Post {
        client: u8,
        replicas: u8,
        price: u16,
        esc: u8,
        auction: bool,
    },
    Claim {
        node: u8,
        job: u8,
    },
    Bid {
        node: u8,
        job: u8,
        price: u16,
    },
    CloseAuction {
        job: u8,
    },
    CloseBid {
        node: u8,
        job: u8,
    },
    /// Claim actions pick one of the claims made so far (`claim` indexes that list).
    Commit {
        claim: u8,
        honest: bool,
    },
    Reveal {
        claim: u8,
    },
    Finalize {
        job: u8,
    },
    Settle {
        claim: u8,
    },
    ExpireClaim {
        claim: u8,
    },
    ExpireJob {
        job: u8,
    },
    Cancel {
        client: u8,
        job: u8,
    },
    Close {
        job: u8,
    },
    Challenge {
        job: u8,
        who: u8,
    },
    SettleChallenge {
        job: u8,
        who: u8,
    },
    Stake {
        node: u8,
        amount: u16,
    },
    Unstake {
        node: u8,
        amount: u16,
    },
    Withdraw {
        node: u8,
    },
    /// A node stakes more and claims in the same transaction, after the round's seed is out:
    /// the stake must not buy the draw.
    StakeAndClaim {
        node: u8,
        job: u8,
        amount: u16,
    },
    /// A node leaves (after withdrawing); every job must still settle and close.
    Deregister {
        node: u8,
    },
    Attack {
        kind: u8,
        a: u8,
        b: u8,
    },
    /// A client sends tokens into a node's stake vault or a job's escrow.
    Donate {
        client: u8,
        to_vault: bool,
        target: u8,
        amount: u16,
    },
    Warp {
        secs: u16,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let i = 0u8..16;
    prop_oneof![
        // clients 4 and 5: a node's own operator posts (self-dealing, issue 29 item 4)
        2 => (0u8..6, 1u8..4, 1u16..500, 0u8..2, prop::bool::weighted(0.5)).prop_map(|(client, replicas, price, esc, auction)| Action::Post { client, replicas, price, esc, auction }),
        6 => (i.clone(), i.clone()).prop_map(|(node, job)| Action::Claim { node, job }),
        3 => (i.clone(), i.clone(), 1u16..500).prop_map(|(node, job, price)| Action::Bid { node, job, price }),
        2 => i.clone().prop_map(|job| Action::CloseAuction { job }),
        2 => (i.clone(), i.clone()).prop_map(|(node, job)| Action::CloseBid { node, job }),
        8 => (i.clone(), prop::bool::weighted(0.8)).prop_map(|(claim, honest)| Action::Commit { claim, honest }),
        8 => i.clone().prop_map(|claim| Action::Reveal { claim }),
        4 => i.clone().prop_map(|job| Action::Finalize { job }),
        5 => i.clone().prop_map(|claim| Action::Settle { claim }),
        2 => i.clone().prop_map(|claim| Action::ExpireClaim { claim }),
        1 => i.clone().prop_map(|job| Action::ExpireJob { job }),
        1 => (i.clone(), i.clone()).prop_map(|(client, job)| Action::Cancel { client, job }),
        2 => i.clone().prop_map(|job| Action::Close { job }),
        2 => (i.clone(), any::<u8>()).prop_map(|(job, who)| Action::Challenge { job, who }),
        2 => (i.clone(), any::<u8>()).prop_map(|(job, who)| Action::SettleChallenge { job, who }),
        1 => (i.clone(), 1u16..300).prop_map(|(node, amount)| Action::Stake { node, amount }),
        1 => (i.clone(), 1u16..300).prop_map(|(node, amount)| Action::Unstake { node, amount }),
        1 => i.clone().prop_map(|node| Action::Withdraw { node }),
        2 => (i.clone(), i.clone(), 1u16..3000).prop_map(|(node, job, amount)| Action::StakeAndClaim { node, job, amount }),
        1 => i.clone().prop_map(|node| Action::Deregister { node }),
        3 => (0u8..11, any::<u8>(), any::<u8>()).prop_map(|(kind, a, b)| Action::Attack { kind, a, b }),
        1 => (0u8..4, any::<bool>(), i.clone(), 1u16..50).prop_map(|(client, to_vault, target, amount)| Action::Donate { client, to_vault, target, amount }),
        4 => (1u16..200).prop_map(|secs| Action::Warp { secs }),
    ]
}

/// The fuzzed world.
struct World {
    s: Svm,
    nodes: Vec<Keypair>,
    clients: Vec<Keypair>,
    cranker: Keypair,
    attacker: Keypair,
    jobs: Vec<Pubkey>,
    /// (job, node index) of every claim made.
    claims: Vec<(Pubkey, u8)>,
    /// Every token account that can hold the mint: actors' ATAs, vaults, escrows.
    token_accounts: Vec<Pubkey>,
    total: u64,
    reputations: BTreeMap<Pubkey, Reputation>,
    /// Tokens sent by outsiders into each stake vault / escrow (not stake, not escrowed).
    donated: BTreeMap<Pubkey, u64>,
    next_id: u64,
    steps: u64,
    /// Name of the action being applied (for the coverage report).
    kind: &'static str,
}

impl World {
    fn new() -> World {
        let mut s = Svm::with_params(ix::localnet_params());
        let nodes: Vec<Keypair> = (0..NODES)
            .map(|i| s.node(200 * TOKEN + i as u64 * 50 * TOKEN, 500 * TOKEN))
            .collect();
        let clients: Vec<Keypair> = (0..CLIENTS).map(|_| s.actor(100_000 * TOKEN)).collect();
        let cranker = s.actor(0);
        let attacker = s.actor(0);
        let mut token_accounts = vec![
            pda::escrow().0,
            s.treasury,
            s.ata(&cranker.pubkey()),
            s.ata(&attacker.pubkey()),
        ];
        for n in &nodes {
            token_accounts.push(s.ata(&n.pubkey()));
            token_accounts.push(pda::stake_vault(&pda::node(&n.pubkey()).0).0);
        }
        for c in &clients {
            token_accounts.push(s.ata(&c.pubkey()));
        }
        let mut w = World {
            s,
            nodes,
            clients,
            cranker,
            attacker,
            jobs: vec![],
            claims: vec![],
            token_accounts,
            total: 0,
            reputations: BTreeMap::new(),
            donated: BTreeMap::new(),
            next_id: 1,
            steps: 0,
            kind: "setup",
        };
        w.total = w.sum();
        w
    }

    fn sum(&self) -> u64 {
        self.token_accounts.iter().map(|a| self.s.balance(a)).sum()
    }

    fn node(&self, i: u8) -> &Keypair {
        &self.nodes[i as usize % NODES]
    }

    fn job(&self, i: u8) -> Option<Pubkey> {
        if self.jobs.is_empty() {
            None
        } else {
            Some(self.jobs[i as usize % self.jobs.len()])
        }
    }

    fn claim(&self, i: u8) -> Option<(Pubkey, u8)> {
        if self.claims.is_empty() {
            None
        } else {
            Some(self.claims[i as usize % self.claims.len()])
        }
    }

    /// The keypair of `key` if it is one of this world's clients or node operators (a node's
    /// operator posts self-dealt jobs).
    fn keypair_of(&self, key: &Pubkey) -> Option<Keypair> {
        self.clients
            .iter()
            .chain(&self.nodes)
            .find(|k| k.pubkey() == *key)
            .map(|k| k.insecure_clone())
    }

    fn job_state(&self, key: &Pubkey) -> Option<Job> {
        self.s
            .svm
            .get_account(key)
            .and_then(|a| tessera_sdk::accounts::decode::<Job>("Job", &a.data).ok())
    }

    /// (round, commit deadline, stale claims holding a slot) of every live job.
    fn snapshot(&self) -> BTreeMap<Pubkey, (u8, i64, usize)> {
        self.jobs
            .iter()
            .filter_map(|j| {
                let js = self.job_state(j)?;
                let stale = self
                    .claims_of(j)
                    .iter()
                    .filter(|c| c.state == ClaimState::Claimed)
                    .count();
                Some((*j, (js.round, js.commit_deadline, stale)))
            })
            .collect()
    }

    /// Counts the transitions the review found defects in, so the run can show it reached
    /// them: a round reopened or escalated while claims of it were still silent, a claim of
    /// an earlier round expired, and an audit that overturned the disputed hash.
    fn observe(&self, before: &BTreeMap<Pubkey, (u8, i64, usize)>, a: &Action) {
        for (j, &(round, deadline, stale)) in before {
            let Some(js) = self.job_state(j) else {
                continue;
            };
            if js.challenged && js.has_winner && js.winning_hash != js.challenged_hash {
                tally("seen:audit-overturned", true);
            }
            if js.challenged
                && js.round > round
                && js.state == JobState::Open
                && !matches!(a, Action::Challenge { .. })
            {
                tally("seen:audit-silent-seats-redrawn", true);
            }
            if js.audit_undecided {
                tally("seen:audit-undecided", true);
            }
            if js.round > round && stale > 0 {
                tally("seen:escalation-with-silent-claims", true);
            } else if js.round == round && js.commit_deadline > deadline && stale > 0 {
                tally("seen:reopen-with-silent-claims", true);
            }
        }
        if let Action::ExpireClaim { claim } = *a {
            if let Some((j, node)) = self.claim(claim) {
                let c = pda::claim(&j, &pda::node(&self.node(node).pubkey()).0).0;
                let (Some(js), Some(acc)) = (self.job_state(&j), self.s.svm.get_account(&c)) else {
                    return;
                };
                if let Ok(cl) = tessera_sdk::accounts::decode::<Claim>("Claim", &acc.data) {
                    if cl.state == ClaimState::TimedOut
                        && cl.round < js.round
                        && before.get(&j).is_some_and(|b| b.2 > 0)
                    {
                        tally("seen:expire-earlier-round-claim", true);
                    }
                }
            }
        }
    }

    /// Does the program's own draw (the SDK, stake and total as of the seed's epoch) let the
    /// node of `operator` take a slot of `job` now?
    fn drawn(&self, job: &Pubkey, operator: &Pubkey) -> bool {
        let live = self.s.svm.get_account(&pda::node(operator).0).is_some()
            && self.s.svm.get_account(job).is_some();
        live && self.s.eligibility(job, operator) == tessera_sdk::sortition::Eligibility::Now
    }

    /// Whether `bid` is a win that can still be claimed (only its operator may close it).
    fn bid_usable(&self, job: &Pubkey, bid: &Pubkey) -> bool {
        let (Some(js), Some(acc)) = (self.job_state(job), self.s.svm.get_account(bid)) else {
            return false;
        };
        let Ok(b) = tessera_sdk::accounts::decode::<tessera::state::Bid>("Bid", &acc.data) else {
            return false;
        };
        b.won && js.state == JobState::Open && js.reserved_at(self.s.now()) > 0
    }

    /// Every claim account of `job` that exists now.
    fn claims_of(&self, job: &Pubkey) -> Vec<Claim> {
        self.nodes
            .iter()
            .filter_map(|n| {
                let a = self
                    .s
                    .svm
                    .get_account(&pda::claim(job, &pda::node(&n.pubkey()).0).0)?;
                tessera_sdk::accounts::decode::<Claim>("Claim", &a.data).ok()
            })
            .collect()
    }

    /// Sends with `signer` when the instruction asks for its signature (cranks do not).
    fn send(&mut self, ixs: &[Instruction], signer: &Keypair) -> bool {
        let needs = ixs.iter().any(|i| {
            i.accounts
                .iter()
                .any(|m| m.is_signer && m.pubkey == signer.pubkey())
        });
        let signers: &[&Keypair] = if needs { &[signer] } else { &[] };
        let res = self.s.send(ixs, signers);
        let ok = res.is_ok();
        tally(self.kind, ok);
        // the named refusals of sortition, collateral and audits, for the coverage report
        use tessera::errors::TesseraError as E;
        for (e, name) in [
            (E::NotEligible, "seen:refused-not-drawn"),
            (E::SeedNotReady, "seen:refused-seed-not-ready"),
            (E::InsufficientCollateral, "seen:refused-beyond-collateral"),
            (E::NoEscalationBudget, "seen:refused-audit-over-budget"),
            (
                E::NodeHasUnsettledClaims,
                "seen:refused-leave-with-claims-to-settle",
            ),
        ] {
            if custom_code(&res) == Some(e as u32 + 6000) {
                tally(name, true);
            }
        }
        ok
    }

    fn apply(&mut self, a: &Action) {
        self.kind = kind_name(a);
        let t = self.s.tctx();
        let cr = self.cranker.insecure_clone();
        match *a {
            Action::Post {
                client,
                replicas,
                price,
                esc,
                auction,
            } => {
                let self_dealt = client as usize >= CLIENTS;
                let c = if self_dealt {
                    self.node(client).insecure_clone()
                } else {
                    self.clients[client as usize % CLIENTS].insecure_clone()
                };
                let mut args =
                    self.s
                        .job_args(self.next_id, replicas, price as u64 * TOKEN / 10, esc);
                args.requirements.min_vram_mb = 0;
                args.requirements.min_compute_capability = 0;
                args.requirements.capabilities = 0;
                args.exec_secs = 40;
                args.deadline = self.s.now() + 600;
                if auction {
                    args.market = MarketType::Auction;
                    args.bid_deadline = self.s.now() + 30;
                }
                self.next_id += 1;
                let job = pda::job(&c.pubkey(), args.job_id).0;
                let ok = self.s.post(&c, args).is_ok();
                tally(
                    if self_dealt {
                        "post:self-dealt"
                    } else {
                        "post"
                    },
                    ok,
                );
                if ok {
                    self.jobs.push(job);
                }
            }
            Action::Claim { node, job } => {
                let Some(j) = self.job(job) else { return };
                let op = self.node(node).insecure_clone();
                let with_bid = self
                    .s
                    .svm
                    .get_account(&pda::bid(&j, &pda::node(&op.pubkey()).0).0)
                    .is_some();
                let drawn = with_bid || self.drawn(&j, &op.pubkey());
                if self.send(&[ix::claim_job(&op.pubkey(), &j, with_bid)], &op) {
                    assert!(
                        drawn,
                        "a claim went through that the draw (stake as of the seed's epoch) refuses"
                    );
                    self.claims.push((j, node % NODES as u8));
                }
            }
            Action::Bid { node, job, price } => {
                let Some(j) = self.job(job) else { return };
                let op = self.node(node).insecure_clone();
                self.send(
                    &[ix::place_bid(&op.pubkey(), &j, price as u64 * TOKEN / 10)],
                    &op,
                );
            }
            Action::CloseAuction { job } => {
                let Some(j) = self.job(job) else { return };
                let bids: Vec<Pubkey> = self
                    .nodes
                    .iter()
                    .map(|n| pda::bid(&j, &pda::node(&n.pubkey()).0).0)
                    .filter(|b| self.s.svm.get_account(b).is_some())
                    .collect();
                self.send(&[ix::close_auction(&j, &bids)], &cr);
            }
            Action::CloseBid { node, job } => {
                let Some(j) = self.job(job) else { return };
                // prefer a bid that still holds a claimable win (the interesting case)
                let bid_of = |n: &Keypair| pda::bid(&j, &pda::node(&n.pubkey()).0).0;
                let live: Vec<u8> = (0..NODES as u8)
                    .filter(|&i| self.bid_usable(&j, &bid_of(self.node(i))))
                    .collect();
                let node = if live.is_empty() {
                    node
                } else {
                    live[node as usize % live.len()]
                };
                let op = self.node(node).insecure_clone();
                let bid = bid_of(&op);
                // a stranger closing a win that can still be claimed is an attack
                let usable = self.bid_usable(&j, &bid);
                // usable wins: mostly a stranger tries (must fail), sometimes the winner gives
                // its slot up; other bids: anyone
                let closer = match (usable, job % 3) {
                    (true, 0) | (false, 1) => op.insecure_clone(),
                    _ => cr,
                };
                let ixn = ix::close_bid(
                    &closer.pubkey(),
                    &j,
                    &pda::node(&op.pubkey()).0,
                    &op.pubkey(),
                );
                if usable && closer.pubkey() != op.pubkey() {
                    self.kind = "attack:stranger-closes-winning-bid";
                }
                self.send(&[ixn], &closer);
            }
            Action::Commit { claim, honest } => {
                let Some((j, node)) = self.claim(claim) else {
                    return;
                };
                let op = self.node(node).insecure_clone();
                let result = if honest { GOOD } else { BAD };
                // half the time the commitment and its reveal in one (submit_result): taken
                // only for the last commitment of a full round, refused by name otherwise
                if claim & 0x08 != 0 {
                    self.kind = "submit";
                    let ix = ix::submit_result(&op.pubkey(), &j, result, String::new());
                    if self.send(&[ix], &op) {
                        return;
                    }
                    self.kind = "commit";
                }
                let (c, _) = commit_for(&op.pubkey(), result, node);
                self.send(&[ix::commit_result(&op.pubkey(), &j, c)], &op);
            }
            Action::Reveal { claim } => {
                let Some((j, node)) = self.claim(claim) else {
                    return;
                };
                let op = self.node(node).insecure_clone();
                // reveal whichever result this node committed to
                for result in [GOOD, BAD] {
                    let (_, salt) = commit_for(&op.pubkey(), result, node);
                    if self.send(
                        &[ix::reveal_result(
                            &op.pubkey(),
                            &j,
                            result,
                            salt,
                            String::new(),
                        )],
                        &op,
                    ) {
                        break;
                    }
                }
            }
            Action::Finalize { job } => {
                let Some(j) = self.job(job) else { return };
                self.send(&[ix::finalize_job(&j)], &cr);
            }
            Action::Settle { claim } => {
                let Some((j, node)) = self.claim(claim) else {
                    return;
                };
                let op = self.node(node).pubkey();
                let key = pda::node(&op).0;
                let before = self
                    .s
                    .svm
                    .get_account(&key)
                    .and_then(|a| tessera_sdk::accounts::decode::<Node>("Node", &a.data).ok());
                let undecided = self.job_state(&j).is_some_and(|js| js.audit_undecided);
                let job_before = self.job_state(&j);
                let Some(client) = job_before.as_ref().map(|js| js.client) else {
                    return;
                };
                // half the time the job's client settles: its last settlement closes the job
                let settler = match self.keypair_of(&client) {
                    Some(k) if claim & 0x08 != 0 => k,
                    _ => cr.insecure_clone(),
                };
                let owed_before = self
                    .s
                    .account::<tessera::state::Config>(&pda::config().0)
                    .treasury_owed;
                let settled = self.send(
                    &[ix::settle_claim(&t, &settler.pubkey(), &j, &client, &op)],
                    &settler,
                );
                if settled && settler.pubkey() == client && self.job_state(&j).is_none() {
                    tally("seen:client-settlement-closed-the-job", true);
                }
                // reputation is backed by the protocol fee the paid replica carried, whoever
                // posted the job: a node posting jobs to itself gets the price back, never the
                // fee (issue 29 item 4)
                if let (true, Some(jb), Some(nb)) = (settled, &job_before, &before) {
                    let after: Node = self.s.account(&key);
                    // the fee this settlement took: the job's debt to the treasury grew by it,
                    // or (the client's settlement closed the job) the config's by the job's
                    // whole debt, this fee included
                    let fee = match self.job_state(&j) {
                        Some(ja) => ja.treasury_owed.saturating_sub(jb.treasury_owed),
                        None => self
                            .s
                            .account::<tessera::state::Config>(&pda::config().0)
                            .treasury_owed
                            .saturating_sub(owed_before)
                            .saturating_sub(jb.treasury_owed),
                    };
                    let credit = after.reputation.credit.saturating_sub(nb.reputation.credit);
                    let unit = jb.terms.reputation_unit;
                    assert!(
                        credit * unit <= 100 * fee,
                        "credit {credit} for a fee of {fee} (a full unit of credit is a fee of {unit})"
                    );
                    if credit > 0 && jb.client == op {
                        tally("seen:credit-from-self-dealt-job", true);
                    }
                }
                if settled && undecided {
                    tally("seen:settled-in-undecided-audit", true);
                    let after: Node = self.s.account(&key);
                    assert_eq!(
                        after.reputation.disagreed,
                        before.map_or(0, |n| n.reputation.disagreed),
                        "an undecided audit slashed a node as a minority"
                    );
                }
            }
            Action::ExpireClaim { claim } => {
                let Some((j, node)) = self.claim(claim) else {
                    return;
                };
                let op = self.node(node).pubkey();
                self.send(&[ix::expire_claim(&t, &cr.pubkey(), &j, &op)], &cr);
            }
            Action::ExpireJob { job } => {
                let Some(j) = self.job(job) else { return };
                self.send(&[ix::expire_job(&j)], &cr);
            }
            Action::Cancel { client, job } => {
                let Some(j) = self.job(job) else { return };
                let c = self.clients[client as usize % CLIENTS].insecure_clone();
                self.send(&[ix::cancel_job(&t, &c.pubkey(), &j)], &c);
            }
            Action::Close { job } => {
                let Some(j) = self.job(job) else { return };
                let Some(js) = self.job_state(&j) else { return };
                self.send(&[ix::close_job(&t, &js.client, &j)], &cr);
            }
            Action::Challenge { job, who } => {
                let Some(j) = self.job(job) else { return };
                // the challenge window is short: aim at a job that is in it, when one is
                let j = if self
                    .job_state(&j)
                    .is_some_and(|s| s.state == JobState::Challenge)
                {
                    j
                } else {
                    let n = self.jobs.len();
                    (0..n)
                        .map(|d| self.jobs[(job as usize + d) % n])
                        .find(|k| {
                            self.job_state(k)
                                .is_some_and(|s| s.state == JobState::Challenge)
                        })
                        .unwrap_or(j)
                };
                let Some(js) = self.job_state(&j) else { return };
                // a client disputes (it holds tokens for the bond): the job's own or another,
                // so one job can see several challenges
                let c = self.clients[who as usize % CLIENTS].insecure_clone();
                if self.send(
                    &[ix::challenge_result(&t, &c.pubkey(), &j, js.winning_hash)],
                    &c,
                ) && js.challenged
                {
                    tally("seen:second-challenge", true);
                }
            }
            Action::SettleChallenge { job, who } => {
                let Some(j) = self.job(job) else { return };
                let c = self.clients[who as usize % CLIENTS].pubkey();
                self.send(&[ix::settle_challenge(&t, &c, &j)], &cr);
            }
            Action::Stake { node, amount } => {
                let op = self.node(node).insecure_clone();
                self.send(&[ix::stake(&t, &op.pubkey(), amount as u64 * TOKEN)], &op);
            }
            Action::Unstake { node, amount } => {
                let op = self.node(node).insecure_clone();
                self.send(
                    &[ix::request_unstake(&op.pubkey(), amount as u64 * TOKEN)],
                    &op,
                );
            }
            Action::Withdraw { node } => {
                let op = self.node(node).insecure_clone();
                self.send(&[ix::withdraw_stake(&t, &op.pubkey())], &op);
            }
            Action::StakeAndClaim { node, job, amount } => {
                let Some(j) = self.job(job) else { return };
                let op = self.node(node).insecure_clone();
                // drawn without the new stake: a plain claim; not drawn: the attack
                let drawn = self.drawn(&j, &op.pubkey());
                if !drawn {
                    self.kind = "attack:stake-after-seed-buys-draw";
                }
                let ixs = [
                    ix::stake(&t, &op.pubkey(), u64::from(amount) * TOKEN),
                    ix::claim_job(&op.pubkey(), &j, false),
                ];
                if self.send(&ixs, &op) {
                    self.claims.push((j, node % NODES as u8));
                }
            }
            Action::Deregister { node } => {
                // the whole way out: unbond everything, wait the unbonding period, withdraw,
                // deregister (a timed-out claimer used to leave this way before its claim was
                // settled, locking its job's escrow)
                // prefer a node with a timed-out claim still to settle (the interesting case)
                let timed_out = self.claims.iter().find_map(|&(j, i)| {
                    let c = pda::claim(&j, &pda::node(&self.node(i).pubkey()).0).0;
                    let acc = self.s.svm.get_account(&c)?;
                    let cl = tessera_sdk::accounts::decode::<Claim>("Claim", &acc.data).ok()?;
                    (cl.state == ClaimState::TimedOut).then_some(i)
                });
                // (other nodes leave rarely: the audits and escalations need nodes)
                let node = match timed_out {
                    Some(i) if node % 2 == 0 => i,
                    _ if node % 8 != 0 => return,
                    _ => node,
                };
                let op = self.node(node).insecure_clone();
                let key = pda::node(&op.pubkey()).0;
                let vault = pda::stake_vault(&key).0;
                let Some(n) = self
                    .s
                    .svm
                    .get_account(&key)
                    .and_then(|a| tessera_sdk::accounts::decode::<Node>("Node", &a.data).ok())
                else {
                    return;
                };
                if n.bonded() > 0 {
                    self.kind = "unstake";
                    self.send(&[ix::request_unstake(&op.pubkey(), n.bonded())], &op);
                }
                self.s.warp(ix::localnet_params().unbonding_secs + 1);
                self.kind = "withdraw";
                self.send(&[ix::withdraw_stake(&t, &op.pubkey())], &op);
                self.kind = "deregister";
                if self.send(&[ix::deregister_node(&t, &op.pubkey())], &op) {
                    // donations to its vault went to its operator
                    self.donated.remove(&vault);
                    let open = self
                        .claims
                        .iter()
                        .filter(|(_, n)| self.node(*n).pubkey() == op.pubkey())
                        .any(|(j, n)| {
                            let c = pda::claim(j, &pda::node(&self.node(*n).pubkey()).0).0;
                            self.s.svm.get_account(&c).is_some()
                        });
                    assert!(!open, "a node left with a claim still to settle");
                }
            }
            Action::Attack { kind, a, b } => self.attack(kind, a, b),
            Action::Donate {
                client,
                to_vault,
                target,
                amount,
            } => {
                let c = self.clients[client as usize % CLIENTS].insecure_clone();
                let to = if to_vault {
                    pda::stake_vault(&pda::node(&self.node(target).pubkey()).0).0
                } else {
                    pda::escrow().0
                };
                let amount = u64::from(amount) * TOKEN / 10;
                let ok = self.s.donate(&c, &to, amount).is_ok();
                tally("donate", ok);
                if ok {
                    *self.donated.entry(to).or_default() += amount;
                }
            }
            Action::Warp { secs } => self.s.warp(secs as i64),
        }
    }

    /// The attacker signs as itself and passes other people's accounts.
    fn attack(&mut self, kind: u8, a: u8, b: u8) {
        let t = self.s.tctx();
        let at = self.attacker.insecure_clone();
        let victim = self.node(a).pubkey();
        let victim_node = pda::node(&victim).0;
        let mut ixn = match kind {
            // claim / commit / withdraw with the victim's node
            0 => {
                let Some(j) = self.job(b) else { return };
                let mut i = ix::claim_job(&at.pubkey(), &j, false);
                i.accounts[3].pubkey = victim_node;
                i
            }
            1 => {
                let Some(j) = self.job(b) else { return };
                let mut i = ix::commit_result(&at.pubkey(), &j, [9; 32]);
                i.accounts[2].pubkey = pda::claim(&j, &victim_node).0;
                i
            }
            2 => {
                let mut i = ix::withdraw_stake(&t, &at.pubkey());
                i.accounts[2].pubkey = victim_node;
                i.accounts[3].pubkey = pda::stake_vault(&victim_node).0;
                i
            }
            // settle someone's claim but route the payment to the attacker
            3 => {
                let Some(j) = self.job(b) else { return };
                let Some(js) = self.job_state(&j) else { return };
                let mut i = ix::settle_claim(&t, &at.pubkey(), &j, &js.client, &victim);
                for m in i.accounts.iter_mut() {
                    if m.pubkey == t.ata(&victim) {
                        m.pubkey = t.ata(&at.pubkey());
                    }
                }
                i
            }
            // cancel / close a job as if the attacker were its client
            4 => {
                let Some(j) = self.job(b) else { return };
                ix::cancel_job(&t, &at.pubkey(), &j)
            }
            5 => {
                let Some(j) = self.job(b) else { return };
                ix::close_job(&t, &at.pubkey(), &j)
            }
            // a job's escrow swapped for another job's (or a stake vault)
            6 => {
                let (Some(j1), Some(j2)) = (self.job(a), self.job(b)) else {
                    return;
                };
                if j1 == j2 {
                    return;
                }
                // the escrow vault swapped for another token account (the attacker's own)
                let Some(js) = self.job_state(&j1) else {
                    return;
                };
                let mut i = ix::settle_claim(&t, &at.pubkey(), &j1, &js.client, &victim);
                for m in i.accounts.iter_mut() {
                    if m.pubkey == pda::escrow().0 {
                        m.pubkey = t.ata(&at.pubkey());
                    }
                }
                let _ = j2;
                i
            }
            // the victim node's stake vault (8) or the job's escrow (9) as the crank reward
            // account of an expiry / settlement that may itself be due
            8 | 9 => {
                let Some(j) = self.job(b) else { return };
                let Some(js) = self.job_state(&j) else { return };
                let mut i = if a % 2 == 0 {
                    ix::expire_claim(&t, &at.pubkey(), &j, &victim)
                } else {
                    ix::settle_claim(&t, &at.pubkey(), &j, &js.client, &victim)
                };
                i.accounts[1].pubkey = if kind == 8 {
                    pda::stake_vault(&victim_node).0
                } else {
                    pda::escrow().0
                };
                i
            }
            // close a winning bid that can still be claimed (any job's), voiding the win
            10 => {
                let found = self.jobs.iter().find_map(|j| {
                    self.nodes.iter().find_map(|n| {
                        let node = pda::node(&n.pubkey()).0;
                        self.bid_usable(j, &pda::bid(j, &node).0)
                            .then(|| ix::close_bid(&at.pubkey(), j, &node, &n.pubkey()))
                    })
                });
                let Some(i) = found else { return };
                i
            }
            // unstake the victim's stake
            _ => {
                let mut i = ix::request_unstake(&at.pubkey(), 1);
                i.accounts[2].pubkey = victim_node;
                i
            }
        };
        // the attacker signs everything it can; the victim never signs
        for m in ixn.accounts.iter_mut() {
            if m.is_signer && m.pubkey != at.pubkey() {
                m.is_signer = false;
            }
        }
        let stake_of = |w: &World| {
            w.s.svm
                .get_account(&victim_node)
                .and_then(|a| tessera_sdk::accounts::decode::<Node>("Node", &a.data).ok())
                .map(|n| n.stake)
        };
        let (gain0, stake0) = (self.s.balance(&t.ata(&at.pubkey())), stake_of(self));
        let ok = self.s.send_as(&at, &[ixn], &[]).is_ok();
        // A settlement checks the accounts a payment or a slash would use when it makes one:
        // one that pays and slashes nothing leaves them untouched (and succeeds). The attack
        // is the replica's payment reaching the attacker (3) or a slash paying a program vault
        // (8, 9).
        let effect = match kind {
            // (a slash pays the attacker, as the cranker, its crank reward: that is no theft)
            3 => self.s.balance(&t.ata(&at.pubkey())) > gain0 && stake_of(self) == stake0,
            8 | 9 if a % 2 == 1 => stake_of(self) < stake0,
            _ => true,
        };
        if ok && !effect {
            tally(
                "seen:settlement-without-payment-ignores-the-bogus-account",
                true,
            );
            return;
        }
        tally(
            [
                "attack:claim-with-victim-node",
                "attack:commit-on-victim-claim",
                "attack:withdraw-victim-stake",
                "attack:settle-to-attacker",
                "attack:cancel-foreign-job",
                "attack:close-foreign-job",
                "attack:swapped-escrow",
                "attack:unstake-victim",
                "attack:vault-as-crank-account",
                "attack:escrow-as-crank-account",
                "attack:stranger-closes-winning-bid",
            ][(kind as usize).min(10)],
            ok,
        );
    }

    fn check(&mut self, last: &Action) {
        self.steps += 1;
        let ctx = |what: &str| format!("after step {} ({last:?}): {what}", self.steps);
        let broken = std::env::var_os("TESSERA_FUZZ_BREAK").is_some();
        // the escrow vault: every live job's share, what closed jobs owe the treasury, and
        // donations
        let config: tessera::state::Config = self.s.account(&pda::config().0);
        let mut escrowed = config.treasury_owed;
        for j in &self.jobs {
            if let Some(js) = self.job_state(j) {
                escrowed += js.escrow_expected().unwrap();
            }
        }
        let vault = pda::escrow().0;
        let donated = self.donated.get(&vault).copied().unwrap_or(0);
        assert_eq!(
            self.s.balance(&vault),
            escrowed + donated + u64::from(broken),
            "{}",
            ctx("escrow vault")
        );
        for j in &self.jobs {
            let Some(js) = self.job_state(j) else {
                continue;
            };
            let now = self.s.now();
            assert!(
                u16::from(js.active_claims) + u16::from(js.reserved_at(now)) <= u16::from(js.slots),
                "{}",
                ctx("more live and reserved claims than slots")
            );
            let claims = self.claims_of(j);
            assert_eq!(
                claims.len(),
                js.unsettled_claims as usize,
                "{}",
                ctx("unsettled_claims vs claim accounts")
            );
            // the counters are exact while the job runs (settlement closes claims after)
            if !js.state.is_terminal() {
                let holding = |c: &&Claim| c.state != ClaimState::TimedOut;
                let this_round = |c: &&Claim| c.round == js.round;
                let count = |f: &dyn Fn(&&Claim) -> bool| claims.iter().filter(|c| f(c)).count();
                let exact = [
                    ("active_claims", js.active_claims, count(&holding)),
                    (
                        "round_claims",
                        js.round_claims,
                        count(&|c| holding(c) && this_round(c)),
                    ),
                    (
                        "round_commits",
                        js.round_commits,
                        count(&|c| {
                            this_round(c)
                                && matches!(c.state, ClaimState::Committed | ClaimState::Revealed)
                        }),
                    ),
                    (
                        "round_reveals",
                        js.round_reveals,
                        count(&|c| this_round(c) && c.state == ClaimState::Revealed),
                    ),
                ];
                for (name, stored, real) in exact {
                    assert_eq!(
                        usize::from(stored),
                        real,
                        "{}",
                        ctx(&format!(
                            "{name} of {j} ({:?}, round {})",
                            js.state, js.round
                        ))
                    );
                }
            }
        }
        // stakes
        let (mut stakes, mut vaults) = (0u64, 0u64);
        for n in &self.nodes {
            let key = pda::node(&n.pubkey()).0;
            let Some(acc) = self.s.svm.get_account(&key) else {
                continue;
            };
            let node: Node = tessera_sdk::accounts::decode("Node", &acc.data).unwrap();
            let v = self.s.balance(&node.stake_vault);
            // `stake` is everything in the vault but outsiders' donations; `unbonding` is the
            // part of it on its way out
            let donated = self.donated.get(&node.stake_vault).copied().unwrap_or(0);
            assert_eq!(v, node.stake + donated, "{}", ctx("stake vault vs node"));
            assert!(
                node.unbonding <= node.stake,
                "{}",
                ctx("unbonding more than the stake")
            );
            // each open claim locks its collateral, released when it is expired or settled
            let locked: u64 = self
                .jobs
                .iter()
                .flat_map(|j| self.claims_of(j))
                .filter(|c| c.node == key && c.state != ClaimState::TimedOut)
                .map(|c| c.collateral)
                .sum();
            assert_eq!(
                node.locked,
                locked,
                "{}",
                ctx("locked collateral vs open claims")
            );
            stakes += node.stake;
            vaults += v - donated;
            // counters never go backwards
            if let Some(prev) = self.reputations.get(&key) {
                let r = &node.reputation;
                assert!(
                    r.completed >= prev.completed
                        && r.disagreed >= prev.disagreed
                        && r.timed_out >= prev.timed_out
                        && r.no_reveal >= prev.no_reveal
                        && r.slashed_total >= prev.slashed_total
                        && r.earned_total >= prev.earned_total,
                    "{}",
                    ctx("reputation counters went backwards")
                );
            }
            self.reputations.insert(key, node.reputation.clone());
        }
        assert_eq!(stakes, vaults, "{}", ctx("Σ stakes vs Σ stake vaults"));
        // the sortition denominator is the network's bonded stake, exactly
        let bonded: u64 = self
            .nodes
            .iter()
            .filter_map(|n| self.s.svm.get_account(&pda::node(&n.pubkey()).0))
            .filter_map(|a| tessera_sdk::accounts::decode::<Node>("Node", &a.data).ok())
            .map(|n| n.bonded())
            .sum();
        let config: tessera::state::Config = self.s.account(&pda::config().0);
        assert_eq!(
            config.total_bonded,
            bonded,
            "{}",
            ctx("total_bonded vs Σ bonded")
        );
        // conservation
        assert_eq!(
            self.sum(),
            self.total,
            "{}",
            ctx("tokens created or destroyed")
        );
    }

    /// Warp past every deadline and crank until every job is closed; then every node
    /// unstakes and withdraws everything.
    fn drain(&mut self) {
        let t = self.s.tctx();
        let cr = self.cranker.insecure_clone();
        for _round in 0..12 {
            self.s.warp(700);
            for j in self.jobs.clone() {
                let Some(js) = self.job_state(&j) else {
                    continue;
                };
                let mut ixs = vec![
                    ("expire_job", ix::expire_job(&j)),
                    ("finalize", ix::finalize_job(&j)),
                ];
                // auctions: close with every bid, then close the bids
                let bids: Vec<Pubkey> = self
                    .nodes
                    .iter()
                    .map(|n| pda::bid(&j, &pda::node(&n.pubkey()).0).0)
                    .filter(|b| self.s.svm.get_account(b).is_some())
                    .collect();
                ixs.push(("close_auction", ix::close_auction(&j, &bids)));
                for n in &self.nodes {
                    let op = n.pubkey();
                    ixs.push(("expire_claim", ix::expire_claim(&t, &cr.pubkey(), &j, &op)));
                    ixs.push((
                        "settle",
                        ix::settle_claim(&t, &cr.pubkey(), &j, &js.client, &op),
                    ));
                    ixs.push((
                        "close_bid",
                        ix::close_bid(&cr.pubkey(), &j, &pda::node(&op).0, &op),
                    ));
                }
                for c in &self.clients {
                    ixs.push((
                        "settle_challenge",
                        ix::settle_challenge(&t, &c.pubkey(), &j),
                    ));
                }
                ixs.push(("close", ix::close_job(&t, &js.client, &j)));
                for (kind, i) in ixs {
                    self.kind = kind;
                    if self.send(&[i], &cr) {
                        self.check(&Action::Warp { secs: 0 });
                    }
                }
            }
            self.check(&Action::Warp { secs: 700 });
        }
        for j in &self.jobs {
            if let Some(js) = self.job_state(j) {
                panic!(
                    "job {j} is stuck after draining: state {:?}, escrow share {}, unsettled {}, bids {}",
                    js.state,
                    js.escrow_expected().unwrap(),
                    js.unsettled_claims,
                    js.bids
                );
            }
        }
        // every job closed: the vault holds what the closed jobs owe the treasury (one sweep
        // pays it) and the donations, nothing else
        let config: tessera::state::Config = self.s.account(&pda::config().0);
        let treasury0 = self.s.balance(&self.s.treasury);
        if config.treasury_owed > 0 {
            self.kind = "sweep_fees";
            assert!(self.send(&[ix::sweep_fees(&t)], &cr), "sweep_fees");
        }
        assert_eq!(
            self.s.balance(&self.s.treasury) - treasury0,
            config.treasury_owed
        );
        let vault = pda::escrow().0;
        assert_eq!(
            self.s.balance(&vault),
            self.donated.get(&vault).copied().unwrap_or(0),
            "the drained vault holds only donations"
        );
        for n in self
            .nodes
            .iter()
            .map(|n| n.insecure_clone())
            .collect::<Vec<_>>()
        {
            let key = pda::node(&n.pubkey()).0;
            if !self.s.exists(&key) {
                continue; // it left during the sequence
            }
            let node: Node = self.s.account(&key);
            assert_eq!(node.open_claims, 0, "node {key} still has open claims");
            assert_eq!(
                node.unsettled_claims, 0,
                "node {key} still has claims to settle"
            );
            if node.stake > node.unbonding {
                self.s
                    .send(
                        &[ix::request_unstake(
                            &n.pubkey(),
                            node.stake - node.unbonding,
                        )],
                        &[&n],
                    )
                    .expect("unstake all");
            }
            self.s.warp(100);
            if node.stake > 0 {
                self.s
                    .send(&[ix::withdraw_stake(&t, &n.pubkey())], &[&n])
                    .expect("withdraw all");
            }
            let vault = pda::stake_vault(&key).0;
            let donated = self.donated.remove(&vault).unwrap_or(0);
            assert_eq!(self.s.balance(&vault), donated, "only donations left");
            // a node that withdrew can always leave; the donations go to its operator
            let before = self.s.balance(&self.s.ata(&n.pubkey()));
            self.s
                .send(&[ix::deregister_node(&t, &n.pubkey())], &[&n])
                .expect("deregister after withdrawing");
            assert_eq!(self.s.balance(&self.s.ata(&n.pubkey())), before + donated);
            assert!(!self.s.exists(&vault));
        }
        self.check(&Action::Warp { secs: 0 });
    }
}

fn cases() -> u32 {
    std::env::var("TESSERA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn kind_name(a: &Action) -> &'static str {
    match a {
        Action::Post { .. } => "post",
        Action::Claim { .. } => "claim",
        Action::Bid { .. } => "bid",
        Action::CloseAuction { .. } => "close_auction",
        Action::CloseBid { .. } => "close_bid",
        Action::Commit { .. } => "commit",
        Action::Reveal { .. } => "reveal",
        Action::Finalize { .. } => "finalize",
        Action::Settle { .. } => "settle",
        Action::ExpireClaim { .. } => "expire_claim",
        Action::ExpireJob { .. } => "expire_job",
        Action::Cancel { .. } => "cancel",
        Action::Close { .. } => "close",
        Action::Challenge { .. } => "challenge",
        Action::SettleChallenge { .. } => "settle_challenge",
        Action::Stake { .. } => "stake",
        Action::Unstake { .. } => "unstake",
        Action::Withdraw { .. } => "withdraw",
        Action::StakeAndClaim { .. } => "stake_and_claim",
        Action::Deregister { .. } => "deregister",
        Action::Attack { .. } => "attack",
        Action::Donate { .. } => "donate",
        Action::Warp { .. } => "warp",
    }
}

fn run_sequence(actions: &[Action]) {
    let mut w = World::new();
    for a in actions {
        let before = w.snapshot();
        w.apply(a);
        w.observe(&before, a);
        w.check(a);
    }
    w.drain();
}

#[test]
fn random_instruction_sequences_keep_the_invariants() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        max_shrink_iters: 200,
        ..Config::default()
    });
    let strategy = prop::collection::vec(action(), 1..128);
    let result = runner.run(&strategy, |actions| {
        run_sequence(&actions);
        Ok(())
    });
    let stats = STATS.lock().unwrap().clone();
    println!(
        "fuzz coverage over {} sequences (transactions accepted / refused):",
        cases()
    );
    for (k, (ok, bad)) in &stats {
        println!("  {k:<36} {ok:>6} / {bad}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
    // The run must have exercised the paths that move tokens, or it proves little.
    for k in [
        "post",
        "claim",
        "commit",
        "reveal",
        "finalize",
        "settle",
        "close",
        "expire_claim",
        "stake",
        "unstake",
    ] {
        let (ok, _) = stats.get(k).copied().unwrap_or_default();
        assert!(
            ok > 0,
            "no successful `{k}` in the whole run: the fuzzer is not reaching it"
        );
    }
    // The rarer transitions the protocol review found defects in must have been reached too
    // in a long run (TESSERA_FUZZ_CASES >= 1000; the default 256 reaches most of them, and the
    // coverage table above shows which).
    if cases() >= 1000 {
        for k in [
            "seen:escalation-with-silent-claims",
            "seen:reopen-with-silent-claims",
            "submit",
            "seen:client-settlement-closed-the-job",
            "attack:stranger-closes-winning-bid",
            "close_bid",
            "donate",
            "seen:refused-not-drawn",
            "seen:refused-beyond-collateral",
            "seen:refused-audit-over-budget",
            "seen:refused-leave-with-claims-to-settle",
            "attack:stake-after-seed-buys-draw",
            "challenge",
        ] {
            let (ok, bad) = stats.get(k).copied().unwrap_or_default();
            assert!(ok + bad > 0, "the run never reached `{k}`");
        }
    }
    // Counted, not required: since claims wait for the ranked draw, a round's silent claim is
    // rarely still unexpired when the next round opens (0 of 2000 sequences in session 12; 3
    // before ranked sortition), so the expiry of an earlier round's claim is rare here. It is
    // covered deterministically by program_review.rs
    // (`expiring_an_earlier_rounds_claim_leaves_the_new_round_exact`), and whenever a sequence
    // does reach it the exact counter invariants above are checked on it.
    // None of the attacks may ever succeed.
    for (k, (ok, _)) in &stats {
        if k.starts_with("attack:") {
            assert_eq!(*ok, 0, "{k} succeeded");
        }
    }
}
