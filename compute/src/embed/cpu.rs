//! CPU paths of the encoder forward pass (docs/KERNELS.md, "embed").
//!
//! - [`embed_one`] is the plain reference: one sequence, naive loops and the naive GEMM, in
//!   the operation order the spec fixes.
//! - [`embed_batch`] is the fast path workers run: the rows of every sequence go through each
//!   projection as one blocked, parallel GEMM ([`crate::gemm::cpu::gemm_f32`], bit-identical
//!   to the naive loop), the attention products `Q·Kᵀ` and `P·V` of each (sequence, head) are
//!   GEMMs too (the same fused multiply-add chain, index 0 upwards, from `+0.0`), and the
//!   element-wise work is compiled with FMA instructions where the CPU has them (`mul_add` is
//!   fused either way; only the speed differs).
//!
//! Both give the same bits (tests), and so does the CUDA path, which does the same operations
//! in the same order.
use rayon::prelude::*;

use super::math::{dot, gelu, layer_norm, softmax};
use super::model::EmbedModel;
use crate::gemm::canonicalize_f32;
use crate::gemm::cpu::{gemm_f32, gemm_f32_naive};
use crate::render::math::fma;
use crate::with_fma::with_fma;

/// `x[len × in] · w[in × out] + b` with the naive GEMM, the bias added after the product.
fn linear_naive(x: &[f32], len: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    let inp = w.len() / out;
    let mut y = gemm_f32_naive(len, out, inp, x, w);
    add_bias(&mut y, b);
    y
}

/// The same with the blocked, parallel GEMM (same bits).
fn linear(x: &[f32], rows: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    let inp = w.len() / out;
    let mut y = gemm_f32(rows, out, inp, x, w);
    y.par_chunks_mut(out * 64).for_each(|c| add_bias(c, b));
    y
}

#[inline(always)]
fn add_bias(y: &mut [f32], b: &[f32]) {
    for row in y.chunks_exact_mut(b.len()) {
        for (v, bias) in row.iter_mut().zip(b) {
            *v += *bias;
        }
    }
}

/// `√d` as the spec computes it (f32 square root of `d` as f32).
fn attention_scale(m: &EmbedModel) -> f32 {
    (m.config.head_dim() as f32).sqrt()
}

/// Token `t` of a sequence: `(word[id] + token_type[0]) + position[t]`, then LayerNorm.
#[inline(always)]
fn embed_token(m: &EmbedModel, id: u32, t: usize, row: &mut [f32]) {
    let h = m.config.hidden_size;
    let w = &m.word[id as usize * h..(id as usize + 1) * h];
    let p = &m.position[t * h..(t + 1) * h];
    let ty = &m.token_type[..h];
    for j in 0..h {
        row[j] = (w[j] + ty[j]) + p[j];
    }
    layer_norm(
        row,
        &m.emb_ln_w,
        &m.emb_ln_b,
        m.config.layer_norm_eps as f32,
    );
}

/// Mean over the rows of `x` (`len × h`, summed in row order), then L2 normalisation with the
/// norm clamped to at least 1e-12; NaNs canonical.
#[inline(always)]
fn pool(x: &[f32], h: usize) -> Vec<f32> {
    let len = x.len() / h;
    let mut pooled = vec![0.0f32; h];
    for t in 0..len {
        for j in 0..h {
            pooled[j] += x[t * h + j];
        }
    }
    let n = len as f32;
    for p in pooled.iter_mut() {
        *p /= n;
    }
    let norm = dot(&pooled, &pooled).sqrt();
    let norm = if norm > 1e-12 { norm } else { 1e-12 };
    pooled.iter().map(|&p| canonicalize_f32(p / norm)).collect()
}

