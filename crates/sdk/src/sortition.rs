//! When may a node take a slot of a job's round? The program's own sortition functions
//! (`tessera::sortition`, the same code `claim_job` and `place_bid` run), applied to what a
//! worker reads from the cluster, so workers only send claims the program will accept.
use solana_sdk::pubkey::Pubkey;
use tessera::state::{Config, Job, Node, RoundDraw};

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

/// One node's standing in one round's draw, as a worker reads it: the job (at `job_key`), the
/// node (at `node_key`), the network `config` (its stake epochs and bonded totals), the
/// SlotHashes and RecentBlockhashes sysvars' data as a transaction executing in chain slot
/// `slot` sees them (from a frozen block's view: [`slot_hashes_for_child`]).
#[derive(Clone, Copy)]
pub struct RoundView<'a> {
    pub job_key: &'a Pubkey,
    pub job: &'a Job,
    pub node_key: &'a Pubkey,
    pub node: &'a Node,
    pub config: &'a Config,
    pub slot_hashes: &'a [u8],
    pub recent_blockhashes: &'a [u8],
    pub slot: u64,
}

/// The SlotHashes data a transaction executing in a child of the frozen block `frozen_slot`
/// sees, from the sysvar as read at that block (what RPC serves at `processed`): the child's
/// list gains the frozen block's slot in front (its bank hash is not known before the child;
/// the draw needs only the slot's place). RecentBlockhashes read at a frozen block is already
/// the child's: freezing a block puts its own blockhash in front. So the seed of a round opened
/// in `frozen_slot` is known while its child is produced.
pub fn slot_hashes_for_child(frozen_slot: u64, slot_hashes: &[u8]) -> Vec<u8> {
    const MAX_SLOT_HASHES: usize = 512;
    let count = slot_hashes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(MAX_SLOT_HASHES - 1);
    let entries = slot_hashes
        .get(8..8 + 40 * count)
        .or_else(|| slot_hashes.get(8..))
        .unwrap_or(&[]);
    let kept = entries.len() / 40;
    let mut child = Vec::with_capacity(48 + 40 * kept);
    child.extend_from_slice(&(kept as u64 + 1).to_le_bytes());
    child.extend_from_slice(&frozen_slot.to_le_bytes());
    child.extend_from_slice(&[0u8; 32]);
    child.extend_from_slice(&entries[..40 * kept]);
    child
}

/// Eligibility of `node` (at `node_key`) for the current round (or the bidding) of `job` (at
/// `job_key`), given the network `config` (its stake epochs and bonded totals), the two
/// sysvars' data and the chain `slot` a claim would execute in: the program's own
/// [`Job::round_draw`], so a claim sent on `Now` is accepted.
pub fn eligibility(view: &RoundView) -> Eligibility {
    let RoundView {
        job_key,
        job,
        node_key,
        node,
        config,
        slot_hashes,
        recent_blockhashes,
        slot,
    } = *view;
    if slot <= job.seed_slot {
        return Eligibility::SeedNotReady;
    }
    if slot_index(slot_hashes, job.seed_slot).is_none() {
        // newest entry older than the seed slot: the sysvar read lags (else the seed fell out
        // of the 512-slot window and the round is open)
        let newest = slot_hashes
            .get(8..16)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0);
        if newest < job.seed_slot {
            return Eligibility::SeedNotReady;
        }
    }
    let Ok(draw) = job.round_draw(node, config, slot, slot_hashes, recent_blockhashes) else {
        return Eligibility::SeedNotReady;
    };
    let (seed, weight, total) = match draw {
        RoundDraw::Open { weight } if weight > 0 => return Eligibility::Now,
        RoundDraw::Open { .. } => return open_to(job, node, config, slot),
        RoundDraw::Seeded {
            seed,
            weight,
            total,
            ..
        } => (seed, weight, total),
    };
    if weight == 0 {
        // stake bonded since the seed's epoch began counts once the round is open
        return open_to(job, node, config, slot);
    }
    let t = &job.terms;
    let widen = t.sortition_widen_slots.max(1);
    let age = age_slots(job.seed_slot, slot).unwrap_or(0);
    match first_eligible_age(
        &seed,
        job_key,
        job.round,
        node_key,
        weight,
        total,
        t.sortition_expected_pct,
        widen,
        widen.saturating_mul(64),
    ) {
        Some(at) if at <= age => Eligibility::Now,
        // age `at` is chain slot seed_slot + 1 + at
        Some(at) => Eligibility::At(job.seed_slot.saturating_add(1).saturating_add(at)),
        None => open_to(job, node, config, slot),
    }
}

