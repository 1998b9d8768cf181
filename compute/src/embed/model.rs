//! A BERT-family encoder as content: the model blob (`TSEM` container: `config.json`, the
//! tokenizer's `tokenizer.json` and the `model.safetensors` weights, as Hugging Face ships
//! them), parsed into the weights the forward pass uses. The tokenizer rides in the blob so
//! that one hash pins everything a result depends on (clients tokenise with it; the kernel
//! never reads it).
//!
//! Layout (little-endian): magic `TSEM`, format u16 (1), flags u16 (bit 0: a tokenizer
//! follows the config; other bits 0), config length u32, `config.json`, [tokenizer length
//! u32, `tokenizer.json`], then the safetensors file to the end. Linear weights (`[out, in]` in the file) are transposed once at load so
//! every projection is the crate's fixed-order GEMM `x · Wᵀ`.
use serde::Deserialize;

use crate::error::{ComputeError, Result};

/// Magic of a model blob.
pub const MODEL_MAGIC: [u8; 4] = *b"TSEM";
/// Model blob format version.
pub const MODEL_FORMAT: u16 = 1;
/// Largest accepted `config.json`.
const MAX_CONFIG_BYTES: usize = 64 << 10;
/// Largest accepted `tokenizer.json`.
const MAX_TOKENIZER_BYTES: usize = 32 << 20;
/// Flag: a tokenizer section follows the config.
const FLAG_TOKENIZER: u16 = 1;
/// Bounds that keep a hostile config from asking for absurd allocations.
const MAX_HIDDEN: usize = 4096;
const MAX_LAYERS: usize = 48;
const MAX_INTERMEDIATE: usize = 16_384;
const MAX_VOCAB: usize = 500_000;
const MAX_POSITIONS: usize = 8192;

/// The fields of a Hugging Face BERT `config.json` the forward pass depends on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Width of every token vector.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence (position table rows).
    pub max_position_embeddings: usize,
    /// Token ids are below this.
    pub vocab_size: usize,
    /// Token type table rows (type 0 is used).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Feed-forward activation (`gelu`, erf form).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Position embeddings (`absolute`).
    #[serde(default = "default_pos_type")]
    pub position_embedding_type: String,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}
