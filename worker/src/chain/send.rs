//! Transactions and reads with retries, and a clear split between "the program said no"
//! ([`TxError::Rejected`], never retried) and "the network failed" ([`TxError::Transient`]).
//!
//! A transaction carries a compute-unit limit sized for its instruction (`cu`) and a
//! compute-unit price from recent priority fees, capped (`fees`). Once sent it is confirmed by
//! the shared [`Confirmer`], which sends the same signed transaction again every 2 s while it
//! has no status; when its blockhash expires (the block height passed its
//! `lastValidBlockHeight`) it is rebuilt with a fresh blockhash and signed again. Transport
//! errors back off with jitter.
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{anyhow, Context, Result};
use solana_client::client_error::ClientError;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_client::RpcClientConfig;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_client::rpc_filter::RpcFilterType;
use solana_client::rpc_sender::RpcSender;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_sdk::instruction::InstructionError;
use solana_sdk::{
    account::Account, hash::Hash, instruction::Instruction, pubkey::Pubkey, signature::Keypair,
    signature::Signature, signer::Signer, transaction::Transaction, transaction::TransactionError,
};
use tessera_rpc as sdk_rpc;
use tessera_sdk::accounts;

use super::batch::{Confirmer, Reader};
use super::budget::{Bucket, BudgetSender, Priority};
use super::fees::Fees;
use super::slots::Freshness;
use super::{backoff, cu, RpcOptions};
use crate::metrics::Metrics;

/// Why a transaction did not land.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The program (or runtime) refused it: retrying the same thing will not help.
    #[error("{ix} rejected: {reason}")]
    Rejected {
        ix: &'static str,
        reason: String,
        /// Anchor/Tessera error code, when the program returned one.
        code: Option<u32>,
    },
    /// RPC/network trouble or no confirmation in time; the step may be retried after
    /// checking the chain.
    #[error("{ix}: {source:#}")]
    Transient {
        ix: &'static str,
        source: anyhow::Error,
    },
}

impl TxError {
    /// Is this the program's `err` (a `TesseraError`)?
    pub fn is(&self, err: tessera::errors::TesseraError) -> bool {
        matches!(self, TxError::Rejected { code: Some(c), .. }
            if *c == err as u32 + anchor_lang::error::ERROR_CODE_OFFSET)
    }
}

/// A job's round as its sortition sees it ([`Chain::sortition_view`]).
pub struct SortitionView {
    pub job: tessera::state::Job,
    /// The network config: its stake epochs and bonded totals (the draw's denominator).
    pub config: tessera::state::Config,
    pub node: tessera::state::Node,
    /// SlotHashes as a transaction in the next slot sees it
    /// (`tessera_sdk::sortition::slot_hashes_for_child`).
    pub slot_hashes: Vec<u8>,
    /// RecentBlockhashes as read at `slot` (already the next slot's: see above).
    pub recent_blockhashes: Vec<u8>,
    pub now: i64,
    /// The frozen slot the view was read at.
    pub slot: u64,
}

/// How long a fetched blockhash is reused for new transactions (it stays valid for about
/// 150 blocks, 60 s or more; reusing it saves a `getLatestBlockhash` per transaction, and a
/// transaction whose blockhash expires is rebuilt with a fresh one).
const BLOCKHASH_REUSE: Duration = Duration::from_secs(15);

/// The worker's connection to the cluster.
pub struct Chain {
    pub rpc: Arc<RpcClient>,
    pub payer: Arc<Keypair>,
    pub metrics: Arc<Metrics>,
    /// The `[rpc]` request budget the HTTP requests share with the websocket's.
    pub budget: Arc<Bucket>,
    confirmer: Confirmer,
    reader: Reader,
    /// Reads at `processed`: the sortition's view (the last frozen slot, with its SlotHashes and
    /// RecentBlockhashes), so that a drawn claim can land in the next slot.
    reader_processed: Reader,
    fresh: Arc<Freshness>,
    fees: Fees,
    blockhash: tokio::sync::Mutex<Option<(Hash, u64, Instant)>>,
}

impl Chain {
    /// Must be called inside the tokio runtime: it starts the shared confirmation and read
    /// loops ([`super::batch`]). Every request goes through the RPC budget
    /// ([`super::budget`]).
    pub fn new(url: &str, payer: Arc<Keypair>, metrics: Arc<Metrics>, opts: &RpcOptions) -> Chain {
        let http = solana_rpc_client::http_sender::HttpSender::new_with_timeout(
            url,
            Duration::from_secs(10),
        );
        Self::with_sender(http, payer, metrics, opts)
    }

