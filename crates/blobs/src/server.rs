//! The built-in blob server (`tessera blobs serve`): content-addressed, streaming, and safe to
//! expose.
//!
//! - `PUT /blobs/<hash>` streams the body to a temporary file in the store while hashing it,
//!   and only a body that hashes to the name is fsynced and renamed into place. A body larger
//!   than the cap is refused before it is read (by its `Content-Length`) or as soon as it passes
//!   the cap. Uploads are signed (see [`super::auth`]) by a key of the allow-list (see
//!   [`super::allow`]) and charged to it (see [`super::quota`]), unless the server runs
//!   [`Uploads::Open`].
//! - `GET`/`HEAD /blobs/<hash>` stream from disk (tower-http's `ServeFile`: `Range`,
//!   `If-Modified-Since`) with a strong `ETag` (`"<hash>"`, so `If-None-Match` gives 304). The
//!   server does not re-hash on reads: the hash was checked at write, and every reader re-hashes
//!   what it gets anyway.
//! - `GET /health`.
//!
//! Refusals are [`Refusal`]s: a status and a body `<code>: <message>`.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use solana_sdk::pubkey::Pubkey;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::allow::AllowList;
use super::auth::{unix_now, UploadAuth};
use super::gc::{self, ReferenceSource};
use super::quota::Ledger;
use super::refusal::Refusal;
use crate::dir::DirStore;
use crate::id::{hex, parse_hash, MAX_BLOB_BYTES};

/// Who may upload.
pub enum Uploads {
    /// Anyone, unsigned (`--open`): for a demo on one machine only.
    Open,
    /// Signed uploads by keys of the allow-list.
    Signed(Box<AllowList>),
}

/// The server's policy.
pub struct ServerConfig {
    pub uploads: Uploads,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Bytes each signer may store (`None`: no limit).
    pub quota_bytes: Option<u64>,
    /// How far ahead an upload signature's expiry may lie, in seconds.
    pub max_expiry_ahead_secs: u64,
    /// A built web page (`web/dist`) served at `/` beside the blobs, so the page uploads to
    /// its own origin (`tessera blobs serve --web`); unknown paths get its `index.html`.
    pub web_root: Option<std::path::PathBuf>,
}

impl ServerConfig {
    /// Signed uploads by `allow`, with the default cap ([`MAX_BLOB_BYTES`]), no quota and
    /// signatures valid for at most an hour.
    pub fn signed(allow: AllowList) -> Self {
        ServerConfig {
            uploads: Uploads::Signed(Box::new(allow)),
            max_blob_bytes: MAX_BLOB_BYTES as u64,
            quota_bytes: None,
            max_expiry_ahead_secs: 3600,
            web_root: None,
        }
    }

    /// Unsigned uploads by anyone (local demos only).
    pub fn open() -> Self {
        ServerConfig {
            uploads: Uploads::Open,
            ..Self::signed(AllowList::default())
        }
    }
}

/// Garbage collection (see [`gc`]).
pub struct GcConfig {
    pub every: Duration,
    pub grace: Duration,
    pub dry_run: bool,
    pub source: Arc<dyn ReferenceSource>,
}

struct AppState {
    store: DirStore,
    cfg: ServerConfig,
    ledger: Ledger,
    seq: AtomicU64,
    /// Held from "is it stored already?" to its owner record, so that concurrent uploads of
    /// the same bytes store (and charge) it once.
    finishing: tokio::sync::Mutex<()>,
}

/// The blob server's routes over `store` under `cfg`.
pub fn router(store: DirStore, cfg: ServerConfig) -> Result<Router> {
    Ok(router_with(Arc::new(app_state(store, cfg)?)))
}

fn app_state(store: DirStore, cfg: ServerConfig) -> Result<AppState> {
    Ok(AppState {
        ledger: Ledger::open(store.root())?,
        store,
        cfg,
        seq: AtomicU64::new(0),
        finishing: tokio::sync::Mutex::new(()),
    })
}

fn router_with(state: Arc<AppState>) -> Router {
    let web = state.cfg.web_root.clone();
    let router = Router::new()
        .route("/blobs/{hash}", get(get_blob).put(put_blob))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    match web {
        Some(dir) => router.fallback_service(
            tower_http::services::ServeDir::new(&dir)
                .fallback(ServeFile::new(dir.join("index.html"))),
        ),
        None => router,
    }
}

async fn get_blob(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    req: Request,
) -> Result<Response, Refusal> {
    let h = parse_hash(&name).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let path = st.store.path(&h);
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(Refusal::NotFound(format!("no blob {}", hex(&h))));
    }
    let etag = HeaderValue::from_str(&format!("\"{}\"", hex(&h))).expect("hex is a header value");
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH) {
        if etag_matches(inm, &etag) {
            let mut res = StatusCode::NOT_MODIFIED.into_response();
            res.headers_mut().insert(header::ETAG, etag);
            return Ok(res);
        }
    }
    let mut res = match ServeFile::new(&path).oneshot(req).await {
        Ok(res) => res.map(Body::new),
        Err(never) => match never {},
    };
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let hd = res.headers_mut();
        hd.insert(header::ETAG, etag);
        hd.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    Ok(res)
}

