//! The train job blob (docs/KERNELS.md, "train", spec 1): one link of a training run.
//!
//! Input (after the common 8-byte header, kernel id 6, spec 1), little-endian:
//!
//! | field | size |
//! |---|---|
//! | base hash: BLAKE3 of the base blob (a `TSEM` model blob, or the result blob of the link before) | 32 |
//! | base URI length `u` (1 ..= 1024), base URI (UTF-8) | u16 + `u` |
//! | first step: optimizer steps the base has taken (0 for a model blob) | u64 |
//! | loss (1: MultipleNegativesRankingLoss) | u8 |
//! | learning rate, f32; warm-up steps, u32; the run's total steps, u32 | 12 |
//! | weight decay, β₁, β₂, ε, loss scale (f32 each) | 20 |
//! | pairs per step `B` (2 ..= 1 024); steps in this link `S` (1 ..= 10 000) | 8 |
//! | sequence lengths: for each step, its `B` anchors then its `B` positives | 2·B·S × u32 |
//! | token ids of every sequence, in that order | Σ lengths × u32 |
//!
//! The link runs optimizer steps `first + 1 ..= first + S` (at most the run's total). Output:
//! [`super::checkpoint`] (the losses, the steps, the model blob, Adam's moments).
use std::sync::Arc;

use super::checkpoint::{encode_output, Checkpoint};
use super::{params, train_step, Hyper, Loss, Path};
use crate::device::Backend;
use crate::embed::job::check_sequences;
use crate::embed::model::BertConfig;
use crate::error::{ComputeError, Result};
use crate::format::{checked_mul, expect_header, write_header, Reader};
use crate::limits::Limits;
use crate::KernelId;

/// Longest base URI.
pub const MAX_BASE_URI: usize = 1024;
/// Most pairs in one step.
pub const MAX_BATCH: u32 = 1024;
/// Most steps in one link.
pub const MAX_LINK_STEPS: u32 = 10_000;

/// A parsed train job; its base is fetched by hash and bound with [`TrainJob::with_base`].
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// BLAKE3 of the base blob.
    pub base_hash: [u8; 32],
    /// Where the base blob can be fetched.
    pub base_uri: String,
    /// Optimizer steps the base has taken.
    pub first_step: u64,
    /// The run's hyperparameters.
    pub hyper: Hyper,
    /// Pairs per step.
    pub batch: u32,
    /// Steps in this link.
    pub steps: u32,
    /// Every sequence: per step, `batch` anchors then `batch` positives.
    pub seqs: Vec<Vec<u32>>,
    /// The base checkpoint, once bound.
    pub base: Option<Arc<Checkpoint>>,
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| u32::from_le_bytes(*b))
        .collect()
}

fn f32_at(r: &mut Reader, what: &'static str) -> Result<f32> {
    Ok(f32::from_bits(r.u32(what)?))
}

/// Checks the shape of a link (batch and steps) against the run.
fn check_link(h: &Hyper, first_step: u64, batch: u32, steps: u32) -> Result<()> {
    h.check()?;
    if !(2..=MAX_BATCH).contains(&batch) {
        return Err(ComputeError::InvalidInput(format!(
            "training: {batch} pairs per step (2 ..= {MAX_BATCH}: the loss's negatives are the other pairs)"
        )));
    }
    if steps == 0 || steps > MAX_LINK_STEPS {
        return Err(ComputeError::InvalidInput(format!(
            "training: {steps} steps in a link (1 ..= {MAX_LINK_STEPS})"
        )));
    }
    // saturating: a hostile first step near u64::MAX must be refused, not wrap to a small one
    let last = first_step.saturating_add(steps as u64);
    if last > h.total_steps as u64 {
        return Err(ComputeError::InvalidInput(format!(
            "training: steps {} ..= {last} run past the run's {} total steps",
            first_step.saturating_add(1),
            h.total_steps
        )));
    }
    Ok(())
}

