//! The operator's config file (`tessera-worker init` writes a commented one).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tessera_blobs::fetch_policy::FetchPolicy;
use tessera_blobs::MAX_BLOB_BYTES;

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
    /// Where results are published: a blob server URL (`http://…`), a directory, or an object
    /// store (`s3://bucket/prefix`, `gs://…`, `az://…`; credentials from the environment).
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
    #[serde(default)]
    pub fetch: Fetch,
    #[serde(default)]
    pub ops: Ops,
    #[serde(default)]
    pub rpc: Rpc,
}

/// Running the node: when `/health` calls it unhealthy or degraded, and how often the
/// operator's SOL balance is read.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    /// Below this SOL balance (SOL, a decimal string) the worker logs a warning, `/health` says
    /// "degraded" and `status` says so: transaction fees and claim rent are paid in SOL.
    #[serde(default = "default_min_sol_balance")]
    pub min_sol_balance: String,
    /// Seconds between two reads of the balance (at least 60: one `getBalance` each).
    #[serde(default = "default_balance_check_secs")]
    pub balance_check_secs: u64,
    /// `/health` is unhealthy (503) when the newest slot of an RPC answer changed longer ago
    /// than this (seconds): the RPC node is stuck or unreachable.
    #[serde(default = "default_max_slot_age_secs")]
    pub max_slot_age_secs: u64,
    /// `/health` is unhealthy (503) when the websocket has been down longer than this
    /// (seconds; from the start until it first connects).
    #[serde(default = "default_max_ws_down_secs")]
    pub max_ws_down_secs: u64,
}

impl Default for Ops {
    fn default() -> Self {
        Ops {
            min_sol_balance: default_min_sol_balance(),
            balance_check_secs: default_balance_check_secs(),
            max_slot_age_secs: default_max_slot_age_secs(),
            max_ws_down_secs: default_max_ws_down_secs(),
        }
    }
}

/// Lamports per SOL, as decimals.
const SOL_DECIMALS: u8 = 9;

impl Ops {
    /// `min_sol_balance` in lamports.
    pub fn min_lamports(&self) -> Result<u64> {
        tessera_sdk::units::parse_amount(&self.min_sol_balance, SOL_DECIMALS).with_context(|| {
            format!(
                "ops.min_sol_balance `{}` must be an amount of SOL such as \"0.05\"",
                self.min_sol_balance
            )
        })
    }

    fn check(&self) -> Result<()> {
        self.min_lamports()?;
        if self.balance_check_secs < 60 {
            bail!("ops.balance_check_secs must be at least 60 (each check is an RPC request)");
        }
        if self.max_slot_age_secs == 0 || self.max_ws_down_secs == 0 {
            bail!("ops.max_slot_age_secs and ops.max_ws_down_secs must be at least 1");
        }
        Ok(())
    }
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
    /// Lowest price per replica per billion operations of the job's cost model (tokens; a
    /// decimal string): a job must pay at least `min_price` and at least this × its GFLOPs.
    #[serde(default = "default_price_per_gflop")]
    pub min_price_per_gflop: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            min_price: default_min_price(),
            bid_bps: default_bid_bps(),
            min_price_per_gflop: default_price_per_gflop(),
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
    /// Sustained throughput of this node's backend in GFLOP/s, for the "can I finish before
    /// the deadline" check; 0 measures it at start (an f32 GEMM on the backend).
    #[serde(default)]
    pub gflops: f64,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            max_claims: default_max_claims(),
            compute_threads: default_compute_threads(),
            gflops: 0.0,
        }
    }
}

