//! Garbage collection for the built-in blob server: blobs that no job on chain references are
//! deleted once they are older than a grace period.
//!
//! "Referenced" means named by a Job account that still exists (any state: a completed job's
//! result stays fetchable until its client closes the job) — its `spec_hash`, `winning_hash`
//! and tally hashes — or by a Claim's `result_hash`; plus, one level down, the model an embed
//! input names by hash. The grace period protects a blob between its upload and the post of
//! the job that names it (an upload of a blob already stored renews its age). If the referenced
//! set cannot be read, nothing is deleted.
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use tessera::state::{Claim, Job};
use tessera_compute::format::{read_header, HEADER_LEN};
use tessera_compute::KernelId;

use super::quota::Ledger;
use crate::dir::DirStore;
use crate::id::hex;

/// The blob hashes that must be kept.
pub trait ReferenceSource: Send + Sync {
    fn referenced(&self) -> Result<HashSet<[u8; 32]>>;
}

/// [`ReferenceSource`] over RPC: every Job and Claim account of the program.
pub struct ChainReferences {
    rpc: RpcClient,
}

impl ChainReferences {
    pub fn new(url: &str) -> Self {
        ChainReferences {
            rpc: RpcClient::new_with_timeout_and_commitment(
                url.to_string(),
                Duration::from_secs(60),
                CommitmentConfig::confirmed(),
            ),
        }
    }
}

impl ReferenceSource for ChainReferences {
    fn referenced(&self) -> Result<HashSet<[u8; 32]>> {
        let jobs = tessera_rpc::list::<Job>(&self.rpc, vec![]).context("listing jobs")?;
        let claims = tessera_rpc::list::<Claim>(&self.rpc, vec![]).context("listing claims")?;
        let mut set = HashSet::new();
        for (_, j) in &jobs {
            set.insert(j.spec_hash);
            if j.has_winner {
                set.insert(j.winning_hash);
            }
            let n = (j.tally_len as usize).min(j.tally.len());
            set.extend(j.tally[..n].iter().map(|t| t.hash));
        }
        set.extend(claims.iter().map(|(_, c)| c.result_hash));
        set.remove(&[0u8; 32]);
        Ok(set)
    }
}

/// What a pass deleted (or, dry, would delete).
#[derive(Debug, Default)]
pub struct GcReport {
    /// (hash, bytes, age)
    pub deleted: Vec<([u8; 32], u64, Duration)>,
    /// Leftover temporary files of interrupted uploads removed.
    pub stale_temp_files: usize,
    pub kept: usize,
    pub dry_run: bool,
}

/// One pass: reads the referenced set from `source`, adds the blobs those reference (see
/// [`nested_references`]), deletes unreferenced blobs older than `grace` (not if `dry_run`),
/// and updates `ledger`.
pub fn run_pass(
    store: &DirStore,
    source: &dyn ReferenceSource,
    ledger: Option<&Ledger>,
    grace: Duration,
    dry_run: bool,
) -> Result<GcReport> {
    let mut referenced = source
        .referenced()
        .context("reading which blobs jobs reference (nothing deleted)")?;
    let nested = nested_references(store, &referenced);
    referenced.extend(nested);
    let report = sweep(store.root(), &referenced, grace, SystemTime::now(), dry_run)?;
    if let Some(l) = ledger.filter(|_| !dry_run) {
        for (h, _, _) in &report.deleted {
            l.forget(h);
        }
    }
    Ok(report)
}

/// Blobs named inside stored referenced blobs: an embed input's model (its hash follows the
/// 8-byte input header). Only the first bytes of each blob are read.
pub fn nested_references(store: &DirStore, referenced: &HashSet<[u8; 32]>) -> HashSet<[u8; 32]> {
    let mut out = HashSet::new();
    for h in referenced {
        let mut head = [0u8; HEADER_LEN + 32];
        let ok = std::fs::File::open(store.path(h)).and_then(|mut f| f.read_exact(&mut head));
        if ok.is_err() {
            continue;
        }
        if matches!(read_header(&head), Ok(hd) if hd.kernel == KernelId::Embed) {
            let mut model = [0u8; 32];
            model.copy_from_slice(&head[HEADER_LEN..]);
            out.insert(model);
        }
    }
    out
}

