//! Content-addressed blob store for job inputs and results.
//!
//! A blob is named by the BLAKE3 hash of its bytes (64 lower-case hex digits). Blobs travel as
//! URIs: `http(s)://host/blobs/<hash>` (served by [`serve`], `tessera blobs serve`),
//! `file:///dir/<hash>` (a [`DirStore`] on a shared disk) or `s3://bucket/prefix/<hash>` (an
//! object store: S3 or S3-compatible, `gs://` or `az://`; [`object`]). Whatever the transport,
//! a reader always re-hashes what it got ([`fetch`]), so a tampered, truncated or wrong blob is
//! an error, never an input. What may be fetched at all (schemes, hosts, size, time) is the business of
//! [`crate::fetch_policy`].

pub mod fetch_policy;

#[cfg(feature = "server")]
pub mod allow;
pub mod auth;
pub mod files;
#[cfg(feature = "server")]
pub mod gc;
pub mod http;
pub mod object;
#[cfg(feature = "server")]
pub mod quota;
pub mod refusal;
#[cfg(feature = "server")]
pub mod server;

mod dir;
mod target;

// Blob names are the SDK's (the browser names blobs too); re-exported here as before.
use tessera_sdk::blob_id as id;

pub use dir::DirStore;
pub use id::{hash, hex, parse_hash, MAX_BLOB_BYTES};
pub use refusal::{Refusal, UploadRefused};
#[cfg(feature = "server")]
pub use server::{router, serve, GcConfig, ServerConfig, Uploads};
pub use target::{block_on, fetch, fetch_to_file, BlobTarget};

pub use files::DEFAULT_MAX_FILE_BYTES;
pub use object::{ObjectTarget, StoreError};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_round_trip_and_tamper_detection() {
        let dir = std::env::temp_dir().join(format!("tessera-blobs-{}", std::process::id()));
        let store = DirStore::open(&dir).unwrap();
        let h = store.put(b"hello").unwrap();
        assert_eq!(h, hash(b"hello"));
        assert_eq!(store.get(&h).unwrap().unwrap(), b"hello");
        assert!(store.get(&hash(b"other")).unwrap().is_none());
        let uri = store.uri(&h);
        assert_eq!(block_on(fetch(&uri, &h)).unwrap(), b"hello");
        std::fs::write(store.path(&h), b"hellO").unwrap();
        let err = store.get(&h).unwrap_err().to_string();
        assert!(err.contains("does not match its hash"), "{err}");
        let err = block_on(fetch(&uri, &h)).unwrap_err().to_string();
        assert!(err.contains("does not match its hash"), "{err}");
        assert!(block_on(fetch("ftp://x/y", &h)).is_err());
        assert!(parse_hash("zz").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_puts_of_the_same_blob_all_succeed() {
        let dir = std::env::temp_dir().join(format!("tessera-blobs-par-{}", std::process::id()));
        let store = DirStore::open(&dir).unwrap();
        let data = vec![7u8; 256 * 1024];
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| store.put(&data).unwrap());
            }
        });
        assert_eq!(store.get(&hash(&data)).unwrap().unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
