//! Driving one claim of this node through its life (bid → claim → compute → commit → reveal →
//! settle), one step and at most one transaction at a time, every stage journaled before its
//! transaction goes out.
//!
//! Flow: `mod.rs` (events) → `choose.rs` (take it?) → here (claim, compute, commit, reveal,
//! settle), which calls `crank.rs` for other nodes' expired or settleable claims on the way.
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use solana_sdk::pubkey::Pubkey;
use tessera::errors::TesseraError;
use tessera::state::{commitment, Bid, Claim, ClaimState, Job, JobState};
use tessera_blobs as blobs;
use tessera_rpc as sdk_rpc;
use tessera_sdk::sortition::{self, Eligibility};
use tessera_sdk::{ix, pda};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tracing::{debug, info, warn};

use super::{
    slots_to_secs, Worker, CLAIM_MARGIN_SECS, CLIENT_SETTLE_GRACE_SECS, MAX_DEADLINE_SLEEP,
    MIN_WAIT, SETTLE_GRACE, SLOT_TIME,
};
use crate::chain::{backoff, watch::JobSeen, TxError};
use crate::compute::{fits_in_time, WorkTicket};
use crate::state::{now_ms, Entry, Stage};
use crate::storage::InputError;

/// What the sortition says about claiming (or bidding) now.
enum Drawn {
    /// Drawn: claim now (the job's creation time, for the pickup metric).
    Now { created_at: i64 },
    /// Look again after this long (the seed slot is not over, or the threshold rises to this node later).
    Wait(Duration),
    /// Drawn, but behind other nodes drawn in the same slot: let them claim first, and look
    /// again (claiming if a slot is still free) after this long.
    Defer(Duration),
    /// The round's seed slot is newer than the view: its blockhash shows once that slot does.
    SeedPending,
    /// Not before the window closes, or no slot left.
    No(String),
    /// The job is not in the sortition view (read at `processed`): closed, or the RPC node
    /// answering the read lags the one behind the websocket.
    Missing,
}

/// Looks for a job missing from the view before it is taken as closed (each after the
/// websocket reports a change of it, or [`MISSING_WAIT`]).
pub(super) const MISSING_LOOKS: u32 = 8;
/// The longest wait between two looks for a job missing from the view.
pub(super) const MISSING_WAIT: Duration = Duration::from_millis(800);
/// At most this many slots of courtesy to the nodes drawn ahead in the same slot.
const MAX_DEFER_SLOTS: usize = 3;
/// After the courtesy slots, this much more: the claim of a node ahead lands in the slot after
/// its view, and shows once that slot is the view.
const DEFER_MARGIN: Duration = Duration::from_millis(150);
/// How often the draw is looked at again while the view has not reached the seed slot.
const SEED_POLL: Duration = Duration::from_millis(100);
/// Waits for the draw up to this long are done in place; a longer one goes back to the step
/// (which checks again, from the chain, whether a claim landed and a slot is free).
const SHORT_DRAW_WAIT: Duration = Duration::from_secs(2);
/// At most this many short waits in place before going back to the step (which also looks at
/// the worker's shutdown), should the cluster stop producing slots.
const SHORT_DRAW_WAITS: u32 = 16;

