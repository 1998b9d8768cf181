//! When may a node take a slot of a job's round? The program's own sortition functions
//! (`tessera::sortition`, the same code `claim_job` and `place_bid` run), applied to what a
//! worker reads from the cluster, so workers only send claims the program will accept.
use solana_sdk::pubkey::Pubkey;
use tessera::state::{Job, Node};

pub use tessera::sortition::*;

/// What the draw says for a node now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eligibility {
    /// Drawn: a claim (or bid) now is accepted.
    Now,
    /// The round opened in a slot that has not finished yet: its seed is unknown.
    SeedNotReady,
    /// Not drawn yet; the rising threshold draws it in this chain slot.
    At(u64),
    /// Never (no bonded stake).
    Never,
}

/// Eligibility of `node` (at `node_key`) for the current round (or the bidding) of `job` (at
/// `job_key`), given the SlotHashes sysvar's `slot_hashes` data, the network's `total_bonded`
/// and the cluster's current `slot`.
#[allow(clippy::too_many_arguments)]
pub fn eligibility(
    job_key: &Pubkey,
    job: &Job,
    node_key: &Pubkey,
    node: &Node,
    total_bonded: u64,
    slot_hashes: &[u8],
    slot: u64,
) -> Eligibility {
    if slot <= job.seed_slot {
        return Eligibility::SeedNotReady;
    }
    let Some(seed) = slot_hash(slot_hashes, job.seed_slot) else {
        // newest entry older than the seed slot: the sysvar read lags; else it fell out of the
        // 512-slot window and the round is open to all
        let newest = slot_hashes
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0);
        return if newest < job.seed_slot {
            Eligibility::SeedNotReady
        } else {
            Eligibility::Now
        };
    };
    if node.bonded() == 0 {
        return Eligibility::Never;
    }
    let t = &job.terms;
    let widen = t.sortition_widen_slots.max(1);
    let age = age_slots(job.seed_slot, slot).unwrap_or(0);
    match first_eligible_age(
        &seed,
        job_key,
        job.round,
        node_key,
        node.bonded(),
        total_bonded,
        t.sortition_expected_pct,
        widen,
        widen.saturating_mul(64),
    ) {
        Some(at) if at <= age => Eligibility::Now,
        // age `at` is chain slot seed_slot + 1 + at
        Some(at) => Eligibility::At(job.seed_slot.saturating_add(1).saturating_add(at)),
        None => Eligibility::Never,
    }
}
