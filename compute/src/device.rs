//! The compute backend the kernels run on: the CPU reference or an opened CUDA device, with
//! its description and limits. Choosing and opening one (`TESSERA_DEVICE`, the self-test) is
//! [`crate::select`], above the kernels.

#[cfg(feature = "cuda")]
use std::sync::Arc;

#[cfg(feature = "cuda")]
use crate::cuda::CudaDevice;
pub use crate::limits::{BackendKind, DeviceInfo, DevicePreference, Limits};

/// A compute backend: the CPU reference or a CUDA device. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Backend {
    #[cfg(feature = "cuda")]
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
            #[cfg(feature = "cuda")]
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

    /// A CUDA backend on an opened, self-tested device ([`crate::select`] opens it).
    #[cfg(feature = "cuda")]
    pub(crate) fn on_device(dev: Arc<CudaDevice>) -> Backend {
        let info = dev.info().clone();
        Backend {
            cuda: Some(dev),
            info,
            limits: Limits::default(),
            fallback_reason: None,
        }
    }

    /// Records why `Auto` fell back to the CPU.
    pub(crate) fn with_fallback_reason(mut self, reason: String) -> Backend {
        self.fallback_reason = Some(reason);
        self
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
    #[cfg(feature = "cuda")]
    pub fn cuda_device(&self) -> Option<&Arc<CudaDevice>> {
        self.cuda.as_ref()
    }
}

/// Passes of a device path (training, generation) that a device failed and the CPU ran instead
/// (the same bits, not the device's time), since the process started.
#[doc(hidden)]
pub static DEVICE_FALLBACKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many device passes fell back to the CPU so far: benchmarks and the GPU tests check it
/// stays 0.
pub fn device_fallbacks() -> u64 {
    DEVICE_FALLBACKS.load(std::sync::atomic::Ordering::Relaxed)
}

/// On a device path, returns what `$e` (a `Result` of the pass on the device, `$l` the
/// launcher) gives, or logs its error, counts it and goes on to the CPU's code that follows.
macro_rules! on_device {
    ($path:expr, $variant:path, $what:literal, |$l:ident| $e:expr) => {
        #[cfg(not(feature = "cuda"))]
        let _ = $path;
        #[cfg(feature = "cuda")]
        if let $variant($l) = $path {
            match $e {
                Ok(v) => return v,
                Err(e) => {
                    $crate::device::DEVICE_FALLBACKS
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!("{} fell back to the CPU: {e}", $what)
                }
            }
        }
    };
}
pub(crate) use on_device;
