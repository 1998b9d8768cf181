//! Passes shared by the device paths of training and generation, on host buffers through
//! [`Launch`]: the fixed-order product, bias and residual additions.
use super::launch::{KArg, Launch};
use crate::error::{ComputeError, Result};
use crate::gemm::cuda::f32_config;
use crate::inference::cuda::elementwise_cfg;

/// `n` as a kernel's `int`.
pub fn int(n: usize, what: &str) -> Result<i32> {
    i32::try_from(n)
        .map_err(|_| ComputeError::TooLarge(format!("{what}: {n} does not fit a kernel's int")))
}

/// `a[m × k] · b[k × n]` (`tessera_gemm_f32`: the CPU's fused multiply-add chain per element).
pub fn mm(l: &dyn Launch, m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
    if m == 0 || n == 0 {
        return Ok(Vec::new());
    }
    if k == 0 {
        return Ok(vec![0.0; m * n]);
    }
    let mut c = vec![0.0f32; m * n];
    let (mi, ni, ki) = (int(m, "rows")?, int(n, "columns")?, int(k, "depth")?);
    l.launch(
        "tessera_gemm_f32",
        f32_config(m, n)?,
        &mut [
            KArg::In(a),
            KArg::In(b),
            KArg::Out(&mut c),
            KArg::I32(mi),
            KArg::I32(ni),
            KArg::I32(ki),
        ],
    )?;
    Ok(c)
}

/// `y[r][c] += bias[c]` (`tessera_embed_bias`).
pub fn add_bias(l: &dyn Launch, y: &mut [f32], bias: &[f32]) -> Result<()> {
    let cols = bias.len();
    if y.is_empty() || cols == 0 {
        return Ok(());
    }
    let mut out = y.to_vec();
    let (ri, ci) = (int(y.len() / cols, "rows")?, int(cols, "columns")?);
    l.launch(
        "tessera_embed_bias",
        elementwise_cfg(y.len())?,
        &mut [
            KArg::Out(&mut out),
            KArg::In(bias),
            KArg::I32(ri),
            KArg::I32(ci),
        ],
    )?;
    y.copy_from_slice(&out);
    Ok(())
}

/// `a += b` element-wise (`tessera_train_add`).
pub fn add(l: &dyn Launch, a: &mut [f32], b: &[f32]) -> Result<()> {
    if a.is_empty() {
        return Ok(());
    }
    let mut out = a.to_vec();
    let n = int(a.len(), "elements")?;
    l.launch(
        "tessera_train_add",
        elementwise_cfg(a.len())?,
        &mut [KArg::Out(&mut out), KArg::In(b), KArg::I32(n)],
    )?;
    a.copy_from_slice(&out);
    Ok(())
}
