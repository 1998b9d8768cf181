//! The backward pass of the encoder (docs/KERNELS.md, "train"): the gradient of every
//! parameter from the gradient of the embeddings, every reduction in one fixed order.
//!
//! - A dense layer `y = x·W + b` (`W` stored `[in, out]`): `dW = xᵀ·dy` and `dx = dy·Wᵀ` are
//!   the crate's GEMM (one fused multiply-add chain per element, the reduced index ascending
//!   from `+0.0`: rows for `dW`, outputs for `dx`); `db` sums `dy` over rows in row order.
//! - LayerNorm: with `g = dy·w`, `dx = ((g − mean(g)) − x̂·mean(g·x̂)) / denom`, the means
//!   being an ordered sum (`g`) and an ordered fused dot (`g·x̂`) divided by the width; `dw`
//!   accumulates `fma(dy, x̂, ·)` and `db` adds `dy` over rows in row order.
//! - GELU: `dy · fma(x, φ(x), Φ(x))` with `Φ(x) = 0.5·(1 + erf(x/√2))` and `φ(x) =
//!   exp(−x²/2)·(1/√(2π))`, the crate's own `erf` and `exp`.
//! - Attention, per (sequence, head): `dP = dctx·Vᵀ`, `dV = Pᵀ·dctx`, `dS = P ⊙ (dP −
//!   rowdot(P, dP)) / √d`, `dQ = dS·K`, `dK = dSᵀ·Q` (GEMMs as above).
//! - Where two paths meet, the residual comes first: `dx = ((dres + dq·Wqᵀ) + dk·Wkᵀ) + dv·Wvᵀ`,
//!   `da = dres + di·Wiᵀ`.
//! - The embeddings: word, position and token-type rows receive the gradient of every token,
//!   added in row order (a scatter-add in a fixed order).
use rayon::prelude::*;

use super::forward::{
    add, elementwise, head_rows, per_head, put_head_rows, transpose, Forward, LnCache, Rows, ROWS,
};
#[cfg(feature = "cuda")]
use super::kernels;
use super::{on_device, Path};
use crate::embed::math::{dot, erf, sum};
use crate::embed::model::{EmbedModel, Layer};
use crate::render::math::{exp, fma};
use crate::with_fma::with_fma;

/// 1/√(2π).
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// `Σ_r dy[r][j]` for each column, rows in order from `+0.0`.
fn col_sums(path: Path<'_>, dy: &[f32], cols: usize) -> Vec<f32> {
    on_device!(path, "a bias gradient", |l| kernels::col_sums(l, dy, cols));
    let mut s = vec![0.0f32; cols];
    for row in dy.chunks_exact(cols) {
        for (a, v) in s.iter_mut().zip(row) {
            *a += *v;
        }
    }
    s
}

/// Gradients of a dense layer `y = x·W + b` (`x` rows × in, `W` in × out): `(dW, db, dx)`.
fn linear_back(
    path: Path,
    x: &[f32],
    rows: usize,
    w: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let out = dy.len() / rows;
    let inp = w.len() / out;
    let dw = path.mm(inp, out, rows, &transpose(x, rows, inp), dy);
    let db = col_sums(path, dy, out);
    let dx = path.mm(rows, inp, out, dy, &transpose(w, inp, out));
    (dw, db, dx)
}

with_fma! {
    /// LayerNorm backward, `dx` of the rows of `dy` (`x̂` and the denominators of the same rows).
    fn ln_back_dx(dy: &[f32], xhat: &[f32], denom: &[f32], w: &[f32], dx: &mut [f32]) {
        let h = w.len();
        let n = h as f32;
        let mut g = vec![0.0f32; h];
        for (((dyr, xh), den), dxr) in dy
            .chunks_exact(h)
            .zip(xhat.chunks_exact(h))
            .zip(denom)
            .zip(dx.chunks_exact_mut(h))
        {
            for j in 0..h {
                g[j] = dyr[j] * w[j];
            }
            let mean_g = sum(&g) / n;
            let mean_gx = dot(&g, xh) / n;
            for j in 0..h {
                dxr[j] = fma(-xh[j], mean_gx, g[j] - mean_g) / *den;
            }
        }
    }
}

with_fma! {
    /// LayerNorm backward, the parameters' gradients: `dw += fma(dy, x̂)`, `db += dy`, rows in
    /// order.
    fn ln_back_params(dy: &[f32], xhat: &[f32], dw: &mut [f32], db: &mut [f32]) {
        let h = dw.len();
        for (dyr, xh) in dy.chunks_exact(h).zip(xhat.chunks_exact(h)) {
            for j in 0..h {
                dw[j] = fma(dyr[j], xh[j], dw[j]);
                db[j] += dyr[j];
            }
        }
    }
}

