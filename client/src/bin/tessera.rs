//! `tessera`: the job submitter's CLI.
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    pubkey::Pubkey,
    signature::{read_keypair_file, Keypair},
    signer::Signer,
};
use tessera_client::{ix, network, rpc};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: post GPU compute jobs and read verified results"
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

fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(path),
    }
}

fn load_keypair(path: &str) -> Result<Keypair> {
    let p = expand(path);
    read_keypair_file(&p).map_err(|e| anyhow::anyhow!("reading keypair {}: {e}", p.display()))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let client = || RpcClient::new_with_commitment(cli.url.clone(), CommitmentConfig::confirmed());
    match &cli.cmd {
        Cmd::Version { program_id: true } => println!("{}", tessera_client::PROGRAM_ID),
        Cmd::Version { program_id: false } => {
            println!("{}", tessera_client::version_string("tessera"))
        }
        Cmd::Address => println!("{}", load_keypair(&cli.keypair)?.pubkey()),
        Cmd::Config {
            cmd: ConfigCmd::Show { json },
        } => {
            let c = rpc::fetch_config(&client())
                .with_context(|| format!("no Tessera config on {}", cli.url))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&ConfigJson::from(&c))?);
            } else {
                println!("{}", network::describe_config(&c));
            }
        }
        Cmd::Config {
            cmd: ConfigCmd::Init { mint, decimals },
        } => {
            let authority = load_keypair(&cli.keypair)?;
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
