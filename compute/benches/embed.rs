//! Sentence embeddings on this machine's CPU, side by side in one run: Tessera's embed kernel
//! (`embed::cpu::embed_batch`, the path workers run) against Hugging Face's candle BERT on the
//! real all-MiniLM-L6-v2, batch × tokens as issue 19 asks (32 × 128 by default).
//!
//! ```text
//! cargo bench -p tessera-compute --bench embed [-- --batch 32 --tokens 128 --reps 5]
//! ```
//!
//! Prints the table recorded in docs/BENCHMARKS.md: sentences/s of each, the ratio, that
//! Tessera's fast path is bit-identical to its plain reference on the same batch (and how far it
//! is from candle's floats), and where Tessera's time goes (the projection GEMMs, the
//! attention, the element-wise passes), measured by running each part alone on the same
//! shapes.
#[path = "../../tests/tests/common/candle_bert.rs"]
mod candle_bert;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use candle_bert::CandleBert;
use tessera_compute::embed::{self, EmbedModel};
use tessera_compute::gemm::cpu::gemm_f32;

/// The all-MiniLM-L6-v2 directory set-up unpacks into the tool cache (as the tests find it).
fn minilm_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TESSERA_MINILM_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("TESSERA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tessera")
        });
    cache.join("data/all-MiniLM-L6-v2-0.1.0")
}

/// The model's own tokenizer, truncating at `max_len` like the client's (no padding).
fn tokenizer(dir: &std::path::Path, max_len: usize) -> tokenizers::Tokenizer {
    let mut t = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    t.with_padding(None);
    t.with_truncation(Some(tokenizers::TruncationParams {
        max_length: max_len,
        ..Default::default()
    }))
    .unwrap();
    t
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}: {e}")))
        .unwrap_or(default)
}

/// The best of `reps` runs (after one warm-up), and the last result.
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = f();
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (best, out)
}

