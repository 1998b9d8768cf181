//! `tessera-worker`: the node operator's daemon and its set-up commands.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{signature::Keypair, signer::Signer};
use tessera::constants::{CAP_CPU, CAP_CUDA, MAX_GPU_MODEL_LEN};
use tessera::state::{Hardware, Node};
use tessera_cmdline as cmdline;
use tessera_compute::{Backend, BackendKind, DevicePreference};
use tessera_rpc as rpc;
use tessera_sdk::units::{format_amount, parse_amount};
use tessera_sdk::{ix, pda};

mod chain;
mod cmd;
mod compute;
mod config;
mod control;
mod metrics;
mod models;
mod scheduler;
mod state;
mod storage;

use config::Config;
use state::Stage;

#[derive(Parser)]
#[command(
    name = "tessera-worker",
    version,
    about = "Tessera node operator: registers a GPU node, stakes, and runs the daemon that claims jobs, computes them (CUDA, CPU fallback), commits and reveals results"
)]
struct Cli {
    /// Config file (write one with `init`).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "TESSERA_WORKER_CONFIG",
        default_value = "~/.config/tessera/worker.toml"
    )]
    config: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a commented config file (and a new keypair if the keypair file does not exist).
    Init {
        /// The cluster (localnet, devnet, mainnet): its default RPC and websocket URLs. A
        /// binary is built for one cluster (`TESSERA_CLUSTER`, docs/DEPLOY.md); another is
        /// refused.
        #[arg(long)]
        cluster: Option<tessera_sdk::cluster::Cluster>,
        /// RPC URL of the cluster (default: the cluster's, else http://127.0.0.1:8899).
        #[arg(long)]
        rpc_url: Option<String>,
        /// Websocket URL (default: the cluster's, else the RPC URL's port + 1, ws://).
        #[arg(long)]
        ws_url: Option<String>,
        /// Operator keypair file (Solana CLI JSON format); created if missing.
        #[arg(long, default_value = "id.json")]
        keypair: String,
        /// Where results are published: blob server URL, directory, or object store
        /// (`s3://bucket/prefix`, `gs://…`, `az://…`; see docs/STORAGE.md).
        #[arg(long, default_value = "http://127.0.0.1:8990")]
        blobs: String,
        /// Prometheus listen address.
        #[arg(long, default_value = "127.0.0.1:9100")]
        metrics_addr: String,
        /// Overwrite an existing config file.
        #[arg(long)]
        force: bool,
    },
    /// Detect the compute device, run a short kernel benchmark and register this node
    /// on-chain with its hardware attributes (or update them if already registered).
    Register {
        /// Endpoint to publish with the node (e.g. its metrics URL).
        #[arg(long, default_value = "")]
        endpoint: String,
    },
    /// Move tokens from the operator's token account into the node's stake vault.
    Stake {
        /// Tokens, e.g. 500 or 12.5.
        amount: String,
    },
    /// Start unbonding stake (it stops backing new claims; withdraw after the unbonding period).
    Unstake {
        /// Tokens, e.g. 500 or 12.5.
        amount: String,
    },
    /// Withdraw unbonded stake (after the unbonding period, with no open claims).
    Withdraw,
    /// The daemon (when one runs: health, websocket, slot, draining, its claims in flight with
    /// their journal stage; else the journal file), then the node account: stake,
    /// reputation, open claims, earnings, SOL and token balances.
    Status,
    /// Ask the running daemon to finish its claims in flight (commit, reveal, settle) and take
    /// no new ones; waits until it reports drained.
    Drain {
        /// Stop the daemon once drained (exit status 0: systemd's Restart=on-failure leaves it
        /// stopped).
        #[arg(long)]
        exit: bool,
        /// Stop draining: take new jobs again.
        #[arg(long, conflicts_with = "exit")]
        cancel: bool,
        /// Return at once instead of waiting until drained.
        #[arg(long)]
        no_wait: bool,
    },
    /// Close this node's account and stake vault (rent and any stray tokens come back to the
    /// operator). Needs no open claim and all stake withdrawn: drain, unstake, withdraw first.
    Deregister {
        /// Confirm: the node's on-chain reputation is deleted with it.
        #[arg(long)]
        yes: bool,
    },
    /// Run the daemon: watch for jobs, claim, compute, commit, reveal, settle. Ctrl-C or
    /// SIGTERM stops it cleanly; a restart resumes every claim from the journal.
    Run {
        /// Publish wrong results (for demos and tests of slashing). Never use on a real node.
        #[arg(long, hide_short_help = true)]
        dishonest: bool,
        /// Testing crash safety: exit abruptly right after this step is journaled
        /// (claimed, computed, committed, revealed).
        #[arg(long, hide_short_help = true)]
        crash_after: Option<String>,
    },
    /// Print the version and the compute device this machine would use.
    Version,
}

