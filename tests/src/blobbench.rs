//! What the blob benchmarks (`bench-blobs`, `bench-store`) share: a large pseudo-random
//! source file written without holding it, and a process's memory from /proc.
use std::io::Write;
use std::path::Path;
use std::process::Child;

use anyhow::{Context, Result};

/// A server process, killed when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `size` pseudo-random bytes (BLAKE3 in XOF mode, keyed by `seed`) to `path`, 1 MiB at
/// a time; returns their hash.
pub fn write_source(path: &Path, size: u64, seed: &[u8]) -> Result<[u8; 32]> {
    let mut xof = blake3::Hasher::new().update(seed).finalize_xof();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        xof.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(*hasher.finalize().as_bytes())
}

/// A `kB` field of /proc/<pid>/status (`VmRSS`, `VmHWM`), in KiB.
pub fn proc_status(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} in /proc/{pid}/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_what_its_hash_says_and_memory_is_read() {
        let p = std::env::temp_dir().join(format!("tessera-blobbench-{}", std::process::id()));
        let size = (3 << 20) + 12_345;
        let h = write_source(&p, size, b"x").unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(*blake3::hash(&bytes).as_bytes(), h);
        assert_ne!(write_source(&p, size, b"y").unwrap(), h, "the seed matters");
        std::fs::remove_file(&p).unwrap();
        assert!(proc_status(std::process::id(), "VmHWM").unwrap() > 0);
        assert!(proc_status(std::process::id(), "NoSuchField").is_err());
    }
}
