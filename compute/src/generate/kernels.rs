//! The decoder's pass on a CUDA device ([`Launch`]): the products (`tessera_gemm_f32`),
//! biases and residuals (shared with training, `cuda::ops`) and `generate.cu`'s RMSNorm,
//! RoPE, attention over the caches and SwiGLU, each the transliteration of the CPU function it
//! replaces (docs/KERNELS.md, "generate on CUDA"). Host buffers in and out; inputs untouched
//! when the device fails, so the caller can run the CPU's version instead.
use crate::cuda::launch::{KArg, Launch};
use crate::cuda::ops::int;
pub use crate::cuda::ops::{add, add_bias, mm};
use crate::embed::cuda::rows_config;
use crate::error::{ComputeError, Result};
use crate::inference::cuda::elementwise_cfg;
use cudarc::driver::LaunchConfig;

/// Threads of an attention block (`GEN_ATT_THREADS`).
pub(crate) const ATT_THREADS: u32 = 128;
/// Keys an attention block holds (`GEN_ATT_SCAP`).
pub(crate) const ATT_SCAP: usize = 8192;

/// RMSNorm of the rows of `x` (`tessera_gen_rmsnorm`).
pub fn rms_norm(l: &dyn Launch, x: &[f32], w: &[f32], eps: f32) -> Result<Vec<f32>> {
    let h = w.len();
    let rows = x.len() / h;
    let mut y = vec![0.0f32; x.len()];
    if rows == 0 {
        return Ok(y);
    }
    let (ri, hi) = (int(rows, "rows")?, int(h, "width")?);
    l.launch(
        "tessera_gen_rmsnorm",
        rows_config(rows)?,
        &mut [
            KArg::In(x),
            KArg::In(w),
            KArg::Out(&mut y),
            KArg::I32(ri),
            KArg::I32(hi),
            KArg::F32(eps),
        ],
    )?;
    Ok(y)
}

/// RoPE in place on every head of the rows of `x` (`width` = heads × 2 · `half` per row), row
/// `r` at position `pos[r]` (`tessera_gen_rope`).
pub fn rope(
    l: &dyn Launch,
    x: &mut [f32],
    cos: &[f32],
    sin: &[f32],
    pos: &[u32],
    width: usize,
    half: usize,
) -> Result<()> {
    let rows = pos.len();
    if rows == 0 {
        return Ok(());
    }
    let mut out = x.to_vec();
    let (ri, wi, hi) = (int(rows, "rows")?, int(width, "width")?, int(half, "half")?);
    l.launch(
        "tessera_gen_rope",
        elementwise_cfg(rows * width / 2)?,
        &mut [
            KArg::Out(&mut out),
            KArg::In(cos),
            KArg::In(sin),
            KArg::U32s(pos),
            KArg::I32(ri),
            KArg::I32(wi),
            KArg::I32(hi),
        ],
    )?;
    x.copy_from_slice(&out);
    Ok(())
}

/// The attention of `q`'s rows (`q_dim` each) over their sequences' caches: `caches` the
/// keys and values of every sequence involved, side by side (`kv_dim` per position), and
/// per row `(first position of its sequence in them, lo, p)` — keys `lo ..= p`
/// (`tessera_gen_attention`). The context rows.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    l: &dyn Launch,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    items: &[(usize, usize, usize)],
    (q_dim, kv_dim, d, heads, group): (usize, usize, usize, usize, usize),
    scale: f32,
) -> Result<Vec<f32>> {
    let rows = items.len();
    let mut ctx = vec![0.0f32; rows * q_dim];
    if rows == 0 {
        return Ok(ctx);
    }
    let mut table = Vec::with_capacity(3 * rows);
    for &(first, lo, p) in items {
        if p + 1 - lo > ATT_SCAP {
            return Err(ComputeError::TooLarge(format!(
                "{} keys in one attention span, at most {ATT_SCAP} on a GPU",
                p + 1 - lo
            )));
        }
        for v in [first, lo, p] {
            table.push(
                u32::try_from(v)
                    .map_err(|_| ComputeError::TooLarge("a cache past u32 rows".into()))?,
            );
        }
    }
    let cfg = LaunchConfig {
        grid_dim: (
            u32::try_from(rows).map_err(|_| ComputeError::TooLarge("rows".into()))?,
            u32::try_from(heads).map_err(|_| ComputeError::TooLarge("heads".into()))?,
            1,
        ),
        block_dim: (ATT_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    l.launch(
        "tessera_gen_attention",
        cfg,
        &mut [
            KArg::In(q),
            KArg::In(keys),
            KArg::In(values),
            KArg::U32s(&table),
            KArg::Out(&mut ctx),
            KArg::I32(int(q_dim, "query width")?),
            KArg::I32(int(kv_dim, "key width")?),
            KArg::I32(int(d, "head width")?),
            KArg::I32(int(group, "group")?),
            KArg::F32(scale),
        ],
    )?;
    Ok(ctx)
}

/// `g ← (g / (1 + exp(−g))) · u` (`tessera_gen_swiglu`).
pub fn swiglu(l: &dyn Launch, g: &mut [f32], u: &[f32]) -> Result<()> {
    if g.is_empty() {
        return Ok(());
    }
    let mut out = g.to_vec();
    let n = int(g.len(), "elements")?;
    l.launch(
        "tessera_gen_swiglu",
        elementwise_cfg(g.len())?,
        &mut [KArg::Out(&mut out), KArg::In(u), KArg::I32(n)],
    )?;
    g.copy_from_slice(&out);
    Ok(())
}
