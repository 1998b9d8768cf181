//! Sharing RPC round trips between claim tasks. A worker with dozens of live claims would
//! otherwise poll one `getSignatureStatuses` per pending transaction and one
//! `getMultipleAccounts` per claim every tick; under load that polling costs the validator
//! more than the transactions themselves. Two background loops serve every task instead:
//!
//! * [`Confirmer`]: one `getSignatureStatuses` (up to 256 signatures) per tick for all the
//!   transactions in flight, plus one `getBlockHeight` when one of them may have expired;
//! * [`Reader`]: reads requested within a few milliseconds of each other are merged into one
//!   `getMultipleAccounts` (up to 100 distinct keys).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    account::Account, pubkey::Pubkey, signature::Signature, transaction::Transaction,
    transaction::TransactionError,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::slots::Freshness;
use crate::metrics::Metrics;

/// How often pending signatures are polled.
const CONFIRM_TICK: Duration = Duration::from_millis(250);
/// After this long a transaction may have missed its blockhash: check the block height
/// (then at most this often).
const EXPIRY_CHECK_AFTER: Duration = Duration::from_secs(2);
/// Send a transaction again when it has had no status for this long.
const REBROADCAST_AFTER: Duration = Duration::from_secs(2);
/// Give up waiting for a confirmation after this long even though the blockhash has not
/// expired (the cluster's block height stopped moving: a halted cluster or a frozen RPC node).
/// Normally a blockhash expires first, about 60–90 s after it was fetched.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(120);
/// `getSignatureStatuses` takes at most 256 signatures.
const STATUS_CHUNK: usize = 256;
/// `getMultipleAccounts` takes at most 100 keys.
const READ_CHUNK: usize = 100;
/// How long the reader waits for more requests to join a batch.
const READ_GATHER: Duration = Duration::from_millis(5);

/// What waiting for a signature gives: the slot it was confirmed in, the error it failed
/// with, or (outer `Err`) no verdict: expired blockhash or timeout.
pub type Verdict = Result<std::result::Result<u64, TransactionError>>;

struct Waiter {
    sig: Signature,
    /// The signed transaction, sent again while it has no status (same signature: the
    /// cluster runs it at most once).
    tx: Transaction,
    last_valid: u64,
    since: Instant,
    sent_at: Instant,
    done: oneshot::Sender<Verdict>,
}

/// Confirms every transaction of the worker with shared status polls.
pub struct Confirmer {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl Confirmer {
    /// Starts the polling loop (it ends when the `Confirmer` is dropped).
    pub fn spawn(rpc: Arc<RpcClient>, metrics: Arc<Metrics>) -> Confirmer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(confirm_loop(rpc, metrics, rx));
        Confirmer { tx }
    }

    /// Waits until `tx` (already sent once) is confirmed or failed, or its blockhash (valid
    /// up to block height `last_valid`) expired, or [`CONFIRM_TIMEOUT`] passed.
    pub async fn wait(&self, tx: Transaction, last_valid: u64) -> Verdict {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Waiter {
                sig: tx.signatures[0],
                tx,
                last_valid,
                since: Instant::now(),
                sent_at: Instant::now(),
                done,
            })
            .map_err(|_| anyhow!("the confirmation loop has stopped"))?;
        rx.await
            .map_err(|_| anyhow!("the confirmation loop has stopped"))?
    }
}

