//! `bench-store`: throughput and memory of a large blob (1 GiB by default) through an
//! S3-compatible object store, the way a client or worker moves it: file -> `s3://` with
//! `BlobTarget::put_file` (hashed, then a streamed multipart upload) and `s3://` -> file with
//! `blobs::fetch_to_file` (streamed, size-capped, hash-checked, renamed into place).
//!
//! The store is `s3s-fs` behind `s3s` with signature-v4 auth (tests/src/s3.rs), run in a child
//! process of this binary so that the peak resident memory (VmHWM) of each side is its own:
//! the point is flat memory on the client side, whatever the blob's size.
//!
//! ```text
//! cargo build --release -p tessera-tests --bin bench-store
//! target/release/bench-store [--mib 1024] [--dir /tmp/tessera-bench-store]
//! ```
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tessera_blobs as blobs;
use tessera_blobs::{BlobTarget, ObjectTarget};
use tessera_tests::blobbench::{proc_status, write_source, KillOnDrop};
use tessera_tests::s3::S3Server;

#[derive(Parser)]
#[command(
    name = "bench-store",
    about = "A large blob through an S3-compatible store: throughput and peak memory"
)]
struct Args {
    /// Blob size in MiB.
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// Working directory (the source, the store's buckets, the download); removed at the end.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("tessera-bench-store"))]
    dir: PathBuf,
    /// Internal: serve an S3 store rooted here, print its port, stop when stdin closes.
    #[arg(long, hide = true)]
    serve_s3: Option<PathBuf>,
}

const BUCKET: &str = "bench";

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(root) = &args.serve_s3 {
        let server = S3Server::start(root, &[BUCKET])?;
        println!("{}", server.addr.port());
        std::io::stdout().flush()?;
        // until the parent closes our stdin (or dies)
        let mut line = String::new();
        while std::io::stdin().lock().read_line(&mut line)? > 0 {
            line.clear();
        }
        return Ok(());
    }
    run(&args)
}

fn run(args: &Args) -> Result<()> {
    let size = args.mib << 20;
    let dir = &args.dir;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let src = dir.join("source.bin");
    let out = dir.join("downloaded.bin");
    print!("writing a {} MiB source file ... ", args.mib);
    std::io::stdout().flush()?;
    let h = write_source(&src, size, b"tessera store bench")?;
    println!("{}", blobs::hex(&h));

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve-s3")
        .arg(dir.join("buckets"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the S3 server process")?;
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().context("server stdout")?).read_line(&mut port)?;
    let port: u16 = port
        .trim()
        .parse()
        .with_context(|| format!("the S3 server printed {port:?}, not a port"))?;
    let pid = child.id();
    let server = KillOnDrop(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let options = [
        ("aws_access_key_id", tessera_tests::s3::ACCESS_KEY),
        ("aws_secret_access_key", tessera_tests::s3::SECRET_KEY),
        ("aws_region", tessera_tests::s3::REGION),
        ("aws_endpoint", endpoint.as_str()),
        ("aws_allow_http", "true"),
    ];
    // (the download finds the store opened below; the environment is there for any other path)
    std::env::set_var("AWS_ACCESS_KEY_ID", tessera_tests::s3::ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", tessera_tests::s3::SECRET_KEY);
    std::env::set_var("AWS_REGION", tessera_tests::s3::REGION);
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var("AWS_ALLOW_HTTP", "true");
    let target = ObjectTarget::open(&format!("s3://{BUCKET}/blobs"), &options)?;
    let idle = proc_status(pid, "VmRSS")?;
    let before = proc_status(std::process::id(), "VmHWM")?;

    let t = Instant::now();
    let (got, uri) = blobs::block_on(BlobTarget::Object(target).put_file(&src))?;
    let up = t.elapsed();
    if got != h {
        bail!(
            "the upload hashed to {}, not {}",
            blobs::hex(&got),
            blobs::hex(&h)
        );
    }
    let client_after_up = proc_status(std::process::id(), "VmHWM")?;
    let server_after_up = proc_status(pid, "VmHWM")?;

    let t = Instant::now();
    let n = blobs::block_on(blobs::fetch_to_file(&uri, &h, &out, size))?;
    let down = t.elapsed();
    if n != size {
        bail!("downloaded {n} bytes, not {size}");
    }
    let client_peak = proc_status(std::process::id(), "VmHWM")?;
    let server_peak = proc_status(pid, "VmHWM")?;
    drop(server);

    let mbs = |d: Duration| size as f64 / 1e6 / d.as_secs_f64();
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!();
    println!("| blob | upload (file -> s3://) | download (s3:// -> file) | client peak RSS before / after upload / after download | store process RSS idle / peak |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} MiB | {:.0} MB/s ({:.1} s) | {:.0} MB/s ({:.1} s) | {:.1} / {:.1} / {:.1} MiB | {:.1} / {:.1} MiB |",
        args.mib,
        mbs(up),
        up.as_secs_f64(),
        mbs(down),
        down.as_secs_f64(),
        mib(before),
        mib(client_after_up),
        mib(client_peak),
        mib(idle),
        mib(server_peak.max(server_after_up)),
    );
    println!("(upload = a hashing pass over the file, then a multipart upload of 8 MiB parts, at most 4 in flight; download hash-checked while streaming)");
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
