//! Fine-tunes all-MiniLM-L6-v2 with the train kernel on the CPU (no network) and reports the
//! held-out retrieval before and after, the loss of each step and the time a step takes.
//!
//! `cargo run --release -p tessera-tests --bin bench-train -- --steps 20 --batch 16`
//! (pairs: WordNet's usage examples and definitions, made by set-up; docs/BENCHMARKS.md).
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use tessera_compute::embed::{cpu::embed_batch, EmbedModel};
use tessera_compute::train::{self, Checkpoint, Hyper, Path};
use tessera_jobs::{embedding, training};

#[derive(Parser)]
struct Args {
    /// Training pairs (default: set-up's WordNet pairs).
    #[arg(long)]
    pairs: Option<std::path::PathBuf>,
    /// Held-out pairs.
    #[arg(long)]
    heldout: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 20)]
    steps: u32,
    #[arg(long, default_value_t = 16)]
    batch: u32,
    #[arg(long, default_value_t = 2e-5)]
    lr: f32,
    #[arg(long, default_value_t = 32)]
    max_tokens: u32,
    /// Held-out pairs evaluated.
    #[arg(long, default_value_t = 500)]
    eval: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the run for the PyTorch comparison (scripts/bench/train-torch.sh): the steps'
    /// token ids and hyperparameters, this run's losses, step times and final weights.
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Skip the held-out evaluation.
    #[arg(long)]
    no_eval: bool,
}

fn eval(m: &EmbedModel, held: &[(Vec<u32>, Vec<u32>)]) -> training::Retrieval {
    let rows = |v: Vec<f32>| -> Vec<Vec<f32>> {
        v.chunks(m.config.hidden_size)
            .map(<[f32]>::to_vec)
            .collect()
    };
    let a: Vec<Vec<u32>> = held.iter().map(|p| p.0.clone()).collect();
    let p: Vec<Vec<u32>> = held.iter().map(|p| p.1.clone()).collect();
    training::retrieval(&rows(embed_batch(m, &a)), &rows(embed_batch(m, &p)))
}

fn main() -> Result<()> {
    let a = Args::parse();
    let data = tessera_tests::wordnet_pairs_dir()?;
    let blob = embedding::model_blob(&tessera_tests::minilm_dir()?)?;
    let pairs = training::read_pairs(&a.pairs.unwrap_or(data.join("train.jsonl")))?;
    let held = training::read_pairs(&a.heldout.unwrap_or(data.join("heldout.jsonl")))?;
    let pairs = training::tokenize_pairs(&blob, &pairs, Some(a.max_tokens))?;
    let held =
        training::tokenize_pairs(&blob, &held[..a.eval.min(held.len())], Some(a.max_tokens))?;
    let mut c = Checkpoint::from_model_blob(&blob)?;
    let h = Hyper {
        lr: a.lr,
        ..Hyper::defaults(a.steps)
    };
    let before = eval(&c.model, &held);
    println!(
        "held-out ({} pairs) before: MRR@10 {:.4}, recall@1 {:.4}",
        held.len(),
        before.mrr10,
        before.recall1
    );
    let steps = training::link_steps(&pairs, a.batch, a.seed, 0, a.steps)?;
    let t0 = Instant::now();
    for (s, seqs) in steps.iter().enumerate() {
        let t = Instant::now();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let loss = train::train_step(
            Path::Fast,
            &mut c.model,
            &mut c.state,
            &h,
            s as u64 + 1,
            &refs,
        );
        let tokens: usize = seqs.iter().map(Vec::len).sum();
        println!(
            "step {:>3}: loss {loss:.4}  {tokens} tokens  {:.2} s",
            s + 1,
            t.elapsed().as_secs_f64()
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let after = eval(&c.model, &held);
    println!(
        "held-out after {} steps: MRR@10 {:.4}, recall@1 {:.4}",
        a.steps, after.mrr10, after.recall1
    );
    println!(
        "{:.3} steps/s ({:.2} s a step, batch {})",
        a.steps as f64 / secs,
        secs / a.steps as f64,
        a.batch
    );
    Ok(())
}
