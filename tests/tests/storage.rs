//! Blobs in an S3-compatible object store, against a real S3 server this test starts in
//! its own process (`s3s-fs` behind `s3s`, with signature-v4 authentication: src/s3.rs):
//! round trips of bytes and files (single requests and multipart uploads), streamed
//! downloads to a file, and each failure named: a tampered object (hash mismatch), an
//! oversized one (refused from its metadata, before its body), wrong credentials, an
//! unreachable store, a missing blob or bucket, bad URLs, and the worker's allow-list.
//! The CLI round trip needs the binaries (`cargo build -p tessera-cli --bins`).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tessera_blobs as blobs;
use tessera_blobs::fetch_policy::{FetchError, FetchPolicy, Fetcher};
use tessera_blobs::{BlobTarget, ObjectTarget, StoreError};
use tessera_tests::s3::S3Server;

/// A scratch directory of this test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tessera-storage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server with `bucket`, and the store `s3://<bucket>/<prefix>` opened with its options.
fn server_and_target(name: &str, bucket: &str, prefix: &str) -> (S3Server, ObjectTarget, PathBuf) {
    let dir = scratch(name);
    let server = S3Server::start(&dir.join("s3"), &[bucket]).unwrap();
    let opts = server.options();
    let opts: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let target = ObjectTarget::open(&format!("s3://{bucket}/{prefix}"), &opts).unwrap();
    (server, target, dir)
}

/// Deterministic, incompressible-looking bytes.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed as u64;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn fetch_err(uri: &str, h: &[u8; 32]) -> FetchError {
    let e = blobs::block_on(blobs::fetch(uri, h)).unwrap_err();
    e.downcast::<FetchError>().expect("a FetchError")
}

