//! A small marketplace on LiteSVM for scenario tests: one client, `n` staked nodes and a
//! cranker, with helpers that send each instruction the way the real actors do.
#![allow(clippy::result_large_err)]
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Claim, ClaimState, Job, Node};
use tessera_sdk::{ix, pda};

use crate::svm::*;

/// Price per replica of the jobs [`World::post`] posts.
pub const PRICE: u64 = 10 * TOKEN;
pub const STAKE: u64 = 1_000 * TOKEN;

pub struct World {
    pub s: Svm,
    pub client: Keypair,
    pub nodes: Vec<Keypair>,
    pub cranker: Keypair,
}

impl World {
    /// A world whose sortition lets every node claim (the widest threshold): scenarios about
    /// escrow, voting and settlement pick their nodes; sortition has tests of its own.
    pub fn new(n_nodes: usize) -> Self {
        Self::with_params(n_nodes, crate::svm::test_params())
    }

    /// A world on the given config parameters.
    pub fn with_params(n_nodes: usize, params: tessera::state::ConfigParams) -> Self {
        let mut s = Svm::with_params(params);
        let client = s.actor(10_000 * TOKEN);
        let nodes = (0..n_nodes).map(|_| s.node(STAKE, 0)).collect();
        let cranker = s.actor(0);
        World {
            s,
            client,
            nodes,
            cranker,
        }
    }

    /// Every token account this world knows (the escrow vault holds every job's escrow):
    /// their sum never changes.
    pub fn accounts(&self) -> Vec<Pubkey> {
        let mut v = vec![
            self.s.ata(&self.client.pubkey()),
            self.s.treasury,
            self.s.ata(&self.cranker.pubkey()),
        ];
        for n in &self.nodes {
            v.push(self.s.ata(&n.pubkey()));
            v.push(pda::stake_vault(&pda::node(&n.pubkey()).0).0);
        }
        v.push(pda::escrow().0);
        v
    }

    pub fn post(&mut self, id: u64, k: u8, max_esc: u8) -> Pubkey {
        let args = self.s.job_args(id, k, PRICE, max_esc);
        let c = self.client.insecure_clone();
        self.s.post(&c, args).expect("post_job");
        pda::job(&self.client.pubkey(), id).0
    }

    pub fn claim(&mut self, i: usize, job: &Pubkey) -> TxResult {
        let op = self.nodes[i].insecure_clone();
        self.s
            .send_named("claim_job", ix::claim_job(&op.pubkey(), job, false), &[&op])
    }

    pub fn commit(&mut self, i: usize, job: &Pubkey, result: [u8; 32]) -> TxResult {
        let op = self.nodes[i].insecure_clone();
        let (c, _) = commit_for(&op.pubkey(), result, i as u8);
        self.s.send_named(
            "commit_result",
            ix::commit_result(&op.pubkey(), job, c),
            &[&op],
        )
    }

    pub fn reveal(&mut self, i: usize, job: &Pubkey, result: [u8; 32]) -> TxResult {
        let op = self.nodes[i].insecure_clone();
        let (_, salt) = commit_for(&op.pubkey(), result, i as u8);
        let uri = format!("http://127.0.0.1:7070/blobs/out{i}");
        self.s.send_named(
            "reveal_result",
            ix::reveal_result(&op.pubkey(), job, result, salt, uri),
            &[&op],
        )
    }

    pub fn finalize(&mut self, job: &Pubkey) -> TxResult {
        self.s
            .send_named("finalize_job", ix::finalize_job(job), &[])
    }

    /// The cranker settles node `i`'s claim on `job` (the job stays open for its client).
    pub fn settle(&mut self, i: usize, job: &Pubkey) -> TxResult {
        let cr = self.cranker.insecure_clone();
        self.settle_as(&cr, i, job)
    }

    /// `settler` settles node `i`'s claim on `job`: the client settling the last claim closes
    /// the job too.
    pub fn settle_as(&mut self, settler: &Keypair, i: usize, job: &Pubkey) -> TxResult {
        let t = self.s.tctx();
        let op = self.nodes[i].pubkey();
        let client = self.job(job).client;
        self.s.send_named(
            "settle_claim",
            ix::settle_claim(&t, &settler.pubkey(), job, &client, &op),
            &[settler],
        )
    }

    /// The cranker expires node `i`'s claim on `job`.
    pub fn expire(&mut self, i: usize, job: &Pubkey) -> TxResult {
        let t = self.s.tctx();
        let cr = self.cranker.insecure_clone();
        let op = self.nodes[i].pubkey();
        self.s.send_named(
            "expire_claim",
            ix::expire_claim(&t, &cr.pubkey(), job, &op),
            &[&cr],
        )
    }

    pub fn close(&mut self, job: &Pubkey) -> TxResult {
        let t = self.s.tctx();
        let ix = ix::close_job(&t, &self.client.pubkey(), job);
        self.s.send_named("close_job", ix, &[])
    }

    pub fn job(&self, job: &Pubkey) -> Job {
        self.s.account(job)
    }

    pub fn node(&self, i: usize) -> Node {
        self.s.account(&pda::node(&self.nodes[i].pubkey()).0)
    }

    pub fn claim_state(&self, i: usize, job: &Pubkey) -> ClaimState {
        let node = pda::node(&self.nodes[i].pubkey()).0;
        self.s.account::<Claim>(&pda::claim(job, &node).0).state
    }

    pub fn token(&self, owner: &Keypair) -> u64 {
        self.s.balance(&self.s.ata(&owner.pubkey()))
    }
}

pub const GOOD: [u8; 32] = [0xAA; 32];
pub const BAD: [u8; 32] = [0xBB; 32];

pub fn fee(price: u64) -> u64 {
    price * u64::from(ix::localnet_params().protocol_fee_bps) / 10_000
}
