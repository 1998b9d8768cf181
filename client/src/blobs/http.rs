//! The client side of the blob server (`tessera blobs serve`): uploads.
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::hex;

/// Uploads `bytes` (whose hash is `h`) to the blob server at `base`; returns the blob's URI.
pub async fn put(base: &str, h: &[u8; 32], bytes: &[u8]) -> Result<String> {
    let uri = format!("{base}/blobs/{}", hex(h));
    let resp = client()
        .put(&uri)
        .body(bytes.to_vec())
        .send()
        .await
        .with_context(|| {
            format!("uploading to the blob server at {base}: is `tessera blobs serve` running there?")
        })?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        bail!("blob server at {base} refused the upload: {status} {text}");
    }
    Ok(uri)
}

/// The shared HTTP client (pooled connections; see [`super::block_on`]).
pub fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .expect("HTTP client")
    })
}

