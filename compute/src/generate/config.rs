//! A decoder's `config.json` (Hugging Face): the Llama family — `LlamaForCausalLM` (SmolLM2,
//! TinyLlama, Llama 3), `Qwen2ForCausalLM` (Qwen2.5: biases on q, k, v) and
//! `MistralForCausalLM` (sliding-window attention). What the kernel cannot run exactly is
//! refused with the field named.
use serde_json::Value;

use crate::error::{ComputeError, Result};

/// Largest hidden width.
pub const MAX_HIDDEN: usize = 16_384;
/// Most layers.
pub const MAX_LAYERS: usize = 128;
/// Largest feed-forward width.
pub const MAX_INTERMEDIATE: usize = 65_536;
/// Largest vocabulary.
pub const MAX_VOCAB: usize = 1 << 20;
/// Longest context (positions).
pub const MAX_POSITIONS: usize = 131_072;
/// Widest attention head.
pub const MAX_HEAD_DIM: usize = 512;

/// The architectures the kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `LlamaForCausalLM`.
    Llama,
    /// `Qwen2ForCausalLM`.
    Qwen2,
    /// `MistralForCausalLM`.
    Mistral,
}

impl Arch {
    /// The class name in `architectures`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
            Arch::Mistral => "MistralForCausalLM",
        }
    }
}

/// `rope_scaling`.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// None (`null` or absent, or `"default"`).
    None,
    /// Positions divided by `factor`.
    Linear {
        /// The factor.
        factor: f64,
    },
    /// Llama 3.1's banded rule.
    Llama3 {
        /// Scale of the low frequencies.
        factor: f64,
        /// Wavelength band edges, as factors of the original context.
        low_freq_factor: f64,
        /// The other edge.
        high_freq_factor: f64,
        /// The context the model was trained at.
        original_max_positions: usize,
    },
}

/// The shape and rules of a decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// Architecture.
    pub arch: Arch,
    /// Hidden width.
    pub hidden_size: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// Vocabulary.
    pub vocab_size: usize,
    /// Longest context.
    pub max_position_embeddings: usize,
    /// RMSNorm ε (f32, as the model computes).
    pub rms_norm_eps: f32,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// The output projection is the embedding table.
    pub tie_word_embeddings: bool,
    /// Biases on the q, k and v projections (Qwen2; Llama's `attention_bias`).
    pub qkv_bias: bool,
    /// A bias on the output projection (Llama's `attention_bias`).
    pub o_bias: bool,
    /// Keys older than this many positions are not attended (Mistral), if set.
    pub sliding_window: Option<usize>,
    /// End-of-sequence token ids the config names.
    pub eos_token_ids: Vec<u32>,
}

fn bad(m: String) -> ComputeError {
    ComputeError::InvalidInput(format!("decoder config.json: {m}"))
}

fn uint(v: &Value, key: &str, lo: usize, hi: usize) -> Result<usize> {
    let x = v
        .get(key)
        .ok_or_else(|| bad(format!("`{key}` is missing")))?
        .as_u64()
        .ok_or_else(|| bad(format!("`{key}` is not a non-negative integer")))?;
    if x < lo as u64 || x > hi as u64 {
        return Err(bad(format!("`{key}` = {x} (must be {lo} ..= {hi})")));
    }
    Ok(x as usize)
}

fn float(v: &Value, key: &str, default: Option<f64>) -> Result<f64> {
    match v.get(key) {
        None | Some(Value::Null) => default.ok_or_else(|| bad(format!("`{key}` is missing"))),
        Some(x) => {
            let f = x
                .as_f64()
                .ok_or_else(|| bad(format!("`{key}` is not a number")))?;
            if !f.is_finite() {
                return Err(bad(format!("`{key}` = {f} is not finite")));
            }
            Ok(f)
        }
    }
}

fn flag(v: &Value, key: &str, default: bool) -> Result<bool> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(x) => Err(bad(format!("`{key}` = {x} is not a boolean"))),
    }
}

fn rope_scaling(v: &Value) -> Result<RopeScaling> {
    let s = match v.get("rope_scaling") {
        None | Some(Value::Null) => return Ok(RopeScaling::None),
        Some(s) => s,
    };
    let kind = s
        .get("rope_type")
        .or_else(|| s.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`rope_scaling` names no `rope_type`".into()))?;
    let factor = float(s, "factor", None)?;
    if !(1.0..=1024.0).contains(&factor) && kind != "default" {
        return Err(bad(format!(
            "`rope_scaling.factor` = {factor} (1 ..= 1024)"
        )));
    }
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear { factor }),
        "llama3" => {
            let low = float(s, "low_freq_factor", None)?;
            let high = float(s, "high_freq_factor", None)?;
            if !(low > 0.0 && high > low) {
                return Err(bad(format!(
                    "`rope_scaling` low_freq_factor {low}, high_freq_factor {high} (0 < low < high)"
                )));
            }
            Ok(RopeScaling::Llama3 {
                factor,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max_positions: uint(
                    s,
                    "original_max_position_embeddings",
                    1,
                    MAX_POSITIONS,
                )?,
            })
        }
        other => Err(bad(format!(
            "`rope_scaling` type `{other}` is not supported (default, linear, llama3)"
        ))),
    }
}