fn main() {
    let cli = Cli::parse();
    let mut url = "the configured rpc_url".to_string();
    let res = match &cli.cmd {
        Cmd::Init { .. } | Cmd::Version => run_cmd(&cli, None),
        _ => Config::load(&cmdline::expand(&cli.config)).and_then(|c| {
            url = c.rpc_url.clone();
            run_cmd(&cli, Some(c))
        }),
    };
    if let Err(e) = res {
        let fix = format!("set rpc_url in {}", cli.config);
        eprintln!("error: {}", cmdline::one_line(&e, &url, &fix));
        std::process::exit(1);
    }
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tessera_compute=info"));
    let json = cfg.log.format.as_deref() == Some("json");
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn keypair(cfg: &Config) -> Result<Keypair> {
    cmdline::load_keypair(&cfg.keypair.display().to_string())
}

fn backend(cfg: &Config) -> Result<Backend> {
    let pref: DevicePreference = cfg
        .device
        .parse()
        .map_err(|e| anyhow::anyhow!("device: {e}"))?;
    Backend::select(pref).map_err(|e| anyhow::anyhow!("compute device: {e}"))
}

fn run_cmd(cli: &Cli, cfg: Option<Config>) -> Result<()> {
    match &cli.cmd {
        Cmd::Version => {
            println!("{}", tessera_sdk::version_string("tessera-worker"));
            let b = Backend::from_env()?;
            let info = b.info();
            println!("device: {} ({:?})", info.name, info.kind);
            if let Some(reason) = b.fallback_reason() {
                println!("note: {reason}");
            }
            Ok(())
        }
        Cmd::Init {
            cluster,
            rpc_url,
            ws_url,
            keypair,
            blobs,
            metrics_addr,
            force,
        } => {
            let path = cmdline::expand(&cli.config);
            if path.exists() && !force {
                bail!(
                    "{} already exists (pass --force to overwrite)",
                    path.display()
                );
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            control::private_dir(dir)?;
            let (rpc_url, ws) = init_urls(*cluster, rpc_url.as_deref(), ws_url.as_deref())?;
            let rpc_url = &rpc_url;
            write_private(
                &path,
                &config::template(rpc_url, &ws, keypair, blobs, metrics_addr),
            )?;
            let kp_path = if Path::new(keypair).is_absolute() {
                PathBuf::from(keypair)
            } else {
                dir.join(keypair)
            };
            if !kp_path.exists() {
                let kp = Keypair::new();
                cmdline::write_new_keypair(&kp_path, &kp)?;
                println!(
                    "new operator keypair {} at {}",
                    kp.pubkey(),
                    kp_path.display()
                );
            }
            println!("wrote {}", path.display());
            println!("next: fund the operator with SOL and tokens, then `tessera-worker register` and `tessera-worker stake <amount>`");
            Ok(())
        }
        _ => {
            let cfg = cfg.expect("config loaded");
            match &cli.cmd {
                Cmd::Register { endpoint } => register(&cfg, endpoint),
                Cmd::Stake { amount } => stake_cmd(&cfg, amount, StakeOp::Stake),
                Cmd::Unstake { amount } => stake_cmd(&cfg, amount, StakeOp::Unstake),
                Cmd::Withdraw => stake_cmd(&cfg, "0", StakeOp::Withdraw),
                Cmd::Status => cmd::status::run(&cfg),
                Cmd::Drain {
                    exit,
                    cancel,
                    no_wait,
                } => cmd::drain::run(&cfg, *exit, *cancel, *no_wait),
                Cmd::Deregister { yes } => cmd::deregister::run(&cfg, *yes),
                Cmd::Run {
                    dishonest,
                    crash_after,
                } => {
                    init_logging(&cfg);
                    let crash = match crash_after.as_deref() {
                        None => None,
                        Some("claimed") => Some(Stage::Claimed),
                        Some("computed") => Some(Stage::Computed),
                        Some("committed") => Some(Stage::Committed),
                        Some("revealed") => Some(Stage::Revealed),
                        Some(s) => {
                            bail!("--crash-after {s}: use claimed, computed, committed or revealed")
                        }
                    };
                    tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()?
                        .block_on(daemon(cfg, *dishonest, crash))
                }
                _ => unreachable!(),
            }
        }
    }
}

/// Writes `text` to `path` readable by its owner only (0600, also when it replaces a file).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("chmod 600 {}", path.display()))?;
        }
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `init`'s RPC and websocket URLs: given ones first, else the cluster's defaults, else
/// localnet's. The cluster must be one this binary is built for, and the URL must agree.
fn init_urls(
    cluster: Option<tessera_sdk::cluster::Cluster>,
    rpc_url: Option<&str>,
    ws_url: Option<&str>,
) -> Result<(String, String)> {
    use tessera_sdk::cluster::{check_target, check_url, Cluster};
    let rpc = rpc_url
        .map(str::to_owned)
        .unwrap_or_else(|| cluster.unwrap_or(Cluster::Localnet).rpc_url().to_owned());
    match cluster {
        Some(c) => check_target(c, &rpc)?,
        None => check_url(&rpc)?,
    }
    let ws = match (ws_url, cluster) {
        (Some(w), _) => w.to_owned(),
        (None, Some(c)) if rpc_url.is_none() => c.ws_url().to_owned(),
        _ => default_ws(&rpc)?,
    };
    Ok((rpc, ws))
}

fn default_ws(rpc_url: &str) -> Result<String> {
    let (scheme, rest) = rpc_url.split_once("://").context("rpc_url must be a URL")?;
    let ws_scheme = if scheme == "https" { "wss" } else { "ws" };
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            let p: u16 = port.parse()?;
            Ok(format!("{ws_scheme}://{host}:{}", p + 1))
        }
        _ => Ok(format!("{ws_scheme}://{rest}")),
    }
}

