//! The reference the embed kernel is held to: Hugging Face's candle BERT (`candle-transformers`),
//! on the CPU, with sentence-transformers' pooling (mean over the attention mask, then L2
//! normalisation). Shared by `tests/embed_fidelity.rs` and `benches/embed.rs`.
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};

pub struct CandleBert {
    model: BertModel,
    device: Device,
}

impl CandleBert {
    /// Loads `config.json` and `model.safetensors` from a model directory.
    pub fn load(dir: &Path) -> anyhow::Result<CandleBert> {
        let config: Config = serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
        let device = Device::Cpu;
        // SAFETY: the weights file is not modified while it is mapped (a test fixture).
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(
                &[dir.join("model.safetensors")],
                DType::F32,
                &device,
            )?
        };
        Ok(CandleBert {
            model: BertModel::load(vb, &config)?,
            device,
        })
    }

    /// Embeddings of `seqs` (token ids with `[CLS]`/`[SEP]`), as one padded batch with an
    /// attention mask: one row per sequence.
    pub fn embed(&self, seqs: &[Vec<u32>]) -> anyhow::Result<Vec<Vec<f32>>> {
        let b = seqs.len();
        let len = seqs.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = vec![0u32; b * len];
        let mut mask = vec![0u32; b * len];
        for (i, s) in seqs.iter().enumerate() {
            ids[i * len..i * len + s.len()].copy_from_slice(s);
            mask[i * len..i * len + s.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (b, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, len), &self.device)?;
        let types = ids.zeros_like()?;
        let out = self.model.forward(&ids, &types, Some(&mask))?; // (b, len, h)
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (b, len, 1)
        let summed = out.broadcast_mul(&m)?.sum(1)?; // (b, h)
        let counts = m.sum(1)?; // (b, 1)
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        let unit = mean.broadcast_div(&norm)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}