/// The embedding of one sequence of token ids (its real tokens only: BERT's attention mask
/// keeps padding out of every real token's attention, and pooling averages real tokens),
/// by the plain reference loops. Returns `hidden_size` values, mean-pooled and L2-normalised.
pub fn embed_one(m: &EmbedModel, ids: &[u32]) -> Vec<f32> {
    let c = &m.config;
    let (h, len) = (c.hidden_size, ids.len());
    let eps = c.layer_norm_eps as f32;
    let mut x = vec![0.0f32; len * h];
    for (t, &id) in ids.iter().enumerate() {
        embed_token(m, id, t, &mut x[t * h..(t + 1) * h]);
    }
    let heads = c.num_attention_heads;
    let d = c.head_dim();
    let scale = attention_scale(m);
    let mut scores = vec![0.0f32; len];
    let mut qh = vec![0.0f32; d];
    let mut kh = vec![0.0f32; d];
    for l in &m.layers {
        let q = linear_naive(&x, len, &l.q_w, &l.q_b);
        let k = linear_naive(&x, len, &l.k_w, &l.k_b);
        let v = linear_naive(&x, len, &l.v_w, &l.v_b);
        let mut ctx = vec![0.0f32; len * h];
        for hd in 0..heads {
            let off = hd * d;
            for i in 0..len {
                qh.copy_from_slice(&q[i * h + off..i * h + off + d]);
                for (j, s) in scores.iter_mut().enumerate() {
                    kh.copy_from_slice(&k[j * h + off..j * h + off + d]);
                    *s = dot(&qh, &kh) / scale;
                }
                softmax(&mut scores);
                let out = &mut ctx[i * h + off..i * h + off + d];
                for (j, &p) in scores.iter().enumerate() {
                    let vj = &v[j * h + off..j * h + off + d];
                    for e in 0..d {
                        out[e] = fma(p, vj[e], out[e]);
                    }
                }
            }
        }
        let mut a = linear_naive(&ctx, len, &l.o_w, &l.o_b);
        for (t, row) in a.chunks_exact_mut(h).enumerate() {
            for j in 0..h {
                row[j] += x[t * h + j];
            }
            layer_norm(row, &l.ln1_w, &l.ln1_b, eps);
        }
        let mut inter = linear_naive(&a, len, &l.i_w, &l.i_b);
        for v in inter.iter_mut() {
            *v = gelu(*v);
        }
        let mut o = linear_naive(&inter, len, &l.out_w, &l.out_b);
        for (t, row) in o.chunks_exact_mut(h).enumerate() {
            for j in 0..h {
                row[j] += a[t * h + j];
            }
            layer_norm(row, &l.ln2_w, &l.ln2_b, eps);
        }
        x = o;
    }
    pool(&x, h)
}

with_fma! {
    /// The embedding rows of the flattened batch (`tokens[i] = (id, position)`).
    fn embed_rows(m: &EmbedModel, tokens: &[(u32, usize)], x: &mut [f32]) {
        let h = m.config.hidden_size;
        for (row, &(id, t)) in x.chunks_exact_mut(h).zip(tokens) {
            embed_token(m, id, t, row);
        }
    }
}

with_fma! {
    /// `y += residual` row by row, then LayerNorm of each row.
    fn residual_ln(y: &mut [f32], residual: &[f32], w: &[f32], b: &[f32], eps: f32) {
        let h = w.len();
        for (row, res) in y.chunks_exact_mut(h).zip(residual.chunks_exact(h)) {
            for j in 0..h {
                row[j] += res[j];
            }
            layer_norm(row, w, b, eps);
        }
    }
}

with_fma! {
    /// GELU of every element.
    fn gelu_all(xs: &mut [f32]) {
        for v in xs.iter_mut() {
            *v = gelu(*v);
        }
    }
}

with_fma! {
    /// Scores divided by the scale, then softmax, row by row (`len` columns).
    fn scaled_softmax(s: &mut [f32], len: usize, scale: f32) {
        for row in s.chunks_exact_mut(len) {
            for v in row.iter_mut() {
                *v /= scale;
            }
            softmax(row);
        }
    }
}

/// Rows per parallel task of the row-wise passes.
const ROWS_PER_TASK: usize = 32;

