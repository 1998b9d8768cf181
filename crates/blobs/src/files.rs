//! Whole files to and from blob stores, streamed: what `tessera blobs put/get` move. A file is
//! never held in memory whole, whatever its size.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;

use crate::dir::DirStore;
use crate::fetch_policy::{FetchError, FetchPolicy, Fetcher};

/// Default cap of a streamed download to a file (`tessera blobs get --max-bytes`): 16 GiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 << 30;
/// Longest a streamed download to a file may take in all; a stalled one is cut off sooner by
/// the idle timeout.
const FILE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Copy buffer.
const BUF: usize = 1 << 20;

/// BLAKE3 and size of a file, read in a blocking thread.
pub async fn hash_file(path: &Path) -> Result<([u8; 32], u64)> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<([u8; 32], u64)> {
        let mut f = std::fs::File::open(&p).with_context(|| format!("reading {}", p.display()))?;
        if !f.metadata()?.is_file() {
            bail!("{} is not a regular file", p.display());
        }
        let mut hasher = blake3::Hasher::new();
        let n = std::io::copy(&mut f, &mut hasher)
            .with_context(|| format!("reading {}", p.display()))?;
        Ok((*hasher.finalize().as_bytes(), n))
    })
    .await
    .context("hashing thread")?
}

/// A temporary name next to `dest` (same file system, so the final rename is atomic).
fn temp_beside(dest: &Path, tag: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.{seq}.{tag}", std::process::id()))
}

/// Copies `file` into a blob directory: to a temporary file while hashing, fsync, then renamed
/// to its hash (a crash never leaves a partial blob under its name).
pub async fn dir_put_file(store: &DirStore, file: &Path) -> Result<([u8; 32], String)> {
    use tokio::io::AsyncReadExt;
    let mut src = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    if !src.metadata().await?.is_file() {
        bail!("{} is not a regular file", file.display());
    }
    let tmp = temp_beside(&store.root().join("incoming"), "tmp");
    let copy = async {
        let mut out = tokio::fs::File::create(&tmp).await?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; BUF];
        loop {
            let n = src.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).await?;
        }
        out.sync_all().await?;
        let h = *hasher.finalize().as_bytes();
        tokio::fs::rename(&tmp, store.path(&h)).await?;
        std::io::Result::Ok(h)
    };
    match copy.await {
        Ok(h) => Ok((h, store.uri(&h))),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e).with_context(|| {
                format!(
                    "copying {} into the blob directory {}",
                    file.display(),
                    store.root().display()
                )
            })
        }
    }
}

/// Downloads `uri` (`http(s)://`, `file://` or an object store's `s3://…`) into `dest`,
/// streamed, for a person's own downloads (any host, any local file, any object store, as
/// [`FetchPolicy::permissive`]): at most `max_bytes`, hashed on the way. The bytes go to a
/// temporary file beside `dest`, renamed to `dest` only when they hash to `expected`; on any
/// error it is removed and `dest` is left as it was. Returns the size.
pub async fn fetch_to_file(
    uri: &str,
    expected: &[u8; 32],
    dest: &Path,
    max_bytes: u64,
) -> Result<u64, FetchError> {
    let fetcher = Fetcher::new(
        FetchPolicy::permissive()
            .with_max_bytes(max_bytes)
            .with_timeout(FILE_TIMEOUT),
    )
    .map_err(|e| FetchError::Transport {
        uri: uri.to_string(),
        detail: format!("{e:#}"),
    })?;
    fetcher
        .fetch_to_file(uri, expected, dest, &temp_beside(dest, "part"))
        .await
}
