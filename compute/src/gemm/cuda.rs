//! GEMM on the GPU (kernels in `src/cuda/gemm.cu`) and the cuBLAS comparison used by the
//! benchmark. The Tessera kernels never use cuBLAS for results.

use std::time::Instant;

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use crate::cuda::{bytes, guard, round_up, CudaDevice};
use crate::error::{ComputeError, Result};
use crate::limits::Limits;

fn grid_dim(v: usize, what: &str) -> Result<u32> {
    if v == 0 || v > i32::MAX as usize {
        return Err(ComputeError::TooLarge(format!(
            "{what}: {v} blocks do not fit a CUDA grid"
        )));
    }
    Ok(v as u32)
}

/// Launch shape of `tessera_gemm_f32` for an m×n output (128×128 tiles, 256 threads).
pub(crate) fn f32_config(m: usize, n: usize) -> Result<LaunchConfig> {
    Ok(LaunchConfig {
        grid_dim: (
            grid_dim(n.div_ceil(128), "gemm_f32 grid.x")?,
            grid_dim(m.div_ceil(128), "gemm_f32 grid.y")?,
            1,
        ),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Padded sizes and the three launches of the int8 GEMM (pad A, transpose+pad B, GEMM).
#[derive(Debug, Clone, Copy)]
pub(crate) struct I8Plan {
    /// Rows of A padded to the 128-row tile.
    pub mp: usize,
    /// Columns of B padded to the 128-column tile.
    pub np: usize,
    /// K padded to the 64-byte K step.
    pub kp: usize,
    /// `tessera_pad_i8`: one thread per 4 bytes of `Ap`.
    pub pad: LaunchConfig,
    /// `tessera_transpose_pad_i8`: 32×32 tiles, grid.y striding over K.
    pub transpose: LaunchConfig,
    /// `tessera_gemm_i8_dp4a` / `tessera_gemm_i8_mma`.
    pub gemm: LaunchConfig,
}

/// The int8 GEMM plan for A: m×k, B: k×n (k > 0).
pub(crate) fn i8_plan(m: usize, n: usize, k: usize) -> Result<I8Plan> {
    let (mp, np, kp) = (round_up(m, 128), round_up(n, 128), round_up(k, 64));
    let words = mp * kp / 4;
    let block = |x, y| LaunchConfig {
        grid_dim: x,
        block_dim: y,
        shared_mem_bytes: 0,
    };
    Ok(I8Plan {
        mp,
        np,
        kp,
        pad: block(
            (grid_dim(words.div_ceil(256), "pad grid")?, 1, 1),
            (256, 1, 1),
        ),
        transpose: block(
            (
                grid_dim(np / 32, "transpose grid.x")?,
                grid_dim(kp / 32, "transpose grid.y")?.min(65_535),
                1,
            ),
            (32, 8, 1),
        ),
        gemm: block(
            (
                grid_dim(np / 128, "gemm_i8 grid.x")?,
                grid_dim(mp / 128, "gemm_i8 grid.y")?,
                1,
            ),
            (256, 1, 1),
        ),
    })
}

impl CudaDevice {
    /// f32 GEMM on the GPU: bit-identical to [`super::cpu::gemm_f32`] (before NaN
    /// canonicalization, which the caller applies).
    pub fn gemm_f32(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        limits: &Limits,
    ) -> Result<Vec<f32>> {
        Ok(self.gemm_f32_timed(m, n, k, a, b, limits, 0)?.0)
    }

    /// f32 GEMM, then `iters` further timed launches; returns C and seconds per launch
    /// (kernel only, inputs resident).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_f32_timed(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        limits: &Limits,
        iters: usize,
    ) -> Result<(Vec<f32>, f64)> {
        if m == 0 || n == 0 {
            return Ok((Vec::new(), 0.0));
        }
        if k == 0 {
            return Ok((vec![0.0; m * n], 0.0));
        }
        let need = bytes(m * k + k * n + m * n, 4)?;
        guard("gemm_f32", || {
            let _l = self.lock();
            self.check_vram(need, limits)?;
            let s = &self.stream;
            let da = s.clone_htod(a)?;
            let db = s.clone_htod(b)?;
            let mut dc = s.alloc_zeros::<f32>(m * n)?;
            let cfg = f32_config(m, n)?;
            let (mi, ni, ki) = (m as i32, n as i32, k as i32);
            let launch = |dc: &mut CudaSlice<f32>| -> Result<()> {
                let mut l = s.launch_builder(&self.funcs.gemm_f32);
                l.arg(&da).arg(&db).arg(dc).arg(&mi).arg(&ni).arg(&ki);
                // SAFETY: argument list matches tessera_gemm_f32; buffers hold m*k, k*n, m*n
                // elements and the kernel bounds-checks every access against M, N, K.
                unsafe { l.launch(cfg) }?;
                Ok(())
            };
            launch(&mut dc)?;
            let mut per_iter = 0.0;
            if iters > 0 {
                s.synchronize()?;
                let t = Instant::now();
                for _ in 0..iters {
                    launch(&mut dc)?;
                }
                s.synchronize()?;
                per_iter = t.elapsed().as_secs_f64() / iters as f64;
            }
            Ok((s.clone_dtoh(&dc)?, per_iter))
        })
    }

    /// int8 GEMM on device buffers (A: m×k, B: k×n) → device C (m×n, int32). Caller holds
    /// the lock and has checked VRAM with [`CudaDevice::gemm_i8_device_bytes`].
    pub(crate) fn gemm_i8_device(
        &self,
        m: usize,
        n: usize,
        k: usize,
        da: &CudaSlice<i8>,
        db: &CudaSlice<i8>,
    ) -> Result<CudaSlice<i32>> {
        let s = &self.stream;
        let mut dc = s.alloc_zeros::<i32>(m * n)?;
        if k == 0 {
            return Ok(dc);
        }
        let plan = i8_plan(m, n, k)?;
        let (mp, np, kp) = (plan.mp, plan.np, plan.kp);
        let mut ap = s.alloc_zeros::<i32>(mp * kp / 4)?;
        let mut bt = s.alloc_zeros::<i8>(np * kp)?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let (mpi, npi, kpi) = (mp as i32, np as i32, kp as i32);
        // Pad A.
        let mut l = s.launch_builder(&self.funcs.pad_i8);
        l.arg(da).arg(&mi).arg(&ki).arg(&mut ap).arg(&mpi).arg(&kpi);
        // SAFETY: tessera_pad_i8(src, rows, cols, dst, rows_p, cols_p); dst has mp*kp/4 words.
        unsafe { l.launch(plan.pad) }?;
        // Transpose + pad B.
        let mut l = s.launch_builder(&self.funcs.transpose_pad_i8);
        l.arg(db).arg(&ki).arg(&ni).arg(&mut bt).arg(&kpi).arg(&npi);
        // SAFETY: tessera_transpose_pad_i8(B, K, N, Bt, Kp, Np); Bt has np*kp bytes.
        unsafe { l.launch(plan.transpose) }?;
        let f = if self.uses_tensor_cores() {
            &self.funcs.gemm_i8_mma
        } else {
            &self.funcs.gemm_i8_dp4a
        };
        let cfg = plan.gemm;
        let mut l = s.launch_builder(f);
        l.arg(&ap).arg(&bt).arg(&mut dc).arg(&mi).arg(&ni).arg(&kpi);
        // SAFETY: (Ap, Bt, C, M, N, Kp); Ap/Bt are padded to multiples of the tile, so the
        // kernel reads in bounds without checks; C writes are bounds-checked.
        unsafe { l.launch(cfg) }?;
        Ok(dc)
    }

    /// Device bytes needed by [`CudaDevice::gemm_i8_device`] including its inputs.
    pub(crate) fn gemm_i8_device_bytes(m: usize, n: usize, k: usize) -> Result<u64> {
        let (mp, np, kp) = (round_up(m, 128), round_up(n, 128), round_up(k, 64));
        let parts = [m * k, k * n, 4 * m * n, mp * kp, np * kp];
        let mut total = 0u64;
        for p in parts {
            total = total
                .checked_add(p as u64)
                .ok_or_else(|| ComputeError::TooLarge("device buffer size overflows".into()))?;
        }
        Ok(total)
    }

    /// int8 GEMM on the GPU: identical to [`super::cpu::gemm_i8`].
    pub fn gemm_i8(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[i8],
        b: &[i8],
        limits: &Limits,
    ) -> Result<Vec<i32>> {
        Ok(self.gemm_i8_timed(m, n, k, a, b, limits, 0)?.0)
    }

    /// int8 GEMM, then `iters` timed repetitions (padding + GEMM); returns C and seconds per
    /// repetition.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_i8_timed(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[i8],
        b: &[i8],
        limits: &Limits,
        iters: usize,
    ) -> Result<(Vec<i32>, f64)> {
        if m == 0 || n == 0 {
            return Ok((Vec::new(), 0.0));
        }
        if k == 0 {
            return Ok((vec![0; m * n], 0.0));
        }
        let need = Self::gemm_i8_device_bytes(m, n, k)?;
        guard("gemm_i8", || {
            let _l = self.lock();
            self.check_vram(need, limits)?;
            let s = &self.stream;
            let da = s.clone_htod(a)?;
            let db = s.clone_htod(b)?;
            let dc = self.gemm_i8_device(m, n, k, &da, &db)?;
            let mut per_iter = 0.0;
            if iters > 0 {
                s.synchronize()?;
                let t = Instant::now();
                for _ in 0..iters {
                    let _ = self.gemm_i8_device(m, n, k, &da, &db)?;
                }
                s.synchronize()?;
                per_iter = t.elapsed().as_secs_f64() / iters as f64;
            }
            Ok((s.clone_dtoh(&dc)?, per_iter))
        })
    }

    /// cuBLAS SGEMM of the same row-major problem (benchmark comparison only; its results are
    /// not bit-reproducible across GPUs and are never hashed). Returns C and seconds per call.
    pub fn cublas_sgemm_timed(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        iters: usize,
    ) -> Result<(Vec<f32>, f64)> {
        use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
        if !crate::cuda::cublas_present() {
            return Err(ComputeError::CudaUnavailable("libcublas not found".into()));
        }
        if m == 0 || n == 0 || k == 0 {
            return Err(ComputeError::InvalidInput("empty GEMM".into()));
        }
        let need = bytes(m * k + k * n + m * n, 4)?;
        guard("cuBLAS SGEMM", || {
            let _l = self.lock();
            self.check_vram(need, &Limits::default())?;
            let s = &self.stream;
            let blas = CudaBlas::new(s.clone())?;
            let da = s.clone_htod(a)?;
            let db = s.clone_htod(b)?;
            let mut dc = s.alloc_zeros::<f32>(m * n)?;
            // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ.
            let cfg = GemmConfig {
                transa: cublasOperation_t::CUBLAS_OP_N,
                transb: cublasOperation_t::CUBLAS_OP_N,
                m: n as i32,
                n: m as i32,
                k: k as i32,
                alpha: 1.0f32,
                lda: n as i32,
                ldb: k as i32,
                beta: 0.0f32,
                ldc: n as i32,
            };
            // SAFETY: leading dimensions and sizes match the buffers above.
            unsafe { blas.gemm(cfg, &db, &da, &mut dc) }?;
            s.synchronize()?;
            let t = Instant::now();
            for _ in 0..iters.max(1) {
                // SAFETY: as above.
                unsafe { blas.gemm(cfg, &db, &da, &mut dc) }?;
            }
            s.synchronize()?;
            let per = t.elapsed().as_secs_f64() / iters.max(1) as f64;
            Ok((s.clone_dtoh(&dc)?, per))
        })
    }

    /// cuBLAS `cublasGemmEx` int8 × int8 → int32 (CUBLAS_COMPUTE_32I) of the same problem
    /// (benchmark comparison only). Returns C and seconds per call.
    pub fn cublas_gemm_i8_timed(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[i8],
        b: &[i8],
        iters: usize,
    ) -> Result<(Vec<i32>, f64)> {
        use cudarc::cublas::result::gemm_ex;
        use cudarc::cublas::sys::{
            cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType,
        };
        use cudarc::cublas::CudaBlas;
        use cudarc::driver::{DevicePtr, DevicePtrMut};
        if !crate::cuda::cublas_present() {
            return Err(ComputeError::CudaUnavailable("libcublas not found".into()));
        }
        if m == 0 || n == 0 || k == 0 {
            return Err(ComputeError::InvalidInput("empty GEMM".into()));
        }
        let need = bytes(m * k + k * n + 4 * m * n, 1)?;
        guard("cuBLAS GemmEx int8", || {
            let _l = self.lock();
            self.check_vram(need, &Limits::default())?;
            let s = &self.stream;
            let blas = CudaBlas::new(s.clone())?;
            let da = s.clone_htod(a)?;
            let db = s.clone_htod(b)?;
            let mut dc = s.alloc_zeros::<i32>(m * n)?;
            let alpha: i32 = 1;
            let beta: i32 = 0;
            let call = |dc: &mut CudaSlice<i32>| -> Result<()> {
                let (pa, _ra) = da.device_ptr(s);
                let (pb, _rb) = db.device_ptr(s);
                let (pc, _rc) = dc.device_ptr_mut(s);
                // SAFETY: column-major Cᵀ(n×m) = Bᵀ(n×k)·Aᵀ(k×m) over the buffers above.
                unsafe {
                    gemm_ex(
                        *blas.handle(),
                        cublasOperation_t::CUBLAS_OP_N,
                        cublasOperation_t::CUBLAS_OP_N,
                        n as i32,
                        m as i32,
                        k as i32,
                        (&alpha) as *const i32 as *const _,
                        pb as *const _,
                        cudaDataType::CUDA_R_8I,
                        n as i32,
                        pa as *const _,
                        cudaDataType::CUDA_R_8I,
                        k as i32,
                        (&beta) as *const i32 as *const _,
                        pc as *mut _,
                        cudaDataType::CUDA_R_32I,
                        n as i32,
                        cublasComputeType_t::CUBLAS_COMPUTE_32I,
                        cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                    )
                }?;
                Ok(())
            };
            call(&mut dc)?;
            s.synchronize()?;
            let t = Instant::now();
            for _ in 0..iters.max(1) {
                call(&mut dc)?;
            }
            s.synchronize()?;
            let per = t.elapsed().as_secs_f64() / iters.max(1) as f64;
            Ok((s.clone_dtoh(&dc)?, per))
        })
    }
}
