//! Text generation on this machine's CPU, side by side in one run (issue 33): Tessera's
//! generate kernel (`generate::forward`, the path workers run) against candle-transformers'
//! Llama and Qwen2 on the same checkpoints — SmolLM2-135M's and Qwen2.5-0.5B's real shapes
//! with random bf16 weights (no pretrained decoder can be downloaded here), both loading the
//! same safetensors into f32.
//!
//! ```text
//! cargo bench -p tessera-compute --bench generate [-- --prompt 128 --new 32 --only smollm2]
//! ```
//!
//! Prints the table recorded in docs/BENCHMARKS.md: prefill tokens/s (one prompt of `--prompt`
//! tokens) and decode tokens/s (`--new` tokens one at a time with the KV cache) of each, the
//! ratios, whether the greedy tokens agree, and where Tessera's decode time goes (the
//! products alone on the same shapes, timed apart).
use std::time::Instant;

#[path = "../../tests/tests/common/candle_decoder.rs"]
mod candle_decoder;

use candle_decoder::Candle;
use tessera_compute::generate::forward::{forward, KvCache, Logits, Path};
use tessera_compute::generate::sample::argmax;
use tessera_compute::generate::DecoderModel;
use tessera_compute::rng::SplitMix64;
use tessera_compute::testcases::decoder::{
    decoder_blob, random_decoder_safetensors, DecoderShape, Dtype,
};

struct Row {
    name: &'static str,
    prefill: [f64; 2],
    decode: [f64; 2],
    agree: usize,
    new: usize,
    products_s: f64,
}

fn bench(name: &'static str, s: &DecoderShape, prompt: usize, new: usize) -> Row {
    eprintln!(
        "{name}: making the checkpoint ({} layers, hidden {})",
        s.layers, s.hidden
    );
    let weights = random_decoder_safetensors(s, 1, Dtype::BF16);
    let blob = decoder_blob(s, &weights);
    let ours = DecoderModel::parse(&blob).unwrap();
    let mut candle = Candle::load(s, &weights);
    drop(blob);
    let mut r = SplitMix64::new(3);
    let p: Vec<u32> = (0..prompt)
        .map(|_| r.below(s.vocab as u64) as u32)
        .collect();

    // prefill (the best of 2 after a warm-up)
    let mut best = [f64::INFINITY; 2];
    for _ in 0..3 {
        let t = Instant::now();
        let mut c = vec![KvCache::new(s.layers)];
        forward(Path::Fast, &ours, &mut c, &[(0, &p)], Logits::Last);
        best[0] = best[0].min(t.elapsed().as_secs_f64());
        candle.reset();
        let t = Instant::now();
        candle.step(&p, 0);
        best[1] = best[1].min(t.elapsed().as_secs_f64());
    }
    // decode: greedy, each side its own tokens; agreement counted
    let mut c = vec![KvCache::new(s.layers)];
    let mut l = forward(Path::Fast, &ours, &mut c, &[(0, &p)], Logits::Last).remove(0);
    candle.reset();
    let mut lc = candle.step(&p, 0);
    let (mut t_ours, mut t_candle, mut agree) = (0.0, 0.0, 0);
    for i in 0..new {
        let (a, b) = (argmax(&l).unwrap(), argmax(&lc).unwrap());
        agree += (a == b) as usize;
        let t = Instant::now();
        l = forward(Path::Fast, &ours, &mut c, &[(0, &[a])], Logits::Last).remove(0);
        t_ours += t.elapsed().as_secs_f64();
        let t = Instant::now();
        lc = candle.step(&[b], prompt + i);
        t_candle += t.elapsed().as_secs_f64();
    }
    // the products of one decoded token alone, on the same weights
    let x = vec![0.5f32; s.hidden.max(s.inter)];
    let t = Instant::now();
    for layer in &ours.layers {
        let h = s.hidden;
        let c = &ours.config;
        Path::Fast.mm(1, c.q_dim(), h, &x[..h], &layer.q_w);
        Path::Fast.mm(1, c.kv_dim(), h, &x[..h], &layer.k_w);
        Path::Fast.mm(1, c.kv_dim(), h, &x[..h], &layer.v_w);
        Path::Fast.mm(1, h, c.q_dim(), &x[..c.q_dim()], &layer.o_w);
        Path::Fast.mm(1, s.inter, h, &x[..h], &layer.gate_w);
        Path::Fast.mm(1, s.inter, h, &x[..h], &layer.up_w);
        Path::Fast.mm(1, h, s.inter, &x[..s.inter], &layer.down_w);
    }
    Path::Fast.mm(1, s.vocab, s.hidden, &x[..s.hidden], &ours.lm_head);
    let products_s = t.elapsed().as_secs_f64();
    Row {
        name,
        prefill: [prompt as f64 / best[0], prompt as f64 / best[1]],
        decode: [new as f64 / t_ours, new as f64 / t_candle],
        agree,
        new,
        products_s: products_s / (t_ours / new as f64),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut prompt, mut new, mut only) = (128usize, 32usize, None::<String>);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--prompt" => prompt = args.next().unwrap().parse().unwrap(),
            "--new" => new = args.next().unwrap().parse().unwrap(),
            "--only" => only = args.next(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let cases = [
        ("SmolLM2-135M", "smollm2", DecoderShape::SMOLLM2_135M),
        ("Qwen2.5-0.5B", "qwen", DecoderShape::QWEN25_05B),
    ];
    let mut rows = Vec::new();
    for (name, key, s) in cases {
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        rows.push(bench(name, &s, prompt, new));
    }
    println!(
        "| shape | prefill {prompt} tokens: Tessera tok/s | candle tok/s | Tessera / candle | decode {new} tokens: Tessera tok/s | candle tok/s | Tessera / candle | greedy tokens equal | decode time in products |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.2}× | {:.1} | {:.1} | {:.2}× | {}/{} | {:.0} % |",
            r.name,
            r.prefill[0],
            r.prefill[1],
            r.prefill[0] / r.prefill[1],
            r.decode[0],
            r.decode[1],
            r.decode[0] / r.decode[1],
            r.agree,
            r.new,
            100.0 * r.products_s
        );
    }
    println!(
        "\n{} CPU threads (rayon); one prompt, f32 compute from bf16 weights on both sides.",
        rayon::current_num_threads()
    );
}
