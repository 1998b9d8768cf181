//! `tessera`: the job submitter's CLI. One module per command group: `job`, `model`,
//! `blobs`, `config`; the network-wide views (nodes, market, token) stay here.
mod blobs;
mod config;
mod generate;
mod job;
mod model;
mod render;
mod train;
mod watch;

use anyhow::{Context, Result};
use clap::{parser::ValueSource, CommandFactory, FromArgMatches, Parser, Subcommand};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Job, JobState, Node};
use tessera_cmdline as cmdline;
use tessera_rpc as rpc;
use tessera_sdk::units::{format_amount, parse_amount};
use tessera_sdk::{ix, token};

use blobs::{blobs_cmd, BlobsCmd};
use config::{config_cmd, ConfigCmd};
use job::{job_cmd, kernel_name, JobCmd};
use model::{model_cmd, ModelCmd};
use train::{train_cmd, TrainCmd};

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
    /// RPC URL of the cluster (default: that of the cluster this binary is built for).
    #[arg(
        long,
        short = 'u',
        global = true,
        env = "TESSERA_RPC_URL",
        default_value = tessera_sdk::cluster::Cluster::built_for().rpc_url()
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
    /// Fine-tune an encoder across the network: a chain of train jobs, every checkpoint
    /// agreed by k replicas.
    Train {
        #[command(subcommand)]
        cmd: TrainCmd,
    },
    /// Models as content: upload an encoder for embed jobs.
    Model {
        #[command(subcommand)]
        cmd: ModelCmd,
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
enum NodeCmd {
    /// Registered nodes: hardware, stake, reputation, open claims.
    List,
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let url_given = matches.value_source("url") != Some(ValueSource::DefaultValue);
    if let Err(e) = run(&cli, url_given) {
        eprintln!("error: {}", cmdline::one_line(&e, &cli.url, "pass --url"));
        std::process::exit(1);
    }
}

fn run(cli: &Cli, url_given: bool) -> Result<()> {
    let client = || RpcClient::new_with_commitment(cli.url.clone(), CommitmentConfig::confirmed());
    let keypair = || cmdline::load_keypair(&cli.keypair);
    match &cli.cmd {
        Cmd::Version { program_id: true } => println!("{}", tessera_sdk::PROGRAM_ID),
        Cmd::Version { program_id: false } => {
            println!("{}", tessera_sdk::version_string("tessera"))
        }
        Cmd::Address => println!("{}", keypair()?.pubkey()),
        Cmd::Config { cmd } => config_cmd(&cli.url, url_given, cmd, keypair)?,
        Cmd::Job { cmd } => job_cmd(&cli.url, &client(), cmd, keypair)?,
        Cmd::Model { cmd } => model_cmd(cmd, keypair)?,
        Cmd::Train { cmd } => train_cmd(&cli.url, &client(), cmd, keypair)?,
        Cmd::Node { cmd: NodeCmd::List } => node_list(&client())?,
        Cmd::Market => market(&client())?,
        Cmd::Blobs { cmd } => blobs_cmd(cmd, keypair)?,
        Cmd::Token { cmd } => token_cmd(&client(), cmd, keypair)?,
    }
    Ok(())
}

fn node_list(rpc: &RpcClient) -> Result<()> {
    let nodes = rpc::list::<Node>(rpc, vec![])?;
    let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
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
    let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
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

fn token_cmd(rpc: &RpcClient, cmd: &TokenCmd, keypair: impl Fn() -> Result<Keypair>) -> Result<()> {
    let c = rpc::fetch_config(rpc)?;
    let d = rpc::decimals(rpc, &c)?;
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
