//! `tessera`: the job submitter's CLI.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Job, JobState, Node};
use tessera_client::blobs::{self, BlobTarget, DirStore};
use tessera_client::jobspec::{InputSpec, JobSpec, RequirementsSpec};
use tessera_client::units::{format_amount, parse_amount};
use tessera_client::{cli_util, ix, jobs, network, rpc, token};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: post GPU compute jobs, follow them and fetch verified results",
    long_about = "Tessera: post GPU compute jobs, follow them and fetch verified results.\n\n\
        Jobs run on staked nodes; each replica commits to a result hash, and a strict majority of \
        matching replicas releases the escrow. Every input and output is content-addressed \
        (BLAKE3), so `tessera job result` re-checks what it downloads against the chain."
)]
struct Cli {
    /// RPC URL of the cluster.
    #[arg(
        long,
        short = 'u',
        global = true,
        env = "TESSERA_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    url: String,
    /// Keypair file (Solana CLI JSON format) that signs and pays.
    #[arg(
        long,
        short = 'k',
        global = true,
        env = "TESSERA_KEYPAIR",
        default_value = "~/.config/solana/id.json"
    )]
    keypair: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the version and the program id.
    Version {
        /// Print only the program id.
        #[arg(long)]
        program_id: bool,
    },
    /// Print the public key of the keypair (--keypair).
    Address,
    /// The network's configuration.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Post, follow, fetch, cancel and list jobs.
    Job {
        #[command(subcommand)]
        cmd: Box<JobCmd>,
    },
    /// Registered nodes.
    Node {
        #[command(subcommand)]
        cmd: NodeCmd,
    },
    /// Open jobs and their prices: what nodes can take now.
    Market,
    /// The content-addressed blob store: serve it over HTTP, put and get blobs.
    Blobs {
        #[command(subcommand)]
        cmd: BlobsCmd,
    },
    /// Network token: balances and (for the mint authority) minting.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Show the on-chain config.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Initialise the network (migration step): token mint, treasury and config.
    Init {
        /// Use this existing mint instead of creating one.
        #[arg(long)]
        mint: Option<Pubkey>,
        /// Decimals of a newly created mint.
        #[arg(long, default_value_t = 6)]
        decimals: u8,
    },
}

