//! A whole Tessera network on one machine, out of real processes: a blob server
//! (`tessera blobs serve`) and worker daemons (`tessera-worker run`), each with its own key,
//! config, journal and stake, against a running validator (the demo's, or the one
//! `anchor test` starts). Used by the demo, the end-to-end tests and the latency bench.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Config, Job, JobState, Node};
use tessera_blobs::BlobTarget;
use tessera_jobs::embedding::Manifest;
use tessera_jobs::jobspec::JobSpec;
use tessera_jobs::render_jobs::{self, RenderManifest, RenderOptions};
use tessera_jobs::{embed_jobs, jobs};
use tessera_rpc as rpc;
use tessera_rpc::network;
use tessera_sdk::ix::{self, TokenCtx};
use tessera_sdk::{pda, token};

/// Where the `tessera` and `tessera-worker` binaries are (`TESSERA_BIN_DIR`, default
/// `target/debug`).
pub fn bin_dir() -> PathBuf {
    std::env::var_os("TESSERA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"))
}

fn bin(name: &str) -> Result<PathBuf> {
    let p = bin_dir().join(name);
    if !p.exists() {
        bail!(
            "{} is missing: build it with `cargo build -p tessera-worker -p tessera-cli --bins` (or set TESSERA_BIN_DIR)",
            p.display()
        );
    }
    Ok(p)
}

