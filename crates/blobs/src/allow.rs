//! Who may upload to the built-in blob server: named keys (`--allow`, `--allow-file`) and
//! registered nodes (`--rpc-url`: the signer's Node account exists and belongs to the program).
//!
//! Node lookups are cached, positive and negative answers alike, and rate-limited, so the server
//! never turns uploads into a stream of RPC requests.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use solana_client::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;

use super::refusal::Refusal;
use tessera_sdk::pda;

/// Whether a key runs a registered node.
pub trait NodeRegistry: Send + Sync {
    /// `true` when `operator`'s Node account exists and is owned by the Tessera program.
    fn is_registered(&self, operator: &Pubkey) -> Result<bool>;
}

/// [`NodeRegistry`] over RPC: one `getAccountInfo` of the Node PDA.
pub struct RpcNodeRegistry {
    rpc: RpcClient,
}

impl RpcNodeRegistry {
    pub fn new(url: &str) -> Self {
        RpcNodeRegistry {
            rpc: RpcClient::new_with_timeout_and_commitment(
                url.to_string(),
                Duration::from_secs(10),
                CommitmentConfig::confirmed(),
            ),
        }
    }
}

impl NodeRegistry for RpcNodeRegistry {
    fn is_registered(&self, operator: &Pubkey) -> Result<bool> {
        let node = pda::node(operator).0;
        let acc = self
            .rpc
            .get_account_with_commitment(&node, CommitmentConfig::confirmed())
            .with_context(|| format!("looking up node {node} at {}", self.rpc.url()))?
            .value;
        Ok(matches!(acc, Some(a) if a.owner == tessera::ID))
    }
}

/// How long node answers are kept, and how many lookups a minute at most.
#[derive(Clone, Copy, Debug)]
pub struct NodeCachePolicy {
    pub positive_ttl: Duration,
    pub negative_ttl: Duration,
    pub lookups_per_minute: u32,
}

impl Default for NodeCachePolicy {
    fn default() -> Self {
        NodeCachePolicy {
            positive_ttl: Duration::from_secs(600),
            negative_ttl: Duration::from_secs(60),
            lookups_per_minute: 120,
        }
    }
}

/// Cached, rate-limited node answers.
struct NodeCache {
    registry: Arc<dyn NodeRegistry>,
    policy: NodeCachePolicy,
    answers: Mutex<HashMap<Pubkey, (bool, Instant)>>,
    /// (start of the current minute, lookups in it)
    window: Mutex<(Instant, u32)>,
}

/// Entries kept at most; expired ones are dropped first, then all (a flood of fresh keys).
const MAX_CACHED: usize = 100_000;

impl NodeCache {
    fn check(&self, key: &Pubkey) -> Result<bool, Refusal> {
        let now = Instant::now();
        if let Some(&(yes, at)) = self.answers.lock().unwrap().get(key) {
            let ttl = if yes {
                self.policy.positive_ttl
            } else {
                self.policy.negative_ttl
            };
            if now.duration_since(at) < ttl {
                return Ok(yes);
            }
        }
        {
            let mut w = self.window.lock().unwrap();
            if now.duration_since(w.0) >= Duration::from_secs(60) {
                *w = (now, 0);
            }
            if w.1 >= self.policy.lookups_per_minute {
                return Err(Refusal::Unavailable(format!(
                    "node lookups are rate-limited ({} a minute); try again later",
                    self.policy.lookups_per_minute
                )));
            }
            w.1 += 1;
        }
        let yes = self.registry.is_registered(key).map_err(|e| {
            Refusal::Unavailable(format!("cannot check whether {key} runs a node: {e:#}"))
        })?;
        let mut answers = self.answers.lock().unwrap();
        if answers.len() >= MAX_CACHED {
            let p = self.policy;
            answers.retain(|_, (y, at)| {
                now.duration_since(*at) < if *y { p.positive_ttl } else { p.negative_ttl }
            });
            if answers.len() >= MAX_CACHED {
                answers.clear();
            }
        }
        answers.insert(*key, (yes, now));
        Ok(yes)
    }
}

/// A file of allowed keys (one base58 key a line; blank lines and `#` comments ignored), read
/// again whenever it changes. A file that no longer parses keeps the previous list.
struct AllowFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

/// The version of the allow file read: its (modification time, length), and its keys.
#[derive(Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    keys: HashSet<Pubkey>,
}

