//! Tests of [`super`]: every refusal is checked by its exact variant, against real (local)
//! servers and files. The test servers listen on 127.0.0.1, which the strict policy refuses:
//! each test allow-lists the exact host:port of the server it means to reach.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::dir::DirStore;
use crate::id::{hash, hex};
use crate::target::BlobTarget;

const HONEST: &[u8] = b"an honest job input";

/// A tiny HTTP/1.1 server with hostile and honest routes. Returns its address and a counter
/// of the body bytes it has written.
async fn server() -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let counter = counter.clone();
            tokio::spawn(async move {
                let _ = handle(s, counter).await;
            });
        }
    });
    (addr, sent)
}

async fn handle(mut s: TcpStream, sent: Arc<AtomicU64>) -> std::io::Result<()> {
    let mut req = Vec::new();
    let mut b = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).await?;
        if n == 0 || req.len() > 16 << 10 {
            return Ok(());
        }
        req.extend_from_slice(&b[..n]);
    }
    let head = String::from_utf8_lossy(&req).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let open = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    match path.as_str() {
        "/blob" => {
            let h = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                HONEST.len()
            );
            s.write_all(h.as_bytes()).await?;
            s.write_all(HONEST).await?;
            sent.fetch_add(HONEST.len() as u64, Ordering::Relaxed);
        }
        // no length, never ends (like /dev/zero over HTTP)
        "/endless" => {
            s.write_all(open).await?;
            let chunk = vec![0u8; 64 << 10];
            loop {
                s.write_all(&chunk).await?;
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        // a byte every 50 ms: never idle long, never done
        "/slow" => {
            s.write_all(open).await?;
            loop {
                s.write_all(b"x").await?;
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // headers, one byte, then silence
        "/stall" => {
            s.write_all(open).await?;
            s.write_all(b"x").await?;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        // announces 100 GB
        "/huge" => {
            s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n",
            )
            .await?;
            s.write_all(&[0u8; 1024]).await?;
            sent.fetch_add(1024, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "/loop" => {
            s.write_all(b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await?;
        }
        p if p.starts_with("/redirect?to=") => {
            let to = &p["/redirect?to=".len()..];
            let r = format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            s.write_all(r.as_bytes()).await?;
        }
        _ => {
            s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await?;
        }
    }
    Ok(())
}

/// A strict policy that allows the blob store at `blobs` (exactly that host:port).
fn strict_with_store(blobs: SocketAddr) -> FetchPolicy {
    FetchPolicy::default()
        .allow_blob_store(&BlobTarget::parse(&format!("http://{blobs}")).unwrap())
        .unwrap()
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tessera-fetchpol-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn any_hash() -> [u8; 32] {
    hash(b"whatever")
}

#[tokio::test]
async fn file_uris_are_refused_unless_a_directory_is_allowed() {
    let f = Fetcher::new(FetchPolicy::default()).unwrap();
    let t = Instant::now();
    let e = f.fetch("file:///dev/zero", &any_hash()).await.unwrap_err();
    assert!(
        matches!(&e, FetchError::SchemeNotAllowed { scheme, .. } if scheme == "file"),
        "{e:?}"
    );
    assert!(e.is_permanent());
    let e = f
        .fetch("file:///etc/passwd", &any_hash())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::SchemeNotAllowed { .. }), "{e:?}");
    // the same check without fetching
    assert!(matches!(
        f.policy().check("file:///dev/zero"),
        Err(FetchError::SchemeNotAllowed { .. })
    ));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn dev_zero_is_never_opened_under_any_policy() {
    let dir = tmpdir("devzero");
    // allowed directory: /dev/zero is outside it, and so is a link to it from inside
    let f = Fetcher::new(FetchPolicy::default().allow_dir(&dir).unwrap()).unwrap();
    let e = f.fetch("file:///dev/zero", &any_hash()).await.unwrap_err();
    assert!(
        matches!(&e, FetchError::PathNotAllowed { path, .. } if path == Path::new("/dev/zero")),
        "{e:?}"
    );
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
    let uri = format!("file://{}/zero", dir.display());
    let e = f.fetch(&uri, &any_hash()).await.unwrap_err();
    assert!(matches!(e, FetchError::PathNotAllowed { .. }), "{e:?}");
    let uri = format!("file://{}/../../../../dev/zero", dir.display());
    let e = f.fetch(&uri, &any_hash()).await.unwrap_err();
    assert!(matches!(e, FetchError::PathNotAllowed { .. }), "{e:?}");
    // even the permissive policy (a person's own downloads) never opens a device
    let p = Fetcher::new(FetchPolicy::permissive().with_timeout(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let e = p.fetch("file:///dev/zero", &any_hash()).await.unwrap_err();
    assert!(
        matches!(&e, FetchError::NotAFile { path, .. } if path == Path::new("/dev/zero")),
        "{e:?}"
    );
    // nor a FIFO in an allowed directory (opening one would block until a writer came)
    let fifo = dir.join("fifo");
    if std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let e = f
            .fetch(&format!("file://{}", fifo.display()), &any_hash())
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::NotAFile { .. }), "{e:?}");
    }
    let e = f
        .fetch(&format!("file://{}", dir.display()), &any_hash())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::NotAFile { .. }), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn files_in_an_allowed_directory_are_capped_and_verified() {
    let dir = tmpdir("files");
    let store = DirStore::open(&dir).unwrap();
    let h = store.put(HONEST).unwrap();
    let f = Fetcher::new(
        FetchPolicy::default()
            .allow_blob_store(&BlobTarget::Dir(store.clone()))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(f.fetch(&store.uri(&h), &h).await.unwrap(), HONEST);
    let e = f.fetch(&store.uri(&h), &hash(b"x")).await.unwrap_err();
    assert!(
        matches!(&e, FetchError::HashMismatch { bytes, .. } if *bytes == HONEST.len() as u64),
        "{e:?}"
    );
    // the message callers and people see
    assert!(e.to_string().contains("does not match its hash"), "{e}");
    let small = Fetcher::new(f.policy().clone().with_max_bytes(4)).unwrap();
    let e = small.fetch(&store.uri(&h), &h).await.unwrap_err();
    assert!(
        matches!(e, FetchError::TooLarge { limit: 4, declared: Some(n), .. } if n == HONEST.len() as u64),
        "{e:?}"
    );
    let e = f
        .fetch(&format!("file://{}/missing", dir.display()), &h)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::Io {
                kind: std::io::ErrorKind::NotFound,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_permanent());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn loopback_is_refused_except_the_allow_listed_blob_store() {
    let (store, _) = server().await;
    let (other, other_sent) = server().await;
    let f = Fetcher::new(strict_with_store(store)).unwrap();
    let h = hash(HONEST);
    // the configured blob store passes, on its exact host:port
    assert_eq!(
        f.fetch(&format!("http://{store}/blob"), &h).await.unwrap(),
        HONEST
    );
    // another loopback port (serving the very same bytes) does not
    let e = f
        .fetch(&format!("http://{other}/blob"), &h)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FetchError::HostNotAllowed { host, .. } if *host == other.to_string()),
        "{e:?}"
    );
    assert_eq!(other_sent.load(Ordering::Relaxed), 0, "never connected");
    // nor the same port under another loopback spelling, nor a name for it
    for uri in [
        format!("http://localhost:{}/blob", store.port()),
        format!("http://[::1]:{}/blob", store.port()),
        format!("http://127.0.0.2:{}/blob", store.port()),
    ] {
        let e = f.fetch(&uri, &h).await.unwrap_err();
        assert!(
            matches!(e, FetchError::HostNotAllowed { .. }),
            "{uri}: {e:?}"
        );
    }
}

#[tokio::test]
async fn private_link_local_and_special_hosts_are_refused_without_connecting() {
    let f = Fetcher::new(FetchPolicy::default()).unwrap();
    let t = Instant::now();
    for uri in [
        "http://10.1.2.3/blob",
        "http://172.16.0.1/blob",
        "http://172.31.255.255:8080/blob",
        "http://192.168.1.1/blob",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/blob",
        "http://127.0.0.1/blob",
        "http://127.1:8990/blob",
        "http://0x7f000001/blob",
        "http://0.0.0.0:8990/blob",
        "http://[::1]/blob",
        "http://[::]/blob",
        "http://[::ffff:127.0.0.1]/blob",
        "http://[::ffff:10.0.0.1]/blob",
        "http://[fe80::1]/blob",
        "http://[fd12:3456::1]/blob",
        "http://[64:ff9b::a00:1]/blob",
        "http://[2002:c0a8:101::1]/blob",
        "http://224.0.0.1/blob",
        "http://255.255.255.255/blob",
        "http://localhost/blob",
        "http://LOCALHOST.:8990/blob",
        "http://blobs.localhost/blob",
        "https://localhost/blob",
    ] {
        let e = f.fetch(uri, &any_hash()).await.unwrap_err();
        assert!(
            matches!(e, FetchError::HostNotAllowed { .. }),
            "{uri}: {e:?}"
        );
        assert!(e.is_permanent());
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // public addresses pass the URL check (nothing is fetched here)
    for uri in [
        "https://8.8.8.8/x",
        "http://[2606:4700::1111]/x",
        "https://blobs.example.com/blobs/ab",
        "http://172.32.0.1/x",
        "http://100.128.0.1/x",
    ] {
        f.policy()
            .check(uri)
            .unwrap_or_else(|e| panic!("{uri}: {e:?}"));
    }
    for uri in ["ftp://blobs.example.com/x", "gopher://x/", "data:,hello"] {
        assert!(
            matches!(
                f.policy().check(uri),
                Err(FetchError::SchemeNotAllowed { .. })
            ),
            "{uri}"
        );
    }
    assert!(matches!(
        f.policy().check("not a uri"),
        Err(FetchError::BadUri { .. })
    ));
    let https_only = FetchPolicy::default().with_schemes(&["https"]).unwrap();
    assert!(matches!(
        https_only.check("http://8.8.8.8/x"),
        Err(FetchError::SchemeNotAllowed { .. })
    ));
    assert!(FetchPolicy::default().with_schemes(&["file"]).is_err());
}

#[tokio::test]
async fn names_are_checked_on_the_addresses_they_resolve_to() {
    let (store, sent) = server().await;
    let h = hash(HONEST);
    // a public-looking name that resolves to loopback
    let f = Fetcher::new(
        strict_with_store(store).pin_name("evil.test", &["127.0.0.1".parse().unwrap()]),
    )
    .unwrap();
    f.policy()
        .check(&format!("http://evil.test:{}/blob", store.port()))
        .unwrap();
    let e = f
        .fetch(&format!("http://evil.test:{}/blob", store.port()), &h)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, FetchError::HostNotAllowed { host, .. } if host.contains("evil.test")),
        "{e:?}"
    );
    assert_eq!(sent.load(Ordering::Relaxed), 0, "never connected");
    // an allow-listed name may resolve to a private address, on its allowed port only
    let p = FetchPolicy::default()
        .allow_host(&format!("blobs.internal:{}", store.port()))
        .unwrap()
        .pin_name("blobs.internal", &["127.0.0.1".parse().unwrap()]);
    let f = Fetcher::new(p).unwrap();
    assert_eq!(
        f.fetch(&format!("http://blobs.internal:{}/blob", store.port()), &h)
            .await
            .unwrap(),
        HONEST
    );
    let e = f
        .fetch("http://blobs.internal:22/blob", &h)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::HostNotAllowed { .. }), "{e:?}");
}

#[tokio::test]
async fn redirects_are_checked_like_the_first_url() {
    let (store, _) = server().await;
    let (other, other_sent) = server().await;
    let h = hash(HONEST);
    let f = Fetcher::new(
        strict_with_store(store).pin_name("evil.test", &["10.0.0.1".parse().unwrap()]),
    )
    .unwrap();
    // a redirect within the allowed store is followed
    let uri = format!("http://{store}/redirect?to=http://{store}/blob");
    assert_eq!(f.fetch(&uri, &h).await.unwrap(), HONEST);
    // to a private address, to another loopback port, to a name resolving privately
    for to in [
        "http://10.0.0.1/blob".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://{other}/blob"),
        format!("http://localhost:{}/blob", other.port()),
        format!("http://evil.test:{}/blob", other.port()),
    ] {
        let uri = format!("http://{store}/redirect?to={to}");
        let e = f.fetch(&uri, &h).await.unwrap_err();
        assert!(
            matches!(e, FetchError::HostNotAllowed { .. }),
            "{to}: {e:?}"
        );
        assert_eq!(e.uri(), uri, "the error names the URI that was asked for");
    }
    assert_eq!(other_sent.load(Ordering::Relaxed), 0);
    // to another scheme
    let uri = format!("http://{store}/redirect?to=ftp://example.com/blob");
    let e = f.fetch(&uri, &h).await.unwrap_err();
    assert!(matches!(e, FetchError::SchemeNotAllowed { .. }), "{e:?}");
    let e = f
        .fetch(&format!("http://{store}/loop"), &h)
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::TooManyRedirects { .. }), "{e:?}");
}

