//! Training runs on the network (issue 32): a run is a chain of `train` jobs, each link
//! starting from the checkpoint the link before was agreed on — its input names that link's
//! winning result hash, which the program recorded when `k` replicas matched — so no link
//! starts from a checkpoint nobody agreed on. A link that ends without an agreed result is
//! posted again from the same base. The [`TrainManifest`] records the chain; the final
//! checkpoint and every link's losses are fetched verified against the chain.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};
use tessera::state::{Job, JobState};
use tessera_compute::train::{self, Hyper, LinkOutput};

use crate::embed_jobs::ResolvedModel;
use crate::jobs::{self, Poster};
use crate::jobspec::JobSpec;
use crate::training;
use tessera_blobs as blobs;
use tessera_blobs::BlobTarget;
use tessera_rpc as rpc;

/// What a run is: the data, its shape and its hyperparameters.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// Tokenised (anchor, positive) pairs.
    pub pairs: Vec<(Vec<u32>, Vec<u32>)>,
    /// BLAKE3 of the pairs file as read.
    pub pairs_hash: [u8; 32],
    /// Pairs a step.
    pub batch: u32,
    /// Steps a link (the last link may have fewer).
    pub steps_per_link: u32,
    /// The shuffle's seed.
    pub seed: u64,
    /// Texts cut to this many tokens.
    pub max_tokens: u32,
    /// The optimizer and the schedule (its `total_steps` is the run's length).
    pub hyper: Hyper,
}

/// The hyperparameters as the manifest records them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HyperRecord {
    pub loss: String,
    pub lr: f32,
    pub warmup: u32,
    pub total_steps: u32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub scale: f32,
}

impl From<&Hyper> for HyperRecord {
    fn from(h: &Hyper) -> Self {
        HyperRecord {
            loss: "multiple-negatives-ranking".into(),
            lr: h.lr,
            warmup: h.warmup,
            total_steps: h.total_steps,
            weight_decay: h.weight_decay,
            beta1: h.beta1,
            beta2: h.beta2,
            eps: h.eps,
            scale: h.scale,
        }
    }
}

/// One posted link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// The job.
    pub job: String,
    /// Optimizer steps its base had taken.
    pub first_step: u64,
    /// Steps it runs.
    pub steps: u32,
    /// Its base (hex BLAKE3: the model blob, or the link before's agreed result).
    pub base: String,
    /// Where its base is.
    pub base_uri: String,
    /// The agreed result hash, once there is one.
    pub result: Option<String>,
    /// Where the agreed result is.
    pub result_uri: Option<String>,
    /// How it ended (`completed`, `failed`, …), once it has.
    pub state: Option<String>,
}

/// The record of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainManifest {
    /// The base model's hash.
    pub model: String,
    /// BLAKE3 of the pairs file.
    pub pairs: String,
    pub batch: u32,
    pub steps_per_link: u32,
    pub seed: u64,
    pub max_tokens: u32,
    pub hyper: HyperRecord,
    /// Every link posted, in order (re-posted links appear once per attempt).
    pub links: Vec<LinkRecord>,
}

impl TrainManifest {
    pub fn read(path: &Path) -> Result<TrainManifest> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&data)
            .with_context(|| format!("{} is not a training manifest", path.display()))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The links that ended agreed, in step order.
    pub fn agreed(&self) -> Vec<&LinkRecord> {
        self.links.iter().filter(|l| l.result.is_some()).collect()
    }

    /// Steps agreed so far.
    pub fn steps_done(&self) -> u64 {
        self.agreed()
            .last()
            .map_or(0, |l| l.first_step + l.steps as u64)
    }
}

/// Reads, tokenises and checks a run before anything is posted.
pub fn plan(
    model: &ResolvedModel,
    pairs_file: &Path,
    batch: u32,
    steps_per_link: u32,
    seed: u64,
    max_tokens: u32,
    hyper: Hyper,
) -> Result<RunPlan> {
    let data =
        std::fs::read(pairs_file).with_context(|| format!("reading {}", pairs_file.display()))?;
    let pairs =
        training::parse_pairs(std::str::from_utf8(&data).context("the pairs file is not UTF-8")?)
            .with_context(|| format!("pairs {}", pairs_file.display()))?;
    training::check_run(&hyper, batch, steps_per_link, pairs.len())?;
    let pairs = training::tokenize_pairs(&model.blob, &pairs, Some(max_tokens))?;
    Ok(RunPlan {
        pairs,
        pairs_hash: blobs::hash(&data),
        batch,
        steps_per_link,
        seed,
        max_tokens,
        hyper,
    })
}

