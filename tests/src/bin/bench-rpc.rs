//! `bench-rpc`: how many JSON-RPC requests one worker makes, per idle minute and per job.
//!
//! Starts its own `solana-test-validator` (program preloaded, as the fault tests do), a blob
//! server, and a counting proxy (`faultproxy`, no faults) between the worker and the
//! validator's JSON-RPC port; the websocket goes straight to the validator. For each worker
//! binary measured (the current `target/debug/tessera-worker`, and `--before <path>`, e.g. one
//! built from an older commit) it registers a fresh node, runs the daemon and counts:
//! 1. start-up: the first `--warmup-secs` after the daemon starts;
//! 2. idle: `--idle-secs` with no job on the network, reported per minute;
//! 3. jobs: `--jobs` gemm-i8 jobs with one replica, posted one after another, each settled
//!    and closed by its client once its challenge window is over; reported per job, as
//!    measured (idle background included) and net of the idle rate.
//!
//! The current binary runs with the `[rpc]` defaults for a public endpoint (600 requests a
//! minute, re-sync every 60 s, poll every 5 s) unless `--local-rpc` keeps what `init` writes for a
//! local validator; a `--before` binary gets its config without the `[rpc]` section (it
//! predates it). Prints one Markdown table per binary and a comparison; `--out` writes them too.
//!
//! `cargo run -p tessera-tests --bin bench-rpc -- --before /tmp/tessera-worker-a8e5954`
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use solana_sdk::{signature::Keypair, signer::Signer};
use tessera_sdk::ix;
use tessera_tests::faultproxy::{Counts, FaultProxy};
use tessera_tests::network::{bin_dir, free_port, Network, Proc, Validator};

#[derive(Parser)]
#[command(
    name = "bench-rpc",
    about = "Counts one worker's JSON-RPC requests per idle minute and per job"
)]
struct Args {
    /// A second worker binary to measure the same way (e.g. built from an older commit).
    #[arg(long)]
    before: Option<PathBuf>,
    /// Seconds counted as start-up before the idle window.
    #[arg(long, default_value_t = 20)]
    warmup_secs: u64,
    /// Length of the idle window (seconds).
    #[arg(long, default_value_t = 180)]
    idle_secs: u64,
    /// Jobs run one after another.
    #[arg(long, default_value_t = 5)]
    jobs: usize,
    /// Run the current worker with the `[rpc]` section `init` writes for a local validator
    /// instead of the defaults for a public endpoint.
    #[arg(long)]
    local_rpc: bool,
    #[arg(long, default_value = ".bench-rpc")]
    dir: PathBuf,
    /// Also write the tables here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The counts of one binary's run.
struct Run {
    label: String,
    warmup_secs: u64,
    startup: Counts,
    idle: Counts,
    idle_secs: f64,
    jobs: Counts,
    jobs_secs: f64,
    n_jobs: usize,
    /// Websocket messages by method, per phase (empty for a binary that does not count them).
    ws: [Counts; 3],
}

/// The websocket methods the worker counts in `tessera_worker_rpc_requests_total`.
const WS_METHODS: [&str; 2] = ["programSubscribe", "programNotification"];

/// Worker `w`'s websocket counts so far.
fn ws_counts(net: &Network, w: usize) -> Counts {
    let text = net.worker_metrics(w);
    WS_METHODS
        .iter()
        .filter_map(|m| {
            let key = format!("tessera_worker_rpc_requests_total{{method=\"{m}\"}}");
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix(key.as_str()))?
                .trim()
                .parse::<f64>()
                .ok()?;
            Some((m.to_string(), v as u64))
        })
        .collect()
}

