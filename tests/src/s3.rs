//! An S3-compatible server in this process, for the storage tests: `s3s-fs` (buckets are
//! directories under a root, objects files in them) behind `s3s`'s S3 protocol layer with
//! signature-v4 authentication (one access key), served with hyper on 127.0.0.1. Clients
//! reach it the way they reach any S3-compatible store: the endpoint and keys in the `AWS_*`
//! environment ([`S3Server::env`]) or as explicit options ([`S3Server::options`]).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "tessera-test-access";
/// Its secret.
pub const SECRET_KEY: &str = "tessera-test-secret-0123456789";
/// The region clients sign for.
pub const REGION: &str = "us-east-1";

/// A running server; stopped when dropped.
pub struct S3Server {
    pub addr: SocketAddr,
    /// The directory holding the buckets.
    pub root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Serves `root` (created) on a free port of 127.0.0.1, with `buckets` created (empty).
    pub fn start(root: &Path, buckets: &[&str]) -> Result<S3Server> {
        for b in buckets {
            std::fs::create_dir_all(root.join(b))
                .with_context(|| format!("creating bucket directory {b}"))?;
        }
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow!("s3s-fs: {e:?}"))?;
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3-test-server".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("s3 server runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("s3 server listener");
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        let socket = tokio::select! {
                            r = listener.accept() => match r {
                                Ok((s, _)) => s,
                                Err(_) => continue,
                            },
                            _ = &mut stopped => break,
                        };
                        let conn = http
                            .serve_connection(TokioIo::new(socket), service.clone())
                            .into_owned();
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                });
            })?;
        Ok(S3Server {
            addr,
            root: root
                .canonicalize()
                .with_context(|| format!("resolving {}", root.display()))?,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment an S3 client (the `tessera` CLI, a worker) needs to use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// The same as `object_store` options (`tessera_blobs::ObjectTarget::open`).
    pub fn options(&self) -> Vec<(&'static str, String)> {
        self.env()
            .into_iter()
            .map(|(k, v)| {
                let k = match k {
                    "AWS_ACCESS_KEY_ID" => "aws_access_key_id",
                    "AWS_SECRET_ACCESS_KEY" => "aws_secret_access_key",
                    "AWS_REGION" => "aws_region",
                    "AWS_ENDPOINT_URL" => "aws_endpoint",
                    _ => "aws_allow_http",
                };
                (k, v)
            })
            .collect()
    }

    /// The file holding object `key` of `bucket` (to tamper with it in tests).
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
