//! The blob server over real HTTP: signed uploads, named refusals, caps, quotas, Range, ETag.
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use solana_sdk::{signature::Keypair, signer::Signer};

use super::super::allow::AllowList;
use super::super::auth::{unix_now, UploadAuth};
use super::*;
use crate::http;
use crate::id::{hash, hex};
use crate::refusal::UploadRefused;
use crate::target::{block_on, fetch, BlobTarget};

struct Server {
    addr: SocketAddr,
    store: DirStore,
    dir: PathBuf,
}

impl Server {
    fn start(name: &str, cfg: ServerConfig) -> Server {
        let dir =
            std::env::temp_dir().join(format!("tessera-blobsrv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DirStore::open(&dir).unwrap();
        let app = router(store.clone(), cfg).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    tx.send(listener.local_addr().unwrap()).unwrap();
                    axum::serve(listener, app).await.unwrap()
                })
        });
        Server {
            addr: rx.recv().unwrap(),
            store,
            dir,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn url(&self, h: &[u8; 32]) -> String {
        format!("{}/blobs/{}", self.base(), hex(h))
    }

    /// Nothing but the blobs in `keep` and the owner records: no other blob, no temp file.
    fn holds_only(&self, keep: &[[u8; 32]]) {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".owners")
            .collect();
        names.sort();
        let mut want: Vec<String> = keep.iter().map(hex).collect();
        want.sort();
        assert_eq!(names, want);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn refused(e: anyhow::Error) -> UploadRefused {
    e.downcast::<UploadRefused>()
        .unwrap_or_else(|e| panic!("not a refusal: {e:#}"))
}

/// Sends a raw PUT with the given signature headers; returns (status, body).
async fn raw_put(url: &str, auth: Option<&UploadAuth>, body: Vec<u8>) -> (StatusCode, String) {
    let mut req = http::client().put(url).body(body);
    if let Some(a) = auth {
        for (k, v) in a.headers() {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[test]
fn http_server_checks_uploads_and_serves_verified_blobs() {
    let kp = Arc::new(Keypair::new());
    let srv = Server::start(
        "basic",
        ServerConfig::signed(AllowList::keys([kp.pubkey()])),
    );
    block_on(async {
        let target = BlobTarget::parse(&srv.base())
            .unwrap()
            .signed_by(kp.clone());
        let (h, uri) = target.put(b"input bytes").await.unwrap();
        assert_eq!(fetch(&uri, &h).await.unwrap(), b"input bytes");
        // wrong expected hash: refused
        assert!(fetch(&uri, &hash(b"x")).await.is_err());
        // a signed upload whose body does not match its name is refused, nothing stored
        let named = hash(b"a");
        let auth = UploadAuth::sign_now(&kp, &named, 1);
        let (status, text) = raw_put(&srv.url(&named), Some(&auth), b"b".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.starts_with("hash_mismatch:"), "{text}");
        // missing blob: 404 surfaces as an error
        let missing = srv.url(&hash(b"nope"));
        assert!(fetch(&missing, &hash(b"nope")).await.is_err());
        // uploading it again is fine (and free)
        target.put(b"input bytes").await.unwrap();
        srv.holds_only(&[h]);
    });
}

#[test]
fn unauthorised_uploads_are_refused_by_name_and_store_nothing() {
    let (allowed, stranger) = (Arc::new(Keypair::new()), Arc::new(Keypair::new()));
    let srv = Server::start(
        "unauth",
        ServerConfig::signed(AllowList::keys([allowed.pubkey()])),
    );
    let body = b"some blob".to_vec();
    let h = hash(&body);
    let size = body.len() as u64;
    block_on(async {
        // no signature (the unsigned target)
        let e = refused(
            BlobTarget::parse(&srv.base())
                .unwrap()
                .put(&body)
                .await
                .unwrap_err(),
        );
        assert_eq!(
            (e.status, e.code.as_str()),
            (401, "missing_signature"),
            "{e}"
        );
        // forged: signed by the stranger, claiming to be the allowed key
        let mut forged = UploadAuth::sign_now(&stranger, &h, size);
        forged.signer = allowed.pubkey();
        let (status, text) = raw_put(&srv.url(&h), Some(&forged), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(text.starts_with("forged_signature:"), "{text}");
        // signed for another size
        let wrong_size = UploadAuth::sign_now(&allowed, &h, size + 1);
        let (status, text) = raw_put(&srv.url(&h), Some(&wrong_size), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(text.starts_with("forged_signature:"), "{text}");
        // expired
        let expired = UploadAuth::sign(&allowed, &h, size, unix_now() - 5);
        let (status, text) = raw_put(&srv.url(&h), Some(&expired), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(text.starts_with("signature_expired:"), "{text}");
        // too far ahead
        let far = UploadAuth::sign(&allowed, &h, size, unix_now() + 7200);
        let (status, text) = raw_put(&srv.url(&h), Some(&far), body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(text.contains("ahead"), "{text}");
        // a genuine signature by a key not on the allow-list
        let t = BlobTarget::parse(&srv.base())
            .unwrap()
            .signed_by(stranger.clone());
        let e = refused(t.put(&body).await.unwrap_err());
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "signer_not_allowed"),
            "{e}"
        );
        srv.holds_only(&[]);
        // and the allowed key may
        let t = BlobTarget::parse(&srv.base())
            .unwrap()
            .signed_by(allowed.clone());
        t.put(&body).await.unwrap();
        srv.holds_only(&[h]);
    });
}

#[test]
fn oversized_uploads_are_refused_without_storing_anything() {
    let kp = Arc::new(Keypair::new());
    let mut cfg = ServerConfig::signed(AllowList::keys([kp.pubkey()]));
    cfg.max_blob_bytes = 1024;
    let srv = Server::start("big", cfg);
    let mut open = ServerConfig::open();
    open.max_blob_bytes = 1024;
    let open = Server::start("big-open", open);
    let big = vec![3u8; 4096];
    let h = hash(&big);
    block_on(async {
        // refused by its Content-Length, before the body is read (and before the signature)
        let t = BlobTarget::parse(&srv.base())
            .unwrap()
            .signed_by(kp.clone());
        let e = refused(t.put(&big).await.unwrap_err());
        assert_eq!((e.status, e.code.as_str()), (413, "too_large"), "{e}");
        let e = refused(
            BlobTarget::parse(&srv.base())
                .unwrap()
                .put(&big)
                .await
                .unwrap_err(),
        );
        assert_eq!(e.status, 413, "{e}");
        // no Content-Length (a chunked stream): reading stops at the cap
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.chunks(512).map(|c| Ok(c.to_vec())).collect();
        let resp = http::client()
            .put(open.url(&h))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let text = resp.text().await.unwrap();
        assert!(
            text.starts_with("too_large: stopped reading at 1024"),
            "{text}"
        );
        // a signed body longer than its Content-Length cannot happen over HTTP/1.1; a signed
        // upload without one is refused
        let auth = UploadAuth::sign_now(&kp, &h, 10);
        let mut req = http::client()
            .put(srv.url(&h))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                vec![Ok::<_, std::io::Error>(vec![1u8; 10])],
            )));
        for (k, v) in auth.headers() {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp
            .text()
            .await
            .unwrap()
            .contains("needs a Content-Length"));
    });
    srv.holds_only(&[]);
    open.holds_only(&[]);
}

#[test]
fn quota_is_charged_per_signer_and_refused_by_name() {
    let (a, b) = (Arc::new(Keypair::new()), Arc::new(Keypair::new()));
    let mut cfg = ServerConfig::signed(AllowList::keys([a.pubkey(), b.pubkey()]));
    cfg.quota_bytes = Some(100);
    let srv = Server::start("quota", cfg);
    block_on(async {
        let ta = BlobTarget::parse(&srv.base()).unwrap().signed_by(a.clone());
        let tb = BlobTarget::parse(&srv.base()).unwrap().signed_by(b.clone());
        let (h60, _) = ta.put(&[1u8; 60]).await.unwrap();
        let e = refused(ta.put(&[2u8; 50]).await.unwrap_err());
        assert_eq!((e.status, e.code.as_str()), (507, "quota_exceeded"), "{e}");
        assert!(e.message.contains("quota of 100"), "{e}");
        // the same blob again costs nothing; another signer has its own quota
        ta.put(&[1u8; 60]).await.unwrap();
        let (h50, _) = tb.put(&[2u8; 50]).await.unwrap();
        ta.put(&[3u8; 40]).await.unwrap();
        let e = refused(ta.put(&[4u8; 1]).await.unwrap_err());
        assert_eq!(e.code, "quota_exceeded");
        assert!(srv.store.path(&h60).exists() && srv.store.path(&h50).exists());
    });
    // usage survives a restart (recomputed from the owner records)
    let ledger = Ledger::open(srv.store.root()).unwrap();
    assert_eq!(
        (ledger.used(&a.pubkey()), ledger.used(&b.pubkey())),
        (100, 50)
    );
}

/// Regression (bench, session 21): concurrent signed uploads of the same bytes all passed the
/// "already stored?" check, then raced on one temporary owner-record name, and the loser was
/// refused with a 500 ("recording the blob's owner: No such file or directory"). Every upload
/// of the same bytes succeeds, and the blob is charged once.
#[test]
fn concurrent_uploads_of_the_same_bytes_all_succeed_and_are_charged_once() {
    let (a, b) = (Arc::new(Keypair::new()), Arc::new(Keypair::new()));
    let mut cfg = ServerConfig::signed(AllowList::keys([a.pubkey(), b.pubkey()]));
    // (uploads in flight are charged until stored: room for all of them)
    cfg.quota_bytes = Some(16 << 20);
    let srv = Server::start("same-bytes", cfg);
    const ROUNDS: usize = 64;
    const SIZE: usize = 2_000;
    // many client threads, so the uploads really finish at the same moment
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        let body = vec![round as u8; SIZE];
        let h = hash(&body);
        let results = rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..32 {
                let kp = if i % 2 == 0 { a.clone() } else { b.clone() };
                let target = BlobTarget::parse(&srv.base()).unwrap().signed_by(kp);
                let body = body.clone();
                tasks.push(tokio::spawn(async move { target.put(&body).await }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        for r in results {
            let (got, _) = r.unwrap_or_else(|e| panic!("round {round}: {e:#}"));
            assert_eq!(got, h);
        }
        assert_eq!(std::fs::read(srv.store.path(&h)).unwrap(), body);
    }
    // each blob is charged once, to one of the two signers
    let ledger = Ledger::open(srv.store.root()).unwrap();
    assert_eq!(
        ledger.used(&a.pubkey()) + ledger.used(&b.pubkey()),
        (ROUNDS * SIZE) as u64
    );
    let owners = std::fs::read_dir(srv.dir.join(".owners")).unwrap().count();
    assert_eq!(
        owners, ROUNDS,
        "one owner record per blob, no temporary file left"
    );
}

#[test]
fn range_etag_and_head_are_served_from_disk() {
    let kp = Arc::new(Keypair::new());
    let srv = Server::start(
        "range",
        ServerConfig::signed(AllowList::keys([kp.pubkey()])),
    );
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    block_on(async {
        let t = BlobTarget::parse(&srv.base())
            .unwrap()
            .signed_by(kp.clone());
        let (h, uri) = t.put(&body).await.unwrap();
        let c = http::client();
        let resp = c
            .get(&uri)
            .header("range", "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(resp.headers()["content-range"], "bytes 100-199/10000");
        assert_eq!(resp.bytes().await.unwrap(), body[100..200]);

        let resp = c.get(&uri).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let etag = resp.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(etag, format!("\"{}\"", hex(&h)));
        assert_eq!(resp.bytes().await.unwrap(), body);
        let resp = c
            .get(&uri)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(resp.headers()["etag"], etag.as_str());
        let resp = c
            .get(&uri)
            .header("if-none-match", "\"other\"")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);

        let resp = c.head(&uri).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-length"], "10000");
        assert_eq!(resp.headers()["etag"], etag.as_str());
        assert!(resp.bytes().await.unwrap().is_empty());
    });
}

#[test]
fn files_stream_up_and_down() {
    let kp = Arc::new(Keypair::new());
    let srv = Server::start(
        "files",
        ServerConfig::signed(AllowList::keys([kp.pubkey()])),
    );
    let src = srv.dir.with_extension("src");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&src, &body).unwrap();
    let h = hash(&body);
    block_on(async {
        let uri = http::put_file(&srv.base(), Some(&kp), &src, &h, body.len() as u64)
            .await
            .unwrap();
        let out = srv.dir.with_extension("out");
        let n = crate::files::fetch_to_file(&uri, &h, &out, 1 << 30)
            .await
            .unwrap();
        assert_eq!(n, body.len() as u64);
        assert_eq!(std::fs::read(&out).unwrap(), body);
        // a wrong expected hash leaves no file behind
        let out2 = srv.dir.with_extension("out2");
        let err = crate::files::fetch_to_file(&uri, &hash(b"x"), &out2, 1 << 30)
            .await
            .unwrap_err();
        assert!(
            matches!(err, crate::fetch_policy::FetchError::HashMismatch { .. }),
            "{err}"
        );
        assert!(!out2.exists());
        let err = crate::files::fetch_to_file(&uri, &h, &out2, 1000)
            .await
            .unwrap_err();
        assert!(
            matches!(err, crate::fetch_policy::FetchError::TooLarge { .. }),
            "{err}"
        );
        assert!(!out2.exists());
        std::fs::remove_file(&out).unwrap();
    });
    std::fs::remove_file(&src).unwrap();
}

/// Sync callers (the CLI, the SDK's `Poster`) upload with one `block_on` per blob, from
/// several threads. The HTTP client's pooled connections must outlive each call: a
/// runtime per call dropped them and a later upload failed with "dispatch task is gone".
#[test]
fn sync_uploads_reuse_connections_across_calls_and_threads() {
    let kp = Arc::new(Keypair::new());
    let srv = Server::start("sync", ServerConfig::signed(AllowList::keys([kp.pubkey()])));
    let target = BlobTarget::parse(&srv.base()).unwrap().signed_by(kp);
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
}