fn store_err(e: anyhow::Error) -> StoreError {
    match e.downcast::<StoreError>() {
        Ok(s) => s,
        Err(e) => panic!("not a StoreError: {e:#}"),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn bytes_and_files_round_trip_through_s3() {
    let (server, target, dir) = server_and_target("rt", "roundtrip", "net/blobs");
    let t = BlobTarget::Object(target.clone());
    // a small blob: one PUT, at <prefix>/<hash>
    let (h, uri) = blobs::block_on(t.put(b"hello object store")).unwrap();
    assert_eq!(h, blobs::hash(b"hello object store"));
    assert_eq!(uri, format!("s3://roundtrip/net/blobs/{}", blobs::hex(&h)));
    assert_eq!(t.uri_of(&h), uri);
    assert_eq!(
        std::fs::read(server.object_file("roundtrip", &format!("net/blobs/{}", blobs::hex(&h))))
            .unwrap(),
        b"hello object store",
        "the object is where the URI says"
    );
    assert_eq!(
        blobs::block_on(blobs::fetch(&uri, &h)).unwrap(),
        b"hello object store"
    );
    // parse() of the same store finds the one opened with the server's options
    let parsed = BlobTarget::parse("s3://roundtrip/net/blobs/").unwrap();
    assert_eq!(parsed.uri_of(&h), uri);

    // a large blob from memory: a multipart upload of 8 MiB parts
    let big = bytes(blobs::object::PART_SIZE * 2 + 12_345, 1);
    let (hb, uri_b) = blobs::block_on(t.put(&big)).unwrap();
    assert_eq!(hb, blobs::hash(&big));
    assert_eq!(blobs::block_on(blobs::fetch(&uri_b, &hb)).unwrap(), big);

    // files, streamed both ways: a multipart one and a single-request one
    for (name, data) in [
        ("large.bin", bytes(blobs::object::PART_SIZE * 2 + 777, 2)),
        ("small.bin", bytes(1000, 3)),
    ] {
        let src = dir.join(name);
        std::fs::write(&src, &data).unwrap();
        let (hf, uri_f) = blobs::block_on(t.put_file(&src)).unwrap();
        assert_eq!(hf, blobs::hash(&data), "{name}");
        assert_eq!(uri_f, target.uri_of(&hf));
        let dest = dir.join(format!("{name}.out"));
        let n = blobs::block_on(blobs::fetch_to_file(
            &uri_f,
            &hf,
            &dest,
            blobs::DEFAULT_MAX_FILE_BYTES,
        ))
        .unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), data, "{name}");
        // again: the blob is there already, nothing changes
        assert_eq!(blobs::block_on(t.put_file(&src)).unwrap().0, hf);
    }
    // the kernel-input path (whole blob in memory) reads the file's blob too
    let small = std::fs::read(dir.join("small.bin")).unwrap();
    let hs = blobs::hash(&small);
    assert_eq!(
        blobs::block_on(blobs::fetch(&target.uri_of(&hs), &hs)).unwrap(),
        small
    );
    // no temporary file is left beside the downloads
    assert!(
        files_in(&dir).iter().all(|f| !f.starts_with('.')),
        "{:?}",
        files_in(&dir)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tampered_object_is_a_hash_mismatch_and_leaves_no_file() {
    let (server, target, dir) = server_and_target("tamper", "tamper", "b");
    let data = bytes(300_000, 4);
    let h = blobs::block_on(target.put(&data)).unwrap();
    let uri = target.uri_of(&h);
    let mut bad = data.clone();
    bad[123_456] ^= 1;
    std::fs::write(
        server.object_file("tamper", &format!("b/{}", blobs::hex(&h))),
        &bad,
    )
    .unwrap();
    match fetch_err(&uri, &h) {
        FetchError::HashMismatch { uri: u, bytes, .. } => {
            assert_eq!(u, uri);
            assert_eq!(bytes, data.len() as u64);
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    let dest = dir.join("out.bin");
    std::fs::write(&dest, b"earlier contents").unwrap();
    let e = blobs::block_on(blobs::fetch_to_file(&uri, &h, &dest, 1 << 30)).unwrap_err();
    assert!(
        matches!(
            e.downcast_ref::<FetchError>(),
            Some(FetchError::HashMismatch { .. })
        ),
        "{e:#}"
    );
    assert!(
        format!("{e:#}").contains("does not match its hash"),
        "{e:#}"
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"earlier contents",
        "the destination is untouched"
    );
    assert_eq!(
        files_in(&dir),
        ["out.bin", "s3"],
        "no temporary file is left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_oversized_object_is_refused_from_its_metadata() {
    let (_server, target, dir) = server_and_target("big", "big", "");
    let data = bytes(3 << 20, 5);
    let h = blobs::block_on(target.put(&data)).unwrap();
    let uri = target.uri_of(&h);
    assert_eq!(uri, format!("s3://big/{}", blobs::hex(&h)));
    let fetcher = Fetcher::new(
        FetchPolicy::default()
            .allow_store("s3://big")
            .unwrap()
            .with_max_bytes(1 << 20),
    )
    .unwrap();
    // `declared`: refused on the size the store's metadata gives, before the body
    let e = blobs::block_on(fetcher.fetch(&uri, &h)).unwrap_err();
    assert_eq!(
        e,
        FetchError::TooLarge {
            uri: uri.clone(),
            limit: 1 << 20,
            declared: Some(3 << 20)
        }
    );
    assert!(e.is_permanent());
    // the same for a streamed download: nothing is written
    let dest = dir.join("big.out");
    let e = blobs::block_on(blobs::fetch_to_file(&uri, &h, &dest, 1 << 20)).unwrap_err();
    assert!(
        matches!(
            e.downcast_ref::<FetchError>(),
            Some(FetchError::TooLarge {
                declared: Some(n),
                ..
            }) if *n == 3 << 20
        ),
        "{e:#}"
    );
    assert!(!dest.exists());
    assert_eq!(files_in(&dir), ["s3"], "no temporary file is left");
    // within the cap it is fine
    let fetcher = Fetcher::new(FetchPolicy::default().allow_store("s3://big").unwrap()).unwrap();
    assert_eq!(blobs::block_on(fetcher.fetch(&uri, &h)).unwrap(), data);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_credentials_are_rejected_by_name() {
    let dir = scratch("creds");
    let server = S3Server::start(&dir.join("s3"), &["creds", "creds2"]).unwrap();
    let good = server.options();
    for (bucket, key, value) in [
        ("creds", "aws_secret_access_key", "not-the-secret"),
        ("creds2", "aws_access_key_id", "AKIDONOTEXIST"),
    ] {
        let opts: Vec<(&str, &str)> = good
            .iter()
            .map(|(k, v)| (*k, if *k == key { value } else { v.as_str() }))
            .collect();
        let t = ObjectTarget::open(&format!("s3://{bucket}/x"), &opts).unwrap();
        let e = blobs::block_on(t.put(b"secret stuff")).unwrap_err();
        assert!(
            matches!(e, StoreError::CredentialsRejected { .. }),
            "{key}: {e}"
        );
        assert!(e.to_string().contains("credentials rejected"), "{e}");
        // a download through the same store: the same named error
        let h = blobs::hash(b"secret stuff");
        match fetch_err(&t.uri_of(&h), &h) {
            FetchError::Store(StoreError::CredentialsRejected { .. }) => {}
            other => panic!("{key}: expected credentials rejected, got {other}"),
        }
        // and a file upload
        let f = dir.join("f.bin");
        std::fs::write(&f, b"file").unwrap();
        let e = blobs::block_on(BlobTarget::Object(t).put_file(&f)).unwrap_err();
        assert!(
            matches!(store_err(e), StoreError::CredentialsRejected { .. }),
            "{key}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unreachable_store_is_named_after_retries() {
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let opts = [
        ("aws_access_key_id", "k"),
        ("aws_secret_access_key", "s"),
        ("aws_region", "us-east-1"),
        ("aws_endpoint", endpoint.as_str()),
        ("aws_allow_http", "true"),
    ];
    let t = ObjectTarget::open("s3://nowhere/p", &opts).unwrap();
    let start = Instant::now();
    let e = blobs::block_on(t.put(b"x")).unwrap_err();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("unreachable"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "retries are bounded: {:?}",
        start.elapsed()
    );
    let h = blobs::hash(b"x");
    match fetch_err(&t.uri_of(&h), &h) {
        FetchError::Store(StoreError::Unreachable { .. }) => {}
        other => panic!("expected unreachable, got {other}"),
    }
}

/// (A missing bucket, `StoreError::NoSuchBucket`, is classified from S3's error code: s3s-fs
/// creates buckets on upload and answers NoSuchKey for reads, so the unit tests of
/// `blobs::object` cover it.)
#[test]
fn a_missing_blob_is_named() {
    let (_server, target, dir) = server_and_target("missing", "present", "p");
    let h = blobs::hash(b"never stored");
    let uri = target.uri_of(&h);
    assert_eq!(
        fetch_err(&uri, &h),
        FetchError::Store(StoreError::NotFound { url: uri.clone() })
    );
    assert!(fetch_err(&uri, &h).to_string().contains("no such blob"));
    let dest = dir.join("missing.out");
    let e = blobs::block_on(blobs::fetch_to_file(&uri, &h, &dest, 1 << 20)).unwrap_err();
    assert!(
        matches!(
            e.downcast_ref::<FetchError>(),
            Some(FetchError::Store(StoreError::NotFound { .. }))
        ),
        "{e:#}"
    );
    assert!(!dest.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_store_urls_are_named() {
    for (url, needle) in [
        ("s4://bucket/prefix", "unknown scheme `s4`"),
        ("ftp://host/x", "unknown scheme `ftp`"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://b//c", "bad path"),
        (
            "s3://key:secret@b/p",
            "credentials do not belong in the URL",
        ),
        ("s3://b/p?region=x", "no port, query or fragment"),
        ("s3://b:9000/p", "no port, query or fragment"),
    ] {
        let e = BlobTarget::parse(url).unwrap_err();
        match store_err(e) {
            StoreError::BadUrl { url: u, reason } => {
                assert_eq!(u, url);
                assert!(reason.contains(needle), "{url}: {reason}");
            }
            other => panic!("{url}: {other}"),
        }
    }
    // a prefix so long that blob URIs would not fit in a job's URI field
    let long = format!("s3://bucket/{}", "p".repeat(150));
    let e = store_err(BlobTarget::parse(&long).unwrap_err());
    assert!(e.to_string().contains("at most 200"), "{e}");
    // a URI without an object path is not a blob
    let h = blobs::hash(b"x");
    assert!(matches!(
        fetch_err("s3://bucket", &h),
        FetchError::BadUri { .. }
    ));
    // a missing Azure account is a configuration error, named when the store is opened
    if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_none() {
        let e = store_err(BlobTarget::parse("az://container/p").unwrap_err());
        assert!(matches!(e, StoreError::BadUrl { .. }), "{e}");
    }
}

#[test]
fn the_cli_puts_and_gets_through_s3_with_the_environment() {
    let tessera = tessera_tests::network::bin_dir().join("tessera");
    assert!(
        tessera.exists(),
        "{} missing: run `cargo build -p tessera-cli --bins` first",
        tessera.display()
    );
    let dir = scratch("cli");
    let server = S3Server::start(&dir.join("s3"), &["cli"]).unwrap();
    let data = bytes(blobs::object::PART_SIZE + 4321, 6);
    let src = dir.join("input.bin");
    std::fs::write(&src, &data).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&tessera)
            .args(args)
            .env_remove("TESSERA_BLOBS")
            .envs(server.env())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "blobs",
        "put",
        src.to_str().unwrap(),
        "--blobs",
        "s3://cli/inputs",
    ]);
    assert!(ok, "{err}");
    let h = blobs::hash(&data);
    let uri = format!("s3://cli/inputs/{}", blobs::hex(&h));
    assert_eq!(out.trim(), format!("{} {uri}", blobs::hex(&h)));
    let dest = dir.join("output.bin");
    let (ok, out, err) = run(&["blobs", "get", &uri, "-o", dest.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("hash verified"), "{out}");
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    // over --max-bytes: refused, nothing written
    let dest2 = dir.join("refused.bin");
    let (ok, _, err) = run(&[
        "blobs",
        "get",
        &uri,
        "-o",
        dest2.to_str().unwrap(),
        "--max-bytes",
        "1000",
    ]);
    assert!(!ok && err.contains("over the 1000 byte limit"), "{err}");
    assert!(!dest2.exists());
    // wrong credentials from the environment: one named error
    let out = Command::new(&tessera)
        .args([
            "blobs",
            "put",
            src.to_str().unwrap(),
            "--blobs",
            "s3://cli/x",
        ])
        .envs(server.env())
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("credentials rejected"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