impl TrainJob {
    /// Parses a train blob (structure only: the sequences are checked against the model by
    /// [`TrainJob::with_base`]).
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let payload = expect_header(input, KernelId::Train)?;
        let mut r = Reader::new(payload);
        let base_hash = r.array::<32>("base hash")?;
        let base_uri = r.uri("base URI", MAX_BASE_URI)?;
        let first_step = u64::from_le_bytes(r.array::<8>("first step")?);
        let loss = match r.u8("loss")? {
            1 => Loss::MultipleNegativesRanking,
            other => {
                return Err(ComputeError::InvalidInput(format!(
                    "training: loss {other} is not supported (1: MultipleNegativesRankingLoss)"
                )))
            }
        };
        let hyper = Hyper {
            loss,
            lr: f32_at(&mut r, "learning rate")?,
            warmup: r.u32("warm-up steps")?,
            total_steps: r.u32("total steps")?,
            weight_decay: f32_at(&mut r, "weight decay")?,
            beta1: f32_at(&mut r, "beta1")?,
            beta2: f32_at(&mut r, "beta2")?,
            eps: f32_at(&mut r, "epsilon")?,
            scale: f32_at(&mut r, "loss scale")?,
        };
        let batch = r.u32("pairs per step")?;
        let steps = r.u32("steps")?;
        check_link(&hyper, first_step, batch, steps)?;
        let n = 2 * batch as u64 * steps as u64;
        let lens = u32s(r.bytes(n * 4, "sequence lengths")?);
        let mut total = 0u64;
        for (i, &l) in lens.iter().enumerate() {
            if l == 0 {
                return Err(ComputeError::InvalidInput(format!(
                    "training: sequence {i} is empty"
                )));
            }
            total += l as u64;
        }
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
        let ids = u32s(r.bytes(id_bytes, "token ids")?);
        let mut it = ids.into_iter();
        let seqs = lens
            .iter()
            .map(|&l| it.by_ref().take(l as usize).collect())
            .collect();
        r.finish("token ids")?;
        Ok(Self {
            base_hash,
            base_uri,
            first_step,
            hyper,
            batch,
            steps,
            seqs,
            base: None,
        })
    }

    /// Binds the base (whose blob hashed to `base_hash`): its steps must be the link's first
    /// step, every sequence must fit its model, and the link must fit `limits`.
    pub fn with_base(mut self, base: Arc<Checkpoint>, limits: &Limits) -> Result<Self> {
        if base.step != self.first_step {
            return Err(ComputeError::InvalidInput(format!(
                "training: the link starts at step {}, its base has taken {} steps",
                self.first_step, base.step
            )));
        }
        check_sequences(&base.model, &self.seqs)?;
        let c = &base.model.config;
        let macs = self
            .seqs
            .iter()
            .map(|s| c.macs(s.len() as u64))
            .fold(0u64, u64::saturating_add)
            .saturating_mul(3);
        if macs > limits.max_macs {
            return Err(ComputeError::TooLarge(format!(
                "training is {macs} multiply-adds, limit is {}",
                limits.max_macs
            )));
        }
        let need = host_bytes(c, params::count(&base.model), self.step_seqs(0));
        if need > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "training needs {need} bytes of working memory, limit is {}",
                limits.max_host_bytes
            )));
        }
        self.base = Some(base);
        Ok(self)
    }

    /// The sequences of step `s` (0-based): `batch` anchors then `batch` positives.
    pub fn step_seqs(&self, s: usize) -> &[Vec<u32>] {
        let n = 2 * self.batch as usize;
        &self.seqs[s * n..(s + 1) * n]
    }

    /// The bound base, or a clear error.
    pub fn base(&self) -> Result<&Arc<Checkpoint>> {
        self.base.as_ref().ok_or_else(|| {
            ComputeError::InvalidInput(format!(
                "train job: base {} is not loaded (fetch it by hash and bind it first)",
                crate::hash::to_hex(&self.base_hash)
            ))
        })
    }

    /// The work of the link in [`crate::Job::flops`] units: per step three times the
    /// encoder's forward work over its sequences (forward, and a backward of about twice
    /// it) plus 60 per parameter (gradients zeroed and transposed, the optimizer's pass), and
    /// per link 200 per parameter (the working copy, the output's model blob and optimizer
    /// file, the result blob).
    pub fn work(&self) -> u64 {
        let Some(b) = &self.base else { return 0 };
        let c = &b.model.config;
        let fwd = self
            .seqs
            .iter()
            .map(|s| c.work(s.len() as u64))
            .fold(0u64, u64::saturating_add);
        let p = params::count(&b.model);
        fwd.saturating_mul(3)
            .saturating_add(p.saturating_mul(60 * self.steps as u64 + 200))
    }

    /// Runs the link: the canonical output bytes. On a CUDA backend the step runs on the
    /// device ([`Path::Device`]) but for the pooling and the loss; the bits are the CPU's.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn run(&self, backend: &Backend) -> Result<Vec<u8>> {
        #[cfg(feature = "cuda")]
        let launch = backend
            .cuda_device()
            .map(|dev| crate::cuda::launch::DeviceLaunch {
                dev: dev.as_ref(),
                limits: backend.limits(),
            });
        #[cfg(feature = "cuda")]
        let path = match &launch {
            Some(l) => Path::Device(l),
            None => Path::Fast,
        };
        #[cfg(not(feature = "cuda"))]
        let path = Path::Fast;
        let base = self.base()?;
        let mut c = (**base).clone();
        let mut losses = Vec::with_capacity(self.steps as usize);
        for s in 0..self.steps as usize {
            let seqs: Vec<&[u32]> = self.step_seqs(s).iter().map(Vec::as_slice).collect();
            let t = self.first_step + s as u64 + 1;
            losses.push(train_step(
                path,
                &mut c.model,
                &mut c.state,
                &self.hyper,
                t,
                &seqs,
            ));
        }
        c.step = self.first_step + self.steps as u64;
        encode_output(&losses, self.first_step, &c)
    }
}

