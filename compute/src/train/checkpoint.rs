//! Where a link of a training run starts and what it leaves: the model (as a `TSEM` model
//! blob whose `model.safetensors` Hugging Face and the `embed` kernel load unchanged), Adam's
//! moments and the optimizer steps taken.
//!
//! A link's base blob is either a model blob (a run's first link: step 0, zero moments) or the
//! result blob of the link before it (kernel `train`: its output carries all three). Tensors of
//! the base file the encoder does not read (a pooler, `position_ids`) are carried unchanged,
//! so a fine-tuned checkpoint has every tensor its base had.
//!
//! Output of a link (the bytes its result hash covers), little-endian: steps `n` u32, the loss
//! of each step (`n` × f32), the first and the last optimizer step (u64 each: the link ran
//! steps `first + 1 ..= last`), the model blob's length (u64) and the model blob, the
//! optimizer's safetensors length (u64) and the file (`exp_avg.<name>` and `exp_avg_sq.<name>`
//! for every trainable tensor, in the file's layout).
use crate::gemm::canonicalize_f32;
use std::collections::HashSet;

use safetensors::tensor::{Dtype, TensorView};

use super::adamw::AdamState;
use super::{backward, params};
use crate::embed::model::{encode_model, split_model, EmbedModel, MODEL_MAGIC};
use crate::error::{ComputeError, Result};
use crate::format::Reader;
use crate::KernelId;

/// A tensor of the base file the encoder does not read, carried unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Extra {
    /// Its name.
    pub name: String,
    /// Its dtype.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A training checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// `config.json` as the base shipped it.
    pub config_json: Vec<u8>,
    /// `tokenizer.json`, if the base carried one.
    pub tokenizer_json: Option<Vec<u8>>,
    /// The weights.
    pub model: EmbedModel,
    /// Tensors carried unchanged.
    pub extra: Vec<Extra>,
    /// Adam's moments.
    pub state: AdamState,
    /// Optimizer steps taken so far.
    pub step: u64,
}

/// What a link's output holds.
#[derive(Debug, Clone)]
pub struct LinkOutput {
    /// The loss of each step.
    pub losses: Vec<f32>,
    /// The first optimizer step before the link (the base's).
    pub first_step: u64,
    /// The checkpoint after it.
    pub checkpoint: Checkpoint,
}

/// Little-endian f32s, every NaN the canonical one (`0x7FC00000`): a run that diverges
/// leaves NaNs whose payloads differ between a CPU and a GPU (x86 keeps an operand's, CUDA
/// gives its own), and the hash of an honest result must not.
fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| canonicalize_f32(*x).to_le_bytes())
        .collect()
}

/// A trainable tensor in the file's layout.
fn file_layout(spec: &params::Spec, t: &[f32]) -> Vec<u8> {
    if spec.transposed {
        let (out, inp) = (spec.shape[0], spec.shape[1]);
        f32_bytes(&super::forward::transpose(t, inp, out))
    } else {
        f32_bytes(t)
    }
}

