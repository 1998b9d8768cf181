//! `tessera job …`: post, follow, fetch, verify, cancel, close and list jobs.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::state::{Job, JobState};
use tessera_blobs as blobs;
use tessera_blobs::BlobTarget;
use tessera_jobs::embedding::{self, Manifest};
use tessera_jobs::jobspec::{InputSpec, JobSpec, RequirementsSpec};
use tessera_jobs::render_jobs::RenderManifest;
use tessera_jobs::{embed_jobs, jobs};

use crate::watch::watch;
use tessera_rpc as rpc;
use tessera_sdk::ix;
use tessera_sdk::units::format_amount;

#[derive(Subcommand)]
pub enum JobCmd {
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
    /// (PNG for renders, matrix file for GEMMs, predictions JSON for inference, `.npy` and
    /// ids for embeddings; a sharded embed post's manifest joins every shard in order).
    Result {
        /// Job account address, or the manifest `job post --kernel embed` wrote.
        job: String,
        /// Directory to write the result into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Another blob store to look in, after the job's recorded result URI and the winning
        /// claims' URIs (not needed normally).
        #[arg(long, env = "TESSERA_BLOBS")]
        blobs: Option<String>,
    },
    /// Check a job's agreed result: `--recompute` reruns it on this machine's CPU reference
    /// (input and model fetched and checked by hash) and says whether the hashes match.
    Verify {
        /// Job account address, or an embed manifest (every shard is checked).
        job: String,
        /// Rerun the job locally (the only check there is beyond the network's agreement).
        #[arg(long)]
        recompute: bool,
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
pub struct PostArgs {
    /// Job file (TOML; see `tessera_jobs::jobspec`). Flags override its fields.
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
    /// Kernel: gemm-i8, gemm-f32, render, inference, embed or generate.
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
    /// Seed of generated inputs; generate: the key of the sampling draws (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Render scene: cornell, spheres, a scene JSON file, or an artist's scene (.gltf, .glb,
    /// .obj) rendered in tiles and frames.
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
    /// Embed: the model, a directory (config.json, model.safetensors, tokenizer.json; it is
    /// uploaded) or the hash `tessera model put` printed.
    #[arg(long)]
    model: Option<String>,
    /// Embed: the corpus, .jsonl with one JSON string or {"id", "text"} per line.
    #[arg(long)]
    texts: Option<PathBuf>,
    /// Embed: split the corpus into this many jobs, run in parallel by different workers.
    #[arg(long)]
    shard: Option<u32>,
    /// Embed: truncate texts to this many tokens (default: the model's maximum); generate:
    /// new tokens at most per prompt (default 128).
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Generate: the prompts, .jsonl with a JSON string, {"id", "prompt"},
    /// {"id", "messages": [{"role", "content"}, …]} (the model's chat template is applied) or
    /// {"id", "token_ids"} per line.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Generate: sampling temperature (0, the default: greedy).
    #[arg(long)]
    temperature: Option<f32>,
    /// Generate: sample from the k most likely tokens (0: all).
    #[arg(long)]
    top_k: Option<u32>,
    /// Generate: sample from the most likely tokens up to this probability (1: all).
    #[arg(long)]
    top_p: Option<f32>,
    /// Generate: Hugging Face's repetition penalty (1: none).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// Embed: where to write the manifest that joins the shards' results
    /// (default: embed-<first job>.json); render: the manifest of its tiles and frames
    /// (default: render-<first job>.json).
    #[arg(long)]
    pub(crate) manifest: Option<PathBuf>,
    /// Render a glTF/OBJ scene as COLSxROWS tile jobs per frame (e.g. 4x4).
    #[arg(long)]
    tiles: Option<String>,
    /// Render a glTF/OBJ scene's frames N or A..B (its animation at frame / fps seconds).
    #[arg(long)]
    frames: Option<String>,
    /// Frames per second of the animation (default 24).
    #[arg(long)]
    fps: Option<f32>,
    /// Render: maximum scattering events per path of a glTF/OBJ scene (default 6).
    #[arg(long)]
    bounces: Option<u32>,
    /// Render: the world around a glTF/OBJ scene, as Blender's world lights it: a constant
    /// colour `r,g,b` (linear) or an equirectangular Radiance `.hdr` image. Seen by rays that
    /// leave the scene and sampled as a light.
    #[arg(long, value_name = "RGB|FILE.hdr")]
    environment: Option<String>,
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
    /// Where to upload the input: a blob server URL, a directory, or an object store
    /// (`s3://bucket/prefix`, `gs://…`, `az://…`; see docs/STORAGE.md).
    #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
    blobs: String,
    /// After posting, follow the job like `job status --watch`.
    #[arg(long)]
    pub(crate) watch: bool,
}

pub fn job_cmd(
    url: &str,
    rpc: &RpcClient,
    cmd: &JobCmd,
    keypair: impl Fn() -> Result<Keypair>,
) -> Result<()> {
    match cmd {
        JobCmd::Post(a) => {
            let client = keypair()?;
            let spec = spec_from(a)?;
            // uploads to a blob server are signed by the client's key
            let target = BlobTarget::parse(&a.blobs)?
                .signed_by(std::sync::Arc::new(client.insecure_clone()));
            if spec.kernel == "embed" {
                return post_embed(url, rpc, &client, &spec, &target, a);
            }
            if spec.kernel == "generate" {
                return crate::generate::post(url, rpc, &client, &spec, &target, a);
            }
            if spec.kernel == "render" && spec.input.is_mesh_scene() {
                return crate::render::post_render(
                    url,
                    rpc,
                    &client,
                    &spec,
                    &target,
                    a.manifest.as_deref(),
                    a.watch,
                );
            }
            let posted = jobs::post(rpc, &client, &spec, &target)?;
            let c = rpc::fetch_config(rpc)?;
            let d = rpc::decimals(rpc, &c)?;
            println!("job       {}", posted.job);
            println!("job id    {}", posted.job_id);
            println!("kernel    {}", spec.kernel);
            println!("input     {}", posted.input_uri);
            println!("escrowed  {} tokens", format_amount(posted.deposit, d));
            println!(
                "follow    tessera job status {} --watch --url {}",
                posted.job, url
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
                let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
                print!("{}", jobs::describe(job, &j, &claims, d));
            }
        }
        JobCmd::Result { job, out, blobs } => match Target::parse(job)? {
            Target::Job(job) => {
                let r = jobs::fetch_result(rpc, &job, blobs.as_deref())?;
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
            Target::Render(path, m) => {
                crate::render::result(rpc, &path, &m, out, blobs.as_deref())?
            }
            Target::Generate(path, m) => {
                crate::generate::result(rpc, &path, &m, out, blobs.as_deref())?
            }
            Target::Manifest(path, m) => {
                let (rows, ids) = embed_jobs::fetch_all(rpc, &m, blobs.as_deref())?;
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "embeddings".into());
                let files = embedding::write_embeddings(out, &stem, m.dim, &rows, &ids)?;
                println!(
                    "result    {} shard(s), each verified against its on-chain result hash",
                    m.shards.len()
                );
                println!(
                    "content   {} embeddings of {} f32, in corpus order",
                    rows.len(),
                    m.dim
                );
                for f in files {
                    println!("wrote     {}", f.display());
                }
            }
        },
        JobCmd::Verify { job, recompute } => {
            if !recompute {
                bail!(
                    "say how to verify: --recompute reruns the job on this machine's CPU reference"
                );
            }
            let keys = match Target::parse(job)? {
                Target::Job(k) => vec![k],
                Target::Manifest(_, m) => m
                    .shards
                    .iter()
                    .map(|s| s.job.parse().context("manifest job address"))
                    .collect::<Result<_>>()?,
                Target::Render(_, m) => m.jobs()?,
                Target::Generate(_, m) => m
                    .shards
                    .iter()
                    .map(|s| s.job.parse().context("manifest job address"))
                    .collect::<Result<_>>()?,
            };
            let mut bad = 0;
            for k in keys {
                let r = embed_jobs::recompute(rpc, &k)?;
                let verdict = if r.matches() {
                    "MATCHES"
                } else {
                    bad += 1;
                    "DOES NOT MATCH"
                };
                println!(
                    "{k}: local CPU result {} {verdict} the on-chain result {} ({:.2} s)",
                    &blobs::hex(&r.local)[..16],
                    &blobs::hex(&r.on_chain)[..16],
                    r.secs
                );
            }
            if bad > 0 {
                bail!("{bad} result(s) differ from what this machine computes");
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
            // The client settles the claims still open (paying the replicas), in as few
            // transactions as fit; its settlement of the last one closes the job. Anyone else,
            // or a job with nothing left to settle, closes it with close_job.
            let open: Vec<_> = if j.client == payer.pubkey() && j.unsettled_claims > 0 {
                rpc::claims_of(rpc, job)?
            } else {
                vec![]
            };
            if open.is_empty() {
                rpc::send(rpc, &[ix::close_job(&t, &j.client, job)], &payer, &[])?;
            } else {
                // every settlement in as few transactions as fit: one up to four replicas
                let settles: Vec<_> = open
                    .iter()
                    .map(|(_, c)| {
                        ix::settle_claim(&t, &payer.pubkey(), job, &j.client, &c.operator)
                    })
                    .collect();
                let sent = rpc::send_packed(rpc, &settles, &payer).with_context(|| {
                    format!(
                        "settling the job's {} claim(s) (a node may have settled its own \
                         meanwhile: run it again)",
                        settles.len()
                    )
                })?;
                println!(
                    "settled {} claim(s) in {} transaction(s)",
                    settles.len(),
                    sent.len()
                );
            }
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
            let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
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

pub fn kernel_name(id: u16) -> String {
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
    opt!(
        m,
        n,
        k,
        seed,
        scene,
        width,
        height,
        spp,
        batch,
        model,
        texts,
        max_tokens,
        prompts,
        temperature,
        top_k,
        top_p,
        repetition_penalty,
        tiles,
        frames,
        fps,
        bounces,
        environment
    );
    if a.shard.is_some() {
        i.shards = a.shard;
    }
    Ok(spec)
}

/// A job address, an embed, render or generate manifest.
enum Target {
    Job(Pubkey),
    Manifest(PathBuf, Manifest),
    Render(PathBuf, RenderManifest),
    Generate(PathBuf, tessera_jobs::generation::Manifest),
}

impl Target {
    fn parse(s: &str) -> Result<Target> {
        if let Ok(k) = s.parse::<Pubkey>() {
            return Ok(Target::Job(k));
        }
        let p = PathBuf::from(s);
        if p.is_file() {
            if let Ok(m) = RenderManifest::read(&p) {
                return Ok(Target::Render(p, m));
            }
            if let Some(m) = tessera_jobs::generation::Manifest::read(&p)? {
                return Ok(Target::Generate(p, m));
            }
            return Ok(Target::Manifest(p.clone(), Manifest::read(&p)?));
        }
        bail!("`{s}` is neither a job address nor a manifest file (embed, render or generate)")
    }
}

/// `job post --kernel embed`: the model put (or found by hash), the corpus tokenised and
/// sharded, one job per shard, and the manifest written.
fn post_embed(
    url: &str,
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    target: &BlobTarget,
    a: &PostArgs,
) -> Result<()> {
    let plan = embed_jobs::plan(spec, target)?;
    let texts: usize = plan.shards.iter().map(|(_, ids)| ids.len()).sum();
    println!(
        "model     {} ({})",
        blobs::hex(&plan.model.hash),
        plan.model.uri
    );
    println!(
        "corpus    {texts} texts, {} tokens{}",
        plan.tokens,
        if plan.truncated > 0 {
            format!(", {} truncated to the maximum length", plan.truncated)
        } else {
            String::new()
        }
    );
    let (posted, manifest) = embed_jobs::post(rpc, client, spec, &plan, target)?;
    let labels: Vec<String> = manifest
        .shards
        .iter()
        .map(|s| format!("{} texts", s.ids.len()))
        .collect();
    let path = a
        .manifest
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("embed-{}.json", posted[0].job)));
    manifest.write(&path)?;
    report_posted(url, rpc, &posted, &labels, &path, a)
}

/// Prints the shard jobs of a post (`labels`: what each holds), the escrow and the manifest
/// written at `path`, and follows the jobs with `--watch`.
pub(crate) fn report_posted(
    url: &str,
    rpc: &RpcClient,
    posted: &[jobs::Posted],
    labels: &[String],
    path: &std::path::Path,
    a: &PostArgs,
) -> Result<()> {
    let d = rpc::decimals(rpc, &rpc::fetch_config(rpc)?)?;
    let deposit: u64 = posted.iter().map(|p| p.deposit).sum();
    for (p, label) in posted.iter().zip(labels) {
        println!("job       {} ({label})", p.job);
    }
    println!("escrowed  {} tokens", format_amount(deposit, d));
    println!("manifest  {}", path.display());
    println!(
        "result    tessera job result {} --url {url}  (verify: tessera job verify {} --recompute)",
        path.display(),
        path.display()
    );
    if a.watch {
        for p in posted {
            watch(rpc, &p.job, Duration::from_secs(600))?;
        }
    }
    Ok(())
}
