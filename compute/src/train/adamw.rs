//! AdamW with decoupled weight decay and a linear warm-up then linear decay of the learning
//! rate (`transformers.get_linear_schedule_with_warmup`, as sentence-transformers uses it).
//!
//! Per step `t` (1-based; the schedule sees `t − 1`, so a warm-up starts at zero), the host
//! computes in f64 and rounds once to f32: `lr_t`, `decay = 1 − lr_t·wd`, `step = lr_t / (1 −
//! β₁ᵗ)` and `bc2 = √(1 − β₂ᵗ)` (powers by square-and-multiply). Then every element, in f32:
//!
//! ```text
//! p ← p · decay                      (decayed tensors only)
//! m ← fma(β₁, m, (1 − β₁) · g)
//! v ← fma(β₂, v, ((1 − β₂) · g) · g)
//! p ← fma(−step, m / (√v / bc2 + ε), p)
//! ```
//! with `1 − β₁` and `1 − β₂` rounded to f32 once. Element-wise, so any split of the work
//! gives the same bits.
use rayon::prelude::*;

#[cfg(feature = "cuda")]
use super::kernels;
use super::{on_device, params, Hyper, Path};
use crate::embed::model::EmbedModel;
use crate::render::math::fma;
use crate::with_fma::with_fma;

/// `b^e` in f64 by square-and-multiply (IEEE operations only: the same bits everywhere).
fn powu(b: f64, mut e: u64) -> f64 {
    let (mut base, mut acc) = (b, 1.0f64);
    while e > 0 {
        if e & 1 == 1 {
            acc *= base;
        }
        base *= base;
        e >>= 1;
    }
    acc
}

/// The learning rate of optimizer step `t` (1-based) of a run of `total` steps.
pub fn lr_at(h: &Hyper, t: u64) -> f32 {
    let s = (t - 1) as f64;
    let (warm, total) = (h.warmup as f64, h.total_steps as f64);
    let f = if s < warm {
        s / warm.max(1.0)
    } else {
        ((total - s) / (total - warm).max(1.0)).max(0.0)
    };
    (h.lr as f64 * f) as f32
}

/// The per-step scalars of step `t`.
#[derive(Debug, Clone, Copy)]
struct StepScalars {
    decay: f32,
    step: f32,
    bc2: f32,
    one_b1: f32,
    one_b2: f32,
}

fn scalars(h: &Hyper, t: u64) -> StepScalars {
    let lr = lr_at(h, t) as f64;
    StepScalars {
        decay: (1.0 - lr * h.weight_decay as f64) as f32,
        step: (lr / (1.0 - powu(h.beta1 as f64, t))) as f32,
        bc2: (1.0 - powu(h.beta2 as f64, t)).sqrt() as f32,
        one_b1: 1.0 - h.beta1,
        one_b2: 1.0 - h.beta2,
    }
}

/// Adam's moments of every parameter.
#[derive(Debug, Clone)]
pub struct AdamState {
    /// First moments (model-shaped).
    pub m: EmbedModel,
    /// Second moments.
    pub v: EmbedModel,
}

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

with_fma! {
    /// The update of one chunk of a tensor.
    #[allow(clippy::too_many_arguments)]
    fn adam_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], decay: bool, sc: StepScalars, b1: f32, b2: f32, eps: f32) {
        for i in 0..p.len() {
            let mut x = p[i];
            if decay {
                x *= sc.decay;
            }
            let gi = g[i];
            m[i] = fma(b1, m[i], sc.one_b1 * gi);
            v[i] = fma(b2, v[i], (sc.one_b2 * gi) * gi);
            let denom = v[i].sqrt() / sc.bc2 + eps;
            p[i] = fma(-sc.step, m[i] / denom, x);
        }
    }
}

/// The update of one tensor (chunks in parallel on the CPU; one launch on a device).
#[allow(clippy::too_many_arguments)]
fn tensor_step(
    path: Path<'_>,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decay: bool,
    sc: StepScalars,
    (b1, b2, eps): (f32, f32, f32),
) {
    on_device!(path, "AdamW", |l| kernels::adamw(
        l,
        p,
        g,
        m,
        v,
        decay,
        kernels::AdamArgs {
            decay: sc.decay,
            step: sc.step,
            bc2: sc.bc2,
            one_b1: sc.one_b1,
            one_b2: sc.one_b2,
            b1,
            b2,
            eps,
        }
    ));
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .for_each(|(((p, g), m), v)| adam_chunk(p, g, m, v, decay, sc, b1, b2, eps));
}

/// Applies optimizer step `t` (1-based) with gradients `g` to `model` and `state`.
pub fn step(
    path: Path<'_>,
    model: &mut EmbedModel,
    g: &EmbedModel,
    state: &mut AdamState,
    h: &Hyper,
    t: u64,
) {
    let sc = scalars(h, t);
    let specs = params::specs(&model.config);
    let (b1, b2, eps) = (h.beta1, h.beta2, h.eps);
    let ps = params::tensors_mut(model);
    let gs = params::tensors(g);
    let ms = params::tensors_mut(&mut state.m);
    let vs = params::tensors_mut(&mut state.v);
    for ((((p, g), m), v), spec) in ps.into_iter().zip(gs).zip(ms).zip(vs).zip(&specs) {
        tensor_step(path, p, g, m, v, spec.decay, sc, (b1, b2, eps));
    }
}
