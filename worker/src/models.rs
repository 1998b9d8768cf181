//! Models that jobs reference by hash (the embed kernel's encoders): the blob comes through
//! [`Storage`] (the local blob cache first, else one download under the fetch policy, always
//! checked against the hash), and the parsed weights stay in memory for the next job, so a
//! 90 MB model is fetched once and parsed once, not per job.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tessera_blobs as blobs;
use tessera_compute::embed::EmbedModel;
use tessera_compute::generate::DecoderModel;
use tessera_compute::train::Checkpoint;

use crate::storage::{InputError, Storage};

/// Parsed models kept in memory (the least recently used goes first), within a byte budget
/// ([`Models::new`]).
pub const MAX_LOADED: usize = 3;

/// Why a model could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Not fetched (refused by the fetch policy, unreachable, wrong hash).
    #[error("model {hash}: {source}")]
    Fetch {
        hash: String,
        #[source]
        source: InputError,
    },
    /// Fetched and verified, but not a model this build runs.
    #[error("model {hash} is not a usable model: {why}")]
    Invalid { hash: String, why: String },
}

impl ModelError {
    /// True when trying again cannot help (the blob behind a hash never changes).
    pub fn is_permanent(&self) -> bool {
        match self {
            ModelError::Fetch {
                source: InputError::Fetch(f),
                ..
            } => f.is_permanent(),
            ModelError::Fetch { .. } => false,
            ModelError::Invalid { .. } => true,
        }
    }

    /// Metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelError::Fetch {
                source: InputError::Fetch(f),
                ..
            } => f.kind(),
            ModelError::Fetch { .. } => "no_slot",
            ModelError::Invalid { .. } => "invalid_model",
        }
    }
}

/// A model in memory: (hash, model, bytes it is counted for).
type Entry<T> = ([u8; 32], Arc<T>, u64);

/// Parsed models of one kind kept in memory, least recently used first.
struct Resident<T> {
    loaded: Mutex<VecDeque<Entry<T>>>,
    /// Most bytes they may take together.
    budget: u64,
}

impl<T> Resident<T> {
    fn new(budget: u64) -> Self {
        Self {
            loaded: Mutex::new(VecDeque::new()),
            budget,
        }
    }

    /// A loaded model, marked most recently used.
    fn lookup(&self, hash: &[u8; 32]) -> Option<Arc<T>> {
        let mut loaded = self.loaded.lock().unwrap();
        let i = loaded.iter().position(|(h, _, _)| h == hash)?;
        let entry = loaded.remove(i)?;
        let m = entry.1.clone();
        loaded.push_back(entry);
        Some(m)
    }

    /// Keeps `m`, dropping the least recently used to fit the budget (never `m`: a job needs
    /// it now). Returns how many are in memory.
    fn insert(&self, hash: [u8; 32], m: Arc<T>, bytes: u64) -> usize {
        let mut loaded = self.loaded.lock().unwrap();
        if !loaded.iter().any(|(h, _, _)| *h == hash) {
            loaded.push_back((hash, m, bytes));
            while loaded.len() > 1
                && (loaded.len() > MAX_LOADED
                    || loaded.iter().map(|e| e.2).sum::<u64>() > self.budget)
            {
                loaded.pop_front();
            }
        }
        loaded.len()
    }
}

/// The encoders (embed) and decoders (generate) this worker has parsed, each kind within
/// half of the byte budget (together within all of it).
pub struct Models {
    encoders: Resident<EmbedModel>,
    decoders: Resident<DecoderModel>,
}

/// The memory a parsed model from a blob of `blob_len` bytes is counted for: its weights as
/// f32, which half-precision blobs double.
fn resident_bytes(blob_len: usize) -> u64 {
    (blob_len as u64).saturating_mul(2)
}

