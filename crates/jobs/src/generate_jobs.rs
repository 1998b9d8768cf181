//! Generate jobs on the network: the decoder uploaded (once) and named by hash, the prompts
//! tokenised (chat template applied) and split into shards posted as one job each, their
//! verified completions joined back in prompt order and decoded to text.
//!
//! Used by `tessera model put`, `tessera job post --kernel generate`, `tessera job result`,
//! the demo and the network test.
use std::path::Path;

use anyhow::{bail, Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};
use tessera_compute::generate::{self, Completion, Sampling};

use crate::embed_jobs::{self, model_cache, ResolvedModel};
use crate::generation::{
    self, DecoderInfo, GenerateOptions, GeneratePlan, Manifest, ManifestShard,
};
use crate::jobs::{self, Posted, Poster};
use crate::jobspec::JobSpec;
use tessera_blobs as blobs;
use tessera_blobs::BlobTarget;

/// Uploads the decoder in `dir` to `target` (a no-op for a blob already there).
pub fn put_decoder(dir: &Path, target: &BlobTarget) -> Result<ResolvedModel> {
    embed_jobs::put_blob(dir, target, generation::decoder_blob(dir)?)
}

/// `--model <dir | hash>` for a generate job: a directory is put, a hash names a decoder
/// blob already in `target` (fetched once, then cached).
pub fn resolve_decoder(model: &str, target: &BlobTarget) -> Result<ResolvedModel> {
    embed_jobs::resolve_with(model, target, put_decoder)
}

/// The jobs a generate post becomes, before anything is sent.
pub struct Plan {
    /// The decoder.
    pub model: ResolvedModel,
    /// Its config, tokenizer and template.
    pub info: DecoderInfo,
    /// The shards.
    pub plan: GeneratePlan,
}

/// The options of a generate spec (`--max-tokens`, sampling, `--shard`).
pub fn options(spec: &JobSpec) -> Result<GenerateOptions> {
    let i = &spec.input;
    let sampling = Sampling {
        temperature: i.temperature.unwrap_or(0.0),
        top_k: i.top_k.unwrap_or(0),
        top_p: i.top_p.unwrap_or(1.0),
        repetition_penalty: i.repetition_penalty.unwrap_or(1.0),
        seed: i.seed.unwrap_or(0),
    };
    sampling.check()?;
    Ok(GenerateOptions {
        max_new_tokens: i.max_tokens.unwrap_or(128),
        sampling,
        shards: i.shards.unwrap_or(1),
    })
}

/// Builds the shards of a generate spec.
pub fn plan(spec: &JobSpec, target: &BlobTarget) -> Result<Plan> {
    let i = &spec.input;
    let model = i
        .model
        .as_deref()
        .context("a generate job needs --model <decoder directory or hash>")?;
    let prompts = i
        .prompts
        .as_deref()
        .context("a generate job needs --prompts <prompts.jsonl>")?;
    let opts = options(spec)?;
    let data = std::fs::read_to_string(prompts)
        .with_context(|| format!("reading {}", prompts.display()))?;
    let prompts = generation::parse_prompts(&data)
        .with_context(|| format!("prompts {}", prompts.display()))?;
    let model = resolve_decoder(model, target)?;
    let info = DecoderInfo::from_blob(&model.blob)?;
    let plan = generation::plan_shards(&info, &model.hash, &model.uri, &prompts, &opts)?;
    Ok(Plan { model, info, plan })
}

/// Posts every shard of `plan` (one job each, confirmed together) and returns the jobs with
/// the manifest that joins their completions back.
pub fn post(
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    plan: &Plan,
    target: &BlobTarget,
) -> Result<(Vec<Posted>, Manifest)> {
    let mut poster = Poster::new(rpc, client)?;
    let mut sent = Vec::new();
    for (blob, _, _) in &plan.plan.shards {
        sent.push(poster.send_input(spec, blob.clone(), target)?);
    }
    let mut posted = Vec::new();
    for (s, verdict) in poster.confirm(sent, std::time::Duration::from_secs(60)) {
        posted.push(verdict.with_context(|| format!("shard job {}", s.job))?);
    }
    let manifest = Manifest {
        kernel: "generate".into(),
        model: blobs::hex(&plan.model.hash),
        model_uri: plan.model.uri.clone(),
        shards: posted
            .iter()
            .zip(&plan.plan.shards)
            .map(|(p, (_, _, ids))| ManifestShard {
                job: p.job.to_string(),
                ids: ids.clone(),
            })
            .collect(),
    };
    Ok((posted, manifest))
}

/// The verified completions of every shard of `manifest`, in prompt order, with their ids.
pub fn fetch_all(
    rpc: &RpcClient,
    manifest: &Manifest,
    blobs_hint: Option<&str>,
) -> Result<(Vec<Completion>, Vec<String>)> {
    let (mut done, mut ids) = (Vec::new(), Vec::new());
    for (n, s) in manifest.shards.iter().enumerate() {
        let job: Pubkey = s
            .job
            .parse()
            .with_context(|| format!("manifest shard {n}: `{}` is not a job address", s.job))?;
        let r = jobs::fetch_result(rpc, &job, blobs_hint)
            .with_context(|| format!("shard {n} ({job})"))?;
        let got = generate::decode_output(&r.output.bytes)?;
        if got.len() != s.ids.len() {
            bail!(
                "shard {n} ({job}) holds {} completions, the manifest lists {} prompts",
                got.len(),
                s.ids.len()
            );
        }
        done.extend(got);
        ids.extend(s.ids.iter().cloned());
    }
    Ok((done, ids))
}

/// The decoder named by a manifest, for decoding completions to text (from the client's
/// cache, else where the manifest says it is).
pub fn manifest_decoder(manifest: &Manifest) -> Result<DecoderInfo> {
    let hash = blobs::parse_hash(&manifest.model)?;
    let cache = model_cache()?;
    let blob = match cache.get(&hash).ok().flatten() {
        Some(b) => b,
        None => {
            let b = blobs::block_on(blobs::fetch(&manifest.model_uri, &hash))
                .with_context(|| format!("fetching the decoder {}", manifest.model))?;
            let _ = cache.put(&b);
            b
        }
    };
    DecoderInfo::from_blob(&blob)
}
