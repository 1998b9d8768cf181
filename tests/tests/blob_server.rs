//! The real `tessera blobs serve` process, as an operator starts it: unauthorised and oversized
//! uploads are refused by name and store nothing; an allowed key (named on the command line or
//! added to the allow file while the server runs) uploads; downloads stream with Range.
//! No validator needed (the node allow-list over RPC is exercised by the network test).
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use solana_sdk::{signature::Keypair, signer::Signer};
use tessera_blobs as blobs;
use tessera_blobs::{http, BlobTarget, UploadRefused};
use tessera_tests::network::{bin_dir, free_port, Proc};

fn start(dir: &Path, args: &[String]) -> (Proc, String) {
    let port = free_port();
    let log = dir.join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin_dir().join("tessera"))
        .args(["blobs", "serve", "--dir"])
        .arg(dir.join("store"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("tessera blobs serve (cargo build -p tessera-cli --bin tessera)");
    let p = Proc {
        name: "blob server".into(),
        child,
        log,
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "blob server did not start: {}",
            p.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (p, format!("http://127.0.0.1:{port}"))
}

fn refusal(e: anyhow::Error) -> UploadRefused {
    e.downcast::<UploadRefused>()
        .unwrap_or_else(|e| panic!("not a refusal: {e:#}"))
}

#[test]
fn exposed_blob_server_refuses_unauthorised_and_oversized_uploads() {
    let dir = std::env::temp_dir().join(format!("tessera-blobserver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (named, later, stranger) = (
        Arc::new(Keypair::new()),
        Arc::new(Keypair::new()),
        Arc::new(Keypair::new()),
    );
    let allow_file = dir.join("allow.txt");
    std::fs::write(&allow_file, "# clients\n").unwrap();
    let (mut server, base) = start(
        &dir,
        &[
            "--allow".into(),
            named.pubkey().to_string(),
            "--allow-file".into(),
            allow_file.display().to_string(),
            "--max-blob-bytes".into(),
            "55000".into(),
            "--quota-bytes".into(),
            "100000".into(),
        ],
    );
    let target = |kp: Option<&Arc<Keypair>>| {
        let t = BlobTarget::parse(&base).unwrap();
        match kp {
            Some(k) => t.signed_by(k.clone()),
            None => t,
        }
    };
    let body: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    blobs::block_on(async {
        let e = refusal(target(None).put(&body).await.unwrap_err());
        assert_eq!(
            (e.status, e.code.as_str()),
            (401, "missing_signature"),
            "{e}"
        );
        let e = refusal(target(Some(&stranger)).put(&body).await.unwrap_err());
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "signer_not_allowed"),
            "{e}"
        );
        let e = refusal(target(Some(&later)).put(&body).await.unwrap_err());
        assert_eq!(e.code, "signer_not_allowed", "{e}");
        let big = vec![9u8; 70_000];
        let e = refusal(target(Some(&named)).put(&big).await.unwrap_err());
        assert_eq!((e.status, e.code.as_str()), (413, "too_large"), "{e}");
        let e = refusal(target(Some(&named)).put(&[1u8; 60_000]).await.unwrap_err());
        assert_eq!(e.code, "too_large", "{e}");
        // nothing stored by any of those
        let stored: Vec<_> = std::fs::read_dir(dir.join("store"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != ".owners")
            .collect();
        assert!(stored.is_empty(), "{stored:?}");

        let (h, uri) = target(Some(&named)).put(&body).await.unwrap();
        let resp = http::client()
            .get(&uri)
            .header("range", "bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 206);
        assert_eq!(resp.bytes().await.unwrap(), body[10..20]);
        assert_eq!(blobs::fetch(&uri, &h).await.unwrap(), body);
        // a key added to the allow file while the server runs may upload at once; the quota
        // (100 000 bytes) then holds it to what it stores
        std::fs::write(&allow_file, format!("# clients\n{}\n", later.pubkey())).unwrap();
        target(Some(&later))
            .put(&[7u8; 60_000][..50_000])
            .await
            .unwrap();
        target(Some(&later)).put(&[8u8; 50_000]).await.unwrap();
        let e = refusal(target(Some(&later)).put(&[6u8; 10]).await.unwrap_err());
        assert_eq!((e.status, e.code.as_str()), (507, "quota_exceeded"), "{e}");
    });
    server.stop().unwrap();
    // without any allow-list the server refuses to start, saying how to allow uploads
    let out = Command::new(bin_dir().join("tessera"))
        .args(["blobs", "serve", "--dir"])
        .arg(dir.join("store"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow") && err.contains("--open"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
