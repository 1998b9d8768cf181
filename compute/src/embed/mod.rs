//! Sentence embeddings with a pretrained BERT-family encoder (issue 19; kernel spec in
//! `docs/KERNELS.md`, "embed", as it is built): the forward pass over token-id sequences, mean
//! pooling over real tokens and L2 normalisation, deterministic f32 by construction.
//!
//! Built so far: the model blob (`TSEM`: `config.json` + `model.safetensors`), its validation,
//! and the CPU reference forward pass. Still to come (issue 19): the kernel id and job blob
//! wired into the network, the CUDA kernels, tokenisation on the client and model caching in
//! the worker.
pub mod cpu;
pub mod math;
pub mod model;

use crate::error::{ComputeError, Result};
pub use model::{encode_model, BertConfig, EmbedModel};

/// Embeds every sequence of `seqs` (token ids including `[CLS]` and `[SEP]`, no padding):
/// `seqs.len() × hidden_size` f32, row-major. Each sequence must hold 1 ..=
/// `max_position_embeddings` ids, each below `vocab_size`.
pub fn embed(model: &EmbedModel, seqs: &[Vec<u32>]) -> Result<Vec<f32>> {
    let c = &model.config;
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() || s.len() > c.max_position_embeddings {
            return Err(ComputeError::InvalidInput(format!(
                "sequence {i} has {} tokens (1 ..= {})",
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
    let mut out = Vec::with_capacity(seqs.len() * c.hidden_size);
    for s in seqs {
        out.extend(cpu::embed_one(model, s));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
