//! The command line's side of the control API: HTTP/1.1 (hyper) over the daemon's unix
//! socket. "No daemon" (no socket, or a socket nobody listens on) is an answer, not an error.
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::report::Status;

/// How long the command line waits for the daemon's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `method path` to the daemon at `sock`; `None` when no daemon listens there.
pub async fn request(sock: &Path, method: &str, path: &str) -> Result<Option<(u16, Bytes)>> {
    let stream = match tokio::net::UnixStream::connect(sock).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "cannot open the daemon's control socket {}: permission denied (run this as the daemon's user, e.g. `sudo -u tessera tessera-worker …`)",
            sock.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("connecting to {}", sock.display()))
        }
    };
    let exchange = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("control socket handshake")?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())?;
        let res = sender.send_request(req).await.context("control request")?;
        let code = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .context("control answer")?
            .to_bytes();
        anyhow::Ok((code, body))
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .with_context(|| {
            format!(
                "the daemon at {} did not answer in {} s",
                sock.display(),
                TIMEOUT.as_secs()
            )
        })?;
    match answer {
        Ok(a) => Ok(Some(a)),
        // the daemon stopped while it was being asked (a drained daemon exiting): no daemon
        Err(e) if went_away(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Did the connection end because the daemon went away (reset, closed mid-answer)?
fn went_away(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        }) || c
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_canceled() || h.is_closed())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A daemon that exits while `drain --exit` asks for its status (it accepts, then closes):
    /// "connection reset by peer" failed the command; it is the answer "no daemon".
    #[tokio::test]
    async fn a_daemon_that_goes_away_mid_request_is_no_daemon() {
        let dir = std::env::temp_dir().join(format!("tessera-ctl-gone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("control.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                drop(stream); // gone before answering
            }
        });
        assert!(request(&sock, "GET", "/status").await.unwrap().is_none());
        assert!(status(&sock).await.unwrap().is_none());
        server.await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A JSON answer, or the daemon's error.
async fn json<T: serde::de::DeserializeOwned>(
    sock: &Path,
    method: &str,
    path: &str,
) -> Result<Option<T>> {
    let Some((code, body)) = request(sock, method, path).await? else {
        return Ok(None);
    };
    if code != 200 {
        bail!(
            "the daemon answered {method} {path} with {code}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(Some(serde_json::from_slice(&body).with_context(|| {
        format!("the daemon's answer to {path} is not a status report")
    })?))
}

/// The running daemon's status; `None` when none runs.
pub async fn status(sock: &Path) -> Result<Option<Status>> {
    json(sock, "GET", "/status").await
}

/// Asks the daemon to drain (`exit`: and stop once drained; `cancel`: take jobs again).
pub async fn drain(sock: &Path, exit: bool, cancel: bool) -> Result<Option<Status>> {
    let q = if cancel {
        "/drain?cancel=true"
    } else if exit {
        "/drain?exit=true"
    } else {
        "/drain"
    };
    json(sock, "POST", q).await
}

/// Runs one of the above from synchronous code (the command line).
pub fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}
