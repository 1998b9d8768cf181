//! The encoder's forward pass for training: the same operations in the same order as the
//! `embed` kernel (`crate::embed::cpu`), keeping what the backward pass needs (every layer's
//! input, projections, attention probabilities, normalised LayerNorm rows and their
//! denominators, the feed-forward pre-activations). Its embeddings are the `embed` kernel's
//! bits (test).
use rayon::prelude::*;

#[cfg(feature = "cuda")]
use super::kernels;
use super::{on_device, Path};
use crate::embed::math::{dot, gelu, softmax, sum};
use crate::embed::model::EmbedModel;
use crate::gemm::canonicalize_f32;
use crate::render::math::fma;
use crate::with_fma::with_fma;

/// A batch of sequences flattened into rows: `spans[s] = (first row, length)`, `tokens[r] =
/// (id, position)`.
#[derive(Debug, Clone)]
pub struct Rows {
    /// First row and length of each sequence.
    pub spans: Vec<(usize, usize)>,
    /// Token id and position of each row.
    pub tokens: Vec<(u32, usize)>,
}

impl Rows {
    /// Flattens `seqs` (each already checked against the model).
    pub fn new(seqs: &[&[u32]]) -> Self {
        let mut spans = Vec::with_capacity(seqs.len());
        let mut tokens = Vec::new();
        for s in seqs {
            spans.push((tokens.len(), s.len()));
            tokens.extend(s.iter().enumerate().map(|(t, &id)| (id, t)));
        }
        Self { spans, tokens }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// What a LayerNorm keeps for its backward pass: the normalised rows `x̂ = (x − mean) /
/// denom` and each row's `denom = sqrt(var + eps)`.
#[derive(Debug, Clone, Default)]
pub struct LnCache {
    /// `x̂`, rows × width.
    pub xhat: Vec<f32>,
    /// One denominator per row.
    pub denom: Vec<f32>,
}

with_fma! {
    /// LayerNorm of the rows of `x` in place (bits of `embed::math::layer_norm`), writing
    /// `x̂` and each row's denominator.
    fn ln_chunk(x: &mut [f32], w: &[f32], b: &[f32], eps: f32, xhat: &mut [f32], denom: &mut [f32]) {
        let h = w.len();
        let n = h as f32;
        for ((row, xh), den) in x.chunks_exact_mut(h).zip(xhat.chunks_exact_mut(h)).zip(denom.iter_mut()) {
            let mean = sum(row) / n;
            let mut var = 0.0f32;
            for &v in row.iter() {
                let d = v - mean;
                var = fma(d, d, var);
            }
            *den = (var / n + eps).sqrt();
            for j in 0..h {
                xh[j] = (row[j] - mean) / *den;
                row[j] = fma(xh[j], w[j], b[j]);
            }
        }
    }
}

/// LayerNorm of every row of `x` in place (bits of `embed::math::layer_norm`), keeping `x̂`
/// and the denominators; rows in parallel on the fast path.
pub fn ln_rows(path: Path<'_>, x: &mut [f32], w: &[f32], b: &[f32], eps: f32) -> LnCache {
    on_device!(path, "a LayerNorm", |l| kernels::ln(l, x, w, b, eps));
    let h = w.len();
    let rows = x.len() / h;
    let mut c = LnCache {
        xhat: vec![0.0; x.len()],
        denom: vec![0.0; rows],
    };
    if path.parallel() {
        x.par_chunks_mut(ROWS * h)
            .zip(c.xhat.par_chunks_mut(ROWS * h))
            .zip(c.denom.par_chunks_mut(ROWS))
            .for_each(|((x, xh), d)| ln_chunk(x, w, b, eps, xh, d));
    } else {
        ln_chunk(x, w, b, eps, &mut c.xhat, &mut c.denom);
    }
    c
}

/// Rows per parallel task of the row-wise passes.
pub const ROWS: usize = 32;

with_fma! {
    /// `dst = gelu(src)` element by element.
    fn gelu_chunk(src: &[f32], dst: &mut [f32]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = gelu(s);
        }
    }
}

with_fma! {
    /// Scores divided by `scale`, then softmax, row by row (`len` columns).
    pub fn scaled_softmax(p: &mut [f32], len: usize, scale: f32) {
        for row in p.chunks_exact_mut(len) {
            for s in row.iter_mut() {
                *s /= scale;
            }
            softmax(row);
        }
    }
}

/// Every (sequence, head)'s `len × len` scores to probabilities ([`scaled_softmax`]; blocks
/// in parallel on the fast path).
pub fn softmax_blocks(path: Path<'_>, blocks: &mut [Vec<f32>], scale: f32) {
    on_device!(path, "the attention softmax", |l| kernels::softmax_blocks(
        l, blocks, scale
    ));
    let one = |p: &mut Vec<f32>| {
        let len = p.len().isqrt();
        scaled_softmax(p, len, scale)
    };
    if path.parallel() {
        blocks.par_iter_mut().for_each(one);
    } else {
        blocks.iter_mut().for_each(one);
    }
}

/// `dst = gelu(src)` (rows in parallel on the fast path).
pub fn gelu_rows(path: Path<'_>, src: &[f32], dst: &mut [f32], chunk: usize) {
    on_device!(path, "GELU", |l| kernels::gelu(l, src, dst));
    elementwise(path, src, dst, chunk, gelu_chunk);
}

/// `a += b` element-wise (residuals; the gradients of two paths).
pub fn add(path: Path<'_>, a: &mut [f32], b: &[f32]) {
    on_device!(path, "a sum", |l| kernels::add(l, a, b));
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// `y[r][c] += bias[c]`.
pub fn add_bias(path: Path<'_>, y: &mut [f32], bias: &[f32]) {
    on_device!(path, "a bias", |l| kernels::add_bias(l, y, bias));
    for row in y.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += *b;
        }
    }
}

