//! Content-addressed blob store for job inputs and results.
//!
//! A blob is named by the BLAKE3 hash of its bytes (64 lower-case hex digits). Blobs travel as
//! URIs: `http(s)://host/blobs/<hash>` (served by [`serve`], `tessera blobs serve`),
//! `file:///dir/<hash>` (a [`DirStore`] on a shared disk) or `s3://bucket/prefix/<hash>` (an
//! object store: S3 or S3-compatible, `gs://` or `az://`; [`object`]). Whatever the transport,
//! a reader always re-hashes what it got ([`fetch`]), so a tampered, truncated or wrong blob is
//! an error, never an input. What may be fetched at all (schemes, hosts, size, time) is the business of
//! [`crate::fetch_policy`].
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use solana_sdk::signature::Keypair;

use crate::fetch_policy::{FetchPolicy, Fetcher};

pub mod fetch_policy;

#[cfg(feature = "server")]
pub mod allow;
pub mod auth;
pub mod files;
#[cfg(feature = "server")]
pub mod gc;
pub mod http;
pub mod object;
#[cfg(feature = "server")]
pub mod quota;
pub mod refusal;
#[cfg(feature = "server")]
pub mod server;

pub use refusal::{Refusal, UploadRefused};
#[cfg(feature = "server")]
pub use server::{router, serve, GcConfig, ServerConfig, Uploads};

pub use files::DEFAULT_MAX_FILE_BYTES;
pub use object::{ObjectTarget, StoreError};

/// Largest blob accepted or downloaded (512 MiB).
pub const MAX_BLOB_BYTES: usize = 512 << 20;

/// Lower-case hex of a hash.
pub fn hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// BLAKE3 of `bytes`.
pub fn hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// Parses 64 hex digits.
pub fn parse_hash(s: &str) -> Result<[u8; 32]> {
    let h = blake3::Hash::from_hex(s.trim())
        .map_err(|_| anyhow!("`{s}` is not a blob hash (64 hex digits)"))?;
    Ok(*h.as_bytes())
}

