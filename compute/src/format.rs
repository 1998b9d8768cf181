//! The common job-input header and a bounds-checked little-endian reader.
//!
//! Every job input blob starts with an 8-byte header:
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 4    | magic `TSKI` (ASCII)                    |
//! | 4      | 2    | kernel id, u16 LE (see [`KernelId`])     |
//! | 6      | 2    | spec version, u16 LE                    |
//!
//! followed by the kernel-specific header and payload (see `docs/KERNELS.md`).

use crate::error::{ComputeError, Result};
use crate::KernelId;

/// Magic bytes at the start of every job input blob.
pub const INPUT_MAGIC: [u8; 4] = *b"TSKI";
/// Size of the common header.
pub const HEADER_LEN: usize = 8;

/// Parsed common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputHeader {
    /// Kernel the blob is for.
    pub kernel: KernelId,
    /// Spec version the blob was built for.
    pub spec_version: u16,
}

/// Reads the common header; checks the magic, the kernel id and the spec version.
pub fn read_header(input: &[u8]) -> Result<InputHeader> {
    let mut r = Reader::new(input);
    let magic = r.array::<4>("magic")?;
    if magic != INPUT_MAGIC {
        return Err(ComputeError::BadMagic {
            found: magic,
            expected: "TSKI",
        });
    }
    let id = r.u16("kernel id")?;
    let kernel = KernelId::from_u16(id).ok_or(ComputeError::UnknownKernel(id))?;
    let spec_version = r.u16("spec version")?;
    if !kernel.supports(spec_version) {
        return Err(ComputeError::UnsupportedVersion {
            kernel: kernel.name(),
            found: spec_version,
            supported: kernel.spec_version(),
        });
    }
    Ok(InputHeader {
        kernel,
        spec_version,
    })
}

/// Writes the common header for `kernel` at its current spec version.
pub fn write_header(out: &mut Vec<u8>, kernel: KernelId) {
    write_header_version(out, kernel, kernel.spec_version());
}

/// Writes the common header for `kernel` at spec `version` (one the kernel supports).
pub fn write_header_version(out: &mut Vec<u8>, kernel: KernelId, version: u16) {
    debug_assert!(kernel.supports(version));
    out.extend_from_slice(&INPUT_MAGIC);
    out.extend_from_slice(&kernel.as_u16().to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
}

/// Reads the header and checks that it is for `expected`; returns the payload after it.
pub fn expect_header(input: &[u8], expected: KernelId) -> Result<&[u8]> {
    let h = read_header(input)?;
    if h.kernel != expected {
        return Err(ComputeError::KernelMismatch {
            expected: expected.name(),
            found: h.kernel.name(),
        });
    }
    Ok(&input[HEADER_LEN..])
}

/// Bounds-checked little-endian cursor over a byte slice. Every read returns
/// [`ComputeError::Truncated`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts at offset 0 of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes.
    pub fn bytes(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let avail = self.remaining();
        if n > avail as u64 {
            return Err(ComputeError::Truncated {
                what,
                need: n,
                offset: self.pos,
                available: avail,
            });
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A length-prefixed (u16) UTF-8 URI of 1 ..= `max` bytes; `what` names it in errors.
    pub fn uri(&mut self, what: &'static str, max: usize) -> Result<String> {
        let len = self.u16(what)? as usize;
        if len == 0 || len > max {
            return Err(ComputeError::InvalidInput(format!(
                "{what} of {len} bytes (1 ..= {max})"
            )));
        }
        std::str::from_utf8(self.bytes(len as u64, what)?)
            .map(str::to_string)
            .map_err(|_| ComputeError::InvalidInput(format!("{what} is not UTF-8")))
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.bytes(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a u8.
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a u16 LE.
    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a u32 LE.
    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads an i32 LE.
    pub fn i32(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    /// Fails with [`ComputeError::TrailingBytes`] if anything is left.
    pub fn finish(&self, what: &'static str) -> Result<()> {
        if self.remaining() != 0 {
            return Err(ComputeError::TrailingBytes {
                what,
                trailing: self.remaining(),
            });
        }
        Ok(())
    }
}

/// `a * b` with overflow reported as [`ComputeError::TooLarge`].
pub fn checked_mul(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_mul(b)
        .ok_or_else(|| ComputeError::TooLarge(format!("{what} overflows 64 bits ({a} x {b})")))
}

/// `a + b` with overflow reported as [`ComputeError::TooLarge`].
pub fn checked_add(a: u64, b: u64, what: &str) -> Result<u64> {
    a.checked_add(b)
        .ok_or_else(|| ComputeError::TooLarge(format!("{what} overflows 64 bits ({a} + {b})")))
}

/// Decodes little-endian f32 values.
pub fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|c| f32::from_le_bytes(*c))
        .collect()
}

/// Decodes little-endian i32 values.
pub fn i32s_from_le(bytes: &[u8]) -> Vec<i32> {
    bytes
        .as_chunks::<4>()
        .0
        .iter()
        .map(|c| i32::from_le_bytes(*c))
        .collect()
}

/// Reinterprets bytes as i8.
pub fn i8s_from_bytes(bytes: &[u8]) -> Vec<i8> {
    bytes.iter().map(|&b| b as i8).collect()
}

/// Encodes f32 values little-endian.
pub fn f32s_to_le(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Encodes i32 values little-endian.
pub fn i32s_to_le(v: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}