fn rpc_client(cfg: &Config) -> RpcClient {
    RpcClient::new_with_commitment(cfg.rpc_url.clone(), CommitmentConfig::confirmed())
}

fn hardware(b: &Backend, endpoint: &str) -> Hardware {
    let info = b.info();
    let mut name = info.name.clone();
    name.truncate(MAX_GPU_MODEL_LEN);
    let cuda = info.kind == BackendKind::Cuda;
    Hardware {
        gpu_model: name,
        vram_mb: (info.vram_bytes >> 20) as u32,
        compute_capability: if cuda {
            (info.compute_capability.0 * 10 + info.compute_capability.1) as u16
        } else {
            0
        },
        capabilities: if cuda { CAP_CUDA | CAP_CPU } else { CAP_CPU },
        endpoint: endpoint.to_string(),
    }
}

fn register(cfg: &Config, endpoint: &str) -> Result<()> {
    let op = keypair(cfg)?;
    let b = backend(cfg)?;
    let hw = hardware(&b, endpoint);
    println!(
        "device    {} ({:?}), {} MB, cc {}",
        hw.gpu_model,
        b.kind(),
        hw.vram_mb,
        hw.compute_capability
    );
    // A short benchmark: int8 GEMM 256³ and a small render, hashes checked against the CPU.
    let input = tessera_compute::gemm::build_i8_input(256, 256, 256, 1)?;
    let t = Instant::now();
    let out = tessera_compute::run(&input, &b)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "benchmark gemm-i8 256³ in {:.1} ms ({:.1} GOP/s)",
        secs * 1e3,
        2.0 * 256f64.powi(3) / secs / 1e9
    );
    if b.kind() == BackendKind::Cuda {
        let cpu = tessera_compute::run(&input, &Backend::cpu())?;
        if cpu.hash() != out.hash() {
            bail!("the GPU result differs from the CPU reference: this device cannot serve Tessera jobs");
        }
        println!("benchmark GPU result bit-identical to the CPU reference");
    }
    let rpc = rpc_client(cfg);
    let c = rpc::fetch_config(&rpc)?;
    let t = ix::TokenCtx::from_config(&c);
    let node = pda::node(&op.pubkey()).0;
    let exists = rpc
        .get_account_with_commitment(&node, rpc.commitment())?
        .value
        .is_some();
    let ixs = if exists {
        vec![ix::update_node(&op.pubkey(), hw)]
    } else {
        vec![
            tessera_sdk::token::create_ata_for(
                &t.token_program,
                &op.pubkey(),
                &op.pubkey(),
                &t.mint,
            ),
            ix::register_node(&t, &op.pubkey(), hw),
        ]
    };
    rpc::send(&rpc, &ixs, &op, &[]).context(if exists {
        "update_node"
    } else {
        "register_node"
    })?;
    println!(
        "node      {node} {}",
        if exists { "updated" } else { "registered" }
    );
    println!(
        "next      tessera-worker stake <amount> (minimum {} tokens)",
        format_amount(c.min_stake, rpc::decimals(&rpc, &c)?)
    );
    Ok(())
}

