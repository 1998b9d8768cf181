//! `tessera train …`: fine-tuning runs as chains of `train` jobs (issue 32).
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use solana_client::rpc_client::RpcClient;
use solana_sdk::signature::Keypair;
use tessera_compute::train::Hyper;
use tessera_jobs::jobspec::{InputSpec, JobSpec, RequirementsSpec};
use tessera_jobs::{embed_jobs, train_jobs};

#[derive(Subcommand)]
pub enum TrainCmd {
    /// Fine-tune an encoder on (anchor, positive) pairs: posts the run as a chain of train
    /// jobs, each link starting from the checkpoint the link before was agreed on, and writes
    /// the manifest that records the chain.
    Post(Box<TrainPostArgs>),
    /// Fetch a run's final model (a Hugging Face directory: config.json, tokenizer.json,
    /// model.safetensors), every step's loss (losses.csv) and its plot (losses.png), each
    /// link's result checked against its on-chain hash.
    Result {
        /// The manifest `train post` wrote.
        manifest: PathBuf,
        /// Directory to write the model into.
        #[arg(long, default_value = "model")]
        out: PathBuf,
        /// Another blob store to look in.
        #[arg(long, env = "TESSERA_BLOBS")]
        blobs: Option<String>,
    },
}

#[derive(Args)]
pub struct TrainPostArgs {
    /// The base model: a directory (uploaded) or the hash `tessera model put` printed.
    #[arg(long)]
    model: String,
    /// Training pairs: .jsonl, one {"anchor": …, "positive": …} per line.
    #[arg(long)]
    pairs: PathBuf,
    /// Optimizer steps in the whole run.
    #[arg(long)]
    steps: u32,
    /// Steps per job (a link of the chain).
    #[arg(long, default_value_t = 50)]
    steps_per_job: u32,
    /// Pairs per step (each pair's negatives are the batch's other positives).
    #[arg(long, default_value_t = 16)]
    batch: u32,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-5)]
    lr: f32,
    /// Warm-up steps (default: a tenth of --steps).
    #[arg(long)]
    warmup: Option<u32>,
    /// AdamW's decoupled weight decay (not on biases and LayerNorms).
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    /// The loss's similarity scale.
    #[arg(long, default_value_t = 20.0)]
    scale: f32,
    /// Texts cut to this many tokens.
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
    /// The seed of the pairs' order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tokens per replica of each link.
    #[arg(long)]
    price: String,
    /// Replicas (k) that must agree on each link's checkpoint.
    #[arg(long, default_value_t = 2)]
    replicas: u8,
    /// Seconds a claimer has to commit (default: the network's whole commit window: a link
    /// is minutes of work, not seconds).
    #[arg(long)]
    exec_secs: Option<i64>,
    /// Seconds until each link's deadline.
    #[arg(long, default_value_t = 600)]
    deadline_secs: i64,
    /// Where to write the manifest (default: train-<first job>.json).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Where to upload the inputs and the model.
    #[arg(long, env = "TESSERA_BLOBS", default_value = "http://127.0.0.1:8990")]
    blobs: String,
}

pub fn train_cmd(
    url: &str,
    rpc: &RpcClient,
    cmd: &TrainCmd,
    keypair: impl Fn() -> Result<Keypair>,
) -> Result<()> {
    match cmd {
        TrainCmd::Post(a) => {
            let hyper = Hyper {
                lr: a.lr,
                warmup: a.warmup.unwrap_or(a.steps / 10),
                weight_decay: a.weight_decay,
                scale: a.scale,
                ..Hyper::defaults(a.steps)
            };
            let target = crate::blobs::signed_target(&a.blobs, &keypair)?;
            let client = keypair()?;
            let model = embed_jobs::resolve_model(&a.model, &target)?;
            let run = train_jobs::plan(
                &model,
                &a.pairs,
                a.batch,
                a.steps_per_job,
                a.seed,
                a.max_tokens,
                hyper,
            )?;
            let links = a.steps.div_ceil(a.steps_per_job);
            println!(
                "model     {} ({})",
                tessera_blobs::hex(&model.hash),
                model.uri
            );
            println!(
                "run       {} pairs, {} steps of {} pairs in {links} links, lr {} (warm-up {})",
                run.pairs.len(),
                a.steps,
                a.batch,
                a.lr,
                hyper.warmup
            );
            let exec_secs = match a.exec_secs {
                Some(s) => s,
                None => tessera_rpc::fetch_config(rpc)?.commit_window_secs,
            };
            let spec = JobSpec {
                kernel: "train".into(),
                input: InputSpec::default(),
                price: toml::Value::String(a.price.clone()),
                replicas: a.replicas,
                market: "fixed".into(),
                max_escalations: 1,
                exec_secs: Some(exec_secs),
                deadline_secs: a.deadline_secs,
                bid_secs: 4,
                requirements: RequirementsSpec::default(),
            };
            let path = a.manifest.clone().unwrap_or_else(|| {
                PathBuf::from(format!(
                    "train-{}.json",
                    tessera_blobs::hex(&model.hash)[..12].to_owned()
                ))
            });
            let m = train_jobs::run_chain(
                rpc,
                &client,
                &spec,
                &model,
                &run,
                &target,
                &path,
                Duration::from_secs(a.deadline_secs.max(1) as u64 + 120),
                &mut |line| println!("{line}"),
            )?;
            println!(
                "manifest  {} ({} links agreed)",
                path.display(),
                m.agreed().len()
            );
            println!(
                "result    tessera train result {} --out model --url {url}",
                path.display()
            );
        }
        TrainCmd::Result {
            manifest,
            out,
            blobs,
        } => {
            let m = train_jobs::TrainManifest::read(manifest)?;
            let links = train_jobs::fetch_links(rpc, &m, blobs.as_deref())?;
            let files = train_jobs::write_result(&links, out).context("writing the model")?;
            let last = links.last().expect("at least one link");
            println!(
                "model     {} after {} steps in {} links, last loss {:.4}",
                out.display(),
                last.checkpoint.step,
                links.len(),
                last.losses.last().copied().unwrap_or(f32::NAN)
            );
            for f in files {
                println!("wrote     {}", f.display());
            }
        }
    }
    Ok(())
}
