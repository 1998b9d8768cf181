//! Sentence embeddings with a pretrained BERT-family encoder (issue 19; kernel spec in
//! `docs/KERNELS.md`, "embed", as it is built): the forward pass over token-id sequences, mean
//! pooling over real tokens and L2 normalisation, deterministic f32 by construction.
//!
//! The job blob ([`job`]) references the model by the hash of its blob ([`model`], `TSEM`:
//! `config.json` + `model.safetensors`), which workers fetch once and cache by hash. Token
//! ids come from the client's tokenizer, so the kernel is pure arithmetic. The CPU reference
//! ([`cpu`]) and the CUDA path ([`cuda`]) give the same bits.
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod job;
pub mod math;
pub mod model;

use crate::device::Backend;
use crate::error::Result;
pub use job::{decode_output, encode_input, EmbedJob};
pub use model::{encode_model, BertConfig, EmbedModel};

/// Embeds every sequence of `seqs` (token ids including `[CLS]` and `[SEP]`, no padding) on
/// `backend`: `seqs.len() × hidden_size` f32, row-major. Each sequence must hold 1 ..=
/// `max_position_embeddings` ids, each below `vocab_size`.
#[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
pub fn embed(model: &EmbedModel, seqs: &[Vec<u32>], backend: &Backend) -> Result<Vec<f32>> {
    job::check_sequences(model, seqs)?;
    #[cfg(feature = "cuda")]
    if let Some(dev) = backend.cuda_device() {
        return dev.embed_forward(model, seqs, backend.limits());
    }
    Ok(cpu::embed_batch(model, seqs))
}

#[cfg(test)]
mod tests;
