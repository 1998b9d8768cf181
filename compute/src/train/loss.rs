//! MultipleNegativesRankingLoss (sentence-transformers' in-batch negatives): for `B` pairs
//! `(aᵢ, pᵢ)` of unit embeddings, `sᵢⱼ = dot(aᵢ, pⱼ) · scale` and the loss is the mean over `i`
//! of the cross-entropy of row `i` against label `i`: `lseᵢ − sᵢᵢ`, `lseᵢ = mᵢ + ln Σⱼ
//! exp(sᵢⱼ − mᵢ)`, `mᵢ = maxⱼ sᵢⱼ`. The embeddings are already L2-normalised, so the cosine is
//! the dot product (sentence-transformers' second normalisation is the identity on them).
//!
//! Order: dots are fused chains from `+0.0`, `j` ascending; the exponential sum adds in `j`
//! order; the mean adds the rows' losses in `i` order and divides by `B`. The gradient of
//! `sᵢⱼ`'s dot is `((exp(sᵢⱼ − mᵢ) / Σᵢ − δᵢⱼ) / B) · scale`; `daᵢ = Σⱼ gᵢⱼ pⱼ` and `dpⱼ = Σᵢ
//! gᵢⱼ aᵢ` are GEMMs (fused, ascending, from `+0.0`).
use super::forward::transpose;
use super::Path;
use crate::embed::math::dot;
use crate::render::math::{exp, fma};

/// ln 2 split for the reconstruction `e·ln2 + ln m`.
const LN2: f32 = std::f32::consts::LN_2;

/// Deterministic natural logarithm of a positive normal `x` (the loss's log-sum-exp only):
/// `x = 2^e · m` with `m` in `[√½, √2)`, `s = (m − 1)/(m + 1)`, `ln m = s · (2 + z·(2/3 +
/// z·(2/5 + z·(2/7 + z·(2/9 + z·2/11)))))` with `z = s²` (Horner, fused), then `fma(e, ln 2,
/// ln m)`. Within 2 ulp on `[2⁻¹²⁶, 2¹²⁸)`; NaN, zero and negatives give NaN.
pub fn ln(x: f32) -> f32 {
    if !(x > 0.0) || !x.is_finite() || !x.is_normal() {
        return f32::NAN;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let mut p = 2.0f32 / 11.0;
    p = fma(p, z, 2.0 / 9.0);
    p = fma(p, z, 2.0 / 7.0);
    p = fma(p, z, 2.0 / 5.0);
    p = fma(p, z, 2.0 / 3.0);
    p = fma(p, z, 2.0);
    fma(e as f32, LN2, s * p)
}

/// The loss of one batch and the gradient of the embeddings (`2B × h`: anchors, then
/// positives).
pub struct LossGrad {
    /// The batch's loss.
    pub loss: f32,
    /// Gradient of each embedding row.
    pub d_emb: Vec<f32>,
}

/// MultipleNegativesRankingLoss of `emb` (`B` anchors then `B` positives, rows of `h`).
pub fn mnrl(path: Path, emb: &[f32], b: usize, h: usize, scale: f32) -> LossGrad {
    let (anchors, positives) = emb.split_at(b * h);
    let mut g = vec![0.0f32; b * b];
    let mut total = 0.0f32;
    for i in 0..b {
        let a = &anchors[i * h..(i + 1) * h];
        let s: Vec<f32> = (0..b)
            .map(|j| dot(a, &positives[j * h..(j + 1) * h]) * scale)
            .collect();
        let mut m = f32::NEG_INFINITY;
        for &v in &s {
            if v > m {
                m = v;
            }
        }
        let ex: Vec<f32> = s.iter().map(|&v| exp(v - m)).collect();
        let mut den = 0.0f32;
        for &v in &ex {
            den += v;
        }
        total += (m + ln(den)) - s[i];
        for j in 0..b {
            let delta = if i == j { 1.0 } else { 0.0 };
            g[i * b + j] = (((ex[j] / den) - delta) / b as f32) * scale;
        }
    }
    let da = path.mm(b, h, b, &g, positives);
    let dp = path.mm(b, h, b, &transpose(&g, b, b), anchors);
    let mut d_emb = da;
    d_emb.extend_from_slice(&dp);
    LossGrad {
        loss: total / b as f32,
        d_emb,
    }
}
