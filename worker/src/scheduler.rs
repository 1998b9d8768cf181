//! The daemon: picks jobs, and drives each claim through its life
//! (bid → claim → compute → commit → reveal → settle), one task per claim, every step
//! recorded in the journal before its transaction goes out.
//!
//! Which jobs it takes: kernel and spec version it implements, price at least
//! `pricing.min_price`, hardware / stake / reputation requirements met, a free slot, and
//! capacity (`capacity.max_claims`). The input is downloaded and validated *before* claiming,
//! so a job with a missing, tampered or malformed input is never claimed (its client gets the
//! escrow back through `expire_job`), and no node is slashed for a client's bad input.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use solana_sdk::pubkey::Pubkey;
use tessera::errors::TesseraError;
use tessera::state::{commitment, Bid, Claim, ClaimState, Job, JobState, MarketType, Node};
use tessera_client::ix::{self, TokenCtx};
use tessera_client::{blobs, pda, rpc as sdk_rpc};
use tessera_compute::KernelId;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::chain::{backoff, watch::JobSeen, Chain, TxError};
use crate::compute::Compute;
use crate::metrics::Metrics;
use crate::state::{now_ms, Entry, Journal, Stage};
use crate::storage::Storage;

const POLL: Duration = Duration::from_millis(300);
/// Every node ranks the staked nodes that can run a job in the same per-job order (a hash of
/// job and node, see [`claim_rank`]). The first `free slots` of them claim at once; a node
/// further back waits one step per place behind them (at most `CLAIM_STAGGER_STEPS`) and
/// claims only if the job still has a free slot. Claims that would lose the race are not sent,
/// and a node that is offline or busy costs the job one step of delay, not a lost slot.
const CLAIM_STAGGER_STEP: Duration = Duration::from_millis(1000);
const CLAIM_STAGGER_STEPS: u32 = 3;
/// How often the list of staked nodes (for the claim order) is read again.
const PEERS_REFRESH: Duration = Duration::from_secs(30);
/// Nodes that did nothing on-chain for this long are left out of the claim order.
const PEER_IDLE_SECS: i64 = 3600;
/// After its own claim is settled a node waits this long for the other replicas to settle
/// theirs before it cranks the stragglers (saves duplicate, rejected settlements).
const SETTLE_GRACE: Duration = Duration::from_secs(3);
/// Do not claim when the round's commit window closes in less than this (seconds, by the
/// local clock, which tracks the cluster's on a healthy node).
const CLAIM_MARGIN_SECS: i64 = 10;
/// Longest single sleep while waiting for a deadline known on-chain.
const MAX_DEADLINE_SLEEP: Duration = Duration::from_secs(10);

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
    pub bid_bps: u16,
    /// Test/demo switch: publish a wrong result (this node then gets slashed).
    pub dishonest: bool,
    /// Testing crash safety: exit(137) right after this stage is journaled.
    pub crash_after: Option<Stage>,
    pub ws_url: String,
    claim_slots: Arc<Semaphore>,
    active: Mutex<HashSet<Pubkey>>,
    /// Jobs whose input was found bad: never claimed.
    refused: Mutex<HashSet<Pubkey>>,
    node_state: Mutex<Option<Node>>,
    /// When each job's claims were last listed for expiry cranking.
    last_scan: Mutex<std::collections::HashMap<Pubkey, std::time::Instant>>,
    /// Latest (active claims, slots) of every open job seen on the websocket.
    fill: Mutex<std::collections::HashMap<Pubkey, (u8, u8)>>,
    /// Other staked nodes (key, account), for the claim order; refreshed every `PEERS_REFRESH`.
    peers: Mutex<Vec<(Pubkey, Node)>>,
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
            bid_bps,
            dishonest: false,
            crash_after: None,
            ws_url,
            claim_slots: Arc::new(Semaphore::new(max_claims)),
            active: Mutex::new(HashSet::new()),
            refused: Mutex::new(HashSet::new()),
            node_state: Mutex::new(None),
            last_scan: Mutex::new(std::collections::HashMap::new()),
            fill: Mutex::new(std::collections::HashMap::new()),
            peers: Mutex::new(Vec::new()),
        }
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
        self.refresh_peers().await;
        let mut peers_at = std::time::Instant::now();
        let mut tasks = JoinSet::new();
        // Resume every unfinished claim from the journal.
        for e in self.journal.all()? {
            if e.stage.is_final() {
                continue;
            }
            info!(job = %e.job(), stage = ?e.stage, "resuming from the journal");
            let permit = self.claim_slots.clone().try_acquire_owned().ok();
            self.active.lock().unwrap().insert(e.job());
            let me = self.clone();
            let sd = shutdown.clone();
            tasks.spawn(async move { me.drive(e, permit, sd).await });
        }
        let (tx, mut rx) = mpsc::channel::<JobSeen>(4096);
        tokio::spawn(crate::chain::watch::run(
            self.ws_url.clone(),
            self.chain.clone(),
            tx,
            shutdown.clone(),
        ));
        let mut refresh = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                Some(seen) = rx.recv() => {
                    self.note_fill(&seen);
                    if let Some(permit) = self.wants(&seen) {
                        let me = self.clone();
                        let sd = shutdown.clone();
                        tasks.spawn(async move { me.take(seen, permit, sd).await });
                    }
                }
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh_node().await {
                        warn!("refreshing the node account: {e:#}");
                    }
                    if peers_at.elapsed() >= PEERS_REFRESH {
                        peers_at = std::time::Instant::now();
                        let me = self.clone();
                        tokio::spawn(async move { me.refresh_peers().await });
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

    async fn refresh_node(&self) -> Result<()> {
        let node: Node = self
            .chain
            .fetch("Node", &self.node)
            .await?
            .with_context(|| {
                format!(
                    "node {} is not registered: run `tessera-worker register` first",
                    self.node
                )
            })?;
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

    /// Reads the staked, recently active nodes (one `getProgramAccounts`). On an RPC error the
    /// old list stays: the order is an optimisation, the program decides every claim.
    async fn refresh_peers(&self) {
        let Ok(nodes) = self.chain.list::<Node>(vec![]).await else {
            debug!("listing nodes for the claim order failed; keeping the old list");
            return;
        };
        let now = (now_ms() / 1000) as i64;
        let peers: Vec<(Pubkey, Node)> = nodes
            .into_iter()
            .filter(|(k, n)| {
                *k != self.node && n.bonded() > 0 && now - n.last_active <= PEER_IDLE_SECS
            })
            .collect();
        *self.peers.lock().unwrap() = peers;
    }

    fn note_fill(&self, seen: &JobSeen) {
        let mut fill = self.fill.lock().unwrap();
        if fill.len() > 50_000 {
            fill.clear(); // bounded: old entries are only hints
        }
        let j = &seen.job;
        let full = if j.state == JobState::Open {
            (j.active_claims, j.slots)
        } else {
            (0, j.slots)
        };
        fill.insert(seen.key, full);
    }

    /// This node's claim delay on `job`: zero when its place in the job's node order is among
    /// the free slots, else one step per place behind them (capped).
    fn claim_stagger(&self, key: &Pubkey, job: &Job) -> Duration {
        let free = job.slots.saturating_sub(job.active_claims) as usize;
        let place = {
            let peers = self.peers.lock().unwrap();
            claim_place(
                key,
                &self.node,
                peers
                    .iter()
                    .filter(|(_, n)| node_fits(n, job))
                    .map(|(k, _)| k),
            )
        };
        stagger_steps(place, free) * CLAIM_STAGGER_STEP
    }

    /// True when the websocket has shown every slot of `job` taken.
    fn seen_full(&self, job: &Pubkey) -> bool {
        self.fill
            .lock()
            .unwrap()
            .get(job)
            .is_some_and(|&(active, slots)| active >= slots)
    }

    /// Quick checks on a job seen on the wire; a permit when it is worth a closer look.
    fn wants(&self, seen: &JobSeen) -> Option<OwnedSemaphorePermit> {
        let job = &seen.job;
        let k = seen.key;
        if self.active.lock().unwrap().contains(&k) || self.refused.lock().unwrap().contains(&k) {
            return None;
        }
        self.metrics.jobs_seen.inc();
        let kernel = KernelId::from_u16(job.kernel_id)?;
        if kernel.spec_version() != job.spec_version {
            return None;
        }
        let price_ok = job.price_per_replica >= self.min_price;
        let open = match (job.market, job.state) {
            (MarketType::Fixed, JobState::Open) => job.active_claims < job.slots,
            (MarketType::Auction, JobState::Bidding) => true,
            (MarketType::Auction, JobState::Open) => job.round > 0 && job.active_claims < job.slots,
            _ => false,
        };
        if !price_ok || !open || !self.fits(job) {
            return None;
        }
        if let Ok(Some(e)) = self.journal.get(&k) {
            // Finished work on this job, or already working on it.
            if e.stage != Stage::Abandoned {
                return None;
            }
        }
        let permit = self.claim_slots.clone().try_acquire_owned().ok()?;
        // claim the job for this process before any await
        if !self.active.lock().unwrap().insert(k) {
            return None;
        }
        Some(permit)
    }

    fn fits(&self, job: &Job) -> bool {
        let guard = self.node_state.lock().unwrap();
        guard.as_ref().is_some_and(|node| node_fits(node, job))
    }

    /// Validates the input, then claims (or bids) and drives the claim.
    async fn take(
        self: Arc<Self>,
        seen: JobSeen,
        permit: OwnedSemaphorePermit,
        sd: watch::Receiver<bool>,
    ) {
        let k = seen.key;
        let job = seen.job;
        match self.storage.input(&job.input_uri, &job.spec_hash).await {
            Ok(input) => {
                if let Err(e) = self.compute.validate(&input) {
                    warn!(job = %k, "refusing job: its input is not a valid {} input: {e:#}", job.kernel_id);
                    self.refused.lock().unwrap().insert(k);
                    self.active.lock().unwrap().remove(&k);
                    return;
                }
            }
            Err(e) => {
                warn!(job = %k, "refusing job for now: {e:#}");
                if format!("{e:#}").contains("does not match its hash") {
                    self.refused.lock().unwrap().insert(k);
                }
                self.active.lock().unwrap().remove(&k);
                return;
            }
        }
        let stage = if job.state == JobState::Bidding {
            Stage::Bidding
        } else {
            Stage::Claiming
        };
        if stage == Stage::Claiming {
            // A claim this close to the commit deadline could not be committed in time and
            // would be slashed for a timeout: leave the job (it reopens or expires).
            let left = job.commit_deadline.saturating_sub((now_ms() / 1000) as i64);
            // (Past the deadline the claim goes out: it is refused with WindowClosed, and
            // finalize_job then reopens the round.)
            if (0..CLAIM_MARGIN_SECS).contains(&left) {
                info!(job = %k, left, "not claiming: the commit window closes too soon");
                self.active.lock().unwrap().remove(&k);
                return;
            }
            let stagger = self.claim_stagger(&k, &job);
            if !stagger.is_zero() {
                tokio::time::sleep(stagger).await;
                // Did nodes ahead of us fill the slots meanwhile? The websocket may lag under
                // load; one read at `processed` is far cheaper than a claim that loses.
                let full = self.seen_full(&k)
                    || matches!(
                        self.job_processed(&k).await,
                        Ok(Some(j)) if j.state != JobState::Open || j.active_claims >= j.slots
                    );
                if full {
                    self.metrics.claims_skipped_full.inc();
                    self.active.lock().unwrap().remove(&k);
                    return;
                }
            }
        }
        let e = Entry::new(&k, stage);
        if let Err(err) = self.journal.put(&e) {
            warn!(job = %k, "cannot record the claim, not taking the job: {err:#}");
            self.active.lock().unwrap().remove(&k);
            return;
        }
        self.drive(e, Some(permit), sd).await;
    }

    fn record(&self, e: &mut Entry, stage: Stage) -> Result<()> {
        e.stage = stage;
        self.journal.put(e)?;
        if self.crash_after == Some(stage) {
            warn!(job = %e.job(), ?stage, "--crash-after: exiting abruptly");
            std::process::exit(137);
        }
        Ok(())
    }

    fn abandon(&self, e: &mut Entry, why: impl Into<String>) {
        let why = why.into();
        info!(job = %e.job(), "giving up: {why}");
        e.note = Some(why);
        if let Err(err) = self.record(e, Stage::Abandoned) {
            warn!("journal: {err:#}");
        }
    }

    /// Drives one claim until it is settled or abandoned, or the worker shuts down.
    async fn drive(
        self: Arc<Self>,
        mut e: Entry,
        mut permit: Option<OwnedSemaphorePermit>,
        sd: watch::Receiver<bool>,
    ) {
        let key = e.job();
        let mut errors = 0u32;
        while !e.stage.is_final() && !*sd.borrow() {
            if e.stage >= Stage::Revealed {
                permit.take(); // computing is done: free the capacity
            }
            match self.step(&mut e).await {
                Ok(()) => errors = 0,
                Err(err) => {
                    errors = errors.saturating_add(1);
                    warn!(job = %key, stage = ?e.stage, "step failed (retrying): {err:#}");
                    tokio::time::sleep(backoff(errors.min(5))).await;
                }
            }
        }
        self.active.lock().unwrap().remove(&key);
    }

    async fn job(&self, key: &Pubkey) -> Result<Option<Job>> {
        self.chain.fetch::<Job>("Job", key).await
    }

    /// The job as of the latest processed slot (fresher than `confirmed`).
    async fn job_processed(&self, key: &Pubkey) -> Result<Option<Job>> {
        self.chain
            .fetch_at::<Job>(
                "Job",
                key,
                solana_commitment_config::CommitmentConfig::processed(),
            )
            .await
    }

    async fn claim(&self, key: &Pubkey) -> Result<Option<Claim>> {
        self.chain
            .fetch::<Claim>("Claim", &pda::claim(key, &self.node).0)
            .await
    }

    /// One step of the state machine; returns after at most one transaction.
    async fn step(&self, e: &mut Entry) -> Result<()> {
        let key = e.job();
        match e.stage {
            Stage::Bidding => self.step_bid(e).await,
            Stage::Claiming => {
                // First attempt: send right away (the job was just seen open; the program
                // checks everything again). Later attempts (restart, retry) look first.
                let fresh = e.attempts == 0;
                e.attempts += 1;
                let mut job_created = None;
                if !fresh {
                    if self.claim(&key).await?.is_some() {
                        return self.claimed(e);
                    }
                    let Some(job) = self.job_processed(&key).await? else {
                        self.abandon(e, "job closed");
                        return Ok(());
                    };
                    let now = self.chain.now().await?;
                    if job.state != JobState::Open
                        || job.active_claims >= job.slots
                        || now > job.commit_deadline
                    {
                        self.metrics.claim_races_lost.inc();
                        self.abandon(e, "no free slot");
                        return Ok(());
                    }
                    job_created = Some(job.created_at);
                }
                let with_bid = e.bid_price.is_some();
                match self
                    .chain
                    .send(
                        "claim_job",
                        &[ix::claim_job(&self.operator, &key, with_bid)],
                    )
                    .await
                {
                    Ok((_, slot)) => {
                        let created = match job_created {
                            Some(c) => Some(c),
                            None => self.job(&key).await.ok().flatten().map(|j| j.created_at),
                        };
                        if let Some(c) = created {
                            let pickup = now_ms() as f64 / 1000.0 - c as f64;
                            self.metrics.pickup_seconds.observe(pickup.max(0.0));
                        }
                        info!(job = %key, slot, "claimed");
                        self.claimed(e)
                    }
                    Err(err) if err.is(TesseraError::WindowClosed) && e.attempts < 3 => {
                        // The round's commit window ran out before anyone committed: crank
                        // finalize_job, which reopens it while the deadline allows, then claim.
                        match self
                            .chain
                            .send("finalize_job", &[ix::finalize_job(&key)])
                            .await
                        {
                            Ok(_) => info!(job = %key, "reopened an expired round"),
                            Err(err) => debug!("finalize_job: {err}"),
                        }
                        Ok(())
                    }
                    Err(TxError::Rejected { reason, .. }) => {
                        if self.claim(&key).await?.is_some() {
                            return self.claimed(e);
                        }
                        self.metrics.claim_races_lost.inc();
                        self.abandon(e, format!("claim refused: {reason}"));
                        Ok(())
                    }
                    Err(t) => Err(t.into()),
                }
            }
            Stage::Claimed => self.step_compute(e).await,
            Stage::Computed => {
                let Some(claim) = self.claim(&key).await? else {
                    self.abandon(e, "claim account gone before commit");
                    return Ok(());
                };
                match claim.state {
                    ClaimState::Committed | ClaimState::Revealed => {
                        return self.record(e, Stage::Committed)
                    }
                    ClaimState::TimedOut => {
                        self.metrics.jobs_failed.inc();
                        self.abandon(e, "claim expired before the commit");
                        return Ok(());
                    }
                    ClaimState::Claimed => {}
                }
                let hash = e.result_hash.context("computed entry without a result")?;
                let c = commitment(&hash, &self.node, &e.salt);
                match self
                    .chain
                    .send_checked(
                        "commit_result",
                        &[ix::commit_result(&self.operator, &key, c)],
                    )
                    .await
                {
                    Ok(_) => {
                        info!(job = %key, "committed");
                        self.record(e, Stage::Committed)
                    }
                    Err(TxError::Rejected { reason, .. }) => {
                        // Re-read: it may have landed before a crash, or the window closed.
                        if matches!(
                            self.claim(&key).await?.map(|c| c.state),
                            Some(ClaimState::Committed)
                        ) {
                            return self.record(e, Stage::Committed);
                        }
                        self.metrics.jobs_failed.inc();
                        self.abandon(e, format!("commit refused: {reason}"));
                        Ok(())
                    }
                    Err(t) => Err(t.into()),
                }
            }
            Stage::Committed => self.step_reveal(e).await,
            Stage::Revealed => self.step_settle(e).await,
            Stage::Settled | Stage::Abandoned => Ok(()),
        }
    }

    fn claimed(&self, e: &mut Entry) -> Result<()> {
        self.metrics.jobs_claimed.inc();
        e.claimed_ms = Some(now_ms());
        self.record(e, Stage::Claimed)
    }

    async fn step_bid(&self, e: &mut Entry) -> Result<()> {
        let key = e.job();
        let Some(job) = self.job(&key).await? else {
            self.abandon(e, "job closed");
            return Ok(());
        };
        let now = self.chain.now().await?;
        let bid_key = pda::bid(&key, &self.node).0;
        if e.bid_price.is_none() {
            if job.state != JobState::Bidding || now > job.bid_deadline {
                self.abandon(e, "bidding over");
                return Ok(());
            }
            let price =
                (u128::from(job.price_per_replica) * u128::from(self.bid_bps) / 10_000) as u64;
            let price = price.max(self.min_price).min(job.price_per_replica);
            e.bid_price = Some(price);
            self.journal.put(e)?;
        }
        let bid: Option<Bid> = self.chain.fetch("Bid", &bid_key).await?;
        if bid.is_none() && job.state == JobState::Bidding {
            let price = e.bid_price.unwrap_or(job.price_per_replica);
            return match self
                .chain
                .send("place_bid", &[ix::place_bid(&self.operator, &key, price)])
                .await
            {
                Ok(_) => {
                    self.metrics.bids_placed.inc();
                    info!(job = %key, price, "bid placed");
                    Ok(())
                }
                Err(TxError::Rejected { reason, .. }) => {
                    self.abandon(e, format!("bid refused: {reason}"));
                    Ok(())
                }
                Err(t) => Err(t.into()),
            };
        }
        match (job.state, bid) {
            (JobState::Bidding, Some(_)) => {
                if now > job.bid_deadline {
                    // Permissionless: close the auction with every bid on the job.
                    let bids: Vec<Pubkey> = self
                        .chain
                        .list::<Bid>(vec![sdk_rpc::of_job_filter(&key)])
                        .await?
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    match self
                        .chain
                        .send("close_auction", &[ix::close_auction(&key, &bids)])
                        .await
                    {
                        Ok(_) => info!(job = %key, bids = bids.len(), "closed the auction"),
                        Err(err) => debug!("close_auction: {err}"),
                    }
                } else {
                    tokio::time::sleep(POLL).await;
                }
                Ok(())
            }
            (_, Some(b)) if b.won => self.record(e, Stage::Claiming),
            (_, Some(_)) => {
                let _ = self
                    .chain
                    .send(
                        "close_bid",
                        &[ix::close_bid(&key, &self.node, &self.operator)],
                    )
                    .await;
                self.abandon(e, "auction lost");
                Ok(())
            }
            (_, None) => {
                self.abandon(e, "no bid and the auction is over");
                Ok(())
            }
        }
    }

    async fn step_compute(&self, e: &mut Entry) -> Result<()> {
        let key = e.job();
        let Some(job) = self.job(&key).await? else {
            self.abandon(e, "job closed");
            return Ok(());
        };
        let input = self.storage.input(&job.input_uri, &job.spec_hash).await?;
        let (mut out, secs) = self.compute.run(input).await?;
        self.metrics.kernel_seconds.observe(secs);
        if self.dishonest {
            // Lie consistently: a tampered output, hashed and published like a real one.
            if let Some(b) = out.bytes.first_mut() {
                *b ^= 0x5a;
            } else {
                out.bytes.push(1);
            }
        }
        let blob = out.blob();
        let hash = out.hash();
        let uri = self.storage.publish(&blob).await?;
        info!(job = %key, kernel = %out.kernel, secs = format!("{secs:.3}"), result = %&blobs::hex(&hash)[..16], "computed");
        e.result_hash = Some(hash);
        e.output_uri = Some(uri);
        e.kernel_secs = Some(secs);
        e.computed_ms = Some(now_ms());
        self.record(e, Stage::Computed)
    }

    async fn step_reveal(&self, e: &mut Entry) -> Result<()> {
        let key = e.job();
        let claim_key = pda::claim(&key, &self.node).0;
        let (job, claim, now) = self.chain.snapshot(&key, &claim_key).await?;
        let (Some(job), Some(claim)) = (job, claim) else {
            return self.record(e, Stage::Revealed); // settled/closed meanwhile
        };
        if claim.state == ClaimState::Revealed {
            return self.record(e, Stage::Revealed);
        }
        if claim.state == ClaimState::TimedOut || job.state.is_terminal() {
            return self.record(e, Stage::Revealed);
        }
        let revealing = job.state == JobState::Revealing && now <= job.reveal_deadline;
        let window_over = job.state == JobState::Open && now > job.commit_deadline;
        if revealing || window_over {
            let hash = e.result_hash.context("committed entry without a result")?;
            let uri = e.output_uri.clone().unwrap_or_default();
            return match self
                .chain
                .send_checked(
                    "reveal_result",
                    &[ix::reveal_result(&self.operator, &key, hash, e.salt, uri)],
                )
                .await
            {
                Ok(_) => {
                    info!(job = %key, "revealed");
                    self.record(e, Stage::Revealed)
                }
                Err(TxError::Rejected { reason, .. }) => {
                    if job.state == JobState::Revealing && now > job.reveal_deadline {
                        return self.record(e, Stage::Revealed);
                    }
                    Err(anyhow::anyhow!("reveal refused: {reason}"))
                }
                Err(t) => Err(t.into()),
            };
        }
        if job.state == JobState::Revealing && now > job.reveal_deadline {
            // Missed the reveal window: settle will slash this claim for no reveal.
            return self.record(e, Stage::Revealed);
        }
        self.crank_expired(&key, &job, now).await;
        tokio::time::sleep(POLL).await;
        Ok(())
    }

    /// Cranks `expire_claim` on claims of `job` past their deadline without a commitment
    /// (pays the crank reward, frees the slot).
    async fn crank_expired(&self, key: &Pubkey, job: &Job, now: i64) {
        // Only when a claim of this round can have run out of time (some claim has not
        // committed and the earliest possible claim deadline is past), at most every 5 s.
        if job.state != JobState::Open
            || job.round_commits >= job.round_claims
            || now <= job.created_at.saturating_add(job.exec_secs)
        {
            return;
        }
        {
            let mut scans = self.last_scan.lock().unwrap();
            let t = scans
                .entry(*key)
                .or_insert_with(|| std::time::Instant::now() - Duration::from_secs(60));
            if t.elapsed() < Duration::from_secs(5) {
                return;
            }
            *t = std::time::Instant::now();
        }
        let Ok(claims) = self
            .chain
            .list::<Claim>(vec![sdk_rpc::of_job_filter(key)])
            .await
        else {
            return;
        };
        for (_, c) in claims {
            if c.state == ClaimState::Claimed && now > c.deadline && c.round == job.round {
                let ixn = ix::expire_claim(&self.tctx, &self.operator, key, &c.operator);
                match self.chain.send("expire_claim", &[ixn]).await {
                    Ok(_) => info!(job = %key, node = %c.node, "expired a timed-out claim"),
                    Err(err) => debug!("expire_claim: {err}"),
                }
            }
        }
    }

    async fn step_settle(&self, e: &mut Entry) -> Result<()> {
        let key = e.job();
        let claim_key = pda::claim(&key, &self.node).0;
        let (job, claim, now) = self.chain.snapshot(&key, &claim_key).await?;
        let Some(job) = job else {
            return self.settled(e, None);
        };
        if claim.is_none() {
            // Ours is settled. The other replicas normally settle their own claims; crank
            // what is still open after a grace period (slashes pay the crank reward).
            if job.unsettled_claims > 0 && self.settleable(&job, now) {
                tokio::time::sleep(SETTLE_GRACE).await;
                let (job2, _, _) = self.chain.snapshot(&key, &claim_key).await?;
                if job2.is_some_and(|j| j.unsettled_claims > 0) {
                    self.settle_others(&key).await;
                }
            }
            return self.settled(e, Some(&job));
        }
        let finalizable = match job.state {
            JobState::Revealing => {
                job.round_reveals == job.round_commits || now > job.reveal_deadline
            }
            JobState::Open => now > job.commit_deadline,
            _ => false,
        };
        if finalizable {
            match self
                .chain
                .send("finalize_job", &[ix::finalize_job(&key)])
                .await
            {
                Ok(_) => info!(job = %key, "finalized the round"),
                Err(err) => debug!("finalize_job: {err}"),
            }
            return Ok(());
        }
        if self.settleable(&job, now) {
            // Our own claim first: it pays us.
            let ixn = ix::settle_claim(&self.tctx, &self.operator, &key, &self.operator);
            match self.chain.send_checked("settle_claim", &[ixn]).await {
                Ok(_) => info!(job = %key, "settled our claim"),
                Err(err) => debug!("settle_claim: {err}"),
            }
            return Ok(());
        }
        if job.state == JobState::Open {
            self.crank_expired(&key, &job, now).await;
        }
        if job.state == JobState::Challenge {
            // Nothing changes for us before the challenge window closes (a challenge only
            // makes the job wait longer): sleep until then instead of polling.
            let left = job.challenge_deadline.saturating_sub(now).max(0) as u64;
            let wait = Duration::from_millis(left * 1000 + 600).min(MAX_DEADLINE_SLEEP);
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
        Ok(())
    }

    fn settleable(&self, job: &Job, now: i64) -> bool {
        matches!(
            job.state,
            JobState::Completed | JobState::Failed | JobState::Expired
        ) || (job.state == JobState::Challenge && now > job.challenge_deadline)
    }

    /// Settles every other open claim of a finished job (one `getProgramAccounts`).
    async fn settle_others(&self, key: &Pubkey) {
        let Ok(claims) = self
            .chain
            .list::<Claim>(vec![sdk_rpc::of_job_filter(key)])
            .await
        else {
            return;
        };
        for (_, c) in claims {
            let ixn = ix::settle_claim(&self.tctx, &self.operator, key, &c.operator);
            match self.chain.send("settle_claim", &[ixn]).await {
                Ok(_) => info!(job = %key, node = %c.node, "settled another node's claim"),
                Err(err) => debug!("settle_claim: {err}"),
            }
        }
    }

    fn settled(&self, e: &mut Entry, job: Option<&Job>) -> Result<()> {
        let paid = match (job, e.result_hash) {
            (Some(j), Some(h)) => j.has_winner && j.winning_hash == h,
            _ => false,
        };
        if paid {
            self.metrics.jobs_completed.inc();
            info!(job = %e.job(), "settled: paid");
        } else {
            self.metrics.jobs_failed.inc();
            info!(job = %e.job(), "settled: not paid (minority, no result, or slashed)");
        }
        e.note = Some(if paid {
            "paid".into()
        } else {
            "not paid".into()
        });
        self.record(e, Stage::Settled)
    }
}

/// Whether `node` meets `job`'s requirements: hardware, bonded stake, reputation (the program
/// checks these, and more, on `claim_job`).
fn node_fits(node: &Node, job: &Job) -> bool {
    let r = &job.requirements;
    let hw = &node.hardware;
    hw.vram_mb >= r.min_vram_mb
        && hw.compute_capability >= r.min_compute_capability
        && hw.capabilities & r.capabilities == r.capabilities
        && node.bonded() >= r.min_stake.max(1)
        && node.reputation.score_bps >= r.min_reputation_bps
}

/// How many of `peers` come before `me` in `job`'s claim order (0 = first).
fn claim_place<'a>(job: &Pubkey, me: &Pubkey, peers: impl Iterator<Item = &'a Pubkey>) -> usize {
    let mine = claim_rank(job, me);
    peers
        .filter(|k| *k != me && claim_rank(job, k) < mine)
        .count()
}

/// Steps to wait at `place` in the order when `free` slots are open: none for the first
/// `free` places, then one per place behind them, at most `CLAIM_STAGGER_STEPS`.
fn stagger_steps(place: usize, free: usize) -> u32 {
    ((place + 1).saturating_sub(free) as u32).min(CLAIM_STAGGER_STEPS)
}

/// A node's place in `job`'s claim order (lower claims first): a hash of both keys, so every
/// node computes the same order and each job has its own.
fn claim_rank(job: &Pubkey, node: &Pubkey) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(job.as_ref());
    h.update(node.as_ref());
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_computes_the_same_claim_order() {
        let nodes: Vec<Pubkey> = (0..5).map(|_| Pubkey::new_unique()).collect();
        let mut firsts = HashSet::new();
        for _ in 0..200 {
            let job = Pubkey::new_unique();
            // each node ranks itself among the others: the places are 0..n, each once
            let mut places: Vec<usize> = nodes
                .iter()
                .map(|me| claim_place(&job, me, nodes.iter()))
                .collect();
            firsts.insert(nodes[places.iter().position(|&p| p == 0).unwrap()]);
            places.sort();
            assert_eq!(places, vec![0, 1, 2, 3, 4]);
            // with 2 free slots exactly two nodes claim at once, the rest wait in line
            let steps: Vec<u32> = (0..5).map(|p| stagger_steps(p, 2)).collect();
            assert_eq!(steps, vec![0, 0, 1, 2, 3]);
        }
        // the order differs per job: every node is first for some job
        assert_eq!(firsts.len(), nodes.len());
        // far back in a long line, the wait is capped
        assert_eq!(stagger_steps(9, 2), CLAIM_STAGGER_STEPS);
        assert_eq!(stagger_steps(0, 0), 1);
    }
}