/// LayerNorm backward over rows: `(dx, dw, db)` (rows of `dx` in parallel on the fast path;
/// `dw` and `db` in row order).
fn ln_back(path: Path<'_>, dy: &[f32], c: &LnCache, w: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    on_device!(path, "a LayerNorm gradient", |l| kernels::ln_back(
        l, dy, c, w
    ));
    let h = w.len();
    let mut dx = vec![0.0f32; dy.len()];
    if path.parallel() {
        dx.par_chunks_mut(ROWS * h)
            .zip(dy.par_chunks(ROWS * h))
            .zip(c.xhat.par_chunks(ROWS * h))
            .zip(c.denom.par_chunks(ROWS))
            .for_each(|(((dx, dy), xh), den)| ln_back_dx(dy, xh, den, w, dx));
    } else {
        ln_back_dx(dy, &c.xhat, &c.denom, w, &mut dx);
    }
    let (mut dw, mut db) = (vec![0.0f32; h], vec![0.0f32; h]);
    ln_back_params(dy, &c.xhat, &mut dw, &mut db);
    (dx, dw, db)
}

with_fma! {
    /// `out = dy · GELU'(x)` element by element.
    fn gelu_back(x: &[f32], dy: &mut [f32]) {
        for (d, &v) in dy.iter_mut().zip(x) {
            *d *= gelu_grad(v);
        }
    }
}

/// `dy *= GELU'(x)` (rows in parallel on the fast path).
fn gelu_back_rows(path: Path<'_>, x: &[f32], dy: &mut [f32], chunk: usize) {
    on_device!(path, "the GELU gradient", |l| kernels::gelu_back(l, x, dy));
    elementwise(path, x, dy, chunk, gelu_back);
}

/// Softmax backward of every (sequence, head): `ds[t]` holds `dP` and becomes `dS / scale`
/// (blocks in parallel on the fast path).
fn softmax_back_blocks(path: Path<'_>, probs: &[Vec<f32>], ds: &mut [Vec<f32>], scale: f32) {
    on_device!(path, "the softmax gradient", |l| {
        kernels::softmax_back_blocks(l, probs, ds, scale)
    });
    let one = |(p, d): (&Vec<f32>, &mut Vec<f32>)| softmax_back(p, d, p.len().isqrt(), scale);
    if path.parallel() {
        probs.par_iter().zip(ds.par_iter_mut()).for_each(one);
    } else {
        probs.iter().zip(ds.iter_mut()).for_each(one);
    }
}

/// The embedding tables' gradients: every token row's gradient added to its word, position
/// and token-type rows, rows in order.
fn embed_back(path: Path<'_>, demb: &[f32], tokens: &[(u32, usize)], grad: &mut EmbedModel) {
    let h = grad.emb_ln_w.len();
    let (word, position) = (&mut grad.word, &mut grad.position);
    let type0 = &mut grad.token_type[..h];
    on_device!(path, "the embedding gradients", |l| kernels::embed_back(
        l, demb, tokens, word, position, type0
    ));
    for (r, &(id, t)) in tokens.iter().enumerate() {
        let g = &demb[r * h..(r + 1) * h];
        add_into(&mut word[id as usize * h..(id as usize + 1) * h], g);
        add_into(&mut position[t * h..(t + 1) * h], g);
        add_into(type0, g);
    }
}
with_fma! {
    /// Softmax backward of a (sequence, head): `ds` holds `dP` and becomes `dS / scale`.
    fn softmax_back(p: &[f32], ds: &mut [f32], len: usize, scale: f32) {
        for (prow, dsrow) in p.chunks_exact(len).zip(ds.chunks_exact_mut(len)) {
            let r = dot(prow, dsrow);
            for (pv, dsv) in prow.iter().zip(dsrow.iter_mut()) {
                *dsv = (*pv * (*dsv - r)) / scale;
            }
        }
    }
}

/// `GELU'(x)`: `fma(x, φ(x), Φ(x))`.
#[inline(always)]
pub fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = exp(-0.5 * (x * x)) * INV_SQRT_2PI;
    fma(x, pdf, cdf)
}

