//! The encoder forward pass on a CUDA device (docs/KERNELS.md, "embed on CUDA"): bit-identical
//! to [`super::cpu::embed_one`] on every sequence.
//!
//! The batch is flattened into one matrix of every sequence's tokens (row `r` = token `r` of
//! the concatenated sequences; no padding), so a whole batch takes 2 + 9 × layers launches:
//!
//! 1. `tessera_embed_tokens`: word + token type 0, + position, LayerNorm → `x`;
//! 2. per layer: the fixed-order f32 GEMM (`tessera_gemm_f32`, the CPU's fused multiply-add
//!    chain per element) `x · [Wq | Wk | Wv]` → `qkv` (the three projections side by side, one
//!    product; each element's chain is the one its own projection would run),
//!    `tessera_embed_bias`, `tessera_embed_attention` (each sequence attends only to its own
//!    rows) → `ctx`, GEMM `ctx · Wo` → `a`, `tessera_embed_add_ln` (+ bias, + `x`, LayerNorm),
//!    GEMM `a · Wi` → `inter`, `tessera_embed_bias_gelu`, GEMM `inter · Wout` → `x`,
//!    `tessera_embed_add_ln` (+ bias, + `a`, LayerNorm);
//! 3. `tessera_embed_pool`: mean over each sequence's rows, L2 normalisation, NaN canonical.
//!
//! The launch shapes and the host-side tables (`plan`, `fused_qkv`, the `*_config`
//! functions) are shared with the host emulator (`cuda::emu::embed`), which runs the same
//! launches of the same `.cu` source on the CPU in tests. The weights are uploaded on every
//! call (an [`EmbedModel`] carries no identity a device cache could be keyed by soundly).
use std::time::Instant;

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::model::{BertConfig, EmbedModel, Layer};
use crate::cuda::{guard, CudaDevice};
use crate::error::{ComputeError, Result};
use crate::gemm::cuda::f32_config;
use crate::inference::cuda::elementwise_cfg;
use crate::limits::Limits;

/// Threads of a row-kernel block (`EMB_ROW_THREADS` in `embed.cu`): one warp per row.
pub(crate) const ROW_THREADS: u32 = 128;
/// Rows per row-kernel block (`EMB_ROWS_PER_BLOCK`).
pub(crate) const ROWS_PER_BLOCK: usize = 4;
/// Threads of an attention block (`EMB_ATT_THREADS`).
pub(crate) const ATT_THREADS: u32 = 256;
/// Scores an attention block holds in shared memory (`EMB_ATT_SCAP`): queries × keys of its
/// work item. At least the longest sequence a model may declare (8192 positions).
pub(crate) const ATT_SCAP: usize = 8192;
/// Queries per attention work item at most (`EMB_ATT_QMAX`).
pub(crate) const ATT_QMAX: usize = 16;
/// Threads of a pooling block (`EMB_POOL_THREADS`).
pub(crate) const POOL_THREADS: u32 = 128;
/// Most rows (tokens) of one batch: the GEMM grid has `⌈rows / 128⌉ ≤ 65 535` rows of tiles.
pub(crate) const MAX_ROWS: usize = 65_535 * 128;

/// Queries per attention work item for a sequence of `len` tokens: as many as fit the
/// block's scores (`qn · len ≤ ATT_SCAP`), at most [`ATT_QMAX`].
pub(crate) fn queries_per_item(len: usize) -> usize {
    (ATT_SCAP / len.max(1)).clamp(1, ATT_QMAX)
}

/// Attention work items of a sequence of `len` tokens.
fn items_of(len: usize) -> usize {
    len.div_ceil(queries_per_item(len))
}

/// The host-side tables of one batch, uploaded as is.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Tokens of the batch (rows of every activation matrix).
    pub rows: usize,
    /// Token id of each row.
    pub ids: Vec<u32>,
    /// Position of each row within its sequence.
    pub pos: Vec<u32>,
    /// First row of each sequence.
    pub seq_start: Vec<u32>,
    /// Length of each sequence.
    pub seq_len: Vec<u32>,
    /// Attention work items, 4 u32 each: first row of the sequence, its length, first query
    /// (relative), query count.
    pub items: Vec<u32>,
}

