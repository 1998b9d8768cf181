//! Cranking other nodes' claims: `expire_claim` on claims past their deadline without a
//! commitment, and `settle_claim` on the open claims of a finished job. Both are
//! permissionless and pay the crank reward; they free slots and close jobs sooner.
//!
//! Flow: `mod.rs` (events) → `choose.rs` (take it?) → `claim.rs` (claim, compute, commit,
//! reveal, settle), which calls here for others' expired or settleable claims.
use std::time::Duration;

use solana_sdk::pubkey::Pubkey;
use tessera::state::{Claim, ClaimState, Job, JobState};
use tessera_rpc as sdk_rpc;
use tessera_sdk::ix;
use tracing::{debug, info};

use super::Worker;

impl Worker {
    /// Cranks `expire_claim` on claims of `job` past their deadline without a commitment
    /// (pays the crank reward, frees the slot).
    pub(super) async fn crank_expired(&self, key: &Pubkey, job: &Job, now: i64) {
        // Only when a claim of this round can have run out of time (some claim has not
        // committed and the earliest possible claim deadline is past), at most every
        // `[rpc] crank_scan_secs`.
        if job.state != JobState::Open
            || job.round_commits >= job.round_claims
            || now <= job.created_at.saturating_add(job.exec_secs)
        {
            return;
        }
        {
            let mut scans = self.last_scan.lock().unwrap();
            let t = scans.entry(*key).or_insert_with(|| {
                let long_ago = self.pacing.crank_scan + Duration::from_secs(1);
                std::time::Instant::now()
                    .checked_sub(long_ago)
                    .unwrap_or_else(std::time::Instant::now)
            });
            if t.elapsed() < self.pacing.crank_scan {
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

    pub(super) fn settleable(&self, job: &Job, now: i64) -> bool {
        matches!(
            job.state,
            JobState::Completed | JobState::Failed | JobState::Expired
        ) || (job.state == JobState::Challenge && now > job.challenge_deadline)
    }

    /// Settles every other open claim of a finished job (one `getProgramAccounts`).
    pub(super) async fn settle_others(&self, key: &Pubkey, client: &Pubkey) {
        let Ok(claims) = self
            .chain
            .list::<Claim>(vec![sdk_rpc::of_job_filter(key)])
            .await
        else {
            return;
        };
        for (_, c) in claims {
            let ixn = ix::settle_claim(&self.tctx, &self.operator, key, client, &c.operator);
            match self.chain.send("settle_claim", &[ixn]).await {
                Ok(_) => info!(job = %key, node = %c.node, "settled another node's claim"),
                Err(err) => debug!("settle_claim: {err}"),
            }
        }
    }
}
