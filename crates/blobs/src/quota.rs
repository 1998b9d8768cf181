//! Bytes stored per uploader, for the blob server's quotas.
//!
//! Each signed upload leaves a sidecar record `<store>/.owners/<hash>` (`<signer> <size>`); the
//! totals are recomputed from them at start, so nothing else has to stay consistent across a
//! crash. A blob is charged to whoever stored it first; an upload of a blob already there costs
//! nothing. Garbage collection removes the record with the blob ([`Ledger::forget`]).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use solana_sdk::pubkey::Pubkey;

use super::refusal::Refusal;
use crate::id::{hex, parse_hash};

/// The per-signer byte counts (stored plus uploads in flight) and their records.
pub struct Ledger {
    dir: PathBuf,
    usage: Arc<Mutex<HashMap<Pubkey, u64>>>,
}

impl Ledger {
    /// Opens the records under `root/.owners`, dropping those whose blob is gone.
    pub fn open(root: &Path) -> Result<Ledger> {
        let dir = root.join(".owners");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut usage: HashMap<Pubkey, u64> = HashMap::new();
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(h) = parse_hash(&name) else { continue };
            if !root.join(hex(&h)).exists() {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            match std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| parse_record(&t))
            {
                Some((signer, size)) => *usage.entry(signer).or_default() += size,
                None => eprintln!(
                    "blob server: ignoring the unreadable owner record {}",
                    e.path().display()
                ),
            }
        }
        Ok(Ledger {
            dir,
            usage: Arc::new(Mutex::new(usage)),
        })
    }

    /// Bytes charged to `signer` (stored, plus uploads in flight).
    pub fn used(&self, signer: &Pubkey) -> u64 {
        self.usage.lock().unwrap().get(signer).copied().unwrap_or(0)
    }

    /// Charges `size` bytes to `signer` for an upload about to be read, if `quota` allows; the
    /// charge is undone when the returned guard is dropped without [`Reservation::keep`].
    pub fn reserve(
        &self,
        signer: &Pubkey,
        size: u64,
        quota: Option<u64>,
    ) -> Result<Reservation, Refusal> {
        let mut usage = self.usage.lock().unwrap();
        let used = usage.entry(*signer).or_default();
        if let Some(q) = quota {
            if used.saturating_add(size) > q {
                return Err(Refusal::Quota(format!(
                    "{signer} stores {} bytes here; {size} more would pass its quota of {q} bytes",
                    *used
                )));
            }
        }
        *used += size;
        Ok(Reservation {
            usage: self.usage.clone(),
            signer: *signer,
            size,
            kept: false,
        })
    }

    /// Writes the owner record of a stored blob (temporary file and rename).
    pub fn record(&self, hash: &[u8; 32], signer: &Pubkey, size: u64) -> std::io::Result<()> {
        let path = self.dir.join(hex(hash));
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", hex(hash), std::process::id()));
        std::fs::write(&tmp, format!("{signer} {size}\n"))?;
        std::fs::rename(&tmp, &path)
    }

    /// The owner of a stored blob, if it was a signed upload.
    pub fn owner(&self, hash: &[u8; 32]) -> Option<(Pubkey, u64)> {
        let text = std::fs::read_to_string(self.dir.join(hex(hash))).ok()?;
        parse_record(&text)
    }

    /// A blob was deleted: its bytes are no longer charged and its record goes.
    pub fn forget(&self, hash: &[u8; 32]) {
        if let Some((signer, size)) = self.owner(hash) {
            let mut usage = self.usage.lock().unwrap();
            if let Some(u) = usage.get_mut(&signer) {
                *u = u.saturating_sub(size);
            }
        }
        let _ = std::fs::remove_file(self.dir.join(hex(hash)));
    }
}

fn parse_record(text: &str) -> Option<(Pubkey, u64)> {
    let mut it = text.split_whitespace();
    let signer = Pubkey::from_str(it.next()?).ok()?;
    let size = it.next()?.parse().ok()?;
    Some((signer, size))
}

/// Bytes charged for an upload in flight.
pub struct Reservation {
    usage: Arc<Mutex<HashMap<Pubkey, u64>>>,
    signer: Pubkey,
    size: u64,
    kept: bool,
}

impl Reservation {
    /// The upload was stored: the charge stays.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            if let Some(u) = self.usage.lock().unwrap().get_mut(&self.signer) {
                *u = u.saturating_sub(self.size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_reserved_released_and_recomputed_from_records() {
        let root = std::env::temp_dir().join(format!("tessera-quota-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let (a, b) = (Pubkey::new_unique(), Pubkey::new_unique());
        let ledger = Ledger::open(&root).unwrap();
        let r = ledger.reserve(&a, 60, Some(100)).unwrap();
        let err = ledger.reserve(&a, 50, Some(100)).err().unwrap();
        assert!(
            matches!(err, Refusal::Quota(ref m) if m.contains("quota of 100")),
            "{err}"
        );
        ledger.reserve(&b, 50, Some(100)).unwrap(); // dropped: released
        assert_eq!(ledger.used(&b), 0);
        let h = [1u8; 32];
        std::fs::write(root.join(hex(&h)), [0u8; 60]).unwrap();
        ledger.record(&h, &a, 60).unwrap();
        r.keep();
        // a record whose blob is gone is dropped at start
        ledger.record(&[2u8; 32], &a, 30).unwrap();
        let again = Ledger::open(&root).unwrap();
        assert_eq!(again.used(&a), 60);
        assert!(!root.join(".owners").join(hex(&[2u8; 32])).exists());
        again.forget(&h);
        assert_eq!(again.used(&a), 0);
        assert_eq!(again.owner(&h), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
