//! The embed job blob and its output (docs/KERNELS.md, "embed", spec 1).
//!
//! Input (after the common 8-byte header, kernel id 5, spec 1), little-endian:
//!
//! | field | size |
//! |---|---|
//! | model hash: BLAKE3 of the model blob ([`super::model`], `TSEM`) | 32 |
//! | model URI length `u` (1 ..= 1024) | u16 |
//! | model URI (UTF-8; where a worker fetches the model blob when it is not cached) | `u` |
//! | sequences `n` (1 ..= 65 536) | u32 |
//! | length of each sequence (1 ..= the model's `max_position_embeddings`) | n × u32 |
//! | token ids of every sequence, in order (each below the model's `vocab_size`) | Σ lengths × u32 |
//!
//! A sequence is the token ids of one text including `[CLS]` and `[SEP]`: the real tokens of
//! a padded batch row, the ones its attention mask keeps. Padding is not shipped (it changes
//! nothing: masked positions take no part in attention or pooling).
//!
//! Output: `n × hidden_size` f32 LE, row-major, each row mean-pooled and L2-normalised.
use std::sync::Arc;

use super::model::EmbedModel;
use crate::device::Backend;
use crate::error::{ComputeError, Result};
use crate::format::{checked_mul, expect_header, write_header, Reader};
use crate::limits::Limits;
use crate::KernelId;

/// Longest model URI.
pub const MAX_MODEL_URI: usize = 1024;
/// Most sequences in one job.
pub const MAX_SEQUENCES: usize = 65_536;

/// A parsed embed job. Its model is fetched separately (by hash) and bound with
/// [`EmbedJob::with_model`], which checks the token ids against it.
#[derive(Debug, Clone)]
pub struct EmbedJob {
    /// BLAKE3 of the model blob.
    pub model_hash: [u8; 32],
    /// Where the model blob can be fetched.
    pub model_uri: String,
    /// Token ids of each sequence.
    pub seqs: Vec<Vec<u32>>,
    /// The model, once bound.
    pub model: Option<Arc<EmbedModel>>,
}

impl EmbedJob {
    /// Parses an embed blob (structure only: the token ids are checked against the model by
    /// [`EmbedJob::with_model`]).
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let payload = expect_header(input, KernelId::Embed)?;
        let mut r = Reader::new(payload);
        let model_hash = r.array::<32>("model hash")?;
        let model_uri = r.uri("model URI", MAX_MODEL_URI)?;
        let n = r.u32("sequence count")? as usize;
        if n == 0 || n > MAX_SEQUENCES {
            return Err(ComputeError::InvalidInput(format!(
                "{n} sequences (1 ..= {MAX_SEQUENCES})"
            )));
        }
        let lens_bytes = r.bytes(n as u64 * 4, "sequence lengths")?;
        let lens: Vec<usize> = lens_bytes
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| u32::from_le_bytes(*b) as usize)
            .collect();
        let mut total = 0u64;
        for (i, &l) in lens.iter().enumerate() {
            if l == 0 {
                return Err(ComputeError::InvalidInput(format!("sequence {i} is empty")));
            }
            total += l as u64;
        }
        // ids are 4 bytes each: the blob must hold exactly that many (before any allocation)
        let id_bytes = checked_mul(total, 4, "token ids")?;
        if id_bytes != r.remaining() as u64 {
            return Err(ComputeError::InvalidInput(format!(
                "the lengths add up to {total} tokens ({id_bytes} bytes), the blob holds {} bytes of ids",
                r.remaining()
            )));
        }
        if id_bytes > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "{total} tokens, more than the host limit allows"
            )));
        }
        let ids = r.bytes(id_bytes, "token ids")?;
        let mut it = ids
            .as_chunks::<4>()
            .0
            .iter()
            .map(|b| u32::from_le_bytes(*b));
        let seqs = lens
            .iter()
            .map(|&l| it.by_ref().take(l).collect())
            .collect();
        r.finish("token ids")?;
        Ok(Self {
            model_hash,
            model_uri,
            seqs,
            model: None,
        })
    }

    /// Tokens in the job.
    pub fn tokens(&self) -> u64 {
        self.seqs.iter().map(|s| s.len() as u64).sum()
    }

    /// Binds the model (whose blob hashed to `model_hash`) and checks every sequence against
    /// it and the work against `limits`.
    pub fn with_model(mut self, model: Arc<EmbedModel>, limits: &Limits) -> Result<Self> {
        check_sequences(&model, &self.seqs)?;
        let macs = self
            .seqs
            .iter()
            .map(|s| model.config.macs(s.len() as u64))
            .fold(0u64, u64::saturating_add);
        if macs > limits.max_macs {
            return Err(ComputeError::TooLarge(format!(
                "embedding is {macs} multiply-adds, limit is {}",
                limits.max_macs
            )));
        }
        let need = host_bytes(&model.config, &self.seqs);
        if need > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "embedding needs {need} bytes of working memory, limit is {}",
                limits.max_host_bytes
            )));
        }
        self.model = Some(model);
        Ok(self)
    }

    /// The bound model, or a clear error.
    pub fn model(&self) -> Result<&Arc<EmbedModel>> {
        self.model.as_ref().ok_or_else(|| {
            ComputeError::InvalidInput(format!(
                "embed job: model {} is not loaded (fetch it by hash and bind it first)",
                crate::hash::to_hex(&self.model_hash)
            ))
        })
    }

    /// Output width.
    pub fn dim(&self) -> Result<u32> {
        Ok(self.model()?.config.hidden_size as u32)
    }

    /// Canonical output bytes (`n × hidden` f32 LE).
    pub fn run(&self, backend: &Backend) -> Result<Vec<u8>> {
        let out = super::embed(self.model()?, &self.seqs, backend)?;
        Ok(out.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// Checks sequences against the model: 1 ..= `max_position_embeddings` ids each, every id
/// below `vocab_size`.
pub fn check_sequences(model: &EmbedModel, seqs: &[Vec<u32>]) -> Result<()> {
    let c = &model.config;
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() || s.len() > c.max_position_embeddings {
            return Err(ComputeError::InvalidInput(format!(
                "sequence {i} has {} tokens (1 ..= {}, the model's maximum)",
                s.len(),
                c.max_position_embeddings
            )));
        }
        if let Some(&bad) = s.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(ComputeError::InvalidInput(format!(
                "sequence {i}: token id {bad} is outside the vocabulary ({})",
                c.vocab_size
            )));
        }
    }
    Ok(())
}

