//! Backend selection (`TESSERA_DEVICE=cuda|cpu|auto`), device reporting and resource limits.

use std::sync::Arc;

use serde::Serialize;

use crate::cuda::CudaDevice;
use crate::error::{ComputeError, Result};

/// Which implementation runs the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// NVIDIA GPU through CUDA (driver API + NVRTC, loaded dynamically).
    Cuda,
    /// CPU reference (rayon).
    Cpu,
}

/// What the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePreference {
    /// CUDA if a driver and a device are present (and pass the self-test), else CPU.
    Auto,
    /// CUDA or an error.
    Cuda,
    /// CPU only.
    Cpu,
}

impl std::str::FromStr for DevicePreference {
    type Err = ComputeError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(DevicePreference::Auto),
            "cuda" | "gpu" => Ok(DevicePreference::Cuda),
            "cpu" => Ok(DevicePreference::Cpu),
            other => Err(ComputeError::InvalidInput(format!(
                "TESSERA_DEVICE={other:?}: expected cuda, cpu or auto"
            ))),
        }
    }
}

/// Device description for node registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// Marketing name (GPU) or CPU model name.
    pub name: String,
    /// Total device memory in bytes (0 for the CPU backend).
    pub vram_bytes: u64,
    /// CUDA compute capability `(major, minor)`; `(0, 0)` for the CPU backend.
    pub compute_capability: (u32, u32),
    /// Backend kind.
    pub kind: BackendKind,
    /// Rayon worker threads used by the CPU paths.
    pub cpu_threads: usize,
}

/// Resource limits checked (with checked arithmetic) before anything is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input blob.
    pub max_input_bytes: u64,
    /// Largest host working set of one job (inputs + outputs + scratch).
    pub max_host_bytes: u64,
    /// Largest GEMM / inference work in multiply-accumulates.
    pub max_macs: u64,
    /// Largest render work in ray segments (`w·h·spp·(max_bounces+1)`).
    pub max_render_segments: u64,
    /// Device memory kept free on top of a job's own needs.
    pub vram_headroom_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 1 << 30,
            max_host_bytes: 4 << 30,
            max_macs: 1 << 44,
            max_render_segments: 1 << 36,
            vram_headroom_bytes: 256 << 20,
        }
    }
}

/// A compute backend: the CPU reference or a CUDA device. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Backend {
    cuda: Option<Arc<CudaDevice>>,
    info: DeviceInfo,
    limits: Limits,
    fallback_reason: Option<String>,
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|n| n.trim().to_string())
        })
        .unwrap_or_else(|| format!("{} CPU", std::env::consts::ARCH))
}

impl Backend {
    /// The CPU reference backend.
    pub fn cpu() -> Backend {
        Backend {
            cuda: None,
            info: DeviceInfo {
                name: cpu_name(),
                vram_bytes: 0,
                compute_capability: (0, 0),
                kind: BackendKind::Cpu,
                cpu_threads: rayon::current_num_threads(),
            },
            limits: Limits::default(),
            fallback_reason: None,
        }
    }

    /// CUDA device `ordinal`. Loads the driver and NVRTC dynamically, compiles the kernels and
    /// runs a GPU-vs-CPU self-test. Never panics when CUDA is absent: returns
    /// [`ComputeError::CudaUnavailable`].
    pub fn cuda(ordinal: usize) -> Result<Backend> {
        let dev = CudaDevice::new(ordinal)?;
        let info = dev.info().clone();
        Ok(Backend {
            cuda: Some(dev),
            info,
            limits: Limits::default(),
            fallback_reason: None,
        })
    }

    /// Selects a backend. `Auto` never fails: without a usable GPU it returns the CPU backend,
    /// logs the reason at `warn` level and keeps it in [`Backend::fallback_reason`].
    pub fn select(pref: DevicePreference) -> Result<Backend> {
        match pref {
            DevicePreference::Cpu => {
                tracing::info!("compute backend: CPU (requested)");
                Ok(Backend::cpu())
            }
            DevicePreference::Cuda => {
                let b = Backend::cuda(0)?;
                tracing::info!(device = %b.info.name, "compute backend: CUDA");
                Ok(b)
            }
            DevicePreference::Auto => match Backend::cuda(0) {
                Ok(b) => {
                    tracing::info!(device = %b.info.name, "compute backend: CUDA (auto)");
                    Ok(b)
                }
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(%reason, "no usable CUDA device, falling back to the CPU reference");
                    let mut b = Backend::cpu();
                    b.fallback_reason = Some(reason);
                    Ok(b)
                }
            },
        }
    }

    /// Reads `TESSERA_DEVICE` (`cuda`, `cpu`, `auto`; unset = `auto`) and selects.
    pub fn from_env() -> Result<Backend> {
        let pref = match std::env::var("TESSERA_DEVICE") {
            Ok(v) => v.parse()?,
            Err(_) => DevicePreference::Auto,
        };
        Backend::select(pref)
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Backend {
        self.limits = limits;
        self
    }

    /// Active limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Device description (for node registration).
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Backend kind.
    pub fn kind(&self) -> BackendKind {
        self.info.kind
    }

    /// Why `Auto` fell back to the CPU, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The CUDA device, when this is a CUDA backend.
    pub fn cuda_device(&self) -> Option<&Arc<CudaDevice>> {
        self.cuda.as_ref()
    }
}
