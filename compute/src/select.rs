//! Choosing the backend (`TESSERA_DEVICE=cuda|cpu|auto`): a CUDA device is opened and must
//! pass the GPU-vs-CPU self-test ([`crate::selftest`]) before any job runs on it. Above the
//! kernels, which the self-test runs.
use crate::device::Backend;
use crate::error::Result;
use crate::limits::DevicePreference;

impl Backend {
    /// CUDA device `ordinal`. Loads the driver and NVRTC dynamically, compiles the kernels and
    /// runs a GPU-vs-CPU self-test. Never panics when CUDA is absent: returns
    /// [`ComputeError::CudaUnavailable`].
    pub fn cuda(ordinal: usize) -> Result<Backend> {
        #[cfg(feature = "cuda")]
        return Ok(Backend::on_device(crate::selftest::open_checked(ordinal)?));
        #[cfg(not(feature = "cuda"))]
        Err(crate::error::ComputeError::CudaUnavailable(format!(
            "device {ordinal}: this build of tessera-compute has no CUDA backend (the `cuda` feature is off)"
        )))
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
                tracing::info!(device = %b.info().name, "compute backend: CUDA");
                Ok(b)
            }
            DevicePreference::Auto => match Backend::cuda(0) {
                Ok(b) => {
                    tracing::info!(device = %b.info().name, "compute backend: CUDA (auto)");
                    Ok(b)
                }
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(%reason, "no usable CUDA device, falling back to the CPU reference");
                    Ok(Backend::cpu().with_fallback_reason(reason))
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
}
