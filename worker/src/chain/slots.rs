//! Slot freshness: is an RPC answer recent enough to act on? An RPC node that restarted
//! answers from its last snapshot (or genesis) while it replays its ledger, so accounts that
//! exist look missing; an answer from more than [`STALE_SLACK`] slots behind the highest one
//! seen at the same commitment is refused and retried. Each commitment level (processed,
//! confirmed, finalized) has its own highest slot: a finalized answer is normally ~32 slots
//! behind a processed one and is not stale for that.
//!
//! A ledger reset (a validator restarted on a new ledger: its slots start again from 0) would
//! otherwise make every later answer "stale" forever. It is recognised two ways: the cluster's
//! genesis hash changed (looked up when answers go stale, at most every
//! [`GENESIS_CHECK_EVERY`]), or every answer at a level stayed behind for [`SUSTAINED`]. Either
//! resets the highest slots and the new ledger's answers are used.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_sdk::hash::Hash;
use tokio::time::Instant;
use tracing::warn;

/// An answer this many slots behind the highest one seen (same commitment) is still fresh.
pub const STALE_SLACK: u64 = 4;
/// Every answer at a level behind for this long: the ledger was reset.
pub const SUSTAINED: Duration = Duration::from_secs(120);
/// Stale answers look up the genesis hash at most this often.
pub const GENESIS_CHECK_EVERY: Duration = Duration::from_secs(10);

/// What an answer's slot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Fresh,
    /// Behind `highest` by more than the slack: not to be acted on.
    Stale {
        slot: u64,
        highest: u64,
    },
    /// Behind for [`SUSTAINED`]: the level starts again from `slot`.
    Regressed {
        from: u64,
        to: u64,
    },
}

#[derive(Clone, Copy, Default)]
struct Level {
    highest: u64,
    /// Since when every answer has been stale.
    behind_since: Option<Instant>,
}

fn index(c: CommitmentConfig) -> usize {
    match c.commitment {
        CommitmentLevel::Processed => 0,
        CommitmentLevel::Confirmed => 1,
        CommitmentLevel::Finalized => 2,
    }
}

/// The highest slot seen at each commitment level (pure bookkeeping; [`Freshness`] adds the
/// genesis hash).
#[derive(Default)]
pub struct SlotTracker(Mutex<[Level; 3]>);

impl SlotTracker {
    /// Records an answer from `slot` at `commitment`, seen at `now`.
    pub fn observe(&self, commitment: CommitmentConfig, slot: u64, now: Instant) -> Seen {
        let mut levels = self.0.lock().unwrap();
        let l = &mut levels[index(commitment)];
        if slot.saturating_add(STALE_SLACK) >= l.highest {
            l.highest = l.highest.max(slot);
            l.behind_since = None;
            return Seen::Fresh;
        }
        let since = *l.behind_since.get_or_insert(now);
        if now.duration_since(since) >= SUSTAINED {
            let from = l.highest;
            *l = Level {
                highest: slot,
                behind_since: None,
            };
            return Seen::Regressed { from, to: slot };
        }
        Seen::Stale {
            slot,
            highest: l.highest,
        }
    }

    /// Forgets every level's highest slot (a new ledger).
    pub fn reset(&self) {
        *self.0.lock().unwrap() = Default::default();
    }

    /// The highest slot seen at `commitment`.
    #[cfg(test)]
    pub fn highest(&self, commitment: CommitmentConfig) -> u64 {
        self.0.lock().unwrap()[index(commitment)].highest
    }
}

/// [`SlotTracker`] plus the genesis-hash check that recognises a ledger reset at once.
pub struct Freshness {
    pub tracker: SlotTracker,
    rpc: Arc<RpcClient>,
    /// The cluster's genesis hash, and when it was last looked up.
    genesis: tokio::sync::Mutex<(Option<Hash>, Option<Instant>)>,
    /// The genesis hash has been recorded once.
    recorded: AtomicBool,
}

impl Freshness {
    pub fn new(rpc: Arc<RpcClient>) -> Freshness {
        Freshness {
            tracker: SlotTracker::default(),
            rpc,
            genesis: tokio::sync::Mutex::new((None, None)),
            recorded: AtomicBool::new(false),
        }
    }

    /// Ok when an answer from `slot` at `commitment` may be acted on.
    pub async fn check(&self, commitment: CommitmentConfig, slot: u64) -> Result<()> {
        match self.tracker.observe(commitment, slot, Instant::now()) {
            Seen::Fresh => {
                // the ledger the first answers came from, to tell a reset later
                if !self.recorded.load(Ordering::Relaxed) {
                    self.genesis_changed().await;
                }
                Ok(())
            }
            Seen::Regressed { from, to } => {
                warn!(
                    from,
                    to,
                    "every {:?} answer stayed behind for {} s: taking it as a new ledger",
                    commitment.commitment,
                    SUSTAINED.as_secs()
                );
                Ok(())
            }
            Seen::Stale { slot, highest } => {
                if self.genesis_changed().await {
                    warn!(
                        from = highest,
                        to = slot,
                        "the cluster's genesis hash changed (a new ledger): slot freshness starts again"
                    );
                    self.tracker.reset();
                    self.tracker.observe(commitment, slot, Instant::now());
                    return Ok(());
                }
                Err(anyhow!(
                    "the RPC node answered from slot {slot}, behind slot {highest} seen before at {:?} (restarting or lagging); retrying",
                    commitment.commitment
                ))
            }
        }
    }

