//! Fine-tuning a BERT-family sentence encoder (issue 32; kernel spec in `docs/KERNELS.md`,
//! "train"): the forward pass of the `embed` kernel with its activations kept
//! ([`forward`]), the gradient of every parameter ([`backward`]) from
//! MultipleNegativesRankingLoss ([`loss`]), and AdamW ([`adamw`]) — deterministic f32 by
//! construction, every reduction in one fixed order, only correctly rounded operations and
//! the crate's own `exp`, `erf` and `ln`.
//!
//! Two CPU paths give the same bits: [`Path::Plain`] (the naive GEMM, one thread) and
//! [`Path::Fast`] (the blocked, parallel GEMM and attention heads in parallel; the GEMMs are
//! bit-identical, the heads independent).
pub mod adamw;
pub mod backward;
pub mod checkpoint;
pub mod forward;
pub mod job;
#[cfg(feature = "cuda")]
pub mod kernels;
pub mod loss;
pub mod params;

use crate::embed::model::EmbedModel;
use crate::error::{ComputeError, Result};
use crate::gemm::cpu::{gemm_f32, gemm_f32_naive};
pub use adamw::AdamState;
pub use checkpoint::{decode_output, encode_output, Checkpoint, LinkOutput};
pub use job::{encode_input, TrainJob};

/// Which path runs a step (the same bits on each).
#[derive(Clone, Copy)]
pub enum Path<'a> {
    /// The plain reference: the naive GEMM, one thread.
    Plain,
    /// The fast path: the blocked, parallel GEMM; attention heads and row blocks in parallel.
    Fast,
    /// A CUDA device (or, in tests, the host emulator of the same kernels): the products
    /// (`tessera_gemm_f32`) and the element-wise and reduction passes (`train.cu`, through
    /// [`kernels`]); the pooling and the loss (a few rows per sequence) on the CPU. A pass the
    /// device fails runs on the CPU instead (the same bits).
    #[cfg(feature = "cuda")]
    Device(&'a dyn crate::cuda::launch::Launch),
    #[doc(hidden)]
    #[cfg(not(feature = "cuda"))]
    _Unused(std::marker::PhantomData<&'a ()>),
}

impl std::fmt::Debug for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Path::Plain => "plain",
            Path::Fast => "fast",
            #[cfg(feature = "cuda")]
            Path::Device(..) => "device",
            #[cfg(not(feature = "cuda"))]
            Path::_Unused(_) => "unused",
        })
    }
}

/// [`crate::device::on_device`] for a training [`Path`].
macro_rules! on_device {
    ($path:expr, $what:literal, |$l:ident| $e:expr) => {
        $crate::device::on_device!($path, $crate::train::Path::Device, $what, |$l| $e)
    };
}
pub(crate) use on_device;

pub use crate::device::device_fallbacks;

impl Path<'_> {
    /// `a[m × k] · b[k × n]`: one fused multiply-add chain per element, k ascending from
    /// `+0.0` (every path).
    pub fn mm(self, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
        on_device!(self, "a product", |l| kernels::mm(l, m, n, k, a, b));
        match self {
            Path::Plain => gemm_f32_naive(m, n, k, a, b),
            _ => gemm_f32(m, n, k, a, b),
        }
    }

    /// Whether independent (sequence, head) tasks and row blocks run in parallel on the CPU.
    pub fn parallel(self) -> bool {
        matches!(self, Path::Fast)
    }
}

/// The loss a run minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Loss {
    /// MultipleNegativesRankingLoss over (anchor, positive) pairs: in-batch negatives,
    /// cosine × scale.
    MultipleNegativesRanking = 1,
}

/// A run's hyperparameters (the same for every link of a chain).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// The loss.
    pub loss: Loss,
    /// Peak learning rate.
    pub lr: f32,
    /// Warm-up steps (the rate rises linearly from 0).
    pub warmup: u32,
    /// The run's length in optimizer steps (the rate falls linearly to 0 at it).
    pub total_steps: u32,
    /// Decoupled weight decay (not on biases and LayerNorm parameters).
    pub weight_decay: f32,
    /// Adam β₁.
    pub beta1: f32,
    /// Adam β₂.
    pub beta2: f32,
    /// Adam ε.
    pub eps: f32,
    /// The loss's similarity scale (sentence-transformers: 20).
    pub scale: f32,
}

/// Largest run, in optimizer steps.
pub const MAX_TOTAL_STEPS: u32 = 1_000_000;

impl Hyper {
    /// sentence-transformers' defaults for MultipleNegativesRankingLoss with `fit`: rate 2e-5,
    /// weight decay 0.01, β (0.9, 0.999), ε 1e-6, scale 20; warm-up 10 % of `total_steps`.
    pub fn defaults(total_steps: u32) -> Self {
        Self {
            loss: Loss::MultipleNegativesRanking,
            lr: 2e-5,
            warmup: total_steps / 10,
            total_steps,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            scale: 20.0,
        }
    }

    /// Refuses, by name, what no run could use.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ComputeError::InvalidInput(format!("training: {m}")));
        let finite_in = |v: f32, lo: f32, hi: f32| v.is_finite() && v >= lo && v <= hi;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0) {
            return bad(format!("learning rate {} (must be in (0, 1])", self.lr));
        }
        if self.total_steps == 0 || self.total_steps > MAX_TOTAL_STEPS {
            return bad(format!(
                "{} total steps (1 ..= {MAX_TOTAL_STEPS})",
                self.total_steps
            ));
        }
        if self.warmup > self.total_steps {
            return bad(format!(
                "{} warm-up steps, more than the run's {}",
                self.warmup, self.total_steps
            ));
        }
        if !finite_in(self.weight_decay, 0.0, 1.0) {
            return bad(format!(
                "weight decay {} (must be in [0, 1])",
                self.weight_decay
            ));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                return bad(format!("{name} {b} (must be in [0, 1))"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0 && self.eps <= 1.0) {
            return bad(format!("Adam epsilon {} (must be in (0, 1])", self.eps));
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 1000.0) {
            return bad(format!("loss scale {} (must be in (0, 1000])", self.scale));
        }
        Ok(())
    }
}

/// One optimizer step on a batch of `B` pairs (`seqs`: `B` anchors, then `B` positives):
/// forward, loss, backward, AdamW step `t` (1-based). Returns the batch's loss (before the
/// update).
pub fn train_step(
    path: Path<'_>,
    model: &mut EmbedModel,
    state: &mut AdamState,
    h: &Hyper,
    t: u64,
    seqs: &[&[u32]],
) -> f32 {
    let b = seqs.len() / 2;
    let hid = model.config.hidden_size;
    let rows = forward::Rows::new(seqs);
    let f = forward::forward(path, model, &rows);
    let lg = loss::mnrl(path, &f.emb, b, hid, h.scale);
    let grads = backward::backward(path, model, &rows, &f, &lg.d_emb);
    adamw::step(path, model, &grads, state, h, t);
    lg.loss
}

/// Fresh (zero) optimizer state for `m`.
pub fn fresh_state(m: &EmbedModel) -> AdamState {
    AdamState {
        m: backward::zeros_like(m),
        v: backward::zeros_like(m),
    }
}

#[cfg(test)]
pub(crate) mod tests;