/// `If-None-Match` against a strong ETag (weak comparison, as RFC 9110 says for this header).
fn etag_matches(header: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = header.to_str() else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    list.split(',')
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == ours)
}

async fn put_blob(
    State(st): State<Arc<AppState>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, String), Refusal> {
    let cap = st.cfg.max_blob_bytes;
    let (h, owner, exact) = match check_upload(&st, &name, &headers).await {
        Ok(v) => v,
        Err(refusal) => {
            // Read the body away (bounded) before answering: a server that answers and closes
            // while the client is still sending makes the client see a broken connection
            // instead of the named refusal.
            let declared = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(cap);
            drain(body, declared.min(cap.saturating_add(EARLY_REFUSAL_DRAIN))).await;
            return Err(refusal);
        }
    };
    store_upload(&st, h, owner, exact, body).await
}

/// Bytes past the largest blob a refused upload's body is still read for.
const EARLY_REFUSAL_DRAIN: u64 = 1 << 20;

/// The checks made before an upload's body is read: its name, size, signature and signer.
/// Returns (hash, who is charged, bytes the body must have exactly).
async fn check_upload(
    st: &Arc<AppState>,
    name: &str,
    headers: &HeaderMap,
) -> Result<([u8; 32], Option<Pubkey>, Option<u64>), Refusal> {
    let h = parse_hash(name).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let cap = st.cfg.max_blob_bytes;
    let length = match headers.get(header::CONTENT_LENGTH) {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Refusal::BadRequest("malformed Content-Length".into()))?,
        ),
        None => None,
    };
    if let Some(n) = length.filter(|&n| n > cap) {
        return Err(too_large(n, cap));
    }
    // (who is charged, bytes the body must have exactly)
    Ok(match &st.cfg.uploads {
        Uploads::Open => (h, None, None),
        Uploads::Signed(_) => {
            let auth = UploadAuth::from_headers(headers)?.ok_or_else(|| {
                Refusal::MissingSignature(
                    "uploads to this server must be signed (x-tessera-signer, x-tessera-expiry, x-tessera-signature)"
                        .into(),
                )
            })?;
            let size = length.ok_or_else(|| {
                Refusal::BadRequest(
                    "a signed upload needs a Content-Length (the signed size)".into(),
                )
            })?;
            auth.verify(&h, size, unix_now(), st.cfg.max_expiry_ahead_secs)?;
            let signer = auth.signer;
            let st2 = st.clone();
            tokio::task::spawn_blocking(move || match &st2.cfg.uploads {
                Uploads::Signed(allow) => allow.check(&signer),
                Uploads::Open => Ok(()),
            })
            .await
            .map_err(|e| Refusal::Internal(e.to_string()))??;
            (h, Some(signer), Some(size))
        }
    })
}

/// Stores a checked upload's body under its hash (or renews a blob already stored).
async fn store_upload(
    st: &Arc<AppState>,
    h: [u8; 32],
    owner: Option<Pubkey>,
    exact: Option<u64>,
    body: Body,
) -> Result<(StatusCode, String), Refusal> {
    let cap = st.cfg.max_blob_bytes;
    let path = st.store.path(&h);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        // Already stored: renew its age (garbage collection's grace) and read the body away.
        let p = path.clone();
        let _ = tokio::task::spawn_blocking(move || {
            std::fs::File::options()
                .write(true)
                .open(&p)
                .and_then(|f| f.set_modified(SystemTime::now()))
        })
        .await;
        drain(body, exact.unwrap_or(cap)).await;
        return Ok((StatusCode::OK, hex(&h)));
    }
    let reservation = match (&owner, exact) {
        (Some(s), Some(size)) => Some(st.ledger.reserve(s, size, st.cfg.quota_bytes)?),
        _ => None,
    };
    let seq = st.seq.fetch_add(1, Ordering::Relaxed);
    let mut tmp = TempFile {
        path: st.store.root().join(format!(
            ".upload.{}.{}.{seq}.tmp",
            hex(&h),
            std::process::id()
        )),
        armed: true,
    };
    let got = receive(body, &tmp.path, exact.unwrap_or(cap), exact.is_some()).await?;
    if let Some(size) = exact.filter(|&s| s != got.1) {
        return Err(Refusal::BadRequest(format!(
            "the body is {} bytes, the signed size {size}",
            got.1
        )));
    }
    if got.0 != h {
        return Err(Refusal::HashMismatch(format!(
            "the body ({} bytes) hashes to {}, not to its name {}",
            got.1,
            hex(&got.0),
            hex(&h)
        )));
    }
    let _finishing = st.finishing.lock().await;
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        // stored meanwhile by a concurrent upload of the same bytes (its reservation is
        // dropped: the blob is charged to the one that stored it)
        return Ok((StatusCode::OK, hex(&h)));
    }
    tokio::fs::rename(&tmp.path, &path)
        .await
        .map_err(|e| io_refusal(e, "storing the blob"))?;
    tmp.armed = false;
    if let (Some(signer), Some(r)) = (owner, reservation) {
        st.ledger
            .record(&h, &signer, got.1)
            .map_err(|e| io_refusal(e, "recording the blob's owner"))?;
        r.keep();
    }
    Ok((StatusCode::CREATED, hex(&h)))
}

