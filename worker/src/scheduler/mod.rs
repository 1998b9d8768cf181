//! The daemon: picks jobs, and drives each claim through its life
//! (bid → claim → compute → commit → reveal → settle), one task per claim, every step
//! recorded in the journal before its transaction goes out.
//!
//! Which jobs it takes: kernel and spec version it implements, price at least
//! `pricing.min_price`, hardware / stake / reputation requirements met, a free slot, and
//! capacity (`capacity.max_claims`). The input is downloaded and validated *before* claiming,
//! so a job with a missing, tampered or malformed input is never claimed (its client gets the
//! escrow back through `expire_job`), and no node is slashed for a client's bad input.
//!
//! Inputs are someone else's URIs: they are fetched under the operator's fetch policy
//! (`[fetch]`: allowed schemes and hosts, a byte cap, a deadline), by at most
//! `fetch.max_downloads` downloads at once, and *without* holding a claim slot: a slot is
//! taken only once the input is here and valid. A job whose input could not be had is
//! skipped for a while (see [`Worker::skip_input`]) instead of being retried on every sighting.
//!
//! The code goes one way, by what it decides: this file (the [`Worker`], its `run` loop over
//! websocket events, re-syncs and node / peer refreshes) → [`choose`] (take this job?) →
//! [`claim`] (claim, compute, commit, reveal, settle one claim), which calls [`crank`]
//! (other nodes' expired or settleable claims).
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use solana_sdk::pubkey::Pubkey;
use tessera::state::Node;
use tessera_sdk::ix::TokenCtx;
use tessera_sdk::pda;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::chain::watch::{JobEvents, JobSeen};
use crate::chain::{backoff, Chain};
use crate::compute::Compute;
use crate::metrics::Metrics;
use crate::state::{Journal, Stage};
use crate::storage::Storage;

mod choose;
mod claim;
mod crank;
#[cfg(test)]
mod tests;

use choose::Skip;

/// Shortest wait between two looks at a job a claim is waiting on.
const MIN_WAIT: Duration = Duration::from_millis(300);

/// How often the worker looks at the chain when nothing tells it to (`[rpc]`): each of these
/// reads is otherwise driven by the websocket or by this node's own transactions.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// Full re-sync of open jobs.
    pub resync: Duration,
    /// Longest wait of a claim on other nodes between two looks at its job.
    pub poll: Duration,
    /// Longest time between two reads of the node account.
    pub node_refresh: Duration,
    /// Shortest time between two listings of a job's claims for expiry cranking.
    pub crank_scan: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            resync: Duration::from_secs(60),
            poll: Duration::from_secs(5),
            node_refresh: Duration::from_secs(60),
            crank_scan: Duration::from_secs(15),
        }
    }
}
/// Nodes that did nothing on-chain for longer are not waited for ([`Worker::refresh_peers`]).
const PEER_ACTIVE_SECS: i64 = 900;
/// A chain slot, nominally (Solana targets 400 ms): the sortition threshold rises once per
/// slot, so a node drawn `n` slots ahead waits about `n × SLOT_TIME`.
const SLOT_TIME: Duration = Duration::from_millis(400);

/// Whole seconds (rounded up) that `slots` chain slots take.
fn slots_to_secs(slots: u64) -> i64 {
    i64::try_from(
        slots
            .saturating_mul(SLOT_TIME.as_millis() as u64)
            .div_ceil(1000),
    )
    .unwrap_or(i64::MAX)
}
/// After its own claim is settled a node waits this long for the other replicas to settle
/// theirs before it cranks the stragglers (saves duplicate, rejected settlements).
const SETTLE_GRACE: Duration = Duration::from_secs(3);
/// After a job's challenge window a node leaves its claim this long to the job's client, whose
/// settlement of the last claim also closes the job (one transaction instead of two, the
/// result read first), before it settles the claim itself.
const CLIENT_SETTLE_GRACE_SECS: i64 = 10;
/// Do not claim when the round's commit window closes in less than this (seconds, by the
/// local clock, which tracks the cluster's on a healthy node).
const CLAIM_MARGIN_SECS: i64 = 10;
/// Longest single sleep while waiting for a deadline known on-chain.
const MAX_DEADLINE_SLEEP: Duration = Duration::from_secs(10);
/// How long a job whose input is refused for good (not allowed, too large, wrong hash,
/// invalid) is skipped. Its URI and hash cannot change; the entry only expires to keep the
/// list bounded.
const BAD_INPUT_SKIP: Duration = Duration::from_secs(24 * 3600);
/// Longest skip after passing failures (timeouts, server errors), however many.
const MAX_RETRY_SKIP: Duration = Duration::from_secs(3600);
/// Skipped jobs remembered at most (expired entries are dropped first).
const MAX_SKIPPED: usize = 50_000;