/// What job inputs may be downloaded from, and how much of them. A job's `input_uri` is
/// chosen by whoever posted it: by default only public `http(s)` hosts and this node's own
/// blob store (`blobs`) are fetched from; other object stores only when listed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    /// URL schemes fetched from: `http`, `https`.
    #[serde(default = "default_schemes")]
    pub schemes: Vec<String>,
    /// Hosts fetched from although they are loopback, private, link-local or resolve to such
    /// addresses: `host:port`, `host` (every port), `[v6]:port` or a URL. The `blobs` server
    /// is always allowed (its exact host and port).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Local directories `file://` inputs may be read from (regular files below them only).
    /// None by default; a `blobs` directory is always allowed.
    #[serde(default)]
    pub allowed_dirs: Vec<PathBuf>,
    /// Object stores inputs may be read from, with this node's own credentials:
    /// `s3://bucket` (the whole bucket) or `s3://bucket/prefix`; likewise `gs://`, `az://`.
    /// None by default; a `blobs` object store is always allowed.
    #[serde(default)]
    pub allowed_stores: Vec<String>,
    /// Largest input downloaded (bytes); larger ones are refused, at the announced size when
    /// the server announces one. At most the blob store's limit (512 MiB).
    #[serde(default = "default_max_input_bytes")]
    pub max_input_bytes: u64,
    /// Longest a whole download may take (seconds).
    #[serde(default = "default_fetch_timeout_secs")]
    pub fetch_timeout_secs: u64,
    /// Longest wait for the next bytes of a download (seconds).
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Downloads at the same time (each may hold up to `max_input_bytes` in memory).
    #[serde(default = "default_max_downloads")]
    pub max_downloads: usize,
    /// A job whose input could not be fetched for a passing reason (timeout, server error) is
    /// left alone this long (seconds), doubling with each failure. Refused inputs (not
    /// allowed, too large, wrong hash, invalid) are left alone for a day.
    #[serde(default = "default_retry_secs")]
    pub retry_secs: u64,
    /// Most bytes the local blob cache (inputs, models, results) holds; the least recently
    /// written go first. At least `max_input_bytes`.
    #[serde(default = "default_max_cache_bytes")]
    pub max_cache_bytes: u64,
}

fn default_max_cache_bytes() -> u64 {
    crate::storage::DEFAULT_MAX_CACHE_BYTES
}

impl Default for Fetch {
    fn default() -> Self {
        Fetch {
            schemes: default_schemes(),
            allowed_hosts: Vec::new(),
            allowed_dirs: Vec::new(),
            allowed_stores: Vec::new(),
            max_input_bytes: default_max_input_bytes(),
            fetch_timeout_secs: default_fetch_timeout_secs(),
            idle_timeout_secs: default_idle_timeout_secs(),
            max_downloads: default_max_downloads(),
            retry_secs: default_retry_secs(),
            max_cache_bytes: default_max_cache_bytes(),
        }
    }
}

impl Fetch {
    /// The policy inputs are fetched under (the blob store is added by the caller, which
    /// opens it).
    pub fn policy(&self) -> Result<FetchPolicy> {
        let mut p = FetchPolicy::default()
            .with_schemes(&self.schemes)
            .context("fetch.schemes")?
            .with_max_bytes(self.max_input_bytes)
            .with_timeout(Duration::from_secs(self.fetch_timeout_secs))
            .with_idle_timeout(Duration::from_secs(self.idle_timeout_secs));
        for h in &self.allowed_hosts {
            p = p.allow_host(h).context("fetch.allowed_hosts")?;
        }
        for d in &self.allowed_dirs {
            p = p.allow_dir(d).context("fetch.allowed_dirs")?;
        }
        for s in &self.allowed_stores {
            p = p.allow_store(s).context("fetch.allowed_stores")?;
        }
        Ok(p)
    }

    fn check(&self) -> Result<()> {
        if self.max_input_bytes == 0 || self.max_input_bytes > MAX_BLOB_BYTES as u64 {
            // the cap keeps every fetched input cacheable, so a claimed job never downloads
            // its input again
            bail!("fetch.max_input_bytes must be between 1 and {MAX_BLOB_BYTES}");
        }
        if self.max_cache_bytes < self.max_input_bytes {
            bail!("fetch.max_cache_bytes must be at least fetch.max_input_bytes (a fetched input is cached)");
        }
        if self.fetch_timeout_secs == 0 || self.idle_timeout_secs == 0 {
            bail!("fetch.fetch_timeout_secs and fetch.idle_timeout_secs must be at least 1");
        }
        if self.max_downloads == 0 {
            bail!("fetch.max_downloads must be at least 1");
        }
        if self.retry_secs == 0 {
            bail!("fetch.retry_secs must be at least 1");
        }
        // the entries' syntax; directories are checked when the daemon starts
        let mut p = FetchPolicy::default()
            .with_schemes(&self.schemes)
            .context("fetch.schemes")?;
        for h in &self.allowed_hosts {
            p = p.allow_host(h).context("fetch.allowed_hosts")?;
        }
        for s in &self.allowed_stores {
            p = p.allow_store(s).context("fetch.allowed_stores")?;
        }
        Ok(())
    }
}

