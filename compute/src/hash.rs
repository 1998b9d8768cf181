//! The result hash posted on-chain.
//!
//! `result_hash = BLAKE3( "tessera-result-v1" || kernel_id: u16 LE || spec_version: u16 LE
//!                        || output_len: u64 LE || output bytes )`
//!
//! The domain tag is the 17 ASCII bytes `tessera-result-v1` with no terminator. See
//! `docs/KERNELS.md`.

use crate::KernelId;

/// Domain-separation tag that starts every hashed encoding.
pub const RESULT_DOMAIN_TAG: &[u8] = b"tessera-result-v1";

/// BLAKE3 over the canonical encoding of a kernel result. This is the value a worker posts.
pub fn result_hash(kernel: KernelId, spec_version: u16, output: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(RESULT_DOMAIN_TAG);
    h.update(&kernel.as_u16().to_le_bytes());
    h.update(&spec_version.to_le_bytes());
    h.update(&(output.len() as u64).to_le_bytes());
    h.update(output);
    *h.finalize().as_bytes()
}

/// Lower-case hex of a 32-byte hash.
pub fn to_hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    for b in hash {
        let _ = write!(s, "{b:02x}");
    }
    s
}
