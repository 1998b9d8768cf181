//! The generate job blob and its output (docs/KERNELS.md, "generate", spec 1).
//!
//! Input (after the common 8-byte header, kernel id 7, spec 1), little-endian:
//!
//! | field | size |
//! |---|---|
//! | model hash: BLAKE3 of the decoder blob (`TSLM`) | 32 |
//! | model URI length `u` (1 ..= 1024), URI | u16, `u` |
//! | new tokens at most per prompt `N` (1 ..= 32 768) | u32 |
//! | temperature (0: greedy), top-k, top-p, repetition penalty | f32, u32, f32, f32 |
//! | seed | u64 |
//! | stop tokens `s` (0 ..= 64), their ids | u16, `s` × u32 |
//! | index of the first prompt in the whole request (the draws' key; a shard's offset) | u32 |
//! | prompts `n` (1 ..= 4096), each: length `L` (1 ..=), `L` token ids | u32, (u32, `L` × u32)… |
//!
//! Output, per prompt in order: finish (1: a stop token, included; 2: `N` tokens), count
//! `c`, `c` token ids — `u8, u32, c × u32`.
use std::sync::Arc;

use super::forward::{forward, KvCache, Logits, Path};
use super::model::DecoderModel;
use super::sample::{next_token, Sampling};
use crate::error::{ComputeError, Result};
use crate::format::{expect_header, write_header, Reader};
use crate::limits::Limits;
use crate::KernelId;

/// Longest model URI.
pub const MAX_MODEL_URI: usize = 1024;
/// Most prompts in one job.
pub const MAX_PROMPTS: usize = 4096;
/// Most new tokens per prompt.
pub const MAX_NEW_TOKENS: u32 = 32_768;
/// Most stop tokens.
pub const MAX_STOP: usize = 64;
/// A decoding step's fixed cost (a pass over every layer for one row: scheduling, buffers),
/// in multiply-accumulates.
const STEP_MACS: u64 = 200_000;
/// Prompt rows prefilled together at most.
const PREFILL_ROWS: usize = 2048;

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Finish {
    /// A stop token (the last token of the completion).
    Stop = 1,
    /// The token limit.
    Length = 2,
}

/// One prompt's completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Why it ended.
    pub finish: Finish,
    /// The new token ids.
    pub tokens: Vec<u32>,
}

/// A parsed generate job; its model is bound with [`GenerateJob::with_model`].
#[derive(Debug, Clone)]
pub struct GenerateJob {
    /// BLAKE3 of the decoder blob.
    pub model_hash: [u8; 32],
    /// Where the blob can be fetched.
    pub model_uri: String,
    /// New tokens at most per prompt.
    pub max_new_tokens: u32,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Tokens that end a completion.
    pub stop: Vec<u32>,
    /// The first prompt's index in the whole request.
    pub first_prompt: u32,
    /// The prompts' token ids.
    pub prompts: Vec<Vec<u32>>,
    /// The model, once bound.
    pub model: Option<Arc<DecoderModel>>,
}

fn bad(m: String) -> ComputeError {
    ComputeError::InvalidInput(format!("generate: {m}"))
}