#[derive(Subcommand)]
enum JobCmd {
    /// Post a job: build its input, upload it to the blob store, escrow the payment on-chain
    /// and print the job's address.
    Post(Box<PostArgs>),
    /// Show a job's state machine, claims, commits and reveals (`--watch` follows it to the end).
    Status {
        /// Job account address.
        job: Pubkey,
        /// Keep following until the job reaches a final state.
        #[arg(long)]
        watch: bool,
        /// Give up watching after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Download a job's result, check it against the on-chain result hash and write it out
    /// (PNG for renders, matrix file for GEMMs, predictions JSON for inference).
    Result {
        /// Job account address.
        job: Pubkey,
        /// Directory to write the result into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Blob store to look in when the claims that pointed at the result are closed.
        #[arg(long, env = "TESSERA_BLOBS")]
        blobs: Option<String>,
    },
    /// Cancel a job nobody has claimed yet; the whole escrow comes back.
    Cancel {
        /// Job account address.
        job: Pubkey,
    },
    /// Close a finished job: pays the protocol fees, refunds what is left, returns the rent.
    Close {
        /// Job account address.
        job: Pubkey,
    },
    /// List jobs (all, or only yours with --mine).
    List {
        /// Only jobs posted by --keypair.
        #[arg(long)]
        mine: bool,
        /// Only jobs in this state (bidding, open, revealing, challenge, completed, cancelled,
        /// expired, failed).
        #[arg(long)]
        state: Option<String>,
    },
}

#[derive(Args)]
struct PostArgs {
    /// Job file (TOML; see `tessera_client::jobspec`). Flags override its fields.
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
    /// Kernel: gemm-i8, gemm-f32, render or inference.
    #[arg(long)]
    kernel: Option<String>,
    /// A prebuilt input blob instead of generated input.
    #[arg(long)]
    input: Option<PathBuf>,
    /// GEMM rows of A (and default n, k).
    #[arg(long)]
    m: Option<u32>,
    /// GEMM columns of B.
    #[arg(long)]
    n: Option<u32>,
    /// GEMM inner dimension.
    #[arg(long)]
    k: Option<u32>,
    /// Seed of generated inputs.
    #[arg(long)]
    seed: Option<u64>,
    /// Render scene: cornell, spheres or a scene JSON file.
    #[arg(long)]
    scene: Option<String>,
    /// Render width in pixels.
    #[arg(long)]
    width: Option<u32>,
    /// Render height in pixels.
    #[arg(long)]
    height: Option<u32>,
    /// Render samples per pixel.
    #[arg(long)]
    spp: Option<u32>,
    /// Inference batch rows.
    #[arg(long)]
    batch: Option<u32>,
    /// Tokens per replica (the maximum in an auction).
    #[arg(long)]
    price: Option<String>,
    /// Replicas (k) that must agree.
    #[arg(long)]
    replicas: Option<u8>,
    /// fixed or auction.
    #[arg(long)]
    market: Option<String>,
    /// Extra rounds paid for if replicas disagree.
    #[arg(long)]
    max_escalations: Option<u8>,
    /// Seconds a claimer has to commit.
    #[arg(long)]
    exec_secs: Option<i64>,
    /// Seconds until the job's deadline (unspent escrow is refunded after it).
    #[arg(long)]
    deadline_secs: Option<i64>,
    /// Auction: seconds of bidding.
    #[arg(long)]
    bid_secs: Option<i64>,
    /// Where to upload the input: a blob server URL or a directory.
    #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
    blobs: String,
    /// After posting, follow the job like `job status --watch`.
    #[arg(long)]
    watch: bool,
}

#[derive(Subcommand)]
enum NodeCmd {
    /// Registered nodes: hardware, stake, reputation, open claims.
    List,
}

#[derive(Subcommand)]
enum BlobsCmd {
    /// Serve a blob directory over HTTP (GET/PUT /blobs/<blake3 hex>).
    Serve {
        /// Directory holding the blobs.
        #[arg(long, default_value = ".tessera/blobs")]
        dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8990")]
        addr: SocketAddr,
    },
    /// Store a file; prints its hash and URI.
    Put {
        file: PathBuf,
        /// Blob server URL or directory.
        #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
        blobs: String,
    },
    /// Fetch a blob by URI and check it against its hash.
    Get {
        /// http(s):// or file:// URI ending in the blob's hash.
        uri: String,
        /// Output file.
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Network-token balance of an address (default: --keypair).
    Balance { owner: Option<Pubkey> },
    /// Mint network tokens to an address (signer must be the mint authority); creates its
    /// token account if needed.
    Mint {
        to: Pubkey,
        /// Tokens, e.g. 100 or 2.5.
        amount: String,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("error: {}", cli_util::one_line(&e, &cli.url, "pass --url"));
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    let client = || RpcClient::new_with_commitment(cli.url.clone(), CommitmentConfig::confirmed());
    let keypair = || cli_util::load_keypair(&cli.keypair);
    match &cli.cmd {
        Cmd::Version { program_id: true } => println!("{}", tessera_client::PROGRAM_ID),
        Cmd::Version { program_id: false } => {
            println!("{}", tessera_client::version_string("tessera"))
        }
        Cmd::Address => println!("{}", keypair()?.pubkey()),
        Cmd::Config {
            cmd: ConfigCmd::Show { json },
        } => {
            let c = rpc::fetch_config(&client())?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&ConfigJson::from(&c))?);
            } else {
                println!("{}", network::describe_config(&c));
            }
        }
        Cmd::Config {
            cmd: ConfigCmd::Init { mint, decimals },
        } => {
            let authority = keypair()?;
            let rpc = client();
            let mint = match mint {
                Some(m) => *m,
                None => match rpc::fetch_config(&rpc) {
                    Ok(c) => c.mint,
                    Err(_) => network::create_mint(&rpc, &authority, *decimals)?,
                },
            };
            let c = network::init_config(&rpc, &authority, &mint, ix::localnet_params())?;
            println!("{}", network::describe_config(&c));
        }
        Cmd::Job { cmd } => job_cmd(cli, &client(), cmd, keypair)?,
        Cmd::Node { cmd: NodeCmd::List } => node_list(&client())?,
        Cmd::Market => market(&client())?,
        Cmd::Blobs { cmd } => blobs_cmd(cmd)?,
        Cmd::Token { cmd } => token_cmd(&client(), cmd, keypair)?,
    }
    Ok(())
}

