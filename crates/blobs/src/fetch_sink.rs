//! Where a [`super::Fetcher`]'s bytes go while they stream: memory (a kernel's input) or a
//! file (`tessera blobs get`). Either way a [`Sink`] enforces the byte cap and hashes what
//! passes.
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use super::FetchError;
use crate::id::hex;

/// The bytes' destination.
pub(crate) trait Collect: Send {
    type Output;
    /// The announced size (within the cap): a hint.
    fn expect(&mut self, n: u64);
    async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()>;
    /// After the last chunk.
    async fn done(self) -> std::io::Result<Self::Output>;
}

/// Into memory, never growing past the cap.
pub(crate) struct Memory {
    buf: Vec<u8>,
    limit: u64,
}

impl Memory {
    pub(crate) fn new(limit: u64) -> Self {
        Memory {
            buf: Vec::new(),
            limit,
        }
    }
}

impl Collect for Memory {
    type Output = Vec<u8>;

    fn expect(&mut self, n: u64) {
        // the announced size is only a hint (it is checked as the bytes come), but it is
        // within the cap: reserve it so an honest body is not copied while growing
        self.buf.reserve_exact(n.min(self.limit) as usize);
    }

    async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let len = self.buf.len() + chunk.len();
        if self.buf.capacity() < len {
            // grow geometrically, but never past the cap
            let want = (self.buf.capacity() as u64 * 2)
                .max(len as u64)
                .max(64 << 10)
                .min(self.limit) as usize;
            self.buf.reserve_exact(want.max(len) - self.buf.len());
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    async fn done(self) -> std::io::Result<Vec<u8>> {
        Ok(self.buf)
    }
}

/// Into a (temporary) file, synced at the end; the caller renames or removes it.
pub(crate) struct FileOut {
    file: tokio::io::BufWriter<tokio::fs::File>,
}

impl FileOut {
    pub(crate) async fn create(path: &PathBuf) -> std::io::Result<Self> {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .await?;
        Ok(FileOut {
            file: tokio::io::BufWriter::with_capacity(1 << 20, file),
        })
    }
}

impl Collect for FileOut {
    type Output = ();

    fn expect(&mut self, _: u64) {}

    async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk).await
    }

    async fn done(mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.get_mut().sync_all().await
    }
}

/// A body on its way to a [`Collect`]: under the byte cap, hashed as it passes.
pub(crate) struct Sink<'a, C: Collect> {
    uri: &'a str,
    limit: u64,
    len: u64,
    hasher: blake3::Hasher,
    out: C,
}

impl<'a, C: Collect> Sink<'a, C> {
    /// Refuses a `declared` size over `limit` before any byte is read.
    pub(crate) fn new(
        uri: &'a str,
        limit: u64,
        declared: Option<u64>,
        mut out: C,
    ) -> Result<Self, FetchError> {
        if let Some(n) = declared.filter(|&n| n > limit) {
            return Err(FetchError::TooLarge {
                uri: uri.to_string(),
                limit,
                declared: Some(n),
            });
        }
        if let Some(n) = declared {
            out.expect(n);
        }
        Ok(Sink {
            uri,
            limit,
            len: 0,
            hasher: blake3::Hasher::new(),
            out,
        })
    }

    pub(crate) async fn push(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        let len = self.len + chunk.len() as u64;
        if len > self.limit {
            return Err(FetchError::TooLarge {
                uri: self.uri.to_string(),
                limit: self.limit,
                declared: None,
            });
        }
        self.hasher.update(chunk);
        self.out
            .write(chunk)
            .await
            .map_err(|e| FetchError::io(self.uri, e))?;
        self.len = len;
        Ok(())
    }

    /// Checks the hash; the collected output when it matches.
    pub(crate) async fn finish(self, expected: &[u8; 32]) -> Result<C::Output, FetchError> {
        let got = *self.hasher.finalize().as_bytes();
        if &got != expected {
            return Err(FetchError::HashMismatch {
                uri: self.uri.to_string(),
                expected: hex(expected),
                got: hex(&got),
                bytes: self.len,
            });
        }
        self.out
            .done()
            .await
            .map_err(|e| FetchError::io(self.uri, e))
    }
}