async fn confirm_loop(
    rpc: Arc<RpcClient>,
    metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
) {
    let mut pending: Vec<Waiter> = Vec::new();
    // the last block height read, and when
    let mut last_height: Option<(u64, Instant)> = None;
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(w) => pending.push(w),
                None => return,
            }
        }
        tokio::time::sleep(CONFIRM_TICK).await;
        while let Ok(w) = rx.try_recv() {
            pending.push(w);
        }
        // Waiters whose task was cancelled need no answer.
        pending.retain(|w| !w.done.is_closed());
        // The block height is read before the statuses: a transaction that landed by that
        // height then shows a status, so "expired" is never said of one that landed.
        let old = pending
            .iter()
            .any(|w| w.since.elapsed() > EXPIRY_CHECK_AFTER);
        let height = match last_height {
            _ if !old => None,
            Some((h, at)) if at.elapsed() < EXPIRY_CHECK_AFTER => Some(h),
            _ => {
                let h = rpc
                    .get_block_height_with_commitment(CommitmentConfig::confirmed())
                    .await
                    .inspect_err(|_| metrics.rpc_errors.inc())
                    .ok();
                if let Some(h) = h {
                    last_height = Some((h, Instant::now()));
                }
                h.or(last_height.map(|(h, _)| h))
            }
        };
        let mut verdicts: HashMap<Signature, Verdict> = HashMap::new();
        for chunk in pending.chunks(STATUS_CHUNK) {
            let sigs: Vec<Signature> = chunk.iter().map(|w| w.sig).collect();
            match rpc.get_signature_statuses(&sigs).await {
                Ok(resp) => {
                    for (sig, st) in sigs.iter().zip(resp.value) {
                        let Some(st) = st else { continue };
                        if let Some(err) = st.err.clone() {
                            verdicts.insert(*sig, Ok(Err(err)));
                        } else if st.satisfies_commitment(CommitmentConfig::confirmed()) {
                            verdicts.insert(*sig, Ok(Ok(st.slot)));
                        }
                    }
                }
                Err(_) => metrics.rpc_errors.inc(),
            }
        }
        // A transaction with no status after a while may never have reached a leader (or the
        // node that got it restarted): send it again until it lands or its blockhash expires.
        for w in pending.iter_mut() {
            let expired = height.is_some_and(|h| h > w.last_valid);
            if !verdicts.contains_key(&w.sig) && !expired && w.sent_at.elapsed() > REBROADCAST_AFTER
            {
                w.sent_at = Instant::now();
                let cfg = RpcSendTransactionConfig {
                    skip_preflight: true,
                    max_retries: Some(0),
                    ..Default::default()
                };
                match rpc.send_transaction_with_config(&w.tx, cfg).await {
                    Ok(_) => metrics.tx_rebroadcast.inc(),
                    Err(_) => metrics.rpc_errors.inc(),
                }
            }
        }
        let mut still = Vec::with_capacity(pending.len());
        for w in pending.drain(..) {
            let verdict = verdicts.remove(&w.sig).or_else(|| {
                if height.is_some_and(|h| h > w.last_valid) {
                    Some(Err(anyhow!("blockhash expired before {} landed", w.sig)))
                } else if w.since.elapsed() > CONFIRM_TIMEOUT {
                    Some(Err(anyhow!(
                        "no confirmation for {} after {} s",
                        w.sig,
                        CONFIRM_TIMEOUT.as_secs()
                    )))
                } else {
                    None
                }
            });
            match verdict {
                Some(v) => {
                    let _ = w.done.send(v);
                }
                None => still.push(w),
            }
        }
        pending = still;
    }
}

struct ReadReq {
    keys: Vec<Pubkey>,
    done: oneshot::Sender<Result<Vec<Option<Account>>>>,
}

/// Merges concurrent account reads (at one commitment) into shared `getMultipleAccounts`
/// calls.
pub struct Reader {
    tx: mpsc::UnboundedSender<ReadReq>,
}

impl Reader {
    /// Starts the batching loop (it ends when the `Reader` is dropped).
    pub fn spawn(
        rpc: Arc<RpcClient>,
        commitment: CommitmentConfig,
        metrics: Arc<Metrics>,
        fresh: Arc<Freshness>,
    ) -> Reader {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(rpc, commitment, metrics, fresh, rx));
        Reader { tx }
    }

    /// The accounts at `keys` (in order), `None` where there is none.
    pub async fn read(&self, keys: &[Pubkey]) -> Result<Vec<Option<Account>>> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(ReadReq {
                keys: keys.to_vec(),
                done,
            })
            .map_err(|_| anyhow!("the read loop has stopped"))?;
        rx.await.map_err(|_| anyhow!("the read loop has stopped"))?
    }
}

async fn read_loop(
    rpc: Arc<RpcClient>,
    commitment: CommitmentConfig,
    metrics: Arc<Metrics>,
    fresh: Arc<Freshness>,
    mut rx: mpsc::UnboundedReceiver<ReadReq>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut distinct: Vec<Pubkey> = Vec::new();
        let mut index: HashMap<Pubkey, usize> = HashMap::new();
        let add = |keys: &[Pubkey], distinct: &mut Vec<Pubkey>, index: &mut HashMap<_, _>| {
            for k in keys {
                index.entry(*k).or_insert_with(|| {
                    distinct.push(*k);
                    distinct.len() - 1
                });
            }
        };
        add(&batch[0].keys, &mut distinct, &mut index);
        let gather_until = tokio::time::Instant::now() + READ_GATHER;
        while distinct.len() < READ_CHUNK {
            match tokio::time::timeout_at(gather_until, rx.recv()).await {
                Ok(Some(r)) => {
                    add(&r.keys, &mut distinct, &mut index);
                    batch.push(r);
                }
                _ => break,
            }
        }
        let mut found: Vec<Option<Account>> = Vec::with_capacity(distinct.len());
        let mut failure = None;
        for chunk in distinct.chunks(READ_CHUNK) {
            match tessera_rpc::read::multiple_async(&rpc, chunk, commitment).await {
                Ok(r) => match fresh.check(commitment, r.context.slot).await {
                    Ok(()) => {
                        metrics.slot_seen(r.context.slot);
                        found.extend(r.value)
                    }
                    Err(e) => {
                        metrics.rpc_errors.inc();
                        failure = Some(format!("getMultipleAccounts: {e}"));
                        break;
                    }
                },
                Err(e) => {
                    metrics.rpc_errors.inc();
                    failure = Some(format!("getMultipleAccounts: {e}"));
                    break;
                }
            }
        }
        for r in batch {
            let answer = match &failure {
                Some(f) => Err(anyhow!("{f}")),
                None => Ok(r.keys.iter().map(|k| found[index[k]].clone()).collect()),
            };
            let _ = r.done.send(answer);
        }
    }
}
