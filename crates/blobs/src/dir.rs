//! A blob store in a directory (a local cache, or a shared disk reached by `file://` URIs).
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::id::{hash, hex, MAX_BLOB_BYTES};

/// A directory of blobs, each stored as `<dir>/<hash>`.
#[derive(Clone, Debug)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating blob directory {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving blob directory {}", root.display()))?;
        Ok(DirStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.root.join(hex(hash))
    }

    /// `file://` URI of a blob in this store.
    pub fn uri(&self, hash: &[u8; 32]) -> String {
        format!("file://{}", self.path(hash).display())
    }

    /// Stores `bytes` (write to a temporary file, fsync, rename: a crash never leaves a partial
    /// blob under its name) and returns its hash.
    pub fn put(&self, bytes: &[u8]) -> Result<[u8; 32]> {
        if bytes.len() > MAX_BLOB_BYTES {
            bail!(
                "blob is {} bytes, the limit is {MAX_BLOB_BYTES}",
                bytes.len()
            );
        }
        let h = hash(bytes);
        let path = self.path(&h);
        if path.exists() {
            return Ok(h);
        }
        // A unique temporary name: concurrent puts of the same blob must not share one.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .root
            .join(format!(".{}.{}.{seq}.tmp", hex(&h), std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            // another writer may have stored the same bytes meanwhile
            if self.get(&h).ok().flatten().is_some() {
                return Ok(h);
            }
            return Err(e).with_context(|| format!("writing blob {}", path.display()));
        }
        Ok(h)
    }

    /// Reads a blob and checks its hash; `None` if it is not here.
    pub fn get(&self, h: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let path = self.path(h);
        match std::fs::read(&path) {
            Ok(bytes) => {
                verify(&bytes, h, &path.display().to_string())?;
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading blob {}", path.display())),
        }
    }
}

pub(crate) fn verify(bytes: &[u8], expected: &[u8; 32], source: &str) -> Result<()> {
    let got = hash(bytes);
    if &got != expected {
        bail!(
            "blob from {source} does not match its hash: expected {}, got {} ({} bytes); the source is corrupt or tampered with",
            hex(expected),
            hex(&got),
            bytes.len()
        );
    }
    Ok(())
}
