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

/// The exact bytes [`result_hash`] hashes: `"tessera-result-v1" ‖ kernel_id ‖ spec_version ‖
/// output_len ‖ output`. Stored as a blob, its BLAKE3 content address *is* the result hash, so a
/// result can be fetched by the hash posted on-chain and checked by hashing it.
pub fn result_blob(kernel: KernelId, spec_version: u16, output: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(RESULT_DOMAIN_TAG.len() + 12 + output.len());
    v.extend_from_slice(RESULT_DOMAIN_TAG);
    v.extend_from_slice(&kernel.as_u16().to_le_bytes());
    v.extend_from_slice(&spec_version.to_le_bytes());
    v.extend_from_slice(&(output.len() as u64).to_le_bytes());
    v.extend_from_slice(output);
    v
}

/// Splits a [`result_blob`] into kernel, spec version and output bytes.
pub fn parse_result_blob(blob: &[u8]) -> crate::Result<(KernelId, u16, &[u8])> {
    let bad = |why: &str| crate::ComputeError::InvalidInput(format!("result blob: {why}"));
    let rest = blob
        .strip_prefix(RESULT_DOMAIN_TAG)
        .ok_or_else(|| bad("missing the tessera-result-v1 tag"))?;
    if rest.len() < 12 {
        return Err(bad("truncated header"));
    }
    let id = u16::from_le_bytes([rest[0], rest[1]]);
    let kernel = KernelId::from_u16(id).ok_or_else(|| bad(&format!("unknown kernel id {id}")))?;
    let version = u16::from_le_bytes([rest[2], rest[3]]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&rest[4..12]);
    let output = &rest[12..];
    if u64::from_le_bytes(len) != output.len() as u64 {
        return Err(bad("length field does not match the output"));
    }
    Ok((kernel, version, output))
}

#[cfg(test)]
mod blob_tests {
    use super::*;

    #[test]
    fn result_blob_hashes_to_the_result_hash_and_parses_back() {
        let out = [1u8, 2, 3, 250];
        let blob = result_blob(KernelId::Render, 1, &out);
        assert_eq!(
            *blake3::hash(&blob).as_bytes(),
            result_hash(KernelId::Render, 1, &out)
        );
        let (k, v, o) = parse_result_blob(&blob).unwrap();
        assert_eq!((k, v, o), (KernelId::Render, 1, &out[..]));
        assert!(parse_result_blob(&blob[..blob.len() - 1]).is_err());
        assert!(parse_result_blob(b"tessera-result-v1").is_err());
        assert!(parse_result_blob(b"nope").is_err());
    }
}