    /// Records the genesis hash the first time; afterwards (at most every
    /// [`GENESIS_CHECK_EVERY`]) true when it differs from the recorded one.
    pub async fn genesis_changed(&self) -> bool {
        let mut g = self.genesis.lock().await;
        if g.1.is_some_and(|at| at.elapsed() < GENESIS_CHECK_EVERY) {
            return false;
        }
        g.1 = Some(Instant::now());
        let Ok(now) = self.rpc.get_genesis_hash().await else {
            return false;
        };
        let changed = g.0.is_some_and(|before| before != now);
        g.0 = Some(now);
        self.recorded.store(true, Ordering::Relaxed);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_client::rpc_client::RpcClientConfig;
    use solana_client::rpc_request::RpcRequest;
    use std::sync::atomic::{AtomicU8, Ordering};

    use crate::chain::testing::Scripted;

    #[test]
    fn each_commitment_level_has_its_own_highest_slot() {
        let t = SlotTracker::default();
        let now = Instant::now();
        let (p, c, f) = (
            CommitmentConfig::processed(),
            CommitmentConfig::confirmed(),
            CommitmentConfig::finalized(),
        );
        assert_eq!(t.observe(p, 1_000, now), Seen::Fresh);
        // confirmed and finalized trail processed: not stale for that
        assert_eq!(t.observe(c, 998, now), Seen::Fresh);
        assert_eq!(t.observe(f, 968, now), Seen::Fresh);
        assert_eq!(t.observe(f, 964, now), Seen::Fresh); // within the slack
        assert_eq!(
            t.observe(f, 960, now),
            Seen::Stale {
                slot: 960,
                highest: 968
            }
        );
        assert_eq!(
            t.observe(p, 990, now),
            Seen::Stale {
                slot: 990,
                highest: 1_000
            }
        );
        assert_eq!(t.observe(c, 999, now), Seen::Fresh);
        assert_eq!(
            (t.highest(p), t.highest(c), t.highest(f)),
            (1_000, 999, 968)
        );
    }

    #[test]
    fn a_sustained_regression_is_taken_as_a_new_ledger_and_a_passing_one_is_not() {
        let t = SlotTracker::default();
        let c = CommitmentConfig::confirmed();
        let t0 = Instant::now();
        assert_eq!(t.observe(c, 50_000, t0), Seen::Fresh);
        // a node replaying its ledger: behind for a while, then caught up
        assert!(matches!(t.observe(c, 10, t0), Seen::Stale { .. }));
        assert!(matches!(
            t.observe(c, 200, t0 + Duration::from_secs(100)),
            Seen::Stale { .. }
        ));
        assert_eq!(
            t.observe(c, 50_010, t0 + Duration::from_secs(110)),
            Seen::Fresh
        );
        // a reset ledger: behind (and moving) for SUSTAINED, then it is the new chain
        let t1 = t0 + Duration::from_secs(200);
        assert!(matches!(t.observe(c, 5, t1), Seen::Stale { .. }));
        assert!(matches!(
            t.observe(c, 100, t1 + Duration::from_secs(60)),
            Seen::Stale { .. }
        ));
        assert_eq!(
            t.observe(c, 300, t1 + SUSTAINED),
            Seen::Regressed {
                from: 50_010,
                to: 300
            }
        );
        assert_eq!(t.observe(c, 301, t1 + SUSTAINED), Seen::Fresh);
        assert_eq!(t.highest(c), 301);
        // an explicit reset forgets every level
        t.reset();
        assert_eq!(t.observe(c, 1, t1), Seen::Fresh);
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_genesis_hash_resets_at_once() {
        let genesis = Arc::new(AtomicU8::new(1));
        let g = genesis.clone();
        let (sender, log) = Scripted::new(move |req, _| match req {
            RpcRequest::GetGenesisHash => Ok(serde_json::json!(Hash::new_from_array(
                [g.load(Ordering::SeqCst); 32]
            )
            .to_string())),
            _ => Err(format!("unexpected {req}")),
        });
        let f = Freshness::new(Arc::new(RpcClient::new_sender(
            sender,
            RpcClientConfig::default(),
        )));
        let c = CommitmentConfig::confirmed();
        // the first answer records the genesis hash
        f.check(c, 9_000).await.unwrap();
        // stale on the same ledger: refused
        let e = f.check(c, 100).await.unwrap_err().to_string();
        assert!(e.contains("behind slot 9000"), "{e}");
        tokio::time::sleep(GENESIS_CHECK_EVERY).await;
        let e = f.check(c, 120).await.unwrap_err().to_string();
        assert!(e.contains("answered from slot 120"), "{e}");
        // the validator comes back on a new ledger: within GENESIS_CHECK_EVERY, still refused
        genesis.store(2, Ordering::SeqCst);
        assert!(f.check(c, 3).await.is_err());
        tokio::time::sleep(GENESIS_CHECK_EVERY).await;
        f.check(c, 4).await.unwrap();
        f.check(c, 5).await.unwrap();
        assert_eq!(f.tracker.highest(c), 5);
        let lookups = log
            .lock()
            .unwrap()
            .iter()
            .filter(|(r, _)| *r == RpcRequest::GetGenesisHash)
            .count();
        assert_eq!(lookups, 3);
    }
}
