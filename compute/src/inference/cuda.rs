//! GPU forward pass of the quantized MLP: the int8 GEMM kernel per layer plus integer
//! epilogue kernels (`tessera_requant_i8`, `tessera_bias_i32` in `src/cuda/gemm.cu`).

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::model::QuantModel;
use crate::cuda::{guard, CudaDevice};
use crate::error::{ComputeError, Result};
use crate::limits::Limits;

/// Launch shape of the elementwise epilogue kernels (256 threads, one per element).
pub(crate) fn elementwise_cfg(n: usize) -> Result<LaunchConfig> {
    let blocks = n.div_ceil(256);
    if blocks == 0 || blocks > i32::MAX as usize {
        return Err(ComputeError::TooLarge(format!(
            "{n} elements do not fit a CUDA grid"
        )));
    }
    Ok(LaunchConfig {
        grid_dim: (blocks as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

impl CudaDevice {
    /// Forward pass on the GPU; identical to [`super::cpu::forward`].
    pub fn mlp_forward(
        &self,
        model: &QuantModel,
        batch: usize,
        inputs: &[i8],
        limits: &Limits,
    ) -> Result<Vec<i32>> {
        if batch == 0 {
            return Ok(Vec::new());
        }
        // Peak device memory: the largest layer's GEMM working set plus its epilogue output.
        let mut need = 0u64;
        for l in &model.layers {
            let (din, dout) = (l.in_dim as usize, l.out_dim as usize);
            let g = Self::gemm_i8_device_bytes(batch, dout, din)?;
            need = need.max(g.saturating_add((batch * dout) as u64 + 4 * dout as u64));
        }
        guard("mlp_forward", || {
            let _l = self.lock();
            self.check_vram(need, limits)?;
            let s = &self.stream;
            let mut act = s.clone_htod(inputs)?;
            let n_layers = model.layers.len();
            for (li, l) in model.layers.iter().enumerate() {
                let (din, dout) = (l.in_dim as usize, l.out_dim as usize);
                let w = s.clone_htod(&l.weights[..])?;
                let bias = s.clone_htod(&l.bias[..])?;
                let mut acc = self.gemm_i8_device(batch, dout, din, &act, &w)?;
                let (rows, cols) = (batch as i32, dout as i32);
                let cfg = elementwise_cfg(batch * dout)?;
                if li + 1 == n_layers {
                    let mut b = s.launch_builder(&self.funcs.bias_i32);
                    b.arg(&mut acc).arg(&bias).arg(&rows).arg(&cols);
                    // SAFETY: tessera_bias_i32(acc, bias, rows, cols), sizes as allocated.
                    unsafe { b.launch(cfg) }?;
                    return Ok(s.clone_dtoh(&acc)?);
                }
                let mut next = s.alloc_zeros::<i8>(batch * dout)?;
                let (mult, shift, relu) = (l.multiplier, l.shift as i32, l.relu as i32);
                let mut b = s.launch_builder(&self.funcs.requant_i8);
                b.arg(&acc)
                    .arg(&bias)
                    .arg(&mut next)
                    .arg(&rows)
                    .arg(&cols)
                    .arg(&mult)
                    .arg(&shift)
                    .arg(&relu);
                // SAFETY: tessera_requant_i8(acc, bias, out, rows, cols, mult, shift, relu).
                unsafe { b.launch(cfg) }?;
                act = next;
            }
            Err(ComputeError::Model("model has no layers".into()))
        })
    }
}
