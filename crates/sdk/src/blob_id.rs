//! Blob identity: a blob (a job's input, model or result) is named by the BLAKE3 hash of its
//! bytes, written as 64 lower-case hex digits — the hash a job account records on chain; and
//! the largest blob anything accepts. Pure, so the browser names blobs as the blob store does.
use anyhow::{anyhow, Result};

/// Largest blob accepted or downloaded (512 MiB).
pub const MAX_BLOB_BYTES: usize = 512 << 20;

/// Lower-case hex of a hash.
pub fn hex(hash: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*hash).to_hex().to_string()
}

/// BLAKE3 of `bytes`.
pub fn hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// Parses 64 hex digits.
pub fn parse_hash(s: &str) -> Result<[u8; 32]> {
    let h = blake3::Hash::from_hex(s.trim())
        .map_err(|_| anyhow!("`{s}` is not a blob hash (64 hex digits)"))?;
    Ok(*h.as_bytes())
}
