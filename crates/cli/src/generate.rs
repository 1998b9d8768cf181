//! `tessera job post --kernel generate` and `tessera job result <generate manifest>`: prompts
//! to sharded generate jobs, verified completions back to text.
use std::path::{Path, PathBuf};

use anyhow::Result;
use solana_client::rpc_client::RpcClient;
use solana_sdk::signature::Keypair;
use tessera_blobs as blobs;
use tessera_blobs::BlobTarget;
use tessera_jobs::generate_jobs;
use tessera_jobs::generation::{self, Manifest};
use tessera_jobs::jobspec::JobSpec;

use crate::job::PostArgs;

/// Posts the prompts as one job per shard and writes the manifest.
pub fn post(
    url: &str,
    rpc: &RpcClient,
    client: &Keypair,
    spec: &JobSpec,
    target: &BlobTarget,
    a: &PostArgs,
) -> Result<()> {
    let plan = generate_jobs::plan(spec, target)?;
    let c = &plan.info.config;
    let prompts: usize = plan.plan.shards.iter().map(|s| s.2.len()).sum();
    println!(
        "model     {} ({}: {} layers, hidden {}, vocabulary {})",
        blobs::hex(&plan.model.hash),
        c.arch.name(),
        c.num_hidden_layers,
        c.hidden_size,
        c.vocab_size
    );
    println!(
        "prompts   {prompts}, {} tokens; up to {} new tokens each, stop tokens {:?}",
        plan.plan.tokens,
        generate_jobs::options(spec)?.max_new_tokens,
        plan.info.eos
    );
    let (posted, manifest) = generate_jobs::post(rpc, client, spec, &plan, target)?;
    let labels: Vec<String> = manifest
        .shards
        .iter()
        .map(|s| format!("{} prompts", s.ids.len()))
        .collect();
    let path = a
        .manifest
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("generate-{}.json", posted[0].job)));
    manifest.write(&path)?;
    crate::job::report_posted(url, rpc, &posted, &labels, &path, a)
}

/// Fetches every shard's verified completions and writes them, decoded, as JSON lines.
pub fn result(
    rpc: &RpcClient,
    path: &Path,
    m: &Manifest,
    out: &Path,
    blobs_hint: Option<&str>,
) -> Result<()> {
    let (done, ids) = generate_jobs::fetch_all(rpc, m, blobs_hint)?;
    let info = generate_jobs::manifest_decoder(m)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "generate".into());
    std::fs::create_dir_all(out)?;
    let file = out.join(format!("{stem}.completions.jsonl"));
    std::fs::write(
        &file,
        generation::completions_jsonl(&ids, &done, Some(&info))?,
    )?;
    let tokens: usize = done.iter().map(|c| c.tokens.len()).sum();
    println!(
        "result    {} shard(s), each verified against its on-chain result hash",
        m.shards.len()
    );
    println!(
        "content   {} completions, {tokens} new tokens, in prompt order",
        done.len()
    );
    println!("wrote     {}", file.display());
    Ok(())
}
