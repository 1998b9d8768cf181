//! The decoder's forward pass over new tokens of one or more sequences, each with its own
//! key/value cache. Every value is computed from its own row and that sequence's cache in one
//! fixed order (docs/KERNELS.md, "generate"), so a token's logits have the same bits whether
//! its sequence was prefilled whole or decoded token by token, and whatever else is in the
//! batch:
//!
//! - products: one fused multiply-add chain per element, the reduced index ascending from
//!   `+0.0` (the crate's GEMM; a row's result does not depend on the other rows);
//! - RMSNorm: `ss` an FMA chain of `x²`, `r = √(ss / n + ε)`, `y = (x / r) · w`;
//! - RoPE: [`super::rope::Rope::rotate`], products rounded, then summed;
//! - attention of a query at position `p` (per head, its key/value head `hd / group`): keys
//!   `lo ..= p` (`lo = p + 1 − window` with a sliding window, else 0), `s_j = dot(q, k_j) ·
//!   scale` (an FMA chain; `scale = 1/√d` rounded once), max, `e_j = exp(s_j − max)` (the
//!   crate's `exp`), their sum in order, `p_j = e_j / sum`, `ctx = Σ_j p_j v_j` (FMA chains, j
//!   ascending);
//! - SwiGLU: `(g / (1 + exp(−g))) · u`; residuals added after each block.
use rayon::prelude::*;

#[cfg(feature = "cuda")]
use super::kernels;
use super::model::DecoderModel;
use crate::device::on_device;
use crate::gemm::cpu::{gemm_f32, gemm_f32_naive};
use crate::render::math::{exp, fma};
use crate::with_fma::with_fma;

/// Which path runs the pass (the same bits on each).
#[derive(Clone, Copy)]
pub enum Path<'a> {
    /// The plain reference: the naive GEMM, one thread.
    Plain,
    /// Parallel: the blocked GEMM (a row-streaming product for a few rows), rows and heads
    /// in parallel.
    Fast,
    /// A CUDA device (or, in tests, the host emulator of the same kernels): every pass
    /// through [`kernels`] but the embedding gather and the choice of a token. A pass the
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

/// Rows up to which the fast path streams the weights once for all rows instead of packing
/// them for the blocked GEMM (decoding: one row per sequence).
const STREAM_ROWS: usize = 16;
/// Columns per parallel task of the streaming product.
const STREAM_COLS: usize = 512;

with_fma! {
    /// `c[i][j0..j0+nb] = Σ_k a[i][k] · w[k][j0..]` for the rows of `a`: one FMA chain per
    /// element, k ascending from +0.0 (the GEMM's bits), the weights read once per k.
    fn stream_block(a: &[f32], w: &[f32], k: usize, n: usize, j0: usize, acc: &mut [f32]) {
        let m = a.len() / k;
        let nb = acc.len() / m;
        for kk in 0..k {
            let row = &w[kk * n + j0..kk * n + j0 + nb];
            for i in 0..m {
                let x = a[i * k + kk];
                let out = &mut acc[i * nb..(i + 1) * nb];
                for j in 0..nb {
                    out[j] = fma(x, row[j], out[j]);
                }
            }
        }
    }
}

