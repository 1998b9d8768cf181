//! A decoder's weights in f32, read from the safetensors of a `TSLM` blob (F32, BF16 or F16,
//! widened exactly), every projection transposed to `[in × out]` for the crate's GEMM.
//! Tensor names are Hugging Face's (`model.layers.{i}.self_attn.q_proj.weight`, …); a
//! missing tensor, a wrong shape or dtype, or a weight that is NaN or infinite is refused by
//! name.
use safetensors::{Dtype, SafeTensors};

use super::blob::DecoderFiles;
use super::config::DecoderConfig;
use super::rope::Rope;
use crate::error::{ComputeError, Result};

/// One decoder layer (projections `[in × out]`).
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    /// RMSNorm before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection, `h × q_dim`.
    pub q_w: Vec<f32>,
    /// Key projection, `h × kv_dim`.
    pub k_w: Vec<f32>,
    /// Value projection.
    pub v_w: Vec<f32>,
    /// Query, key, value biases (Qwen2), if any.
    pub qkv_b: Option<[Vec<f32>; 3]>,
    /// Output projection, `q_dim × h`.
    pub o_w: Vec<f32>,
    /// Its bias, if any.
    pub o_b: Option<Vec<f32>>,
    /// RMSNorm before the feed-forward.
    pub mlp_norm: Vec<f32>,
    /// Gate projection, `h × inter`.
    pub gate_w: Vec<f32>,
    /// Up projection, `h × inter`.
    pub up_w: Vec<f32>,
    /// Down projection, `inter × h`.
    pub down_w: Vec<f32>,
}

/// A decoder ready to run.
#[derive(Debug, Clone)]
pub struct DecoderModel {
    /// Its config.
    pub config: DecoderConfig,
    /// Token embeddings, `vocab × h`.
    pub embed: Vec<f32>,
    /// The layers.
    pub layers: Vec<DecoderLayer>,
    /// The final RMSNorm.
    pub norm: Vec<f32>,
    /// The output projection, `h × vocab` (the embedding table transposed when tied).
    pub lm_head: Vec<f32>,
    /// RoPE tables for every position of the context.
    pub rope: Rope,
}

fn bad(m: String) -> ComputeError {
    ComputeError::InvalidInput(format!("decoder weights: {m}"))
}

/// A tensor as f32 (exact widening of BF16 and F16), its shape checked, every value finite.
fn tensor(st: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st
        .tensor(name)
        .map_err(|_| bad(format!("tensor `{name}` is missing")))?;
    if t.shape() != shape {
        return Err(bad(format!(
            "tensor `{name}` has shape {:?}, the config needs {shape:?}",
            t.shape()
        )));
    }
    let d = t.data();
    let v: Vec<f32> = match t.dtype() {
        Dtype::F32 => d
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| f32::from_le_bytes(*b))
            .collect(),
        Dtype::BF16 => d
            .as_chunks::<2>()
            .0
            .iter()
            .map(|b| f32::from_bits((u16::from_le_bytes(*b) as u32) << 16))
            .collect(),
        Dtype::F16 => d
            .as_chunks::<2>()
            .0
            .iter()
            .map(|b| f16_to_f32(u16::from_le_bytes(*b)))
            .collect(),
        other => {
            return Err(bad(format!(
                "tensor `{name}` is {other:?} (F32, BF16 or F16)"
            )))
        }
    };
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(bad(format!(
            "tensor `{name}` holds {} at element {i}",
            v[i]
        )));
    }
    Ok(v)
}

/// IEEE half to single, exactly (subnormals included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: m · 2⁻²⁴, normalised
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((113 - shift) << 23) | (m << 13)
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// `[rows, cols]` into `[cols, rows]`.
pub(crate) fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const T: usize = 32;
    let mut t = vec![0.0f32; w.len()];
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            for r in r0..(r0 + T).min(rows) {
                for c in c0..(c0 + T).min(cols) {
                    t[c * rows + r] = w[r * cols + c];
                }
            }
        }
    }
    t
}

impl DecoderModel {
    /// Parses a `TSLM` blob: the config, then every tensor the decoder needs.
    pub fn parse(blob: &[u8]) -> Result<Self> {
        let files = DecoderFiles::split(blob)?;
        let config = DecoderConfig::parse(files.config)?;
        let st = SafeTensors::deserialize(files.weights)
            .map_err(|e| bad(format!("model.safetensors: {e}")))?;
        Self::from_safetensors(config, &st)
    }

    /// The model from its config and weights.
    pub fn from_safetensors(config: DecoderConfig, st: &SafeTensors) -> Result<Self> {
        let c = &config;
        let (h, inter, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
        let (q, kv) = (c.q_dim(), c.kv_dim());
        let proj = |name: &str, out: usize, inp: usize| -> Result<Vec<f32>> {
            Ok(transpose(
                &tensor(st, &format!("{name}.weight"), &[out, inp])?,
                out,
                inp,
            ))
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let a = format!("{p}.self_attn");
            let qkv_b = if c.qkv_bias {
                Some([
                    tensor(st, &format!("{a}.q_proj.bias"), &[q])?,
                    tensor(st, &format!("{a}.k_proj.bias"), &[kv])?,
                    tensor(st, &format!("{a}.v_proj.bias"), &[kv])?,
                ])
            } else {
                None
            };
            let o_b = if c.o_bias {
                Some(tensor(st, &format!("{a}.o_proj.bias"), &[h])?)
            } else {
                None
            };
            layers.push(DecoderLayer {
                attn_norm: tensor(st, &format!("{p}.input_layernorm.weight"), &[h])?,
                q_w: proj(&format!("{a}.q_proj"), q, h)?,
                k_w: proj(&format!("{a}.k_proj"), kv, h)?,
                v_w: proj(&format!("{a}.v_proj"), kv, h)?,
                qkv_b,
                o_w: proj(&format!("{a}.o_proj"), h, q)?,
                o_b,
                mlp_norm: tensor(st, &format!("{p}.post_attention_layernorm.weight"), &[h])?,
                gate_w: proj(&format!("{p}.mlp.gate_proj"), inter, h)?,
                up_w: proj(&format!("{p}.mlp.up_proj"), inter, h)?,
                down_w: proj(&format!("{p}.mlp.down_proj"), h, inter)?,
            });
        }
        let embed = tensor(st, "model.embed_tokens.weight", &[v, h])?;
        let lm_head = if c.tie_word_embeddings {
            transpose(&embed, v, h)
        } else {
            proj("lm_head", v, h)?
        };
        let rope = Rope::new(
            c.head_dim,
            c.rope_theta,
            &c.rope_scaling,
            c.max_position_embeddings,
        );
        Ok(Self {
            norm: tensor(st, "model.norm.weight", &[h])?,
            embed,
            layers,
            lm_head,
            rope,
            config,
        })
    }

    /// Host bytes the weights take (the figure a worker checks before a claim).
    pub fn host_bytes(c: &DecoderConfig) -> u64 {
        let head = c.vocab_size as u64 * c.hidden_size as u64;
        // the tied head is a second (transposed) copy of the embeddings
        let extra = if c.tie_word_embeddings { head } else { 0 };
        let rope = c.max_position_embeddings as u64 * c.head_dim as u64;
        4 * (c.params() + extra + rope)
    }
}
