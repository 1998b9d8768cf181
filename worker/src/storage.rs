//! Blobs on the worker's side: inputs are fetched (or taken from the local cache) and always
//! checked against the job's spec hash; results are kept in the cache and published to the
//! configured blob store.
use anyhow::{Context, Result};
use tessera_client::blobs::{self, BlobTarget, DirStore};
use tracing::warn;

pub struct Storage {
    pub cache: DirStore,
    pub publish: BlobTarget,
}

impl Storage {
    pub fn new(cache_dir: &std::path::Path, publish: &str) -> Result<Storage> {
        Ok(Storage {
            cache: DirStore::open(cache_dir)?,
            publish: BlobTarget::parse(publish).context("config `blobs`")?,
        })
    }

    /// The input blob of a job: cache first, else download; verified either way.
    pub async fn input(&self, uri: &str, spec_hash: &[u8; 32]) -> Result<Vec<u8>> {
        if let Some(b) = self.cache.get(spec_hash)? {
            return Ok(b);
        }
        let bytes = blobs::fetch(uri, spec_hash).await?;
        if let Err(e) = self.cache.put(&bytes) {
            warn!("could not cache input {}: {e:#}", blobs::hex(spec_hash));
        }
        Ok(bytes)
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