/// `batch` real texts of exactly `tokens` token ids each: paragraphs of the fidelity corpus,
/// rotated so that every row differs, truncated by the tokenizer at `tokens`.
fn sequences(tok: &tokenizers::Tokenizer, batch: usize, tokens: usize) -> Vec<Vec<u32>> {
    let lines: Vec<&str> = include_str!("../../tests/data/sentences.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    (0..batch)
        .map(|i| {
            let mut text = String::new();
            let mut j = i * 7;
            loop {
                text.push_str(lines[j % lines.len()]);
                text.push(' ');
                j += 1;
                let ids = tok.encode(text.as_str(), true).unwrap().get_ids().to_vec();
                if ids.len() == tokens {
                    return ids;
                }
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batch = arg(&args, "--batch", 32);
    let tokens = arg(&args, "--tokens", 128);
    let reps = arg(&args, "--reps", 5);
    let dir = minilm_dir();
    let read = |name: &str| {
        std::fs::read(dir.join(name)).unwrap_or_else(|e| {
            panic!(
                "{}/{name}: {e} (all-MiniLM-L6-v2 comes from scripts/setup.sh)",
                dir.display()
            )
        })
    };
    let blob = embed::encode_model(&read("config.json"), None, &read("model.safetensors")).unwrap();
    let model = EmbedModel::parse(&blob).unwrap();
    let tok = tokenizer(&dir, tokens);
    let reference = CandleBert::load(&dir).unwrap();
    let seqs = sequences(&tok, batch, tokens);

    // the two implementations, alternated so both see the same machine state
    let (t_ours, ours) = best(reps, || embed::cpu::embed_batch(&model, &seqs));
    let (t_candle, theirs) = best(reps, || reference.embed(&seqs).unwrap());
    let (t_ours2, _) = best(reps, || embed::cpu::embed_batch(&model, &seqs));
    let t_ours = t_ours.min(t_ours2);

    // bit-identical to the plain reference, and close to candle
    let h = model.config.hidden_size;
    let plain: Vec<f32> = seqs
        .iter()
        .flat_map(|s| embed::cpu::embed_one(&model, s))
        .collect();
    let identical = ours
        .iter()
        .map(|v| v.to_bits())
        .eq(plain.iter().map(|v| v.to_bits()));
    assert!(identical, "the fast path must give the reference's bits");
    let mut worst_cos = 1.0f64;
    for (i, t) in theirs.iter().enumerate() {
        worst_cos = worst_cos.min(cosine(&ours[i * h..(i + 1) * h], t));
    }

    // where Tessera's time goes: each part alone on the same shapes
    let c = &model.config;
    let rows = batch * tokens;
    let inter = c.intermediate_size;
    let d = c.head_dim();
    let x = vec![0.01f32; rows * inter.max(h)];
    let w = vec![0.02f32; inter * h];
    let (t_proj, _) = best(reps, || {
        for _ in 0..c.num_hidden_layers {
            for _ in 0..4 {
                std::hint::black_box(gemm_f32(rows, h, h, &x[..rows * h], &w[..h * h]));
            }
            std::hint::black_box(gemm_f32(rows, inter, h, &x[..rows * h], &w[..h * inter]));
            std::hint::black_box(gemm_f32(
                rows,
                h,
                inter,
                &x[..rows * inter],
                &w[..inter * h],
            ));
        }
    });
    let (t_att, _) = best(reps, || {
        use rayon::prelude::*;
        (0..batch * c.num_attention_heads * c.num_hidden_layers)
            .into_par_iter()
            .for_each(|_| {
                let s = gemm_f32(tokens, tokens, d, &x[..tokens * d], &w[..d * tokens]);
                std::hint::black_box(gemm_f32(tokens, d, tokens, &s, &w[..tokens * d]));
            });
    });
    let macs_proj = (rows * c.num_hidden_layers * (4 * h * h + 2 * h * inter)) as f64;
    let macs_att = (batch * c.num_hidden_layers * 2 * tokens * tokens * h) as f64;
    let gflops = |macs: f64, t: Duration| 2.0 * macs / t.as_secs_f64() / 1e9;
    let ms = |t: Duration| t.as_secs_f64() * 1e3;
    let sps = |t: Duration| batch as f64 / t.as_secs_f64();

    println!(
        "all-MiniLM-L6-v2, batch {batch} x {tokens} tokens, {} threads, best of {reps}",
        rayon::current_num_threads()
    );
    println!("| implementation | ms per batch | sentences/s | GFLOP/s | time vs candle |");
    println!("|---|---:|---:|---:|---:|");
    let total = macs_proj + macs_att;
    println!(
        "| candle-transformers BERT (CPU, f32) | {:.1} | {:.1} | {:.1} | 1.00x |",
        ms(t_candle),
        sps(t_candle),
        gflops(total, t_candle)
    );
    println!(
        "| Tessera embed, CPU (bit-identical) | {:.1} | {:.1} | {:.1} | {:.2}x |",
        ms(t_ours),
        sps(t_ours),
        gflops(total, t_ours),
        t_ours.as_secs_f64() / t_candle.as_secs_f64()
    );
    println!();
    println!("Tessera's time by part (each part alone, same shapes):");
    println!("| part | ms | share | GFLOP/s |");
    println!("|---|---:|---:|---:|");
    let rest = t_ours.saturating_sub(t_proj + t_att);
    for (name, t, macs) in [
        ("projection + FFN GEMMs", t_proj, Some(macs_proj)),
        ("attention (QK^T, PV)", t_att, Some(macs_att)),
        (
            "element-wise: embeddings, softmax, GELU, LayerNorm, copies, pooling",
            rest,
            None,
        ),
    ] {
        println!(
            "| {name} | {:.1} | {:.0} % | {} |",
            ms(t),
            100.0 * t.as_secs_f64() / t_ours.as_secs_f64(),
            macs.map(|m| format!("{:.1}", gflops(m, t)))
                .unwrap_or_else(|| "-".into())
        );
    }
    println!();
    println!(
        "fast path == plain reference bit for bit: {identical}; worst cosine to candle {worst_cos:.9}"
    );
}
