//! Blobs in object stores, through Apache Arrow's `object_store`: S3 and S3-compatible stores
//! (MinIO, Cloudflare R2, RustFS, Ceph…), Google Cloud Storage and Azure Blob Storage, chosen
//! by URL.
//!
//! A store is named `scheme://bucket[/prefix]` (`s3://`, `s3a://`, `gs://`, `az://`,
//! `azure://`, `abfs://`, `abfss://`); blob `<hash>` lives at `<prefix>/<hash hex>` and its
//! URI is `scheme://bucket/prefix/<hash hex>`. Credentials, endpoint and region come from the
//! environment, read the way each vendor's own tools read them (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …;
//! `GOOGLE_SERVICE_ACCOUNT`, …; `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, …),
//! or from options given to [`ObjectTarget::open`]. docs/STORAGE.md lists them.
//!
//! Uploads stream: a file is hashed in a first pass, then sent in parts of [`PART_SIZE`] (a
//! multipart upload, at most [`PARTS_IN_FLIGHT`] parts at once) and hashed again on the way; the
//! upload is committed only when both hashes agree, so a file that changes meanwhile never
//! lands under a wrong name. Downloads stream too ([`Located::stream`]); the byte cap and the
//! hash check are the downloader's ([`crate::fetch_policy::Fetcher`]). Requests are retried
//! with exponential backoff ([`retry_config`]).
//!
//! Every failure is a [`StoreError`] variant: an unreachable store, a misconfigured URL,
//! rejected credentials, a missing blob or bucket.
use std::collections::HashMap;
use std::error::Error as StdError;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload,
    RetryConfig, WriteMultipart,
};
use reqwest::Url;
use tokio::io::AsyncReadExt;

use crate::id::{hash, hex};

/// URL schemes of object stores.
pub const SCHEMES: [&str; 7] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss"];
/// Size of one part of a multipart upload (S3 wants at least 5 MiB but for the last).
pub const PART_SIZE: usize = 8 << 20;
/// Parts uploaded at the same time (memory: about this many + 1 parts).
pub const PARTS_IN_FLIGHT: usize = 4;
/// Longest one request may take: a part, a small blob, or a whole download's body (a stalled
/// download is cut off sooner by the downloader's idle timeout). `AWS_TIMEOUT`,
/// `GOOGLE_TIMEOUT`, `AZURE_TIMEOUT` override it.
const REQUEST_TIMEOUT: &str = "3600s";
/// Longest wait for a connection.
const CONNECT_TIMEOUT: &str = "5s";

/// Why an object-store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("`{url}` is not a usable object store URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url}: the object store is unreachable ({detail}); check the endpoint (AWS_ENDPOINT_URL for an S3-compatible store) and that it is running")]
    Unreachable { url: String, detail: String },
    #[error("{url}: credentials rejected by the object store ({detail}); check the access key and secret (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for S3, or the store's own variables)")]
    CredentialsRejected { url: String, detail: String },
    #[error("{url}: the bucket `{bucket}` does not exist in the object store")]
    NoSuchBucket { url: String, bucket: String },
    #[error("{url}: no such blob in the object store")]
    NotFound { url: String },
    #[error("{url}: the object store failed: {detail}")]
    Failed { url: String, detail: String },
}

impl StoreError {
    /// A short label (metrics, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::BadUrl { .. } => "bad_store_url",
            StoreError::Unreachable { .. } => "store_unreachable",
            StoreError::CredentialsRejected { .. } => "credentials_rejected",
            StoreError::NoSuchBucket { .. } => "no_such_bucket",
            StoreError::NotFound { .. } => "not_found",
            StoreError::Failed { .. } => "store_failed",
        }
    }

    /// The URL or URI the error is about.
    pub fn url(&self) -> &str {
        match self {
            StoreError::BadUrl { url, .. }
            | StoreError::Unreachable { url, .. }
            | StoreError::CredentialsRejected { url, .. }
            | StoreError::NoSuchBucket { url, .. }
            | StoreError::NotFound { url }
            | StoreError::Failed { url, .. } => url,
        }
    }

    pub(crate) fn with_url(mut self, new: &str) -> Self {
        match &mut self {
            StoreError::BadUrl { url, .. }
            | StoreError::Unreachable { url, .. }
            | StoreError::CredentialsRejected { url, .. }
            | StoreError::NoSuchBucket { url, .. }
            | StoreError::NotFound { url }
            | StoreError::Failed { url, .. } => *url = new.to_string(),
        }
        self
    }

    fn bad(url: &str, reason: impl Into<String>) -> Self {
        StoreError::BadUrl {
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    /// Names what went wrong in an `object_store` error about `url` (in `bucket`).
    fn classify(url: &str, bucket: &str, e: &object_store::Error) -> Self {
        let url = url.to_string();
        let detail = chain(e);
        // S3 answers a wrong key id, a wrong secret or a missing permission with 403 and a
        // code in the body; other stores with 401/403.
        let credentials = [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
        ]
        .iter()
        .any(|c| detail.contains(c));
        if credentials
            || matches!(
                e,
                object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            )
        {
            return StoreError::CredentialsRejected { url, detail };
        }
        if detail.contains("NoSuchBucket") || detail.contains("ContainerNotFound") {
            return StoreError::NoSuchBucket {
                url,
                bucket: bucket.to_string(),
            };
        }
        if matches!(e, object_store::Error::NotFound { .. }) {
            return StoreError::NotFound { url };
        }
        if is_connect(e) {
            return StoreError::Unreachable { url, detail };
        }
        StoreError::Failed { url, detail }
    }
}

/// The whole chain of an error's messages.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        let t = x.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = x.source();
    }
    s
}