impl Path<'_> {
    /// `a[m × k] · w[k × n]`.
    pub fn mm(self, m: usize, n: usize, k: usize, a: &[f32], w: &[f32]) -> Vec<f32> {
        on_device!(self, Path::Device, "generate: a product", |l| kernels::mm(
            l, m, n, k, a, w
        ));
        match self {
            Path::Plain => gemm_f32_naive(m, n, k, a, w),
            Path::Fast if m <= STREAM_ROWS && m > 0 && k > 0 => {
                let blocks: Vec<Vec<f32>> = (0..n.div_ceil(STREAM_COLS))
                    .into_par_iter()
                    .map(|b| {
                        let j0 = b * STREAM_COLS;
                        let nb = STREAM_COLS.min(n - j0);
                        let mut acc = vec![0.0f32; m * nb];
                        stream_block(a, w, k, n, j0, &mut acc);
                        acc
                    })
                    .collect();
                let mut c = vec![0.0f32; m * n];
                for (b, acc) in blocks.iter().enumerate() {
                    let j0 = b * STREAM_COLS;
                    let nb = acc.len() / m;
                    for i in 0..m {
                        c[i * n + j0..i * n + j0 + nb].copy_from_slice(&acc[i * nb..(i + 1) * nb]);
                    }
                }
                c
            }
            _ => gemm_f32(m, n, k, a, w),
        }
    }

    fn rows<T: Send>(self, n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
        match self {
            Path::Fast => (0..n).into_par_iter().map(f).collect(),
            _ => (0..n).map(f).collect(),
        }
    }
}

/// One sequence's keys and values, per layer (`len × kv_dim` each).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    /// Keys of each layer, position-major.
    pub k: Vec<Vec<f32>>,
    /// Values.
    pub v: Vec<Vec<f32>>,
    /// Positions held.
    pub len: usize,
}

impl KvCache {
    /// An empty cache for `layers` layers.
    pub fn new(layers: usize) -> Self {
        Self {
            k: vec![Vec::new(); layers],
            v: vec![Vec::new(); layers],
            len: 0,
        }
    }
}

with_fma! {
    /// RMSNorm of the rows of `x` into `y`.
    fn rms_rows(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) {
        let h = w.len();
        let n = h as f32;
        for (row, out) in x.chunks_exact(h).zip(y.chunks_exact_mut(h)) {
            let mut ss = 0.0f32;
            for &v in row {
                ss = fma(v, v, ss);
            }
            let r = (ss / n + eps).sqrt();
            for j in 0..h {
                out[j] = (row[j] / r) * w[j];
            }
        }
    }
}

/// RMSNorm of every row (rows in parallel on the fast path).
fn rms_norm(path: Path, x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    on_device!(path, Path::Device, "generate: an RMSNorm", |l| {
        kernels::rms_norm(l, x, w, eps)
    });
    let h = w.len();
    let mut y = vec![0.0f32; x.len()];
    match path {
        Path::Fast => y
            .par_chunks_mut(32 * h)
            .zip(x.par_chunks(32 * h))
            .for_each(|(y, x)| rms_rows(x, w, eps, y)),
        _ => rms_rows(x, w, eps, &mut y),
    }
    y
}

/// `g ← (g / (1 + exp(−g))) · u`.
fn swiglu_rows(path: Path, g: &mut [f32], u: &[f32]) {
    on_device!(path, Path::Device, "generate: SwiGLU", |l| kernels::swiglu(
        l, g, u
    ));
    swiglu(g, u);
}

/// RoPE on every head of every row of `x` (`width` per row), row `r` at `pos[r]`.
fn rope_rows(path: Path, m: &DecoderModel, x: &mut [f32], pos: &[u32], width: usize) {
    let d = m.config.head_dim;
    on_device!(path, Path::Device, "generate: RoPE", |l| kernels::rope(
        l,
        x,
        &m.rope.cos,
        &m.rope.sin,
        pos,
        width,
        d / 2
    ));
    for (row, &p) in x.chunks_exact_mut(width).zip(pos) {
        for head in row.chunks_exact_mut(d) {
            m.rope.rotate(head, p as usize);
        }
    }
}

with_fma! {
    /// `g ← (g / (1 + exp(−g))) · u` element by element.
    fn swiglu(g: &mut [f32], u: &[f32]) {
        for (gv, &uv) in g.iter_mut().zip(u) {
            *gv = (*gv / (1.0 + exp(-*gv))) * uv;
        }
    }
}

