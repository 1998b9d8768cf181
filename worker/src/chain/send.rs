//! Transactions and reads with retries: fresh blockhash per attempt, confirmation tracking,
//! backoff with jitter on transport errors, and a clear split between "the program said no"
//! ([`TxError::Rejected`], never retried) and "the network failed" ([`TxError::Transient`]).
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use solana_client::client_error::ClientError;
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_client::rpc_filter::RpcFilterType;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_sdk::instruction::InstructionError;
use solana_sdk::{
    account::Account, hash::Hash, instruction::Instruction, pubkey::Pubkey, signature::Keypair,
    signature::Signature, signer::Signer, transaction::Transaction, transaction::TransactionError,
};
use tessera_client::{accounts, rpc as sdk_rpc};

use super::backoff;
use super::batch::{Confirmer, HighestSlot, Reader};
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
    pub total_bonded: u64,
    pub node: tessera::state::Node,
    pub slot_hashes: Vec<u8>,
    pub now: i64,
    pub slot: u64,
}

/// How long a fetched blockhash is reused for new transactions (it stays valid for about
/// 150 blocks; reusing it saves a `getLatestBlockhash` per transaction).
const BLOCKHASH_REUSE: Duration = Duration::from_secs(2);

/// The worker's connection to the cluster.
pub struct Chain {
    pub rpc: Arc<RpcClient>,
    pub payer: Arc<Keypair>,
    pub metrics: Arc<Metrics>,
    confirmer: Confirmer,
    reader: Reader,
    highest: Arc<HighestSlot>,
    blockhash: tokio::sync::Mutex<Option<(Hash, u64, Instant)>>,
}

impl Chain {
    /// Must be called inside the tokio runtime: it starts the shared confirmation and read
    /// loops ([`super::batch`]).
    pub fn new(url: &str, payer: Arc<Keypair>, metrics: Arc<Metrics>) -> Chain {
        let rpc = Arc::new(RpcClient::new_with_timeout_and_commitment(
            url.to_string(),
            Duration::from_secs(10),
            CommitmentConfig::confirmed(),
        ));
        let highest = Arc::new(HighestSlot::default());
        Chain {
            confirmer: Confirmer::spawn(rpc.clone(), metrics.clone()),
            reader: Reader::spawn(rpc.clone(), metrics.clone(), highest.clone()),
            highest,
            blockhash: tokio::sync::Mutex::new(None),
            rpc,
            payer,
            metrics,
        }
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

    /// Signs `ixs` with the operator key, sends, and waits for `confirmed`. Transport errors
    /// and expired blockhashes are retried (up to `attempts`) with a fresh blockhash.
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
                &tessera_client::ix::with_compute_limit(ixs),
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
                self.rpc
                    .get_account_with_commitment(key, commitment)
                    .await
                    .map_err(anyhow::Error::from)
                    .and_then(|r| {
                        self.highest
                            .check(r.context.slot)
                            .context("getAccountInfo")?;
                        Ok(r.value)
                    })
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

    /// What the sortition of `job`'s current round needs, in one `getMultipleAccounts`: the
    /// job, the config's bonded total, `node`, the SlotHashes sysvar's data, and the cluster's
    /// unix time and slot.
    pub async fn sortition_view(
        &self,
        job: &Pubkey,
        node: &Pubkey,
    ) -> Result<Option<SortitionView>> {
        let keys = [
            *job,
            tessera_client::pda::config().0,
            *node,
            tessera_client::ix::SLOT_HASHES,
            solana_sdk::sysvar::clock::ID,
        ];
        let accs = self.reader.read(&keys).await?;
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
            total_bonded: config.total_bonded,
            node: node_acc,
            slot_hashes: decode(3, "SlotHashes sysvar")?.data.clone(),
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
