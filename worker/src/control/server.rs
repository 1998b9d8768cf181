//! The control API's routes, and serving them on the unix socket.
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::health::Verdict;
use super::Control;

/// `GET /health`: 503 when unhealthy, else 200; the body is the JSON [`super::health::Health`].
async fn health(State(ctl): State<Arc<Control>>) -> Response {
    let h = ctl.health();
    let code = if h.status == Verdict::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(h)).into_response()
}

async fn status(State(ctl): State<Arc<Control>>) -> Response {
    match ctl.status() {
        Ok(s) => Json(s).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading the journal: {e:#}"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct DrainParams {
    /// Stop the daemon once drained.
    #[serde(default)]
    exit: bool,
    /// Stop draining: take jobs again.
    #[serde(default)]
    cancel: bool,
}

/// `POST /drain[?exit=true|?cancel=true]`: answers the status after the change (500 naming
/// the file when the change could not be recorded, and nothing changed).
async fn drain(State(ctl): State<Arc<Control>>, Query(p): Query<DrainParams>) -> Response {
    if let Err(e) = ctl.drain(p.exit, p.cancel) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response();
    }
    status(State(ctl)).await
}

/// `/health` alone, for the metrics listener.
pub fn health_router(ctl: Arc<Control>) -> Router {
    Router::new().route("/health", get(health)).with_state(ctl)
}

fn control_router(ctl: Arc<Control>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/drain", post(drain))
        .with_state(ctl)
}

/// Serves the control API on the unix socket `path` (mode 0600) until `shutdown`, then
/// removes it. A socket file left by a daemon that died is replaced: the caller holds the
/// journal's lock, so no other daemon uses this state directory.
pub async fn serve_socket(
    ctl: Arc<Control>,
    path: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let path = path.as_path();
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing the old {}", path.display())),
    }
    let listener = tokio::net::UnixListener::bind(path).with_context(|| {
        format!(
            "binding the control socket {} (a unix socket path must be under 108 bytes: use a shorter storage_dir)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 600 {}", path.display()))?;
    }
    let res = axum::serve(listener, control_router(ctl))
        .with_graceful_shutdown(shutdown)
        .await
        .context("control socket server");
    let _ = std::fs::remove_file(path);
    res
}
