//! The client side of the blob server (`tessera blobs serve`): signed uploads, from memory or
//! streamed from a file. Downloads of every scheme, this server's included, are
//! [`super::files::fetch_to_file`] (streamed, capped, hash-checked).
//!
//! A refused upload is an [`UploadRefused`] (downcast the error to match on its code).
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use solana_sdk::signature::Keypair;

use super::auth::UploadAuth;
use super::refusal::UploadRefused;
use crate::id::hex;

/// Uploads `bytes` (whose hash is `h`) to the blob server at `base`, signed by `signer` when
/// given (a server that is not `--open` refuses unsigned uploads); returns the blob's URI.
pub async fn put(
    base: &str,
    signer: Option<&Keypair>,
    h: &[u8; 32],
    bytes: &[u8],
) -> Result<String> {
    let req = client()
        .put(blob_url(base, h))
        .timeout(transfer_timeout(bytes.len() as u64))
        .body(bytes.to_vec());
    send(base, signed(req, signer, h, bytes.len() as u64), h).await
}

/// Uploads the file at `path` (`size` bytes hashing to `h`) to the blob server at `base`,
/// streamed: the file is never held in memory. Returns the blob's URI.
pub async fn put_file(
    base: &str,
    signer: Option<&Keypair>,
    path: &Path,
    h: &[u8; 32],
    size: u64,
) -> Result<String> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata().await?.len();
    if len != size {
        bail!(
            "{} is {len} bytes, not the {size} announced",
            path.display()
        );
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 << 10);
    let req = client()
        .put(blob_url(base, h))
        .header(reqwest::header::CONTENT_LENGTH, size)
        .timeout(transfer_timeout(size))
        .body(reqwest::Body::wrap_stream(stream));
    send(base, signed(req, signer, h, size), h).await
}

fn blob_url(base: &str, h: &[u8; 32]) -> String {
    format!("{base}/blobs/{}", hex(h))
}

/// Adds the upload signature headers (see [`super::auth`]).
fn signed(
    mut req: reqwest::RequestBuilder,
    signer: Option<&Keypair>,
    h: &[u8; 32],
    size: u64,
) -> reqwest::RequestBuilder {
    if let Some(kp) = signer {
        for (name, value) in UploadAuth::sign_now(kp, h, size).headers() {
            req = req.header(name, value);
        }
    }
    req
}

async fn send(base: &str, req: reqwest::RequestBuilder, h: &[u8; 32]) -> Result<String> {
    let resp = req.send().await.with_context(|| {
        format!("uploading to the blob server at {base}: is `tessera blobs serve` running there?")
    })?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(UploadRefused::from_body(base, status.as_u16(), text.trim()).into());
    }
    Ok(blob_url(base, h))
}

/// Time allowed for a transfer of `bytes`: five minutes, plus a second per MiB.
fn transfer_timeout(bytes: u64) -> Duration {
    Duration::from_secs(300 + (bytes >> 20))
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
