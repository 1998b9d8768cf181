//! Error type shared by every kernel and backend.

use thiserror::Error;

/// Every failure the compute crate reports. Bad input never panics and never reaches a GPU:
/// it is rejected with one of these variants before anything is allocated or launched.
#[derive(Debug, Error)]
pub enum ComputeError {
    /// The input blob ended before a field or payload could be read.
    #[error(
        "truncated input: {what} needs {need} bytes at offset {offset}, only {available} left"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Offset in the blob.
        offset: usize,
        /// Bytes left at that offset.
        available: usize,
    },
    /// The blob does not start with the expected magic bytes.
    #[error("bad magic {found:02x?}, expected {expected:?}")]
    BadMagic {
        /// The 4 bytes found.
        found: [u8; 4],
        /// The expected magic, as text.
        expected: &'static str,
    },
    /// The kernel id in the header is not a known kernel.
    #[error("unknown kernel id {0}")]
    UnknownKernel(u16),
    /// The kernel id in the header is not the kernel that was asked for.
    #[error("header is for kernel {found}, but kernel {expected} was requested")]
    KernelMismatch {
        /// Kernel requested by the caller.
        expected: &'static str,
        /// Kernel named in the header.
        found: &'static str,
    },
    /// The header names a spec version this build does not implement.
    #[error(
        "kernel {kernel}: unsupported spec version {found} (this build implements {supported})"
    )]
    UnsupportedVersion {
        /// Kernel name.
        kernel: &'static str,
        /// Version in the header.
        found: u16,
        /// Version implemented.
        supported: u16,
    },
    /// Bytes remain after the declared payload.
    #[error("{trailing} unexpected trailing bytes after the {what}")]
    TrailingBytes {
        /// What was parsed.
        what: &'static str,
        /// How many bytes remain.
        trailing: usize,
    },
    /// A field has a value outside its allowed range (message says which).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The job is larger than the configured limits (host memory, work, VRAM).
    #[error("job too large: {0}")]
    TooLarge(String),
    /// The scene text does not parse or does not validate.
    #[error("scene error: {0}")]
    Scene(String),
    /// The model blob does not parse or does not validate.
    #[error("model error: {0}")]
    Model(String),
    /// The CUDA backend was requested but cannot be used (no driver, no device, NVRTC missing...).
    #[error("CUDA unavailable: {0}")]
    CudaUnavailable(String),
    /// A CUDA driver, NVRTC or cuBLAS call failed.
    #[error("CUDA error: {0}")]
    Cuda(String),
    /// Not enough free device memory for the job.
    #[error("not enough device memory: job needs {need} bytes, {free} bytes free")]
    OutOfDeviceMemory {
        /// Bytes the job needs on the device.
        need: u64,
        /// Bytes free on the device.
        free: u64,
    },
    /// The GPU produced a result that differs from the CPU reference in the start-up self-test.
    #[error("CUDA self-test failed: {0}")]
    SelfTest(String),
    /// Writing an image failed.
    #[error("image encoding error: {0}")]
    Image(String),
    /// File I/O failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Short alias used throughout the crate.
pub type Result<T, E = ComputeError> = std::result::Result<T, E>;