fn default_pos_type() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Parses and checks a `config.json`.
    pub fn parse(json: &[u8]) -> Result<Self> {
        let c: BertConfig = serde_json::from_slice(json)
            .map_err(|e| ComputeError::InvalidInput(format!("model config.json: {e}")))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ComputeError::InvalidInput(format!("model config: {m}")));
        if self.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act `{}` is not supported (only `gelu`, the erf form)",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return bad(format!(
                "position_embedding_type `{}` is not supported (only `absolute`)",
                self.position_embedding_type
            ));
        }
        for (name, v, max) in [
            ("hidden_size", self.hidden_size, MAX_HIDDEN),
            ("num_hidden_layers", self.num_hidden_layers, MAX_LAYERS),
            ("num_attention_heads", self.num_attention_heads, MAX_HIDDEN),
            (
                "intermediate_size",
                self.intermediate_size,
                MAX_INTERMEDIATE,
            ),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                MAX_POSITIONS,
            ),
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("type_vocab_size", self.type_vocab_size, 16),
        ] {
            if v == 0 || v > max {
                return bad(format!("{name} = {v} (must be 1 ..= {max})"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return bad(format!("layer_norm_eps = {}", self.layer_norm_eps));
        }
        Ok(())
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Multiply-accumulates of one sequence of `len` tokens (projections, attention, FFN).
    pub fn macs(&self, len: u64) -> u64 {
        let h = self.hidden_size as u64;
        let i = self.intermediate_size as u64;
        let per_layer = len
            .saturating_mul(4 * h * h + 2 * h * i)
            .saturating_add(len.saturating_mul(len).saturating_mul(2 * h));
        per_layer.saturating_mul(self.num_hidden_layers as u64)
    }

    /// The work of one sequence of `len` tokens, in the units of `Job::flops`: `2·macs` plus
    /// what no multiply-accumulate counts, each term fitted to the kernel's own run times
    /// (12 shapes from MiniLM's to one-wide heads over one-token sequences, all within ±12 %;
    /// `docs/KERNELS.md`, "Embed, cost"): per token and layer 256 per hidden and intermediate
    /// unit (LayerNorms, GELU, residuals), per layer and head 300 per attention score (the
    /// softmax's exponential) and 26 000 per sequence (its setup), and 540 000 per token
    /// (embedding, pooling). Issue 29's one-wide heads over 8 192 one-token sequences ran
    /// 139-144× their `2·macs`.
    pub fn work(&self, len: u64) -> u64 {
        let h = self.hidden_size as u64;
        let i = self.intermediate_size as u64;
        let heads = self.num_attention_heads as u64;
        let layers = self.num_hidden_layers as u64;
        let per_layer = len
            .saturating_mul(h + i)
            .saturating_mul(256)
            .saturating_add(
                heads
                    .saturating_mul(len.saturating_mul(len))
                    .saturating_mul(300),
            )
            .saturating_add(heads.saturating_mul(26_000));
        self.macs(len)
            .saturating_mul(2)
            .saturating_add(per_layer.saturating_mul(layers))
            .saturating_add(len.saturating_mul(540_000))
    }
}

/// One encoder layer's weights (linear weights transposed: `[in, out]`).
#[derive(Debug, Clone)]
pub struct Layer {
    /// Query projection, `[in, out]`.
    pub q_w: Vec<f32>,
    /// Query bias.
    pub q_b: Vec<f32>,
    /// Key projection.
    pub k_w: Vec<f32>,
    /// Key bias.
    pub k_b: Vec<f32>,
    /// Value projection.
    pub v_w: Vec<f32>,
    /// Value bias.
    pub v_b: Vec<f32>,
    /// Attention output projection.
    pub o_w: Vec<f32>,
    /// Attention output bias.
    pub o_b: Vec<f32>,
    /// Post-attention LayerNorm weight.
    pub ln1_w: Vec<f32>,
    /// Post-attention LayerNorm bias.
    pub ln1_b: Vec<f32>,
    /// Feed-forward up projection.
    pub i_w: Vec<f32>,
    /// Feed-forward up bias.
    pub i_b: Vec<f32>,
    /// Feed-forward down projection.
    pub out_w: Vec<f32>,
    /// Feed-forward down bias.
    pub out_b: Vec<f32>,
    /// Output LayerNorm weight.
    pub ln2_w: Vec<f32>,
    /// Output LayerNorm bias.
    pub ln2_b: Vec<f32>,
}

/// A loaded encoder.
#[derive(Debug, Clone)]
pub struct EmbedModel {
    /// The configuration.
    pub config: BertConfig,
    /// Word embeddings, `[vocab, hidden]`.
    pub word: Vec<f32>,
    /// Position embeddings, `[positions, hidden]`.
    pub position: Vec<f32>,
    /// Token type embeddings.
    pub token_type: Vec<f32>,
    /// Embedding LayerNorm weight.
    pub emb_ln_w: Vec<f32>,
    /// Embedding LayerNorm bias.
    pub emb_ln_b: Vec<f32>,
    /// The encoder layers, in order.
    pub layers: Vec<Layer>,
}

/// Builds a model blob from `config.json`, optionally `tokenizer.json`, and
/// `model.safetensors` bytes; refuses to build one that a worker would refuse.
pub fn encode_model(
    config_json: &[u8],
    tokenizer_json: Option<&[u8]>,
    safetensors: &[u8],
) -> Result<Vec<u8>> {
    if config_json.len() > MAX_CONFIG_BYTES {
        return Err(ComputeError::TooLarge(format!(
            "config.json is {} bytes, at most {MAX_CONFIG_BYTES}",
            config_json.len()
        )));
    }
    let tok = tokenizer_json.unwrap_or_default();
    if tok.len() > MAX_TOKENIZER_BYTES {
        return Err(ComputeError::TooLarge(format!(
            "tokenizer.json is {} bytes, at most {MAX_TOKENIZER_BYTES}",
            tok.len()
        )));
    }
    let mut out = Vec::with_capacity(16 + config_json.len() + tok.len() + safetensors.len());
    out.extend_from_slice(&MODEL_MAGIC);
    out.extend_from_slice(&MODEL_FORMAT.to_le_bytes());
    let flags = if tokenizer_json.is_some() {
        FLAG_TOKENIZER
    } else {
        0
    };
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(config_json.len() as u32).to_le_bytes());
    out.extend_from_slice(config_json);
    if let Some(t) = tokenizer_json {
        out.extend_from_slice(&(t.len() as u32).to_le_bytes());
        out.extend_from_slice(t);
    }
    out.extend_from_slice(safetensors);
    EmbedModel::parse(&out)?;
    Ok(out)
}

/// The sections of a model blob: `(config.json, tokenizer.json if any, safetensors)`.
pub fn split_model(blob: &[u8]) -> Result<(&[u8], Option<&[u8]>, &[u8])> {
    let mut r = crate::format::Reader::new(blob);
    let magic = r.array::<4>("model magic")?;
    if magic != MODEL_MAGIC {
        return Err(ComputeError::BadMagic {
            found: magic,
            expected: "TSEM",
        });
    }
    let version = r.u16("model format")?;
    if version != MODEL_FORMAT {
        return Err(ComputeError::InvalidInput(format!(
            "model blob format {version}, this build reads {MODEL_FORMAT}"
        )));
    }
    let flags = r.u16("model flags")?;
    if flags & !FLAG_TOKENIZER != 0 {
        return Err(ComputeError::InvalidInput(format!(
            "model blob flags {flags:#06x}: unknown bits set"
        )));
    }
    let clen = r.u32("config length")? as usize;
    if clen > MAX_CONFIG_BYTES {
        return Err(ComputeError::TooLarge(format!(
            "model config is {clen} bytes, at most {MAX_CONFIG_BYTES}"
        )));
    }
    let config = r.bytes(clen as u64, "model config")?;
    let tokenizer = if flags & FLAG_TOKENIZER != 0 {
        let tlen = r.u32("tokenizer length")? as usize;
        if tlen > MAX_TOKENIZER_BYTES {
            return Err(ComputeError::TooLarge(format!(
                "model tokenizer is {tlen} bytes, at most {MAX_TOKENIZER_BYTES}"
            )));
        }
        Some(r.bytes(tlen as u64, "model tokenizer")?)
    } else {
        None
    };
    let rest = r.bytes(r.remaining() as u64, "model weights")?;
    Ok((config, tokenizer, rest))
}

impl EmbedModel {
    /// Parses a model blob: header, config, then every tensor the encoder needs, with its
    /// dtype (F32) and shape checked against the config (the tokenizer is skipped).
    pub fn parse(blob: &[u8]) -> Result<Self> {
        let (config, _, rest) = split_model(blob)?;
        let config = BertConfig::parse(config)?;
        let st = safetensors::SafeTensors::deserialize(rest)
            .map_err(|e| ComputeError::InvalidInput(format!("model.safetensors: {e}")))?;
        let c = &config;
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let get = |name: &str, shape: &[usize]| tensor(&st, name, shape);
        let linear = |name: &str, out: usize, inp: usize| -> Result<(Vec<f32>, Vec<f32>)> {
            let w = get(&format!("{name}.weight"), &[out, inp])?;
            let b = get(&format!("{name}.bias"), &[out])?;
            Ok((transpose(&w, out, inp), b))
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for l in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let (q_w, q_b) = linear(&format!("{p}.attention.self.query"), h, h)?;
            let (k_w, k_b) = linear(&format!("{p}.attention.self.key"), h, h)?;
            let (v_w, v_b) = linear(&format!("{p}.attention.self.value"), h, h)?;
            let (o_w, o_b) = linear(&format!("{p}.attention.output.dense"), h, h)?;
            let (i_w, i_b) = linear(&format!("{p}.intermediate.dense"), i, h)?;
            let (out_w, out_b) = linear(&format!("{p}.output.dense"), h, i)?;
            layers.push(Layer {
                q_w,
                q_b,
                k_w,
                k_b,
                v_w,
                v_b,
                o_w,
                o_b,
                ln1_w: get(&format!("{p}.attention.output.LayerNorm.weight"), &[h])?,
                ln1_b: get(&format!("{p}.attention.output.LayerNorm.bias"), &[h])?,
                i_w,
                i_b,
                out_w,
                out_b,
                ln2_w: get(&format!("{p}.output.LayerNorm.weight"), &[h])?,
                ln2_b: get(&format!("{p}.output.LayerNorm.bias"), &[h])?,
            });
        }
        Ok(Self {
            word: get("embeddings.word_embeddings.weight", &[c.vocab_size, h])?,
            position: get(
                "embeddings.position_embeddings.weight",
                &[c.max_position_embeddings, h],
            )?,
            token_type: get(
                "embeddings.token_type_embeddings.weight",
                &[c.type_vocab_size, h],
            )?,
            emb_ln_w: get("embeddings.LayerNorm.weight", &[h])?,
            emb_ln_b: get("embeddings.LayerNorm.bias", &[h])?,
            layers,
            config,
        })
    }
}

/// Reads F32 tensor `name` (also under a `bert.` prefix, as some checkpoints store it) of
/// exactly `shape`.
fn tensor(st: &safetensors::SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .or_else(|_| st.tensor(&format!("bert.{name}")))
        .map_err(|_| ComputeError::InvalidInput(format!("model: tensor `{name}` is missing")))?;
    if t.dtype() != safetensors::Dtype::F32 {
        return Err(ComputeError::InvalidInput(format!(
            "model: tensor `{name}` is {:?}, only F32 is supported",
            t.dtype()
        )));
    }
    if t.shape() != shape {
        return Err(ComputeError::InvalidInput(format!(
            "model: tensor `{name}` has shape {:?}, the config needs {shape:?}",
            t.shape()
        )));
    }
    Ok(t.data()
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| f32::from_le_bytes(*b))
        .collect())
}

/// `[rows, cols]` row-major into `[cols, rows]`.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; w.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[r * cols + c];
        }
    }
    t
}