/// `a += b` element-wise.
fn add_into(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// A model-shaped set of zeros (gradients, optimizer moments).
pub fn zeros_like(m: &EmbedModel) -> EmbedModel {
    let z = |v: &Vec<f32>| vec![0.0f32; v.len()];
    EmbedModel {
        config: m.config.clone(),
        word: z(&m.word),
        position: z(&m.position),
        token_type: z(&m.token_type),
        emb_ln_w: z(&m.emb_ln_w),
        emb_ln_b: z(&m.emb_ln_b),
        layers: m
            .layers
            .iter()
            .map(|l| Layer {
                q_w: z(&l.q_w),
                q_b: z(&l.q_b),
                k_w: z(&l.k_w),
                k_b: z(&l.k_b),
                v_w: z(&l.v_w),
                v_b: z(&l.v_b),
                o_w: z(&l.o_w),
                o_b: z(&l.o_b),
                ln1_w: z(&l.ln1_w),
                ln1_b: z(&l.ln1_b),
                i_w: z(&l.i_w),
                i_b: z(&l.i_b),
                out_w: z(&l.out_w),
                out_b: z(&l.out_b),
                ln2_w: z(&l.ln2_w),
                ln2_b: z(&l.ln2_b),
            })
            .collect(),
    }
}

/// The gradient of every parameter of `m` given the gradient `d_emb` of the embeddings the
/// forward pass `f` of `rows` produced (one row of `h` per sequence).
pub fn backward(
    path: Path<'_>,
    m: &EmbedModel,
    rows: &Rows,
    f: &Forward,
    d_emb: &[f32],
) -> EmbedModel {
    let c = &m.config;
    let (h, heads, d) = (c.hidden_size, c.num_attention_heads, c.head_dim());
    let scale = (d as f32).sqrt();
    let n = rows.len();
    let spans = &rows.spans;
    let mut grad = zeros_like(m);

    // pooling and normalisation: e = p / norm, p = mean of the sequence's rows
    let mut dx = vec![0.0f32; n * h];
    for (s, &(start, len)) in spans.iter().enumerate() {
        let e = &f.emb[s * h..(s + 1) * h];
        let de = &d_emb[s * h..(s + 1) * h];
        let (norm, clamped) = f.norms[s];
        let proj = if clamped { 0.0 } else { dot(e, de) };
        for j in 0..h {
            let dp = fma(-e[j], proj, de[j]) / norm;
            let dsum = dp / len as f32;
            for t in 0..len {
                dx[(start + t) * h + j] = dsum;
            }
        }
    }

    for (li, (l, fc)) in m.layers.iter().zip(&f.layers).enumerate().rev() {
        let gl = &mut grad.layers[li];
        // output LayerNorm, then the feed-forward (residual: a)
        let (d_opre, dw, db) = ln_back(path, &dx, &fc.ln2, &l.ln2_w);
        (gl.ln2_w, gl.ln2_b) = (dw, db);
        let (dw, db, dg) = linear_back(path, &fc.g, n, &l.out_w, &d_opre);
        (gl.out_w, gl.out_b) = (dw, db);
        let mut d_ipre = dg;
        gelu_back_rows(path, &fc.ipre, &mut d_ipre, ROWS * c.intermediate_size);
        let (dw, db, da_ffn) = linear_back(path, &fc.a, n, &l.i_w, &d_ipre);
        (gl.i_w, gl.i_b) = (dw, db);
        let mut da = d_opre;
        add(path, &mut da, &da_ffn);
        // post-attention LayerNorm, then the attention output (residual: x)
        let (d_apre, dw, db) = ln_back(path, &da, &fc.ln1, &l.ln1_w);
        (gl.ln1_w, gl.ln1_b) = (dw, db);
        let (dw, db, dctx) = linear_back(path, &fc.ctx, n, &l.o_w, &d_apre);
        (gl.o_w, gl.o_b) = (dw, db);
        let tasks = spans.len() * heads;
        let (mut dq, mut dk, mut dv) = (
            vec![0.0f32; n * h],
            vec![0.0f32; n * h],
            vec![0.0f32; n * h],
        );
        let (mut ds, pv): (Vec<_>, Vec<_>) = per_head(path, tasks, |t| {
            let (span, hd) = (spans[t / heads], t % heads);
            let len = span.1;
            let dc = head_rows(&dctx, h, d, span, hd);
            let vh = head_rows(&fc.v, h, d, span, hd);
            let dp = path.mm(len, len, d, &dc, &transpose(&vh, len, d));
            let dv = path.mm(len, d, len, &transpose(&fc.probs[t], len, len), &dc);
            (dp, dv)
        })
        .into_iter()
        .unzip();
        softmax_back_blocks(path, &fc.probs, &mut ds, scale);
        let parts = per_head(path, tasks, |t| {
            let (span, hd) = (spans[t / heads], t % heads);
            let len = span.1;
            let qh = head_rows(&fc.q, h, d, span, hd);
            let kh = head_rows(&fc.k, h, d, span, hd);
            let dq = path.mm(len, d, len, &ds[t], &kh);
            let dk = path.mm(len, d, len, &transpose(&ds[t], len, len), &qh);
            (dq, dk)
        });
        for (t, ((pq, pk), pv)) in parts.iter().zip(&pv).enumerate() {
            let (span, hd) = (spans[t / heads], t % heads);
            put_head_rows(&mut dq, pq, h, d, span, hd);
            put_head_rows(&mut dk, pk, h, d, span, hd);
            put_head_rows(&mut dv, pv, h, d, span, hd);
        }
        let (dw, db, dxq) = linear_back(path, &fc.x, n, &l.q_w, &dq);
        (gl.q_w, gl.q_b) = (dw, db);
        let (dw, db, dxk) = linear_back(path, &fc.x, n, &l.k_w, &dk);
        (gl.k_w, gl.k_b) = (dw, db);
        let (dw, db, dxv) = linear_back(path, &fc.x, n, &l.v_w, &dv);
        (gl.v_w, gl.v_b) = (dw, db);
        dx = d_apre;
        add(path, &mut dx, &dxq);
        add(path, &mut dx, &dxk);
        add(path, &mut dx, &dxv);
    }

    // the embedding LayerNorm, then the tables (row order)
    let (demb, dw, db) = ln_back(path, &dx, &f.emb_ln, &m.emb_ln_w);
    (grad.emb_ln_w, grad.emb_ln_b) = (dw, db);
    embed_back(path, &demb, &rows.tokens, &mut grad);
    grad
}
