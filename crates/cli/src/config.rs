//! `tessera config`: the network's on-chain configuration — show it, initialise it with a
//! cluster's parameter profile, update it (authority only). Every parameter is checked against
//! the program's bounds and the cluster's rules before anything is sent
//! (`tessera_sdk::cluster`).
use anyhow::{Context, Result};
use clap::Subcommand;
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Config, ConfigParams};
use tessera_rpc as rpc;
use tessera_rpc::network;
use tessera_sdk::cluster::{self, Cluster, Kind, FIELDS};
use tessera_sdk::units::format_amount;
use tessera_sdk::{ix, pda};

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// Show the on-chain config, with the cluster and program id this binary is built for.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Initialise the network (migration step): token mint, treasury and config, with the
    /// parameter profile of --cluster (windows of seconds on localnet, minutes on devnet and
    /// mainnet). Without --url, the cluster's public RPC endpoint is used.
    Init {
        /// localnet, devnet or mainnet (mainnet-beta).
        #[arg(long, default_value = "localnet")]
        cluster: String,
        /// Use this existing mint instead of creating one.
        #[arg(long)]
        mint: Option<Pubkey>,
        /// Decimals of a newly created mint.
        #[arg(long, default_value_t = 6)]
        decimals: u8,
        /// Override one parameter of the profile, e.g. `commit_window_secs=20m`,
        /// `min_stake=500` (tokens); repeat for several. `tessera config init --dry-run` lists them.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// Print the parameters that would be written, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change parameters (the config authority signs: --keypair). The new values are checked
    /// against the program's bounds and the cluster's rules before anything is sent.
    Update {
        /// `KEY=VALUE`, e.g. `protocol_fee_bps=200`, `reveal_window_secs=15m`; repeat for several.
        #[arg(long = "param", value_name = "KEY=VALUE", required = true)]
        params: Vec<String>,
        /// The cluster whose rules apply (default: the one the URL names, else the build's).
        #[arg(long)]
        cluster: Option<String>,
        /// Print the change, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `url_given`: --url (or TESSERA_RPC_URL) was set, rather than defaulted.
pub fn config_cmd(
    url: &str,
    url_given: bool,
    cmd: &ConfigCmd,
    keypair: impl Fn() -> Result<Keypair>,
) -> Result<()> {
    let client = |url: &str| RpcClient::new_with_commitment(url, CommitmentConfig::confirmed());
    match cmd {
        ConfigCmd::Show { json } => show(&client(url), *json),
        ConfigCmd::Init {
            cluster,
            mint,
            decimals,
            params,
            dry_run,
        } => {
            let cluster: Cluster = cluster.parse()?;
            let url = if url_given { url } else { cluster.rpc_url() };
            cluster::check_target(cluster, url)?;
            cluster::precheck_overrides(cluster, params)?;
            let rpc = client(url);
            let decimals = match mint {
                Some(m) => mint_decimals(&rpc, m)?,
                None => *decimals,
            };
            let p = profile_with(cluster, decimals, params)?;
            if *dry_run {
                println!("config init --cluster {cluster} on {url} would write:");
                print_params(&p, decimals);
                return Ok(());
            }
            init(&rpc, &keypair()?, *mint, decimals, p)
        }
        ConfigCmd::Update {
            params,
            cluster,
            dry_run,
        } => {
            let cluster = match cluster {
                Some(c) => c.parse()?,
                None => Cluster::from_url(url).unwrap_or_else(Cluster::built_for),
            };
            cluster::check_target(cluster, url)?;
            cluster::precheck_overrides(cluster, params)?;
            let authority = keypair()?;
            let rpc = client(url);
            let current = rpc::fetch_config(&rpc)?;
            let decimals = rpc::decimals(&rpc, &current)?;
            let p = cluster::plan_update(&current, &authority.pubkey(), cluster, params, decimals)?;
            print_changes(&current.params(), &p, decimals);
            if *dry_run {
                return Ok(());
            }
            let ixs = [ix::update_config(
                &authority.pubkey(),
                &current.token_program,
                Some(p),
                None,
                None,
            )];
            rpc::send(&rpc, &ixs, &authority, &[]).context("update_config")?;
            println!("updated the config on {url}");
            Ok(())
        }
    }
}

fn mint_decimals(rpc: &RpcClient, mint: &Pubkey) -> Result<u8> {
    let acc = rpc
        .get_account(mint)
        .with_context(|| format!("fetching the mint {mint}"))?;
    tessera_sdk::token::decimals_of(&acc.data)
        .with_context(|| format!("{mint} is not a token mint"))
}

/// The cluster's profile for a mint of `decimals`, with the overrides, fully checked.
fn profile_with(cluster: Cluster, decimals: u8, overrides: &[String]) -> Result<ConfigParams> {
    let mut p = cluster::params_for(cluster, decimals)?;
    for kv in overrides {
        cluster::apply_override(&mut p, kv, decimals)?;
    }
    cluster::check_for_cluster(cluster, &p)?;
    Ok(p)
}

fn init(
    rpc: &RpcClient,
    authority: &Keypair,
    mint: Option<Pubkey>,
    decimals: u8,
    p: ConfigParams,
) -> Result<()> {
    if let Ok(existing) = rpc::fetch_config(rpc) {
        println!("the config already exists (use `tessera config update` to change it):");
        println!("{}", network::describe_config(&existing));
        return Ok(());
    }
    let mint = match mint {
        Some(m) => m,
        None => network::create_mint(rpc, authority, decimals)?,
    };
    let c = network::init_config(rpc, authority, &mint, p)?;
    println!("{}", network::describe_config(&c));
    Ok(())
}

fn show(rpc: &RpcClient, json: bool) -> Result<()> {
    let c = rpc::fetch_config(rpc)?;
    let (built, program) = (Cluster::built_for(), Cluster::program_id());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ConfigJson::new(&c, built, program))?
        );
    } else {
        println!("cluster       {built} (this binary's build)\nprogram       {program}");
        println!("{}", network::describe_config(&c));
    }
    Ok(())
}