#[tokio::test]
async fn an_endless_stream_stops_at_the_size_cap() {
    let (store, sent) = server().await;
    let cap = 1u64 << 20;
    let f = Fetcher::new(strict_with_store(store).with_max_bytes(cap)).unwrap();
    let t = Instant::now();
    let e = f
        .fetch(&format!("http://{store}/endless"), &any_hash())
        .await
        .unwrap_err();
    assert!(
        matches!(e, FetchError::TooLarge { limit, declared: None, .. } if limit == cap),
        "{e:?}"
    );
    assert!(e.is_permanent());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // the server gets to write at most the cap plus what sits in socket buffers
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = sent.load(Ordering::Relaxed);
    assert!(n < cap + (16 << 20), "the server wrote {n} bytes");
}

#[tokio::test]
async fn a_slow_stream_stops_at_the_deadline() {
    let (store, _) = server().await;
    let total = Duration::from_millis(800);
    let f = Fetcher::new(
        strict_with_store(store)
            .with_timeout(total)
            .with_idle_timeout(Duration::from_secs(5)),
    )
    .unwrap();
    let t = Instant::now();
    let e = f
        .fetch(&format!("http://{store}/slow"), &any_hash())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        FetchError::Timeout {
            uri: format!("http://{store}/slow"),
            deadline: Deadline::Total(total)
        }
    );
    assert!(!e.is_permanent());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_stalled_stream_stops_at_the_idle_timeout() {
    let (store, _) = server().await;
    let idle = Duration::from_millis(300);
    let f = Fetcher::new(
        strict_with_store(store)
            .with_timeout(Duration::from_secs(30))
            .with_idle_timeout(idle),
    )
    .unwrap();
    let t = Instant::now();
    let e = f
        .fetch(&format!("http://{store}/stall"), &any_hash())
        .await
        .unwrap_err();
    assert!(
        matches!(e, FetchError::Timeout { deadline: Deadline::Idle(d), .. } if d == idle),
        "{e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_reading() {
    let (store, _) = server().await;
    let f = Fetcher::new(
        strict_with_store(store)
            .with_max_bytes(1 << 20)
            .with_idle_timeout(Duration::from_secs(30)),
    )
    .unwrap();
    let t = Instant::now();
    let e = f
        .fetch(&format!("http://{store}/huge"), &any_hash())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::TooLarge {
                limit: 1048576,
                declared: Some(100_000_000_000),
                ..
            }
        ),
        "{e:?}"
    );
    // the server stalls after its headers: only refusing on the header returns this fast
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[tokio::test]
async fn hash_mismatches_and_server_errors_are_typed() {
    let (store, _) = server().await;
    let f = Fetcher::new(strict_with_store(store)).unwrap();
    let uri = format!("http://{store}/blob");
    let e = f.fetch(&uri, &hash(b"something else")).await.unwrap_err();
    match &e {
        FetchError::HashMismatch {
            uri: u,
            expected,
            got,
            bytes,
        } => {
            assert_eq!(u, &uri);
            assert_eq!(expected, &hex(&hash(b"something else")));
            assert_eq!(got, &hex(&hash(HONEST)));
            assert_eq!(*bytes, HONEST.len() as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_permanent());
    let e = f
        .fetch(&format!("http://{store}/nothing-here"), &any_hash())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Status { status: 404, .. }), "{e:?}");
    assert!(!e.is_permanent());
    // a closed port on the allowed host: a transport error, not a refusal
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let f = Fetcher::new(strict_with_store(closed)).unwrap();
    let e = f
        .fetch(&format!("http://{closed}/blob"), &any_hash())
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::Transport { .. }), "{e:?}");
}

