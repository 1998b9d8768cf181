//! Inference kernel: quantized int8 MLP forward pass over a batch, built on the int8 GEMM.
//!
//! Input blob (after the common 8-byte header, kernel id 4, spec 1):
//! `model_len: u32`, `model_len` bytes of model ([`model`] format), `batch: u32`,
//! `in_dim: u32` (must equal the model's input_dim), then `batch × in_dim` int8 inputs.
//!
//! Output: `batch × classes` int32 LE logits (row-major), followed by `batch` u32 LE
//! predicted classes (index of the first maximum logit).

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod model;

use crate::device::Backend;
use crate::error::{ComputeError, Result};
use crate::format::{checked_mul, expect_header, write_header, Reader};
use crate::limits::Limits;
use crate::KernelId;
pub use model::{builtin_model, QuantModel};

/// A validated inference job.
#[derive(Debug, Clone)]
pub struct InferenceJob {
    /// The model.
    pub model: QuantModel,
    /// Rows in the batch.
    pub batch: u32,
    /// Inputs, row-major `batch × input_dim`.
    pub inputs: Vec<i8>,
}

impl InferenceJob {
    /// Parses and validates an inference blob.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let payload = expect_header(input, KernelId::Inference)?;
        let mut r = Reader::new(payload);
        let model_len = r.u32("model length")?;
        let model = QuantModel::parse(r.bytes(model_len as u64, "model")?)?;
        let batch = r.u32("batch")?;
        let in_dim = r.u32("input dim")?;
        if in_dim != model.input_dim {
            return Err(ComputeError::InvalidInput(format!(
                "input rows have {in_dim} features, the model expects {}",
                model.input_dim
            )));
        }
        Self::check_limits(&model, batch, limits)?;
        let data = r.bytes(batch as u64 * in_dim as u64, "inference inputs")?;
        r.finish("inference inputs")?;
        Ok(Self {
            model,
            batch,
            inputs: data.iter().map(|&b| b as i8).collect(),
        })
    }

    /// Peak bytes per row of a run, output and result blob included (issue 29: the working
    /// set alone was counted, and a run peaked at 1.35× the limit): the input twice (the blob
    /// and the job's copy), the widest layer's int8 activations in, int32 accumulators and
    /// int8 activations out, and at the end the int32 logits, the output bytes, the result
    /// blob and the predictions (`4·classes + 4` each).
    pub fn peak_bytes_per_row(model: &QuantModel) -> u64 {
        let layer = model
            .layers
            .iter()
            .map(|l| l.in_dim as u64 + 5 * l.out_dim as u64)
            .max()
            .unwrap_or(0);
        2 * model.input_dim as u64 + layer + 3 * (4 * model.output_dim() as u64 + 4) + 4
    }

    fn check_limits(model: &QuantModel, batch: u32, limits: &Limits) -> Result<()> {
        let b = batch as u64;
        let macs = checked_mul(b, model.macs_per_row(), "inference MACs")?;
        if macs > limits.max_macs {
            return Err(ComputeError::TooLarge(format!(
                "inference is {macs} multiply-adds, limit is {}",
                limits.max_macs
            )));
        }
        let total = checked_mul(b, Self::peak_bytes_per_row(model), "inference bytes")?;
        if total > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "inference needs {total} bytes, limit is {}",
                limits.max_host_bytes
            )));
        }
        Ok(())
    }

    /// Int32 logits, row-major `batch × classes`.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn logits(&self, backend: &Backend) -> Result<Vec<i32>> {
        let batch = self.batch as usize;
        #[cfg(feature = "cuda")]
        if let Some(dev) = backend.cuda_device() {
            return dev.mlp_forward(&self.model, batch, &self.inputs, backend.limits());
        }
        Ok(cpu::forward(&self.model, batch, &self.inputs))
    }

    /// Canonical output bytes: logits then predictions.
    pub fn run(&self, backend: &Backend) -> Result<Vec<u8>> {
        let logits = self.logits(backend)?;
        Ok(encode_output(&logits, self.model.output_dim() as usize))
    }
}

/// Encodes logits followed by argmax predictions.
pub fn encode_output(logits: &[i32], classes: usize) -> Vec<u8> {
    let preds = cpu::argmax_rows(logits, classes);
    let mut out = Vec::with_capacity(logits.len() * 4 + preds.len() * 4);
    for v in logits {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for p in preds {
        out.extend_from_slice(&p.to_le_bytes());
    }
    out
}

/// Decodes the predictions part of an inference output.
pub fn decode_predictions(output: &[u8], batch: usize) -> Result<Vec<u32>> {
    let need = batch * 4;
    if output.len() < need {
        return Err(ComputeError::InvalidInput(format!(
            "output of {} bytes has no {batch} predictions",
            output.len()
        )));
    }
    Ok(output[output.len() - need..]
        .as_chunks::<4>()
        .0
        .iter()
        .map(|c| u32::from_le_bytes(*c))
        .collect())
}

/// Builds an inference blob for `model` over `inputs` (row-major `batch × input_dim`).
pub fn encode_input(model: &QuantModel, inputs: &[i8]) -> Result<Vec<u8>> {
    let d = model.input_dim as usize;
    if d == 0 || !inputs.len().is_multiple_of(d) {
        return Err(ComputeError::InvalidInput(format!(
            "{} inputs is not a multiple of input_dim {d}",
            inputs.len()
        )));
    }
    let batch = u32::try_from(inputs.len() / d)
        .map_err(|_| ComputeError::TooLarge("batch exceeds u32".into()))?;
    let m = model.to_bytes();
    let model_len =
        u32::try_from(m.len()).map_err(|_| ComputeError::TooLarge("model exceeds 4 GiB".into()))?;
    let mut out = Vec::with_capacity(20 + m.len() + inputs.len());
    write_header(&mut out, KernelId::Inference);
    out.extend_from_slice(&model_len.to_le_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(&batch.to_le_bytes());
    out.extend_from_slice(&model.input_dim.to_le_bytes());
    out.extend(inputs.iter().map(|&x| x as u8));
    Ok(out)
}

/// A batch of `batch` spiral points (seeded) for the built-in model: `(inputs, labels)`.
/// `batch` is rounded down to a multiple of the class count (3).
pub fn spiral_batch(batch: usize, seed: u64) -> (Vec<i8>, Vec<u8>) {
    let (pts, labels) = model::spiral_dataset(batch / model::SPIRAL_CLASSES, seed);
    (model::quantize_points(&pts), labels)
}

/// Builds an inference blob for the built-in model over a seeded spiral batch.
pub fn build_builtin_input(batch: usize, seed: u64) -> Result<Vec<u8>> {
    let (inputs, _) = spiral_batch(batch, seed);
    encode_input(builtin_model(), &inputs)
}