/// True when the error is a failure to connect (refused, no route, DNS), after retries.
fn is_connect(e: &(dyn StdError + 'static)) -> bool {
    let mut src: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(x) = src {
        if let Some(h) = x.downcast_ref::<HttpError>() {
            if h.kind() == HttpErrorKind::Connect {
                return true;
            }
        }
        if x.downcast_ref::<reqwest::Error>()
            .is_some_and(|r| r.is_connect())
        {
            return true;
        }
        if let Some(io) = x.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable
            ) {
                return true;
            }
        }
        src = x.source();
    }
    false
}

/// True when `s` is written as an object-store URL (`s3://…`, `gs://…`, `az://…`).
pub fn is_object_url(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// How requests are retried: 4 retries, backoff from 100 ms doubling up to 5 s, 60 s at most
/// in all (then the error is reported).
pub fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    }
}

/// A parsed store URL: the store (scheme and bucket) and a path in it.
struct StoreUrl {
    /// `scheme://bucket`, the key of [`stores`].
    base: String,
    bucket: String,
    path: Path,
}

impl StoreUrl {
    fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        let u = Url::parse(url).map_err(|e| StoreError::bad(url, e.to_string()))?;
        let scheme = u.scheme().to_ascii_lowercase();
        if !SCHEMES.contains(&scheme.as_str()) {
            return Err(StoreError::bad(
                url,
                format!(
                    "unknown scheme `{scheme}` (object stores: {})",
                    SCHEMES.join(", ")
                ),
            ));
        }
        let bucket = u.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(StoreError::bad(
                url,
                format!("no bucket: write {scheme}://<bucket>/<prefix>"),
            ));
        }
        if u.query().is_some() || u.fragment().is_some() || u.port().is_some() {
            return Err(StoreError::bad(
                url,
                "a store URL has no port, query or fragment: the endpoint and credentials come from the environment",
            ));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(StoreError::bad(
                url,
                "credentials do not belong in the URL: set them in the environment",
            ));
        }
        // one leading and one trailing `/` go; `.`, `..` and empty segments are refused
        let path =
            Path::parse(u.path()).map_err(|e| StoreError::bad(url, format!("bad path: {e}")))?;
        Ok(StoreUrl {
            base: format!("{scheme}://{bucket}"),
            bucket,
            path,
        })
    }
}

/// `(scheme://bucket, path)` of a store URL or blob URI, checked (no network).
pub fn split(url: &str) -> Result<(String, String), StoreError> {
    let u = StoreUrl::parse(url)?;
    Ok((u.base, u.path.as_ref().to_string()))
}

type Stores = Mutex<HashMap<String, Arc<dyn ObjectStore>>>;

/// The stores opened so far in this process, by `scheme://bucket`: one client (and connection
/// pool) per bucket, shared by uploads and downloads.
fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// The store for `base`: the one opened before, else one configured from the environment.
fn store_for(base: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    if let Some(s) = stores().lock().expect("store table").get(base) {
        return Ok(s.clone());
    }
    let s = build(base, &[])?;
    Ok(stores()
        .lock()
        .expect("store table")
        .entry(base.to_string())
        .or_insert(s)
        .clone())
}

