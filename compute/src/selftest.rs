//! Start-up self-test: every GPU kernel is run on small random inputs with odd sizes and
//! compared byte for byte with the CPU reference (above the kernels it runs; the CUDA layer
//! below them only opens the device). A tensor-core int8 mismatch disables the
//! `mma.sync` path (dp4a is used instead); any other mismatch refuses the device, so a
//! worker never posts a hash its GPU cannot reproduce.

use std::sync::Arc;

use crate::cuda::CudaDevice;
use crate::error::{ComputeError, Result};
use crate::gemm::{self, cpu};
use crate::limits::Limits;

const SIZES: [(usize, usize, usize); 4] = [(1, 1, 1), (37, 53, 71), (130, 129, 67), (5, 200, 300)];

fn check_i8(dev: &CudaDevice) -> Result<bool> {
    let limits = Limits::default();
    for (i, &(m, n, k)) in SIZES.iter().enumerate() {
        let (a, b) = gemm::random_i8(m as u32, n as u32, k as u32, 100 + i as u64);
        let want = cpu::gemm_i8_naive(m, n, k, &a, &b);
        let got = dev.gemm_i8(m, n, k, &a, &b, &limits)?;
        if got != want {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs the self-test; see the module docs.
pub fn run(dev: &Arc<CudaDevice>) -> Result<()> {
    let limits = Limits::default();
    for (i, &(m, n, k)) in SIZES.iter().enumerate() {
        let (a, b) = gemm::random_f32(m as u32, n as u32, k as u32, 200 + i as u64);
        let want = cpu::gemm_f32_naive(m, n, k, &a, &b);
        let got = dev.gemm_f32(m, n, k, &a, &b, &limits)?;
        let same = want.len() == got.len()
            && want
                .iter()
                .zip(&got)
                .all(|(x, y)| x.to_bits() == y.to_bits());
        if !same {
            return Err(ComputeError::SelfTest(format!(
                "f32 GEMM {m}x{n}x{k} differs from the CPU reference"
            )));
        }
    }
    if dev.uses_tensor_cores() && !check_i8(dev)? {
        tracing::warn!("int8 mma.sync kernel differs from the CPU reference; using dp4a");
        dev.set_tensor_cores(false);
    }
    if !dev.uses_tensor_cores() && !check_i8(dev)? {
        return Err(ComputeError::SelfTest(
            "int8 GEMM (dp4a) differs from the CPU reference".into(),
        ));
    }
    let text = crate::render::with_resolution(crate::render::CORNELL_JSON, 19, 13, 2)?;
    let scene = crate::render::SceneFile::from_json(text.as_bytes())?.validate_and_compile()?;
    let want = crate::render::cpu::render(&scene);
    let got = dev.render(&scene)?;
    if got.rgba != want.0 || got.rays != want.1 {
        return Err(ComputeError::SelfTest(
            "path tracer differs from the CPU reference".into(),
        ));
    }
    tracing::info!(
        tensor_cores = dev.uses_tensor_cores(),
        "CUDA self-test passed (GEMM f32/int8, render)"
    );
    Ok(())
}

/// Opens CUDA device `ordinal` (driver and NVRTC loaded dynamically, kernels compiled) and runs
/// the self-test on it: what a backend is made of.
pub fn open_checked(ordinal: usize) -> Result<Arc<CudaDevice>> {
    let dev = CudaDevice::new(ordinal)?;
    run(&dev)?;
    Ok(dev)
}