fn job_cmd(
    cli: &Cli,
    rpc: &RpcClient,
    cmd: &JobCmd,
    keypair: impl Fn() -> Result<Keypair>,
) -> Result<()> {
    match cmd {
        JobCmd::Post(a) => {
            let client = keypair()?;
            let spec = spec_from(a)?;
            let target = BlobTarget::parse(&a.blobs)?;
            let posted = jobs::post(rpc, &client, &spec, &target)?;
            let c = rpc::fetch_config(rpc)?;
            let d = jobs::decimals(rpc, &c)?;
            println!("job       {}", posted.job);
            println!("job id    {}", posted.job_id);
            println!("kernel    {}", spec.kernel);
            println!("input     {}", posted.input_uri);
            println!("escrowed  {} tokens", format_amount(posted.deposit, d));
            println!(
                "follow    tessera job status {} --watch --url {}",
                posted.job, cli.url
            );
            if a.watch {
                watch(rpc, &posted.job, Duration::from_secs(600))?;
            }
        }
        JobCmd::Status {
            job,
            watch: w,
            timeout,
        } => {
            if *w {
                watch(rpc, job, Duration::from_secs(*timeout))?;
            } else {
                let j: Job = rpc::fetch(rpc, "Job", job)?;
                let claims = rpc::claims_of(rpc, job)?;
                let d = jobs::decimals(rpc, &rpc::fetch_config(rpc)?)?;
                print!("{}", jobs::describe(job, &j, &claims, d));
            }
        }
        JobCmd::Result { job, out, blobs } => {
            let r = jobs::fetch_result(rpc, job, blobs.as_deref())?;
            let (files, summary) = jobs::save_result(&r.output, out, &job.to_string())?;
            println!(
                "result    {} (verified: BLAKE3 matches the on-chain result hash)",
                blobs::hex(&r.output.hash())
            );
            println!("from      {}", r.source);
            println!("content   {summary}");
            for f in files {
                println!("wrote     {}", f.display());
            }
        }
        JobCmd::Cancel { job } => {
            let client = keypair()?;
            let j: Job = rpc::fetch(rpc, "Job", job)?;
            if j.client != client.pubkey() {
                bail!(
                    "job {job} belongs to {}, not to {}: only its client can cancel it",
                    j.client,
                    client.pubkey()
                );
            }
            if j.active_claims > 0 || j.unsettled_claims > 0 {
                bail!("job {job} already has claims; it can no longer be cancelled (it will complete, or expire and refund at its deadline)");
            }
            let t = ix::TokenCtx::from_config(&rpc::fetch_config(rpc)?);
            rpc::send(
                rpc,
                &[ix::cancel_job(&t, &client.pubkey(), job)],
                &client,
                &[],
            )?;
            println!(
                "cancelled {job}; the escrow is back in {}",
                t.ata(&client.pubkey())
            );
        }
        JobCmd::Close { job } => {
            let payer = keypair()?;
            let j: Job = rpc::fetch(rpc, "Job", job)?;
            let t = ix::TokenCtx::from_config(&rpc::fetch_config(rpc)?);
            rpc::send(rpc, &[ix::close_job(&t, &j.client, job)], &payer, &[])?;
            println!("closed {job}");
        }
        JobCmd::List { mine, state } => {
            let mut filters = vec![];
            if *mine {
                filters.push(rpc::key_filter(Job::CLIENT_OFFSET, &keypair()?.pubkey()));
            }
            if let Some(s) = state {
                filters.push(rpc::job_state_filter(parse_state(s)?));
            }
            let list = rpc::list::<Job>(rpc, filters)?;
            let d = jobs::decimals(rpc, &rpc::fetch_config(rpc)?)?;
            println!(
                "{:<44} {:<10} {:>10} {:>3}  state",
                "job", "kernel", "price", "k"
            );
            for (k, j) in &list {
                println!(
                    "{:<44} {:<10} {:>10} {:>3}  {}",
                    k.to_string(),
                    kernel_name(j.kernel_id),
                    format_amount(j.price_per_replica, d),
                    j.replicas,
                    jobs::progress_line(j)
                );
            }
            println!("{} job(s)", list.len());
        }
    }
    Ok(())
}

fn kernel_name(id: u16) -> String {
    tessera_compute::KernelId::from_u16(id)
        .map(|k| k.name().to_string())
        .unwrap_or_else(|| format!("#{id}"))
}