const GEMM: &str =
    "kernel = \"gemm-i8\"\nprice = \"1\"\nreplicas = 1\nmax_escalations = 0\n[input]\nm = 16\n";

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<()> {
    if !Validator::available() {
        bail!("solana-test-validator is not on PATH: `source scripts/env.sh` first");
    }
    let dir = std::fs::canonicalize(".")?.join(&args.dir);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let wallet = Keypair::new();
    let port = free_port().max(20_000) % 40_000 + 20_000;
    let _v = Validator::start(&dir, port, &wallet.pubkey()).context("starting the validator")?;
    let mut net = Network::attach_with(
        &format!("http://127.0.0.1:{port}"),
        wallet,
        &dir,
        ix::localnet_params(),
    )?;
    if args.before.is_some() {
        // an older worker uploads its results unsigned
        net.start_open_blob_server()?;
    } else {
        net.start_blob_server()?;
    }
    let client = net.client(10_000)?;
    let mut runs = Vec::new();
    let current = bin_dir().join("tessera-worker");
    let mut bins: Vec<(String, PathBuf)> = Vec::new();
    if let Some(b) = &args.before {
        bins.push(("before".into(), b.clone()));
    }
    let label = if args.local_rpc {
        "after (local [rpc])"
    } else {
        "after (public [rpc] defaults)"
    };
    bins.push((label.into(), current));
    for (i, (label, bin)) in bins.iter().enumerate() {
        let w = net.add_worker(&format!("w{i}"), 100)?;
        let cfg = net.workers[w].config();
        let text = std::fs::read_to_string(&cfg)?;
        let text = if label == "before" {
            older_config(&text)
        } else if args.local_rpc {
            text
        } else {
            public_rpc(&text)
        };
        std::fs::write(&cfg, text)?;
        let proxy = FaultProxy::counting(port);
        net.set_worker_rpc(w, &proxy.url())?;
        eprintln!("[{label}] {} through {}", bin.display(), proxy.url());
        let mut proc = start(&net, w, bin)?;
        let r = measure(args, &net, w, &client, &proxy, &mut proc, label);
        let _ = proc.stop();
        runs.push(r.with_context(|| format!("{label}: {}", proc.log_tail(30)))?);
    }
    let mut text = String::new();
    for r in &runs {
        text.push_str(&table(r));
        text.push('\n');
    }
    if runs.len() == 2 {
        text.push_str(&compare(&runs[0], &runs[1]));
    }
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text)?;
    }
    Ok(())
}

fn measure(
    args: &Args,
    net: &Network,
    w: usize,
    client: &Keypair,
    proxy: &FaultProxy,
    proc: &mut Proc,
    label: &str,
) -> Result<Run> {
    std::thread::sleep(Duration::from_secs(args.warmup_secs));
    if !proc.is_running() {
        bail!("the worker exited during start-up");
    }
    let startup = proxy.counts();
    let ws_startup = ws_counts(net, w);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(args.idle_secs));
    let idle_secs = t.elapsed().as_secs_f64();
    let after_idle = proxy.counts();
    let ws_after_idle = ws_counts(net, w);
    let t = Instant::now();
    for n in 0..args.jobs {
        let p = net.post(client, GEMM)?;
        // the client settles (and so closes) the job once its challenge window is over, as
        // `tessera job close` does: the worker sends two transactions (claim, submit)
        net.client_settles(client, &p.job, Duration::from_secs(120))
            .with_context(|| format!("job {n}"))?;
        eprintln!("[{label}] job {} settled and closed by its client", n + 1);
    }
    // the worker's last steps after the settlement (closing its view of the job)
    std::thread::sleep(Duration::from_secs(2));
    let jobs_secs = t.elapsed().as_secs_f64();
    let end = proxy.counts();
    let ws_end = ws_counts(net, w);
    Ok(Run {
        ws: [
            ws_startup.clone(),
            diff(&ws_after_idle, &ws_startup),
            diff(&ws_end, &ws_after_idle),
        ],
        label: label.into(),
        warmup_secs: args.warmup_secs,
        idle: diff(&after_idle, &startup),
        jobs: diff(&end, &after_idle),
        startup,
        idle_secs,
        jobs_secs,
        n_jobs: args.jobs,
    })
}

