//! CPU reference of the encoder forward pass (docs/KERNELS.md, "embed"). Every projection is
//! the crate's fixed-order GEMM ([`crate::gemm::cpu::gemm_f32`], bit-identical to the naive
//! loop), every reduction is in index order ([`super::math`]); so the CUDA kernels, doing the
//! same operations in the same order, produce the same bits.
use super::math::{dot, gelu, layer_norm, softmax};
use super::model::EmbedModel;
use crate::gemm::canonicalize_f32;
use crate::gemm::cpu::gemm_f32;
use crate::render::math::fma;

/// `x[len × in] · w[in × out] + b`, the bias added after the (fixed-order) product.
fn linear(x: &[f32], len: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    let inp = w.len() / out;
    let mut y = gemm_f32(len, out, inp, x, w);
    for row in y.chunks_exact_mut(out) {
        for (v, bias) in row.iter_mut().zip(b) {
            *v += *bias;
        }
    }
    y
}

/// The embedding of one sequence of token ids (its real tokens only: BERT's attention mask
/// keeps padding out of every real token's attention, and pooling averages real tokens).
/// Returns `hidden_size` values, mean-pooled and L2-normalised.
pub fn embed_one(m: &EmbedModel, ids: &[u32]) -> Vec<f32> {
    let c = &m.config;
    let (h, len) = (c.hidden_size, ids.len());
    let eps = c.layer_norm_eps as f32;
    // embeddings: (word + token type 0) + position, then LayerNorm
    let mut x = vec![0.0f32; len * h];
    for (t, &id) in ids.iter().enumerate() {
        let row = &mut x[t * h..(t + 1) * h];
        let w = &m.word[id as usize * h..(id as usize + 1) * h];
        let p = &m.position[t * h..(t + 1) * h];
        let ty = &m.token_type[..h];
        for j in 0..h {
            row[j] = (w[j] + ty[j]) + p[j];
        }
        layer_norm(row, &m.emb_ln_w, &m.emb_ln_b, eps);
    }
    let heads = c.num_attention_heads;
    let d = c.head_dim();
    let scale = (d as f32).sqrt();
    let mut scores = vec![0.0f32; len];
    let mut qh = vec![0.0f32; d];
    let mut kh = vec![0.0f32; d];
    for l in &m.layers {
        let q = linear(&x, len, &l.q_w, &l.q_b);
        let k = linear(&x, len, &l.k_w, &l.k_b);
        let v = linear(&x, len, &l.v_w, &l.v_b);
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
        let mut a = linear(&ctx, len, &l.o_w, &l.o_b);
        for (t, row) in a.chunks_exact_mut(h).enumerate() {
            for j in 0..h {
                row[j] += x[t * h + j];
            }
            layer_norm(row, &l.ln1_w, &l.ln1_b, eps);
        }
        let mut inter = linear(&a, len, &l.i_w, &l.i_b);
        for v in inter.iter_mut() {
            *v = gelu(*v);
        }
        let mut o = linear(&inter, len, &l.out_w, &l.out_b);
        for (t, row) in o.chunks_exact_mut(h).enumerate() {
            for j in 0..h {
                row[j] += a[t * h + j];
            }
            layer_norm(row, &l.ln2_w, &l.ln2_b, eps);
        }
        x = o;
    }
    // mean pooling over the real tokens, in token order, then L2 normalisation
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