fn serialize(tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(n, dt, shape, data)| {
            TensorView::new(*dt, shape.clone(), data)
                .map(|v| (n.clone(), v))
                .map_err(|e| ComputeError::InvalidInput(format!("tensor `{n}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(meta))
        .map_err(|e| ComputeError::InvalidInput(format!("safetensors: {e}")))
}

fn read_f32(st: &safetensors::SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st.tensor(name).map_err(|_| {
        ComputeError::InvalidInput(format!("optimizer state: tensor `{name}` is missing"))
    })?;
    if t.dtype() != Dtype::F32 || t.shape() != shape {
        return Err(ComputeError::InvalidInput(format!(
            "optimizer state: tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
            t.dtype(),
            t.shape()
        )));
    }
    Ok(crate::format::f32s_from_le(t.data()))
}

impl Checkpoint {
    /// A run's start: a model blob, no steps taken, zero moments.
    pub fn from_model_blob(blob: &[u8]) -> Result<Self> {
        let model = EmbedModel::parse(blob)?;
        let (config, tokenizer, weights) = split_model(blob)?;
        let st = safetensors::SafeTensors::deserialize(weights)
            .map_err(|e| ComputeError::InvalidInput(format!("model.safetensors: {e}")))?;
        let known: HashSet<String> = params::specs(&model.config)
            .into_iter()
            .map(|s| s.name)
            .collect();
        let mut extra: Vec<Extra> = st
            .tensors()
            .into_iter()
            .filter(|(n, _)| !known.contains(n.strip_prefix("bert.").unwrap_or(n)))
            .map(|(name, t)| Extra {
                name,
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
                data: t.data().to_vec(),
            })
            .collect();
        extra.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            config_json: config.to_vec(),
            tokenizer_json: tokenizer.map(<[u8]>::to_vec),
            state: super::fresh_state(&model),
            model,
            extra,
            step: 0,
        })
    }

    /// A link's base: a model blob (`TSEM`) or the result blob of a `train` link.
    pub fn from_base_blob(blob: &[u8]) -> Result<Self> {
        if blob.starts_with(&MODEL_MAGIC) {
            return Self::from_model_blob(blob);
        }
        let (kernel, _, out) = crate::hash::parse_result_blob(blob).map_err(|e| {
            ComputeError::InvalidInput(format!(
                "a training base is a model blob or a train result blob: {e}"
            ))
        })?;
        if kernel != KernelId::Train {
            return Err(ComputeError::InvalidInput(format!(
                "a training base is a model blob or a train result blob, not a {kernel} result"
            )));
        }
        Ok(decode_output(out)?.checkpoint)
    }

    /// The model blob: `config.json`, `tokenizer.json` and a `model.safetensors` with every
    /// trainable tensor (Hugging Face names and layout) and the carried ones.
    pub fn model_blob(&self) -> Result<Vec<u8>> {
        let specs = params::specs(&self.model.config);
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = specs
            .iter()
            .zip(params::tensors(&self.model))
            .map(|(s, t)| {
                (
                    s.name.clone(),
                    Dtype::F32,
                    s.shape.clone(),
                    file_layout(s, t),
                )
            })
            .collect();
        tensors.extend(
            self.extra
                .iter()
                .map(|e| (e.name.clone(), e.dtype, e.shape.clone(), e.data.clone())),
        );
        encode_model(
            &self.config_json,
            self.tokenizer_json.as_deref(),
            &serialize(tensors)?,
        )
    }

    /// Adam's moments as a safetensors file (the file's layout).
    pub fn optimizer_file(&self) -> Result<Vec<u8>> {
        let specs = params::specs(&self.model.config);
        let mut tensors = Vec::with_capacity(2 * specs.len());
        for (prefix, moments) in [("exp_avg", &self.state.m), ("exp_avg_sq", &self.state.v)] {
            for (s, t) in specs.iter().zip(params::tensors(moments)) {
                tensors.push((
                    format!("{prefix}.{}", s.name),
                    Dtype::F32,
                    s.shape.clone(),
                    file_layout(s, t),
                ));
            }
        }
        serialize(tensors)
    }

    /// Reads the moments written by [`Checkpoint::optimizer_file`] for `model`.
    fn read_optimizer(model: &EmbedModel, file: &[u8]) -> Result<AdamState> {
        let st = safetensors::SafeTensors::deserialize(file)
            .map_err(|e| ComputeError::InvalidInput(format!("optimizer state: {e}")))?;
        let specs = params::specs(&model.config);
        let mut state = AdamState {
            m: backward::zeros_like(model),
            v: backward::zeros_like(model),
        };
        for (prefix, moments) in [("exp_avg", &mut state.m), ("exp_avg_sq", &mut state.v)] {
            for (s, t) in specs.iter().zip(params::tensors_mut(moments)) {
                let data = read_f32(&st, &format!("{prefix}.{}", s.name), &s.shape)?;
                if s.transposed {
                    t.copy_from_slice(&super::forward::transpose(&data, s.shape[0], s.shape[1]));
                } else {
                    t.copy_from_slice(&data);
                }
            }
        }
        Ok(state)
    }
}

/// The output bytes of a link that ran from step `first_step` with `losses`, leaving `c`.
pub fn encode_output(losses: &[f32], first_step: u64, c: &Checkpoint) -> Result<Vec<u8>> {
    let model = c.model_blob()?;
    let opt = c.optimizer_file()?;
    let mut out = Vec::with_capacity(32 + 4 * losses.len() + model.len() + opt.len());
    out.extend_from_slice(&(losses.len() as u32).to_le_bytes());
    out.extend_from_slice(&f32_bytes(losses));
    out.extend_from_slice(&first_step.to_le_bytes());
    out.extend_from_slice(&c.step.to_le_bytes());
    out.extend_from_slice(&(model.len() as u64).to_le_bytes());
    out.extend_from_slice(&model);
    out.extend_from_slice(&(opt.len() as u64).to_le_bytes());
    out.extend_from_slice(&opt);
    Ok(out)
}

/// The sections of a link's output without parsing the model: `(losses, first step, last
/// step, model blob, optimizer file)`.
pub fn split_output(bytes: &[u8]) -> Result<(Vec<f32>, u64, u64, &[u8], &[u8])> {
    let mut r = Reader::new(bytes);
    let n = r.u32("loss count")? as u64;
    let losses = crate::format::f32s_from_le(r.bytes(n * 4, "losses")?);
    let first = u64::from_le_bytes(r.array::<8>("first step")?);
    let last = u64::from_le_bytes(r.array::<8>("last step")?);
    if last.checked_sub(first) != Some(n) {
        return Err(ComputeError::InvalidInput(format!(
            "a link from step {first} to {last} with {n} losses"
        )));
    }
    let mlen = u64::from_le_bytes(r.array::<8>("model length")?);
    let model = r.bytes(mlen, "model blob")?;
    let olen = u64::from_le_bytes(r.array::<8>("optimizer length")?);
    let opt = r.bytes(olen, "optimizer state")?;
    r.finish("train output")?;
    Ok((losses, first, last, model, opt))
}

/// Parses a link's output.
pub fn decode_output(bytes: &[u8]) -> Result<LinkOutput> {
    let (losses, first_step, last, model_blob, opt) = split_output(bytes)?;
    let mut checkpoint = Checkpoint::from_model_blob(model_blob)?;
    checkpoint.state = Checkpoint::read_optimizer(&checkpoint.model, opt)?;
    checkpoint.step = last;
    Ok(LinkOutput {
        losses,
        first_step,
        checkpoint,
    })
}