/// Host memory of a link: the base and the working copy (weights and both moments, twice),
/// the gradients and the weights' transposes, the output (model blob, optimizer file, output
/// bytes and result blob: three weights' worth, twice), and one step's activations (embed's
/// working set per layer, kept for every layer, plus the backward's scratch).
pub fn host_bytes(c: &BertConfig, params: u64, step: &[Vec<u32>]) -> u64 {
    let weights = params.saturating_mul(4);
    let acts =
        crate::embed::job::host_bytes(c, step).saturating_mul(c.num_hidden_layers as u64 + 2);
    weights.saturating_mul(6 + 2 + 6).saturating_add(acts)
}

/// Builds a train blob.
#[allow(clippy::too_many_arguments)]
pub fn encode_input(
    base_hash: &[u8; 32],
    base_uri: &str,
    first_step: u64,
    hyper: &Hyper,
    batch: u32,
    steps: &[Vec<Vec<u32>>],
) -> Result<Vec<u8>> {
    if base_uri.is_empty() || base_uri.len() > MAX_BASE_URI {
        return Err(ComputeError::InvalidInput(format!(
            "base URI of {} bytes (1 ..= {MAX_BASE_URI})",
            base_uri.len()
        )));
    }
    let n =
        u32::try_from(steps.len()).map_err(|_| ComputeError::TooLarge("too many steps".into()))?;
    check_link(hyper, first_step, batch, n)?;
    let mut out = Vec::new();
    write_header(&mut out, KernelId::Train);
    out.extend_from_slice(base_hash);
    out.extend_from_slice(&(base_uri.len() as u16).to_le_bytes());
    out.extend_from_slice(base_uri.as_bytes());
    out.extend_from_slice(&first_step.to_le_bytes());
    out.push(hyper.loss as u8);
    out.extend_from_slice(&hyper.lr.to_le_bytes());
    out.extend_from_slice(&hyper.warmup.to_le_bytes());
    out.extend_from_slice(&hyper.total_steps.to_le_bytes());
    for v in [
        hyper.weight_decay,
        hyper.beta1,
        hyper.beta2,
        hyper.eps,
        hyper.scale,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&batch.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    for (s, step) in steps.iter().enumerate() {
        if step.len() != 2 * batch as usize {
            return Err(ComputeError::InvalidInput(format!(
                "training: step {s} has {} sequences, a step of {batch} pairs has {}",
                step.len(),
                2 * batch
            )));
        }
        for (i, seq) in step.iter().enumerate() {
            if seq.is_empty() || seq.len() > u32::MAX as usize {
                return Err(ComputeError::InvalidInput(format!(
                    "training: step {s}, sequence {i} has {} tokens",
                    seq.len()
                )));
            }
            out.extend_from_slice(&(seq.len() as u32).to_le_bytes());
        }
    }
    for step in steps {
        for seq in step {
            for id in seq {
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
    }
    Ok(out)
}