fn value(f: &cluster::Field, p: &ConfigParams, decimals: u8) -> String {
    let v = (f.get)(p);
    match f.kind {
        Kind::Tokens => format!("{} tokens", format_amount(v as u64, decimals)),
        Kind::Secs => format!("{v} s"),
        Kind::Bps | Kind::Count => v.to_string(),
    }
}

fn print_params(p: &ConfigParams, decimals: u8) {
    for f in &FIELDS {
        println!("  {:<28} {}", f.name, value(f, p, decimals));
    }
}

fn print_changes(old: &ConfigParams, new: &ConfigParams, decimals: u8) {
    for f in FIELDS.iter().filter(|f| (f.get)(old) != (f.get)(new)) {
        println!(
            "  {:<28} {} -> {}",
            f.name,
            value(f, old, decimals),
            value(f, new, decimals)
        );
    }
}

#[derive(serde::Serialize)]
struct ConfigJson {
    cluster: Cluster,
    program_id: String,
    address: String,
    authority: String,
    mint: String,
    token_program: String,
    treasury: String,
    protocol_fee_bps: u16,
    min_stake: u64,
    unbonding_secs: i64,
    commit_window_secs: i64,
    reveal_window_secs: i64,
    challenge_window_secs: i64,
    paused: bool,
}

impl ConfigJson {
    fn new(c: &Config, cluster: Cluster, program: Pubkey) -> Self {
        ConfigJson {
            cluster,
            program_id: program.to_string(),
            address: pda::config().0.to_string(),
            authority: c.authority.to_string(),
            mint: c.mint.to_string(),
            token_program: c.token_program.to_string(),
            treasury: c.treasury.to_string(),
            protocol_fee_bps: c.protocol_fee_bps,
            min_stake: c.min_stake,
            unbonding_secs: c.unbonding_secs,
            commit_window_secs: c.commit_window_secs,
            reveal_window_secs: c.reveal_window_secs,
            challenge_window_secs: c.challenge_window_secs,
            paused: c.paused,
        }
    }
}
