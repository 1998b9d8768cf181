//! One training step's work on a CUDA device ([`Launch`]): the products (`tessera_gemm_f32`)
//! and the element-wise and reduction passes of `train.cu`, each the transliteration of the
//! CPU function it replaces (same operations, same order, so the same bits; docs/KERNELS.md,
//! "train on CUDA"). Every function takes and returns host buffers and leaves its inputs
//! untouched when the device fails, so the caller can run the CPU's version instead.
//!
//! The launch shapes are the embed kernel's (`rows_config`: a warp per row) and the
//! element-wise one (`elementwise_cfg`: 256 threads, one per element, column or row).
use super::forward::LnCache;
use crate::cuda::launch::{KArg, Launch};
pub use crate::cuda::ops::{add, add_bias, int, mm};
use crate::embed::cuda::rows_config;
use crate::error::{ComputeError, Result};
use crate::inference::cuda::elementwise_cfg;

/// LayerNorm of the rows of `x` in place, keeping `x̂` and the denominators
/// (`tessera_train_ln`).
pub fn ln(l: &dyn Launch, x: &mut [f32], w: &[f32], b: &[f32], eps: f32) -> Result<LnCache> {
    let h = w.len();
    let rows = x.len() / h;
    let mut c = LnCache {
        xhat: vec![0.0; x.len()],
        denom: vec![0.0; rows],
    };
    if rows == 0 {
        return Ok(c);
    }
    let mut out = x.to_vec();
    let (ri, hi) = (int(rows, "rows")?, int(h, "width")?);
    l.launch(
        "tessera_train_ln",
        rows_config(rows)?,
        &mut [
            KArg::Out(&mut out),
            KArg::In(w),
            KArg::In(b),
            KArg::Out(&mut c.xhat),
            KArg::Out(&mut c.denom),
            KArg::I32(ri),
            KArg::I32(hi),
            KArg::F32(eps),
        ],
    )?;
    x.copy_from_slice(&out);
    Ok(c)
}

/// LayerNorm backward: `(dx, dw, db)` (`tessera_train_ln_back`, `tessera_train_ln_params`).
pub fn ln_back(
    l: &dyn Launch,
    dy: &[f32],
    c: &LnCache,
    w: &[f32],
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let h = w.len();
    let rows = dy.len() / h;
    let (mut dx, mut dw, mut db) = (vec![0.0f32; dy.len()], vec![0.0f32; h], vec![0.0f32; h]);
    if rows == 0 {
        return Ok((dx, dw, db));
    }
    let (ri, hi) = (int(rows, "rows")?, int(h, "width")?);
    l.launch(
        "tessera_train_ln_back",
        rows_config(rows)?,
        &mut [
            KArg::In(dy),
            KArg::In(&c.xhat),
            KArg::In(&c.denom),
            KArg::In(w),
            KArg::Out(&mut dx),
            KArg::I32(ri),
            KArg::I32(hi),
        ],
    )?;
    l.launch(
        "tessera_train_ln_params",
        elementwise_cfg(h)?,
        &mut [
            KArg::In(dy),
            KArg::In(&c.xhat),
            KArg::Out(&mut dw),
            KArg::Out(&mut db),
            KArg::I32(ri),
            KArg::I32(hi),
        ],
    )?;
    Ok((dx, dw, db))
}

/// `Σ_r dy[r][j]` per column, rows in order (`tessera_train_col_sums`).
pub fn col_sums(l: &dyn Launch, dy: &[f32], cols: usize) -> Result<Vec<f32>> {
    let mut s = vec![0.0f32; cols];
    if dy.is_empty() || cols == 0 {
        return Ok(s);
    }
    let (ri, ci) = (int(dy.len() / cols, "rows")?, int(cols, "columns")?);
    l.launch(
        "tessera_train_col_sums",
        elementwise_cfg(cols)?,
        &mut [
            KArg::In(dy),
            KArg::Out(&mut s),
            KArg::I32(ri),
            KArg::I32(ci),
        ],
    )?;
    Ok(s)
}

/// `dst = gelu(src)` (`tessera_train_gelu`).
pub fn gelu(l: &dyn Launch, src: &[f32], dst: &mut [f32]) -> Result<()> {
    if src.is_empty() {
        return Ok(());
    }
    let mut out = vec![0.0f32; src.len()];
    let n = int(src.len(), "elements")?;
    l.launch(
        "tessera_train_gelu",
        elementwise_cfg(src.len())?,
        &mut [KArg::In(src), KArg::Out(&mut out), KArg::I32(n)],
    )?;
    dst.copy_from_slice(&out);
    Ok(())
}

/// `dy *= GELU'(x)` (`tessera_train_gelu_back`).
pub fn gelu_back(l: &dyn Launch, x: &[f32], dy: &mut [f32]) -> Result<()> {
    if x.is_empty() {
        return Ok(());
    }
    let mut out = dy.to_vec();
    let n = int(x.len(), "elements")?;
    l.launch(
        "tessera_train_gelu_back",
        elementwise_cfg(x.len())?,
        &mut [KArg::In(x), KArg::Out(&mut out), KArg::I32(n)],
    )?;
    dy.copy_from_slice(&out);
    Ok(())
}

/// The blocks side by side, with each row's offset and length (`len × len` per block).
fn row_table(blocks: &[Vec<f32>]) -> Result<(Vec<f32>, Vec<u64>, Vec<u32>)> {
    let total: usize = blocks.iter().map(Vec::len).sum();
    let mut flat = Vec::with_capacity(total);
    let (mut off, mut len) = (Vec::new(), Vec::new());
    for b in blocks {
        let n = b.len().isqrt();
        if n * n != b.len() {
            return Err(ComputeError::InvalidInput(format!(
                "an attention block of {} values is not square",
                b.len()
            )));
        }
        for i in 0..n {
            off.push((flat.len() + i * n) as u64);
            len.push(n as u32);
        }
        flat.extend_from_slice(b);
    }
    Ok((flat, off, len))
}

