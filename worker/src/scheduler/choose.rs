//! Choosing jobs: is a job seen on the wire worth taking? Kernel, price, requirements and
//! capacity ([`Worker::wants`]), the skip list of jobs whose input could not be had, the input
//! fetched and checked before any claim, and this node's place in the job's claim order.
//!
//! Flow: `mod.rs` (events) → here (take it?) → `claim.rs` (claim, compute, commit, reveal,
//! settle) and `crank.rs` (others' expired or settleable claims). Nothing here sends a
//! transaction.
use std::time::{Duration, Instant};

use solana_sdk::pubkey::Pubkey;
use tessera::state::{Job, JobState, MarketType, Node};
use tessera_compute::KernelId;
use tracing::{debug, warn};

use super::{Worker, BAD_INPUT_SKIP, MAX_RETRY_SKIP, MAX_SKIPPED};
use crate::chain::watch::JobSeen;
use crate::state::Stage;

/// Why a job is not taken (its metric label, whether it can ever change, and why).
#[derive(Debug)]
pub(super) struct Refusal {
    pub kind: &'static str,
    pub permanent: bool,
    pub why: String,
}

/// A job whose input could not be had: left alone until `until`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Skip {
    until: Instant,
    failures: u32,
}

/// How long to skip a job after its `failures`-th failure to fetch its input.
fn skip_for(permanent: bool, failures: u32, retry: Duration) -> Duration {
    if permanent {
        return BAD_INPUT_SKIP;
    }
    retry
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_RETRY_SKIP)
}