/// Element-wise `f(src, dst)` over chunks, in parallel on the fast path.
pub fn elementwise(
    path: Path<'_>,
    src: &[f32],
    dst: &mut [f32],
    chunk: usize,
    f: fn(&[f32], &mut [f32]),
) {
    if path.parallel() {
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| f(s, d));
    } else {
        f(src, dst);
    }
}

/// One layer's saved activations.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    /// The layer's input, rows × h.
    pub x: Vec<f32>,
    /// Query, key and value projections, rows × h each.
    pub q: Vec<f32>,
    /// Keys.
    pub k: Vec<f32>,
    /// Values.
    pub v: Vec<f32>,
    /// Attention probabilities of each (sequence, head), `len × len`, sequence-major.
    pub probs: Vec<Vec<f32>>,
    /// Attention context, rows × h.
    pub ctx: Vec<f32>,
    /// The post-attention LayerNorm.
    pub ln1: LnCache,
    /// Its output (the feed-forward's input), rows × h.
    pub a: Vec<f32>,
    /// Feed-forward pre-activations, rows × intermediate.
    pub ipre: Vec<f32>,
    /// GELU of them.
    pub g: Vec<f32>,
    /// The output LayerNorm.
    pub ln2: LnCache,
}

/// The forward pass of a batch with everything the backward pass reads.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The embedding LayerNorm.
    pub emb_ln: LnCache,
    /// Each layer, in order.
    pub layers: Vec<LayerCache>,
    /// The embeddings: one mean-pooled, L2-normalised row of `h` per sequence.
    pub emb: Vec<f32>,
    /// Each sequence's pooled norm as divided by (clamped to at least 1e-12), and whether it
    /// was clamped.
    pub norms: Vec<(f32, bool)>,
}

/// `x[rows × in] · w[in × out] + b`, the bias added after the product (the embed kernel's
/// order).
pub fn linear(path: Path, x: &[f32], rows: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    let mut y = path.mm(rows, out, w.len() / out, x, w);
    add_bias(path, &mut y, b);
    y
}

/// One (sequence, head)'s rows of `x` (`len × d`), copied out of the `rows × h` matrix.
pub fn head_rows(
    x: &[f32],
    h: usize,
    d: usize,
    (start, len): (usize, usize),
    hd: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; len * d];
    for i in 0..len {
        let r = (start + i) * h + hd * d;
        out[i * d..(i + 1) * d].copy_from_slice(&x[r..r + d]);
    }
    out
}

/// Writes a (sequence, head)'s `len × d` block back into the `rows × h` matrix.
pub fn put_head_rows(
    x: &mut [f32],
    part: &[f32],
    h: usize,
    d: usize,
    (start, len): (usize, usize),
    hd: usize,
) {
    for i in 0..len {
        let r = (start + i) * h + hd * d;
        x[r..r + d].copy_from_slice(&part[i * d..(i + 1) * d]);
    }
}