/// How the worker uses its RPC endpoint (`[rpc]`): a request budget, how often it looks at
/// the chain when nothing tells it to, and priority fees. Public endpoints throttle or bill by
/// request; the defaults suit them, a local validator can take more.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rpc {
    /// Requests per minute at most, websocket subscriptions and notifications included;
    /// requests wait (by priority: own transactions first, program-wide scans last) rather
    /// than fail. 0: no limit.
    #[serde(default = "default_max_requests_per_minute")]
    pub max_requests_per_minute: u32,
    /// Full `getProgramAccounts` re-sync of open jobs this often (seconds); the websocket is
    /// the primary feed, this catches what it missed.
    #[serde(default = "default_resync_secs")]
    pub resync_secs: u64,
    /// A claim waiting on other nodes (their commits, reveals, settlements) looks at its job
    /// when the websocket reports a change, at a deadline, and at the latest this often
    /// (seconds).
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u64,
    /// The node account (stake, reputation, open claims) is read after each of this node's
    /// claims and settlements and at least this often (seconds); the other active nodes (for
    /// the courtesy order among nodes drawn together) are listed this often.
    #[serde(default = "default_node_refresh_secs")]
    pub node_refresh_secs: u64,
    /// Claims of a job are listed for expiry cranking at most this often (seconds).
    #[serde(default = "default_crank_scan_secs")]
    pub crank_scan_secs: u64,
    /// Highest compute-unit price paid (micro-lamports per unit). A higher network fee is
    /// paid at this cap, with a warning.
    #[serde(default = "default_max_cu_price")]
    pub max_cu_price_micro_lamports: u64,
    /// Lowest compute-unit price paid (micro-lamports per unit).
    #[serde(default)]
    pub min_cu_price_micro_lamports: u64,
    /// Which percentile of the recent non-zero priority fees of the accounts a transaction
    /// writes it pays (1–100).
    #[serde(default = "default_fee_percentile")]
    pub fee_percentile: u8,
    /// A fee estimate is reused this long (seconds).
    #[serde(default = "default_fee_cache_secs")]
    pub fee_cache_secs: u64,
}

impl Default for Rpc {
    fn default() -> Self {
        Rpc {
            max_requests_per_minute: default_max_requests_per_minute(),
            resync_secs: default_resync_secs(),
            poll_secs: default_poll_secs(),
            node_refresh_secs: default_node_refresh_secs(),
            crank_scan_secs: default_crank_scan_secs(),
            max_cu_price_micro_lamports: default_max_cu_price(),
            min_cu_price_micro_lamports: 0,
            fee_percentile: default_fee_percentile(),
            fee_cache_secs: default_fee_cache_secs(),
        }
    }
}

impl Rpc {
    /// What the chain connection needs.
    pub fn options(&self) -> crate::chain::RpcOptions {
        crate::chain::RpcOptions {
            max_requests_per_minute: self.max_requests_per_minute,
            fees: crate::chain::fees::FeePolicy {
                max_micro_lamports: self.max_cu_price_micro_lamports,
                min_micro_lamports: self.min_cu_price_micro_lamports,
                percentile: self.fee_percentile,
                cache: Duration::from_secs(self.fee_cache_secs),
            },
        }
    }

    /// How often the scheduler looks at the chain unprompted.
    pub fn pacing(&self) -> crate::scheduler::Pacing {
        crate::scheduler::Pacing {
            resync: Duration::from_secs(self.resync_secs),
            poll: Duration::from_secs(self.poll_secs),
            node_refresh: Duration::from_secs(self.node_refresh_secs),
            crank_scan: Duration::from_secs(self.crank_scan_secs),
        }
    }

    fn check(&self) -> Result<()> {
        for (name, v) in [
            ("resync_secs", self.resync_secs),
            ("poll_secs", self.poll_secs),
            ("node_refresh_secs", self.node_refresh_secs),
            ("crank_scan_secs", self.crank_scan_secs),
        ] {
            if v == 0 {
                bail!("rpc.{name} must be at least 1");
            }
        }
        if !(1..=100).contains(&self.fee_percentile) {
            bail!("rpc.fee_percentile must be between 1 and 100");
        }
        if self.min_cu_price_micro_lamports > self.max_cu_price_micro_lamports {
            bail!(
                "rpc.min_cu_price_micro_lamports ({}) is above rpc.max_cu_price_micro_lamports ({})",
                self.min_cu_price_micro_lamports,
                self.max_cu_price_micro_lamports
            );
        }
        if self.max_requests_per_minute > 0 && self.max_requests_per_minute < 60 {
            // below one a second a claim cannot be confirmed in time
            bail!("rpc.max_requests_per_minute must be 0 (no limit) or at least 60");
        }
        Ok(())
    }
}