/// The environment (as each builder's `from_env` reads it, variables starting with
/// `$prefix`), with our request timeouts where the environment sets none (`object_store`'s
/// own 30 s would cut off any download or part that takes longer), then `options`.
macro_rules! layered {
    ($builder:ty, $key:ty, $prefix:literal, $base:expr, $options:expr) => {{
        let mut b = <$builder>::from_env();
        let in_env = |want: $key| {
            std::env::vars().any(|(k, _)| {
                k.starts_with($prefix)
                    && k.to_ascii_lowercase()
                        .parse::<$key>()
                        .is_ok_and(|got| got == want)
            })
        };
        for (k, v) in [
            (ClientConfigKey::Timeout, REQUEST_TIMEOUT),
            (ClientConfigKey::ConnectTimeout, CONNECT_TIMEOUT),
        ] {
            if !in_env(<$key>::Client(k)) {
                b = b.with_config(<$key>::Client(k), v);
            }
        }
        for (k, v) in $options {
            let key: $key = k
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| StoreError::bad($base, format!("unknown store option `{k}`")))?;
            b = b.with_config(key, v.as_str());
        }
        let store = b
            .with_url($base)
            .with_retry(retry_config())
            .build()
            .map_err(|e| StoreError::bad($base, chain(&e)))?;
        Arc::new(store) as Arc<dyn ObjectStore>
    }};
}

fn build(base: &str, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let u = Url::parse(base).map_err(|e| StoreError::bad(base, e.to_string()))?;
    let (scheme, _) = ObjectStoreScheme::parse(&u).map_err(|e| StoreError::bad(base, chain(&e)))?;
    Ok(match scheme {
        ObjectStoreScheme::AmazonS3 => {
            layered!(AmazonS3Builder, AmazonS3ConfigKey, "AWS_", base, options)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            layered!(
                GoogleCloudStorageBuilder,
                GoogleConfigKey,
                "GOOGLE_",
                base,
                options
            )
        }
        ObjectStoreScheme::MicrosoftAzure => {
            layered!(
                MicrosoftAzureBuilder,
                AzureConfigKey,
                "AZURE_",
                base,
                options
            )
        }
        other => return Err(StoreError::bad(base, format!("{other:?} is not supported"))),
    })
}

/// A blob in an object store, found by its URI (`s3://bucket/prefix/<hash>`), for reading.
pub struct Located {
    uri: String,
    bucket: String,
    store: Arc<dyn ObjectStore>,
    path: Path,
}

/// Finds the store of `uri` (opening it from the environment the first time); touches no
/// network.
pub fn locate(uri: &str) -> Result<Located, StoreError> {
    let u = StoreUrl::parse(uri)?;
    if u.path.as_ref().is_empty() {
        return Err(StoreError::bad(uri, "no object path after the bucket"));
    }
    Ok(Located {
        uri: uri.to_string(),
        store: store_for(&u.base)?,
        bucket: u.bucket,
        path: u.path,
    })
}

impl Located {
    /// The object's size, from its metadata (a HEAD request; no byte of the body).
    pub async fn size(&self) -> Result<u64, StoreError> {
        match self.store.head(&self.path).await {
            Ok(meta) => Ok(meta.size),
            // A HEAD answer has no body, so a missing bucket looks like a missing object: a
            // GET's error body says which (its own body is never read).
            Err(object_store::Error::NotFound { .. }) => match self.store.get(&self.path).await {
                Ok(got) => Ok(got.meta.size),
                Err(e) => Err(StoreError::classify(&self.uri, &self.bucket, &e)),
            },
            Err(e) => Err(StoreError::classify(&self.uri, &self.bucket, &e)),
        }
    }

    /// The object's body as a stream, with the size its response announces.
    pub async fn stream(
        &self,
    ) -> Result<(u64, BoxStream<'static, Result<Bytes, StoreError>>), StoreError> {
        let got = self
            .store
            .get(&self.path)
            .await
            .map_err(|e| StoreError::classify(&self.uri, &self.bucket, &e))?;
        let size = got.meta.size;
        let (uri, bucket) = (self.uri.clone(), self.bucket.clone());
        let stream = got
            .into_stream()
            .map(move |r| r.map_err(|e| StoreError::classify(&uri, &bucket, &e)))
            .boxed();
        Ok((size, stream))
    }
}

/// A bucket (and prefix) blobs are published to: `BlobTarget::Object`.
#[derive(Clone)]
pub struct ObjectTarget {
    /// `scheme://bucket[/prefix]`, without a trailing slash.
    url: String,
    bucket: String,
    prefix: Path,
    store: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for ObjectTarget {
    // the store's own Debug would print its configuration, credentials included
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectTarget")
            .field("url", &self.url)
            .finish()
    }
}

