//! Embed jobs on the network: the model uploaded (once) and named by hash, the corpus
//! tokenised and split into shards posted as one job each, their verified results joined
//! back in order, and any result recomputed on the local CPU reference.
//!
//! Used by `tessera model put`, `tessera job post --kernel embed`, `tessera job result`,
//! `tessera job verify --recompute`, the demo and the network test.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};
use tessera::state::Job;
use tessera_compute::embed::{self, EmbedModel};
use tessera_compute::{Backend, Limits};

use crate::embedding::{self, Manifest, ManifestShard};
use crate::jobs::{self, Posted, Poster};
use crate::jobspec::JobSpec;
use tessera_blobs as blobs;
use tessera_blobs::{BlobTarget, DirStore};
use tessera_rpc as rpc;

/// A model the network can name: its blob's hash, where the blob is, and the blob.
pub struct ResolvedModel {
    pub hash: [u8; 32],
    pub uri: String,
    pub blob: Vec<u8>,
}

/// The client's own cache of model blobs, by hash (`$TESSERA_CACHE/client-models`, default
/// `~/.cache/tessera/client-models`): a model referenced by hash is downloaded once.
pub fn model_cache() -> Result<DirStore> {
    let base = std::env::var_os("TESSERA_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tessera")
        });
    DirStore::open(base.join("client-models"))
}

/// Uploads the model in `dir` to `target` (a no-op for a blob already there): `tessera model
/// put`.
pub fn put_model(dir: &Path, target: &BlobTarget) -> Result<ResolvedModel> {
    put_blob(dir, target, embedding::model_blob(dir)?)
}

/// Uploads `blob`, made from the model in `dir`, to `target` (a no-op for a blob already
/// there) and keeps it in the client's cache.
pub fn put_blob(dir: &Path, target: &BlobTarget, blob: Vec<u8>) -> Result<ResolvedModel> {
    let (hash, uri) = blobs::block_on(target.put(&blob))
        .with_context(|| format!("uploading the model in {}", dir.display()))?;
    if let Ok(cache) = model_cache() {
        let _ = cache.put(&blob);
    }
    Ok(ResolvedModel { hash, uri, blob })
}

/// `--model <dir | hash>`: a directory is put (see [`put_model`]); a hash names a blob
/// already in `target`, fetched (once, then cached) and checked against the hash.
pub fn resolve_model(model: &str, target: &BlobTarget) -> Result<ResolvedModel> {
    resolve_with(model, target, put_model)
}

/// [`resolve_model`] with `put` making and uploading a directory's blob.
pub fn resolve_with(
    model: &str,
    target: &BlobTarget,
    put: fn(&Path, &BlobTarget) -> Result<ResolvedModel>,
) -> Result<ResolvedModel> {
    if let Ok(hash) = blobs::parse_hash(model) {
        let uri = target.uri_of(&hash);
        let cache = model_cache()?;
        if let Some(blob) = cache.get(&hash).ok().flatten() {
            return Ok(ResolvedModel { hash, uri, blob });
        }
        let blob = blobs::block_on(blobs::fetch(&uri, &hash)).with_context(|| {
            format!("model {model} is not in the blob store at {uri}: put it with `tessera model put <dir>`")
        })?;
        let _ = cache.put(&blob);
        return Ok(ResolvedModel { hash, uri, blob });
    }
    let dir = Path::new(model);
    if !dir.is_dir() {
        bail!("--model {model}: neither a model directory nor a 64-hex-digit model hash");
    }
    put(dir, target)
}

/// The jobs an embed post becomes, before anything is sent.
pub struct EmbedPlan {
    pub model: ResolvedModel,
    pub dim: usize,
    /// One input blob per shard, with the ids of its texts.
    pub shards: Vec<(Vec<u8>, Vec<String>)>,
    /// Texts cut to the maximum length.
    pub truncated: usize,
    /// Tokens in all.
    pub tokens: usize,
}

/// Builds the shards of an embed spec: the model resolved, the corpus read and tokenised,
/// split into `input.shards` jobs of about equal work.
pub fn plan(spec: &JobSpec, target: &BlobTarget) -> Result<EmbedPlan> {
    let i = &spec.input;
    let model = i
        .model
        .as_deref()
        .context("an embed job needs --model <model directory or hash>")?;
    let texts = i
        .texts
        .as_deref()
        .context("an embed job needs --texts <corpus.jsonl>")?;
    let model = resolve_model(model, target)?;
    let corpus = embedding::read_corpus(texts)?;
    let p = embedding::plan_shards(
        &model.blob,
        &model.hash,
        &model.uri,
        &corpus,
        i.max_tokens,
        i.shards.unwrap_or(1),
    )?;
    Ok(EmbedPlan {
        model,
        dim: p.dim,
        shards: p.shards,
        truncated: p.truncated,
        tokens: p.tokens,
    })
}

