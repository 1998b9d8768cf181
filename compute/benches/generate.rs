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

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, qwen2};
use tessera_compute::generate::forward::{forward, KvCache, Logits, Path};
use tessera_compute::generate::sample::argmax;
use tessera_compute::generate::{Arch, DecoderFiles, DecoderModel};
use tessera_compute::rng::SplitMix64;
use tessera_compute::testcases::decoder::{random_decoder_safetensors, DecoderShape, Dtype};

enum Candle {
    Llama(llama::Llama, llama::Cache, llama::Config),
    Qwen2(qwen2::ModelForCausalLM),
}

impl Candle {
    fn load(s: &DecoderShape, weights: &[u8]) -> Candle {
        let dev = Device::Cpu;
        let vb = VarBuilder::from_slice_safetensors(weights, DType::F32, &dev).unwrap();
        match s.arch {
            Arch::Qwen2 => {
                let cfg = qwen2::Config {
                    vocab_size: s.vocab,
                    hidden_size: s.hidden,
                    intermediate_size: s.inter,
                    num_hidden_layers: s.layers,
                    num_attention_heads: s.heads,
                    num_key_value_heads: s.kv_heads,
                    max_position_embeddings: s.positions,
                    sliding_window: s.positions,
                    max_window_layers: s.layers,
                    tie_word_embeddings: s.tie,
                    rope_theta: s.theta,
                    rms_norm_eps: 1e-5,
                    use_sliding_window: false,
                    hidden_act: candle_nn::Activation::Silu,
                };
                Candle::Qwen2(qwen2::ModelForCausalLM::new(&cfg, vb).unwrap())
            }
            _ => {
                let cfg: llama::LlamaConfig = serde_json::from_str(&s.config_json()).unwrap();
                let cfg = cfg.into_config(false);
                let m = llama::Llama::load(vb, &cfg).unwrap();
                let cache = llama::Cache::new(true, DType::F32, &cfg, &dev).unwrap();
                Candle::Llama(m, cache, cfg)
            }
        }
    }

    fn reset(&mut self) {
        match self {
            Candle::Llama(_, c, cfg) => {
                *c = llama::Cache::new(true, DType::F32, cfg, &Device::Cpu).unwrap()
            }
            Candle::Qwen2(m) => m.clear_kv_cache(),
        }
    }

    fn step(&mut self, tokens: &[u32], pos: usize) -> Vec<f32> {
        let x = Tensor::new(tokens, &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let l = match self {
            Candle::Llama(m, c, _) => m.forward(&x, pos, c).unwrap(),
            Candle::Qwen2(m) => m.forward(&x, pos).unwrap(),
        };
        l.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }
}

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
    let config = s.config_json();
    let blob = DecoderFiles {
        config: config.as_bytes(),
        tokenizer: None,
        tokenizer_config: None,
        generation_config: None,
        weights: &weights,
    }
    .encode()
    .unwrap();
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