impl ObjectTarget {
    /// Opens `scheme://bucket[/prefix]` configured from the environment (or as an earlier
    /// [`ObjectTarget::open`] in this process configured that bucket). Touches no network:
    /// a wrong endpoint or credentials show at the first request.
    pub fn parse(url: &str) -> Result<ObjectTarget, StoreError> {
        let u = Self::check(url)?;
        let store = store_for(&u.base)?;
        Ok(Self::from_parts(u, store))
    }

    /// Opens `url` with explicit `options` on top of the environment (the keys of
    /// `object_store`'s builders: `aws_endpoint`, `aws_access_key_id`, `aws_allow_http`,
    /// `google_service_account`, `azure_storage_account_name`, …). The bucket's store is then
    /// this one for the whole process: downloads of its blobs ([`locate`]) use it too.
    pub fn open(url: &str, options: &[(&str, &str)]) -> Result<ObjectTarget, StoreError> {
        let u = Self::check(url)?;
        let options: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let store = build(&u.base, &options)?;
        stores()
            .lock()
            .expect("store table")
            .insert(u.base.clone(), store.clone());
        Ok(Self::from_parts(u, store))
    }

    /// Checks a store URL's syntax (scheme, bucket, prefix, length) without opening it.
    fn check(url: &str) -> Result<StoreUrl, StoreError> {
        let u = StoreUrl::parse(url)?;
        let target = Self::url_of(&u);
        let longest = target.len() + 1 + 64;
        if longest > tessera_sdk::constants::MAX_URI_LEN {
            return Err(StoreError::bad(
                url,
                format!(
                    "blob URIs here would be {longest} bytes; a job's URIs hold at most {} (use a shorter bucket or prefix)",
                    tessera_sdk::constants::MAX_URI_LEN
                ),
            ));
        }
        Ok(u)
    }

    /// Checks a store URL's syntax, for config files.
    pub fn validate(url: &str) -> Result<(), StoreError> {
        Self::check(url).map(|_| ())
    }

    fn url_of(u: &StoreUrl) -> String {
        match u.path.as_ref() {
            "" => u.base.clone(),
            p => format!("{}/{p}", u.base),
        }
    }

    fn from_parts(u: StoreUrl, store: Arc<dyn ObjectStore>) -> ObjectTarget {
        ObjectTarget {
            url: Self::url_of(&u),
            bucket: u.bucket,
            prefix: u.path,
            store,
        }
    }

    /// `scheme://bucket[/prefix]`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URI of the blob with hash `h` (whether or not it is there).
    pub fn uri_of(&self, h: &[u8; 32]) -> String {
        format!("{}/{}", self.url, hex(h))
    }

    fn path_of(&self, h: &[u8; 32]) -> Path {
        self.prefix.clone().join(hex(h))
    }

    fn err(&self, h: &[u8; 32], e: &object_store::Error) -> StoreError {
        StoreError::classify(&self.uri_of(h), &self.bucket, e)
    }