/// Posts every shard of `plan` (one job each, confirmed together) and returns the jobs with
/// the manifest that joins their results back.
pub fn post(
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    plan: &EmbedPlan,
    target: &BlobTarget,
) -> Result<(Vec<Posted>, Manifest)> {
    let mut poster = Poster::new(rpc, client)?;
    let mut sent = Vec::new();
    for (blob, _) in &plan.shards {
        sent.push(poster.send_input(spec, blob.clone(), target)?);
    }
    let mut posted = Vec::new();
    for (s, verdict) in poster.confirm(sent, std::time::Duration::from_secs(60)) {
        posted.push(verdict.with_context(|| format!("shard job {}", s.job))?);
    }
    let manifest = Manifest {
        model: blobs::hex(&plan.model.hash),
        dim: plan.dim,
        shards: posted
            .iter()
            .zip(&plan.shards)
            .map(|(p, (_, ids))| ManifestShard {
                job: p.job.to_string(),
                ids: ids.clone(),
            })
            .collect(),
    };
    Ok((posted, manifest))
}

/// The verified embeddings of every shard of `manifest`, joined in corpus order, with their
/// ids.
pub fn fetch_all(
    rpc: &RpcClient,
    manifest: &Manifest,
    blobs_hint: Option<&str>,
) -> Result<(Vec<Vec<f32>>, Vec<String>)> {
    let (mut rows, mut ids) = (Vec::new(), Vec::new());
    for (n, s) in manifest.shards.iter().enumerate() {
        let job: Pubkey = s
            .job
            .parse()
            .with_context(|| format!("manifest shard {n}: `{}` is not a job address", s.job))?;
        let r = jobs::fetch_result(rpc, &job, blobs_hint)
            .with_context(|| format!("shard {n} ({job})"))?;
        let got = embed::decode_output(&r.output.bytes, manifest.dim)?;
        if got.len() != s.ids.len() {
            bail!(
                "shard {n} ({job}) holds {} embeddings, the manifest lists {} texts",
                got.len(),
                s.ids.len()
            );
        }
        rows.extend(got);
        ids.extend(s.ids.iter().cloned());
    }
    Ok((rows, ids))
}

/// What `tessera job verify --recompute` found.
pub struct Recomputed {
    pub job: Pubkey,
    pub on_chain: [u8; 32],
    pub local: [u8; 32],
    pub secs: f64,
}

impl Recomputed {
    pub fn matches(&self) -> bool {
        self.on_chain == self.local
    }
}

/// A model blob by hash: from the local model cache, else fetched from `uri` (checked against
/// the hash) and cached.
fn cached_model_blob(hash: &[u8; 32], uri: &str) -> Result<Vec<u8>> {
    let cache = model_cache()?;
    if let Some(b) = cache.get(hash).ok().flatten() {
        return Ok(b);
    }
    let b = blobs::block_on(blobs::fetch(uri, hash)).context("fetching the job's model")?;
    let _ = cache.put(&b);
    Ok(b)
}

/// Reruns `job` (any kernel) on the local CPU reference: its input fetched and checked
/// against the job's spec hash, an embed job's model or a generate job's decoder fetched by
/// hash (cached), a train link's base fetched by hash, and the
/// result hash compared with the one the network agreed on.
pub fn recompute(rpc: &RpcClient, job_key: &Pubkey) -> Result<Recomputed> {
    let job: Job = rpc::fetch(rpc, "Job", job_key)?;
    if !job.has_winner {
        bail!(
            "job {job_key} has no agreed result yet (state: {})",
            tessera_sdk::accounts::state_name(job.state)
        );
    }
    let input = blobs::block_on(blobs::fetch(&job.input_uri, &job.spec_hash))
        .context("fetching the job's input")?;
    let limits = Limits::default();
    let mut parsed = tessera_compute::Job::parse(&input, &limits)?;
    if let Some((hash, uri)) = parsed.model_ref() {
        let blob = cached_model_blob(&hash, uri)?;
        let model = std::sync::Arc::new(EmbedModel::parse(&blob)?);
        parsed = parsed.bind_model(model, &limits)?;
    }
    if let Some((hash, uri)) = parsed.decoder_ref() {
        let blob = cached_model_blob(&hash, uri)?;
        let model = std::sync::Arc::new(tessera_compute::generate::DecoderModel::parse(&blob)?);
        parsed = parsed.bind_decoder(model, &limits)?;
    }
    if let Some((hash, uri)) = parsed.base_ref() {
        let blob = blobs::block_on(blobs::fetch(uri, &hash)).context("fetching the link's base")?;
        let base = std::sync::Arc::new(tessera_compute::train::Checkpoint::from_base_blob(&blob)?);
        parsed = parsed.bind_base(base, &limits)?;
    }
    let t = std::time::Instant::now();
    let out = parsed.run(&Backend::cpu())?;
    Ok(Recomputed {
        job: *job_key,
        on_chain: job.winning_hash,
        local: out.hash(),
        secs: t.elapsed().as_secs_f64(),
    })
}
