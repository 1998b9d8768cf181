//! The clusters Tessera runs on: where they are (RPC and websocket URLs), which program id a
//! build talks to, and the parameter profile `tessera config init --cluster` writes.
//!
//! The program id is fixed when the program crate is compiled (`programs/tessera/build.rs`):
//! `TESSERA_CLUSTER=devnet` takes Anchor.toml's `[programs.devnet]`, and the SDK, the CLI and
//! the worker built in that environment all use that same `tessera::ID`. A binary therefore
//! knows the one cluster it is built for ([`Cluster::built_for`]); [`check_target`] refuses
//! to send it to another public cluster, where its id would be someone else's program.
mod minimums;
mod params;
mod profile;
mod update;

use std::fmt;
use std::str::FromStr;

use solana_sdk::pubkey::Pubkey;

pub use minimums::Minimums;
pub use params::{
    apply_override, check_for_cluster, field, validate_bounds, Field, Kind, ParamError, FIELDS,
};
pub use profile::{params_for, profile, PROFILE_DECIMALS};
pub use update::{plan_update, precheck_overrides, UpdateError};

/// Public key of the committed program keypair (keys/tessera-program-keypair.json), the id of
/// a localnet build. Its secret key is public, so anyone could deploy at this address on a
/// public cluster: it is for local validators only.
pub const LOCALNET_PROGRAM_ID: Pubkey =
    Pubkey::from_str_const("H5Hi3xwQ22nX6Lm79ZXqzBNjuH37oj8nZ5Yvd1u7uvzP");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cluster {
    Localnet,
    Devnet,
    Mainnet,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    #[error("unknown cluster `{0}`: use localnet, devnet or mainnet (or mainnet-beta)")]
    Unknown(String),
    #[error(
        "this binary is built for {built} (program {program}), not for {wanted}: rebuild it for \
         {wanted}, e.g. `TESSERA_CLUSTER={wanted} cargo install --path crates/cli` (the program id \
         comes from Anchor.toml [programs.{wanted}])"
    )]
    BuiltForAnotherCluster {
        built: Cluster,
        program: Pubkey,
        wanted: Cluster,
    },
    #[error("--cluster {cluster} but --url {url} is {url_cluster}: drop --url or make them agree")]
    UrlMismatch {
        cluster: Cluster,
        url: String,
        url_cluster: Cluster,
    },
    #[error(
        "program {0} is the committed localnet key, whose secret is public: refused on {1}; \
         deploy with your own program keypair (migrations/deploy.sh --cluster {1} \
         --program-keypair <file>) and build for it"
    )]
    LocalnetKeyOnPublicCluster(Pubkey, Cluster),
}

impl Cluster {
    pub const ALL: [Cluster; 3] = [Cluster::Localnet, Cluster::Devnet, Cluster::Mainnet];

    /// The name used in Anchor.toml (`[programs.<name>]`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Cluster::Localnet => "localnet",
            Cluster::Devnet => "devnet",
            Cluster::Mainnet => "mainnet",
        }
    }

    /// Default JSON-RPC endpoint (the public Solana Foundation one for devnet and mainnet;
    /// use a paid provider's URL with `--url` for real traffic: the public ones rate-limit).
    pub fn rpc_url(self) -> &'static str {
        match self {
            Cluster::Localnet => "http://127.0.0.1:8899",
            Cluster::Devnet => "https://api.devnet.solana.com",
            Cluster::Mainnet => "https://api.mainnet-beta.solana.com",
        }
    }

    /// Default websocket (PubSub) endpoint.
    pub fn ws_url(self) -> &'static str {
        match self {
            Cluster::Localnet => "ws://127.0.0.1:8900",
            Cluster::Devnet => "wss://api.devnet.solana.com",
            Cluster::Mainnet => "wss://api.mainnet-beta.solana.com",
        }
    }

    /// Devnet and mainnet: slots of ~400 ms, RPC lag and operators' own machines.
    pub fn is_public(self) -> bool {
        self != Cluster::Localnet
    }

    /// The cluster an RPC URL points at, from its host: loopback is localnet, a host naming
    /// devnet or mainnet (Solana's own endpoints, most providers' URLs) is that cluster.
    /// `None` for a host that says neither (a private RPC, testnet).
    pub fn from_url(url: &str) -> Option<Cluster> {
        let host = url::Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" || host == "0.0.0.0" || host == "::1" || host.starts_with("127.") {
            Some(Cluster::Localnet)
        } else if host.contains("devnet") {
            Some(Cluster::Devnet)
        } else if host.contains("mainnet") {
            Some(Cluster::Mainnet)
        } else {
            None
        }
    }

    /// The cluster this binary is built for (`TESSERA_CLUSTER` when the program crate was
    /// compiled; see `programs/tessera/build.rs`).
    pub fn built_for() -> Cluster {
        tessera::BUILD_CLUSTER
            .parse()
            .expect("build.rs writes a known cluster name")
    }

    /// The program id this binary sends to: `tessera::ID`, the id of [`Cluster::built_for`].
    pub fn program_id() -> Pubkey {
        tessera::ID
    }

    /// `[programs.<cluster>] tessera` of an Anchor.toml's text, if it names one.
    pub fn anchor_toml_id(self, anchor_toml: &str) -> Option<Pubkey> {
        let doc: toml::Table = anchor_toml.parse().ok()?;
        doc.get("programs")?
            .get(self.name())?
            .get("tessera")?
            .as_str()?
            .parse()
            .ok()
    }
}

impl FromStr for Cluster {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "localnet" | "localhost" => Ok(Cluster::Localnet),
            "devnet" => Ok(Cluster::Devnet),
            "mainnet" | "mainnet-beta" => Ok(Cluster::Mainnet),
            _ => Err(ClusterError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// May this binary act on `cluster` through `url`? A URL that names another public cluster is
/// refused; so is a public cluster (named or reached) that this binary is not built for, or
/// whose program id is the committed localnet key. A loopback URL with a public `cluster` is
/// allowed: a rehearsal of that cluster's profile on a local validator.
pub fn check_target(cluster: Cluster, url: &str) -> Result<(), ClusterError> {
    check_target_for(cluster, url, Cluster::built_for(), Cluster::program_id())
}

/// [`check_target`] for a URL alone (a worker's `rpc_url`): the cluster it names, else the
/// build's. A localnet build pointed at devnet or mainnet is refused, by name.
pub fn check_url(url: &str) -> Result<(), ClusterError> {
    check_target(
        Cluster::from_url(url).unwrap_or_else(Cluster::built_for),
        url,
    )
}

/// [`check_target`] for a binary built for `built` with program id `program`.
pub fn check_target_for(
    cluster: Cluster,
    url: &str,
    built: Cluster,
    program: Pubkey,
) -> Result<(), ClusterError> {
    let url_cluster = Cluster::from_url(url);
    if let Some(uc) = url_cluster.filter(|uc| uc.is_public() && *uc != cluster) {
        return Err(ClusterError::UrlMismatch {
            cluster,
            url: url.to_string(),
            url_cluster: uc,
        });
    }
    // where the transactions really go: the URL's cluster when it says, else --cluster
    let target = match url_cluster {
        Some(Cluster::Localnet) => return Ok(()),
        Some(c) => c,
        None => cluster,
    };
    if !target.is_public() {
        return Ok(());
    }
    if built != target {
        return Err(ClusterError::BuiltForAnotherCluster {
            built,
            program,
            wanted: target,
        });
    }
    if program == LOCALNET_PROGRAM_ID {
        return Err(ClusterError::LocalnetKeyOnPublicCluster(program, target));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
