//! Priority fees: the compute-unit price of every transaction, from
//! `getRecentPrioritizationFees` over the accounts the transaction write-locks (the fee that
//! landed transactions contending for them paid, per recent slot). The price is a percentile
//! of the recent non-zero fees, at least `[rpc] min_cu_price_micro_lamports` and never more
//! than `[rpc] max_cu_price_micro_lamports`: above the cap the transaction goes out at the cap,
//! with a warning naming both numbers and the `priority_fee_capped_total` metric counting it.
//! Quotes are cached for `[rpc] fee_cache_secs`, and a fresh quote for a set of accounts also
//! prices any transaction that writes a subset of them: the RPC's per-slot fee for a set is the
//! highest of its accounts' fees, so the quote of a superset is never lower than the subset's
//! own. The transactions of one claim (claim, commit, reveal, settle) mostly write what the
//! first one wrote, so a job costs one or two requests, not one per transaction.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solana_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::metrics::Metrics;

/// How the price is chosen (`[rpc]`).
#[derive(Clone, Debug)]
pub struct FeePolicy {
    /// Never pay more than this (micro-lamports per compute unit).
    pub max_micro_lamports: u64,
    /// Always pay at least this.
    pub min_micro_lamports: u64,
    /// Which percentile of the recent non-zero fees (1–100).
    pub percentile: u8,
    /// How long a quote is reused.
    pub cache: Duration,
}

/// A price and how it came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// What the transaction pays per compute unit (micro-lamports).
    pub price: u64,
    /// The percentile of the network's recent non-zero fees (0 when there were none).
    pub network: u64,
    /// True when `network` was above the cap and `price` is the cap.
    pub capped: bool,
}

/// The price for recent per-slot `fees` under `policy`.
pub fn quote(fees: &[u64], policy: &FeePolicy) -> Quote {
    let mut paid: Vec<u64> = fees.iter().copied().filter(|f| *f > 0).collect();
    paid.sort_unstable();
    let network = if paid.is_empty() {
        0
    } else {
        // nearest rank
        let p = usize::from(policy.percentile.clamp(1, 100));
        paid[(p * paid.len()).div_ceil(100).max(1) - 1]
    };
    let wanted = network.max(policy.min_micro_lamports);
    if wanted > policy.max_micro_lamports {
        Quote {
            price: policy.max_micro_lamports,
            network,
            capped: true,
        }
    } else {
        Quote {
            price: wanted,
            network,
            capped: false,
        }
    }
}

/// Quotes with a cache.
pub struct Fees {
    rpc: Arc<RpcClient>,
    policy: FeePolicy,
    metrics: Arc<Metrics>,
    /// (sorted accounts, when quoted, the quote), newest last.
    cache: Mutex<Vec<(Vec<Pubkey>, Instant, Quote)>>,
}

/// Quotes remembered at most (expired ones are dropped first).
const MAX_CACHED: usize = 1_024;

impl Fees {
    pub fn new(rpc: Arc<RpcClient>, policy: FeePolicy, metrics: Arc<Metrics>) -> Fees {
        Fees {
            rpc,
            policy,
            metrics,
            cache: Mutex::new(Vec::new()),
        }
    }

    /// The compute-unit price for a transaction of `ixs` paid by `payer`. An RPC failure
    /// falls back to the floor (the transaction still goes out).
    pub async fn price(&self, ixs: &[Instruction], payer: &Pubkey) -> u64 {
        let keys = writable(ixs, payer);
        let cached = self.cached(&keys);
        let q = match cached {
            Some(q) => q,
            None => match self.rpc.get_recent_prioritization_fees(&keys).await {
                Ok(recent) => {
                    let fees: Vec<u64> = recent.iter().map(|f| f.prioritization_fee).collect();
                    let q = quote(&fees, &self.policy);
                    if q.capped {
                        warn!(
                            network = q.network,
                            cap = self.policy.max_micro_lamports,
                            "the network's recent priority fee ({} micro-lamports per compute unit, \
                             {}th percentile) is above the cap [rpc] max_cu_price_micro_lamports = {}: \
                             sending at the cap, so transactions may land late",
                            q.network,
                            self.policy.percentile,
                            self.policy.max_micro_lamports
                        );
                    }
                    self.remember(keys, q);
                    q
                }
                Err(e) => {
                    self.metrics.rpc_errors.inc();
                    debug!("getRecentPrioritizationFees failed, paying the floor: {e}");
                    return self
                        .policy
                        .min_micro_lamports
                        .min(self.policy.max_micro_lamports);
                }
            },
        };
        if q.capped {
            self.metrics.priority_fee_capped.inc();
        }
        q.price
    }