fn parse_state(s: &str) -> Result<JobState> {
    Ok(match s {
        "bidding" => JobState::Bidding,
        "open" => JobState::Open,
        "revealing" => JobState::Revealing,
        "challenge" => JobState::Challenge,
        "completed" => JobState::Completed,
        "cancelled" => JobState::Cancelled,
        "expired" => JobState::Expired,
        "failed" => JobState::Failed,
        _ => bail!("unknown state `{s}`: use bidding, open, revealing, challenge, completed, cancelled, expired or failed"),
    })
}

fn spec_from(a: &PostArgs) -> Result<JobSpec> {
    let mut spec = match &a.file {
        Some(f) => JobSpec::from_file(f)?,
        None => JobSpec {
            kernel: a
                .kernel
                .clone()
                .context("give --file job.toml or at least --kernel and --price")?,
            input: InputSpec::default(),
            price: toml::Value::String(
                a.price
                    .clone()
                    .context("give --price (tokens per replica)")?,
            ),
            replicas: 2,
            market: "fixed".into(),
            max_escalations: 1,
            exec_secs: None,
            deadline_secs: 600,
            bid_secs: 4,
            requirements: RequirementsSpec::default(),
        },
    };
    macro_rules! set {
        ($($src:ident => $dst:expr),* $(,)?) => { $( if let Some(v) = &a.$src { $dst = v.clone().into(); } )* };
    }
    set!(kernel => spec.kernel, replicas => spec.replicas, market => spec.market,
         max_escalations => spec.max_escalations, deadline_secs => spec.deadline_secs,
         bid_secs => spec.bid_secs);
    if let Some(p) = &a.price {
        spec.price = toml::Value::String(p.clone());
    }
    if a.exec_secs.is_some() {
        spec.exec_secs = a.exec_secs;
    }
    let i = &mut spec.input;
    if a.input.is_some() {
        i.file = a.input.clone();
    }
    macro_rules! opt {
        ($($f:ident),*) => { $( if a.$f.is_some() { i.$f = a.$f.clone(); } )* };
    }
    opt!(m, n, k, seed, scene, width, height, spp, batch);
    Ok(spec)
}