/// Is `rpc_url` a validator on this machine (a test or local network)?
fn is_local(rpc_url: &str) -> bool {
    let host = rpc_url
        .split("://")
        .nth(1)
        .unwrap_or(rpc_url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "0.0.0.0")
}

/// The `[rpc]` section `init` writes: a local validator gets no request budget and quick
/// re-syncs; any other endpoint the defaults for public RPC providers.
fn rpc_section(rpc_url: &str) -> String {
    let (budget, resync, poll, note) = if is_local(rpc_url) {
        (
            0,
            5,
            1,
            "# (a local validator: no budget, quick re-syncs and polls; a public endpoint wants\n\
             # 600, 60 and 5)\n",
        )
    } else {
        (
            default_max_requests_per_minute(),
            default_resync_secs(),
            default_poll_secs(),
            "",
        )
    };
    format!(
        r#"[rpc]
# Every JSON-RPC request of the daemon counts against this budget per minute (0: no limit),
# and so does every websocket subscription and notification.
# Requests wait for it rather than fail: this node's own transactions and confirmations first,
# account reads next, program-wide scans last. Public endpoints throttle or bill by request.
{note}max_requests_per_minute = {budget}
# The websocket is the primary feed of jobs; a full getProgramAccounts re-sync of open jobs
# runs this often (seconds) to catch what it missed.
resync_secs = {resync}
# A claim waiting on other nodes looks at its job on websocket events, at deadlines, and at
# the latest every poll_secs; the node account is re-read after this node's claims and
# settlements and every node_refresh_secs (when the other active nodes are listed too: nodes
# drawn ahead of this one in a job's sortition claim first); a job's claims are listed for
# expiry cranking at most every crank_scan_secs.
poll_secs = {poll}
node_refresh_secs = {node}
crank_scan_secs = {crank}
# Priority fees: each transaction pays the fee_percentile of the recent non-zero priority fees
# of the accounts it writes (getRecentPrioritizationFees, reused for fee_cache_secs), at least
# min_cu_price_micro_lamports and at most max_cu_price_micro_lamports per compute unit. Above
# the cap it is sent at the cap, with a warning. A compute-unit limit sized for each
# instruction (docs/CU.md plus a margin) keeps the fee paid to price x limit.
max_cu_price_micro_lamports = {max_price}
min_cu_price_micro_lamports = 0
fee_percentile = {pct}
fee_cache_secs = {cache}
"#,
        node = default_node_refresh_secs(),
        crank = default_crank_scan_secs(),
        max_price = default_max_cu_price(),
        pct = default_fee_percentile(),
        cache = default_fee_cache_secs(),
    )
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
fn default_price_per_gflop() -> String {
    "0".into()
}
fn default_compute_threads() -> usize {
    1
}
fn default_schemes() -> Vec<String> {
    vec!["http".into(), "https".into()]
}
fn default_max_input_bytes() -> u64 {
    MAX_BLOB_BYTES as u64
}
fn default_fetch_timeout_secs() -> u64 {
    120
}
fn default_idle_timeout_secs() -> u64 {
    20
}
fn default_max_downloads() -> usize {
    2
}
fn default_retry_secs() -> u64 {
    60
}
fn default_min_sol_balance() -> String {
    "0.05".into()
}
fn default_balance_check_secs() -> u64 {
    300
}
fn default_max_slot_age_secs() -> u64 {
    120
}
fn default_max_ws_down_secs() -> u64 {
    60
}
fn default_max_requests_per_minute() -> u32 {
    600
}
fn default_resync_secs() -> u64 {
    60
}
fn default_poll_secs() -> u64 {
    5
}
fn default_node_refresh_secs() -> u64 {
    60
}
fn default_crank_scan_secs() -> u64 {
    15
}
fn default_max_cu_price() -> u64 {
    1_000_000
}
fn default_fee_percentile() -> u8 {
    75
}
fn default_fee_cache_secs() -> u64 {
    20
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
        for d in &mut c.fetch.allowed_dirs {
            *d = resolve(base, d);
        }
        let object = tessera_blobs::object::is_object_url(&c.blobs);
        if object {
            tessera_blobs::ObjectTarget::validate(&c.blobs).context("config `blobs`")?;
        } else if let Some((scheme, _)) = c.blobs.split_once("://") {
            if !matches!(scheme, "http" | "https" | "file") {
                bail!(
                    "config `blobs`: unknown scheme `{scheme}` in `{}`: use http(s):// (a blob server), a directory, or an object store (s3://, gs://, az://)",
                    c.blobs
                );
            }
        }
        let url = object || c.blobs.starts_with("http://") || c.blobs.starts_with("https://");
        if !url {
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
        // a public cluster only with a build for it (its program id): TESSERA_CLUSTER=<cluster>
        tessera_sdk::cluster::check_url(&self.rpc_url)?;
        if !self.ws_url.starts_with("ws") {
            bail!("ws_url `{}` must be a ws(s):// URL", self.ws_url);
        }
        self.device
            .parse::<tessera_compute::DevicePreference>()
            .map_err(|e| anyhow::anyhow!("device: {e}"))?;
        if !(self.capacity.gflops.is_finite() && self.capacity.gflops >= 0.0) {
            bail!("capacity.gflops must be a finite number >= 0 (0 measures it at start)");
        }
        if self.capacity.max_claims == 0 || self.capacity.compute_threads == 0 {
            bail!("capacity.max_claims and capacity.compute_threads must be at least 1");
        }
        if self.pricing.bid_bps == 0 || self.pricing.bid_bps > 10_000 {
            bail!("pricing.bid_bps must be between 1 and 10000");
        }
        self.fetch.check()?;
        self.ops.check()?;
        self.rpc.check()
    }

    pub fn journal_path(&self) -> PathBuf {
        self.storage_dir.join("journal.redb")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.storage_dir.join("blobs")
    }

    /// Where draining is recorded across restarts ([`crate::control::Control::persisted`]).
    pub fn drain_file(&self) -> PathBuf {
        self.storage_dir.join("draining")
    }

    /// The running daemon's control socket (`/health`, `/status`, `/drain`).
    pub fn control_socket(&self) -> PathBuf {
        self.storage_dir.join("control.sock")
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
    let rpc = rpc_section(rpc_url);
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

# Where this node publishes results: a blob server (`tessera blobs serve`) URL, a directory
# the job's client can read, or an object store: "s3://bucket/prefix" (S3, or an S3-compatible
# store such as MinIO, R2 or RustFS), "gs://bucket/prefix", "az://container/prefix". An object
# store's credentials, endpoint and region come from the daemon's environment (AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for a plain-http
# endpoint; GOOGLE_*; AZURE_*), see docs/STORAGE.md.
blobs = "{blobs}"

# Prometheus metrics at http://<metrics_addr>/metrics. Remove the line to disable.
metrics_addr = "{metrics}"

[pricing]
# Lowest price per replica, in tokens, this node works for.
min_price = "0.000001"
# Auction bids: this share (basis points) of the job's maximum price, never below min_price.
bid_bps = 9000
# Lowest price per replica per GFLOP of the job's cost model (e.g. an embed job's FLOPs from
# its model config and token counts); "0" prices by min_price alone.
min_price_per_gflop = "0"

[capacity]
# Claims held at the same time, from the claim until the reveal. Most of that time is spent
# waiting for the chain, not computing, so this can be far above compute_threads.
max_claims = 4
# Kernels running at the same time (each uses all CPU cores or the whole GPU).
compute_threads = 1
# Sustained GFLOP/s of this node, for refusing jobs it could not finish before their commit
# deadline; 0 measures it at start.
gflops = 0

[log]
# "human" or "json".
format = "human"

[fetch]
# Job inputs are URIs chosen by whoever posted the job. This node downloads them only from
# these schemes, from public addresses, and from its own `blobs` store above (that exact
# host:port, or that directory). Loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
# link-local (169.254/16, fe80::/10), carrier-grade NAT (100.64/10) and other special
# addresses, `localhost`, and names resolving to any of them are refused, and so is every
# file:// URI, unless allowed below. Redirects are checked the same way.
schemes = ["http", "https"]
# Extra hosts to fetch from although they are private: "host:port", "host" (any port),
# "[v6]:port" or a URL, e.g. ["10.0.0.5:8990", "blobs.lan"].
allowed_hosts = []
# Local directories file:// inputs may be read from (regular files below them only).
allowed_dirs = []
# Object stores inputs may be read from, with this node's own credentials (the environment's,
# as for `blobs`): "s3://bucket" (the whole bucket) or "s3://bucket/prefix" (below it only),
# likewise "gs://…", "az://…". An object store `blobs` above is always allowed; any other
# s3://, gs:// or az:// input is refused unless listed here.
allowed_stores = []
# Largest input downloaded, in bytes (at most 536870912, the blob store's limit). A larger
# announced size is refused before reading; a body growing past it is cut off.
max_input_bytes = 536870912
# Longest a whole download may take, and longest wait for its next bytes (seconds).
fetch_timeout_secs = 120
idle_timeout_secs = 20
# Downloads at the same time; each may hold up to max_input_bytes of memory. Inputs are
# downloaded and checked before a job is claimed, without holding one of max_claims.
max_downloads = 2
# A job whose input could not be fetched for a passing reason (timeout, server error) is
# skipped this long (seconds), doubling with each failure; a refused input (not allowed, too
# large, wrong hash, invalid) is skipped for a day.
retry_secs = 60
# Most bytes the local blob cache (inputs, models, results) holds; beyond it the least
# recently written go first (8 GiB; at least max_input_bytes). Inputs refused for good are
# removed at once.
max_cache_bytes = 8589934592

[ops]
# Below this SOL balance the worker logs a warning, /health says "degraded" and `status` says
# so (fees and claim rent are paid in SOL). Read every balance_check_secs (at least 60).
min_sol_balance = "0.05"
balance_check_secs = 300
# /health answers 503 (unhealthy) when the newest slot seen in an RPC answer is older than
# max_slot_age_secs, or the websocket has been down longer than max_ws_down_secs.
max_slot_age_secs = 120
max_ws_down_secs = 60

{rpc}"#
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

    #[test]
    fn fetch_section_defaults_are_safe_and_mistakes_are_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-wcfg-fetch-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inputs")).unwrap();
        let p = dir.join("worker.toml");
        let base = "rpc_url = \"http://x\"\nws_url = \"ws://x\"\nkeypair = \"k\"\nstorage_dir = \"s\"\nblobs = \"http://127.0.0.1:8990\"\n";
        // no [fetch] section: the defaults, the same as the template's
        std::fs::write(&p, base).unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.fetch.schemes, ["http", "https"]);
        assert!(c.fetch.allowed_hosts.is_empty() && c.fetch.allowed_dirs.is_empty());
        assert_eq!(c.fetch.max_input_bytes, MAX_BLOB_BYTES as u64);
        assert_eq!(
            (c.fetch.fetch_timeout_secs, c.fetch.idle_timeout_secs),
            (120, 20)
        );
        assert_eq!((c.fetch.max_downloads, c.fetch.retry_secs), (2, 60));
        let t = template(
            "http://a:1",
            "ws://a:2",
            "k",
            "http://127.0.0.1:8990",
            "127.0.0.1:9",
        );
        std::fs::write(&p, t).unwrap();
        let t = Config::load(&p).unwrap();
        assert_eq!(t.fetch.schemes, c.fetch.schemes);
        assert_eq!(t.fetch.max_input_bytes, c.fetch.max_input_bytes);
        assert_eq!(t.fetch.fetch_timeout_secs, c.fetch.fetch_timeout_secs);
        assert_eq!(t.fetch.idle_timeout_secs, c.fetch.idle_timeout_secs);
        assert_eq!(t.fetch.max_downloads, c.fetch.max_downloads);
        assert_eq!(t.fetch.retry_secs, c.fetch.retry_secs);
        // the default policy refuses a file and a private host
        let policy = c.fetch.policy().unwrap();
        assert!(policy.check("file:///dev/zero").is_err());
        assert!(policy.check("http://10.0.0.1/x").is_err());
        // extra hosts and directories (relative to the config file)
        std::fs::write(
            &p,
            format!(
                "{base}[fetch]\nallowed_hosts = [\"10.0.0.5:8990\"]\nallowed_dirs = [\"inputs\"]\n"
            ),
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.fetch.allowed_dirs, [dir.join("inputs")]);
        let policy = c.fetch.policy().unwrap();
        policy.check("http://10.0.0.5:8990/blobs/x").unwrap();
        assert!(policy.check("http://10.0.0.5:22/x").is_err());
        policy.check("file:///anything").unwrap(); // (the path is checked when reading)
        for (bad, what) in [
            ("schemes = [\"file\"]", "fetch.schemes"),
            ("schemes = [\"ftp\"]", "fetch.schemes"),
            ("allowed_hosts = [\"not a host\"]", "fetch.allowed_hosts"),
            ("max_input_bytes = 0", "max_input_bytes"),
            ("max_input_bytes = 1073741824", "max_input_bytes"),
            ("fetch_timeout_secs = 0", "fetch_timeout_secs"),
            ("max_downloads = 0", "max_downloads"),
            (
                "allowed_stores = [\"http://host/x\"]",
                "fetch.allowed_stores",
            ),
            ("allowed_stores = [\"s3://\"]", "fetch.allowed_stores"),
            ("unknown_key = 1", "unknown_key"),
        ] {
            std::fs::write(&p, format!("{base}[fetch]\n{bad}\n")).unwrap();
            let e = format!("{:#}", Config::load(&p).unwrap_err());
            assert!(e.contains(what), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ops_section_defaults_and_mistakes() {
        let dir = std::env::temp_dir().join(format!("tessera-wcfg-ops-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("worker.toml");
        let base = "rpc_url = \"http://x\"\nws_url = \"ws://x\"\nkeypair = \"k\"\nstorage_dir = \"s\"\nblobs = \"http://127.0.0.1:8990\"\n";
        std::fs::write(&p, base).unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.ops.min_lamports().unwrap(), 50_000_000);
        assert_eq!(c.ops.balance_check_secs, 300);
        assert_eq!((c.ops.max_slot_age_secs, c.ops.max_ws_down_secs), (120, 60));
        assert_eq!(c.control_socket(), dir.join("s").join("control.sock"));
        // the template says the same
        std::fs::write(
            &p,
            template(
                "http://a:1",
                "ws://a:2",
                "k",
                "http://127.0.0.1:8990",
                "127.0.0.1:9",
            ),
        )
        .unwrap();
        let t = Config::load(&p).unwrap();
        assert_eq!(t.ops.min_sol_balance, c.ops.min_sol_balance);
        assert_eq!(t.ops.balance_check_secs, c.ops.balance_check_secs);
        assert_eq!(t.ops.max_slot_age_secs, c.ops.max_slot_age_secs);
        assert_eq!(t.ops.max_ws_down_secs, c.ops.max_ws_down_secs);
        for (bad, what) in [
            ("min_sol_balance = \"lots\"", "ops.min_sol_balance `lots`"),
            ("min_sol_balance = \"0.0000000001\"", "ops.min_sol_balance"),
            ("balance_check_secs = 10", "at least 60"),
            ("max_slot_age_secs = 0", "max_slot_age_secs"),
            ("max_ws_down_secs = 0", "max_ws_down_secs"),
            ("min_balance = 1", "min_balance"),
        ] {
            std::fs::write(&p, format!("{base}[ops]\n{bad}\n")).unwrap();
            let e = format!("{:#}", Config::load(&p).unwrap_err());
            assert!(e.contains(what), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn object_store_blobs_and_allowed_stores() {
        let dir = std::env::temp_dir().join(format!("tessera-wcfg-s3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("worker.toml");
        // the template with an object store: kept as written, not taken for a directory
        std::fs::write(
            &p,
            template(
                "http://a:1",
                "ws://a:2",
                "k",
                "s3://results/node-1",
                "127.0.0.1:9",
            ),
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.blobs, "s3://results/node-1");
        assert!(c.fetch.allowed_stores.is_empty());
        let h = tessera_blobs::hex(&[7; 32]);
        // other stores only when listed
        assert_eq!(
            c.fetch
                .policy()
                .unwrap()
                .check(&format!("s3://inputs/shared/{h}"))
                .unwrap_err()
                .kind(),
            "store_not_allowed"
        );
        let base =
            "rpc_url = \"http://x\"\nws_url = \"ws://x\"\nkeypair = \"k\"\nstorage_dir = \"s\"\n";
        std::fs::write(
            &p,
            format!("{base}blobs = \"s3://results/n\"\n[fetch]\nallowed_stores = [\"s3://inputs/shared\", \"gs://models\"]\n"),
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        let policy = c.fetch.policy().unwrap();
        policy.check(&format!("s3://inputs/shared/{h}")).unwrap();
        policy.check(&format!("gs://models/a/{h}")).unwrap();
        assert!(policy.check(&format!("s3://inputs/private/{h}")).is_err());
        for (blobs, what) in [
            ("s4://bucket/p", "unknown scheme `s4`"),
            ("s3://", "no bucket"),
            ("s3://b/p?endpoint=x", "no port, query or fragment"),
        ] {
            std::fs::write(&p, format!("{base}blobs = \"{blobs}\"\n")).unwrap();
            let e = format!("{:#}", Config::load(&p).unwrap_err());
            assert!(e.contains(what) && e.contains("blobs"), "{blobs}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rpc_section_suits_public_endpoints_by_default_and_local_ones_in_init() {
        let dir = std::env::temp_dir().join(format!("tessera-wcfg-rpc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("worker.toml");
        let base = "rpc_url = \"https://rpc.example.org\"\nws_url = \"wss://rpc.example.org\"\nkeypair = \"k\"\nstorage_dir = \"s\"\nblobs = \"http://127.0.0.1:8990\"\n";
        // no [rpc] section: the defaults for a public endpoint
        std::fs::write(&p, base).unwrap();
        let c = Config::load(&p).unwrap().rpc;
        assert_eq!((c.max_requests_per_minute, c.resync_secs), (600, 60));
        assert_eq!(
            (c.max_cu_price_micro_lamports, c.min_cu_price_micro_lamports),
            (1_000_000, 0)
        );
        assert_eq!(
            (c.fee_percentile, c.fee_cache_secs, c.poll_secs),
            (75, 20, 5)
        );
        // init for a public endpoint writes the same; for a local validator, no budget and
        // quick re-syncs
        let public = template(
            "https://rpc.example.org",
            "wss://x",
            "k",
            "http://127.0.0.1:8990",
            "127.0.0.1:9",
        );
        std::fs::write(&p, public).unwrap();
        let t = Config::load(&p).unwrap().rpc;
        assert_eq!(
            (t.max_requests_per_minute, t.resync_secs, t.poll_secs),
            (600, 60, 5)
        );
        assert_eq!(t.max_cu_price_micro_lamports, c.max_cu_price_micro_lamports);
        let local = template(
            "http://127.0.0.1:8899",
            "ws://127.0.0.1:8900",
            "k",
            "http://127.0.0.1:8990",
            "127.0.0.1:9",
        );
        std::fs::write(&p, local).unwrap();
        let l = Config::load(&p).unwrap().rpc;
        assert_eq!(
            (l.max_requests_per_minute, l.resync_secs, l.poll_secs),
            (0, 5, 1)
        );
        let pacing = l.pacing();
        assert_eq!(pacing.resync, Duration::from_secs(5));
        let opts = l.options();
        assert_eq!(opts.fees.percentile, 75);
        assert_eq!(opts.fees.cache, Duration::from_secs(20));
        for (bad, what) in [
            ("resync_secs = 0", "rpc.resync_secs must be at least 1"),
            ("poll_secs = 0", "rpc.poll_secs must be at least 1"),
            (
                "fee_percentile = 0",
                "rpc.fee_percentile must be between 1 and 100",
            ),
            (
                "fee_percentile = 101",
                "rpc.fee_percentile must be between 1 and 100",
            ),
            (
                "min_cu_price_micro_lamports = 10\nmax_cu_price_micro_lamports = 5",
                "rpc.min_cu_price_micro_lamports (10) is above rpc.max_cu_price_micro_lamports (5)",
            ),
            (
                "max_requests_per_minute = 10",
                "rpc.max_requests_per_minute must be 0 (no limit) or at least 60",
            ),
            (
                "max_cu_price_micro_lamports = -1",
                "max_cu_price_micro_lamports",
            ),
            ("resync = 5", "unknown field `resync`"),
        ] {
            std::fs::write(&p, format!("{base}[rpc]\n{bad}\n")).unwrap();
            let e = format!("{:#}", Config::load(&p).unwrap_err());
            assert!(e.contains(what), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
