//! The operator's config file (`tessera-worker init` writes a commented one).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// `worker.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// JSON-RPC endpoint of the cluster.
    pub rpc_url: String,
    /// Websocket endpoint (account subscriptions).
    pub ws_url: String,
    /// Operator keypair (Solana CLI JSON format). Relative paths are relative to this file.
    pub keypair: PathBuf,
    /// `auto` (CUDA when present, else CPU), `cuda` or `cpu`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Local state: the crash-safe journal and the blob cache.
    pub storage_dir: PathBuf,
    /// Where results are published: a blob server URL (`http://…`) or a directory.
    pub blobs: String,
    /// Prometheus `/metrics` listen address; empty to disable.
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    #[serde(default)]
    pub pricing: Pricing,
    #[serde(default)]
    pub capacity: Capacity,
    #[serde(default)]
    pub log: Log,
}

/// Which jobs are worth taking.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Lowest price per replica (tokens) this node works for.
    #[serde(default = "default_min_price")]
    pub min_price: String,
    /// Auction bids: this fraction of the job's maximum price (basis points), never below
    /// `min_price`.
    #[serde(default = "default_bid_bps")]
    pub bid_bps: u16,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            min_price: default_min_price(),
            bid_bps: default_bid_bps(),
        }
    }
}

/// How much work at once.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Claims held at once.
    #[serde(default = "default_max_claims")]
    pub max_claims: usize,
    /// Kernels running at once (they use all cores / the whole GPU each).
    #[serde(default = "default_compute_threads")]
    pub compute_threads: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            max_claims: default_max_claims(),
            compute_threads: default_compute_threads(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `human` or `json`.
    #[serde(default)]
    pub format: Option<String>,
}

fn default_device() -> String {
    "auto".into()
}
fn default_min_price() -> String {
    "0.000001".into()
}
fn default_bid_bps() -> u16 {
    9_000
}
fn default_max_claims() -> usize {
    4
}
fn default_compute_threads() -> usize {
    1
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading config {}: create one with `tessera-worker init --config {}`",
                path.display(),
                path.display()
            )
        })?;
        let mut c: Config = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "config {} is invalid: {}",
                path.display(),
                e.to_string().trim().replace('\n', " ")
            )
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.keypair = resolve(base, &c.keypair);
        c.storage_dir = resolve(base, &c.storage_dir);
        if !c.blobs.starts_with("http://") && !c.blobs.starts_with("https://") {
            c.blobs = resolve(base, Path::new(c.blobs.trim_start_matches("file://")))
                .display()
                .to_string();
        }
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        if !self.rpc_url.starts_with("http") {
            bail!("rpc_url `{}` must be an http(s):// URL", self.rpc_url);
        }
        if !self.ws_url.starts_with("ws") {
            bail!("ws_url `{}` must be a ws(s):// URL", self.ws_url);
        }
        self.device
            .parse::<tessera_compute::DevicePreference>()
            .map_err(|e| anyhow::anyhow!("device: {e}"))?;
        if self.capacity.max_claims == 0 || self.capacity.compute_threads == 0 {
            bail!("capacity.max_claims and capacity.compute_threads must be at least 1");
        }
        if self.pricing.bid_bps == 0 || self.pricing.bid_bps > 10_000 {
            bail!("pricing.bid_bps must be between 1 and 10000");
        }
        Ok(())
    }

    pub fn journal_path(&self) -> PathBuf {
        self.storage_dir.join("journal.redb")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.storage_dir.join("blobs")
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    if let Some(rest) = s.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The commented config `init` writes.
pub fn template(rpc_url: &str, ws_url: &str, keypair: &str, blobs: &str, metrics: &str) -> String {
    format!(
        r#"# tessera-worker configuration (written by `tessera-worker init`).
# Paths are relative to this file unless absolute; `~/` is the home directory.

# JSON-RPC and websocket endpoints of the cluster.
rpc_url = "{rpc_url}"
ws_url = "{ws_url}"

# The operator's keypair, in the Solana CLI JSON format. It signs claims, commits and reveals,
# owns the node account and receives payments (its associated token account).
keypair = "{keypair}"

# Compute device: "auto" (CUDA when a driver and device are present, else the CPU reference,
# with a log line saying why), "cuda" (fail without one) or "cpu".
device = "auto"

# Local state: journal.redb (every step is recorded here before its transaction is sent, so a
# restart resumes each claim where it was) and a cache of downloaded inputs and results.
storage_dir = "state"

# Where this node publishes results: a blob server (`tessera blobs serve`) URL, or a directory
# the job's client can read.
blobs = "{blobs}"

# Prometheus metrics at http://<metrics_addr>/metrics. Remove the line to disable.
metrics_addr = "{metrics}"

[pricing]
# Lowest price per replica, in tokens, this node works for.
min_price = "0.000001"
# Auction bids: this share (basis points) of the job's maximum price, never below min_price.
bid_bps = 9000

[capacity]
# Claims held at the same time, from the claim until the reveal. Most of that time is spent
# waiting for the chain, not computing, so this can be far above compute_threads.
max_claims = 4
# Kernels running at the same time (each uses all CPU cores or the whole GPU).
compute_threads = 1

[log]
# "human" or "json".
format = "human"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_bad_configs_are_explained() {
        let dir = std::env::temp_dir().join(format!("tessera-wcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("worker.toml");
        std::fs::write(
            &p,
            template(
                "http://127.0.0.1:8899",
                "ws://127.0.0.1:8900",
                "id.json",
                "http://127.0.0.1:8900",
                "127.0.0.1:9100",
            ),
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.keypair, dir.join("id.json"));
        assert_eq!(c.capacity.max_claims, 4);
        std::fs::write(&p, "rpc_url = 5\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("is invalid"), "{e}");
        std::fs::write(
            &p,
            "rpc_url = \"http://x\"\nws_url = \"ws://x\"\nkeypair = \"k\"\nstorage_dir = \"s\"\nblobs = \"b\"\ndevice = \"tpu\"\n",
        )
        .unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("device"), "{e}");
        assert!(Config::load(&dir.join("missing.toml")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
