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
use tessera_blobs as blobs;
use tessera_blobs::fetch_policy::{FetchError, FetchPolicy, Fetcher};
use tessera_blobs::{BlobTarget, DirStore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

pub struct Storage {
    pub cache: DirStore,
    pub publish: BlobTarget,
    fetcher: Fetcher,
    downloads: Arc<Semaphore>,
    /// The cache's size cap (`fetch.max_cache_bytes`): beyond it the least recently written
    /// blobs go first.
    max_cache_bytes: u64,
}

/// Default `fetch.max_cache_bytes`: 8 GiB.
pub const DEFAULT_MAX_CACHE_BYTES: u64 = 8 << 30;

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
            max_cache_bytes: DEFAULT_MAX_CACHE_BYTES,
        })
    }

    /// The cache's size cap (at least the largest input: a fetched input is always cached).
    pub fn with_max_cache_bytes(mut self, max: u64) -> Self {
        self.max_cache_bytes = max;
        self
    }

    /// Removes the least recently written blobs of the cache (never `keep`) until it holds
    /// at most `max_cache_bytes`: valid inputs a node never runs, results and models would
    /// otherwise pile up until the disk is full. A removed input a claim still needs is
    /// fetched again by its hash.
    pub fn trim(&self, keep: &[u8; 32]) {
        let dir = self.cache.path(keep);
        let Some(dir) = dir.parent() else { return };
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let kept = dir.join(blobs::hex(keep));
        let mut files: Vec<(std::time::SystemTime, u64, std::path::PathBuf)> = rd
            .flatten()
            // blobs only (64 hex digits), not a download being written
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                if !m.is_file() {
                    return None;
                }
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_cache_bytes {
            return;
        }
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_cache_bytes {
                break;
            }
            if path == kept {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
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
        match self.cache.put(&bytes) {
            Ok(h) => self.trim(&h),
            Err(e) => warn!("could not cache input {}: {e:#}", blobs::hex(spec_hash)),
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
        self.trim(&h);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 29 ("disk"): valid inputs a node refuses, models and results stayed in the cache
    /// for good. The cache keeps within its cap, the oldest blobs going first, never the one
    /// just written, and leaves files that are not blobs alone.
    #[test]
    fn the_cache_stays_within_its_cap_oldest_first() {
        let dir = std::env::temp_dir().join(format!("tessera-trim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Storage::new(
            &dir.join("cache"),
            dir.join("publish").to_str().unwrap(),
            FetchPolicy::default(),
            1,
            Arc::new(Keypair::new()),
        )
        .unwrap()
        .with_max_cache_bytes(3000);
        let mut hashes = Vec::new();
        for i in 0..5u8 {
            let h = s.cache.put(&vec![i; 1000]).unwrap();
            // distinct modification times, oldest first
            let t = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(s.cache.path(&h))
                .unwrap()
                .set_modified(t)
                .unwrap();
            hashes.push(h);
        }
        std::fs::write(dir.join("cache").join("partial.tmp"), vec![0u8; 5000]).unwrap();
        // the oldest is the one just written: it stays, the next oldest go
        s.trim(&hashes[0]);
        let present: Vec<bool> = hashes.iter().map(|h| s.cache.path(h).exists()).collect();
        assert_eq!(present, [true, false, false, true, true]);
        assert!(dir.join("cache").join("partial.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
