//! What a device is and what a job may use of it: the backend kind, the caller's preference,
//! the device description a node registers, and the resource limits every kernel checks
//! before it allocates. The bottom layer: the CUDA layer and the kernels depend on it.
use serde::Serialize;

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