    /// [`Chain::new`] over any transport (tests script one).
    pub fn with_sender(
        sender: impl RpcSender + Send + Sync + 'static,
        payer: Arc<Keypair>,
        metrics: Arc<Metrics>,
        opts: &RpcOptions,
    ) -> Chain {
        let bucket = Arc::new(Bucket::new(opts.max_requests_per_minute));
        let rpc = Arc::new(RpcClient::new_sender(
            BudgetSender::new(sender, bucket.clone(), metrics.clone()),
            RpcClientConfig::with_commitment(CommitmentConfig::confirmed()),
        ));
        let fresh = Arc::new(Freshness::new(rpc.clone()));
        Chain {
            confirmer: Confirmer::spawn(rpc.clone(), metrics.clone()),
            reader: Reader::spawn(
                rpc.clone(),
                CommitmentConfig::confirmed(),
                metrics.clone(),
                fresh.clone(),
            ),
            reader_processed: Reader::spawn(
                rpc.clone(),
                CommitmentConfig::processed(),
                metrics.clone(),
                fresh.clone(),
            ),
            fresh,
            fees: Fees::new(rpc.clone(), opts.fees.clone(), metrics.clone()),
            blockhash: tokio::sync::Mutex::new(None),
            budget: bucket,
            rpc,
            payer,
            metrics,
        }
    }

    /// A websocket request (`method`, e.g. `programSubscribe`): it waits for a token of the
    /// `[rpc]` budget like an HTTP read and is counted by method.
    pub async fn ws_request(&self, method: &str) {
        let waited = self.budget.take(Priority::Read).await;
        if !waited.is_zero() {
            self.metrics.rpc_budget_wait.inc_by(waited.as_secs_f64());
        }
        self.metrics.rpc_requests.with_label_values(&[method]).inc();
    }

    /// A websocket notification received (`method`, e.g. `programNotification`): providers
    /// bill these too, so each one spends a token of the budget (without waiting: it has
    /// already arrived; the HTTP requests after it wait instead) and is counted by method.
    pub fn ws_message(&self, method: &str) {
        self.budget.charge();
        self.metrics.rpc_requests.with_label_values(&[method]).inc();
    }

    /// A recent blockhash and the last block height it is valid for; `fresh` skips the cache
    /// (after a failed attempt).
    async fn blockhash(&self, fresh: bool) -> Result<(Hash, u64), ClientError> {
        let mut cached = self.blockhash.lock().await;
        if let Some((h, last_valid, at)) = *cached {
            if !fresh && at.elapsed() < BLOCKHASH_REUSE {
                return Ok((h, last_valid));
            }
        }
        let (h, last_valid) = self
            .rpc
            .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
            .await?;
        *cached = Some((h, last_valid, Instant::now()));
        Ok((h, last_valid))
    }

    /// Signs `ixs` (all instructions of kind `ix`) with the operator key, with a compute-unit
    /// limit and price, sends, and waits for `confirmed`. Transport errors and expired
    /// blockhashes are retried (5 attempts in all) with a fresh blockhash.
    pub async fn send(
        &self,
        ix: &'static str,
        ixs: &[Instruction],
    ) -> Result<(Signature, u64), TxError> {
        self.send_with(ix, ixs, true).await
    }

    /// [`Chain::send`] without the RPC node's preflight simulation, for the steps of a claim
    /// the worker has just checked (commit, reveal, its own settlement). Preflight runs the
    /// transaction a second time on the validator; for these it would nearly always pass, so
    /// skipping it halves their execution cost. A refusal still comes back, from the
    /// confirmation, as [`TxError::Rejected`] with the program's error code.
    pub async fn send_checked(
        &self,
        ix: &'static str,
        ixs: &[Instruction],
    ) -> Result<(Signature, u64), TxError> {
        self.send_with(ix, ixs, false).await
    }

