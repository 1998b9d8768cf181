//! GEMM kernels: `C[M×N] = A[M×K] · B[K×N]`, all matrices row-major.
//!
//! * **int8** (kernel id 1): `C[i][j] = Σ_k A[i][k]·B[k][j]` in int32 with wrap-around
//!   (two's complement, mod 2^32). Integer addition is associative, so any order, tiling or
//!   tensor-core instruction gives the same bits.
//! * **f32** (kernel id 2): one accumulator per output element, starting at `+0.0`,
//!   `acc = fma(A[i][k], B[k][j], acc)` for `k = 0, 1, …, K-1` (single rounding per step,
//!   denormals kept). Output NaNs are canonicalized to `0x7FC00000`.
//!
//! Input blob (after the common 8-byte header): `m: u32, n: u32, k: u32` LE, then A
//! (`m·k` elements) and B (`k·n` elements), row-major; i8 as bytes, f32 as LE IEEE-754.
//! Output: C row-major, `m·n` i32 LE or f32 LE.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

use crate::device::Backend;
use crate::error::{ComputeError, Result};
use crate::format::{checked_add, checked_mul, expect_header, write_header, Reader};
use crate::limits::Limits;
use crate::rng::SplitMix64;
use crate::KernelId;

/// Largest accepted M, N or K (keeps every device grid dimension and index in range).
pub const MAX_DIM: u32 = 1 << 22;
/// The canonical f32 NaN written to outputs.
pub const CANONICAL_NAN: u32 = 0x7FC0_0000;

/// Canonicalizes NaNs (any payload/sign becomes `0x7FC00000`).
#[inline]
pub fn canonicalize_f32(x: f32) -> f32 {
    if x.is_nan() {
        f32::from_bits(CANONICAL_NAN)
    } else {
        x
    }
}

/// Validated GEMM shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmShape {
    /// Rows of A and C.
    pub m: u32,
    /// Columns of B and C.
    pub n: u32,
    /// Columns of A, rows of B.
    pub k: u32,
}

impl GemmShape {
    /// Checks dimensions and the host memory / work limits for `elem` bytes per input element
    /// and `out_elem` bytes per output element. The memory counted is the run's peak: the input
    /// blob and the parsed A and B (twice A + B), and the result three times (C, its canonical
    /// bytes and the result blob). A GEMM with no multiply-add (m, n or k = 0) is refused: a
    /// few bytes with k = 0 asked for gigabytes of zeros at any price.
    pub fn check(m: u32, n: u32, k: u32, elem: u64, out_elem: u64, limits: &Limits) -> Result<()> {
        for (name, v) in [("m", m), ("n", n), ("k", k)] {
            if v > MAX_DIM {
                return Err(ComputeError::TooLarge(format!(
                    "{name} = {v} exceeds the maximum dimension {MAX_DIM}"
                )));
            }
        }
        if m == 0 || n == 0 || k == 0 {
            return Err(ComputeError::InvalidInput(format!(
                "GEMM {m}x{n}x{k} has no work (m, n and k must be at least 1)"
            )));
        }
        let (m, n, k) = (m as u64, n as u64, k as u64);
        let a = checked_mul(checked_mul(m, k, "A size")?, elem, "A bytes")?;
        let b = checked_mul(checked_mul(k, n, "B size")?, elem, "B bytes")?;
        let c = checked_mul(checked_mul(m, n, "C size")?, out_elem, "C bytes")?;
        let inputs = checked_mul(checked_add(a, b, "GEMM bytes")?, 2, "GEMM bytes")?;
        let results = checked_mul(c, 3, "GEMM bytes")?;
        let total = checked_add(inputs, results, "GEMM bytes")?;
        if total > limits.max_host_bytes {
            return Err(ComputeError::TooLarge(format!(
                "GEMM {m}x{n}x{k} peaks at {total} bytes (inputs twice, the result three times), limit is {}",
                limits.max_host_bytes
            )));
        }
        let macs = checked_mul(checked_mul(m, n, "MACs")?, k, "MACs")?;
        if macs > limits.max_macs {
            return Err(ComputeError::TooLarge(format!(
                "GEMM {m}x{n}x{k} is {macs} multiply-adds, limit is {}",
                limits.max_macs
            )));
        }
        Ok(())
    }
}