/// Runs the `tessera` CLI against the validator at `url`; its stdout (panics on failure).
pub fn tessera_cli(url: &str, args: &[&str]) -> String {
    let out = Command::new(bin_dir().join("tessera"))
        .args(["--url", url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tessera {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A child process killed when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// SIGTERM, then wait up to 20 s, then SIGKILL.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id() as i32;
        unsafe_kill(pid, 15);
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if start.elapsed() > Duration::from_secs(20) {
                self.child.kill()?;
                return Ok(self.child.wait()?);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL (a crash).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the process's log contains `needle` (a worker's "watching open jobs": its
    /// cost model calibrated, its subscription open), or fails after `timeout` or if the
    /// process exits.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .contains(needle)
            {
                return Ok(());
            }
            if !self.is_running() {
                bail!(
                    "{} exited before logging {needle:?}:\n{}",
                    self.name,
                    self.log_tail(20)
                );
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} did not log {needle:?} in {timeout:?}:\n{}",
                    self.name,
                    self.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let v: Vec<&str> = text.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.stop();
        }
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Result<Proc> {
    let out = std::fs::File::create(&log)?;
    let err = out.try_clone()?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    Ok(Proc {
        name: name.to_string(),
        child,
        log,
    })
}

/// A worker's files and identity.
pub struct WorkerSpec {
    pub name: String,
    pub dir: PathBuf,
    pub keypair: Keypair,
    pub metrics_port: u16,
}

impl WorkerSpec {
    pub fn config(&self) -> PathBuf {
        self.dir.join("worker.toml")
    }
    pub fn node(&self) -> Pubkey {
        pda::node(&self.keypair.pubkey()).0
    }
}

/// The network around a running validator.
pub struct Network {
    pub url: String,
    pub ws_url: String,
    pub dir: PathBuf,
    pub rpc: RpcClient,
    pub authority: Keypair,
    pub config: Config,
    pub tctx: TokenCtx,
    pub decimals: u8,
    /// Where blobs go: the blob server's URL (`start_blob_server`), or an object store
    /// (`s3://bucket/prefix`) whose endpoint and credentials are in [`Network::env`].
    pub blobs_url: String,
    pub blob_server: Option<Proc>,
    pub workers: Vec<WorkerSpec>,
    /// Environment of every process the network starts (e.g. the `AWS_*` variables of an
    /// S3-compatible store), as an operator would set it for the daemon.
    pub env: Vec<(String, String)>,
    /// A built web page the blob server also serves at `/` (`tessera blobs serve --web`).
    pub web_root: Option<PathBuf>,
}

impl Network {
    /// Attaches to the validator at `url`; `authority` pays and is the mint authority. Creates
    /// the mint and config when the cluster has none.
    pub fn attach(url: &str, authority: Keypair, dir: &Path) -> Result<Network> {
        Self::attach_with(url, authority, dir, ix::localnet_params())
    }

    /// [`Network::attach`], initialising a new config with `params`.
    pub fn attach_with(
        url: &str,
        authority: Keypair,
        dir: &Path,
        params: tessera::state::ConfigParams,
    ) -> Result<Network> {
        std::fs::create_dir_all(dir)?;
        let rpc = RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::confirmed());
        let config = match rpc::fetch_config(&rpc) {
            Ok(c) => c,
            Err(_) => {
                let mint = network::create_mint(&rpc, &authority, 6)?;
                network::init_config(&rpc, &authority, &mint, params)?
            }
        };
        let decimals = rpc::decimals(&rpc, &config)?;
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8899);
        Ok(Network {
            url: url.to_string(),
            ws_url: format!("ws://127.0.0.1:{}", port + 1),
            dir: dir.to_path_buf(),
            tctx: TokenCtx::from_config(&config),
            rpc,
            authority,
            config,
            decimals,
            blobs_url: String::new(),
            blob_server: None,
            workers: vec![],
            env: vec![],
            web_root: None,
        })
    }

    pub fn tokens(&self, n: u64) -> u64 {
        n * 10u64.pow(self.decimals as u32)
    }

    /// Starts `tessera blobs serve` on a free port.
    pub fn start_blob_server(&mut self) -> Result<()> {
        self.start_blob_server_on(free_port())
    }

    /// Stops the blob server (its blobs stay on disk).
    pub fn stop_blob_server(&mut self) {
        if let Some(mut p) = self.blob_server.take() {
            let _ = p.stop();
        }
    }

    /// Starts `tessera blobs serve` on `port` (the same port again after a stop), as an
    /// exposed server runs: uploads signed by registered nodes (`--rpc-url`), the authority
    /// (`--allow`) and the clients of [`Network::client`] (`--allow-file`, [`Network::allow_file`]).
    pub fn start_blob_server_on(&mut self, port: u16) -> Result<()> {
        self.blob_server_on(port, false)
    }

    /// Starts `tessera blobs serve --open` (anyone may upload) on a free port: for a worker
    /// built before uploads were signed (`bench-rpc --before`), never for a test of the server.
    pub fn start_open_blob_server(&mut self) -> Result<()> {
        self.blob_server_on(free_port(), true)
    }

    fn blob_server_on(&mut self, port: u16, open: bool) -> Result<()> {
        let dir = self.dir.join("blobs");
        let allow = self.allow_file();
        if !allow.exists() {
            std::fs::write(&allow, "# clients that may upload (tessera-tests)\n")?;
        }
        let mut cmd = Command::new(bin("tessera")?);
        cmd.args(["blobs", "serve", "--dir"])
            .arg(&dir)
            .args(["--addr", &format!("127.0.0.1:{port}")]);
        if open {
            cmd.arg("--open");
        } else {
            cmd.args(["--rpc-url", &self.url])
                .args(["--allow", &self.authority.pubkey().to_string()])
                .arg("--allow-file")
                .arg(&allow);
        }
        if let Some(web) = &self.web_root {
            cmd.arg("--web").arg(web);
        }
        let p = spawn("blob server", &mut cmd, self.dir.join("blobs.log"))?;
        self.blobs_url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("blob server did not start: {}", p.log_tail(20));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.blob_server = Some(p);
        Ok(())
    }

    /// Sends SOL and network tokens to `owner` (creating its token account).
    pub fn fund(&self, owner: &Pubkey, lamports: u64, tokens: u64) -> Result<()> {
        let t = &self.tctx;
        let ixs = [
            solana_system_interface::instruction::transfer(
                &self.authority.pubkey(),
                owner,
                lamports,
            ),
            token::create_ata_for(&t.token_program, &self.authority.pubkey(), owner, &t.mint),
            token::mint_to_for(
                &t.token_program,
                &t.mint,
                &t.ata(owner),
                &self.authority.pubkey(),
                tokens,
            ),
        ];
        rpc::send(&self.rpc, &ixs, &self.authority, &[]).context("funding")?;
        Ok(())
    }

    /// A new funded client, allowed to upload to the blob server.
    pub fn client(&self, tokens: u64) -> Result<Keypair> {
        let kp = Keypair::new();
        self.fund(&kp.pubkey(), 10_000_000_000, self.tokens(tokens))?;
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.allow_file())?
            .write_all(format!("{}\n", kp.pubkey()).as_bytes())?;
        Ok(kp)
    }

    /// The blob server's `--allow-file` (re-read by the server when it changes).
    pub fn allow_file(&self) -> PathBuf {
        self.dir.join("blob-allow.txt")
    }

    /// The blob server as an upload target, uploads signed by `signer`.
    pub fn blob_target(&self, signer: &Keypair) -> Result<BlobTarget> {
        Ok(BlobTarget::parse(&self.blobs_url)?.signed_by(Arc::new(signer.insecure_clone())))
    }

    /// Creates a worker with the real CLI: `init`, funding, `register`, `stake`.
    pub fn add_worker(&mut self, name: &str, stake_tokens: u64) -> Result<usize> {
        let dir = self.dir.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let metrics_port = free_port();
        let spec = WorkerSpec {
            name: name.to_string(),
            keypair: Keypair::new(),
            metrics_port,
            dir: dir.clone(),
        };
        std::fs::write(
            dir.join("id.json"),
            serde_json::to_string(&spec.keypair.to_bytes().to_vec())?,
        )?;
        self.worker_cli(
            &spec,
            &[
                "init",
                "--rpc-url",
                &self.url,
                "--ws-url",
                &self.ws_url,
                "--keypair",
                "id.json",
                "--blobs",
                &self.blobs_url,
                "--metrics-addr",
                &format!("127.0.0.1:{metrics_port}"),
            ],
        )?;
        // tests and the demo use the CPU reference unless TESSERA_DEVICE says otherwise
        let cfg = std::fs::read_to_string(spec.config())?;
        let device = std::env::var("TESSERA_DEVICE").unwrap_or_else(|_| "cpu".into());
        std::fs::write(
            spec.config(),
            cfg.replace("device = \"auto\"", &format!("device = \"{device}\"")),
        )?;
        self.fund(
            &spec.keypair.pubkey(),
            10_000_000_000,
            self.tokens(stake_tokens + 10),
        )?;
        self.worker_cli(&spec, &["register"])?;
        self.worker_cli(&spec, &["stake", &stake_tokens.to_string()])?;
        self.workers.push(spec);
        Ok(self.workers.len() - 1)
    }

    fn worker_cli(&self, w: &WorkerSpec, args: &[&str]) -> Result<String> {
        let out = Command::new(bin("tessera-worker")?)
            .arg("--config")
            .arg(w.config())
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            bail!("tessera-worker {} ({}): {text}", args.join(" "), w.name);
        }
        Ok(text)
    }

    /// Starts `tessera-worker run` for worker `i` with extra flags.
    pub fn start_worker(&self, i: usize, extra: &[&str]) -> Result<Proc> {
        self.wait_for_stake_to_count(i)?;
        let w = &self.workers[i];
        let mut cmd = Command::new(bin("tessera-worker")?);
        cmd.arg("--config").arg(w.config()).arg("run").args(extra);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
        let log = w.dir.join(format!(
            "worker-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
        ));
        spawn(&format!("worker {}", w.name), &mut cmd, log)
    }

    /// Waits until worker `i`'s bonded stake counts in sortition draws: the cluster is in a
    /// stake epoch after the node's last stake change (localnet: 32-slot epochs, so at most
    /// about 13 s; docs/PROTOCOL.md, "Sortition").
    pub fn wait_for_stake_to_count(&self, i: usize) -> Result<()> {
        let changed = self.node(i)?.draw_stake.epoch;
        let counts_from = self.config.stake_epoch_start(changed + 1);
        let t0 = std::time::Instant::now();
        while self.rpc.get_slot()? < counts_from {
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(120),
                "slot {counts_from} (stake epoch {}) not reached within two minutes",
                changed + 1
            );
            std::thread::sleep(Duration::from_millis(400));
        }
        Ok(())
    }

    /// Points worker `i` at another RPC URL (e.g. a fault-injecting proxy); takes effect at
    /// its next start.
    pub fn set_worker_rpc(&self, i: usize, rpc_url: &str) -> Result<()> {
        let cfg = self.workers[i].config();
        let text = std::fs::read_to_string(&cfg)?;
        let mut out = String::new();
        for line in text.lines() {
            if line.starts_with("rpc_url = ") {
                out.push_str(&format!("rpc_url = \"{rpc_url}\"\n"));
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        std::fs::write(&cfg, out)?;
        Ok(())
    }

    /// Sets keys of worker `i`'s `[fetch]` section (e.g. `("allowed_hosts", "[\"127.0.0.1:9\"]")`,
    /// values as TOML); takes effect at its next start.
    pub fn set_worker_fetch(&self, i: usize, keys: &[(&str, String)]) -> Result<()> {
        let cfg = self.workers[i].config();
        let text = std::fs::read_to_string(&cfg)?;
        let mut out = String::new();
        let mut in_fetch = false;
        for line in text.lines() {
            if line.starts_with('[') {
                in_fetch = line.trim() == "[fetch]";
            }
            let key = line.split(" = ").next().unwrap_or("");
            match keys.iter().find(|(k, _)| in_fetch && *k == key) {
                Some((k, v)) => out.push_str(&format!("{k} = {v}\n")),
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        std::fs::write(&cfg, out)?;
        Ok(())
    }

    /// Posts a fixed-price job whose input is whatever `input_uri` says (no upload): what a
    /// hostile client can do. The kernel is gemm-i8, the deadline 10 minutes away.
    pub fn post_uri(&self, client: &Keypair, input_uri: &str, replicas: u8) -> Result<Pubkey> {
        let spec: JobSpec = toml::from_str(&format!(
            "kernel = \"gemm-i8\"\nprice = \"1\"\nreplicas = {replicas}\nmax_escalations = 0\ndeadline_secs = 600\n[input]\nm = 8\n"
        ))?;
        let job_id = rpc::next_job_id(&self.rpc, &client.pubkey())?;
        let now = rpc::cluster_time(&self.rpc)?;
        let args = spec.post_args(
            job_id,
            [0x5E; 32],
            input_uri.to_string(),
            self.decimals,
            now,
        )?;
        rpc::send(
            &self.rpc,
            &[ix::post_job(&self.tctx, &client.pubkey(), args)],
            client,
            &[],
        )?;
        Ok(pda::job(&client.pubkey(), job_id).0)
    }

    /// Worker `i`'s Prometheus exposition (`/metrics`); empty when unreachable.
    pub fn worker_metrics(&self, i: usize) -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.workers[i].metrics_port))
        else {
            return String::new();
        };
        let _ = write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        );
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    }

    /// Sum of the values of every sample of `name` (prefix match, so `x_total` sums all
    /// label sets) on worker `i`'s metrics; 0 when unreachable.
    pub fn worker_metric_sum(&self, i: usize, name: &str) -> f64 {
        self.worker_metrics(i)
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn node(&self, i: usize) -> Result<Node> {
        rpc::fetch(&self.rpc, "Node", &self.workers[i].node())
    }

    /// Posts a job from a job-file text.
    pub fn post(&self, client: &Keypair, spec_toml: &str) -> Result<jobs::Posted> {
        let spec: JobSpec = toml::from_str(spec_toml).context("job spec")?;
        jobs::post(&self.rpc, client, &spec, &self.blob_target(client)?)
    }

    /// Posts a job from a job-file text with `blob` as its input, uploaded as it is (only its
    /// header is read): a hash-correct input of the client's own making, hostile or not.
    pub fn post_blob(
        &self,
        client: &Keypair,
        spec_toml: &str,
        blob: Vec<u8>,
    ) -> Result<jobs::Posted> {
        let spec: JobSpec = toml::from_str(spec_toml).context("job spec")?;
        let mut poster = jobs::Poster::new(&self.rpc, client)?;
        let sent = poster.send_input(&spec, blob, &self.blob_target(client)?)?;
        poster
            .confirm(vec![sent], Duration::from_secs(60))
            .pop()
            .expect("one job sent, one verdict")
            .1
    }

    /// Worker `i`'s directory (its config, keypair, `state/` with the journal and the input
    /// cache `state/blobs`).
    pub fn worker_dir(&self, i: usize) -> PathBuf {
        self.workers[i].dir.clone()
    }

    /// Posts an embed corpus: the model in `model_dir` put into the blob store (once), the
    /// texts of `corpus` (`.jsonl`) tokenised and split into `shards` jobs of `replicas` each,
    /// as `tessera job post --kernel embed` does. Returns the jobs and the manifest that joins
    /// their results.
    pub fn post_embed(
        &self,
        client: &Keypair,
        model_dir: &Path,
        corpus: &Path,
        price: &str,
        replicas: u8,
        shards: u32,
    ) -> Result<(Vec<jobs::Posted>, Manifest)> {
        let quote = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
        let spec: JobSpec = toml::from_str(&format!(
            "kernel = \"embed\"\nprice = \"{price}\"\nreplicas = {replicas}\n[input]\nmodel = {}\ntexts = {}\nshards = {shards}\n",
            quote(model_dir),
            quote(corpus)
        ))
        .context("embed job spec")?;
        let target = self.blob_target(client)?;
        let plan = embed_jobs::plan(&spec, &target)?;
        embed_jobs::post(&self.rpc, client, &spec, &plan, &target)
    }

    /// Posts prompts for a decoder (a directory, put once, or a model hash) as
    /// `tessera job post --kernel generate` does: `shards` jobs of `replicas` each, `max_tokens`
    /// new tokens per prompt, sampled at `temperature` (0: greedy) from the top 40 with `seed`.
    /// Returns the jobs and the manifest that joins their completions.
    #[allow(clippy::too_many_arguments)]
    pub fn post_generate(
        &self,
        client: &Keypair,
        model: &str,
        prompts: &Path,
        max_tokens: u32,
        temperature: f32,
        seed: u64,
        price: &str,
        replicas: u8,
        shards: u32,
    ) -> Result<(Vec<jobs::Posted>, tessera_jobs::generation::Manifest)> {
        let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
        let spec: JobSpec = toml::from_str(&format!(
            "kernel = \"generate\"\nprice = \"{price}\"\nreplicas = {replicas}\n[input]\nmodel = {}\nprompts = {}\nmax_tokens = {max_tokens}\ntemperature = {temperature}\ntop_k = 40\nseed = {seed}\nshards = {shards}\n",
            quote(model),
            quote(&prompts.display().to_string())
        ))
        .context("generate job spec")?;
        let target = self.blob_target(client)?;
        let plan = tessera_jobs::generate_jobs::plan(&spec, &target)?;
        tessera_jobs::generate_jobs::post(&self.rpc, client, &spec, &plan, &target)
    }

    /// Posts a render of an artist's scene file (glTF, OBJ) as tile jobs per frame, as
    /// `tessera job post --kernel render --scene … --tiles …` does. Returns the jobs and the
    /// manifest that assembles their results.
    pub fn post_render(
        &self,
        client: &Keypair,
        scene: &Path,
        options: &RenderOptions,
        price: &str,
        replicas: u8,
    ) -> Result<(Vec<jobs::Posted>, RenderManifest)> {
        let quote = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
        let spec: JobSpec = toml::from_str(&format!(
            "kernel = \"render\"\nprice = \"{price}\"\nreplicas = {replicas}\n[input]\nscene = {}\n",
            quote(scene)
        ))
        .context("render job spec")?;
        let plan = render_jobs::plan(scene, options)?;
        render_jobs::post(&self.rpc, client, &spec, &plan, &self.blob_target(client)?)
    }

    pub fn job(&self, key: &Pubkey) -> Result<Job> {
        rpc::fetch(&self.rpc, "Job", key)
    }

    /// Waits until `job` is Completed and all its claims are settled (or fails on a terminal
    /// state other than Completed / a timeout).
    pub fn wait_settled(
        &self,
        key: &Pubkey,
        timeout: Duration,
        mut progress: impl FnMut(&Job),
    ) -> Result<Job> {
        let start = Instant::now();
        loop {
            let j = self.job(key)?;
            progress(&j);
            if j.state.is_terminal() && j.unsettled_claims == 0 {
                if j.state != JobState::Completed {
                    bail!("job {key} ended {:?}", j.state);
                }
                return Ok(j);
            }
            if start.elapsed() > timeout {
                bail!(
                    "job {key} not settled after {timeout:?}: {}",
                    jobs::progress_line(&j)
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// The client's side of a job's end, as `tessera job close` does it: waits until the
    /// challenge window is over, then settles every claim of the job (paying the replicas) in
    /// as few transactions as fit; its settlement of the last one closes the job. Returns once
    /// the job account is gone.
    pub fn client_settles(&self, client: &Keypair, key: &Pubkey, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let Ok(j) = self.job(key) else {
                return Ok(()); // closed
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            let settleable = matches!(
                j.state,
                JobState::Completed | JobState::Failed | JobState::Expired
            ) || (j.state == JobState::Challenge
                && now > j.challenge_deadline + 1);
            if settleable {
                let settles: Vec<_> = rpc::claims_of(&self.rpc, key)?
                    .iter()
                    .map(|(_, c)| {
                        ix::settle_claim(&self.tctx, &client.pubkey(), key, &j.client, &c.operator)
                    })
                    .collect();
                // a worker may have settled one meanwhile (its claim is gone then): the job's
                // state decides, and the next look lists only the claims still open
                let _ = rpc::send_packed(&self.rpc, &settles, client);
                if self.job(key).is_err() {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "job {key} not closed after {timeout:?}: {}",
                    jobs::progress_line(&j)
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Closes a finished job (fees to the treasury, the rest to the client, rent back).
    pub fn close_job(&self, client: &Keypair, key: &Pubkey) -> Result<()> {
        rpc::send(
            &self.rpc,
            &[ix::close_job(&self.tctx, &client.pubkey(), key)],
            client,
            &[],
        )?;
        Ok(())
    }

    /// Network-token balance of `owner`'s associated token account.
    pub fn balance(&self, owner: &Pubkey) -> u64 {
        self.balance_of_account(&self.tctx.ata(owner))
    }

    /// Balance of a token account (0 if it does not exist).
    pub fn balance_of_account(&self, account: &Pubkey) -> u64 {
        rpc::token_balance(&self.rpc, account).unwrap_or(0)
    }

    /// Sum of every token account of the network mint, and the mint's supply.
    pub fn token_totals(&self) -> Result<(u64, u64)> {
        use solana_client::rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
        use solana_client::rpc_filter::{Memcmp, RpcFilterType};
        let cfg = RpcProgramAccountsConfig {
            filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_base58_encoded(
                0,
                self.tctx.mint.as_ref(),
            ))]),
            account_config: RpcAccountInfoConfig {
                encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
                ..Default::default()
            },
            ..Default::default()
        };
        let accs = self
            .rpc
            .get_program_ui_accounts_with_config(&self.tctx.token_program, cfg)?;
        let mut sum = 0u64;
        for (_, a) in accs {
            if let Some(acc) = a.to_account() {
                sum += token::balance_of(&acc.data).unwrap_or(0);
            }
        }
        let mint = self.rpc.get_account(&self.tctx.mint)?;
        let supply = u64::from_le_bytes(mint.data[36..44].try_into()?);
        Ok((sum, supply))
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(p) = self.blob_server.as_mut() {
            let _ = p.stop();
        }
    }
}

/// A `solana-test-validator` this process owns (it can be stopped and restarted on the same
/// ledger), on its own ports so it never collides with another validator.
pub struct Validator {
    pub ledger: PathBuf,
    pub rpc_port: u16,
    pub proc: Option<Proc>,
}

impl Validator {
    /// `solana-test-validator` on PATH (scripts/env.sh puts it there), or None.
    pub fn available() -> bool {
        Command::new("solana-test-validator")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// A fresh ledger with the program preloaded and `mint_to` funded at genesis.
    pub fn start(dir: &Path, rpc_port: u16, mint_to: &Pubkey) -> Result<Validator> {
        let ledger = dir.join("ledger");
        let _ = std::fs::remove_dir_all(&ledger);
        let mut v = Validator {
            ledger,
            rpc_port,
            proc: None,
        };
        let so = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/deploy/tessera.so");
        v.launch(&[
            "--reset".to_string(),
            "--mint".to_string(),
            mint_to.to_string(),
            "--bpf-program".to_string(),
            tessera::ID.to_string(),
            so.display().to_string(),
        ])?;
        Ok(v)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    fn launch(&mut self, extra: &[String]) -> Result<()> {
        let p = self.rpc_port;
        let mut cmd = Command::new("solana-test-validator");
        cmd.arg("--ledger")
            .arg(&self.ledger)
            .args(["--quiet", "--bind-address", "127.0.0.1"])
            .args(["--rpc-port", &p.to_string()])
            .args(["--faucet-port", &(p + 1001).to_string()])
            .args(["--gossip-port", &(p + 2).to_string()])
            .args(["--dynamic-port-range", &format!("{}-{}", p + 10, p + 200)])
            .args(extra);
        let log = self.ledger.with_extension(format!(
            "{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis()
        ));
        std::fs::create_dir_all(self.ledger.parent().unwrap())?;
        let proc = spawn("validator", &mut cmd, log)?;
        self.proc = Some(proc);
        self.wait_ready()
    }

    /// Waits until the RPC answers and a few slots have passed.
    pub fn wait_ready(&mut self) -> Result<()> {
        let rpc = RpcClient::new_with_commitment(self.url(), CommitmentConfig::confirmed());
        let start = Instant::now();
        loop {
            if let Ok(slot) = rpc.get_slot() {
                if slot >= 3 {
                    return Ok(());
                }
            }
            if let Some(p) = self.proc.as_mut() {
                if !p.is_running() {
                    bail!("validator exited: {}", p.log_tail(20));
                }
            }
            if start.elapsed() > Duration::from_secs(90) {
                bail!("validator not ready after 90 s");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Freezes the validator process (SIGSTOP): its RPC and websocket stop answering, as in
    /// an outage; [`Validator::resume`] continues it with its state intact.
    pub fn pause(&self) {
        if let Some(p) = self.proc.as_ref() {
            unsafe_kill(p.child.id() as i32, 19);
        }
    }

    /// SIGCONT after [`Validator::pause`].
    pub fn resume(&self) {
        if let Some(p) = self.proc.as_ref() {
            unsafe_kill(p.child.id() as i32, 18);
        }
    }

    /// Stops the validator (SIGTERM); the ledger stays.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut p) = self.proc.take() {
            p.stop()?;
        }
        Ok(())
    }

    /// The newest slot the validator has processed.
    pub fn processed_slot(&self) -> Result<u64> {
        let rpc = RpcClient::new_with_commitment(self.url(), CommitmentConfig::processed());
        Ok(rpc.get_slot()?)
    }

    /// Stops the validator process (no clean shutdown: solana-test-validator has no signal
    /// handler, so this is a crash), keeps it down for `down`, then starts it again on the same
    /// ledger. Returns once it has replayed its ledger past `min_slot`: its RPC starts before
    /// the replay and answers from the last snapshot (or genesis) until the replay is done, so
    /// an open port or a slot number alone does not mean the state is back.
    pub fn restart(&mut self, down: Duration, min_slot: u64) -> Result<()> {
        self.stop()?;
        std::thread::sleep(down);
        self.launch(&[])?;
        let rpc = RpcClient::new_with_commitment(self.url(), CommitmentConfig::processed());
        let start = Instant::now();
        loop {
            if rpc.get_slot().is_ok_and(|s| s > min_slot) {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(120) {
                bail!("validator did not replay its ledger past slot {min_slot} within 120 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
