//! Blobs on the worker's side: inputs are fetched (or taken from the local cache) and always
//! checked against the job's spec hash; results are kept in the cache and published to the
//! configured blob store (`blobs`: a blob server, a directory, or an object store such as
//! `s3://bucket/prefix`, whose credentials come from the daemon's environment).
//!
//! Inputs are URIs chosen by whoever posted the job, so they are fetched under the operator's
//! [`FetchPolicy`] (`[fetch]` in the config): allowed schemes, hosts, directories and object
//! stores only, a byte cap, a deadline, and at most `fetch.max_downloads` at once.
use std::sync::Arc;

use anyhow::{Context, Result};
use solana_sdk::signature::Keypair;
use tessera_client::blobs::{self, BlobTarget, DirStore};
use tessera_client::fetch_policy::{FetchError, FetchPolicy, Fetcher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

pub struct Storage {
    pub cache: DirStore,
    pub publish: BlobTarget,
    fetcher: Fetcher,
    downloads: Arc<Semaphore>,
}

/// Why an input could not be had.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Refused by the fetch policy, or the download failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The download slot wait was abandoned (shutdown).
    #[error("no download slot")]
    NoSlot,
}

impl Storage {
    /// `policy` is the operator's fetch policy; the blob store `publish` names is allowed on
    /// top of it (a blob server's exact host:port, a blob directory, or an object store's
    /// bucket and prefix). Uploads to a blob server are signed by `signer`, the operator key
    /// (a registered node's key is on the allow-list of a server run with `--rpc-url`).
    pub fn new(
        cache_dir: &std::path::Path,
        publish: &str,
        policy: FetchPolicy,
        max_downloads: usize,
        signer: Arc<Keypair>,
    ) -> Result<Storage> {
        let publish = BlobTarget::parse(publish)
            .context("config `blobs`")?
            .signed_by(signer);
        let policy = policy
            .allow_blob_store(&publish)
            .context("allowing the configured blob store")?;
        Ok(Storage {
            cache: DirStore::open(cache_dir)?,
            publish,
            fetcher: Fetcher::new(policy)?,
            downloads: Arc::new(Semaphore::new(max_downloads.max(1))),
        })
    }

    pub fn policy(&self) -> &FetchPolicy {
        self.fetcher.policy()
    }

    /// The input from the local cache, when it is there and intact. A corrupt copy is removed
    /// (the input is then downloaded again).
    pub fn cached(&self, spec_hash: &[u8; 32]) -> Option<Vec<u8>> {
        match self.cache.get(spec_hash) {
            Ok(found) => found,
            Err(e) => {
                warn!("dropping cached input {}: {e:#}", blobs::hex(spec_hash));
                let _ = std::fs::remove_file(self.cache.path(spec_hash));
                None
            }
        }
    }

    /// Removes an input from the local cache (it was refused: no job runs it here, so it must
    /// not keep taking disk).
    pub fn evict(&self, spec_hash: &[u8; 32]) {
        match std::fs::remove_file(self.cache.path(spec_hash)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!(
                "could not remove refused input {}: {e}",
                blobs::hex(spec_hash)
            ),
        }
    }

    /// A download slot, if one is free now.
    pub fn try_download_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.downloads.clone().try_acquire_owned().ok()
    }

    /// Downloads and verifies an input (the caller holds a download slot) and caches it.
    pub async fn download(&self, uri: &str, spec_hash: &[u8; 32]) -> Result<Vec<u8>, FetchError> {
        let bytes = self.fetcher.fetch(uri, spec_hash).await?;
        if let Err(e) = self.cache.put(&bytes) {
            warn!("could not cache input {}: {e:#}", blobs::hex(spec_hash));
        }
        Ok(bytes)
    }

    /// The input blob of a job: cache first, else download (waiting for a download slot);
    /// verified either way.
    pub async fn input(&self, uri: &str, spec_hash: &[u8; 32]) -> Result<Vec<u8>, InputError> {
        if let Some(b) = self.cached(spec_hash) {
            return Ok(b);
        }
        self.fetcher.policy().check(uri)?;
        let _slot = self
            .downloads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| InputError::NoSlot)?;
        Ok(self.download(uri, spec_hash).await?)
    }

    /// Keeps a result blob locally and publishes it; returns its URI. When the blob store is
    /// unreachable the result is still revealed, pointing at the local copy.
    pub async fn publish(&self, blob: &[u8]) -> Result<String> {
        let h = self.cache.put(blob).context("storing the result locally")?;
        for attempt in 0..3u32 {
            match self.publish.put(blob).await {
                Ok((_, uri)) => return Ok(uri),
                Err(e) => {
                    warn!(
                        attempt,
                        "publishing result {} failed: {e:#}",
                        blobs::hex(&h)
                    );
                    tokio::time::sleep(crate::chain::backoff(attempt)).await;
                }
            }
        }
        Ok(self.cache.uri(&h))
    }
}