enum StakeOp {
    Stake,
    Unstake,
    Withdraw,
}

fn stake_cmd(cfg: &Config, amount: &str, op_kind: StakeOp) -> Result<()> {
    let op = keypair(cfg)?;
    let rpc = rpc_client(cfg);
    let c = rpc::fetch_config(&rpc)?;
    let d = rpc::decimals(&rpc, &c)?;
    let t = ix::TokenCtx::from_config(&c);
    let node_key = pda::node(&op.pubkey()).0;
    let node: Node = rpc::fetch(&rpc, "Node", &node_key).with_context(|| {
        format!("node {node_key} is not registered: run `tessera-worker register` first")
    })?;
    match op_kind {
        StakeOp::Stake => {
            let units = parse_amount(amount, d)?;
            let bal = rpc::token_balance(&rpc, &t.ata(&op.pubkey())).unwrap_or(0);
            if bal < units {
                bail!(
                    "insufficient funds: staking {} needs that many tokens in {}, which holds {}",
                    format_amount(units, d),
                    t.ata(&op.pubkey()),
                    format_amount(bal, d)
                );
            }
            rpc::send(&rpc, &[ix::stake(&t, &op.pubkey(), units)], &op, &[])?;
            println!(
                "staked {} (total {})",
                format_amount(units, d),
                format_amount(node.stake + units, d)
            );
        }
        StakeOp::Unstake => {
            let units = parse_amount(amount, d)?;
            if units > node.stake {
                bail!(
                    "the node has {} staked; cannot unstake {}",
                    format_amount(node.stake, d),
                    format_amount(units, d)
                );
            }
            rpc::send(&rpc, &[ix::request_unstake(&op.pubkey(), units)], &op, &[])?;
            println!(
                "unbonding {}; withdraw after {} s with `tessera-worker withdraw`",
                format_amount(units, d),
                c.unbonding_secs
            );
        }
        StakeOp::Withdraw => {
            if node.unbonding == 0 {
                bail!("nothing is unbonding: run `tessera-worker unstake <amount>` first");
            }
            rpc::send(&rpc, &[ix::withdraw_stake(&t, &op.pubkey())], &op, &[])
                .context("withdraw_stake (the unbonding period must be over and no claim open)")?;
            println!("withdrew {}", format_amount(node.unbonding, d));
        }
    }
    Ok(())
}