/// Copies `flat` back into the blocks, in order.
fn split_into(flat: &[f32], blocks: &mut [Vec<f32>]) {
    let mut at = 0;
    for b in blocks.iter_mut() {
        let n = b.len();
        b.copy_from_slice(&flat[at..at + n]);
        at += n;
    }
}

/// Every (sequence, head)'s scores, divided by `scale`, to probabilities, row by row
/// (`tessera_train_softmax`, one launch for all blocks).
pub fn softmax_blocks(l: &dyn Launch, blocks: &mut [Vec<f32>], scale: f32) -> Result<()> {
    let (mut flat, off, len) = row_table(blocks)?;
    if off.is_empty() {
        return Ok(());
    }
    let ri = int(off.len(), "rows")?;
    l.launch(
        "tessera_train_softmax",
        elementwise_cfg(off.len())?,
        &mut [
            KArg::Out(&mut flat),
            KArg::U64s(&off),
            KArg::U32s(&len),
            KArg::I32(ri),
            KArg::F32(scale),
        ],
    )?;
    split_into(&flat, blocks);
    Ok(())
}

/// Softmax backward of every block: `ds` holds `dP` and becomes `dS / scale`
/// (`tessera_train_softmax_back`).
pub fn softmax_back_blocks(
    l: &dyn Launch,
    probs: &[Vec<f32>],
    ds: &mut [Vec<f32>],
    scale: f32,
) -> Result<()> {
    let (p, off, len) = row_table(probs)?;
    let (mut d, _, _) = row_table(ds)?;
    if off.is_empty() {
        return Ok(());
    }
    if d.len() != p.len() {
        return Err(ComputeError::InvalidInput(
            "softmax backward: the gradients are not the probabilities' shape".into(),
        ));
    }
    let ri = int(off.len(), "rows")?;
    l.launch(
        "tessera_train_softmax_back",
        elementwise_cfg(off.len())?,
        &mut [
            KArg::In(&p),
            KArg::Out(&mut d),
            KArg::U64s(&off),
            KArg::U32s(&len),
            KArg::I32(ri),
            KArg::F32(scale),
        ],
    )?;
    split_into(&d, ds);
    Ok(())
}

/// The embedding tables' gradients from the gradient of every token row: added to
/// `word[id]`, `position[t]` and `token_type[..h]` in row order (`tessera_train_embed_back`).
pub fn embed_back(
    l: &dyn Launch,
    demb: &[f32],
    tokens: &[(u32, usize)],
    word: &mut [f32],
    position: &mut [f32],
    type0: &mut [f32],
) -> Result<()> {
    let h = type0.len();
    if tokens.is_empty() || h == 0 {
        return Ok(());
    }
    let ids: Vec<u32> = tokens.iter().map(|t| t.0).collect();
    let pos = tokens
        .iter()
        .map(|t| u32::try_from(t.1))
        .collect::<std::result::Result<Vec<u32>, _>>()
        .map_err(|_| ComputeError::TooLarge("a position past u32".into()))?;
    let (mut w, mut p, mut t) = (word.to_vec(), position.to_vec(), type0.to_vec());
    let (ri, hi) = (int(tokens.len(), "rows")?, int(h, "width")?);
    l.launch(
        "tessera_train_embed_back",
        elementwise_cfg(h)?,
        &mut [
            KArg::In(demb),
            KArg::U32s(&ids),
            KArg::U32s(&pos),
            KArg::Out(&mut w),
            KArg::Out(&mut p),
            KArg::Out(&mut t),
            KArg::I32(ri),
            KArg::I32(hi),
        ],
    )?;
    word.copy_from_slice(&w);
    position.copy_from_slice(&p);
    type0.copy_from_slice(&t);
    Ok(())
}

/// The per-step scalars of AdamW (`adamw::scalars`) and the run's constants.
#[derive(Debug, Clone, Copy)]
pub struct AdamArgs {
    /// `1 − lr·wd`.
    pub decay: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step: f32,
    /// `√(1 − β₂ᵗ)`.
    pub bc2: f32,
    /// `1 − β₁` in f32.
    pub one_b1: f32,
    /// `1 − β₂` in f32.
    pub one_b2: f32,
    /// β₁.
    pub b1: f32,
    /// β₂.
    pub b2: f32,
    /// ε.
    pub eps: f32,
}

/// One AdamW step of a tensor (`tessera_train_adamw`).
pub fn adamw(
    l: &dyn Launch,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decayed: bool,
    a: AdamArgs,
) -> Result<()> {
    if p.is_empty() {
        return Ok(());
    }
    let (mut po, mut mo, mut vo) = (p.to_vec(), m.to_vec(), v.to_vec());
    let n = int(p.len(), "elements")?;
    l.launch(
        "tessera_train_adamw",
        elementwise_cfg(p.len())?,
        &mut [
            KArg::Out(&mut po),
            KArg::In(g),
            KArg::Out(&mut mo),
            KArg::Out(&mut vo),
            KArg::I32(n),
            KArg::I32(decayed as i32),
            KArg::F32(a.decay),
            KArg::F32(a.step),
            KArg::F32(a.bc2),
            KArg::F32(a.one_b1),
            KArg::F32(a.one_b2),
            KArg::F32(a.b1),
            KArg::F32(a.b2),
            KArg::F32(a.eps),
        ],
    )?;
    p.copy_from_slice(&po);
    m.copy_from_slice(&mo);
    v.copy_from_slice(&vo);
    Ok(())
}