/// Host working set of the CPU path: the activations of every token (input, q, k, v, context,
/// attention output, feed-forward), plus the per-(sequence, head) attention scratch.
pub fn host_bytes(c: &super::BertConfig, seqs: &[Vec<u32>]) -> u64 {
    let rows: u64 = seqs.iter().map(|s| s.len() as u64).sum();
    let (h, i) = (c.hidden_size as u64, c.intermediate_size as u64);
    let acts = rows.saturating_mul(8 * h + i);
    let scratch = seqs
        .iter()
        .map(|s| {
            let l = s.len() as u64;
            l.saturating_mul(l)
                .saturating_add(3 * l * c.head_dim() as u64)
        })
        .fold(0u64, u64::saturating_add)
        .saturating_mul(c.num_attention_heads as u64);
    acts.saturating_add(scratch).saturating_mul(4)
}

/// Builds an embed blob.
pub fn encode_input(model_hash: &[u8; 32], model_uri: &str, seqs: &[Vec<u32>]) -> Result<Vec<u8>> {
    if model_uri.is_empty() || model_uri.len() > MAX_MODEL_URI {
        return Err(ComputeError::InvalidInput(format!(
            "model URI of {} bytes (1 ..= {MAX_MODEL_URI})",
            model_uri.len()
        )));
    }
    if seqs.is_empty() || seqs.len() > MAX_SEQUENCES {
        return Err(ComputeError::InvalidInput(format!(
            "{} sequences (1 ..= {MAX_SEQUENCES})",
            seqs.len()
        )));
    }
    let total: usize = seqs.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(48 + model_uri.len() + 4 * (seqs.len() + total));
    write_header(&mut out, KernelId::Embed);
    out.extend_from_slice(model_hash);
    out.extend_from_slice(&(model_uri.len() as u16).to_le_bytes());
    out.extend_from_slice(model_uri.as_bytes());
    out.extend_from_slice(&(seqs.len() as u32).to_le_bytes());
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() {
            return Err(ComputeError::InvalidInput(format!("sequence {i} is empty")));
        }
        let l = u32::try_from(s.len())
            .map_err(|_| ComputeError::TooLarge(format!("sequence {i} is too long")))?;
        out.extend_from_slice(&l.to_le_bytes());
    }
    for s in seqs {
        for id in s {
            out.extend_from_slice(&id.to_le_bytes());
        }
    }
    Ok(out)
}

/// Decodes an embed output into rows of `dim` values.
pub fn decode_output(bytes: &[u8], dim: usize) -> Result<Vec<Vec<f32>>> {
    if dim == 0 || !bytes.len().is_multiple_of(4 * dim) {
        return Err(ComputeError::InvalidInput(format!(
            "an embed output of {} bytes is not rows of {dim} f32",
            bytes.len()
        )));
    }
    Ok(bytes
        .as_chunks::<4>()
        .0
        .chunks(dim)
        .map(|row| row.iter().map(|b| f32::from_le_bytes(*b)).collect())
        .collect())
}