impl Worker {
    pub(super) fn note_fill(&self, seen: &JobSeen) {
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

    /// True when the websocket has shown every slot of `job` taken.
    pub(super) fn seen_full(&self, job: &Pubkey) -> bool {
        self.fill
            .lock()
            .unwrap()
            .get(job)
            .is_some_and(|&(active, slots)| active >= slots)
    }

    /// Quick checks on a job seen on the wire: true when it is worth a closer look (the job
    /// is then marked active for this process). No slot is taken here: the input is fetched
    /// first ([`Worker::take`]).
    pub(super) fn wants(&self, seen: &JobSeen) -> bool {
        self.wants_inner(seen).is_some()
    }

    fn wants_inner(&self, seen: &JobSeen) -> Option<()> {
        let job = &seen.job;
        let k = seen.key;
        if self.active.lock().unwrap().contains(&k) || self.skipped(&k) {
            return None;
        }
        self.metrics.jobs_seen.inc();
        let kernel = KernelId::from_u16(job.kernel_id)?;
        if !kernel.supports(job.spec_version) {
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
        if self.claim_slots.available_permits() == 0 {
            return None; // no capacity: do not even download (the job is seen again later)
        }
        // take the job for this process before any await
        if !self.active.lock().unwrap().insert(k) {
            return None;
        }
        Some(())
    }

    /// Is `job` being skipped for a bad or unreachable input?
    fn skipped(&self, job: &Pubkey) -> bool {
        self.refused
            .lock()
            .unwrap()
            .get(job)
            .is_some_and(|s| s.until > Instant::now())
    }

    /// Skips `job` for a while after its input could not be had (`permanent`: it never will
    /// be under this node's policy), and lets go of it.
    pub(super) fn skip_input(&self, job: Pubkey, reason: &'static str, permanent: bool, why: &str) {
        self.metrics
            .inputs_refused
            .with_label_values(&[reason])
            .inc();
        let now = Instant::now();
        let wait = {
            let mut m = self.refused.lock().unwrap();
            if m.len() >= MAX_SKIPPED {
                m.retain(|_, s| s.until > now);
                if m.len() >= MAX_SKIPPED {
                    m.clear();
                }
            }
            let failures = m.get(&job).map_or(0, |s| s.failures).saturating_add(1);
            let wait = skip_for(permanent, failures, self.fetch_retry);
            m.insert(
                job,
                Skip {
                    until: now + wait,
                    failures,
                },
            );
            wait
        };
        warn!(job = %job, reason, skip_secs = wait.as_secs(), "not taking the job: {why}");
        self.active.lock().unwrap().remove(&job);
    }

    /// The input of a job about to be claimed: from the cache, else downloaded under the
    /// fetch policy in a download slot (never a claim slot). `None` when the job is to be
    /// left (skipped, or no download slot free: it is seen again on the next re-sync).
    pub(super) async fn input_before_claim(&self, k: &Pubkey, job: &Job) -> Option<Vec<u8>> {
        if let Some(b) = self.storage.cached(&job.spec_hash) {
            return Some(b);
        }
        // refused URIs cost no download slot
        if let Err(e) = self.storage.policy().check(&job.input_uri) {
            self.skip_input(*k, e.kind(), e.is_permanent(), &e.to_string());
            return None;
        }
        let Some(slot) = self.storage.try_download_slot() else {
            debug!(job = %k, "every download slot is busy; leaving the job for now");
            self.active.lock().unwrap().remove(k);
            return None;
        };
        let got = self.storage.download(&job.input_uri, &job.spec_hash).await;
        drop(slot);
        match got {
            Ok(b) => {
                self.refused.lock().unwrap().remove(k);
                Some(b)
            }
            Err(e) => {
                self.skip_input(*k, e.kind(), e.is_permanent(), &e.to_string());
                None
            }
        }
    }

    /// A fetched, verified input made ready to run: parsed against this node's limits and,
    /// for a job that names a model, the model fetched by hash (once: it is cached on disk
    /// and in memory) and bound, which checks the token ids, the lengths and the memory the
    /// job needs. An error says why the job cannot be run here.
    pub(super) async fn prepare(&self, input: Vec<u8>) -> Result<tessera_compute::Job, Refusal> {
        let job = self
            .compute
            .validate_off_runtime(input)
            .await
            .map_err(|e| Refusal {
                kind: "invalid_input",
                permanent: true,
                why: format!("its input is not a valid kernel input: {e:#}"),
            })?;
        if let Some((hash, uri)) = job.base_ref() {
            let uri = uri.to_string();
            let base = self
                .models
                .training_base(&self.storage, hash, &uri)
                .await
                .map_err(model_refusal)?;
            return self.compute.bind_base(job, base).map_err(unbindable);
        }
        if let Some((hash, uri)) = job.decoder_ref() {
            let uri = uri.to_string();
            let model = self
                .models
                .decoder(&self.storage, hash, &uri)
                .await
                .map_err(model_refusal)?;
            return self.compute.bind_decoder(job, model).map_err(unbindable);
        }
        let Some((hash, uri)) = job.model_ref() else {
            return Ok(job);
        };
        let uri = uri.to_string();
        let model = self
            .models
            .get(&self.storage, hash, &uri)
            .await
            .map_err(model_refusal)?;
        self.compute.bind(job, model).map_err(unbindable)
    }

    /// The cost model's verdict on a ready job: refused when it pays less than
    /// `pricing.min_price_per_gflop` for its operations, or when this node could not compute
    /// it within a whole commit window (`exec_secs`).
    pub(super) fn affordable(
        &self,
        job: &Job,
        ready: &tessera_compute::Job,
    ) -> Result<(), Refusal> {
        let gflops = ready.flops() as f64 / 1e9;
        let floor = gflops * self.min_price_per_gflop as f64;
        if (job.price_per_replica as f64) < floor {
            return Err(Refusal {
                kind: "underpriced",
                permanent: true,
                why: format!(
                    "it pays {} per replica for {gflops:.1} GFLOP, this node asks at least {floor:.0}",
                    job.price_per_replica
                ),
            });
        }
        let secs = self.compute.estimate_secs(ready);
        if secs > job.exec_secs as f64 {
            return Err(Refusal {
                kind: "too_slow",
                permanent: true,
                why: format!(
                    "it takes about {secs:.1} s here ({gflops:.1} GFLOP), the job allows {} s to commit",
                    job.exec_secs
                ),
            });
        }
        Ok(())
    }

    fn fits(&self, job: &Job) -> bool {
        let min_stake = self
            .network_min_stake
            .load(std::sync::atomic::Ordering::Relaxed);
        let guard = self.node_state.lock().unwrap();
        guard
            .as_ref()
            .is_some_and(|node| node_fits(node, job, min_stake))
    }
}

/// Whether `node` meets `job`'s requirements and the network's `min_stake`: hardware, bonded
/// stake, reputation (the program checks these, and more, on `claim_job`).
fn node_fits(node: &Node, job: &Job, min_stake: u64) -> bool {
    let r = &job.requirements;
    let hw = &node.hardware;
    hw.vram_mb >= r.min_vram_mb
        && hw.compute_capability >= r.min_compute_capability
        && hw.capabilities & r.capabilities == r.capabilities
        // the node's own standing too: a slash below the network minimum must not leave it
        // claiming (and being refused) forever
        && node.bonded() >= r.min_stake.max(min_stake).max(1)
        && node.reputation.score_bps >= r.min_reputation_bps
        // the claim's collateral must fit in the stake other open claims leave free
        && job
            .terms
            .collateral(job.price_per_replica)
            .is_ok_and(|c| node.free_collateral() >= c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 29: a slash put a node with the minimum stake below it; job choice looked only at
    /// the job's own stake requirement, so every later claim was refused `InsufficientStake`
    /// and the worker retried every few seconds for good. Below the network minimum, no job
    /// fits.
    #[test]
    fn a_node_below_the_network_minimum_takes_no_job() {
        use anchor_lang::AccountDeserialize;
        fn zeroed<T: AccountDeserialize + anchor_lang::Discriminator + anchor_lang::Space>() -> T {
            let mut data = T::DISCRIMINATOR.to_vec();
            data.resize(8 + T::INIT_SPACE, 0);
            T::try_deserialize(&mut data.as_slice()).expect("a zeroed account decodes")
        }
        let mut node: Node = zeroed();
        node.hardware.capabilities = tessera::constants::CAP_CPU;
        node.stake = 95;
        let mut job: Job = zeroed();
        job.price_per_replica = 1;
        assert!(node_fits(&node, &job, 90), "above the minimum: fits");
        assert!(
            !node_fits(&node, &job, 100),
            "below the network minimum: no job"
        );
    }

    #[test]
    fn input_skips_back_off_and_refusals_last() {
        let r = Duration::from_secs(60);
        assert_eq!(skip_for(false, 1, r), Duration::from_secs(60));
        assert_eq!(skip_for(false, 2, r), Duration::from_secs(120));
        assert_eq!(skip_for(false, 3, r), Duration::from_secs(240));
        assert_eq!(skip_for(false, 50, r), MAX_RETRY_SKIP);
        assert_eq!(skip_for(false, u32::MAX, r), MAX_RETRY_SKIP);
        assert_eq!(skip_for(true, 1, r), BAD_INPUT_SKIP);
        // a slow or endless input (it costs a download slot until the deadline) is retried
        // less and less often
        let slot_time: Duration = (1..=10).map(|n| skip_for(false, n, r)).sum();
        assert!(slot_time > Duration::from_secs(3 * 3600));
    }
}

/// A job whose model or training base could not be had.
fn model_refusal(e: crate::models::ModelError) -> Refusal {
    Refusal {
        kind: e.kind(),
        permanent: e.is_permanent(),
        why: e.to_string(),
    }
}

/// A job its model or base refuses (ids, lengths, limits).
fn unbindable(e: anyhow::Error) -> Refusal {
    Refusal {
        kind: "invalid_input",
        permanent: true,
        why: format!("it cannot run on this node: {e:#}"),
    }
}