async fn daemon(cfg: Config, dishonest: bool, crash_after: Option<Stage>) -> Result<()> {
    let op = Arc::new(keypair(&cfg)?);
    let m = metrics::Metrics::new();
    let chain = Arc::new(chain::Chain::new(
        &cfg.rpc_url,
        op.clone(),
        m.clone(),
        &cfg.rpc.options(),
    ));
    // Wait for the cluster (a validator restart or outage pauses, it does not crash).
    let config = loop {
        let rpc = chain.rpc.clone();
        match rpc
            .get_account_with_commitment(&pda::config().0, CommitmentConfig::confirmed())
            .await
        {
            Ok(r) if r.value.is_none() => bail!(
                "no Tessera config on {}: deploy and initialise the network first",
                cfg.rpc_url
            ),
            Ok(r) => {
                let acc = r.value.expect("checked");
                break tessera_sdk::accounts::decode_owned::<tessera::state::Config>(
                    "Config", &acc.owner, &acc.data,
                )?;
            }
            Err(e) => {
                tracing::warn!("waiting for the cluster at {}: {e}", cfg.rpc_url);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
    };
    let mint = loop {
        match chain.account(&config.mint).await {
            Ok(Some(m)) => break m,
            Ok(None) => bail!("the config's mint {} does not exist", config.mint),
            Err(e) => {
                tracing::warn!("reading the mint (retrying): {e:#}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    let decimals = tessera_sdk::token::decimals_of(&mint.data).context("config mint")?;
    let b = backend(&cfg)?;
    tracing::info!(device = %b.info().name, kind = ?b.kind(), "compute backend ready");
    if let Some(w) = control::private_dir(&cfg.storage_dir)? {
        tracing::warn!("{w}");
    }
    let journal = state::Journal::open(&cfg.journal_path())?;
    // Inputs are fetched under the operator's policy, capped by the backend's own input limit.
    let policy = cfg.fetch.policy()?;
    let cap = policy.max_bytes().min(b.limits().max_input_bytes);
    let storage = storage::Storage::new(
        &cfg.cache_dir(),
        &cfg.blobs,
        policy.with_max_bytes(cap),
        cfg.fetch.max_downloads,
        op.clone(),
    )?
    .with_max_cache_bytes(cfg.fetch.max_cache_bytes);
    tracing::info!(
        schemes = ?cfg.fetch.schemes,
        hosts = ?storage.policy().allowed_hosts(),
        dirs = ?storage.policy().allowed_dirs(),
        stores = ?storage.policy().allowed_stores(),
        max_bytes = cap,
        timeout_secs = cfg.fetch.fetch_timeout_secs,
        "input fetch policy: public hosts plus these"
    );
    let mut w = scheduler::Worker::new(
        chain,
        journal,
        compute::Compute::new(b, cfg.capacity.compute_threads, cfg.capacity.gflops),
        storage,
        ix::TokenCtx::from_config(&config),
        parse_amount(&cfg.pricing.min_price, decimals).context("pricing.min_price")?,
        cfg.pricing.bid_bps,
        cfg.capacity.max_claims,
        cfg.ws_url.clone(),
    );
    w.min_price_per_gflop = parse_amount(&cfg.pricing.min_price_per_gflop, decimals)
        .context("pricing.min_price_per_gflop")?;
    w.dishonest = dishonest;
    w.crash_after = crash_after;
    w.fetch_retry = std::time::Duration::from_secs(cfg.fetch.retry_secs);
    w.pacing = cfg.rpc.pacing();
    if dishonest {
        tracing::warn!(
            "running DISHONEST: results will be tampered with (this node will be slashed)"
        );
    }
    let w = Arc::new(w);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let tx = Arc::new(tx);
    let stop = tx.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("stop requested");
        let _ = stop.send(true);
    });
    let limits = control::Limits {
        max_slot_age_secs: cfg.ops.max_slot_age_secs,
        max_ws_down_secs: cfg.ops.max_ws_down_secs,
        min_lamports: cfg.ops.min_lamports()?,
    };
    let ctl = control::Control::persisted(w.clone(), m.clone(), limits, cfg.drain_file())?;
    let sock = cfg.control_socket();
    {
        let (ctl, mut sd, sock) = (ctl.clone(), rx.clone(), sock.clone());
        tokio::spawn(async move {
            if let Err(e) = control::serve_socket(ctl, sock, async move {
                let _ = sd.changed().await;
            })
            .await
            {
                tracing::warn!("control socket: {e:#}");
            }
        });
    }
    tracing::info!(
        "control API on {} (`tessera-worker status`, `drain`)",
        sock.display()
    );
    tokio::spawn(control::exit_when_drained(
        ctl.clone(),
        tx.clone(),
        rx.clone(),
    ));
    tokio::spawn(control::balance::watch_balance(
        w.chain.rpc.clone(),
        op.pubkey(),
        m.clone(),
        std::time::Duration::from_secs(cfg.ops.balance_check_secs),
        limits.min_lamports,
        rx.clone(),
    ));
    if let Some(addr) = cfg.metrics_addr {
        let (m, mut sd, health) = (m.clone(), rx.clone(), control::health_router(ctl.clone()));
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(m, addr, health, async move {
                let _ = sd.changed().await;
            })
            .await
            {
                tracing::warn!("metrics: {e:#}");
            }
        });
        tracing::info!("metrics on http://{addr}/metrics, health on http://{addr}/health");
    }
    tracing::info!(operator = %op.pubkey(), "worker started");
    w.run(rx).await?;
    tracing::info!("worker stopped");
    Ok(())
}