/// `[rows × cols]` into `[cols × rows]` (in 32 × 32 tiles, for the caches).
pub fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const T: usize = 32;
    let mut t = vec![0.0f32; a.len()];
    for r0 in (0..rows).step_by(T) {
        for c0 in (0..cols).step_by(T) {
            for r in r0..(r0 + T).min(rows) {
                for c in c0..(c0 + T).min(cols) {
                    t[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    t
}

/// Runs each (sequence, head) task of `n` on `path` (in parallel on the fast path; the
/// results are the same and come back in task order).
pub fn per_head<T: Send>(path: Path<'_>, n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    if path.parallel() {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}

/// The forward pass of `rows` through `m`.
pub fn forward(path: Path, m: &EmbedModel, rows: &Rows) -> Forward {
    let c = &m.config;
    let (h, heads, d) = (c.hidden_size, c.num_attention_heads, c.head_dim());
    let eps = c.layer_norm_eps as f32;
    let scale = (d as f32).sqrt();
    let n = rows.len();
    let mut x = vec![0.0f32; n * h];
    for (row, &(id, t)) in x.chunks_exact_mut(h).zip(&rows.tokens) {
        let w = &m.word[id as usize * h..(id as usize + 1) * h];
        let p = &m.position[t * h..(t + 1) * h];
        let ty = &m.token_type[..h];
        for j in 0..h {
            row[j] = (w[j] + ty[j]) + p[j];
        }
    }
    let emb_ln = ln_rows(path, &mut x, &m.emb_ln_w, &m.emb_ln_b, eps);
    let spans = &rows.spans;
    let mut layers = Vec::with_capacity(m.layers.len());
    for l in &m.layers {
        let q = linear(path, &x, n, &l.q_w, &l.q_b);
        let k = linear(path, &x, n, &l.k_w, &l.k_b);
        let v = linear(path, &x, n, &l.v_w, &l.v_b);
        let tasks = spans.len() * heads;
        let mut probs = per_head(path, tasks, |t| {
            let (span, hd) = (spans[t / heads], t % heads);
            let qh = head_rows(&q, h, d, span, hd);
            let kt = transpose(&head_rows(&k, h, d, span, hd), span.1, d);
            path.mm(span.1, span.1, d, &qh, &kt)
        });
        softmax_blocks(path, &mut probs, scale);
        let parts = per_head(path, tasks, |t| {
            let (span, hd) = (spans[t / heads], t % heads);
            let vh = head_rows(&v, h, d, span, hd);
            path.mm(span.1, d, span.1, &probs[t], &vh)
        });
        let mut ctx = vec![0.0f32; n * h];
        for (t, part) in parts.iter().enumerate() {
            put_head_rows(&mut ctx, part, h, d, spans[t / heads], t % heads);
        }
        let mut a = linear(path, &ctx, n, &l.o_w, &l.o_b);
        add(path, &mut a, &x);
        let ln1 = ln_rows(path, &mut a, &l.ln1_w, &l.ln1_b, eps);
        let ipre = linear(path, &a, n, &l.i_w, &l.i_b);
        let mut g = vec![0.0f32; ipre.len()];
        gelu_rows(path, &ipre, &mut g, ROWS * c.intermediate_size);
        let mut o = linear(path, &g, n, &l.out_w, &l.out_b);
        add(path, &mut o, &a);
        let ln2 = ln_rows(path, &mut o, &l.ln2_w, &l.ln2_b, eps);
        layers.push(LayerCache {
            x: std::mem::replace(&mut x, o),
            q,
            k,
            v,
            probs,
            ctx,
            ln1,
            a,
            ipre,
            g,
            ln2,
        });
    }
    let mut emb = Vec::with_capacity(spans.len() * h);
    let mut norms = Vec::with_capacity(spans.len());
    for &(start, len) in spans {
        let mut pooled = vec![0.0f32; h];
        for t in 0..len {
            for j in 0..h {
                pooled[j] += x[(start + t) * h + j];
            }
        }
        for p in pooled.iter_mut() {
            *p /= len as f32;
        }
        let norm = dot(&pooled, &pooled).sqrt();
        let clamped = !(norm > 1e-12); // NaN too, as the embed kernel
        let norm = if clamped { 1e-12 } else { norm };
        emb.extend(pooled.iter().map(|&p| canonicalize_f32(p / norm)));
        norms.push((norm, clamped));
    }
    Forward {
        emb_ln,
        layers,
        emb,
        norms,
    }
}
