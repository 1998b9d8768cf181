//! Where blobs are put and fetched from: a blob server over HTTP, a directory, or an object
//! store ([`BlobTarget`]); fetching any blob URI with its hash checked.
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use solana_sdk::signature::Keypair;

use crate::dir::DirStore;
use crate::fetch_policy::{FetchPolicy, Fetcher};
use crate::id::{hash, hex};
use crate::object::{self, ObjectTarget, StoreError};
use crate::{files, http};

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

impl FetchPolicy {
    /// Allows the blob store a node publishes to: a blob server's exact host and port, a
    /// blob directory, or an object store's bucket and prefix. (Here, not in the fetch
    /// policy's module, so that the policy does not depend on the targets that use it.)
    pub fn allow_blob_store(self, target: &BlobTarget) -> anyhow::Result<Self> {
        match target {
            BlobTarget::Http { base, .. } => self.allow_host(base),
            BlobTarget::Dir(d) => self.allow_dir(d.root()),
            BlobTarget::Object(o) => self.allow_store(o.url()),
        }
    }
}