/// A directory of blobs, each stored as `<dir>/<hash>`.
#[derive(Clone, Debug)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating blob directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving blob directory {}", root.display()))?;
        Ok(DirStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.root.join(hex(hash))
    }

    /// `file://` URI of a blob in this store.
    pub fn uri(&self, hash: &[u8; 32]) -> String {
        format!("file://{}", self.path(hash).display())
    }

    /// Stores `bytes` (write to a temporary file, fsync, rename: a crash never leaves a partial
    /// blob under its name) and returns its hash.
    pub fn put(&self, bytes: &[u8]) -> Result<[u8; 32]> {
        if bytes.len() > MAX_BLOB_BYTES {
            bail!(
                "blob is {} bytes, the limit is {MAX_BLOB_BYTES}",
                bytes.len()
            );
        }
        let h = hash(bytes);
        let path = self.path(&h);
        if path.exists() {
            return Ok(h);
        }
        // A unique temporary name: concurrent puts of the same blob must not share one.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .root
            .join(format!(".{}.{}.{seq}.tmp", hex(&h), std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            // another writer may have stored the same bytes meanwhile
            if self.get(&h).ok().flatten().is_some() {
                return Ok(h);
            }
            return Err(e).with_context(|| format!("writing blob {}", path.display()));
        }
        Ok(h)
    }

    /// Reads a blob and checks its hash; `None` if it is not here.
    pub fn get(&self, h: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let path = self.path(h);
        match std::fs::read(&path) {
            Ok(bytes) => {
                verify(&bytes, h, &path.display().to_string())?;
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading blob {}", path.display())),
        }
    }
}

pub(crate) fn verify(bytes: &[u8], expected: &[u8; 32], source: &str) -> Result<()> {
    let got = hash(bytes);
    if &got != expected {
        bail!(
            "blob from {source} does not match its hash: expected {}, got {} ({} bytes); the source is corrupt or tampered with",
            hex(expected),
            hex(&got),
            bytes.len()
        );
    }
    Ok(())
}

/// Where `tessera job post` and workers put blobs.
#[derive(Clone, Debug)]
pub enum BlobTarget {
    /// A local (or shared) directory; blobs get `file://` URIs.
    Dir(DirStore),
    /// A blob server (`tessera blobs serve`): `PUT <base>/blobs/<hash>`, signed by `signer`
    /// (see [`auth`]; a server not run `--open` refuses unsigned uploads).
    Http {
        base: String,
        signer: Option<Arc<Keypair>>,
    },
    /// An object store (`s3://bucket/prefix`, `gs://…`, `az://…`): blobs at
    /// `<prefix>/<hash>`, configured from the environment ([`object`]).
    Object(ObjectTarget),
}

impl BlobTarget {
    /// `http(s)://host:port` (a blob server), an object store (`s3://bucket/prefix`,
    /// `gs://…`, `az://…`) or a directory path / `file://` URI.
    pub fn parse(s: &str) -> Result<Self> {
        if object::is_object_url(s) {
            return Ok(BlobTarget::Object(ObjectTarget::parse(s)?));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !matches!(scheme, "http" | "https" | "file") {
                return Err(StoreError::BadUrl {
                    url: s.to_string(),
                    reason: format!(
                        "unknown scheme `{scheme}`: use http(s):// (a blob server), file:// or a directory, or an object store ({})",
                        object::SCHEMES.join(", ")
                    ),
                }
                .into());
            }
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            Ok(BlobTarget::Http {
                base: s.trim_end_matches('/').to_string(),
                signer: None,
            })
        } else {
            let dir = s.strip_prefix("file://").unwrap_or(s);
            Ok(BlobTarget::Dir(DirStore::open(dir)?))
        }
    }

    /// Uploads to a blob server are signed by `signer` (no effect on a directory or an object
    /// store, which authenticate with their own credentials).
    pub fn signed_by(self, signer: Arc<Keypair>) -> Self {
        match self {
            BlobTarget::Http { base, .. } => BlobTarget::Http {
                base,
                signer: Some(signer),
            },
            other => other,
        }
    }

    /// Stores `bytes` and returns `(hash, uri)`.
    pub async fn put(&self, bytes: &[u8]) -> Result<([u8; 32], String)> {
        match self {
            BlobTarget::Dir(d) => {
                let h = d.put(bytes)?;
                Ok((h, d.uri(&h)))
            }
            BlobTarget::Http { base, signer } => {
                let h = hash(bytes);
                let uri = http::put(base, signer.as_deref(), &h, bytes).await?;
                Ok((h, uri))
            }
            BlobTarget::Object(o) => {
                let h = o.put(bytes).await?;
                Ok((h, o.uri_of(&h)))
            }
        }
    }

    /// Stores the file at `path`, streamed (never whole in memory), and returns `(hash, uri)`.
    pub async fn put_file(&self, path: &Path) -> Result<([u8; 32], String)> {
        match self {
            BlobTarget::Dir(d) => files::dir_put_file(d, path).await,
            BlobTarget::Http { base, signer } => {
                let (h, size) = files::hash_file(path).await?;
                let uri = http::put_file(base, signer.as_deref(), path, &h, size).await?;
                Ok((h, uri))
            }
            BlobTarget::Object(o) => {
                let h = o.put_file(path).await?;
                Ok((h, o.uri_of(&h)))
            }
        }
    }

    /// The URI a blob with this hash has in this target (whether or not it is there).
    pub fn uri_of(&self, h: &[u8; 32]) -> String {
        match self {
            BlobTarget::Dir(d) => d.uri(h),
            BlobTarget::Http { base, .. } => format!("{base}/blobs/{}", hex(h)),
            BlobTarget::Object(o) => o.uri_of(h),
        }
    }
}

/// Downloads `uri` (`http(s)://`, `file://` or an object store's `s3://…`) and checks it
/// hashes to `expected`, for a person's own, explicit downloads (a kernel's input, a job's
/// result): any host, any local regular file and any object store
/// ([`FetchPolicy::permissive`]), still capped at [`MAX_BLOB_BYTES`],
/// time-limited and hash-checked. Workers fetch other people's URIs through a strict
/// [`Fetcher`] instead. The error is a [`crate::fetch_policy::FetchError`] (downcast to match
/// on it).
pub async fn fetch(uri: &str, expected: &[u8; 32]) -> Result<Vec<u8>> {
    static FETCHER: std::sync::OnceLock<Fetcher> = std::sync::OnceLock::new();
    let f = FETCHER.get_or_init(|| Fetcher::new(FetchPolicy::permissive()).expect("HTTP client"));
    Ok(f.fetch(uri, expected).await?)
}

/// Downloads `uri` into the file `dest`, streamed, for a person's own downloads (as
/// [`fetch`], at most `max_bytes`): written to a temporary file beside `dest` and renamed only
/// when it hashes to `expected`. Returns the size. The error is a
/// [`crate::fetch_policy::FetchError`].
pub async fn fetch_to_file(
    uri: &str,
    expected: &[u8; 32],
    dest: &Path,
    max_bytes: u64,
) -> Result<u64> {
    Ok(files::fetch_to_file(uri, expected, dest, max_bytes).await?)
}

/// Runs a future to completion from synchronous code (the CLI's RPC calls are blocking).
///
/// One runtime for the whole process, never dropped: the shared HTTP client's pooled
/// connections run on it, so they stay usable from one call (and thread) to the next.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("tessera-io")
                .enable_all()
                .build()
                .expect("tokio runtime")
        })
        .block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_round_trip_and_tamper_detection() {
        let dir = std::env::temp_dir().join(format!("tessera-blobs-{}", std::process::id()));
        let store = DirStore::open(&dir).unwrap();
        let h = store.put(b"hello").unwrap();
        assert_eq!(h, hash(b"hello"));
        assert_eq!(store.get(&h).unwrap().unwrap(), b"hello");
        assert!(store.get(&hash(b"other")).unwrap().is_none());
        let uri = store.uri(&h);
        assert_eq!(block_on(fetch(&uri, &h)).unwrap(), b"hello");
        std::fs::write(store.path(&h), b"hellO").unwrap();
        let err = store.get(&h).unwrap_err().to_string();
        assert!(err.contains("does not match its hash"), "{err}");
        let err = block_on(fetch(&uri, &h)).unwrap_err().to_string();
        assert!(err.contains("does not match its hash"), "{err}");
        assert!(block_on(fetch("ftp://x/y", &h)).is_err());
        assert!(parse_hash("zz").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_puts_of_the_same_blob_all_succeed() {
        let dir = std::env::temp_dir().join(format!("tessera-blobs-par-{}", std::process::id()));
        let store = DirStore::open(&dir).unwrap();
        let data = vec![7u8; 256 * 1024];
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| store.put(&data).unwrap());
            }
        });
        assert_eq!(store.get(&hash(&data)).unwrap().unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
