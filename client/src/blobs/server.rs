//! The built-in blob server (`tessera blobs serve`).
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use super::{parse_hash, verify, DirStore, MAX_BLOB_BYTES};

/// The blob server's routes: `GET /blobs/<hash>`, `PUT /blobs/<hash>` (the body must hash to
/// the name), `GET /health`.
pub fn router(store: DirStore) -> Router {
    Router::new()
        .route("/blobs/{hash}", get(get_blob).put(put_blob).head(get_blob))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BLOB_BYTES))
        .with_state(Arc::new(store))
}

async fn get_blob(
    State(store): State<Arc<DirStore>>,
    UrlPath(name): UrlPath<String>,
) -> std::result::Result<Vec<u8>, (StatusCode, String)> {
    let h = parse_hash(&name).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.get(&h)).await {
        Ok(Ok(Some(bytes))) => Ok(bytes),
        Ok(Ok(None)) => Err((StatusCode::NOT_FOUND, format!("no blob {name}"))),
        Ok(Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn put_blob(
    State(store): State<Arc<DirStore>>,
    UrlPath(name): UrlPath<String>,
    body: Bytes,
) -> std::result::Result<(StatusCode, String), (StatusCode, String)> {
    let h = parse_hash(&name).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    verify(&body, &h, "the upload").map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let store = store.clone();
    match tokio::task::spawn_blocking(move || store.put(&body)).await {
        Ok(Ok(_)) => Ok((StatusCode::CREATED, name)),
        Ok(Err(e)) => Err((StatusCode::INSUFFICIENT_STORAGE, format!("{e:#}"))),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// Serves `store` on `addr` until `shutdown` resolves.
pub async fn serve(
    store: DirStore,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the blob server to {addr}: is the port in use?"))?;
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await
        .context("blob server")
}

#[cfg(test)]
mod tests {
    use super::super::{block_on, fetch, hash, hex, http, BlobTarget};
    use super::*;

    #[test]
    fn http_server_checks_uploads_and_serves_verified_blobs() {
        let dir = std::env::temp_dir().join(format!("tessera-blobsrv-{}", std::process::id()));
        let store = DirStore::open(&dir).unwrap();
        block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, router(store)).await.unwrap() });
            let target = BlobTarget::parse(&format!("http://{addr}")).unwrap();
            let (h, uri) = target.put(b"input bytes").await.unwrap();
            assert_eq!(fetch(&uri, &h).await.unwrap(), b"input bytes");
            // wrong expected hash: refused
            assert!(fetch(&uri, &hash(b"x")).await.is_err());
            // an upload whose body does not match its name is refused
            let bad = format!("http://{addr}/blobs/{}", hex(&hash(b"a")));
            let resp = http::client().put(&bad).body("b").send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
            // missing blob: 404 surfaces as an error
            let missing = format!("http://{addr}/blobs/{}", hex(&hash(b"nope")));
            assert!(fetch(&missing, &hash(b"nope")).await.is_err());
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Sync callers (the CLI, the SDK's `Poster`) upload with one `block_on` per blob, from
    /// several threads. The HTTP client's pooled connections must outlive each call: a
    /// runtime per call dropped them and a later upload failed with "dispatch task is gone".
    #[test]
    fn sync_uploads_reuse_connections_across_calls_and_threads() {
        let dir = std::env::temp_dir().join(format!("tessera-blobsync-{}", std::process::id()));
        let store = DirStore::open(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    tx.send(listener.local_addr().unwrap()).unwrap();
                    axum::serve(listener, router(store)).await.unwrap()
                })
        });
        let addr = rx.recv().unwrap();
        let target = BlobTarget::parse(&format!("http://{addr}")).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let target = &target;
                s.spawn(move || {
                    for i in 0..50u8 {
                        let body = [t, i];
                        let (h, uri) = block_on(target.put(&body))
                            .unwrap_or_else(|e| panic!("upload {t}/{i}: {e:#}"));
                        assert_eq!(block_on(fetch(&uri, &h)).unwrap(), body);
                    }
                });
            }
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