/// Everything a claim task needs.
pub struct Worker {
    pub chain: Arc<Chain>,
    pub journal: Journal,
    pub metrics: Arc<Metrics>,
    pub compute: Compute,
    pub storage: Storage,
    pub operator: Pubkey,
    pub node: Pubkey,
    pub tctx: TokenCtx,
    pub min_price: u64,
    /// Lowest price per replica per GFLOP of the cost model (base units).
    pub min_price_per_gflop: u64,
    pub bid_bps: u16,
    /// Models jobs reference by hash, parsed and kept in memory.
    pub models: crate::models::Models,
    /// Test/demo switch: publish a wrong result (this node then gets slashed).
    pub dishonest: bool,
    /// Testing crash safety: exit(137) right after this stage is journaled.
    pub crash_after: Option<Stage>,
    /// First skip after a passing input-fetch failure (`fetch.retry_secs`); doubles per failure.
    pub fetch_retry: Duration,
    pub ws_url: String,
    /// How often the chain is looked at unprompted (`[rpc]`).
    pub pacing: Pacing,
    /// Websocket wake-ups of the jobs this node has claims on.
    events: Arc<JobEvents>,
    /// This node's own claim or settlement landed: its node account changed.
    node_changed: Notify,
    claim_slots: Arc<Semaphore>,
    active: Mutex<HashSet<Pubkey>>,
    /// Jobs whose input could not be fetched or was bad, and until when they are skipped.
    refused: Mutex<HashMap<Pubkey, Skip>>,
    node_state: Mutex<Option<Node>>,
    /// The other staked nodes active lately (every `[rpc] node_refresh_secs`): the draw ranks
    /// this node among those drawn in the same slot ([`tessera_sdk::sortition::ahead_of`]),
    /// and it lets the ones ahead claim first.
    peers: Mutex<Arc<Vec<(Pubkey, Node)>>>,
    /// The network's minimum bonded stake (`Config::min_stake`), read with the node: below it
    /// the node takes no job (every claim would be refused `InsufficientStake`).
    network_min_stake: std::sync::atomic::AtomicU64,
    /// When each job's claims were last listed for expiry cranking.
    last_scan: Mutex<std::collections::HashMap<Pubkey, std::time::Instant>>,
    /// Latest (active claims, slots) of every open job seen on the websocket.
    fill: Mutex<std::collections::HashMap<Pubkey, (u8, u8)>>,
    /// Draining (`tessera-worker drain`): claims already journaled are finished, no job is
    /// newly taken, and a claim not yet sent is dropped ([`Worker::draining`]).
    draining: AtomicBool,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain: Arc<Chain>,
        journal: Journal,
        compute: Compute,
        storage: Storage,
        tctx: TokenCtx,
        min_price: u64,
        bid_bps: u16,
        max_claims: usize,
        ws_url: String,
    ) -> Worker {
        let operator = solana_sdk::signer::Signer::pubkey(chain.payer.as_ref());
        // resident models may take half the host memory a job may use: the rest is the job's
        let model_budget = compute.backend.limits().max_host_bytes / 2;
        Worker {
            metrics: chain.metrics.clone(),
            chain,
            journal,
            compute,
            storage,
            operator,
            node: pda::node(&operator).0,
            tctx,
            min_price,
            min_price_per_gflop: 0,
            bid_bps,
            models: crate::models::Models::new(model_budget),
            dishonest: false,
            crash_after: None,
            fetch_retry: Duration::from_secs(60),
            ws_url,
            pacing: Pacing::default(),
            events: Arc::new(JobEvents::default()),
            node_changed: Notify::new(),
            claim_slots: Arc::new(Semaphore::new(max_claims)),
            active: Mutex::new(HashSet::new()),
            refused: Mutex::new(HashMap::new()),
            node_state: Mutex::new(None),
            peers: Mutex::new(Arc::new(Vec::new())),
            network_min_stake: std::sync::atomic::AtomicU64::new(0),
            last_scan: Mutex::new(std::collections::HashMap::new()),
            fill: Mutex::new(std::collections::HashMap::new()),
            draining: AtomicBool::new(false),
        }
    }

    /// Starts (or, with `false`, ends) draining.
    pub fn set_draining(&self, on: bool) {
        if self.draining.swap(on, Ordering::SeqCst) != on {
            self.metrics.draining.set(i64::from(on));
            info!(
                in_flight = self.in_flight().len(),
                "{}",
                if on {
                    "draining: finishing the claims in flight, taking no new ones"
                } else {
                    "draining cancelled: taking new jobs again"
                }
            );
        }
    }

    /// True while draining: no new job is taken.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The jobs this process is working on: inputs being fetched before a claim, and claims
    /// being driven (from the bid or claim to the settlement).
    pub fn in_flight(&self) -> Vec<Pubkey> {
        self.active.lock().unwrap().iter().copied().collect()
    }

    /// The node account as last read (every 5 s), if it was.
    pub fn node_state(&self) -> Option<Node> {
        self.node_state.lock().unwrap().clone()
    }

    /// Runs until `shutdown` flips, then lets in-flight steps finish (up to 15 s).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        // The node must exist; a transport error only delays the start.
        let mut attempt = 0;
        loop {
            match self.chain.fetch::<Node>("Node", &self.node).await {
                Ok(Some(_)) => break,
                Ok(None) => anyhow::bail!(
                    "node {} is not registered: run `tessera-worker register` first",
                    self.node
                ),
                Err(e) => {
                    warn!("reading the node account (retrying): {e:#}");
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        if let Err(e) = self.refresh_node().await {
            warn!("refreshing the node account: {e:#}");
        }
        let mut tasks = JoinSet::new();
        // Resume every unfinished claim from the journal.
        for mut e in self.journal.all()? {
            if e.stage.is_final() {
                continue;
            }
            // A claim may have landed before the process died: a resumed entry looks at the
            // chain before it claims (a fresh one sends right away).
            e.attempts = e.attempts.max(1);
            info!(job = %e.job(), stage = ?e.stage, "resuming from the journal");
            let permit = self.claim_slots.clone().try_acquire_owned().ok();
            self.active.lock().unwrap().insert(e.job());
            let me = self.clone();
            let sd = shutdown.clone();
            tasks.spawn(async move { me.drive(e, permit, None, sd).await });
        }
        let (tx, mut rx) = mpsc::channel::<JobSeen>(4096);
        tokio::spawn(crate::chain::watch::run(
            self.ws_url.clone(),
            self.chain.clone(),
            tx,
            self.events.clone(),
            self.pacing.resync,
            shutdown.clone(),
        ));
        if let Err(e) = self.refresh_peers().await {
            warn!("listing the other nodes: {e:#}");
        }
        let mut refresh = tokio::time::interval(self.pacing.node_refresh);
        refresh.tick().await; // (read just above)
        loop {
            tokio::select! {
                Some(seen) = rx.recv() => {
                    self.note_fill(&seen);
                    if !self.draining() && self.wants(&seen) {
                        let me = self.clone();
                        let sd = shutdown.clone();
                        tasks.spawn(async move { me.take(seen, sd).await });
                    }
                }
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh_node().await {
                        warn!("refreshing the node account: {e:#}");
                    }
                    if let Err(e) = self.refresh_peers().await {
                        warn!("listing the other nodes: {e:#}");
                    }
                }
                _ = self.node_changed.notified() => {
                    refresh.reset();
                    if let Err(e) = self.refresh_node().await {
                        warn!("refreshing the node account: {e:#}");
                    }
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        warn!("claim task panicked: {e}");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        info!(
            tasks = tasks.len(),
            "shutting down: letting in-flight steps finish"
        );
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(15), drain)
            .await
            .is_err()
        {
            warn!("some steps did not finish in 15 s; the journal resumes them on restart");
        }
        Ok(())
    }

    /// The other nodes with bonded stake that claimed, settled, staked or updated in the last
    /// [`PEER_ACTIVE_SECS`] (one `getProgramAccounts`).
    async fn refresh_peers(&self) -> Result<()> {
        let since = (crate::state::now_ms() / 1000) as i64 - PEER_ACTIVE_SECS;
        let peers: Vec<(Pubkey, Node)> = self
            .chain
            .list::<Node>(vec![])
            .await?
            .into_iter()
            .filter(|(k, n)| {
                *k != self.node && n.bonded() > 0 && n.last_active.max(n.registered_at) >= since
            })
            .collect();
        *self.peers.lock().unwrap() = Arc::new(peers);
        Ok(())
    }

    pub(super) fn peers(&self) -> Arc<Vec<(Pubkey, Node)>> {
        self.peers.lock().unwrap().clone()
    }

    async fn refresh_node(&self) -> Result<()> {
        // read together: the batch reader merges them into one getMultipleAccounts
        let config_key = tessera_sdk::pda::config().0;
        let (node, config) = tokio::join!(
            self.chain.fetch::<Node>("Node", &self.node),
            self.chain
                .fetch::<tessera::state::Config>("Config", &config_key)
        );
        let min_stake = match config? {
            Some(c) => {
                self.network_min_stake
                    .store(c.min_stake, std::sync::atomic::Ordering::Relaxed);
                c.min_stake
            }
            None => 0,
        };
        let node: Node = node?.with_context(|| {
            format!(
                "node {} is not registered: run `tessera-worker register` first",
                self.node
            )
        })?;
        if node.bonded() < min_stake {
            warn!(
                bonded = node.bonded(),
                min_stake,
                "the node's bonded stake is below the network minimum: it takes no job until it stakes more (`tessera-worker stake`)"
            );
        }
        self.metrics.stake_tokens.set(node.stake as f64);
        self.metrics
            .reputation_bps
            .set(node.reputation.score_bps as f64);
        self.metrics
            .earnings_tokens
            .set(node.reputation.earned_total as f64);
        self.metrics.open_claims.set(node.open_claims as f64);
        *self.node_state.lock().unwrap() = Some(node);
        Ok(())
    }
}