/// When the round opens to `node` without a draw: once its seed is gone (out of SlotHashes'
/// 512 slots, or older than the two epochs of stake the program keeps) and the node's bonded
/// stake counts (from the epoch after its last change). `Never` with nothing bonded.
fn open_to(job: &Job, node: &Node, config: &Config, slot: u64) -> Eligibility {
    if node.bonded() == 0 {
        return Eligibility::Never;
    }
    let seed_epoch = config.stake_epoch(job.seed_slot);
    let gone = job
        .seed_slot
        .saturating_add(513)
        .min(config.stake_epoch_start(seed_epoch.saturating_add(2)));
    let counted = config.stake_epoch_start(node.draw_stake.epoch.saturating_add(1));
    let at = gone.max(counted);
    if at <= slot {
        Eligibility::Now
    } else {
        Eligibility::At(at)
    }
}

/// Where the current round's draw puts `node` among `peers` (other nodes and their accounts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ahead {
    /// Peers drawn in an earlier chain slot (a lower first eligible age): they may hold a slot
    /// already, or have a claim on its way.
    pub earlier: usize,
    /// Peers drawn in the same chain slot with a smaller draw for their stake (`draw / weight`,
    /// the order in which a continuously rising threshold would reach them).
    pub same_slot: usize,
}

/// [`Ahead`] for the view's node in its job's current round as drawn for the view's slot; zero
/// when the round is not seeded (open to all) or the node is not drawn.
///
/// Not a rule of the program: a courtesy among honest workers. Every node drawn by a slot may
/// claim in it, and for a one-slot job all but one such claim is refused and pays its fee; a
/// worker that lets the nodes ahead of it go first (a slot each, claiming only if the job is
/// still open then) turns those refusals into a skipped claim. A node that ignores it gains
/// nothing the draw did not give it.
pub fn ahead_of<'p>(
    view: &RoundView,
    peers: impl IntoIterator<Item = &'p (Pubkey, Node)>,
) -> Ahead {
    let seeded = |n: &Node| match view.job.round_draw(
        n,
        view.config,
        view.slot,
        view.slot_hashes,
        view.recent_blockhashes,
    ) {
        Ok(RoundDraw::Seeded {
            seed,
            weight,
            total,
            ..
        }) if weight > 0 => Some((seed, weight, total)),
        _ => None,
    };
    let t = &view.job.terms;
    let widen = t.sortition_widen_slots.max(1);
    let first_age = |key: &Pubkey, seed: &[u8; 32], weight: u64, total: u64, limit: u64| {
        first_eligible_age(
            seed,
            view.job_key,
            view.job.round,
            key,
            weight,
            total,
            t.sortition_expected_pct,
            widen,
            limit,
        )
    };
    let mut ahead = Ahead::default();
    let Some((seed, weight, total)) = seeded(view.node) else {
        return ahead;
    };
    let Some(age) = first_age(
        view.node_key,
        &seed,
        weight,
        total,
        widen.saturating_mul(64),
    ) else {
        return ahead;
    };
    let mine = u128::from(draw(&seed, view.job_key, view.job.round, view.node_key));
    for (k, peer) in peers.into_iter().filter(|(k, _)| k != view.node_key) {
        let Some((_, w, _)) = seeded(peer) else {
            continue;
        };
        match first_age(k, &seed, w, total, age) {
            Some(a) if a < age => ahead.earlier += 1,
            Some(_)
                if u128::from(draw(&seed, view.job_key, view.job.round, k))
                    .saturating_mul(u128::from(weight))
                    < mine.saturating_mul(u128::from(w)) =>
            {
                ahead.same_slot += 1
            }
            _ => {}
        }
    }
    ahead
}
