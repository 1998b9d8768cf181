//! The crash-safe local journal (redb). One record per job this node took part in, written
//! (and fsync'd by redb's commit) *before* the transaction of the next step is sent. After a
//! crash the scheduler resumes every unfinished record: a salt is never lost, a commit is
//! never sent twice with different contents, and a reveal only ever carries a result hash this
//! node computed and recorded.
use std::path::Path;

use anyhow::{Context, Result};
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use solana_sdk::pubkey::Pubkey;

const CLAIMS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("claims");

/// Where a claim is in its life (in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// Auction: a bid is being placed / was placed; claiming once the auction closes.
    Bidding,
    /// The claim transaction is being sent (salt chosen and recorded).
    Claiming,
    /// Claim confirmed; computing.
    Claimed,
    /// Result computed and published; commitment about to be sent.
    Computed,
    /// Commitment confirmed; waiting for the reveal phase.
    Committed,
    /// Reveal confirmed; waiting for settlement.
    Revealed,
    /// The claim account is closed: paid or slashed. Final.
    Settled,
    /// Gave up (lost the race for a slot, job cancelled, claim expired…). Final.
    Abandoned,
}

impl Stage {
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Settled | Stage::Abandoned)
    }
}

/// One job this node works on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    pub job: [u8; 32],
    pub stage: Stage,
    /// Commit salt, chosen before the claim is sent.
    pub salt: [u8; 32],
    /// The result this node computed (what it commits to and reveals).
    pub result_hash: Option<[u8; 32]>,
    pub output_uri: Option<String>,
    /// Auction: the price bid.
    pub bid_price: Option<u64>,
    /// Unix ms when the job was first seen / claim confirmed / computed.
    pub seen_ms: u64,
    pub claimed_ms: Option<u64>,
    pub computed_ms: Option<u64>,
    /// Seconds of kernel time.
    pub kernel_secs: Option<f64>,
    /// Why the record ended as Abandoned, or the last error seen.
    pub note: Option<String>,
    /// Claim attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The job's agreed result was this node's (seen before settlement): a claim closed by the
    /// client's settlement, with the job closed too, was paid.
    #[serde(default)]
    pub agreed: bool,
}

impl Entry {
    pub fn new(job: &Pubkey, stage: Stage) -> Entry {
        Entry {
            job: job.to_bytes(),
            stage,
            salt: rand::random(),
            result_hash: None,
            output_uri: None,
            bid_price: None,
            seen_ms: now_ms(),
            claimed_ms: None,
            computed_ms: None,
            kernel_secs: None,
            note: None,
            attempts: 0,
            agreed: false,
        }
    }

    pub fn job(&self) -> Pubkey {
        Pubkey::new_from_array(self.job)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The journal file.
pub struct Journal {
    path: std::path::PathBuf,
    /// `None` only while being reopened.
    db: std::sync::Mutex<Option<Database>>,
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the state directory {}", dir.display()))?;
        }
        let db = Self::open_db(path)?;
        Ok(Journal {
            path: path.to_path_buf(),
            db: std::sync::Mutex::new(Some(db)),
        })
    }

    fn open_db(path: &Path) -> Result<Database> {
        let db = Database::create(path)
            .with_context(|| format!("opening the journal {}", path.display()))?;
        let tx = db.begin_write()?;
        tx.open_table(CLAIMS)?;
        tx.commit()?;
        Ok(db)
    }

    fn with_db<T>(&self, f: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let mut guard = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(Self::open_db(&self.path)?);
        }
        let res = f(guard.as_ref().expect("journal open"));
        if res.is_err() {
            // After an I/O error (a full disk, say) redb refuses every later operation until
            // the file is reopened: close it now, reopen on the next call.
            guard.take();
        }
        res
    }

    /// Durably records `e` (returns only after the write is on disk).
    pub fn put(&self, e: &Entry) -> Result<()> {
        let bytes = serde_json::to_vec(e)?;
        self.with_db(|db| {
            let tx = db.begin_write().context("journal write")?;
            {
                let mut t = tx.open_table(CLAIMS)?;
                t.insert(&e.job, bytes.as_slice())?;
            }
            tx.commit().context("journal commit (is the disk full?)")?;
            Ok(())
        })
    }

    pub fn get(&self, job: &Pubkey) -> Result<Option<Entry>> {
        self.with_db(|db| {
            let tx = db.begin_read()?;
            let t = tx.open_table(CLAIMS)?;
            Ok(match t.get(&job.to_bytes())? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            })
        })
    }

    pub fn all(&self) -> Result<Vec<Entry>> {
        self.with_db(Self::all_in)
    }

    fn all_in(db: &Database) -> Result<Vec<Entry>> {
        let tx = db.begin_read()?;
        let t = tx.open_table(CLAIMS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("tessera-journal-{}", std::process::id()));
        let path = dir.join("j.redb");
        let job = Pubkey::new_unique();
        let salt;
        {
            let j = Journal::open(&path).unwrap();
            let mut e = Entry::new(&job, Stage::Claiming);
            salt = e.salt;
            j.put(&e).unwrap();
            e.stage = Stage::Computed;
            e.result_hash = Some([7; 32]);
            j.put(&e).unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let e = j.get(&job).unwrap().unwrap();
        assert_eq!(e.stage, Stage::Computed);
        assert_eq!(e.salt, salt);
        assert_eq!(e.result_hash, Some([7; 32]));
        assert_eq!(j.all().unwrap().len(), 1);
        assert!(j.get(&Pubkey::new_unique()).unwrap().is_none());
        drop(j);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