impl Plan {
    /// Attention work items.
    pub fn n_items(&self) -> usize {
        self.items.len() / 4
    }
}

/// The tables of `seqs` (each 1 ..= [`ATT_SCAP`] tokens, at most [`MAX_ROWS`] in all).
pub(crate) fn plan(seqs: &[Vec<u32>]) -> Result<Plan> {
    let rows: usize = seqs.iter().map(Vec::len).sum();
    if rows > MAX_ROWS {
        return Err(ComputeError::TooLarge(format!(
            "{rows} tokens in one embed batch, at most {MAX_ROWS} on a GPU"
        )));
    }
    let mut p = Plan {
        rows,
        ids: Vec::with_capacity(rows),
        pos: Vec::with_capacity(rows),
        seq_start: Vec::with_capacity(seqs.len()),
        seq_len: Vec::with_capacity(seqs.len()),
        items: Vec::new(),
    };
    for (i, s) in seqs.iter().enumerate() {
        let len = s.len();
        if len == 0 || len > ATT_SCAP {
            return Err(ComputeError::InvalidInput(format!(
                "sequence {i} has {len} tokens (1 ..= {ATT_SCAP} on a GPU)"
            )));
        }
        let start = p.ids.len() as u32;
        p.seq_start.push(start);
        p.seq_len.push(len as u32);
        p.ids.extend_from_slice(s);
        p.pos.extend(0..len as u32);
        let qn = queries_per_item(len);
        let mut q0 = 0;
        while q0 < len {
            let n = qn.min(len - q0);
            p.items
                .extend_from_slice(&[start, len as u32, q0 as u32, n as u32]);
            q0 += n;
        }
    }
    Ok(p)
}

fn blocks(n: usize, max: usize, what: &str) -> Result<u32> {
    if n == 0 || n > max {
        return Err(ComputeError::TooLarge(format!(
            "{what}: {n} blocks do not fit a CUDA grid"
        )));
    }
    Ok(n as u32)
}