#[allow(clippy::type_complexity)]
fn parse_common<'a>(
    input: &'a [u8],
    kernel: KernelId,
    elem: u64,
    limits: &Limits,
) -> Result<(u32, u32, u32, &'a [u8], &'a [u8])> {
    let payload = expect_header(input, kernel)?;
    let mut r = Reader::new(payload);
    let m = r.u32("m")?;
    let n = r.u32("n")?;
    let k = r.u32("k")?;
    GemmShape::check(m, n, k, elem, 4, limits)?;
    let a_len = m as u64 * k as u64 * elem;
    let b_len = k as u64 * n as u64 * elem;
    let a = r.bytes(a_len, "matrix A")?;
    let b = r.bytes(b_len, "matrix B")?;
    r.finish("matrix B")?;
    Ok((m, n, k, a, b))
}

/// A validated int8 GEMM job.
#[derive(Debug, Clone)]
pub struct GemmI8Job {
    /// M.
    pub m: u32,
    /// N.
    pub n: u32,
    /// K.
    pub k: u32,
    /// A, row-major M×K.
    pub a: Vec<i8>,
    /// B, row-major K×N.
    pub b: Vec<i8>,
}

impl GemmI8Job {
    /// Parses and validates an int8 GEMM blob.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let (m, n, k, a, b) = parse_common(input, KernelId::GemmI8, 1, limits)?;
        Ok(Self {
            m,
            n,
            k,
            a: crate::format::i8s_from_bytes(a),
            b: crate::format::i8s_from_bytes(b),
        })
    }

    /// Computes C and returns its canonical bytes.
    pub fn run(&self, backend: &Backend) -> Result<Vec<u8>> {
        Ok(crate::format::i32s_to_le(&self.compute(backend)?))
    }

    /// Computes C.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn compute(&self, backend: &Backend) -> Result<Vec<i32>> {
        let (m, n, k) = (self.m as usize, self.n as usize, self.k as usize);
        #[cfg(feature = "cuda")]
        if let Some(dev) = backend.cuda_device() {
            return dev.gemm_i8(m, n, k, &self.a, &self.b, backend.limits());
        }
        Ok(cpu::gemm_i8(m, n, k, &self.a, &self.b))
    }
}

/// A validated f32 GEMM job.
#[derive(Debug, Clone)]
pub struct GemmF32Job {
    /// M.
    pub m: u32,
    /// N.
    pub n: u32,
    /// K.
    pub k: u32,
    /// A, row-major M×K.
    pub a: Vec<f32>,
    /// B, row-major K×N.
    pub b: Vec<f32>,
}

impl GemmF32Job {
    /// Parses and validates an f32 GEMM blob.
    pub fn parse(input: &[u8], limits: &Limits) -> Result<Self> {
        let (m, n, k, a, b) = parse_common(input, KernelId::GemmF32, 4, limits)?;
        Ok(Self {
            m,
            n,
            k,
            a: crate::format::f32s_from_le(a),
            b: crate::format::f32s_from_le(b),
        })
    }

    /// Computes C and returns its canonical bytes (NaNs canonicalized).
    pub fn run(&self, backend: &Backend) -> Result<Vec<u8>> {
        Ok(crate::format::f32s_to_le(&self.compute(backend)?))
    }