    /// True when the blob is there with this size (content-addressed: then it need not be
    /// sent again; readers check the hash of whatever they get).
    async fn present(&self, h: &[u8; 32], size: u64) -> Result<bool, StoreError> {
        match self.store.head(&self.path_of(h)).await {
            Ok(meta) => Ok(meta.size == size),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => match self.err(h, &e) {
                StoreError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Stores `bytes`; returns their hash. One request up to [`PART_SIZE`], a multipart
    /// upload above.
    pub async fn put(&self, bytes: &[u8]) -> Result<[u8; 32], StoreError> {
        let h = hash(bytes);
        if self.present(&h, bytes.len() as u64).await? {
            return Ok(h);
        }
        let path = self.path_of(&h);
        if bytes.len() <= PART_SIZE {
            let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
            self.store
                .put(&path, payload)
                .await
                .map_err(|e| self.err(&h, &e))?;
            return Ok(h);
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.err(&h, &e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        for part in bytes.chunks(PART_SIZE) {
            if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = w.abort().await;
                return Err(self.err(&h, &e));
            }
            w.write(part);
        }
        w.finish().await.map_err(|e| self.err(&h, &e))?;
        Ok(h)
    }

    /// Stores the file at `file`, streamed (never more than a few parts in memory); returns
    /// its hash. The upload is committed only if the file still hashes the same at its end.
    pub async fn put_file(&self, file: &FsPath) -> anyhow::Result<[u8; 32]> {
        let (h, size) = super::files::hash_file(file).await?;
        if self.present(&h, size).await? {
            return Ok(h);
        }
        let read_err = || format!("reading {}", file.display());
        let mut f = tokio::fs::File::open(file).await.with_context(read_err)?;
        let path = self.path_of(&h);
        let changed = || {
            anyhow::anyhow!(
                "{} changed while it was being uploaded; nothing was stored",
                file.display()
            )
        };
        if size as usize <= PART_SIZE {
            let mut buf = Vec::with_capacity(size as usize);
            (&mut f)
                .take(PART_SIZE as u64 + 1)
                .read_to_end(&mut buf)
                .await
                .with_context(read_err)?;
            if hash(&buf) != h {
                return Err(changed());
            }
            self.store
                .put(&path, PutPayload::from(Bytes::from(buf)))
                .await
                .map_err(|e| self.err(&h, &e))?;
            return Ok(h);
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| self.err(&h, &e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = blake3::Hasher::new();
        let mut sent = 0u64;
        let outcome: anyhow::Result<()> = async {
            loop {
                let mut part = BytesMut::with_capacity(PART_SIZE);
                while part.len() < PART_SIZE {
                    if f.read_buf(&mut part).await.with_context(read_err)? == 0 {
                        break;
                    }
                }
                if part.is_empty() {
                    break;
                }
                hasher.update(&part);
                sent += part.len() as u64;
                w.wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.err(&h, &e))?;
                w.put(part.freeze());
            }
            if sent != size || *hasher.finalize().as_bytes() != h {
                return Err(changed());
            }
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            let _ = w.abort().await;
            return Err(e);
        }
        w.finish().await.map_err(|e| self.err(&h, &e))?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(msg: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: msg.to_string().into(),
        }
    }

    #[test]
    fn store_errors_are_named_by_what_went_wrong() {
        let u = "s3://b/p/x";
        let c = |e: object_store::Error| StoreError::classify(u, "b", &e);
        for body in [
            "Server returned non-2xx status code: 403 Forbidden: <Code>InvalidAccessKeyId</Code>",
            "Server returned non-2xx status code: 403 Forbidden: <Code>SignatureDoesNotMatch</Code>",
            "<Code>AccessDenied</Code>",
        ] {
            assert!(
                matches!(c(generic(body)), StoreError::CredentialsRejected { .. }),
                "{body}"
            );
        }
        let denied = object_store::Error::PermissionDenied {
            path: "p/x".into(),
            source: "403".into(),
        };
        assert!(matches!(c(denied), StoreError::CredentialsRejected { .. }));
        assert_eq!(
            c(generic("404 Not Found: <Code>NoSuchBucket</Code>")),
            StoreError::NoSuchBucket {
                url: u.into(),
                bucket: "b".into()
            }
        );
        let missing = object_store::Error::NotFound {
            path: "p/x".into(),
            source: "404".into(),
        };
        assert_eq!(c(missing), StoreError::NotFound { url: u.into() });
        // a refused connection, however deep in the chain
        let refused = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Connect,
                std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            )),
        };
        let e = c(refused);
        assert!(matches!(e, StoreError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("unreachable"), "{e}");
        assert!(matches!(
            c(generic("500 Internal Server Error")),
            StoreError::Failed { .. }
        ));
        assert_eq!(
            StoreError::NotFound { url: u.into() }
                .with_url("s3://b/q")
                .url(),
            "s3://b/q"
        );
    }

    #[test]
    fn store_urls_parse_to_bucket_and_prefix() {
        assert!(is_object_url("s3://b/p") && is_object_url("GS://b") && is_object_url("az://c"));
        assert!(!is_object_url("http://h/x") && !is_object_url("/dir") && !is_object_url("s3:/x"));
        assert_eq!(
            split("s3://bucket/a/b/").unwrap(),
            ("s3://bucket".to_string(), "a/b".to_string())
        );
        assert_eq!(
            split("gs://bucket").unwrap(),
            ("gs://bucket".to_string(), String::new())
        );
        let t = ObjectTarget::parse("s3://bucket/a/b/").unwrap();
        assert_eq!(t.url(), "s3://bucket/a/b");
        assert_eq!(
            t.uri_of(&[0xab; 32]),
            format!("s3://bucket/a/b/{}", "ab".repeat(32))
        );
        assert_eq!(
            format!("{t:?}"),
            "ObjectTarget { url: \"s3://bucket/a/b\" }"
        );
        for (bad, why) in [
            ("s3://", "no bucket"),
            ("s3://b/x//y", "bad path"),
            ("s3://b:1/x", "no port"),
            ("s3://u:p@b/x", "credentials"),
            ("s5://b/x", "unknown scheme"),
        ] {
            match split(bad) {
                Err(StoreError::BadUrl { reason, .. }) => {
                    assert!(reason.contains(why), "{bad}: {reason}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