/// Streams `body` into a new file at `tmp` while hashing it; refuses once it passes `limit`
/// (413 for the cap; 400 when `limit` is a signed size). Returns (hash, bytes) after fsync.
async fn receive(
    body: Body,
    tmp: &std::path::Path,
    limit: u64,
    signed: bool,
) -> Result<([u8; 32], u64), Refusal> {
    let file = tokio::fs::File::create(tmp)
        .await
        .map_err(|e| io_refusal(e, "creating the upload file"))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = blake3::Hasher::new();
    let mut n: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Refusal::BadRequest(format!("the upload broke off: {e}")))?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(if signed {
                Refusal::BadRequest(format!("the body is longer than the signed size {limit}"))
            } else {
                Refusal::TooLarge(format!(
                    "stopped reading at {limit} bytes, this server's largest blob"
                ))
            });
        }
        hasher.update(&chunk);
        out.write_all(&chunk)
            .await
            .map_err(|e| io_refusal(e, "writing the upload"))?;
    }
    out.flush()
        .await
        .map_err(|e| io_refusal(e, "writing the upload"))?;
    out.into_inner()
        .sync_all()
        .await
        .map_err(|e| io_refusal(e, "syncing the upload"))?;
    Ok((*hasher.finalize().as_bytes(), n))
}

/// Reads and discards up to `limit` bytes of a body (the client sends it anyway).
async fn drain(body: Body, limit: u64) {
    let mut n = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        n += chunk.len() as u64;
        if n > limit {
            break;
        }
    }
}

fn too_large(n: u64, cap: u64) -> Refusal {
    Refusal::TooLarge(format!(
        "the blob is {n} bytes, this server takes at most {cap}"
    ))
}

fn io_refusal(e: std::io::Error, what: &str) -> Refusal {
    if e.kind() == std::io::ErrorKind::StorageFull {
        Refusal::Quota(format!("{what}: the server's disk is full"))
    } else {
        Refusal::Internal(format!("{what}: {e}"))
    }
}

/// A temporary upload file, removed unless it was renamed into place.
struct TempFile {
    path: std::path::PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Serves `store` on `addr` under `cfg` until `shutdown` resolves, collecting garbage as `gc`
/// says.
pub async fn serve(
    store: DirStore,
    cfg: ServerConfig,
    gc: Option<GcConfig>,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    if matches!(cfg.uploads, Uploads::Open) {
        eprintln!(
            "WARNING: blob server in --open mode: ANYONE who can reach {addr} may upload, unsigned and without quota. Use it for a local demo only."
        );
    }
    let state = Arc::new(app_state(store, cfg)?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the blob server to {addr}: is the port in use?"))?;
    if let Some(gc) = gc {
        tokio::spawn(collect_garbage(state.clone(), gc));
    }
    axum::serve(listener, router_with(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("blob server")
}

/// Runs a garbage collection pass every `gc.every`, logging what it deleted.
async fn collect_garbage(st: Arc<AppState>, gc: GcConfig) {
    let mut tick = tokio::time::interval(gc.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (st, source) = (st.clone(), gc.source.clone());
        let (grace, dry) = (gc.grace, gc.dry_run);
        let pass = tokio::task::spawn_blocking(move || {
            gc::run_pass(&st.store, source.as_ref(), Some(&st.ledger), grace, dry)
        })
        .await;
        match pass {
            Ok(Ok(r)) => {
                let verb = if r.dry_run { "would delete" } else { "deleted" };
                for (h, size, age) in &r.deleted {
                    eprintln!(
                        "blob server gc: {verb} {} ({size} bytes, unreferenced, {} s old)",
                        hex(h),
                        age.as_secs()
                    );
                }
                let bytes: u64 = r.deleted.iter().map(|d| d.1).sum();
                eprintln!(
                    "blob server gc: {verb} {} blob(s), {bytes} bytes; {} kept; {} stale upload file(s)",
                    r.deleted.len(),
                    r.kept,
                    r.stale_temp_files
                );
            }
            Ok(Err(e)) => eprintln!("blob server gc: pass skipped: {e:#}"),
            Err(e) => eprintln!("blob server gc: pass failed: {e}"),
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