    async fn send_with(
        &self,
        ix: &'static str,
        ixs: &[Instruction],
        preflight: bool,
    ) -> Result<(Signature, u64), TxError> {
        let attempts = 5;
        let mut last = anyhow!("not sent");
        let price = self.fees.price(ixs, &self.payer.pubkey()).await;
        let with_budget = cu::with_budget(ix, ixs, price);
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let (blockhash, last_valid) = match self.blockhash(attempt > 0).await {
                Ok(b) => b,
                Err(e) => {
                    self.metrics.rpc_errors.inc();
                    last = anyhow!(e).context("getLatestBlockhash");
                    continue;
                }
            };
            let tx = Transaction::new_signed_with_payer(
                &with_budget,
                Some(&self.payer.pubkey()),
                &[self.payer.as_ref()],
                blockhash,
            );
            let cfg = RpcSendTransactionConfig {
                skip_preflight: !preflight,
                preflight_commitment: Some(CommitmentLevel::Processed),
                max_retries: Some(0),
                ..Default::default()
            };
            let sig = match self.rpc.send_transaction_with_config(&tx, cfg).await {
                Ok(sig) => sig,
                Err(e) => {
                    if let Some(rej) = rejected(ix, &e) {
                        self.metrics.tx_failed.with_label_values(&[ix]).inc();
                        return Err(rej);
                    }
                    self.metrics.rpc_errors.inc();
                    last = anyhow!(e).context("sendTransaction");
                    continue;
                }
            };
            match self.confirmer.wait(tx, last_valid).await {
                Ok(Ok(slot)) => {
                    self.metrics.tx_sent.with_label_values(&[ix]).inc();
                    return Ok((sig, slot));
                }
                Ok(Err(tx_err)) => {
                    self.metrics.tx_failed.with_label_values(&[ix]).inc();
                    return Err(TxError::Rejected {
                        ix,
                        code: custom_code(&tx_err),
                        reason: tx_err.to_string(),
                    });
                }
                // expired or no verdict: rebuilt with a fresh blockhash and signed again
                Err(e) => last = e,
            }
        }
        Err(TxError::Transient { ix, source: last })
    }

    /// Reads an account (`None` if it does not exist), retrying transport errors a few times.
    pub async fn account(&self, key: &Pubkey) -> Result<Option<Account>> {
        self.account_at(key, CommitmentConfig::confirmed()).await
    }

    /// [`Chain::account`] at a given commitment.
    pub async fn account_at(
        &self,
        key: &Pubkey,
        commitment: CommitmentConfig,
    ) -> Result<Option<Account>> {
        let mut attempt = 0;
        loop {
            let read = if commitment == CommitmentConfig::confirmed() {
                self.reader
                    .read(&[*key])
                    .await
                    .map(|mut v| v.pop().flatten())
            } else {
                match sdk_rpc::read::one_async(&self.rpc, key, commitment).await {
                    Ok(r) => self
                        .fresh
                        .check(commitment, r.context.slot)
                        .await
                        .context("getAccountInfo")
                        .map(|()| r.value),
                    Err(e) => Err(anyhow!(e)),
                }
                .inspect_err(|_| self.metrics.rpc_errors.inc())
            };
            match read {
                Ok(r) => return Ok(r),
                Err(e) => {
                    attempt += 1;
                    if attempt >= 3 {
                        return Err(anyhow!(e).context(format!("reading account {key}")));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }

    /// Reads and decodes a Tessera account.
    pub async fn fetch<T: anchor_lang::AccountDeserialize>(
        &self,
        what: &'static str,
        key: &Pubkey,
    ) -> Result<Option<T>> {
        self.fetch_at(what, key, CommitmentConfig::confirmed())
            .await
    }

    /// [`Chain::fetch`] at a given commitment.
    pub async fn fetch_at<T: anchor_lang::AccountDeserialize>(
        &self,
        what: &'static str,
        key: &Pubkey,
        commitment: CommitmentConfig,
    ) -> Result<Option<T>> {
        match self.account_at(key, commitment).await? {
            None => Ok(None),
            Some(acc) => Ok(Some(
                accounts::decode_owned::<T>(what, &acc.owner, &acc.data)
                    .with_context(|| format!("{what} {key}"))?,
            )),
        }
    }

    /// Job, this node's claim on it, and the cluster time, in one `getMultipleAccounts`.
    pub async fn snapshot(
        &self,
        job: &Pubkey,
        claim: &Pubkey,
    ) -> Result<(
        Option<tessera::state::Job>,
        Option<tessera::state::Claim>,
        i64,
    )> {
        let keys = [*job, *claim, solana_sdk::sysvar::clock::ID];
        let accs = self.reader.read(&keys).await?;
        let decode_job = accs[0]
            .as_ref()
            .map(|a| accounts::decode_owned("Job", &a.owner, &a.data))
            .transpose()?;
        let decode_claim = accs[1]
            .as_ref()
            .map(|a| accounts::decode_owned("Claim", &a.owner, &a.data))
            .transpose()?;
        let clock = accs[2].as_ref().context("Clock sysvar missing")?;
        let now = accounts::clock_unix_timestamp(&clock.data).context("short Clock")?;
        Ok((decode_job, decode_claim, now))
    }

    /// What the sortition of `job`'s current round needs, in one `getMultipleAccounts` at
    /// `processed` (the last frozen slot; the next transaction runs in a child of it): the job,
    /// the config's bonded total, `node`, the SlotHashes and RecentBlockhashes sysvars' data,
    /// and the cluster's unix time and slot.
    pub async fn sortition_view(
        &self,
        job: &Pubkey,
        node: &Pubkey,
    ) -> Result<Option<SortitionView>> {
        let keys = [
            *job,
            tessera_sdk::pda::config().0,
            *node,
            tessera_sdk::ix::SLOT_HASHES,
            solana_sdk::sysvar::clock::ID,
            tessera_sdk::ix::RECENT_BLOCKHASHES,
        ];
        let accs = self.reader_processed.read(&keys).await?;
        let Some(j) = accs[0].as_ref() else {
            return Ok(None);
        };
        let decode = |i: usize, what: &'static str| {
            accs[i].as_ref().with_context(|| format!("{what} missing"))
        };
        let config: tessera::state::Config = {
            let a = decode(1, "Config")?;
            accounts::decode_owned("Config", &a.owner, &a.data)?
        };
        let node_acc: tessera::state::Node = {
            let a = decode(2, "Node")?;
            accounts::decode_owned("Node", &a.owner, &a.data)?
        };
        let clock = decode(4, "Clock sysvar")?;
        let slot = clock
            .data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .context("short Clock")?;
        Ok(Some(SortitionView {
            job: accounts::decode_owned("Job", &j.owner, &j.data)?,
            config,
            node: node_acc,
            slot_hashes: tessera_sdk::sortition::slot_hashes_for_child(
                slot,
                &decode(3, "SlotHashes sysvar")?.data,
            ),
            recent_blockhashes: decode(5, "RecentBlockhashes sysvar")?.data.clone(),
            now: accounts::clock_unix_timestamp(&clock.data).context("short Clock")?,
            slot,
        }))
    }

    /// The cluster's unix time.
    pub async fn now(&self) -> Result<i64> {
        let acc = self
            .account(&solana_sdk::sysvar::clock::ID)
            .await?
            .context("Clock sysvar missing")?;
        accounts::clock_unix_timestamp(&acc.data).context("short Clock")
    }

    /// All program accounts of type `T` matching `extra`.
    pub async fn list<T>(&self, extra: Vec<RpcFilterType>) -> Result<Vec<(Pubkey, T)>>
    where
        T: anchor_lang::AccountDeserialize + anchor_lang::Discriminator,
    {
        let raw = self
            .rpc
            .get_program_ui_accounts_with_config(
                &tessera::ID,
                sdk_rpc::program_accounts_config::<T>(extra),
            )
            .await
            .inspect_err(|_| self.metrics.rpc_errors.inc())
            .context("getProgramAccounts")?;
        let mut out = Vec::with_capacity(raw.len());
        for (k, ui) in raw {
            if let Some(acc) = ui.to_account() {
                if let Ok(v) = accounts::decode::<T>("account", &acc.data) {
                    out.push((k, v));
                }
            }
        }
        Ok(out)
    }
}

fn custom_code(e: &TransactionError) -> Option<u32> {
    match e {
        TransactionError::InstructionError(_, InstructionError::Custom(c)) => Some(*c),
        _ => None,
    }
}

/// A preflight failure is the program (or runtime) refusing the transaction.
fn rejected(ix: &'static str, e: &ClientError) -> Option<TxError> {
    let tx_err = e.get_transaction_error()?;
    if matches!(
        tx_err,
        TransactionError::BlockhashNotFound | TransactionError::AlreadyProcessed
    ) {
        return None;
    }
    Some(TxError::Rejected {
        ix,
        code: custom_code(&tx_err),
        reason: describe(&tx_err),
    })
}

fn describe(e: &TransactionError) -> String {
    match custom_code(e) {
        Some(c) if c >= 6000 => format!("{e} (Tessera error {c})"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use base64::Engine;
    use serde_json::json;
    use solana_client::rpc_request::RpcRequest;

    use super::*;
    use crate::chain::fees::FeePolicy;
    use crate::chain::testing::{at_slot, Scripted};

    fn opts() -> RpcOptions {
        RpcOptions {
            max_requests_per_minute: 0,
            fees: FeePolicy {
                max_micro_lamports: 1_000,
                min_micro_lamports: 0,
                percentile: 75,
                cache: Duration::from_secs(20),
            },
        }
    }

    /// The signature of a base64 transaction (after its one-byte signature count).
    fn signature_of(param: &serde_json::Value) -> Signature {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(param.as_str().unwrap())
            .unwrap();
        Signature::from(<[u8; 64]>::try_from(&bytes[1..65]).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn an_unconfirmed_transaction_is_resent_until_its_blockhash_expires_then_re_signed() {
        // Blockhash n is valid up to block height 10·n; the height grows by one per read.
        // Transactions on the first blockhash never land; on the second they do.
        let hashes = AtomicU64::new(0);
        let height = AtomicU64::new(0);
        let sent: Arc<Mutex<Vec<Signature>>> = Arc::default();
        let landing: Arc<Mutex<Option<Signature>>> = Arc::default();
        let (s, l) = (sent.clone(), landing.clone());
        let (sender, _log) = Scripted::new(move |req, params| match req {
            RpcRequest::GetLatestBlockhash => {
                let n = hashes.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(at_slot(
                    1,
                    json!({"blockhash": Hash::new_from_array([n as u8; 32]).to_string(),
                           "lastValidBlockHeight": 10 * n}),
                ))
            }
            RpcRequest::GetRecentPrioritizationFees => Ok(json!([])),
            RpcRequest::SendTransaction => {
                let sig = signature_of(&params[0]);
                let mut sent = s.lock().unwrap();
                if sent.first().is_some_and(|first| *first != sig) {
                    *l.lock().unwrap() = Some(sig);
                }
                sent.push(sig);
                Ok(json!(sig.to_string()))
            }
            RpcRequest::GetBlockHeight => Ok(json!(height.fetch_add(1, Ordering::SeqCst) + 1)),
            RpcRequest::GetSignatureStatuses => {
                let landed = *l.lock().unwrap();
                let statuses: Vec<_> = params[0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|sig| {
                        (landed.map(|s| s.to_string()).as_deref() == sig.as_str()).then(|| {
                            json!({"slot": 77, "confirmations": null, "err": null,
                                   "status": {"Ok": null}, "confirmationStatus": "confirmed"})
                        })
                    })
                    .collect();
                Ok(at_slot(80, json!(statuses)))
            }
            _ => Err(format!("unexpected {req}")),
        });
        let metrics = Metrics::new();
        let chain = Chain::with_sender(sender, Arc::new(Keypair::new()), metrics.clone(), &opts());
        let ixn = Instruction::new_with_bytes(tessera::ID, &[1], vec![]);
        let (sig, slot) = chain.send_checked("commit_result", &[ixn]).await.unwrap();
        assert_eq!(slot, 77);
        let sent = sent.lock().unwrap().clone();
        let first = sent[0];
        let resends = sent.iter().filter(|s| **s == first).count();
        // sent again (the same signature) every 2 s for as long as the blockhash lived...
        assert!(resends >= 5, "{resends} sends of the first transaction");
        assert_eq!(metrics.tx_rebroadcast.get() as usize, resends - 1);
        // ...then rebuilt on a fresh blockhash, signed again, and confirmed
        assert_ne!(sig, first);
        assert_eq!(sent.last(), Some(&sig));
        assert_eq!(sent.iter().filter(|s| **s == sig).count(), 1);
        assert_eq!(
            metrics.tx_sent.with_label_values(&["commit_result"]).get(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_request_is_counted_by_method() {
        let (sender, _log) = Scripted::new(|req, _| match req {
            RpcRequest::GetAccountInfo => Ok(at_slot(5, serde_json::Value::Null)),
            _ => Err(format!("unexpected {req}")),
        });
        let metrics = Metrics::new();
        let chain = Chain::with_sender(sender, Arc::new(Keypair::new()), metrics.clone(), &opts());
        let k = Pubkey::new_unique();
        for _ in 0..3 {
            let got = chain
                .account_at(&k, CommitmentConfig::processed())
                .await
                .unwrap();
            assert!(got.is_none());
        }
        let count = |m: &str| metrics.rpc_requests.with_label_values(&[m]).get();
        assert_eq!(count("getAccountInfo"), 3);
        // (the first fresh answer also recorded the cluster's genesis hash, which failed here)
        assert_eq!(count("getGenesisHash"), 1);
        assert!(metrics
            .render()
            .contains("tessera_worker_rpc_requests_total{method=\"getAccountInfo\"} 3"));
    }
}