/// The attention context of sequence rows `start..start + len`, head `hd`: `len × d`.
fn attention_head(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    h: usize,
    d: usize,
    (start, len): (usize, usize),
    hd: usize,
    scale: f32,
) -> Vec<f32> {
    let off = hd * d;
    let mut qh = vec![0.0f32; len * d];
    let mut kt = vec![0.0f32; d * len];
    let mut vh = vec![0.0f32; len * d];
    for i in 0..len {
        let r = (start + i) * h + off;
        qh[i * d..(i + 1) * d].copy_from_slice(&q[r..r + d]);
        vh[i * d..(i + 1) * d].copy_from_slice(&v[r..r + d]);
        for e in 0..d {
            kt[e * len + i] = k[r + e];
        }
    }
    // scores[i][j] = dot(q_i, k_j): the GEMM's chain over e ascending from +0.0
    let mut scores = gemm_f32(len, len, d, &qh, &kt);
    scaled_softmax(&mut scores, len, scale);
    // ctx[i][e] = Σ_j p_ij · v_j[e], fused, j ascending from +0.0
    gemm_f32(len, d, len, &scores, &vh)
}

/// Embeds every sequence of `seqs` (already validated against the model): `seqs.len() ×
/// hidden_size` f32, the same bits as [`embed_one`] on each sequence.
pub fn embed_batch(m: &EmbedModel, seqs: &[Vec<u32>]) -> Vec<f32> {
    let c = &m.config;
    let (h, heads, d) = (c.hidden_size, c.num_attention_heads, c.head_dim());
    let eps = c.layer_norm_eps as f32;
    let scale = attention_scale(m);
    let mut spans = Vec::with_capacity(seqs.len());
    let mut tokens = Vec::new();
    for s in seqs {
        spans.push((tokens.len(), s.len()));
        tokens.extend(s.iter().enumerate().map(|(t, &id)| (id, t)));
    }
    let rows = tokens.len();
    if rows == 0 {
        return Vec::new();
    }
    let mut x = vec![0.0f32; rows * h];
    x.par_chunks_mut(ROWS_PER_TASK * h)
        .zip(tokens.par_chunks(ROWS_PER_TASK))
        .for_each(|(xc, tc)| embed_rows(m, tc, xc));
    for l in &m.layers {
        let q = linear(&x, rows, &l.q_w, &l.q_b);
        let k = linear(&x, rows, &l.k_w, &l.k_b);
        let v = linear(&x, rows, &l.v_w, &l.v_b);
        let parts: Vec<Vec<f32>> = (0..spans.len() * heads)
            .into_par_iter()
            .map(|t| attention_head(&q, &k, &v, h, d, spans[t / heads], t % heads, scale))
            .collect();
        let mut ctx = vec![0.0f32; rows * h];
        for (t, part) in parts.iter().enumerate() {
            let ((start, len), off) = (spans[t / heads], (t % heads) * d);
            for i in 0..len {
                let r = (start + i) * h + off;
                ctx[r..r + d].copy_from_slice(&part[i * d..(i + 1) * d]);
            }
        }
        let mut a = linear(&ctx, rows, &l.o_w, &l.o_b);
        a.par_chunks_mut(ROWS_PER_TASK * h)
            .zip(x.par_chunks(ROWS_PER_TASK * h))
            .for_each(|(ac, xc)| residual_ln(ac, xc, &l.ln1_w, &l.ln1_b, eps));
        let mut inter = linear(&a, rows, &l.i_w, &l.i_b);
        inter
            .par_chunks_mut(ROWS_PER_TASK * c.intermediate_size)
            .for_each(gelu_all);
        let mut o = linear(&inter, rows, &l.out_w, &l.out_b);
        o.par_chunks_mut(ROWS_PER_TASK * h)
            .zip(a.par_chunks(ROWS_PER_TASK * h))
            .for_each(|(oc, ac)| residual_ln(oc, ac, &l.ln2_w, &l.ln2_b, eps));
        x = o;
    }
    spans
        .par_iter()
        .flat_map_iter(|&(start, len)| pool(&x[start * h..(start + len) * h], h))
        .collect()
}