/// The file logic: in `root`, deletes every blob (a file named by 64 hex digits) not in
/// `referenced` whose modification time is at least `grace` before `now`, and temporary files
/// of interrupted uploads as old. Nothing is deleted when `dry_run`.
pub fn sweep(
    root: &Path,
    referenced: &HashSet<[u8; 32]>,
    grace: Duration,
    now: SystemTime,
    dry_run: bool,
) -> Result<GcReport> {
    let mut report = GcReport {
        dry_run,
        ..Default::default()
    };
    for e in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let is_temp = name.starts_with('.') && name.ends_with(".tmp");
        if is_temp {
            if age >= grace {
                if !dry_run {
                    let _ = std::fs::remove_file(e.path());
                }
                report.stale_temp_files += 1;
            }
            continue;
        }
        let Some(h) = blob_name(&name) else { continue };
        if referenced.contains(&h) || age < grace {
            report.kept += 1;
            continue;
        }
        if !dry_run {
            std::fs::remove_file(e.path())
                .with_context(|| format!("deleting {}", e.path().display()))?;
        }
        report.deleted.push((h, meta.len(), age));
    }
    report.deleted.sort_by_key(|d| d.0);
    Ok(report)
}

/// A blob file's name: exactly 64 lower-case hex digits.
fn blob_name(name: &str) -> Option<[u8; 32]> {
    if name.len() != 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let h = crate::id::parse_hash(name).ok()?;
    (hex(&h) == name).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::hash;

    /// A fixed referenced set, or a failure.
    struct Fixed(Option<HashSet<[u8; 32]>>);

    impl ReferenceSource for Fixed {
        fn referenced(&self) -> Result<HashSet<[u8; 32]>> {
            self.0.clone().context("RPC unreachable")
        }
    }

    fn age(path: &Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn sweep_deletes_only_unreferenced_blobs_older_than_the_grace() {
        let root = std::env::temp_dir().join(format!("tessera-gc-sweep-{}", std::process::id()));
        let store = DirStore::open(&root).unwrap();
        let kept_ref = store.put(b"referenced, old").unwrap();
        let young = store.put(b"unreferenced, young").unwrap();
        let old = store.put(b"unreferenced, old").unwrap();
        age(&store.path(&kept_ref), 7200);
        age(&store.path(&old), 7200);
        std::fs::write(root.join("README"), b"not a blob").unwrap();
        age(&root.join("README"), 7200);
        let tmp = root.join(".upload.abc.tmp");
        std::fs::write(&tmp, b"partial").unwrap();
        age(&tmp, 7200);
        let referenced: HashSet<_> = [kept_ref].into();
        let grace = Duration::from_secs(3600);

        let dry = sweep(&root, &referenced, grace, SystemTime::now(), true).unwrap();
        assert_eq!(
            dry.deleted.iter().map(|d| d.0).collect::<Vec<_>>(),
            vec![old]
        );
        assert!(
            store.path(&old).exists() && tmp.exists(),
            "a dry run deletes nothing"
        );

        let r = sweep(&root, &referenced, grace, SystemTime::now(), false).unwrap();
        assert_eq!(r.deleted.len(), 1);
        assert_eq!((r.deleted[0].0, r.deleted[0].1), (old, 17));
        assert_eq!((r.kept, r.stale_temp_files), (2, 1));
        assert!(!store.path(&old).exists() && !tmp.exists());
        assert!(store.path(&kept_ref).exists() && store.path(&young).exists());
        assert!(root.join("README").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn pass_keeps_nested_models_updates_the_ledger_and_deletes_nothing_on_error() {
        let root = std::env::temp_dir().join(format!("tessera-gc-pass-{}", std::process::id()));
        let store = DirStore::open(&root).unwrap();
        let ledger = Ledger::open(&root).unwrap();
        let owner = solana_sdk::pubkey::Pubkey::new_unique();
        let model = store.put(b"model weights").unwrap();
        let input = tessera_compute::embed::encode_input(&model, "http://x/blobs/m", &[vec![1, 2]])
            .unwrap();
        let input = store.put(&input).unwrap();
        let orphan = store.put(b"orphan").unwrap();
        ledger.reserve(&owner, 6, None).unwrap().keep();
        ledger.record(&orphan, &owner, 6).unwrap();
        for h in [model, input, orphan] {
            age(&store.path(&h), 7200);
        }
        let grace = Duration::from_secs(60);

        let err = run_pass(&store, &Fixed(None), Some(&ledger), grace, false).unwrap_err();
        assert!(format!("{err:#}").contains("nothing deleted"), "{err:#}");
        assert!(store.path(&orphan).exists());

        let src = Fixed(Some([input].into()));
        let r = run_pass(&store, &src, Some(&ledger), grace, false).unwrap();
        assert_eq!(
            r.deleted.iter().map(|d| d.0).collect::<Vec<_>>(),
            vec![orphan]
        );
        assert!(
            store.path(&model).exists(),
            "the embed input's model is kept"
        );
        assert!(!store.path(&orphan).exists());
        assert_eq!(ledger.used(&owner), 0);
        assert_eq!(hash(b"orphan"), orphan);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