with_fma! {
    /// One query row of one head against its sequence's keys `lo ..= p`: the context row.
    #[allow(clippy::too_many_arguments)]
    fn attend(q: &[f32], keys: &[f32], values: &[f32], stride: usize, off: usize, lo: usize, p: usize, scale: f32, out: &mut [f32]) {
        let d = q.len();
        let mut s = Vec::with_capacity(p + 1 - lo);
        let mut m = f32::NEG_INFINITY;
        for j in lo..=p {
            let kj = &keys[j * stride + off..j * stride + off + d];
            let mut acc = 0.0f32;
            for e in 0..d {
                acc = fma(q[e], kj[e], acc);
            }
            let v = acc * scale;
            if v > m {
                m = v;
            }
            s.push(v);
        }
        let mut sum = 0.0f32;
        for v in s.iter_mut() {
            *v = exp(*v - m);
            sum += *v;
        }
        for v in s.iter_mut() {
            *v /= sum;
        }
        for o in out.iter_mut() {
            *o = 0.0;
        }
        for (i, j) in (lo..=p).enumerate() {
            let vj = &values[j * stride + off..j * stride + off + d];
            let pj = s[i];
            for e in 0..d {
                out[e] = fma(pj, vj[e], out[e]);
            }
        }
    }
}

/// `y[r] += b` for every row.
fn add_bias(path: Path, y: &mut [f32], b: &[f32]) {
    on_device!(path, Path::Device, "generate: a bias", |l| {
        kernels::add_bias(l, y, b)
    });
    for row in y.chunks_exact_mut(b.len()) {
        for (v, bv) in row.iter_mut().zip(b) {
            *v += *bv;
        }
    }
}

/// `a += b`.
fn add(path: Path, a: &mut [f32], b: &[f32]) {
    on_device!(
        path,
        Path::Device,
        "generate: a residual",
        |l| kernels::add(l, a, b)
    );
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// The attention of every new row over its sequence's cache at layer `li`: the context
/// rows, `q_dim` each. `rows[r] = (batch item, position)`.
fn attention_rows(
    path: Path,
    m: &DecoderModel,
    caches: &[KvCache],
    batch: &[(usize, &[u32])],
    rows: &[(usize, usize)],
    li: usize,
    q: &[f32],
) -> Vec<f32> {
    let c = &m.config;
    let (d, q_dim, kv_dim) = (c.head_dim, c.q_dim(), c.kv_dim());
    let group = c.num_attention_heads / c.num_key_value_heads;
    let scale = (1.0 / (d as f64).sqrt()) as f32;
    let lo_of = |p: usize| c.sliding_window.map_or(0, |w| (p + 1).saturating_sub(w));
    on_device!(path, Path::Device, "generate: attention", |l| {
        // the caches of the batch's sequences side by side, each row's span in them
        let (mut keys, mut values, mut first) = (Vec::new(), Vec::new(), Vec::new());
        for &(ci, _) in batch {
            first.push(keys.len() / kv_dim);
            keys.extend_from_slice(&caches[ci].k[li]);
            values.extend_from_slice(&caches[ci].v[li]);
        }
        let items: Vec<(usize, usize, usize)> =
            rows.iter().map(|&(b, p)| (first[b], lo_of(p), p)).collect();
        kernels::attention(
            l,
            q,
            &keys,
            &values,
            &items,
            (q_dim, kv_dim, d, c.num_attention_heads, group),
            scale,
        )
    });
    path.rows(rows.len(), |r| {
        let (b, p) = rows[r];
        let cache = &caches[batch[b].0];
        let mut out = vec![0.0f32; q_dim];
        for hd in 0..c.num_attention_heads {
            let off = (hd / group) * d;
            attend(
                &q[r * q_dim + hd * d..r * q_dim + (hd + 1) * d],
                &cache.k[li],
                &cache.v[li],
                kv_dim,
                off,
                lo_of(p),
                p,
                scale,
                &mut out[hd * d..(hd + 1) * d],
            );
        }
        out
    })
    .concat()
}

/// Which rows' logits to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// The last new row of each sequence (generation).
    Last,
    /// Every new row (checks).
    All,
}

