//! Fine-tunes all-MiniLM-L6-v2 with the train kernel on the CPU (no network) and reports the
//! held-out retrieval before and after, the loss of each step and the time a step takes.
//!
//! `cargo run --release -p tessera-tests --bin bench-train -- --steps 20 --batch 16`
//! (pairs: WordNet's usage examples and definitions, made by set-up; docs/BENCHMARKS.md).
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use tessera_compute::embed::{cpu::embed_batch, EmbedModel};
use tessera_compute::train::{adamw, backward, forward, loss, Checkpoint, Hyper, Path};
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
    if !a.no_eval {
        let before = eval(&c.model, &held);
        println!(
            "held-out ({} pairs) before: MRR@10 {:.4}, recall@1 {:.4}",
            held.len(),
            before.mrr10,
            before.recall1
        );
    }
    let steps = training::link_steps(&pairs, a.batch, a.seed, 0, a.steps)?;
    let (mut losses, mut times) = (Vec::new(), Vec::new());
    let mut parts = [0.0f64; 3];
    let t0 = Instant::now();
    for (s, seqs) in steps.iter().enumerate() {
        let t = Instant::now();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        // the step's parts, timed (train::train_step does the same calls)
        let b = refs.len() / 2;
        let rows = forward::Rows::new(&refs);
        let f = forward::forward(Path::Fast, &c.model, &rows);
        let t_fwd = t.elapsed().as_secs_f64();
        let lg = loss::mnrl(Path::Fast, &f.emb, b, c.model.config.hidden_size, h.scale);
        let grads = backward::backward(Path::Fast, &c.model, &rows, &f, &lg.d_emb);
        let t_bwd = t.elapsed().as_secs_f64() - t_fwd;
        adamw::step(
            Path::Fast,
            &mut c.model,
            &grads,
            &mut c.state,
            &h,
            s as u64 + 1,
        );
        let t_opt = t.elapsed().as_secs_f64() - t_fwd - t_bwd;
        parts[0] += t_fwd;
        parts[1] += t_bwd;
        parts[2] += t_opt;
        let loss = lg.loss;
        let tokens: usize = seqs.iter().map(Vec::len).sum();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "step {:>3}: loss {loss:.4}  {tokens} tokens  {secs:.2} s",
            s + 1
        );
        losses.push(loss);
        times.push(secs);
    }
    let secs = t0.elapsed().as_secs_f64();
    if !a.no_eval {
        let after = eval(&c.model, &held);
        println!(
            "held-out after {} steps: MRR@10 {:.4}, recall@1 {:.4}",
            a.steps, after.mrr10, after.recall1
        );
    }
    if let Some(dir) = &a.dump {
        std::fs::create_dir_all(dir)?;
        let b = a.batch as usize;
        let steps_json: Vec<serde_json::Value> = steps
            .iter()
            .map(|s| serde_json::json!({"anchors": &s[..b], "positives": &s[b..]}))
            .collect();
        std::fs::write(dir.join("steps.json"), serde_json::to_vec(&steps_json)?)?;
        let hyper = serde_json::json!({"lr": h.lr, "warmup": h.warmup, "total_steps": h.total_steps,
            "weight_decay": h.weight_decay, "beta1": h.beta1, "beta2": h.beta2, "eps": h.eps, "scale": h.scale});
        std::fs::write(dir.join("hyper.json"), serde_json::to_vec(&hyper)?)?;
        let run = serde_json::json!({"losses": losses, "step_secs": times});
        std::fs::write(dir.join("tessera.json"), serde_json::to_vec(&run)?)?;
        let blob = c.model_blob()?;
        let (_, _, weights) = tessera_compute::embed::model::split_model(&blob)?;
        std::fs::write(dir.join("tessera.safetensors"), weights)?;
        println!("wrote the run to {}", dir.display());
    }
    println!(
        "time: forward {:.0} %, loss + backward {:.0} %, AdamW {:.0} %",
        100.0 * parts[0] / secs,
        100.0 * parts[1] / secs,
        100.0 * parts[2] / secs
    );
    println!(
        "{:.3} steps/s ({:.2} s a step, batch {})",
        a.steps as f64 / secs,
        secs / a.steps as f64,
        a.batch
    );
    Ok(())
}