/// The job blob.
#[allow(clippy::too_many_arguments)]
pub fn encode_input(
    model_hash: &[u8; 32],
    model_uri: &str,
    max_new_tokens: u32,
    sampling: &Sampling,
    stop: &[u32],
    first_prompt: u32,
    prompts: &[Vec<u32>],
) -> Result<Vec<u8>> {
    if model_uri.is_empty() || model_uri.len() > MAX_MODEL_URI {
        return Err(bad(format!(
            "model URI of {} bytes (1 ..= {MAX_MODEL_URI})",
            model_uri.len()
        )));
    }
    if stop.len() > MAX_STOP {
        return Err(bad(format!(
            "{} stop tokens (at most {MAX_STOP})",
            stop.len()
        )));
    }
    let mut out = Vec::new();
    write_header(&mut out, KernelId::Generate);
    out.extend_from_slice(model_hash);
    out.extend_from_slice(&(model_uri.len() as u16).to_le_bytes());
    out.extend_from_slice(model_uri.as_bytes());
    out.extend_from_slice(&max_new_tokens.to_le_bytes());
    out.extend_from_slice(&sampling.temperature.to_le_bytes());
    out.extend_from_slice(&sampling.top_k.to_le_bytes());
    out.extend_from_slice(&sampling.top_p.to_le_bytes());
    out.extend_from_slice(&sampling.repetition_penalty.to_le_bytes());
    out.extend_from_slice(&sampling.seed.to_le_bytes());
    out.extend_from_slice(&(stop.len() as u16).to_le_bytes());
    for s in stop {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend_from_slice(&first_prompt.to_le_bytes());
    out.extend_from_slice(&(prompts.len() as u32).to_le_bytes());
    for p in prompts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        for t in p {
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    // what a worker would refuse is refused here, before posting
    GenerateJob::parse(&out, &Limits::default())?;
    Ok(out)
}

impl GenerateJob {
    /// Parses a generate blob (its token ids are checked against the model by
    /// [`GenerateJob::with_model`]).
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let payload = expect_header(input, KernelId::Generate)?;
        let mut r = Reader::new(payload);
        let model_hash = r.array::<32>("model hash")?;
        let model_uri = r.uri("model URI", MAX_MODEL_URI)?;
        let max_new_tokens = r.u32("token limit")?;
        if max_new_tokens == 0 || max_new_tokens > MAX_NEW_TOKENS {
            return Err(bad(format!(
                "a limit of {max_new_tokens} new tokens (1 ..= {MAX_NEW_TOKENS})"
            )));
        }
        let f32_ = |r: &mut Reader, what| -> Result<f32> { Ok(f32::from_le_bytes(r.array(what)?)) };
        let temperature = f32_(&mut r, "temperature")?;
        let top_k = r.u32("top-k")?;
        let top_p = f32_(&mut r, "top-p")?;
        let repetition_penalty = f32_(&mut r, "repetition penalty")?;
        let seed = u64::from_le_bytes(r.array("seed")?);
        let sampling = Sampling {
            temperature,
            top_k,
            top_p,
            repetition_penalty,
            seed,
        };
        sampling.check()?;
        let ns = r.u16("stop token count")? as usize;
        if ns > MAX_STOP {
            return Err(bad(format!("{ns} stop tokens (at most {MAX_STOP})")));
        }
        let stop = (0..ns)
            .map(|_| r.u32("stop token"))
            .collect::<Result<Vec<_>>>()?;
        let first_prompt = r.u32("first prompt index")?;
        let n = r.u32("prompt count")? as usize;
        if n == 0 || n > MAX_PROMPTS {
            return Err(bad(format!("{n} prompts (1 ..= {MAX_PROMPTS})")));
        }
        if first_prompt as u64 + n as u64 > u32::MAX as u64 {
            return Err(bad(format!(
                "prompts {first_prompt} + {n} run past the last index"
            )));
        }
        let mut prompts = Vec::with_capacity(n);
        let mut total = 0u64;
        for i in 0..n {
            let len = r.u32("prompt length")? as u64;
            if len == 0 {
                return Err(bad(format!("prompt {i} is empty")));
            }
            // each id is 4 bytes of the blob: a lying length fails before anything is allocated
            let ids = r.bytes(len * 4, "prompt token ids")?;
            total += len;
            if total * 4 > limits.max_host_bytes {
                return Err(ComputeError::TooLarge(format!(
                    "{total} prompt tokens, more than the host limit allows"
                )));
            }
            prompts.push(
                ids.as_chunks::<4>()
                    .0
                    .iter()
                    .map(|b| u32::from_le_bytes(*b))
                    .collect(),
            );
        }
        r.finish("prompts")?;
        Ok(Self {
            model_hash,
            model_uri,
            max_new_tokens,
            sampling,
            stop,
            first_prompt,
            prompts,
            model: None,
        })
    }

    /// Multiply-accumulates of the job on `c` (every prompt prefilled, then `N` new tokens
    /// each: the products, attention over the context, the logits of each new token, and a
    /// pass's fixed cost per new token).
    pub fn macs(&self, c: &super::config::DecoderConfig) -> u64 {
        let per_token = c.token_macs(0, false);
        let attn = (c.num_hidden_layers * c.num_attention_heads * c.head_dim) as u64;
        let logits = c.vocab_size as u64 * c.hidden_size as u64;
        let n = self.max_new_tokens as u64;
        self.prompts
            .iter()
            .map(|p| {
                let t = p.len() as u64 + n;
                per_token
                    .saturating_mul(t)
                    .saturating_add(attn.saturating_mul(t.saturating_mul(t + 1)))
                    .saturating_add(logits.saturating_add(STEP_MACS).saturating_mul(n))
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Host bytes of a run on `c` besides the weights: every prompt's key/value cache at its
    /// longest, the prefill's activations and the logits.
    pub fn host_bytes(&self, c: &super::config::DecoderConfig) -> u64 {
        let n = self.max_new_tokens as u64;
        let kv = 2 * (c.num_hidden_layers * c.kv_dim()) as u64;
        let cache: u64 = self
            .prompts
            .iter()
            .map(|p| kv.saturating_mul(p.len() as u64 + n))
            .fold(0, u64::saturating_add);
        let longest = self.prompts.iter().map(Vec::len).max().unwrap_or(0);
        let rows = PREFILL_ROWS.max(longest) as u64;
        let width =
            (c.q_dim() + 2 * c.kv_dim() + 2 * c.intermediate_size + 4 * c.hidden_size) as u64;
        let acts = rows.saturating_mul(width);
        let logits = (self.prompts.len() as u64).saturating_mul(2 * c.vocab_size as u64);
        4u64.saturating_mul(cache.saturating_add(acts).saturating_add(logits))
    }

    /// Binds the model (whose blob hashed to `model_hash`): every id below its vocabulary,
    /// every prompt and its new tokens within its context, the work and memory within
    /// `limits`.
    pub fn with_model(mut self, model: Arc<DecoderModel>, limits: &Limits) -> Result<Self> {
        let c = &model.config;
        for (i, p) in self.prompts.iter().enumerate() {
            if let Some(t) = p.iter().find(|&&t| t as usize >= c.vocab_size) {
                return Err(bad(format!(
                    "prompt {i} holds token {t}, the vocabulary has {}",
                    c.vocab_size
                )));
            }
            let need = p.len() as u64 + self.max_new_tokens as u64;
            if need > c.max_position_embeddings as u64 {
                return Err(bad(format!(
                    "prompt {i}: {} tokens and {} new ones exceed the model's context of {}",
                    p.len(),
                    self.max_new_tokens,
                    c.max_position_embeddings
                )));
            }
        }
        if let Some(t) = self.stop.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(bad(format!(
                "stop token {t}, the vocabulary has {}",
                c.vocab_size
            )));
        }
        let macs = self.macs(c);
        if macs > limits.max_macs {
            return Err(ComputeError::TooLarge(format!(
                "{macs} multiply-accumulates, the limit is {}",
                limits.max_macs
            )));
        }
        let bytes = self
            .host_bytes(c)
            .saturating_add(DecoderModel::host_bytes(c));
        if bytes > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "{bytes} bytes of host memory (model, caches, activations), the limit is {}",
                limits.max_host_bytes
            )));
        }
        self.model = Some(model);
        Ok(self)
    }

    /// Generates every completion on `path`.
    pub fn completions(&self, path: Path) -> Result<Vec<Completion>> {
        let m = self
            .model
            .as_ref()
            .ok_or_else(|| bad("the model is not bound".into()))?;
        let layers = m.config.num_hidden_layers;
        let n = self.prompts.len();
        let mut caches = vec![KvCache::new(layers); n];
        let mut hist: Vec<Vec<u32>> = self.prompts.clone();
        let mut out: Vec<Option<Completion>> = vec![None; n];
        let mut next: Vec<u32> = vec![0; n];
        // prefill, a group of prompts at a time
        let mut i = 0;
        while i < n {
            let mut j = i;
            let mut rows = 0;
            while j < n && (j == i || rows + self.prompts[j].len() <= PREFILL_ROWS) {
                rows += self.prompts[j].len();
                j += 1;
            }
            let batch: Vec<(usize, &[u32])> =
                (i..j).map(|p| (p, self.prompts[p].as_slice())).collect();
            let logits = forward(path, m, &mut caches, &batch, Logits::Last);
            for (p, l) in (i..j).zip(&logits) {
                self.choose(p, l, &mut hist, &mut out, &mut next)?;
            }
            i = j;
        }
        // decode: every unfinished prompt one token per step
        loop {
            let active: Vec<usize> = (0..n).filter(|&p| out[p].is_none()).collect();
            if active.is_empty() {
                break;
            }
            let toks: Vec<[u32; 1]> = active.iter().map(|&p| [next[p]]).collect();
            let batch: Vec<(usize, &[u32])> = active
                .iter()
                .zip(&toks)
                .map(|(&p, t)| (p, t.as_slice()))
                .collect();
            let logits = forward(path, m, &mut caches, &batch, Logits::Last);
            for (&p, l) in active.iter().zip(&logits) {
                self.choose(p, l, &mut hist, &mut out, &mut next)?;
            }
        }
        Ok(out
            .into_iter()
            .map(|c| c.expect("every prompt finished"))
            .collect())
    }

    /// Chooses prompt `p`'s next token from `logits`, ending its completion on a stop token
    /// or the limit.
    fn choose(
        &self,
        p: usize,
        logits: &[f32],
        hist: &mut [Vec<u32>],
        out: &mut [Option<Completion>],
        next: &mut [u32],
    ) -> Result<()> {
        let h = &mut hist[p];
        let position = h.len() as u32;
        let t = next_token(
            &self.sampling,
            logits,
            h,
            self.first_prompt + p as u32,
            position,
        )
        .ok_or_else(|| {
            ComputeError::InvalidInput(format!(
                "generate: prompt {p}: every logit at position {position} is NaN"
            ))
        })?;
        h.push(t);
        next[p] = t;
        let generated = h.len() - self.prompts[p].len();
        let finish = if self.stop.contains(&t) {
            Some(Finish::Stop)
        } else if generated as u32 >= self.max_new_tokens {
            Some(Finish::Length)
        } else {
            None
        };
        if let Some(finish) = finish {
            out[p] = Some(Completion {
                finish,
                tokens: h[self.prompts[p].len()..].to_vec(),
            });
        }
        Ok(())
    }

    /// Runs the job: the canonical output bytes. On a CUDA backend the passes run on the
    /// device ([`Path::Device`]); the bits are the CPU's.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn run(&self, backend: &crate::device::Backend) -> Result<Vec<u8>> {
        #[cfg(feature = "cuda")]
        if let Some(dev) = backend.cuda_device() {
            let l = crate::cuda::launch::DeviceLaunch {
                dev: dev.as_ref(),
                limits: backend.limits(),
            };
            return Ok(encode_output(&self.completions(Path::Device(&l))?));
        }
        Ok(encode_output(&self.completions(Path::Fast)?))
    }
}

/// The output bytes of `completions`.
pub fn encode_output(completions: &[Completion]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in completions {
        out.push(c.finish as u8);
        out.extend_from_slice(&(c.tokens.len() as u32).to_le_bytes());
        for t in &c.tokens {
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    out
}

/// The completions of an output blob.
pub fn decode_output(bytes: &[u8]) -> Result<Vec<Completion>> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let finish = match r.u8("finish")? {
            1 => Finish::Stop,
            2 => Finish::Length,
            f => return Err(bad(format!("finish code {f}"))),
        };
        let n = r.u32("completion length")? as u64;
        let ids = r.bytes(n * 4, "completion tokens")?;
        out.push(Completion {
            finish,
            tokens: ids
                .as_chunks::<4>()
                .0
                .iter()
                .map(|b| u32::from_le_bytes(*b))
                .collect(),
        });
    }
    Ok(out)
}