/// Runs `batch` — `(cache index, new tokens)` per sequence, each cache's positions
/// continuing — through `m`, appending to the caches. Returns the logits of the rows
/// `which` names, in batch order (`vocab` values each). Token ids and lengths are the
/// caller's to check (`super::job`).
pub fn forward(
    path: Path,
    m: &DecoderModel,
    caches: &mut [KvCache],
    batch: &[(usize, &[u32])],
    which: Logits,
) -> Vec<Vec<f32>> {
    let c = &m.config;
    let h = c.hidden_size;
    let (q_dim, kv_dim, inter) = (c.q_dim(), c.kv_dim(), c.intermediate_size);
    let eps = c.rms_norm_eps;
    // rows: (batch item, position)
    let mut rows: Vec<(usize, usize)> = Vec::new();
    for (b, &(ci, toks)) in batch.iter().enumerate() {
        let start = caches[ci].len;
        rows.extend((0..toks.len()).map(|t| (b, start + t)));
    }
    let n = rows.len();
    let pos: Vec<u32> = rows.iter().map(|&(_, p)| p as u32).collect();
    let mut x = Vec::with_capacity(n * h);
    for &(_, toks) in batch {
        for &t in toks {
            x.extend_from_slice(&m.embed[t as usize * h..(t as usize + 1) * h]);
        }
    }
    for (li, l) in m.layers.iter().enumerate() {
        let xn = rms_norm(path, &x, &l.attn_norm, eps);
        let mut q = path.mm(n, q_dim, h, &xn, &l.q_w);
        let mut k = path.mm(n, kv_dim, h, &xn, &l.k_w);
        let mut v = path.mm(n, kv_dim, h, &xn, &l.v_w);
        if let Some([qb, kb, vb]) = &l.qkv_b {
            add_bias(path, &mut q, qb);
            add_bias(path, &mut k, kb);
            add_bias(path, &mut v, vb);
        }
        rope_rows(path, m, &mut q, &pos, q_dim);
        rope_rows(path, m, &mut k, &pos, kv_dim);
        // the new keys and values join their caches, in row order
        let mut r = 0;
        for &(ci, toks) in batch {
            let cache = &mut caches[ci];
            let span = r * kv_dim..(r + toks.len()) * kv_dim;
            cache.k[li].extend_from_slice(&k[span.clone()]);
            cache.v[li].extend_from_slice(&v[span]);
            r += toks.len();
        }
        let ctx = attention_rows(path, m, caches, batch, &rows, li, &q);
        let mut o = path.mm(n, h, q_dim, &ctx, &l.o_w);
        if let Some(ob) = &l.o_b {
            add_bias(path, &mut o, ob);
        }
        add(path, &mut x, &o);
        let xn = rms_norm(path, &x, &l.mlp_norm, eps);
        let mut g = path.mm(n, inter, h, &xn, &l.gate_w);
        let u = path.mm(n, inter, h, &xn, &l.up_w);
        swiglu_rows(path, &mut g, &u);
        let dn = path.mm(n, h, inter, &g, &l.down_w);
        add(path, &mut x, &dn);
    }
    for &(ci, toks) in batch {
        caches[ci].len += toks.len();
    }
    // the rows whose logits are wanted
    let mut pick = Vec::new();
    let mut r = 0;
    for &(_, toks) in batch {
        match which {
            Logits::All => pick.extend(r..r + toks.len()),
            Logits::Last if !toks.is_empty() => pick.push(r + toks.len() - 1),
            Logits::Last => {}
        }
        r += toks.len();
    }
    let sel: Vec<f32> = pick
        .iter()
        .flat_map(|&r| x[r * h..(r + 1) * h].iter().copied())
        .collect();
    let xn = rms_norm(path, &sel, &m.norm, eps);
    let vocab = c.vocab_size;
    let logits = path.mm(pick.len(), vocab, h, &xn, &m.lm_head);
    logits.chunks_exact(vocab).map(<[f32]>::to_vec).collect()
}
