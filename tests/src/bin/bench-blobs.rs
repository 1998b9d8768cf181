//! Throughput and memory of the built-in blob server: a large blob (1 GiB by default) goes
//! file -> `tessera blobs serve` -> file, uploaded signed and streamed both ways, and the
//! server's peak resident memory (VmHWM) is read from /proc. The point is flat memory: the
//! server never holds a blob.
//!
//! ```text
//! cargo build --release -p tessera-cli --bin tessera && cargo build --release -p tessera-tests --bin bench-blobs
//! target/release/bench-blobs [--mib 1024] [--dir /tmp/tessera-bench-blobs]
//! ```
//! The `tessera` binary is taken from beside this one (`target/<profile>/`), or from
//! `TESSERA_BIN`.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use solana_sdk::{signature::Keypair, signer::Signer};
use tessera_blobs as blobs;
use tessera_blobs::http;
use tessera_tests::blobbench::{proc_status, write_source, KillOnDrop};

fn main() -> Result<()> {
    let mut mib: u64 = 1024;
    let mut dir = std::env::temp_dir().join("tessera-bench-blobs");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mib" => mib = args.next().context("--mib N")?.parse()?,
            "--dir" => dir = PathBuf::from(args.next().context("--dir PATH")?),
            other => bail!("unknown argument {other} (--mib N, --dir PATH)"),
        }
    }
    let size = mib << 20;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let src = dir.join("source.bin");
    let out = dir.join("downloaded.bin");
    print!("writing a {mib} MiB source file ... ");
    std::io::stdout().flush()?;
    let h = write_source(&src, size, b"tessera blob bench")?;
    println!("{}", blobs::hex(&h));

    let kp = Arc::new(Keypair::new());
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.join("server.log"))?;
    let child = Command::new(tessera_bin()?)
        .args(["blobs", "serve", "--dir"])
        .arg(dir.join("store"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--allow", &kp.pubkey().to_string()])
        .args(["--max-blob-bytes", &(size + 1).to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting tessera blobs serve")?;
    let pid = child.id();
    let server = KillOnDrop(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(20) {
            bail!(
                "the blob server did not start: see {}",
                dir.join("server.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle = proc_status(pid, "VmRSS")?;
    let base = format!("http://127.0.0.1:{port}");

    let t = Instant::now();
    let uri = blobs::block_on(http::put_file(&base, Some(&kp), &src, &h, size))?;
    let up = t.elapsed();
    let after_up = proc_status(pid, "VmHWM")?;

    let t = Instant::now();
    let n = blobs::block_on(blobs::fetch_to_file(&uri, &h, &out, size))?;
    let down = t.elapsed();
    assert_eq!(n, size);
    let peak = proc_status(pid, "VmHWM")?;
    let client_peak = proc_status(std::process::id(), "VmHWM")?;
    drop(server);

    let mbs = |d: Duration| size as f64 / 1e6 / d.as_secs_f64();
    println!();
    println!("| blob | upload (file -> server) | download (server -> file) | server RSS idle | server peak RSS (VmHWM) after upload / after download | bench client peak RSS |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {mib} MiB | {:.0} MB/s ({:.1} s) | {:.0} MB/s ({:.1} s) | {:.1} MiB | {:.1} MiB / {:.1} MiB | {:.1} MiB |",
        mbs(up),
        up.as_secs_f64(),
        mbs(down),
        down.as_secs_f64(),
        idle as f64 / 1024.0,
        after_up as f64 / 1024.0,
        peak as f64 / 1024.0,
        client_peak as f64 / 1024.0,
    );
    println!(
        "(both directions hash-checked: the server while receiving, the client while downloading)"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tessera_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("TESSERA_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/bench-blobs -> target/<profile>/tessera
    let p = exe
        .parent()
        .map(|d| d.join("tessera"))
        .context("locating the tessera binary")?;
    if !p.exists() {
        bail!(
            "{} is missing: cargo build --release -p tessera-cli --bin tessera (or set TESSERA_BIN)",
            p.display()
        );
    }
    Ok(p)
}