    /// `A·B` on `backend`, before canonicalisation.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    fn product(&self, backend: &Backend) -> Result<Vec<f32>> {
        let (m, n, k) = (self.m as usize, self.n as usize, self.k as usize);
        #[cfg(feature = "cuda")]
        if let Some(dev) = backend.cuda_device() {
            return dev.gemm_f32(m, n, k, &self.a, &self.b, backend.limits());
        }
        Ok(cpu::gemm_f32(m, n, k, &self.a, &self.b))
    }

    /// Computes C (NaNs canonicalized).
    pub fn compute(&self, backend: &Backend) -> Result<Vec<f32>> {
        let mut c = self.product(backend)?;
        for x in c.iter_mut() {
            *x = canonicalize_f32(*x);
        }
        Ok(c)
    }
}

fn check_build(m: u32, n: u32, k: u32, elem: u64, a: usize, b: usize) -> Result<()> {
    GemmShape::check(m, n, k, elem, 4, &Limits::default())?;
    if a as u64 != m as u64 * k as u64 || b as u64 != k as u64 * n as u64 {
        return Err(ComputeError::InvalidInput(format!(
            "A has {a} and B has {b} elements; {m}x{k} and {k}x{n} expected"
        )));
    }
    Ok(())
}

/// Encodes an int8 GEMM input blob.
pub fn encode_i8_input(m: u32, n: u32, k: u32, a: &[i8], b: &[i8]) -> Result<Vec<u8>> {
    check_build(m, n, k, 1, a.len(), b.len())?;
    let mut out = Vec::with_capacity(20 + a.len() + b.len());
    write_header(&mut out, KernelId::GemmI8);
    for v in [m, n, k] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend(a.iter().map(|&x| x as u8));
    out.extend(b.iter().map(|&x| x as u8));
    Ok(out)
}

/// Encodes an f32 GEMM input blob.
pub fn encode_f32_input(m: u32, n: u32, k: u32, a: &[f32], b: &[f32]) -> Result<Vec<u8>> {
    check_build(m, n, k, 4, a.len(), b.len())?;
    let mut out = Vec::with_capacity(20 + 4 * (a.len() + b.len()));
    write_header(&mut out, KernelId::GemmF32);
    for v in [m, n, k] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for x in a.iter().chain(b) {
        out.extend_from_slice(&x.to_le_bytes());
    }
    Ok(out)
}

/// Random int8 matrices (uniform over -128..=127) from `seed`: `(A, B)`.
pub fn random_i8(m: u32, n: u32, k: u32, seed: u64) -> (Vec<i8>, Vec<i8>) {
    let mut r = SplitMix64::new(seed);
    let a = (0..m as usize * k as usize).map(|_| r.next_i8()).collect();
    let b = (0..k as usize * n as usize).map(|_| r.next_i8()).collect();
    (a, b)
}

/// Random f32 matrices (uniform in [-1, 1)) from `seed`: `(A, B)`.
pub fn random_f32(m: u32, n: u32, k: u32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut r = SplitMix64::new(seed);
    let a = (0..m as usize * k as usize)
        .map(|_| r.range_f32(-1.0, 1.0))
        .collect();
    let b = (0..k as usize * n as usize)
        .map(|_| r.range_f32(-1.0, 1.0))
        .collect();
    (a, b)
}

/// Builds an int8 GEMM blob with random matrices from `seed`.
pub fn build_i8_input(m: u32, n: u32, k: u32, seed: u64) -> Result<Vec<u8>> {
    check_build(m, n, k, 1, 0, 0).or_else(|e| match e {
        ComputeError::InvalidInput(_) => Ok(()),
        e => Err(e),
    })?;
    let (a, b) = random_i8(m, n, k, seed);
    encode_i8_input(m, n, k, &a, &b)
}

/// Builds an f32 GEMM blob with random matrices from `seed`.
pub fn build_f32_input(m: u32, n: u32, k: u32, seed: u64) -> Result<Vec<u8>> {
    check_build(m, n, k, 4, 0, 0).or_else(|e| match e {
        ComputeError::InvalidInput(_) => Ok(()),
        e => Err(e),
    })?;
    let (a, b) = random_f32(m, n, k, seed);
    encode_f32_input(m, n, k, &a, &b)
}
