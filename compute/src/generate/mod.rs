//! Text generation with a Llama-family decoder (issue 33; kernel spec in `docs/KERNELS.md`,
//! "generate"): Hugging Face checkpoints of `LlamaForCausalLM`, `Qwen2ForCausalLM` and
//! `MistralForCausalLM` ([`config`], [`model`], in a `TSLM` blob, [`blob`]) run in f32 with a
//! key/value cache per prompt ([`forward`]); tokens chosen greedily or by a seeded draw
//! ([`sample`]). Every op has one fixed order, so prefilling a prompt and decoding it token
//! by token give the same logits bits, whatever else is in the batch; the plain and fast
//! paths give the same bits.
pub mod blob;
pub mod config;
pub mod forward;
pub mod job;
#[cfg(feature = "cuda")]
pub mod kernels;
pub mod model;
pub mod rope;
pub mod sample;

pub use blob::DecoderFiles;
pub use config::{Arch, DecoderConfig};
pub use job::{decode_output, encode_input, Completion, Finish, GenerateJob};
pub use model::DecoderModel;
pub use sample::Sampling;

#[cfg(test)]
mod tests;