/// Token ids given as a number or a list of numbers (`eos_token_id`), else none.
pub fn token_ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|x| x as u32)
            .collect(),
        _ => Vec::new(),
    }
}

impl DecoderConfig {
    /// Parses and checks `config.json`.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let v: Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
        let archs = v
            .get("architectures")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`architectures` is missing".into()))?;
        let names: Vec<&str> = archs.iter().filter_map(Value::as_str).collect();
        let arch = match names.as_slice() {
            ["LlamaForCausalLM"] => Arch::Llama,
            ["Qwen2ForCausalLM"] => Arch::Qwen2,
            ["MistralForCausalLM"] => Arch::Mistral,
            other => {
                return Err(bad(format!(
                    "`architectures` {other:?} is not supported (LlamaForCausalLM, \
                     Qwen2ForCausalLM, MistralForCausalLM)"
                )))
            }
        };
        let act = v
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("silu");
        if act != "silu" {
            return Err(bad(format!(
                "`hidden_act` = `{act}` is not supported (silu)"
            )));
        }
        if flag(&v, "mlp_bias", false)? {
            return Err(bad("`mlp_bias` = true is not supported".into()));
        }
        if arch == Arch::Qwen2 && flag(&v, "use_sliding_window", false)? {
            return Err(bad(
                "`use_sliding_window` = true is not supported (Qwen2's per-layer windows)".into(),
            ));
        }
        let hidden = uint(&v, "hidden_size", 1, MAX_HIDDEN)?;
        let heads = uint(&v, "num_attention_heads", 1, MAX_HIDDEN)?;
        let kv_heads = match v.get("num_key_value_heads") {
            None | Some(Value::Null) => heads,
            Some(_) => uint(&v, "num_key_value_heads", 1, heads)?,
        };
        if heads % kv_heads != 0 {
            return Err(bad(format!(
                "{heads} attention heads are not a multiple of {kv_heads} key/value heads"
            )));
        }
        let head_dim = match v.get("head_dim") {
            None | Some(Value::Null) => {
                if hidden % heads != 0 {
                    return Err(bad(format!(
                        "`hidden_size` {hidden} is not a multiple of {heads} heads"
                    )));
                }
                hidden / heads
            }
            Some(_) => uint(&v, "head_dim", 2, MAX_HEAD_DIM)?,
        };
        if head_dim % 2 != 0 || head_dim > MAX_HEAD_DIM {
            return Err(bad(format!(
                "head width {head_dim} (even, at most {MAX_HEAD_DIM})"
            )));
        }
        let eps = float(&v, "rms_norm_eps", None)?;
        if !(eps > 0.0 && eps < 1.0) {
            return Err(bad(format!("`rms_norm_eps` = {eps} (0 < ε < 1)")));
        }
        let theta = float(&v, "rope_theta", Some(10_000.0))?;
        if !(1.0..=1e9).contains(&theta) {
            return Err(bad(format!("`rope_theta` = {theta} (1 ..= 1e9)")));
        }
        let attention_bias = flag(&v, "attention_bias", false)?;
        let sliding_window = match (arch, v.get("sliding_window")) {
            (Arch::Mistral, Some(Value::Number(_))) => {
                Some(uint(&v, "sliding_window", 1, MAX_POSITIONS)?)
            }
            _ => None,
        };
        let tie = flag(&v, "tie_word_embeddings", false)?;
        Ok(Self {
            arch,
            hidden_size: hidden,
            intermediate_size: uint(&v, "intermediate_size", 1, MAX_INTERMEDIATE)?,
            num_hidden_layers: uint(&v, "num_hidden_layers", 1, MAX_LAYERS)?,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            vocab_size: uint(&v, "vocab_size", 1, MAX_VOCAB)?,
            max_position_embeddings: uint(&v, "max_position_embeddings", 1, MAX_POSITIONS)?,
            rms_norm_eps: eps as f32,
            rope_theta: theta,
            rope_scaling: rope_scaling(&v)?,
            tie_word_embeddings: tie,
            qkv_bias: arch == Arch::Qwen2 || attention_bias,
            o_bias: attention_bias,
            sliding_window,
            eos_token_ids: token_ids(v.get("eos_token_id")),
        })
    }

    /// Width of the query projection (`heads × head_dim`).
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }

    /// Width of the key and value projections.
    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// Parameters (the output projection counted once when tied).
    pub fn params(&self) -> u64 {
        let (h, i, v) = (
            self.hidden_size as u64,
            self.intermediate_size as u64,
            self.vocab_size as u64,
        );
        let (q, kv) = (self.q_dim() as u64, self.kv_dim() as u64);
        let layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_hidden_layers as u64 * layer + h + head
    }

    /// Multiply-accumulates of one token at context length `ctx` (the products, and
    /// attention over `ctx` keys), with its logits when `logits`.
    pub fn token_macs(&self, ctx: u64, logits: bool) -> u64 {
        let (h, i) = (self.hidden_size as u64, self.intermediate_size as u64);
        let (q, kv) = (self.q_dim() as u64, self.kv_dim() as u64);
        let attn = 2 * self.num_attention_heads as u64 * self.head_dim as u64 * ctx;
        let layer = h * q + 2 * h * kv + q * h + 3 * h * i + attn;
        let head = if logits {
            self.vocab_size as u64 * h
        } else {
            0
        };
        self.num_hidden_layers as u64 * layer + head
    }
}