impl AllowFile {
    fn open(path: &Path) -> Result<AllowFile> {
        let f = AllowFile {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded::default()),
        };
        f.refresh()?;
        Ok(f)
    }

    fn stamp(&self) -> Result<(SystemTime, u64)> {
        let m = std::fs::metadata(&self.path)
            .with_context(|| format!("reading the allow file {}", self.path.display()))?;
        Ok((m.modified()?, m.len()))
    }

    /// Re-reads the file if it changed.
    fn refresh(&self) -> Result<()> {
        let stamp = self.stamp()?;
        let mut loaded = self.loaded.lock().unwrap();
        if loaded.stamp == Some(stamp) {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.path)
            .with_context(|| format!("reading the allow file {}", self.path.display()))?;
        loaded.keys = parse_keys(&text)
            .with_context(|| format!("in the allow file {}", self.path.display()))?;
        loaded.stamp = Some(stamp);
        Ok(())
    }

    fn contains(&self, key: &Pubkey) -> bool {
        if let Err(e) = self.refresh() {
            eprintln!("blob server: keeping the previous allow list: {e:#}");
        }
        self.loaded.lock().unwrap().keys.contains(key)
    }
}

/// Parses one base58 key a line (`#` starts a comment).
pub fn parse_keys(text: &str) -> Result<HashSet<Pubkey>> {
    let mut keys = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        keys.insert(
            Pubkey::from_str(line).map_err(|_| {
                anyhow::anyhow!("line {}: `{line}` is not a base58 public key", i + 1)
            })?,
        );
    }
    Ok(keys)
}

/// Who may upload.
#[derive(Default)]
pub struct AllowList {
    keys: HashSet<Pubkey>,
    file: Option<AllowFile>,
    nodes: Option<NodeCache>,
}

impl AllowList {
    /// Named keys.
    pub fn keys(keys: impl IntoIterator<Item = Pubkey>) -> Self {
        AllowList {
            keys: keys.into_iter().collect(),
            ..Default::default()
        }
    }

    /// Also the keys in `path` (read now, and again whenever it changes).
    pub fn with_file(mut self, path: &Path) -> Result<Self> {
        self.file = Some(AllowFile::open(path)?);
        Ok(self)
    }

    /// Also every registered node's operator key.
    pub fn with_nodes(mut self, registry: Arc<dyn NodeRegistry>, policy: NodeCachePolicy) -> Self {
        self.nodes = Some(NodeCache {
            registry,
            policy,
            answers: Mutex::new(HashMap::new()),
            window: Mutex::new((Instant::now(), 0)),
        });
        self
    }

    /// Whether anyone at all may upload.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.file.is_none() && self.nodes.is_none()
    }

    /// `Ok` when `signer` may upload; blocking (file stat, RPC): call it off the async runtime.
    pub fn check(&self, signer: &Pubkey) -> Result<(), Refusal> {
        if self.keys.contains(signer) || self.file.as_ref().is_some_and(|f| f.contains(signer)) {
            return Ok(());
        }
        if let Some(nodes) = &self.nodes {
            if nodes.check(signer)? {
                return Ok(());
            }
        }
        Err(Refusal::NotAllowed(format!(
            "{signer} is neither an allowed key{} of this blob server",
            if self.nodes.is_some() {
                " nor a registered node's operator"
            } else {
                ""
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Fake {
        nodes: HashSet<Pubkey>,
        calls: AtomicU32,
    }

    impl NodeRegistry for Fake {
        fn is_registered(&self, k: &Pubkey) -> Result<bool> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(self.nodes.contains(k))
        }
    }

    #[test]
    fn named_keys_file_keys_and_cached_node_lookups() {
        let (named, filed, node, stranger) = (
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
            Pubkey::new_unique(),
        );
        let dir = std::env::temp_dir().join(format!("tessera-allow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("allow.txt");
        std::fs::write(&file, format!("# clients\n{filed}\n")).unwrap();
        let fake = Arc::new(Fake {
            nodes: [node].into(),
            calls: AtomicU32::new(0),
        });
        let policy = NodeCachePolicy {
            lookups_per_minute: 3,
            ..Default::default()
        };
        let list = AllowList::keys([named])
            .with_file(&file)
            .unwrap()
            .with_nodes(fake.clone(), policy);
        list.check(&named).unwrap();
        list.check(&filed).unwrap();
        for _ in 0..5 {
            list.check(&node).unwrap();
            assert!(matches!(list.check(&stranger), Err(Refusal::NotAllowed(_))));
        }
        // one lookup each, the rest from the cache (positive and negative)
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
        // a key added to the file is picked up without a restart
        let late = Pubkey::new_unique();
        assert!(matches!(list.check(&late), Err(Refusal::NotAllowed(_))));
        std::fs::write(&file, format!("{filed}\n{late}  # added\n")).unwrap();
        list.check(&late).unwrap();
        // the lookup budget is spent: a new unknown key is told to come back later
        let err = list.check(&Pubkey::new_unique()).unwrap_err();
        assert!(
            matches!(err, Refusal::Unavailable(ref m) if m.contains("rate-limited")),
            "{err}"
        );
        // a broken edit keeps the previous list
        std::fs::write(&file, "not a key\n").unwrap();
        list.check(&late).unwrap();
        assert!(AllowFile::open(&file).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