#[test]
fn allow_list_entries_parse() {
    let p = FetchPolicy::default()
        .allow_host("127.0.0.1:8990")
        .unwrap()
        .allow_host("[::1]:80")
        .unwrap()
        .allow_host("fd00::1")
        .unwrap()
        .allow_host("Blobs.Internal:443")
        .unwrap()
        .allow_host("http://10.0.0.5:8080/")
        .unwrap()
        .allow_host("https://store.lan")
        .unwrap()
        .allow_host("nas")
        .unwrap();
    assert_eq!(
        p.allowed_hosts(),
        [
            "127.0.0.1:8990",
            "[::1]:80",
            "[fd00::1]",
            "blobs.internal:443",
            "10.0.0.5:8080",
            "store.lan:443",
            "nas"
        ]
    );
    p.check("http://127.0.0.1:8990/blobs/x").unwrap();
    p.check("http://[::1]:80/x").unwrap();
    p.check("http://[fd00::1]:1234/x").unwrap();
    p.check("https://blobs.internal/x").unwrap();
    p.check("http://10.0.0.5:8080/x").unwrap();
    p.check("http://nas:9000/x").unwrap();
    for refused in [
        "http://127.0.0.1:8991/x",
        "http://[::1]:81/x",
        "http://10.0.0.5:8081/x",
        "http://blobs.internal:80/x",
    ] {
        assert!(
            matches!(p.check(refused), Err(FetchError::HostNotAllowed { .. })),
            "{refused}"
        );
    }
    for bad in ["", "a b", "host:port", "http://", "x/y"] {
        assert!(FetchPolicy::default().allow_host(bad).is_err(), "{bad:?}");
    }
    assert!(FetchPolicy::default()
        .allow_dir("/nonexistent/tessera")
        .is_err());
}