fn start(net: &Network, w: usize, bin: &Path) -> Result<Proc> {
    let spec = &net.workers[w];
    let log = spec.dir.join("worker-bench.log");
    let out = std::fs::File::create(&log)?;
    let child = Command::new(bin)
        .arg("--config")
        .arg(spec.config())
        .arg("run")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    Ok(Proc {
        name: spec.name.clone(),
        child,
        log,
    })
}

/// `text` without its `[name]` section.
fn without_section(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = line.trim() == format!("[{name}]");
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `text` as a worker from before issue 21 reads it: no `[rpc]` or `[ops]` section, no
/// `[fetch] allowed_stores`.
fn older_config(text: &str) -> String {
    without_section(&without_section(text, "rpc"), "ops")
        .lines()
        .filter(|l| !l.trim_start().starts_with("allowed_stores"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `text` with the `[rpc]` values of a public endpoint (the defaults).
fn public_rpc(text: &str) -> String {
    let mut out = without_section(text, "rpc");
    out.push_str("\n[rpc]\nmax_requests_per_minute = 600\nresync_secs = 60\npoll_secs = 5\n");
    out
}

fn diff(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn total(c: &Counts) -> u64 {
    c.values().sum()
}

fn table(r: &Run) -> String {
    let per_min = r.idle_secs / 60.0;
    let mut methods: BTreeMap<&str, ()> = BTreeMap::new();
    for c in [&r.startup, &r.idle, &r.jobs] {
        for k in c.keys() {
            methods.insert(k, ());
        }
    }
    let get = |c: &Counts, k: &str| c.get(k).copied().unwrap_or(0) as f64;
    let mut s = format!(
        "### {}\n\nIdle window {:.0} s, {} jobs in {:.0} s.\n\n| method | start-up (first {} s) | per idle minute | per job |\n|---|---:|---:|---:|\n",
        r.label, r.idle_secs, r.n_jobs, r.jobs_secs, r.warmup_secs
    );
    for k in methods.keys() {
        s.push_str(&format!(
            "| `{k}` | {} | {:.1} | {:.1} |\n",
            get(&r.startup, k),
            get(&r.idle, k) / per_min,
            get(&r.jobs, k) / r.n_jobs as f64
        ));
    }
    let idle_rate = total(&r.idle) as f64 / r.idle_secs;
    let net = (total(&r.jobs) as f64 - idle_rate * r.jobs_secs) / r.n_jobs as f64;
    s.push_str(&format!(
        "| **total** | **{}** | **{:.1}** | **{:.1}** ({:.1} net of the idle rate) |\n",
        total(&r.startup),
        total(&r.idle) as f64 / per_min,
        total(&r.jobs) as f64 / r.n_jobs as f64,
        net
    ));
    if r.ws.iter().any(|c| !c.is_empty()) {
        for k in WS_METHODS {
            s.push_str(&format!(
                "| websocket `{k}` (outside the total) | {} | {:.1} | {:.1} |\n",
                get(&r.ws[0], k),
                get(&r.ws[1], k) / per_min,
                get(&r.ws[2], k) / r.n_jobs as f64
            ));
        }
    }
    s
}

fn compare(before: &Run, after: &Run) -> String {
    let idle = |r: &Run| total(&r.idle) as f64 / (r.idle_secs / 60.0);
    let job = |r: &Run| total(&r.jobs) as f64 / r.n_jobs as f64;
    format!(
        "| | before | after | after / before |\n|---|---:|---:|---:|\n| requests per idle minute | {:.1} | {:.1} | {:.2} |\n| requests per job | {:.1} | {:.1} | {:.2} |\n",
        idle(before),
        idle(after),
        idle(after) / idle(before).max(f64::MIN_POSITIVE),
        job(before),
        job(after),
        job(after) / job(before).max(f64::MIN_POSITIVE),
    )
}