impl Worker {
    /// Fetches and validates the input, then takes a claim slot, claims (or bids) and drives
    /// the claim.
    pub(super) async fn take(self: Arc<Self>, seen: JobSeen, sd: watch::Receiver<bool>) {
        let k = seen.key;
        let job = seen.job;
        let Some(input) = self.input_before_claim(&k, &job).await else {
            return;
        };
        let ready = match self.prepare(input).await {
            Ok(j) => j,
            Err(r) => {
                // the input can never run here: it must not stay in the cache (downloads are
                // cached before they are validated)
                if r.kind == "invalid_input" {
                    self.storage.evict(&job.spec_hash);
                }
                self.skip_input(k, r.kind, r.permanent, &r.why);
                return;
            }
        };
        if let Err(r) = self.affordable(&job, &ready) {
            // nor an input this node will never take (too slow for the job's window, or
            // underpriced): a client posting many must not fill the disk
            if r.permanent {
                self.storage.evict(&job.spec_hash);
            }
            self.skip_input(k, r.kind, r.permanent, &r.why);
            return;
        }
        let estimate = self.compute.estimate_secs(&ready);
        drop(ready); // the claim reads the input again from the cache
        if self.seen_full(&k) {
            // other nodes filled the job while the input was downloading
            self.metrics.claims_skipped_full.inc();
            self.active.lock().unwrap().remove(&k);
            return;
        }
        // Only now, with the input here and valid, take a claim slot.
        let Ok(permit) = self.claim_slots.clone().try_acquire_owned() else {
            debug!(job = %k, "no claim slot free after the download; leaving the job for now");
            self.active.lock().unwrap().remove(&k);
            return;
        };
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
            // finalize_job then reopens the round.) The margin covers the claim's own way to
            // the chain plus the cost model's estimate of the computation.
            let need = CLAIM_MARGIN_SECS.saturating_add(estimate.ceil() as i64);
            // Work this node already claimed runs first: a job that cannot be committed in
            // time behind it is left for now (seen again later) rather than claimed and
            // slashed for the timeout.
            let room = if left < 0 { job.exec_secs } else { left };
            if left >= need {
                let queued = self.compute.queued_secs();
                if let Err(why) =
                    fits_in_time(estimate, queued, CLAIM_MARGIN_SECS, job.exec_secs, room)
                {
                    self.skip_input(k, "busy", false, &why);
                    return;
                }
            }
            if (0..need).contains(&left) {
                info!(job = %k, left, need, "not claiming: the commit window closes too soon");
                self.active.lock().unwrap().remove(&k);
                // Nothing on the job changes when its window closes, so no websocket event
                // brings it back: look again once the window has passed (it is then
                // reopened by finalize_job, or refused by name).
                let after = Duration::from_secs(left as u64 + 1);
                tokio::spawn(self.clone().look_again(k, after, sd));
                return;
            }
            // Who claims, and in what order, is the round's sortition: the node waits for
            // its draw (`wait_for_draw`), then looks once more that a slot is still free.
        }
        if self.draining() {
            self.active.lock().unwrap().remove(&k); // drained before anything was sent
            return;
        }
        let e = Entry::new(&k, stage);
        if let Err(err) = self.journal.put(&e) {
            warn!(job = %k, "cannot record the claim, not taking the job: {err:#}");
            self.active.lock().unwrap().remove(&k);
            return;
        }
        // counted as queued work until its result is computed (or the claim is given up)
        let work = self.compute.reserve(estimate);
        self.drive(e, Some(permit), Some(work), sd).await;
    }

    /// Reads job `k` again after `after` and takes it if it is still wanted (for a job left
    /// for a reason that passes with time, which no account change announces). A boxed future
    /// with a named type: [`Worker::take`] spawns it, and it may call `take` again.
    fn look_again(
        self: Arc<Self>,
        k: Pubkey,
        after: Duration,
        sd: watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            tokio::time::sleep(after).await;
            if *sd.borrow() {
                return;
            }
            if let Ok(Some(job)) = self.job(&k).await {
                let seen = JobSeen {
                    key: k,
                    job: Box::new(job),
                };
                self.note_fill(&seen);
                if self.wants(&seen) {
                    self.take(seen, sd).await;
                }
            }
        })
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
    pub(super) async fn drive(
        self: Arc<Self>,
        mut e: Entry,
        mut permit: Option<OwnedSemaphorePermit>,
        mut work: Option<WorkTicket>,
        sd: watch::Receiver<bool>,
    ) {
        let key = e.job();
        self.events.follow(&key);
        let mut errors = 0u32;
        while !e.stage.is_final() && !*sd.borrow() {
            if e.stage >= Stage::Computed {
                work.take(); // its work is no longer queued
            }
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
        self.events.unfollow(&key);
        self.active.lock().unwrap().remove(&key);
    }

    /// Waits for the job `key` to change: until the websocket reports a change of it, its next
    /// deadline (`deadline` in cluster seconds, `now` the cluster time) has passed, or at most
    /// `[rpc] poll_secs`.
    async fn wait_job(&self, key: &Pubkey, now: i64, deadline: Option<i64>) {
        let mut limit = self.pacing.poll;
        if let Some(d) = deadline {
            // the program compares `now > deadline`: wake a second after it
            let secs = d.saturating_sub(now).saturating_add(1).max(0) as u64;
            limit = limit.min(Duration::from_secs(secs));
        }
        let woken = self.events.follow(key);
        let _ = tokio::time::timeout(limit.max(MIN_WAIT), woken.notified()).await;
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

    /// `Some(created_at)` when the sortition draws this node now; otherwise it waits (the seed
    /// slot is not over, or the threshold rises to this node later) or abandons the entry (no
    /// slot or no time left, or draining when `first`: the entry's first step, so nothing was
    /// ever sent for it), and the caller returns to look again. Short waits
    /// (the seed slot, a job seen on the websocket and not yet in the view) are done here,
    /// one account read a look, instead of going back through the step's checks.
    pub(super) async fn wait_for_draw(
        &self,
        e: &mut Entry,
        bid: bool,
        first: bool,
    ) -> Result<Option<i64>> {
        let key = e.job();
        let (mut missing, mut waits) = (0u32, 0u32);
        // (nodes ahead in the draw are waited for once; after that the claim goes out)
        let mut deferred = false;
        loop {
            if first && self.draining() {
                self.abandon(e, "draining: no new claims"); // nothing was sent
                return Ok(None);
            }
            match self.drawn(&key, bid, !deferred).await? {
                Drawn::Now { created_at } => return Ok(Some(created_at)),
                Drawn::SeedPending if waits < SHORT_DRAW_WAITS => {
                    // The round's seed slot is newer than the view (a read served by a
                    // lagging bank): its blockhash is in the view as soon as that slot is.
                    waits += 1;
                    tokio::time::sleep(SEED_POLL).await;
                }
                Drawn::SeedPending => {
                    tokio::time::sleep(SLOT_TIME).await;
                    return Ok(None);
                }
                Drawn::Defer(d) => {
                    deferred = true;
                    self.metrics.claims_deferred.inc();
                    tokio::time::sleep(d).await;
                }
                Drawn::Wait(d) if d <= SHORT_DRAW_WAIT && waits < SHORT_DRAW_WAITS => {
                    waits += 1;
                    tokio::time::sleep(d).await;
                }
                Drawn::Wait(d) => {
                    tokio::time::sleep(d).await;
                    return Ok(None);
                }
                Drawn::No(why) => {
                    self.abandon(e, why);
                    return Ok(None);
                }
                Drawn::Missing if missing < MISSING_LOOKS => {
                    missing += 1;
                    // The progress subscription (at `confirmed`) reports changes of the job.
                    let woken = self.events.follow(&key);
                    let _ = tokio::time::timeout(MISSING_WAIT, woken.notified()).await;
                }
                Drawn::Missing => {
                    self.abandon(e, "job closed");
                    return Ok(None);
                }
            }
        }
    }

    /// Does the sortition of `key`'s current round (or its bidding, `bid`) draw this node?
    /// With `courtesy`, a claim drawn behind other active nodes drawn in the same slot is
    /// deferred a slot for each of them (bids are not: an auction takes every bid).
    async fn drawn(&self, key: &Pubkey, bid: bool, courtesy: bool) -> Result<Drawn> {
        let Some(v) = self.chain.sortition_view(key, &self.node).await? else {
            return Ok(Drawn::Missing);
        };
        let j = &v.job;
        let until = if bid {
            j.bid_deadline
        } else {
            let taken = j.active_claims.saturating_add(j.reserved_at(v.now));
            if taken >= j.slots {
                self.metrics.claim_races_lost.inc();
                return Ok(Drawn::No("no free slot".into()));
            }
            j.commit_deadline.saturating_sub(CLAIM_MARGIN_SECS)
        };
        // The view is the last bank an RPC node shows at `processed`: a frozen slot. A
        // transaction sent now runs in the next one at the earliest (measured: a transfer
        // sent during processed slot n lands in n + 1, or n + 2), so the draw is read for the
        // slot the claim can land in. The threshold only rises with the slots, so a claim
        // that lands later is still drawn; and the round's seed (the blockhash of the slot it
        // opened in) is readable from that slot's own view, so a claim can land in the slot
        // after the post.
        let landing = v.slot.saturating_add(1);
        let view = sortition::RoundView {
            job_key: key,
            job: j,
            node_key: &self.node,
            node: &v.node,
            config: &v.config,
            slot_hashes: &v.slot_hashes,
            recent_blockhashes: &v.recent_blockhashes,
            slot: landing,
        };
        let eligibility = sortition::eligibility(&view);
        debug!(job = %key, slot = v.slot, seed_slot = j.seed_slot, ?eligibility, "draw");
        Ok(match eligibility {
            Eligibility::Now if courtesy && !bid => {
                let peers = self.peers();
                // only the peers that could take this job (hardware, stake, reputation)
                let could = peers.iter().filter(|(_, p)| {
                    j.check_eligible(&v.config, p, &(&p.hardware).into(), v.now)
                        .is_ok()
                });
                let ahead = sortition::ahead_of(&view, could);
                // The taken slots are held by nodes drawn earlier (assume so: a claim is
                // only ever drawn); the others drawn earlier may have claims on the way, and
                // the ones ahead in this slot claim now. This node claims when it is among the
                // first `free` of them.
                let taken = j.active_claims.saturating_add(j.reserved_at(v.now));
                let free = usize::from(j.slots.saturating_sub(taken));
                let before = ahead.earlier.saturating_sub(usize::from(taken)) + ahead.same_slot;
                if before < free {
                    Drawn::Now {
                        created_at: j.created_at,
                    }
                } else {
                    let behind = before + 1 - free;
                    debug!(job = %key, ?ahead, free, "drawn behind others: letting them claim first");
                    Drawn::Defer(
                        SLOT_TIME
                            .saturating_mul(behind.min(MAX_DEFER_SLOTS) as u32)
                            .saturating_add(DEFER_MARGIN),
                    )
                }
            }
            Eligibility::Now => Drawn::Now {
                created_at: j.created_at,
            },
            Eligibility::SeedNotReady => Drawn::SeedPending,
            Eligibility::At(s)
                if v.now
                    .saturating_add(slots_to_secs(s.saturating_sub(v.slot)))
                    <= until =>
            {
                // wake up once the view is the slot before ours: the claim lands in ours
                let wait = SLOT_TIME
                    .saturating_mul(s.saturating_sub(v.slot).saturating_sub(1) as u32)
                    .min(MAX_DEADLINE_SLEEP);
                debug!(job = %key, at = s, "not drawn yet; waiting for the threshold to rise");
                Drawn::Wait(wait.max(Duration::from_millis(100)))
            }
            Eligibility::At(_) | Eligibility::Never => {
                Drawn::No("not drawn by the round's sortition in time".into())
            }
        })
    }

    /// This node already has a claim on the entry's job (sent before a restart, or an earlier
    /// entry's): carry on with it, unless it timed out. A timed-out claim holds no slot and
    /// stays until the job settles, and no second claim of this node can exist meanwhile:
    /// computing for it again would only miss another deadline.
    fn take_over(&self, e: &mut Entry, claim: &Claim) -> Result<()> {
        if claim.state == ClaimState::TimedOut {
            self.abandon(
                e,
                "this node's claim on the job timed out; it cannot claim it again",
            );
            return Ok(());
        }
        self.claimed(e)
    }

    /// One step of the state machine; returns after at most one transaction.
    pub(super) async fn step(&self, e: &mut Entry) -> Result<()> {
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
                    if let Some(claim) = self.claim(&key).await? {
                        return self.take_over(e, &claim);
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
                // Only claim when the round's sortition draws this node; a drawn claim is
                // dropped while draining (in wait_for_draw). Auction winners hold a reserved
                // slot, are not drawn again, and claim it even while draining (their bid was
                // a promise).
                if !with_bid {
                    match self.wait_for_draw(e, false, fresh).await? {
                        Some(created) => job_created = Some(created),
                        None => return Ok(()),
                    }
                }
                // (no preflight: it would run the claim against the view's slot, where the
                // draw for the next one, the slot it lands in, does not hold yet)
                match self
                    .chain
                    .send_checked(
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
                    Err(err)
                        if (err.is(TesseraError::SeedNotReady)
                            || err.is(TesseraError::NotEligible))
                            && e.attempts < 64 =>
                    {
                        // the draw moved under us (a slot or a stake changed): look again
                        debug!(job = %key, "claim not drawn yet: {err}");
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        Ok(())
                    }
                    Err(TxError::Rejected { reason, .. }) => {
                        if let Some(claim) = self.claim(&key).await? {
                            return self.take_over(e, &claim);
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
                let claim_key = pda::claim(&key, &self.node).0;
                let (job, claim, _) = self.chain.snapshot(&key, &claim_key).await?;
                let Some(claim) = claim else {
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
                // The round's last commitment, every slot taken, reveals at once: nobody is
                // left to copy it (a k = 1 job always). One transaction instead of two.
                let last = job.as_ref().is_some_and(|j| {
                    j.state == JobState::Open
                        && claim.round == j.round
                        && j.active_claims == j.slots
                        && j.round_commits.checked_add(1) == Some(j.round_claims)
                });
                if last {
                    let uri = e.output_uri.clone().unwrap_or_default();
                    match self
                        .chain
                        .send_checked(
                            "submit_result",
                            &[ix::submit_result(&self.operator, &key, hash, uri)],
                        )
                        .await
                    {
                        Ok(_) => {
                            info!(job = %key, "submitted (committed and revealed)");
                            return self.record(e, Stage::Revealed);
                        }
                        // another claim committed or expired meanwhile: commit as usual
                        Err(TxError::Rejected { reason, .. }) => {
                            debug!(job = %key, "submit_result refused ({reason}); committing")
                        }
                        Err(t) => return Err(t.into()),
                    }
                }
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
                            Some(ClaimState::Committed | ClaimState::Revealed)
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
        self.node_changed.notify_one();
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
            if self.draining() {
                self.abandon(e, "draining: no new bids"); // nothing was sent
                return Ok(());
            }
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
            // bids are drawn by the same sortition as claims
            if self.wait_for_draw(e, true, false).await?.is_none() {
                return Ok(());
            }
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
                    self.wait_job(&key, now, Some(job.bid_deadline)).await;
                }
                Ok(())
            }
            (_, Some(b)) if b.won => self.record(e, Stage::Claiming),
            (_, Some(_)) => {
                let _ = self
                    .chain
                    .send(
                        "close_bid",
                        &[ix::close_bid(
                            &self.operator,
                            &key,
                            &self.node,
                            &self.operator,
                        )],
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
        let input = match self.storage.input(&job.input_uri, &job.spec_hash).await {
            Ok(b) => b,
            // (normally the input is in the cache since before the claim)
            Err(InputError::Fetch(f)) if f.is_permanent() => {
                self.metrics
                    .inputs_refused
                    .with_label_values(&[f.kind()])
                    .inc();
                self.abandon(e, format!("input refused after the claim: {f}"));
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        let ready = match self.prepare(input).await {
            Ok(j) => j,
            // it was checked before the claim: only a model gone from every store, or a
            // changed node, lands here
            Err(r) if r.permanent => {
                self.abandon(e, format!("job cannot run after the claim: {}", r.why));
                return Ok(());
            }
            Err(r) => anyhow::bail!("{}", r.why),
        };
        let (mut out, secs) = self.compute.run(ready).await?;
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
        // waiting for the other replicas' commits, or the commit deadline
        let deadline = (job.state == JobState::Open).then_some(job.commit_deadline);
        self.wait_job(&key, now, deadline).await;
        Ok(())
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
                    self.settle_others(&key, &job.client).await;
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
        if job.has_winner && e.result_hash == Some(job.winning_hash) && !e.agreed {
            e.agreed = true;
            self.record(e, e.stage)?;
        }
        if self.settleable(&job, now) {
            // A job with a result is left to its client for a while: the client's settlement
            // of the last claim pays us and closes the job in one transaction.
            let grace_end = job
                .challenge_deadline
                .saturating_add(CLIENT_SETTLE_GRACE_SECS);
            if job.has_winner && job.client != self.operator && now <= grace_end {
                let left = grace_end.saturating_sub(now).max(0) as u64;
                tokio::time::sleep(
                    Duration::from_millis(left * 1000 + 500).min(MAX_DEADLINE_SLEEP),
                )
                .await;
                return Ok(());
            }
            // Our own claim first: it pays us.
            let ixn = ix::settle_claim(
                &self.tctx,
                &self.operator,
                &key,
                &job.client,
                &self.operator,
            );
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
            // makes the job wait longer): sleep until then instead of polling. A job with a
            // result is then left to its client for the grace period (its settlement pays us
            // and closes the job): sleep through that too, one read instead of two.
            let mut until = job.challenge_deadline;
            let mut cap = MAX_DEADLINE_SLEEP;
            if job.has_winner && job.client != self.operator {
                until = until.saturating_add(CLIENT_SETTLE_GRACE_SECS);
                cap = MAX_DEADLINE_SLEEP * 2;
            }
            let left = until.saturating_sub(now).max(0) as u64;
            let wait = Duration::from_millis(left * 1000 + 600).min(cap);
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        // waiting for the other replicas' commits or reveals, or their deadline
        let deadline = match job.state {
            JobState::Open => Some(job.commit_deadline),
            JobState::Revealing => Some(job.reveal_deadline),
            _ => None,
        };
        self.wait_job(&key, now, deadline).await;
        Ok(())
    }

    fn settled(&self, e: &mut Entry, job: Option<&Job>) -> Result<()> {
        self.node_changed.notify_one();
        let paid = match (job, e.result_hash) {
            (Some(j), Some(h)) => j.has_winner && j.winning_hash == h,
            // the client settled the last claim and closed the job
            (None, Some(_)) => e.agreed,
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