#[test]
fn address_classes() {
    for ip in [
        "8.8.8.8",
        "1.1.1.1",
        "172.15.255.255",
        "100.63.255.255",
        "2606:4700:4700::1111",
        "2001:4860::8888",
    ] {
        assert_eq!(non_public_reason(ip.parse().unwrap()), None, "{ip}");
    }
    for ip in [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.0",
        "172.16.0.0",
        "192.168.0.1",
        "169.254.0.1",
        "100.64.0.0",
        "100.127.255.255",
        "0.0.0.0",
        "192.0.0.8",
        "198.18.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fdff::1",
        "fe80::1",
        "febf::1",
        "ff02::1",
        "::ffff:192.168.1.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "2001:db8::1",
    ] {
        assert!(non_public_reason(ip.parse().unwrap()).is_some(), "{ip}");
    }
}

#[tokio::test]
async fn streamed_downloads_land_only_when_the_hash_matches() {
    let (store, _) = server().await;
    let f = Fetcher::new(strict_with_store(store)).unwrap();
    let dir = tmpdir("tofile");
    let dest = dir.join("out");
    let uri = format!("http://{store}/blob");
    let n = f
        .fetch_to_file(&uri, &hash(HONEST), &dest, &dir.join(".out.part"))
        .await
        .unwrap();
    assert_eq!(n, HONEST.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), HONEST);
    // a wrong hash, an endless body, a refused URI: `dest` keeps what it had, no part file
    let endless = format!("http://{store}/endless");
    let capped = Fetcher::new(strict_with_store(store).with_max_bytes(1 << 20)).unwrap();
    for (fetcher, uri, kind) in [
        (&f, uri.as_str(), "hash_mismatch"),
        (&capped, endless.as_str(), "too_large"),
        (&f, "file:///dev/zero", "scheme_not_allowed"),
        (&f, "s3://bucket/x", "store_not_allowed"),
    ] {
        let e = fetcher
            .fetch_to_file(uri, &any_hash(), &dest, &dir.join(".out.part"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{uri}: {e}");
        assert_eq!(std::fs::read(&dest).unwrap(), HONEST, "{uri}");
        assert!(!dir.join(".out.part").exists(), "{uri}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn object_store_uris_need_an_allowed_store() {
    let h = hex(&any_hash());
    let uri = |s: &str| format!("{s}/{h}");
    // strict: no object store at all
    let e = FetchPolicy::default()
        .check(&uri("s3://bucket/in"))
        .unwrap_err();
    assert_eq!(
        e,
        FetchError::StoreNotAllowed {
            uri: uri("s3://bucket/in"),
            store: "s3://bucket".into(),
            allowed: "none".into(),
        }
    );
    assert!(e.is_permanent());
    assert_eq!(e.kind(), "store_not_allowed");
    assert!(e.to_string().contains("allowed_stores"), "{e}");
    // a prefix: below it only, by whole path segments, in that bucket and scheme
    let p = FetchPolicy::default()
        .allow_store("s3://bucket/in")
        .unwrap()
        .allow_store("gs://whole")
        .unwrap();
    assert_eq!(p.allowed_stores(), ["s3://bucket/in", "gs://whole"]);
    for ok in [
        uri("s3://bucket/in"),
        uri("s3://bucket/in/deeper"),
        uri("gs://whole"),
        uri("gs://whole/any/path"),
    ] {
        p.check(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for refused in [
        uri("s3://bucket/inside"),
        uri("s3://bucket"),
        uri("s3://other/in"),
        uri("gs://bucket/in"),
        uri("az://bucket/in"),
    ] {
        let e = p.check(&refused).unwrap_err();
        assert!(
            matches!(&e, FetchError::StoreNotAllowed { allowed, .. } if allowed == "s3://bucket/in, gs://whole"),
            "{refused}: {e}"
        );
    }
    // `..` cannot climb out of an allowed prefix
    let e = p
        .check(&format!("s3://bucket/in/../secret/{h}"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            FetchError::BadUri { .. } | FetchError::StoreNotAllowed { .. }
        ),
        "{e}"
    );
    // not a blob: no object path
    assert!(matches!(
        p.check("gs://whole").unwrap_err(),
        FetchError::BadUri { .. }
    ));
    // entries that are not stores
    for bad in ["http://host/x", "s3://", "bucket/prefix", "s3://b/a//c"] {
        assert!(FetchPolicy::default().allow_store(bad).is_err(), "{bad}");
    }
    // a node's own object store is allowed with its prefix
    let own = BlobTarget::parse("s3://results/node-1").unwrap();
    let p = FetchPolicy::default().allow_blob_store(&own).unwrap();
    p.check(&own.uri_of(&any_hash())).unwrap();
    assert!(p.check(&uri("s3://results/node-2")).is_err());
    // a person's own downloads: any store
    FetchPolicy::permissive()
        .check(&uri("az://container/x"))
        .unwrap();
}
