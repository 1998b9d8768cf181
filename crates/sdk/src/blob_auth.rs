//! The message an uploader signs to put a blob on a Tessera blob server, and the headers it
//! travels in (the server's checks are `tessera_blobs::auth`). An ed25519 signature by a
//! Solana key over the blob's hash, its size and an expiry time, domain-separated so that it
//! can never be replayed as a transaction or any other Tessera message:
//!
//! ```text
//! tessera-blob-upload-v1:<hash, 64 lower-case hex digits>:<size in bytes>:<expiry, unix seconds>
//! ```
//!
//! Keys and signature travel in base58, as Solana prints them; the size is the request's
//! `Content-Length`. Pure, so a browser wallet (`solana:signMessage`) signs the same bytes as
//! the CLI.
use crate::blob_id::hex;

/// The uploader's public key (base58).
pub const SIGNER_HEADER: &str = "x-tessera-signer";
/// Unix seconds after which the signature is void.
pub const EXPIRY_HEADER: &str = "x-tessera-expiry";
/// The ed25519 signature of [`message`] (base58).
pub const SIGNATURE_HEADER: &str = "x-tessera-signature";

/// How long an upload signature made now stays valid (the server checks it when the request
/// arrives, so a long upload does not need more).
pub const DEFAULT_VALIDITY_SECS: u64 = 600;

/// The message an uploader signs.
pub fn message(hash: &[u8; 32], size: u64, expiry: u64) -> String {
    format!("tessera-blob-upload-v1:{}:{size}:{expiry}", hex(hash))
}