    /// The newest fresh quote whose accounts include all of `keys`. Per slot, the RPC answers
    /// the block's lowest fee raised to the highest fee paid for any of the accounts asked, so
    /// a covering quote is never below what `keys` alone would get.
    fn cached(&self, keys: &[Pubkey]) -> Option<Quote> {
        let ttl = self.policy.cache;
        self.cache
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(set, at, _)| at.elapsed() < ttl && covers(set, keys))
            .map(|(_, _, q)| *q)
    }

    fn remember(&self, keys: Vec<Pubkey>, q: Quote) {
        let mut c = self.cache.lock().unwrap();
        let ttl = self.policy.cache;
        c.retain(|(set, at, _)| at.elapsed() < ttl && *set != keys);
        if c.len() >= MAX_CACHED {
            c.remove(0);
        }
        c.push((keys, Instant::now(), q));
    }
}

/// Whether sorted `set` contains every key of sorted `keys`.
fn covers(set: &[Pubkey], keys: &[Pubkey]) -> bool {
    let mut it = set.iter();
    keys.iter().all(|k| it.any(|s| s == k))
}

/// The accounts `ixs` write-lock, other than the payer (whose own transactions say nothing
/// about contention), sorted; at most 128 (the RPC method's limit).
fn writable(ixs: &[Instruction], payer: &Pubkey) -> Vec<Pubkey> {
    let mut keys: Vec<Pubkey> = ixs
        .iter()
        .flat_map(|i| i.accounts.iter())
        .filter(|a| a.is_writable && a.pubkey != *payer)
        .map(|a| a.pubkey)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.truncate(128);
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_client::rpc_client::RpcClientConfig;
    use solana_client::rpc_request::RpcRequest;
    use solana_sdk::instruction::AccountMeta;

    use crate::chain::testing::Scripted;

    fn policy(max: u64, min: u64) -> FeePolicy {
        FeePolicy {
            max_micro_lamports: max,
            min_micro_lamports: min,
            percentile: 75,
            cache: Duration::from_secs(20),
        }
    }

    #[test]
    fn the_price_is_a_percentile_of_the_paid_fees_within_floor_and_cap() {
        let p = policy(10_000, 100);
        // zeros (slots nobody paid in) are left out: the 75th percentile of 1..=8 is 6
        let fees = [
            0, 0, 0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000,
        ];
        assert_eq!(
            quote(&fees, &p),
            Quote {
                price: 6_000,
                network: 6_000,
                capped: false
            }
        );
        // nothing paid: the floor
        assert_eq!(quote(&[0, 0], &p).price, 100);
        assert_eq!(quote(&[], &p).price, 100);
        assert_eq!(quote(&[5], &p).price, 100);
        // one paid fee is its own percentile
        assert_eq!(quote(&[0, 700], &p).price, 700);
        let p100 = FeePolicy {
            percentile: 100,
            ..p.clone()
        };
        assert_eq!(quote(&fees, &p100).price, 8_000);
    }

    #[test]
    fn a_fee_above_the_cap_is_paid_at_the_cap_and_says_so() {
        let p = policy(5_000, 0);
        let q = quote(&[90_000, 120_000, 150_000, 200_000], &p);
        assert_eq!(
            q,
            Quote {
                price: 5_000,
                network: 150_000,
                capped: true
            }
        );
        // a floor above the cap is clamped too
        let q = quote(&[], &policy(5_000, 9_000));
        assert!(q.capped && q.price == 5_000, "{q:?}");
    }

    #[tokio::test]
    async fn fees_are_asked_for_the_written_accounts_cached_and_capped() {
        let payer = Pubkey::new_unique();
        let job = Pubkey::new_unique();
        let (sender, log) = Scripted::new(|req, params| match req {
            RpcRequest::GetRecentPrioritizationFees => {
                let asked = params[0].as_array().unwrap().len();
                let fees: Vec<_> = (0..150u64)
                    .map(|i| serde_json::json!({"slot": i, "prioritizationFee": 400_000 + i * asked as u64}))
                    .collect();
                Ok(serde_json::Value::Array(fees))
            }
            _ => Err(format!("unexpected {req}")),
        });
        let rpc = Arc::new(RpcClient::new_sender(sender, RpcClientConfig::default()));
        let metrics = Metrics::new();
        let fees = Fees::new(rpc, policy(50_000, 0), metrics.clone());
        let ix = Instruction::new_with_bytes(
            tessera::ID,
            &[],
            vec![
                AccountMeta::new(payer, true),
                AccountMeta::new(job, false),
                AccountMeta::new_readonly(Pubkey::new_unique(), false),
            ],
        );
        assert_eq!(fees.price(&[ix.clone()], &payer).await, 50_000);
        assert_eq!(fees.price(&[ix], &payer).await, 50_000);
        // one request (the second came from the cache), for the job only
        let calls = log.lock().unwrap().clone();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].1[0], serde_json::json!([job.to_string()]));
        assert_eq!(metrics.priority_fee_capped.get(), 2);
    }

    #[tokio::test]
    async fn a_quote_for_more_accounts_prices_a_transaction_that_writes_fewer() {
        let payer = Pubkey::new_unique();
        let (job, claim, node, other) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let (sender, log) = Scripted::new(|req, params| match req {
            RpcRequest::GetRecentPrioritizationFees => {
                let asked = params[0].as_array().unwrap().len() as u64;
                let fees: Vec<_> = (0..10u64)
                    .map(|i| serde_json::json!({"slot": i, "prioritizationFee": 1_000 * asked}))
                    .collect();
                Ok(serde_json::Value::Array(fees))
            }
            _ => Err(format!("unexpected {req}")),
        });
        let rpc = Arc::new(RpcClient::new_sender(sender, RpcClientConfig::default()));
        let fees = Fees::new(rpc, policy(50_000, 0), Metrics::new());
        let tx = |written: &[Pubkey]| {
            let mut metas = vec![AccountMeta::new(payer, true)];
            metas.extend(written.iter().map(|k| AccountMeta::new(*k, false)));
            vec![Instruction::new_with_bytes(tessera::ID, &[], metas)]
        };
        // the claim writes job, claim and node: asked for once
        assert_eq!(fees.price(&tx(&[job, claim, node]), &payer).await, 3_000);
        // commit and reveal write a subset: the same quote, no request
        assert_eq!(fees.price(&tx(&[claim, job]), &payer).await, 3_000);
        assert_eq!(fees.price(&tx(&[claim]), &payer).await, 3_000);
        assert_eq!(log.lock().unwrap().len(), 1);
        // an account outside every cached set is asked for with the transaction's own set
        assert_eq!(fees.price(&tx(&[job, other]), &payer).await, 2_000);
        let calls = log.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        let mut want = vec![job.to_string(), other.to_string()];
        want.sort_by_key(|k| k.parse::<Pubkey>().unwrap());
        assert_eq!(calls[1].1[0], serde_json::json!(want));
        // the covering rule itself
        let mut set = vec![job, claim, node];
        set.sort_unstable();
        let mut sub = vec![node, job];
        sub.sort_unstable();
        assert!(covers(&set, &sub) && covers(&set, &[]) && covers(&set, &set));
        assert!(!covers(&sub, &set) && !covers(&set, &[other]));
    }
}