/// Launch shape of the row kernels (`tessera_embed_tokens`, `tessera_embed_add_ln`).
pub(crate) fn rows_config(rows: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid_dim: (
            blocks(
                rows.div_ceil(ROWS_PER_BLOCK),
                i32::MAX as usize,
                "embed rows",
            )?,
            1,
            1,
        ),
        block_dim: (ROW_THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Launch shape of `tessera_embed_attention`: work items × heads.
pub(crate) fn attention_config(items: usize, heads: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid_dim: (
            blocks(items, i32::MAX as usize, "embed attention grid.x")?,
            blocks(heads, 65_535, "embed attention grid.y")?,
            1,
        ),
        block_dim: (ATT_THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Launch shape of `tessera_embed_pool`: one block per sequence.
pub(crate) fn pool_config(seqs: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid_dim: (blocks(seqs, i32::MAX as usize, "embed pooling")?, 1, 1),
        block_dim: (POOL_THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// The q, k and v projections of `l` side by side: `[h, 3h]` weights (row `i` is row `i` of
/// `q_w`, then of `k_w`, then of `v_w`) and the `3h` biases in the same order.
pub(crate) fn fused_qkv(l: &Layer, h: usize) -> (Vec<f32>, Vec<f32>) {
    let mut w = Vec::with_capacity(3 * h * h);
    for i in 0..h {
        for m in [&l.q_w, &l.k_w, &l.v_w] {
            w.extend_from_slice(&m[i * h..(i + 1) * h]);
        }
    }
    let b = [&l.q_b[..], &l.k_b[..], &l.v_b[..]].concat();
    (w, b)
}

/// `√d` as the spec computes it (f32 square root of the head size as f32).
pub(crate) fn attention_scale(c: &BertConfig) -> f32 {
    (c.head_dim() as f32).sqrt()
}

/// Columns of the scratch matrix that holds `qkv` and later the feed-forward activations.
pub(crate) fn scratch_cols(c: &BertConfig) -> usize {
    (3 * c.hidden_size).max(c.intermediate_size)
}

/// Refuses a model whose tensors do not have the sizes its config implies (a parsed blob
/// always does; the fields are public).
pub(crate) fn check_model(m: &EmbedModel) -> Result<()> {
    let c = &m.config;
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let bad = |what: &str, len: usize, want: usize| {
        Err(ComputeError::Model(format!(
            "embed model: {what} holds {len} values, the config needs {want}"
        )))
    };
    let mut checks = vec![
        ("word embeddings", m.word.len(), c.vocab_size * h),
        (
            "position embeddings",
            m.position.len(),
            c.max_position_embeddings * h,
        ),
        ("embedding LayerNorm weight", m.emb_ln_w.len(), h),
        ("embedding LayerNorm bias", m.emb_ln_b.len(), h),
        ("layers", m.layers.len(), c.num_hidden_layers),
    ];
    for l in &m.layers {
        checks.extend([
            ("query weight", l.q_w.len(), h * h),
            ("key weight", l.k_w.len(), h * h),
            ("value weight", l.v_w.len(), h * h),
            ("attention output weight", l.o_w.len(), h * h),
            ("intermediate weight", l.i_w.len(), h * i),
            ("output weight", l.out_w.len(), i * h),
            ("intermediate bias", l.i_b.len(), i),
        ]);
        for (what, v) in [
            ("query bias", &l.q_b),
            ("key bias", &l.k_b),
            ("value bias", &l.v_b),
            ("attention output bias", &l.o_b),
            ("output bias", &l.out_b),
            ("LayerNorm 1 weight", &l.ln1_w),
            ("LayerNorm 1 bias", &l.ln1_b),
            ("LayerNorm 2 weight", &l.ln2_w),
            ("LayerNorm 2 bias", &l.ln2_b),
        ] {
            checks.push((what, v.len(), h));
        }
    }
    for (what, len, want) in checks {
        if len != want {
            return bad(what, len, want);
        }
    }
    if m.token_type.len() < h {
        return bad("token type embeddings", m.token_type.len(), h);
    }
    Ok(())
}

/// Peak device memory in bytes of [`CudaDevice::embed_forward`] for a model of config `c`
/// and sequences of `token_counts` tokens: the weights (word and position tables, token type
/// row 0, every layer with q|k|v fused), the activations (`x`, `ctx`, `a`: rows × hidden each;
/// one scratch of rows × max(3·hidden, intermediate) for `qkv` and then the feed-forward; the
/// output), and the token and work-item tables. A pure function, so a worker can refuse a job
/// before it takes it. Saturates instead of overflowing.
pub fn embed_device_bytes(c: &BertConfig, token_counts: &[usize]) -> u64 {
    let h = c.hidden_size as u64;
    let i = c.intermediate_size as u64;
    let per_layer = h
        .saturating_mul(h)
        .saturating_mul(4)
        .saturating_add(h.saturating_mul(i).saturating_mul(2))
        .saturating_add(i)
        .saturating_add(h.saturating_mul(9));
    let tables = (c.vocab_size as u64)
        .saturating_add(c.max_position_embeddings as u64)
        .saturating_add(3)
        .saturating_mul(h);
    let weights = tables.saturating_add(per_layer.saturating_mul(c.num_hidden_layers as u64));
    let rows = token_counts
        .iter()
        .fold(0u64, |a, &l| a.saturating_add(l as u64));
    let seqs = token_counts.len() as u64;
    let items = token_counts
        .iter()
        .fold(0u64, |a, &l| a.saturating_add(items_of(l) as u64));
    let acts = rows
        .saturating_mul(h.saturating_mul(3).saturating_add(scratch_cols(c) as u64))
        .saturating_add(seqs.saturating_mul(h));
    let ints = rows
        .saturating_mul(2)
        .saturating_add(seqs.saturating_mul(2))
        .saturating_add(items.saturating_mul(4));
    weights
        .saturating_add(acts)
        .saturating_add(ints)
        .saturating_mul(4)
}

/// The GEMM shapes `(m, n, k)` of one encoder layer over `rows` tokens, in launch order
/// (for comparisons, e.g. with cuBLAS, in the benchmark).
pub fn embed_gemm_shapes(c: &BertConfig, rows: usize) -> [(usize, usize, usize); 4] {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    [(rows, 3 * h, h), (rows, h, h), (rows, i, h), (rows, h, i)]
}

/// Seconds spent by [`CudaDevice::embed_forward_timed`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedTimes {
    /// Uploading the weights (once per call).
    pub upload_s: f64,
    /// One forward pass with weights and tokens resident (mean of the timed repetitions):
    /// every launch, no transfers.
    pub forward_s: f64,
    /// The GEMM launches of one forward pass alone (same shapes, same buffers).
    pub gemm_s: f64,
}

struct DevLayer {
    qkv_w: CudaSlice<f32>,
    qkv_b: CudaSlice<f32>,
    o_w: CudaSlice<f32>,
    o_b: CudaSlice<f32>,
    ln1_w: CudaSlice<f32>,
    ln1_b: CudaSlice<f32>,
    i_w: CudaSlice<f32>,
    i_b: CudaSlice<f32>,
    out_w: CudaSlice<f32>,
    out_b: CudaSlice<f32>,
    ln2_w: CudaSlice<f32>,
    ln2_b: CudaSlice<f32>,
}

struct DevModel {
    word: CudaSlice<f32>,
    position: CudaSlice<f32>,
    type0: CudaSlice<f32>,
    ln_w: CudaSlice<f32>,
    ln_b: CudaSlice<f32>,
    layers: Vec<DevLayer>,
}

struct DevBatch {
    ids: CudaSlice<u32>,
    pos: CudaSlice<u32>,
    seq_start: CudaSlice<u32>,
    seq_len: CudaSlice<u32>,
    items: CudaSlice<u32>,
    x: CudaSlice<f32>,
    ctx: CudaSlice<f32>,
    a: CudaSlice<f32>,
    scratch: CudaSlice<f32>,
    out: CudaSlice<f32>,
}

impl CudaDevice {
    /// Embeds every sequence of `seqs` (token ids, 1 ..= `max_position_embeddings` each):
    /// `seqs.len() × hidden_size` f32, the bits of [`super::cpu::embed_one`] on each.
    /// Refuses a batch whose working set ([`embed_device_bytes`]) does not fit the free VRAM
    /// before allocating anything.
    pub fn embed_forward(
        &self,
        model: &EmbedModel,
        seqs: &[Vec<u32>],
        limits: &Limits,
    ) -> Result<Vec<f32>> {
        Ok(self.embed_forward_timed(model, seqs, limits, 0)?.0)
    }

    /// [`CudaDevice::embed_forward`], then `iters` timed forward passes with everything
    /// resident and `iters` runs of the GEMM launches alone (benchmark).
    pub fn embed_forward_timed(
        &self,
        model: &EmbedModel,
        seqs: &[Vec<u32>],
        limits: &Limits,
        iters: usize,
    ) -> Result<(Vec<f32>, EmbedTimes)> {
        super::job::check_sequences(model, seqs)?;
        check_model(model)?;
        if seqs.is_empty() {
            return Ok((Vec::new(), EmbedTimes::default()));
        }
        let plan = plan(seqs)?;
        let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
        let need = embed_device_bytes(&model.config, &lens);
        guard("embed_forward", || {
            let _l = self.lock();
            self.check_vram(need, limits)?;
            let s = &self.stream;
            let t = Instant::now();
            let dm = self.embed_upload_model(model)?;
            s.synchronize()?;
            let mut times = EmbedTimes {
                upload_s: t.elapsed().as_secs_f64(),
                ..EmbedTimes::default()
            };
            let mut db = self.embed_upload_batch(&model.config, &plan)?;
            self.embed_launches(&dm, &mut db, &model.config, &plan, false)?;
            let out = s.clone_dtoh(&db.out)?;
            if iters > 0 {
                for (gemm_only, slot) in [(false, &mut times.forward_s), (true, &mut times.gemm_s)]
                {
                    s.synchronize()?;
                    let t = Instant::now();
                    for _ in 0..iters {
                        self.embed_launches(&dm, &mut db, &model.config, &plan, gemm_only)?;
                    }
                    s.synchronize()?;
                    *slot = t.elapsed().as_secs_f64() / iters as f64;
                }
            }
            Ok((out, times))
        })
    }

    fn embed_upload_model(&self, m: &EmbedModel) -> Result<DevModel> {
        let s = &self.stream;
        let h = m.config.hidden_size;
        let mut layers = Vec::with_capacity(m.layers.len());
        for l in &m.layers {
            let (qkv_w, qkv_b) = fused_qkv(l, h);
            layers.push(DevLayer {
                qkv_w: s.clone_htod(&qkv_w[..])?,
                qkv_b: s.clone_htod(&qkv_b[..])?,
                o_w: s.clone_htod(&l.o_w[..])?,
                o_b: s.clone_htod(&l.o_b[..])?,
                ln1_w: s.clone_htod(&l.ln1_w[..])?,
                ln1_b: s.clone_htod(&l.ln1_b[..])?,
                i_w: s.clone_htod(&l.i_w[..])?,
                i_b: s.clone_htod(&l.i_b[..])?,
                out_w: s.clone_htod(&l.out_w[..])?,
                out_b: s.clone_htod(&l.out_b[..])?,
                ln2_w: s.clone_htod(&l.ln2_w[..])?,
                ln2_b: s.clone_htod(&l.ln2_b[..])?,
            });
        }
        Ok(DevModel {
            word: s.clone_htod(&m.word[..])?,
            position: s.clone_htod(&m.position[..])?,
            type0: s.clone_htod(&m.token_type[..h])?,
            ln_w: s.clone_htod(&m.emb_ln_w[..])?,
            ln_b: s.clone_htod(&m.emb_ln_b[..])?,
            layers,
        })
    }

    fn embed_upload_batch(&self, c: &BertConfig, p: &Plan) -> Result<DevBatch> {
        let s = &self.stream;
        let (rows, h) = (p.rows, c.hidden_size);
        Ok(DevBatch {
            ids: s.clone_htod(&p.ids[..])?,
            pos: s.clone_htod(&p.pos[..])?,
            seq_start: s.clone_htod(&p.seq_start[..])?,
            seq_len: s.clone_htod(&p.seq_len[..])?,
            items: s.clone_htod(&p.items[..])?,
            x: s.alloc_zeros::<f32>(rows * h)?,
            ctx: s.alloc_zeros::<f32>(rows * h)?,
            a: s.alloc_zeros::<f32>(rows * h)?,
            scratch: s.alloc_zeros::<f32>(rows * scratch_cols(c))?,
            out: s.alloc_zeros::<f32>(p.seq_len.len() * h)?,
        })
    }

    /// `c = a · b` (`m×k · k×n`) by `tessera_gemm_f32` on device buffers.
    fn embed_gemm(
        &self,
        a: &CudaSlice<f32>,
        b: &CudaSlice<f32>,
        c: &mut CudaSlice<f32>,
        (m, n, k): (usize, usize, usize),
    ) -> Result<()> {
        let cfg = f32_config(m, n)?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let mut l = self.stream.launch_builder(&self.funcs.gemm_f32);
        l.arg(a).arg(b).arg(c).arg(&mi).arg(&ni).arg(&ki);
        // SAFETY: tessera_gemm_f32(A, B, C, M, N, K); A holds ≥ m·k, B k·n and C ≥ m·n values
        // (the callers' buffers, sized by `embed_upload_batch`), every access is bounds-checked.
        unsafe { l.launch(cfg) }?;
        Ok(())
    }

    /// The launches of one forward pass (see the module docs); with `gemm_only` just the
    /// GEMMs (timing).
    fn embed_launches(
        &self,
        dm: &DevModel,
        db: &mut DevBatch,
        c: &BertConfig,
        p: &Plan,
        gemm_only: bool,
    ) -> Result<()> {
        let s = &self.stream;
        let (rows, h, inter) = (p.rows, c.hidden_size, c.intermediate_size);
        let (ri, hi, ii, h3) = (rows as i32, h as i32, inter as i32, 3 * h as i32);
        let di = c.head_dim() as i32;
        let eps = c.layer_norm_eps as f32;
        let scale = attention_scale(c);
        let row_cfg = rows_config(rows)?;
        let [qkv_shape, o_shape, i_shape, out_shape] = embed_gemm_shapes(c, rows);
        if !gemm_only {
            let mut l = s.launch_builder(&self.funcs.embed_tokens);
            l.arg(&db.ids)
                .arg(&db.pos)
                .arg(&dm.word)
                .arg(&dm.type0)
                .arg(&dm.position)
                .arg(&dm.ln_w)
                .arg(&dm.ln_b)
                .arg(&mut db.x)
                .arg(&ri)
                .arg(&hi)
                .arg(&eps);
            // SAFETY: (ids, pos, word, type0, position, ln_w, ln_b, x, rows, h, eps): ids and pos
            // hold `rows` entries checked against the tables' sizes (`check_sequences`,
            // `check_model`); x holds rows·h.
            unsafe { l.launch(row_cfg) }?;
        }
        for l in &dm.layers {
            self.embed_gemm(&db.x, &l.qkv_w, &mut db.scratch, qkv_shape)?;
            if !gemm_only {
                let mut b = s.launch_builder(&self.funcs.embed_bias);
                b.arg(&mut db.scratch).arg(&l.qkv_b).arg(&ri).arg(&h3);
                // SAFETY: (y, bias, rows, cols): scratch holds ≥ rows·3h, bias 3h.
                unsafe { b.launch(elementwise_cfg(rows * 3 * h)?) }?;
                let mut b = s.launch_builder(&self.funcs.embed_attention);
                b.arg(&db.scratch)
                    .arg(&db.items)
                    .arg(&mut db.ctx)
                    .arg(&hi)
                    .arg(&di)
                    .arg(&scale);
                // SAFETY: (qkv, items, ctx, h, d, scale): every item lies within its sequence's
                // rows (`plan`) with qn·len ≤ EMB_ATT_SCAP; qkv is rows × 3h, ctx rows × h.
                unsafe { b.launch(attention_config(p.n_items(), c.num_attention_heads)?) }?;
            }
            self.embed_gemm(&db.ctx, &l.o_w, &mut db.a, o_shape)?;
            if !gemm_only {
                let mut b = s.launch_builder(&self.funcs.embed_add_ln);
                b.arg(&mut db.a)
                    .arg(&l.o_b)
                    .arg(&db.x)
                    .arg(&l.ln1_w)
                    .arg(&l.ln1_b)
                    .arg(&ri)
                    .arg(&hi)
                    .arg(&eps);
                // SAFETY: (y, bias, res, ln_w, ln_b, rows, h, eps): y and res rows × h.
                unsafe { b.launch(row_cfg) }?;
            }
            self.embed_gemm(&db.a, &l.i_w, &mut db.scratch, i_shape)?;
            if !gemm_only {
                let mut b = s.launch_builder(&self.funcs.embed_bias_gelu);
                b.arg(&mut db.scratch).arg(&l.i_b).arg(&ri).arg(&ii);
                // SAFETY: (y, bias, rows, cols): scratch holds ≥ rows·inter, bias inter.
                unsafe { b.launch(elementwise_cfg(rows * inter)?) }?;
            }
            self.embed_gemm(&db.scratch, &l.out_w, &mut db.x, out_shape)?;
            if !gemm_only {
                let mut b = s.launch_builder(&self.funcs.embed_add_ln);
                b.arg(&mut db.x)
                    .arg(&l.out_b)
                    .arg(&db.a)
                    .arg(&l.ln2_w)
                    .arg(&l.ln2_b)
                    .arg(&ri)
                    .arg(&hi)
                    .arg(&eps);
                // SAFETY: as above.
                unsafe { b.launch(row_cfg) }?;
            }
        }
        if !gemm_only {
            let mut b = s.launch_builder(&self.funcs.embed_pool);
            b.arg(&db.x)
                .arg(&db.seq_start)
                .arg(&db.seq_len)
                .arg(&mut db.out)
                .arg(&hi);
            // SAFETY: (x, seq_start, seq_len, out, h): one block per sequence, its rows within
            // x (`plan`); out holds seqs × h.
            unsafe { b.launch(pool_config(p.seq_len.len())?) }?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testcases::EMBED_CASES;

    /// The launch constants here are the `#define`s the kernels are compiled with.
    #[test]
    fn launch_constants_match_the_kernel_source() {
        let src = crate::cuda::EMBED_CU;
        let define = |name: &str| -> usize {
            let line = src
                .lines()
                .find(|l| l.starts_with(&format!("#define {name} ")))
                .unwrap_or_else(|| panic!("embed.cu lacks #define {name}"));
            line.split_whitespace().nth(2).unwrap().parse().unwrap()
        };
        assert_eq!(define("EMB_ROW_THREADS"), ROW_THREADS as usize);
        assert_eq!(define("EMB_ROWS_PER_BLOCK"), ROWS_PER_BLOCK);
        assert_eq!(define("EMB_ROW_THREADS"), 32 * ROWS_PER_BLOCK);
        assert_eq!(define("EMB_ATT_THREADS"), ATT_THREADS as usize);
        assert_eq!(define("EMB_ATT_SCAP"), ATT_SCAP);
        assert_eq!(define("EMB_ATT_QMAX"), ATT_QMAX);
        assert_eq!(define("EMB_POOL_THREADS"), POOL_THREADS as usize);
    }

    /// Every query of every sequence is in exactly one work item, within its sequence, and
    /// no item holds more scores than a block has room for.
    #[test]
    fn attention_items_tile_every_sequence() {
        let lens = [
            1usize, 2, 15, 16, 17, 511, 512, 513, 600, 1000, 2048, 4097, 8191, 8192,
        ];
        let seqs: Vec<Vec<u32>> = lens.iter().map(|&l| vec![0; l]).collect();
        let p = plan(&seqs).unwrap();
        assert_eq!(p.rows, lens.iter().sum::<usize>());
        let mut covered = vec![0u32; p.rows];
        for it in p.items.as_chunks::<4>().0 {
            let [start, len, q0, qn] = it.map(|v| v as usize);
            let s = p
                .seq_start
                .iter()
                .position(|&x| x as usize == start)
                .unwrap();
            assert_eq!(p.seq_len[s] as usize, len);
            assert!((1..=ATT_QMAX).contains(&qn) && qn * len <= ATT_SCAP && q0 + qn <= len);
            for q in q0..q0 + qn {
                covered[start + q] += 1;
            }
        }
        assert!(covered.iter().all(|&c| c == 1));
        assert_eq!(
            p.n_items(),
            lens.iter().map(|&l| items_of(l)).sum::<usize>()
        );
        assert!(plan(&[vec![0; ATT_SCAP + 1]]).is_err());
        assert!(plan(&[vec![]]).is_err());
    }

    /// The byte count is what `embed_forward` allocates, grows with the batch, and saturates.
    #[test]
    fn device_bytes_count_every_buffer() {
        let (shape, lens) = EMBED_CASES[1];
        let m = crate::testcases::random_embed_model(&shape, 1);
        let c = &m.config;
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let seqs: Vec<Vec<u32>> = lens.iter().map(|&l| vec![0; l]).collect();
        let p = plan(&seqs).unwrap();
        let weights = m.word.len()
            + m.position.len()
            + 3 * h
            + m.layers.len() * (4 * h * h + 2 * h * i + 9 * h + i);
        let acts = p.rows * (3 * h + scratch_cols(c)) + seqs.len() * h;
        let ints = p.ids.len() + p.pos.len() + p.seq_start.len() + p.seq_len.len() + p.items.len();
        assert_eq!(
            embed_device_bytes(c, lens),
            4 * (weights + acts + ints) as u64
        );
        assert!(embed_device_bytes(c, &[64; 100]) > embed_device_bytes(c, &[64; 10]));
        assert_eq!(embed_device_bytes(c, &[usize::MAX; 3]), u64::MAX);
        // the fused projection is the three side by side
        let (w, b) = fused_qkv(&m.layers[0], h);
        let l = &m.layers[0];
        for r in [0, h / 2, h - 1] {
            for col in [0, h - 1] {
                assert_eq!(w[r * 3 * h + col], l.q_w[r * h + col]);
                assert_eq!(w[r * 3 * h + h + col], l.k_w[r * h + col]);
                assert_eq!(w[r * 3 * h + 2 * h + col], l.v_w[r * h + col]);
            }
        }
        assert_eq!(b, [&l.q_b[..], &l.k_b[..], &l.v_b[..]].concat());
        assert!(check_model(&m).is_ok());
        let mut broken = m.clone();
        broken.layers[0].i_b.pop();
        assert!(
            matches!(check_model(&broken), Err(ComputeError::Model(e)) if e.contains("intermediate bias"))
        );
    }
}
