//! candle-transformers' Llama and Qwen2 over a Hugging Face-layout checkpoint, decoding one
//! token at a time: the anchor of `tests/tests/generate_fidelity.rs` and
//! `compute/benches/generate.rs` (each includes this file).
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, qwen2};
use tessera_compute::generate::Arch;
use tessera_compute::testcases::decoder::DecoderShape;

/// candle's model of either architecture, with its cache.
#[allow(clippy::large_enum_variant)] // one per test or benchmark
pub enum Candle {
    Llama(llama::Llama, llama::Cache, llama::Config),
    Qwen2(qwen2::ModelForCausalLM),
}

impl Candle {
    /// Loads `weights` (safetensors) for shape `s`, in f32.
    pub fn load(s: &DecoderShape, weights: &[u8]) -> Candle {
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

    /// A fresh sequence.
    pub fn reset(&mut self) {
        match self {
            Candle::Llama(_, c, cfg) => {
                *c = llama::Cache::new(true, DType::F32, cfg, &Device::Cpu).unwrap()
            }
            Candle::Qwen2(m) => m.clear_kv_cache(),
        }
    }

    /// The logits after `tokens`, which continue the sequence from position `pos`.
    pub fn step(&mut self, tokens: &[u32], pos: usize) -> Vec<f32> {
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