/// Follows a job with a progress display until it reaches a final state.
fn watch(rpc: &RpcClient, job: &Pubkey, timeout: Duration) -> Result<()> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let j: Job = match rpc::fetch(rpc, "Job", job) {
            Ok(j) => j,
            Err(e) if last.is_empty() => return Err(e),
            Err(_) => {
                bar.finish_with_message("job account closed (settled and closed)");
                return Ok(());
            }
        };
        let line = jobs::progress_line(&j);
        if line != last {
            if !last.is_empty() {
                bar.println(format!("  {last}"));
            }
            bar.set_message(line.clone());
            last = line;
        }
        if j.state.is_terminal() {
            bar.finish_with_message(last.clone());
            let claims = rpc::claims_of(rpc, job)?;
            let d = jobs::decimals(rpc, &rpc::fetch_config(rpc)?)?;
            print!("{}", jobs::describe(job, &j, &claims, d));
            return Ok(());
        }
        if start.elapsed() > timeout {
            bar.abandon_with_message(format!("{last} (still running after {timeout:?})"));
            bail!("job {job} did not finish within {timeout:?}; keep watching with `tessera job status {job} --watch`");
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

fn node_list(rpc: &RpcClient) -> Result<()> {
    let nodes = rpc::list::<Node>(rpc, vec![])?;
    let d = jobs::decimals(rpc, &rpc::fetch_config(rpc)?)?;
    println!(
        "{:<44} {:<24} {:>7} {:>5} {:>12} {:>6} {:>5} {:>5}",
        "node", "gpu", "vram MB", "cc", "stake", "rep %", "done", "open"
    );
    for (k, n) in &nodes {
        println!(
            "{:<44} {:<24} {:>7} {:>5} {:>12} {:>6.1} {:>5} {:>5}",
            k.to_string(),
            n.hardware.gpu_model,
            n.hardware.vram_mb,
            n.hardware.compute_capability,
            format_amount(n.stake, d),
            n.reputation.score_bps as f64 / 100.0,
            n.reputation.completed,
            n.open_claims
        );
    }
    println!("{} node(s)", nodes.len());
    Ok(())
}

fn market(rpc: &RpcClient) -> Result<()> {
    let d = jobs::decimals(rpc, &rpc::fetch_config(rpc)?)?;
    let mut open = rpc::list::<Job>(rpc, vec![rpc::job_state_filter(JobState::Open)])?;
    open.extend(rpc::list::<Job>(
        rpc,
        vec![rpc::job_state_filter(JobState::Bidding)],
    )?);
    open.sort_by_key(|(_, j)| std::cmp::Reverse(j.price_per_replica));
    println!(
        "{:<44} {:<10} {:>10} {:>6} {:>8}  requirements",
        "job", "kernel", "price", "free", "market"
    );
    for (k, j) in &open {
        let r = &j.requirements;
        println!(
            "{:<44} {:<10} {:>10} {:>6} {:>8}  vram ≥ {} MB, cc ≥ {}, stake ≥ {}{}",
            k.to_string(),
            kernel_name(j.kernel_id),
            format_amount(j.price_per_replica, d),
            j.slots.saturating_sub(j.round_claims),
            format!("{:?}", j.market).to_lowercase(),
            r.min_vram_mb,
            r.min_compute_capability,
            format_amount(r.min_stake, d),
            if r.capabilities & tessera::constants::CAP_CUDA != 0 {
                ", CUDA"
            } else {
                ""
            }
        );
    }
    println!("{} open job(s)", open.len());
    Ok(())
}

fn blobs_cmd(cmd: &BlobsCmd) -> Result<()> {
    match cmd {
        BlobsCmd::Serve { dir, addr } => {
            let store = DirStore::open(dir)?;
            println!(
                "serving {} on http://{addr}/blobs/<blake3>",
                store.root().display()
            );
            tokio::runtime::Runtime::new()?.block_on(blobs::serve(store, *addr, async {
                let _ = tokio::signal::ctrl_c().await;
            }))?;
        }
        BlobsCmd::Put { file, blobs: b } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let (h, uri) = blobs::block_on(BlobTarget::parse(b)?.put(&bytes))?;
            println!("{} {uri}", blobs::hex(&h));
        }
        BlobsCmd::Get { uri, out } => {
            let name = uri.rsplit('/').next().unwrap_or_default();
            let h = blobs::parse_hash(name)
                .with_context(|| format!("the URI `{uri}` does not end in a blob hash"))?;
            let bytes = blobs::block_on(blobs::fetch(uri, &h))?;
            std::fs::write(out, &bytes)?;
            println!(
                "{} bytes, hash verified, written to {}",
                bytes.len(),
                out.display()
            );
        }
    }
    Ok(())
}

fn token_cmd(rpc: &RpcClient, cmd: &TokenCmd, keypair: impl Fn() -> Result<Keypair>) -> Result<()> {
    let c = rpc::fetch_config(rpc)?;
    let d = jobs::decimals(rpc, &c)?;
    let t = ix::TokenCtx::from_config(&c);
    match cmd {
        TokenCmd::Balance { owner } => {
            let owner = match owner {
                Some(o) => *o,
                None => keypair()?.pubkey(),
            };
            let bal = rpc::token_balance(rpc, &t.ata(&owner)).unwrap_or(0);
            println!("{} tokens ({owner})", format_amount(bal, d));
        }
        TokenCmd::Mint { to, amount } => {
            let authority = keypair()?;
            let units = parse_amount(amount, d)?;
            let ixs = [
                token::create_ata_for(&t.token_program, &authority.pubkey(), to, &t.mint),
                token::mint_to_for(
                    &t.token_program,
                    &t.mint,
                    &t.ata(to),
                    &authority.pubkey(),
                    units,
                ),
            ];
            rpc::send(rpc, &ixs, &authority, &[])
                .context("minting (is --keypair the mint authority?)")?;
            println!("minted {} tokens to {to}", format_amount(units, d));
        }
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct ConfigJson {
    address: String,
    authority: String,
    mint: String,
    token_program: String,
    treasury: String,
    protocol_fee_bps: u16,
    min_stake: u64,
    unbonding_secs: i64,
    paused: bool,
}

impl From<&tessera::state::Config> for ConfigJson {
    fn from(c: &tessera::state::Config) -> Self {
        ConfigJson {
            address: tessera_client::pda::config().0.to_string(),
            authority: c.authority.to_string(),
            mint: c.mint.to_string(),
            token_program: c.token_program.to_string(),
            treasury: c.treasury.to_string(),
            protocol_fee_bps: c.protocol_fee_bps,
            min_stake: c.min_stake,
            unbonding_secs: c.unbonding_secs,
            paused: c.paused,
        }
    }
}