/// How a link ended.
fn wait_terminal(rpc: &RpcClient, job: &Pubkey, timeout: Duration) -> Result<Job> {
    let start = Instant::now();
    loop {
        let j: Job = rpc::fetch(rpc, "Job", job)?;
        if j.state.is_terminal() {
            return Ok(j);
        }
        if start.elapsed() > timeout {
            bail!(
                "link {job} did not end within {} s ({})",
                timeout.as_secs(),
                jobs::progress_line(&j)
            );
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

/// Most attempts at one link before the run stops.
pub const MAX_ATTEMPTS: u32 = 3;

/// Runs `run` from `model` (or from where `resume` stopped): posts each link with `spec`'s
/// price, replicas and windows, waits for its agreed result, and posts the next link from it.
/// The manifest is written to `manifest_path` after every change; `say` hears each step.
#[allow(clippy::too_many_arguments)]
pub fn run_chain(
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    model: &ResolvedModel,
    run: &RunPlan,
    target: &BlobTarget,
    manifest_path: &Path,
    link_timeout: Duration,
    say: &mut dyn FnMut(&str),
) -> Result<TrainManifest> {
    let mut m = TrainManifest {
        model: blobs::hex(&model.hash),
        pairs: blobs::hex(&run.pairs_hash),
        batch: run.batch,
        steps_per_link: run.steps_per_link,
        seed: run.seed,
        max_tokens: run.max_tokens,
        hyper: HyperRecord::from(&run.hyper),
        links: Vec::new(),
    };
    let total = run.hyper.total_steps as u64;
    let (mut base, mut base_uri, mut step) = (model.hash, model.uri.clone(), 0u64);
    while step < total {
        let n = (total - step).min(run.steps_per_link as u64) as u32;
        let steps = training::link_steps(&run.pairs, run.batch, run.seed, step, n)?;
        let input = train::encode_input(&base, &base_uri, step, &run.hyper, run.batch, &steps)?;
        let mut agreed = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let mut poster = Poster::new(rpc, client)?;
            let sent = poster.send_input(spec, input.clone(), target)?;
            let posted = poster
                .confirm(vec![sent], Duration::from_secs(60))
                .pop()
                .expect("one verdict")
                .1?;
            say(&format!(
                "link      steps {} ..= {} job {} (attempt {attempt})",
                step + 1,
                step + n as u64,
                posted.job
            ));
            m.links.push(LinkRecord {
                job: posted.job.to_string(),
                first_step: step,
                steps: n,
                base: blobs::hex(&base),
                base_uri: base_uri.clone(),
                result: None,
                result_uri: None,
                state: None,
            });
            m.write(manifest_path)?;
            let j = wait_terminal(rpc, &posted.job, link_timeout)?;
            let rec = m.links.last_mut().expect("just pushed");
            rec.state = Some(tessera_sdk::accounts::state_name(j.state).to_string());
            if j.state == JobState::Completed && j.has_winner && !j.result_uri.is_empty() {
                rec.result = Some(blobs::hex(&j.winning_hash));
                rec.result_uri = Some(j.result_uri.clone());
                m.write(manifest_path)?;
                say(&format!(
                    "agreed    {} ({})",
                    blobs::hex(&j.winning_hash),
                    jobs::progress_line(&j)
                ));
                agreed = Some((j.winning_hash, j.result_uri));
                break;
            }
            m.write(manifest_path)?;
            say(&format!(
                "not agreed: {} — posted again from the same base",
                jobs::progress_line(&j)
            ));
        }
        let Some((hash, uri)) = agreed else {
            bail!(
                "steps {} ..= {} found no agreement in {MAX_ATTEMPTS} attempts; the manifest {} records the run so far",
                step + 1,
                step + n as u64,
                manifest_path.display()
            );
        };
        (base, base_uri, step) = (hash, uri, step + n as u64);
    }
    Ok(m)
}

/// Every agreed link's output, fetched and verified against the chain (in step order).
pub fn fetch_links(
    rpc: &RpcClient,
    m: &TrainManifest,
    blobs_hint: Option<&str>,
) -> Result<Vec<LinkOutput>> {
    let mut out = Vec::new();
    let mut expect = 0u64;
    for l in m.agreed() {
        if l.first_step != expect {
            bail!(
                "the manifest's agreed links skip from step {expect} to {}",
                l.first_step
            );
        }
        let job: Pubkey = l
            .job
            .parse()
            .with_context(|| format!("`{}` is not a job address", l.job))?;
        let r = jobs::fetch_result(rpc, &job, blobs_hint).with_context(|| format!("link {job}"))?;
        let link = train::decode_output(&r.output.bytes)?;
        expect = link.checkpoint.step;
        out.push(link);
    }
    if out.is_empty() {
        bail!("no link of this run has an agreed result yet");
    }
    Ok(out)
}

/// `tessera train result`: the final model directory, the loss of every step (`losses.csv`)
/// and its plot (`losses.png`). Returns the files written.
pub fn write_result(links: &[LinkOutput], dir: &Path) -> Result<Vec<PathBuf>> {
    let last = links.last().context("no links")?;
    let mut files = training::write_checkpoint(dir, last)?;
    let mut losses = Vec::new();
    let mut csv = String::from("step,loss,link\n");
    let mut bounds = Vec::new();
    for (i, l) in links.iter().enumerate() {
        for (s, v) in l.losses.iter().enumerate() {
            csv.push_str(&format!("{},{v},{}\n", l.first_step + 1 + s as u64, i + 1));
            losses.push(*v);
        }
        bounds.push(losses.len());
    }
    let p = dir.join("losses.csv");
    std::fs::write(&p, csv)?;
    let png = dir.join("losses.png");
    crate::loss_plot::write_png(&png, &losses, &bounds[..bounds.len().saturating_sub(1)])?;
    files.push(png);
    Ok(files)
}
