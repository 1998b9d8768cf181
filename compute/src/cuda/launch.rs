//! Launching a kernel by name on host buffers: the one interface the training step's
//! element-wise work is written against ([`Launch`]), implemented by a CUDA device
//! ([`DeviceLaunch`]: upload, launch, download) and, in tests, by the host emulator (the same
//! `.cu` source run on the CPU). Written once, the launch sequence the emulator checks is the
//! one the device runs.
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::{bytes, guard, CudaDevice, GENERATE_KERNELS, TRAIN_KERNELS};
use crate::error::{ComputeError, Result};
use crate::limits::Limits;

/// One kernel argument, in the kernel's parameter order.
pub enum KArg<'a> {
    /// A buffer the kernel only reads.
    In(&'a [f32]),
    /// A buffer the kernel reads and writes (copied back after the launch).
    Out(&'a mut [f32]),
    /// A table of `u32` (read only).
    U32s(&'a [u32]),
    /// A table of `u64` (read only).
    U64s(&'a [u64]),
    /// An `int`.
    I32(i32),
    /// A `float`.
    F32(f32),
}

/// Runs a kernel of the compiled module on host buffers.
pub trait Launch: Sync {
    /// Launches `kernel` with `cfg`; the buffers must cover what the kernel reads and writes
    /// for that shape (the contract of a CUDA launch). Every buffer is non-empty.
    fn launch(&self, kernel: &str, cfg: LaunchConfig, args: &mut [KArg<'_>]) -> Result<()>;
}

/// A CUDA device under a job's limits: each launch uploads its buffers, runs, and copies the
/// written ones back.
pub struct DeviceLaunch<'a> {
    /// The device.
    pub dev: &'a CudaDevice,
    /// The job's limits (free VRAM is checked before every launch).
    pub limits: &'a Limits,
}

/// A buffer on the device, or a scalar, in parameter order.
enum Dev {
    F32(CudaSlice<f32>),
    U32(CudaSlice<u32>),
    U64(CudaSlice<u64>),
    I32(i32),
    F(f32),
}

impl Launch for DeviceLaunch<'_> {
    fn launch(&self, kernel: &str, cfg: LaunchConfig, args: &mut [KArg<'_>]) -> Result<()> {
        let func = match kernel {
            "tessera_gemm_f32" => &self.dev.funcs.gemm_f32,
            "tessera_embed_bias" => &self.dev.funcs.embed_bias,
            _ => TRAIN_KERNELS
                .iter()
                .position(|n| *n == kernel)
                .map(|i| &self.dev.funcs.train[i])
                .or_else(|| {
                    GENERATE_KERNELS
                        .iter()
                        .position(|n| *n == kernel)
                        .map(|i| &self.dev.funcs.generate[i])
                })
                .ok_or_else(|| ComputeError::Cuda(format!("no kernel named {kernel}")))?,
        };
        let mut need = 0u64;
        for a in args.iter() {
            need = need.saturating_add(match a {
                KArg::In(v) => bytes(v.len(), 4)?,
                KArg::Out(v) => bytes(v.len(), 4)?,
                KArg::U32s(v) => bytes(v.len(), 4)?,
                KArg::U64s(v) => bytes(v.len(), 8)?,
                KArg::I32(_) | KArg::F32(_) => 0,
            });
        }
        guard(kernel, || {
            let _l = self.dev.lock();
            self.dev.check_vram(need, self.limits)?;
            let s = &self.dev.stream;
            let mut dev = Vec::with_capacity(args.len());
            for a in args.iter() {
                dev.push(match a {
                    KArg::In(v) => Dev::F32(s.clone_htod(*v)?),
                    KArg::Out(v) => Dev::F32(s.clone_htod(&**v)?),
                    KArg::U32s(v) => Dev::U32(s.clone_htod(*v)?),
                    KArg::U64s(v) => Dev::U64(s.clone_htod(*v)?),
                    KArg::I32(v) => Dev::I32(*v),
                    KArg::F32(v) => Dev::F(*v),
                });
            }
            let mut l = s.launch_builder(func);
            for d in &dev {
                match d {
                    Dev::F32(b) => l.arg(b),
                    Dev::U32(b) => l.arg(b),
                    Dev::U64(b) => l.arg(b),
                    Dev::I32(v) => l.arg(v),
                    Dev::F(v) => l.arg(v),
                };
            }
            // SAFETY: the arguments are the kernel's parameters in order (the callers in
            // `train::kernels` follow `train.cu`'s signatures, and the emulator runs the same
            // calls in tests); every buffer holds what the kernel indexes for `cfg`.
            unsafe { l.launch(cfg) }?;
            for (a, d) in args.iter_mut().zip(&dev) {
                if let (KArg::Out(v), Dev::F32(b)) = (a, d) {
                    s.memcpy_dtoh(b, &mut **v)?;
                }
            }
            s.synchronize()?;
            Ok(())
        })
    }
}
