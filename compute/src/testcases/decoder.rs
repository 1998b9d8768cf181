//! Random decoder checkpoints in Hugging Face's exact layout (`config.json` and
//! `model.safetensors` with the Llama family's tensor names, `[out, in]` projections), for the
//! tests, the fidelity checks against candle and the worker's calibration: no pretrained
//! decoder can be downloaded here, so checkpoints are made, at real shapes, and loaded through
//! the code a real checkpoint goes through.
use safetensors::tensor::TensorView;
pub use safetensors::Dtype;

use crate::generate::{Arch, DecoderFiles};
use crate::rng::SplitMix64;

/// A decoder's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoderShape {
    /// Architecture.
    pub arch: Arch,
    /// Hidden width.
    pub hidden: usize,
    /// Feed-forward width.
    pub inter: usize,
    /// Layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Vocabulary.
    pub vocab: usize,
    /// Context.
    pub positions: usize,
    /// Tied embeddings.
    pub tie: bool,
    /// RoPE θ.
    pub theta: f64,
    /// Half-width of the embeddings' uniform distribution (√3: unit variance, which makes
    /// a tied model's logits peak hard on the last token; 0.05 spreads them).
    pub embed_scale: f32,
}

impl DecoderShape {
    /// SmolLM2-135M's shape (`HuggingFaceTB/SmolLM2-135M-Instruct`'s config).
    pub const SMOLLM2_135M: DecoderShape = DecoderShape {
        arch: Arch::Llama,
        hidden: 576,
        inter: 1536,
        layers: 30,
        heads: 9,
        kv_heads: 3,
        vocab: 49_152,
        positions: 8192,
        tie: true,
        theta: 100_000.0,
        embed_scale: 1.732_050_8,
    };

    /// Qwen2.5-0.5B's shape (`Qwen/Qwen2.5-0.5B-Instruct`'s config; context cut to 4096).
    pub const QWEN25_05B: DecoderShape = DecoderShape {
        arch: Arch::Qwen2,
        hidden: 896,
        inter: 4864,
        layers: 24,
        heads: 14,
        kv_heads: 2,
        vocab: 151_936,
        positions: 4096,
        tie: true,
        theta: 1_000_000.0,
        embed_scale: 1.732_050_8,
    };

    /// A small decoder of `arch` (grouped-query attention, head width 16).
    pub fn small(arch: Arch, vocab: usize) -> DecoderShape {
        DecoderShape {
            arch,
            hidden: 64,
            inter: 160,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            vocab,
            positions: 256,
            tie: arch != Arch::Mistral,
            theta: 10_000.0,
            embed_scale: 1.732_050_8,
        }
    }

    /// Its `config.json`.
    pub fn config_json(&self) -> String {
        let extra = match self.arch {
            Arch::Mistral => r#", "sliding_window": 32"#,
            _ => "",
        };
        format!(
            r#"{{"architectures": ["{}"], "hidden_size": {}, "intermediate_size": {},
 "num_hidden_layers": {}, "num_attention_heads": {}, "num_key_value_heads": {},
 "vocab_size": {}, "max_position_embeddings": {}, "rms_norm_eps": 1e-05,
 "rope_theta": {:.1}, "tie_word_embeddings": {}, "hidden_act": "silu",
 "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"{extra}}}"#,
            self.arch.name(),
            self.hidden,
            self.inter,
            self.layers,
            self.heads,
            self.kv_heads,
            self.vocab,
            self.positions,
            self.theta,
            self.tie
        )
    }
}

/// f32 to bf16, rounding to nearest even (as PyTorch's `.to(torch.bfloat16)`).
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// The `model.safetensors` of a random decoder of shape `s` in `dtype` (F32 or BF16): the
/// projections `U(±√(3/in))` (unit-variance outputs), the embeddings `U(±embed_scale)`, the norms
/// `1 ± 0.05`, the biases `U(±0.1)`.
pub fn random_decoder_safetensors(s: &DecoderShape, seed: u64, dtype: Dtype) -> Vec<u8> {
    let head_dim = s.hidden / s.heads;
    let (q, kv) = (s.heads * head_dim, s.kv_heads * head_dim);
    let mut r = SplitMix64::new(seed);
    let mut uniform =
        |n: usize, a: f32| -> Vec<f32> { (0..n).map(|_| a * (2.0 * r.next_f32() - 1.0)).collect() };
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    tensors.push((
        "model.embed_tokens.weight".into(),
        vec![s.vocab, s.hidden],
        uniform(s.vocab * s.hidden, s.embed_scale),
    ));
    for i in 0..s.layers {
        let p = format!("model.layers.{i}");
        let mut proj = |name: &str, out: usize, inp: usize| {
            let a = (3.0 / inp as f32).sqrt();
            (
                format!("{p}.{name}.weight"),
                vec![out, inp],
                uniform(out * inp, a),
            )
        };
        let mut layer = vec![
            proj("self_attn.q_proj", q, s.hidden),
            proj("self_attn.k_proj", kv, s.hidden),
            proj("self_attn.v_proj", kv, s.hidden),
            proj("self_attn.o_proj", s.hidden, q),
            proj("mlp.gate_proj", s.inter, s.hidden),
            proj("mlp.up_proj", s.inter, s.hidden),
            proj("mlp.down_proj", s.hidden, s.inter),
        ];
        if s.arch == Arch::Qwen2 {
            for (n, w) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
                layer.push((format!("{p}.self_attn.{n}.bias"), vec![w], uniform(w, 0.1)));
            }
        }
        for n in ["input_layernorm", "post_attention_layernorm"] {
            let w = uniform(s.hidden, 0.05).iter().map(|v| 1.0 + v).collect();
            layer.push((format!("{p}.{n}.weight"), vec![s.hidden], w));
        }
        tensors.extend(layer);
    }
    let norm = uniform(s.hidden, 0.05).iter().map(|v| 1.0 + v).collect();
    tensors.push(("model.norm.weight".into(), vec![s.hidden], norm));
    if !s.tie {
        let a = (3.0 / s.hidden as f32).sqrt();
        tensors.push((
            "lm_head.weight".into(),
            vec![s.vocab, s.hidden],
            uniform(s.vocab * s.hidden, a),
        ));
    }
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| match dtype {
            Dtype::BF16 => v.iter().flat_map(|x| to_bf16(*x).to_le_bytes()).collect(),
            _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
        .collect();
    let dt = if dtype == Dtype::BF16 {
        Dtype::BF16
    } else {
        Dtype::F32
    };
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape, _), d)| {
            (
                name.clone(),
                TensorView::new(dt, shape.clone(), d).expect("consistent tensor"),
            )
        })
        .collect();
    safetensors::serialize(views, None).expect("serializable")
}

/// The `TSLM` blob of a random decoder (no tokenizer).
pub fn random_decoder_blob(s: &DecoderShape, seed: u64, dtype: Dtype) -> Vec<u8> {
    decoder_blob(s, &random_decoder_safetensors(s, seed, dtype))
}

/// The `TSLM` blob of shape `s` with `weights` (a `model.safetensors`; no tokenizer).
pub fn decoder_blob(s: &DecoderShape, weights: &[u8]) -> Vec<u8> {
    let config = s.config_json();
    DecoderFiles {
        config: config.as_bytes(),
        tokenizer: None,
        tokenizer_config: None,
        generation_config: None,
        weights,
    }
    .encode()
    .expect("small files")
}