/// The blob behind `hash` (from the blob cache or `uri`, checked against the hash), parsed by
/// `parse` off the async runtime; with the blob's length.
async fn fetch_parsed<T: Send + 'static>(
    storage: &Storage,
    hash: [u8; 32],
    uri: &str,
    parse: fn(&[u8]) -> tessera_compute::Result<T>,
) -> Result<(T, usize), ModelError> {
    let hex = blobs::hex(&hash);
    let blob = storage
        .input(uri, &hash)
        .await
        .map_err(|source| ModelError::Fetch {
            hash: hex.clone(),
            source,
        })?;
    let len = blob.len();
    let parsed = tokio::task::spawn_blocking(move || parse(&blob))
        .await
        .map_err(|e| ModelError::Invalid {
            hash: hex.clone(),
            why: format!("parser task failed: {e}"),
        })?
        .map_err(|e| ModelError::Invalid {
            hash: hex.clone(),
            why: e.to_string(),
        })?;
    Ok((parsed, len))
}

impl Models {
    /// Models kept in memory up to `budget` bytes together (and [`MAX_LOADED`] of them): up
    /// to three 512 MiB models used to stay resident, counted against no limit.
    pub fn new(budget: u64) -> Models {
        Models {
            encoders: Resident::new(budget / 2),
            decoders: Resident::new(budget / 2),
        }
    }

    /// The model whose blob hashes to `hash`, from memory, the blob cache or `uri`.
    pub async fn get(
        &self,
        storage: &Storage,
        hash: [u8; 32],
        uri: &str,
    ) -> Result<Arc<EmbedModel>, ModelError> {
        if let Some(m) = self.encoders.lookup(&hash) {
            return Ok(m);
        }
        let hex = blobs::hex(&hash);
        let (parsed, len) = fetch_parsed(storage, hash, uri, EmbedModel::parse).await?;
        let m = Arc::new(parsed);
        let n = self.encoders.insert(hash, m.clone(), resident_bytes(len));
        tracing::info!(model = %&hex[..16], in_memory = n, "model loaded");
        Ok(m)
    }

    /// The decoder whose `TSLM` blob hashes to `hash`, from memory, the blob cache or `uri`.
    pub async fn decoder(
        &self,
        storage: &Storage,
        hash: [u8; 32],
        uri: &str,
    ) -> Result<Arc<DecoderModel>, ModelError> {
        if let Some(m) = self.decoders.lookup(&hash) {
            return Ok(m);
        }
        let hex = blobs::hex(&hash);
        let (parsed, _) = fetch_parsed(storage, hash, uri, DecoderModel::parse).await?;
        let bytes = DecoderModel::host_bytes(&parsed.config);
        let m = Arc::new(parsed);
        let n = self.decoders.insert(hash, m.clone(), bytes);
        tracing::info!(decoder = %&hex[..16], in_memory = n, "decoder loaded");
        Ok(m)
    }

    /// A training link's base (a model blob or the result blob of the link before), from the
    /// blob cache or `uri`, checked against `hash` and parsed off the async runtime. Not kept
    /// in memory: each link of a run starts from a new checkpoint.
    pub async fn training_base(
        &self,
        storage: &Storage,
        hash: [u8; 32],
        uri: &str,
    ) -> Result<Arc<Checkpoint>, ModelError> {
        let (parsed, _) = fetch_parsed(storage, hash, uri, Checkpoint::from_base_blob).await?;
        Ok(Arc::new(parsed))
    }
}

#[cfg(test)]
mod tests {
    use tessera_blobs::fetch_policy::FetchPolicy;

    use super::*;

    /// A blob store (its cache) under `dir`, fetching under the default policy.
    fn storage_in(dir: &std::path::Path) -> Storage {
        Storage::new(
            &dir.join("cache"),
            dir.join("publish").to_str().unwrap(),
            FetchPolicy::default(),
            1,
            Arc::new(solana_sdk::signature::Keypair::new()),
        )
        .unwrap()
    }

