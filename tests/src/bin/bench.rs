//! `tessera-bench`: job pickup and end-to-end latency on a live local network.
//!
//! Starts a blob server and `--workers` worker processes against a running validator, posts
//! `--jobs` jobs per kernel (spaced by `--interval-ms`), and measures for each job:
//! * pickup in slots: the slot of the first `claim_job` on the job minus the slot of its
//!   `post_job` (both from `getSignaturesForAddress`), and in milliseconds (post confirmed →
//!   first claim seen at `confirmed`);
//! * end to end: post confirmed → job completed with every claim settled (this includes the
//!   commit/reveal round trips and the config's challenge window). With `--client-settles` (the
//!   default) each job's client settles its claims once the challenge window is over, and its
//!   last settlement closes the job (a k = 1 job: post, claim, submit, settle); otherwise the
//!   workers settle after their grace period and the bench closes the jobs at the end.
//!
//! Prints a Markdown table (also written to `--out` when given).
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use solana_sdk::pubkey::Pubkey;
use solana_sdk::{signature::Keypair, signer::Signer};
use tessera::state::{Job, JobState};
use tessera_cmdline as cmdline;
use tessera_jobs::jobs;
use tessera_sdk::accounts;
use tessera_tests::network::{Network, Proc};

#[derive(Parser)]
#[command(
    name = "tessera-bench",
    about = "Measures job pickup and end-to-end latency on a local Tessera network"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8899")]
    url: String,
    #[arg(long, default_value = "~/.config/solana/id.json")]
    keypair: String,
    /// Jobs per kernel.
    #[arg(long, default_value_t = 20)]
    jobs: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Replicas per job.
    #[arg(long, default_value_t = 2)]
    replicas: u8,
    /// Kernels (comma-separated): gemm-i8, gemm-f32, render, inference.
    #[arg(long, default_value = "gemm-i8,render,inference")]
    kernels: String,
    /// Milliseconds between posts (per posting client).
    #[arg(long, default_value_t = 250)]
    interval_ms: u64,
    /// Offered load: post this many jobs per second in all (the clients take turns on one
    /// schedule) instead of spacing each client's posts by --interval-ms. The summary then
    /// reports the completion rate while the load was on.
    #[arg(long)]
    rate: Option<f64>,
    /// Claims each worker may hold at once.
    #[arg(long, default_value_t = 8)]
    max_claims: usize,
    #[arg(long, default_value = ".bench")]
    dir: PathBuf,
    /// Also write the table here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Clients posting in parallel (each its own keypair and thread).
    #[arg(long, default_value_t = 1)]
    post_threads: usize,
    /// Posts each client sends before it waits for their confirmation (one
    /// `getSignatureStatuses` for the batch).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Each job's client settles its claims once the challenge window is over (its last
    /// settlement closes the job), as `tessera job close` does; `false`: the workers settle.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    client_settles: bool,
    /// Instead of jobs: measure the validator's ceiling on this machine with this many plain
    /// SOL transfers (sent from --post-threads payers without waiting, then all confirmed).
    #[arg(long)]
    transfers: Option<usize>,
}

/// `close_job` instructions packed into one transaction when the bench cleans up.
const CLOSES_PER_TX: usize = 6;

struct Sample {
    kernel: String,
    job: Pubkey,
    /// When the client's settlement was sent (resent if the job is still there 3 s later),
    /// and what it pays: the winners' prices.
    settle_sent: Option<Instant>,
    settle_pays: u64,
    post_slot: u64,
    posted_at: Instant,
    first_claim_at: Option<Duration>,
    done_at: Option<Duration>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {}", cmdline::one_line(&e, &args.url, "pass --url"));
        std::process::exit(1);
    }
}

fn spec(kernel: &str, replicas: u8) -> Result<String> {
    let input = match kernel {
        "gemm-i8" | "gemm-f32" => "m = 64",
        "render" => "scene = \"spheres\"\nwidth = 32\nheight = 32\nspp = 4",
        "inference" => "batch = 96",
        k => bail!("unknown kernel {k}"),
    };
    // an even k needs one escalation round budgeted (the program refuses it otherwise)
    let esc = u8::from(replicas.is_multiple_of(2));
    Ok(format!("kernel = \"{kernel}\"\nprice = \"1\"\nreplicas = {replicas}\nmax_escalations = {esc}\n[input]\n{input}\n"))
}

/// CPU seconds (user + system, all threads) a process has used so far, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// User + system CPU seconds in a `/proc/.../stat` file (0 when unreadable).
fn stat_cpu(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // fields after the ")" that ends the command name: state is field 3, utime 14, stime 15
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0 // USER_HZ is 100 on Linux
}

/// Processes named `solana-test-validator` (the local validator the bench runs against).
fn validator_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end().starts_with("solana-test-val"))
        })
        .collect()
}

/// CPU seconds per thread name (digits stripped, so pools add up) of a process.
fn thread_cpu(pid: u32) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in dir.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|v| v.parse::<u32>().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .unwrap_or_default()
            .trim_end()
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
        *out.entry(name).or_insert(0.0) += stat_cpu(&format!("/proc/{pid}/task/{tid}/stat"));
    }
    out
}

/// The validator threads that used the most CPU between two [`thread_cpu`] samples.
fn top_threads(before: &HashMap<String, f64>, after: &HashMap<String, f64>, n: usize) -> String {
    let mut d: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    d.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    d.iter()
        .take(n)
        .map(|(k, v)| format!("{k} {v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU seconds used by the validator, the workers, the blob server and this process.
fn cpu_profile(validators: &[u32], workers: &[u32], blobs: u32) -> [f64; 4] {
    [
        validators.iter().map(|&p| cpu_secs(p)).sum(),
        workers.iter().map(|&p| cpu_secs(p)).sum(),
        cpu_secs(blobs),
        cpu_secs(std::process::id()),
    ]
}

/// The clients settle the claims of `due` jobs (challenge window over), one transaction per job
/// signed by its client, sent without waiting: the last settlement closes the job, which the
/// polling loop then sees gone. Claims are found among the workers' nodes (one
/// `getMultipleAccounts` per 100 candidate claims).
fn client_settle(
    net: &Network,
    clients: &[Keypair],
    nodes: &[(Pubkey, Pubkey)],
    due: &[(Pubkey, Job)],
    samples: &mut [Sample],
    pending: &HashMap<Pubkey, usize>,
) -> Result<()> {
    use solana_client::rpc_config::RpcSendTransactionConfig;
    let candidates: Vec<(usize, Pubkey, Pubkey)> = due
        .iter()
        .enumerate()
        .flat_map(|(d, (job, _))| {
            nodes
                .iter()
                .map(move |(node, op)| (d, tessera_sdk::pda::claim(job, node).0, *op))
        })
        .collect();
    let mut claims: Vec<Vec<Pubkey>> = vec![vec![]; due.len()];
    for chunk in candidates.chunks(100) {
        let keys: Vec<Pubkey> = chunk.iter().map(|c| c.1).collect();
        let accs = tessera_rpc::read::multiple(&net.rpc, &keys, net.rpc.commitment())?.value;
        for (c, acc) in chunk.iter().zip(accs) {
            if acc.is_some() {
                claims[c.0].push(c.2);
            }
        }
    }
    let hash = net.rpc.get_latest_blockhash()?;
    let cfg = RpcSendTransactionConfig {
        skip_preflight: true,
        ..Default::default()
    };
    for ((job, j), ops) in due.iter().zip(claims) {
        let Some(client) = clients.iter().find(|c| c.pubkey() == j.client) else {
            continue;
        };
        if ops.is_empty() {
            continue;
        }
        let ixs: Vec<_> = ops
            .iter()
            .map(|op| tessera_sdk::ix::settle_claim(&net.tctx, &j.client, job, &j.client, op))
            .collect();
        let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
            &tessera_sdk::ix::with_compute_limit(&ixs),
            Some(&j.client),
            &[client],
            hash,
        );
        if net.rpc.send_transaction_with_config(&tx, cfg).is_ok() {
            let s = &mut samples[pending[job]];
            s.settle_sent = Some(Instant::now());
            s.settle_pays = j.price_per_replica * u64::from(j.votes(&j.winning_hash));
        }
    }
    Ok(())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

/// The validator's transaction ceiling here: `n` SOL transfers (the cheapest transaction
/// there is), sent as fast as `threads` payers can, counted once all are confirmed.
fn transfer_ceiling(net: &Network, n: usize, threads: usize) -> Result<()> {
    use solana_client::rpc_config::RpcSendTransactionConfig;
    let payers: Vec<Keypair> = (0..threads.max(1))
        .map(|_| net.client(1))
        .collect::<Result<_>>()?;
    let validators = validator_pids();
    let cpu0: f64 = validators.iter().map(|&p| cpu_secs(p)).sum();
    let threads0 = validators
        .first()
        .map(|&p| thread_cpu(p))
        .unwrap_or_default();
    let start = Instant::now();
    let handles: Vec<_> = payers
        .into_iter()
        .enumerate()
        .map(|(t, payer)| {
            let url = net.url.clone();
            let mine = n / threads.max(1) + usize::from(t < n % threads.max(1));
            std::thread::spawn(move || -> Result<Vec<solana_sdk::signature::Signature>> {
                let rpc = solana_client::rpc_client::RpcClient::new_with_commitment(
                    url,
                    solana_commitment_config::CommitmentConfig::confirmed(),
                );
                let mut sigs = Vec::with_capacity(mine);
                let mut hash = rpc.get_latest_blockhash()?;
                for i in 0..mine {
                    if i % 200 == 199 {
                        hash = rpc.get_latest_blockhash()?;
                    }
                    let ix = solana_system_interface::instruction::transfer(
                        &payer.pubkey(),
                        &Pubkey::new_unique(),
                        1_000_000 + i as u64,
                    );
                    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
                        &[ix],
                        Some(&payer.pubkey()),
                        &[&payer],
                        hash,
                    );
                    let cfg = RpcSendTransactionConfig {
                        skip_preflight: true,
                        max_retries: Some(0),
                        ..Default::default()
                    };
                    sigs.push(rpc.send_transaction_with_config(&tx, cfg)?);
                }
                Ok(sigs)
            })
        })
        .collect();
    let mut sigs = vec![];
    for h in handles {
        sigs.extend(h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??);
    }
    let sent = start.elapsed().as_secs_f64();
    let mut confirmed = 0usize;
    let mut failed = 0usize;
    let mut waiting = sigs;
    while !waiting.is_empty() && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
        let mut still = vec![];
        for chunk in waiting.chunks(256) {
            let st = net.rpc.get_signature_statuses(chunk)?.value;
            for (sig, st) in chunk.iter().zip(st) {
                match st {
                    Some(s) if s.err.is_some() => failed += 1,
                    Some(s)
                        if s.satisfies_commitment(
                            solana_commitment_config::CommitmentConfig::confirmed(),
                        ) =>
                    {
                        confirmed += 1
                    }
                    _ => still.push(*sig),
                }
            }
        }
        waiting = still;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu: f64 = validators.iter().map(|&p| cpu_secs(p)).sum::<f64>() - cpu0;
    let threads1 = validators
        .first()
        .map(|&p| thread_cpu(p))
        .unwrap_or_default();
    let hot = top_threads(&threads0, &threads1, 8);
    let summary = format!(
        "validator ceiling: {n} SOL transfers from {threads} payers, sent in {sent:.1} s, {confirmed} confirmed, {failed} failed, {} dropped (blockhash expired) in {wall:.1} s: {:.0} transfers/s; validator CPU {cpu:.1} s ({:.1} ms per confirmed transfer)\nvalidator threads (CPU s): {hot}\n",
        waiting.len(),
        confirmed as f64 / wall,
        cpu * 1e3 / confirmed.max(1) as f64,
    );
    print!("{summary}");
    Ok(())
}

fn run(args: &Args) -> Result<()> {
    let wallet = cmdline::load_keypair(&args.keypair)?;
    let _ = std::fs::remove_dir_all(&args.dir);
    let mut net = Network::attach(&args.url, wallet, &args.dir)?;
    if let Some(n) = args.transfers {
        return transfer_ceiling(&net, n, args.post_threads);
    }
    net.start_blob_server()?;
    for i in 0..args.workers {
        // each open claim locks collateral (1x its price): the stake must cover max_claims of
        // them, or the workers stop claiming before the network is loaded
        let stake = 200u64.max(args.max_claims as u64 * 2);
        net.add_worker(&format!("w{i}"), stake)?;
        let cfg = net.workers[i].config();
        let text = std::fs::read_to_string(&cfg)?.replace(
            "max_claims = 4",
            &format!("max_claims = {}", args.max_claims),
        );
        std::fs::write(&cfg, text)?;
    }
    let kernels: Vec<&str> = args.kernels.split(',').map(str::trim).collect();
    let total = kernels.len() * args.jobs;
    let threads = args.post_threads.max(1);
    let per_job = args.replicas as u64 * 2;
    let clients: Vec<Keypair> = (0..threads)
        .map(|_| net.client(total as u64 * per_job / threads as u64 + 100))
        .collect::<Result<_>>()?;
    let client_before: u64 = clients.iter().map(|c| net.balance(&c.pubkey())).sum();
    let mut procs: Vec<Proc> = (0..args.workers)
        .map(|i| net.start_worker(i, &[]))
        .collect::<Result<_>>()?;
    // The load starts once every worker is up, as an operator's would be when jobs arrive:
    // a worker calibrates its cost model (each kernel family timed) before it subscribes,
    // seconds of CPU that would otherwise compete with the first jobs.
    for p in &mut procs {
        p.wait_for_log("watching open jobs", Duration::from_secs(180))?;
    }
    let validators = validator_pids();
    let worker_pids: Vec<u32> = procs.iter().map(|p| p.child.id()).collect();
    let blob_pid = net.blob_server.as_ref().map(|p| p.child.id()).unwrap_or(0);
    let cpu_start = cpu_profile(&validators, &worker_pids, blob_pid);
    let threads_start = validators
        .first()
        .map(|&p| thread_cpu(p))
        .unwrap_or_default();

    // Posting threads: each client posts its share, spaced by --interval-ms.
    let mut order = vec![];
    for i in 0..args.jobs {
        for k in &kernels {
            order.push((i, k.to_string()));
        }
    }
    let (tx, rx) = std::sync::mpsc::channel::<Result<Sample, String>>();
    let start = Instant::now();
    let mut posters = vec![];
    for (t, client) in clients.iter().enumerate() {
        let mine: Vec<String> = order
            .iter()
            .enumerate()
            .filter(|(i, _)| i % threads == t)
            .map(|(_, (_, k))| k.clone())
            .collect();
        let client = client.insecure_clone();
        let tx = tx.clone();
        let url = net.url.clone();
        let blobs = net.blobs_url.clone();
        let (replicas, interval, pipeline) = (args.replicas, args.interval_ms, args.pipeline);
        // --rate: this client's n-th post is the (n × threads + t)-th on the common schedule
        let schedule = args.rate.map(|r| (r, t, threads));
        posters.push(std::thread::spawn(move || {
            let rpc = solana_client::rpc_client::RpcClient::new_with_commitment(
                url,
                solana_commitment_config::CommitmentConfig::confirmed(),
            );
            let target = tessera_blobs::BlobTarget::parse(&blobs)
                .expect("blobs")
                .signed_by(std::sync::Arc::new(client.insecure_clone()));
            let mut poster = match jobs::Poster::new(&rpc, &client) {
                Ok(p) => p,
                Err(e) => {
                    for _ in &mine {
                        let _ = tx.send(Err(format!("{e:#}")));
                    }
                    return;
                }
            };
            // Each client sends `pipeline` posts, then confirms them together.
            let mut n = 0usize;
            for batch in mine.chunks(pipeline.max(1)) {
                let mut sent = vec![];
                for k in batch {
                    if let Some((rate, t, threads)) = schedule {
                        let at = start + Duration::from_secs_f64((n * threads + t) as f64 / rate);
                        std::thread::sleep(at.saturating_duration_since(Instant::now()));
                        n += 1;
                    }
                    let r = spec(k, replicas)
                        .and_then(|text| {
                            Ok(toml::from_str::<tessera_jobs::jobspec::JobSpec>(&text)?)
                        })
                        .and_then(|sp| poster.send(&sp, &target));
                    match r {
                        Ok(s) => sent.push((k.clone(), s)),
                        Err(e) => {
                            if tx.send(Err(format!("{e:#}"))).is_err() {
                                return;
                            }
                        }
                    }
                    if schedule.is_none() {
                        std::thread::sleep(Duration::from_millis(interval));
                    }
                }
                let (kinds, sent): (Vec<String>, Vec<jobs::Sent>) = sent.into_iter().unzip();
                for (k, (_, v)) in kinds
                    .into_iter()
                    .zip(poster.confirm(sent, Duration::from_secs(60)))
                {
                    let r = v
                        .map(|p| Sample {
                            kernel: k,
                            job: p.job,
                            settle_sent: None,
                            settle_pays: 0,
                            post_slot: p.slot,
                            posted_at: Instant::now(),
                            first_claim_at: None,
                            done_at: None,
                        })
                        .map_err(|e| format!("{e:#}"));
                    if tx.send(r).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    drop(tx);
    let mut samples: Vec<Sample> = vec![];
    let mut pending: HashMap<Pubkey, usize> = HashMap::new();
    let nodes: Vec<(Pubkey, Pubkey)> = net
        .workers
        .iter()
        .map(|w| (w.node(), w.keypair.pubkey()))
        .collect();
    let (mut client_closed, mut client_paid) = (0usize, 0u64);
    let mut post_errors = 0usize;
    let mut received = 0usize;
    loop {
        while let Ok(r) = rx.try_recv() {
            received += 1;
            match r {
                Ok(s) => {
                    pending.insert(s.job, samples.len());
                    samples.push(s);
                }
                Err(e) => {
                    post_errors += 1;
                    eprintln!("post failed: {e}");
                }
            }
        }
        // poll pending jobs
        let keys: Vec<Pubkey> = pending.keys().copied().collect();
        // the chain's clock, not this machine's: under load the validator's lags, and a
        // settlement sent before the window is over on-chain is refused
        let now_unix = tessera_rpc::read::one(
            &net.rpc,
            &solana_sdk::sysvar::clock::ID,
            net.rpc.commitment(),
        )?
        .value
        .and_then(|a| accounts::clock_unix_timestamp(&a.data))
        .unwrap_or(0);
        let mut due: Vec<(Pubkey, Job)> = vec![];
        for chunk in keys.chunks(100) {
            let accs = tessera_rpc::read::multiple(&net.rpc, chunk, net.rpc.commitment())?.value;
            for (k, acc) in chunk.iter().zip(accs) {
                let Some(acc) = acc else {
                    // closed by its client's settlement
                    let s = &mut samples[pending[k]];
                    if s.settle_sent.is_some() {
                        s.done_at = Some(s.posted_at.elapsed());
                        client_closed += 1;
                        client_paid += s.settle_pays;
                        pending.remove(k);
                    }
                    continue;
                };
                let Ok(j) = accounts::decode::<Job>("Job", &acc.data) else {
                    continue;
                };
                let s = &mut samples[pending[k]];
                if s.first_claim_at.is_none()
                    && (j.round_claims > 0 || j.active_claims > 0 || j.unsettled_claims > 0)
                {
                    s.first_claim_at = Some(s.posted_at.elapsed());
                }
                let window_over = j.state == JobState::Challenge
                    && now_unix > j.challenge_deadline.saturating_add(1);
                let resend = s
                    .settle_sent
                    .is_none_or(|t| t.elapsed() > Duration::from_secs(3));
                if args.client_settles && (window_over || j.state == JobState::Completed) && resend
                {
                    due.push((*k, j.clone()));
                }
                if j.state.is_terminal() && j.unsettled_claims == 0 {
                    s.done_at = Some(s.posted_at.elapsed());
                    if j.state != JobState::Completed {
                        eprintln!("job {k} ended {:?}", j.state);
                    }
                    pending.remove(k);
                }
            }
        }
        if !due.is_empty() {
            client_settle(&net, &clients, &nodes, &due, &mut samples, &pending)?;
        }
        if pending.is_empty() && received == total {
            break;
        }
        if start.elapsed() > Duration::from_secs(120 + total as u64 * 2) {
            for p in &procs {
                eprintln!("--- {}\n{}", p.name, p.log_tail(10));
            }
            bail!("{} jobs still unfinished", pending.len());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu_end = cpu_profile(&validators, &worker_pids, blob_pid);
    let threads_end = validators
        .first()
        .map(|&p| thread_cpu(p))
        .unwrap_or_default();
    let hot = top_threads(&threads_start, &threads_end, 8);
    let cpu: Vec<f64> = cpu_end.iter().zip(cpu_start).map(|(e, s)| e - s).collect();

    // pickup in slots: the oldest signature on the job is post_job, the next one the first claim
    let mut slots: HashMap<Pubkey, u64> = HashMap::new();
    for s in &samples {
        // newest first: reversed, [0] is post_job and [1] the first claim
        let sigs = net.rpc.get_signatures_for_address_with_config(
            &s.job,
            solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                commitment: Some(solana_commitment_config::CommitmentConfig::confirmed()),
                ..Default::default()
            },
        )?;
        let v: Vec<u64> = sigs
            .iter()
            .rev()
            .filter(|x| x.err.is_none())
            .map(|x| x.slot)
            .collect();
        if let Some(first_claim) = v.get(1) {
            slots.insert(s.job, first_claim.saturating_sub(s.post_slot));
        }
    }

    let mut table = String::from("| kernel | jobs | pickup slots p50 / p90 / max | pickup ms p50 / p90 | end-to-end s p50 / p90 / max |\n|---|---:|---|---|---|\n");
    let mut all_slots = vec![];
    for k in &kernels {
        let ss: Vec<&Sample> = samples.iter().filter(|s| s.kernel == *k).collect();
        let mut sl: Vec<f64> = ss
            .iter()
            .filter_map(|s| slots.get(&s.job))
            .map(|&v| v as f64)
            .collect();
        all_slots.extend(sl.iter().copied());
        let mut pm: Vec<f64> = ss
            .iter()
            .filter_map(|s| s.first_claim_at)
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        let mut e2e: Vec<f64> = ss
            .iter()
            .filter_map(|s| s.done_at)
            .map(|d| d.as_secs_f64())
            .collect();
        table.push_str(&format!(
            "| {k} | {} | {:.0} / {:.0} / {:.0} | {:.0} / {:.0} | {:.1} / {:.1} / {:.1} |\n",
            ss.len(),
            pct(&mut sl, 0.5),
            pct(&mut sl, 0.9),
            pct(&mut sl, 1.0),
            pct(&mut pm, 0.5),
            pct(&mut pm, 0.9),
            pct(&mut e2e, 0.5),
            pct(&mut e2e, 0.9),
            pct(&mut e2e, 1.0),
        ));
    }
    // Payments: close every job, then each client must have paid exactly k × price per
    // completed job (nothing lost, nothing paid twice).
    // Jobs that ended otherwise (e.g. their commit window ran out while they queued) cost
    // their client nothing but what was paid out, less its share of any slash.
    let completed = samples.iter().filter(|s| s.done_at.is_some()).count();
    let mut completed_ok = client_closed;
    let mut owed: i128 = i128::from(client_paid);
    for s in &samples {
        if let Ok(j) = net.job(&s.job) {
            if j.state == JobState::Completed {
                completed_ok += 1;
            }
            owed += j.paid_out as i128 - j.slashed_to_client as i128;
        }
    }
    // close every job with the client that posted it: each client in its own thread, several
    // jobs per transaction (the close is bookkeeping, not part of what is measured)
    let mut by_client: HashMap<Pubkey, Vec<Pubkey>> = HashMap::new();
    for s in &samples {
        if let Ok(j) = net.job(&s.job) {
            by_client.entry(j.client).or_default().push(s.job);
        }
    }
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = clients
            .iter()
            .filter_map(|c| Some((c, by_client.remove(&c.pubkey())?)))
            .map(|(c, jobs)| {
                let net = &net;
                scope.spawn(move || -> Result<()> {
                    for chunk in jobs.chunks(CLOSES_PER_TX) {
                        let ixs: Vec<_> = chunk
                            .iter()
                            .map(|j| tessera_sdk::ix::close_job(&net.tctx, &c.pubkey(), j))
                            .collect();
                        tessera_rpc::send(&net.rpc, &ixs, c, &[])?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("closing thread panicked"))??;
        }
        Ok(())
    })?;
    let client_after: u64 = clients.iter().map(|c| net.balance(&c.pubkey())).sum();
    let price = 10u64.pow(net.decimals as u32);
    let expected = owed.max(0) as u64;
    let spent = client_before - client_after;
    let ended_otherwise = total - completed_ok;
    let metric = |name: &str| -> u64 {
        let v: f64 = (0..args.workers)
            .map(|i| net.worker_metric_sum(i, name))
            .sum();
        v.round().max(0.0) as u64
    };
    let races = metric("tessera_worker_claim_races_lost_total");
    let claim_fail = metric("tessera_worker_tx_failed_total{ix=\"claim_job\"}");
    let rpc_errors = metric("tessera_worker_rpc_errors_total");
    let tx_failed = metric("tessera_worker_tx_failed_total");
    // the other refused instructions, by name
    let other_failed: Vec<String> = [
        "submit_result",
        "commit_result",
        "reveal_result",
        "settle_claim",
        "finalize_job",
        "expire_claim",
        "place_bid",
        "close_bid",
        "close_auction",
    ]
    .iter()
    .filter_map(|ix| {
        let n = metric(&format!("tessera_worker_tx_failed_total{{ix=\"{ix}\"}}"));
        (n > 0).then(|| format!(", {n} {ix}"))
    })
    .collect();
    let other_failed = other_failed.concat();
    let tx_sent = metric("tessera_worker_tx_sent_total");
    let skipped = metric("tessera_worker_claims_skipped_full_total");
    let deferred = metric("tessera_worker_claims_deferred_total");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Sustained rate: jobs completed while the load was on, from the moment the first tenth of
    // the jobs had completed (the pipeline is full) to the moment the last post was confirmed.
    let mut finished: Vec<f64> = samples
        .iter()
        .filter_map(|s| {
            Some(
                (s.posted_at + s.done_at?)
                    .duration_since(start)
                    .as_secs_f64(),
            )
        })
        .collect();
    finished.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let posted_in = samples
        .iter()
        .map(|s| s.posted_at.duration_since(start).as_secs_f64())
        .fold(0.0, f64::max);
    let from = finished
        .get(finished.len() / 10)
        .copied()
        .unwrap_or(f64::NAN);
    let in_window = finished
        .iter()
        .filter(|&&t| t > from && t <= posted_in)
        .count();
    let sustained = if posted_in - from >= 5.0 {
        format!(
            "{:.1} jobs/s sustained ({in_window} completed from {from:.1} s, when a tenth were done, to {posted_in:.1} s, when the last post was confirmed)",
            in_window as f64 / (posted_in - from)
        )
    } else {
        format!("a burst: all posts were confirmed after {posted_in:.1} s, before the first tenth completed at {from:.1} s, so no sustained rate")
    };
    // Did a queue build up? End-to-end latency of the first and the last third of the jobs.
    let e2e_third = |part: usize| {
        let n = samples.len();
        let mut v: Vec<f64> = samples[n * part / 3..n * (part + 1) / 3]
            .iter()
            .filter_map(|s| s.done_at.map(|d| d.as_secs_f64()))
            .collect();
        pct(&mut v, 0.5)
    };
    let offered = match args.rate {
        Some(r) => format!("offered {r} jobs/s"),
        None => format!("one post every {} ms each", args.interval_ms),
    };
    let summary = format!(
        "{total} jobs ({} per kernel, k = {}, {} workers, {} posting client(s), {offered}, {} per confirmation) in {wall:.1} s: {:.1} jobs/s completed on average; {sustained}; median pickup {:.0} slot(s); end-to-end p50 of the first / last third of the jobs {:.1} / {:.1} s\n\
         completed {completed_ok}/{total}, {ended_otherwise} ended otherwise (posts failed: {post_errors}); clients paid {spent} base units, the jobs' payouts less the clients' slash shares are {expected} ({completed_ok} × {} replicas × {price} = {}): {}\n\
         worker transactions: {tx_sent} confirmed, {tx_failed} rejected ({claim_fail} claim_job refused{other_failed}; {races} claim races lost: double claims stopped on-chain), {skipped} claims not sent (slots seen full), {deferred} claims deferred to nodes drawn ahead in the same slot, {rpc_errors} RPC errors retried\n\
         CPU seconds while the jobs ran ({cores} cores × {wall:.1} s = {:.0} s available): validator {:.1}, workers {:.1}, blob server {:.1}, posting clients + bench {:.1}\n\
         validator threads (CPU s): {hot}\n",
        args.jobs, args.replicas, args.workers, threads, args.pipeline,
        completed as f64 / wall,
        pct(&mut all_slots, 0.5),
        e2e_third(0),
        e2e_third(2),
        args.replicas,
        completed_ok as u64 * args.replicas as u64 * price,
        if spent == expected { "exact" } else { "MISMATCH" },
        cores as f64 * wall,
        cpu[0],
        cpu[1],
        cpu[2],
        cpu[3],
    );
    if spent != expected || completed != total {
        print!("\n{table}\n{summary}");
        bail!("jobs lost or paid wrongly");
    }
    print!("\n{table}\n{summary}");
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{table}\n{summary}"))?;
    }
    drop(procs);
    Ok(())
}