    fn tiny_model_blob() -> Vec<u8> {
        // a 1-layer, 4-wide encoder (the compute crate's own tests cover the arithmetic)
        let cfg = br#"{"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
 "intermediate_size": 8, "max_position_embeddings": 6, "vocab_size": 10}"#;
        let mut tensors: Vec<(String, Vec<usize>)> = vec![
            ("embeddings.word_embeddings.weight".into(), vec![10, 4]),
            ("embeddings.position_embeddings.weight".into(), vec![6, 4]),
            ("embeddings.token_type_embeddings.weight".into(), vec![2, 4]),
            ("embeddings.LayerNorm.weight".into(), vec![4]),
            ("embeddings.LayerNorm.bias".into(), vec![4]),
        ];
        let p = "encoder.layer.0";
        for (n, o, i) in [
            ("attention.self.query", 4, 4),
            ("attention.self.key", 4, 4),
            ("attention.self.value", 4, 4),
            ("attention.output.dense", 4, 4),
            ("intermediate.dense", 8, 4),
            ("output.dense", 4, 8),
        ] {
            tensors.push((format!("{p}.{n}.weight"), vec![o, i]));
            tensors.push((format!("{p}.{n}.bias"), vec![o]));
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            tensors.push((format!("{p}.{n}.weight"), vec![4]));
            tensors.push((format!("{p}.{n}.bias"), vec![4]));
        }
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(n, s)| {
                let len: usize = s.iter().product();
                (
                    n,
                    s,
                    (0..len)
                        .flat_map(|i| (0.01 * i as f32).to_le_bytes())
                        .collect(),
                )
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView)> = data
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                        .unwrap(),
                )
            })
            .collect();
        let st = safetensors::tensor::serialize(views, None).unwrap();
        tessera_compute::embed::encode_model(cfg, None, &st).unwrap()
    }

    #[tokio::test]
    async fn models_come_from_the_cache_once_and_bad_ones_are_refused_for_good() {
        let dir = std::env::temp_dir().join(format!("tessera-models-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = storage_in(&dir);
        let blob = tiny_model_blob();
        let hash = storage.cache.put(&blob).unwrap();
        let models = Models::new(u64::MAX);
        // in the blob cache: no download (the URI is not even allowed)
        let a = models
            .get(&storage, hash, "http://10.0.0.1/m")
            .await
            .unwrap();
        assert_eq!(a.config.hidden_size, 4);
        // the second time it is the same parsed model, from memory
        std::fs::remove_file(storage.cache.path(&hash)).unwrap();
        let b = models
            .get(&storage, hash, "http://10.0.0.1/m")
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // a blob that is not a model: refused, permanently
        let junk = storage.cache.put(b"TSEM not a model").unwrap();
        let e = models
            .get(&storage, junk, "http://10.0.0.1/j")
            .await
            .unwrap_err();
        assert!(
            matches!(e, ModelError::Invalid { .. }) && e.is_permanent(),
            "{e}"
        );
        assert_eq!(e.kind(), "invalid_model");
        // not cached, and the URI is a private address: refused by the fetch policy
        let e = models
            .get(&storage, [7; 32], "http://10.0.0.1/x")
            .await
            .unwrap_err();
        assert!(
            matches!(e, ModelError::Fetch { .. }) && e.is_permanent(),
            "{e}"
        );
        // at most MAX_LOADED parsed models stay in memory
        assert_eq!(models.encoders.loaded.lock().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 29: up to three parsed 512 MiB models stayed resident, counted against no limit.
    /// Resident models now fit a byte budget, the least recently used leaving first.
    #[tokio::test]
    async fn resident_models_fit_a_byte_budget() {
        let dir =
            std::env::temp_dir().join(format!("tessera-models-budget-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let storage = storage_in(&dir);
        let blob = tiny_model_blob();
        // two models of the same size (the second differs in its last byte of weights)
        let mut other = blob.clone();
        *other.last_mut().unwrap() ^= 1;
        let (a, b) = (
            storage.cache.put(&blob).unwrap(),
            storage.cache.put(&other).unwrap(),
        );
        let one = resident_bytes(blob.len());
        // each kind has half the budget
        let models = Models::new(2 * (one + one / 2));
        assert!(models.encoders.budget + models.decoders.budget <= 2 * (one + one / 2));
        models.get(&storage, a, "http://10.0.0.1/a").await.unwrap();
        models.get(&storage, b, "http://10.0.0.1/b").await.unwrap();
        let held: Vec<[u8; 32]> = models
            .encoders
            .loaded
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(
            held,
            vec![b],
            "one fits the budget: the least recently used left"
        );
        // with room for both, both stay
        let roomy = Models::new(4 * one);
        roomy.get(&storage, a, "http://10.0.0.1/a").await.unwrap();
        roomy.get(&storage, b, "http://10.0.0.1/b").await.unwrap();
        assert_eq!(roomy.encoders.loaded.lock().unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
