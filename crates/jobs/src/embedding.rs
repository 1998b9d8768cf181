//! The client's side of embed jobs (kernel `embed`): models as content, tokenisation, corpora,
//! shards, and the verified result as `.npy`.
//!
//! - A model directory as Hugging Face ships it (`config.json`, `model.safetensors`,
//!   `tokenizer.json`) becomes one model blob ([`model_blob`]); its BLAKE3 is the model's
//!   name on the network.
//! - Texts are tokenised here with Hugging Face's `tokenizers` from the blob's own
//!   `tokenizer.json` ([`Tokenizer`]), so the kernel's input is token ids only.
//! - A corpus (`.jsonl`: one JSON string, or `{"id", "text"}`, per line) is split into shards
//!   ([`shard`]), one job each; the [`Manifest`] remembers which job holds which texts, so the
//!   results are joined back in order.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tessera_compute::embed::{self, model::split_model, BertConfig};

/// Reads a model directory into a model blob (config + tokenizer + weights), checked the way
/// a worker checks it.
pub fn model_blob(dir: &Path) -> Result<Vec<u8>> {
    let read = |name: &str| -> Result<Vec<u8>> {
        let p = dir.join(name);
        std::fs::read(&p).with_context(|| {
            format!(
                "reading {} (a model directory holds config.json, model.safetensors and tokenizer.json)",
                p.display()
            )
        })
    };
    let config = read("config.json")?;
    let tokenizer = read("tokenizer.json")?;
    let weights = read("model.safetensors")?;
    // the tokenizer must load here too, or nobody could post jobs for the model
    Tokenizer::from_json(&tokenizer).context("tokenizer.json")?;
    embed::encode_model(&config, Some(&tokenizer), &weights)
        .with_context(|| format!("model directory {}", dir.display()))
}

/// The config and tokenizer of a model blob.
pub fn model_parts(blob: &[u8]) -> Result<(BertConfig, Tokenizer)> {
    let (config, tokenizer, _) = split_model(blob)?;
    let config = BertConfig::parse(config)?;
    let tokenizer = tokenizer.context(
        "this model blob carries no tokenizer.json: put the model with `tessera model put <dir>`",
    )?;
    Ok((config, Tokenizer::from_json(tokenizer)?))
}

/// A corpus cut into embed jobs: one input blob per shard with the ids of its texts.
pub struct ShardPlan {
    /// Width of each embedding.
    pub dim: usize,
    /// One input blob per shard, with the ids of its texts.
    pub shards: Vec<(Vec<u8>, Vec<String>)>,
    /// Texts cut to the maximum length.
    pub truncated: usize,
    /// Tokens in all.
    pub tokens: usize,
}

/// Tokenises `corpus` with the model blob's own tokenizer (each text cut to `max_tokens`, by
/// default the model's maximum) and splits it into `shards` jobs of about equal work, each
/// naming the model by `model_hash` and `model_uri`. What `tessera job post --kernel embed`
/// and the web page both post.
pub fn plan_shards(
    model_blob: &[u8],
    model_hash: &[u8; 32],
    model_uri: &str,
    corpus: &[Text],
    max_tokens: Option<u32>,
    shards: u32,
) -> Result<ShardPlan> {
    let (config, tokenizer) = model_parts(model_blob)?;
    let max = config.max_position_embeddings;
    let max_len = match max_tokens {
        None => max,
        Some(m) if (3..=max as u32).contains(&m) => m as usize,
        Some(m) => bail!("--max-tokens {m}: the model takes 3 ..= {max} tokens per text"),
    };
    let strings: Vec<String> = corpus.iter().map(|t| t.text.clone()).collect();
    let untruncated = tokenizer.encode_all(&strings, usize::MAX >> 1)?;
    let truncated = untruncated.iter().filter(|s| s.len() > max_len).count();
    drop(untruncated);
    let seqs = tokenizer.encode_all(&strings, max_len)?;
    let tokens = seqs.iter().map(Vec::len).sum();
    let mut out = Vec::new();
    for r in shard(&seqs, shards.max(1) as usize) {
        let blob = embed::encode_input(model_hash, model_uri, &seqs[r.clone()])?;
        let ids = corpus[r].iter().map(|t| t.id.clone()).collect();
        out.push((blob, ids));
    }
    Ok(ShardPlan {
        dim: config.hidden_size,
        shards: out,
        truncated,
        tokens,
    })
}

/// A model's tokenizer (Hugging Face `tokenizer.json`), without padding: each text becomes
/// its real tokens, `[CLS] … [SEP]`, truncated to a maximum length as the model's own
/// truncation does (the last token kept is `[SEP]`).
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    /// Loads a `tokenizer.json`.
    pub fn from_json(json: &[u8]) -> Result<Tokenizer> {
        let mut inner = tokenizers::Tokenizer::from_bytes(json)
            .map_err(|e| anyhow::anyhow!("tokenizer.json does not load: {e}"))?;
        inner.with_padding(None);
        Ok(Tokenizer { inner })
    }

    /// Token ids of `text` (special tokens added), at most `max_len`.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let mut t = self.inner.clone();
        t.with_truncation(Some(tokenizers::TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        let enc = t
            .encode(text, true)
            .map_err(|e| anyhow::anyhow!("tokenising {text:?}: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of every text.
    pub fn encode_all(&self, texts: &[String], max_len: usize) -> Result<Vec<Vec<u32>>> {
        let mut t = self.inner.clone();
        t.with_truncation(Some(tokenizers::TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        let encs = t
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenising: {e}"))?;
        Ok(encs.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

/// One text of a corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub id: String,
    pub text: String,
}

/// Most texts in one corpus file.
pub const MAX_TEXTS: usize = 10_000_000;

/// Reads a corpus: one JSON string or `{"id": …, "text": …}` object per non-empty line (an id
/// may be a string or a number; texts without one are numbered by line).
pub fn read_corpus(path: &Path) -> Result<Vec<Text>> {
    let data =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_corpus(&data).with_context(|| format!("corpus {}", path.display()))
}

/// [`read_corpus`] on text already read.
pub fn parse_corpus(data: &str) -> Result<Vec<Text>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(u64),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Line {
        Plain(String),
        Obj { id: Option<Id>, text: String },
    }
    let mut out = Vec::new();
    for (n, line) in data.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(line).map_err(|e| {
            anyhow::anyhow!(
                "line {}: expected a JSON string or {{\"id\", \"text\"}} ({e})",
                n + 1
            )
        })?;
        let (id, text) = match parsed {
            Line::Plain(t) => (None, t),
            Line::Obj { id, text } => (id, text),
        };
        let id = match id {
            Some(Id::S(s)) => s,
            Some(Id::N(v)) => v.to_string(),
            None => out.len().to_string(),
        };
        if text.trim().is_empty() {
            bail!("line {}: the text is empty", n + 1);
        }
        out.push(Text { id, text });
        if out.len() > MAX_TEXTS {
            bail!("more than {MAX_TEXTS} texts; split the corpus into several files");
        }
    }
    if out.is_empty() {
        bail!("the corpus holds no texts");
    }
    Ok(out)
}

/// Splits `seqs` (not empty) into at most `n` contiguous, non-empty shards of about equal
/// work (attention makes a sequence's cost grow faster than its length, so the split
/// balances Σ len·(len + 64)). Returns the index ranges.
pub fn shard(seqs: &[Vec<u32>], n: usize) -> Vec<std::ops::Range<usize>> {
    let n = n.clamp(1, seqs.len().max(1));
    let cost = |s: &Vec<u32>| (s.len() as u64) * (s.len() as u64 + 64);
    let total: u64 = seqs.iter().map(cost).sum();
    let mut out = Vec::with_capacity(n);
    let (mut start, mut acc) = (0usize, 0u64);
    for (i, s) in seqs.iter().enumerate() {
        let c = cost(s);
        let shards_left = n - out.len();
        if shards_left > 1 && i > start {
            // close the open shard before item i when that lands nearer its share of the
            // work, or when every later shard needs one of the items left
            let target = total * (out.len() as u64 + 1) / n as u64;
            let nearer = acc + c > target && acc + c - target > target.saturating_sub(acc);
            if nearer || seqs.len() - i < shards_left {
                out.push(start..i);
                start = i;
            }
        }
        acc += c;
    }
    out.push(start..seqs.len());
    out
}

/// What `tessera job post --kernel embed` writes so the shards' results can be joined back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// BLAKE3 of the model blob (hex).
    pub model: String,
    /// Embedding width.
    pub dim: usize,
    /// The shards, in corpus order.
    pub shards: Vec<ManifestShard>,
}

/// One shard: its job and the ids of its texts, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestShard {
    pub job: String,
    pub ids: Vec<String>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&data)
            .with_context(|| format!("{} is not an embed manifest", path.display()))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Model hash as bytes.
    pub fn model_hash(&self) -> Result<[u8; 32]> {
        tessera_sdk::blob_id::parse_hash(&self.model)
    }
}

/// An `.npy` file (format 1.0) of a row-major `rows × cols` f32 little-endian matrix.
pub fn npy_f32(rows: usize, cols: usize, data: &[f32]) -> Vec<u8> {
    assert_eq!(data.len(), rows * cols);
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Reads back what [`npy_f32`] writes: `(rows, cols, data)`.
pub fn read_npy_f32(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>)> {
    if bytes.len() < 10 || &bytes[..8] != b"\x93NUMPY\x01\x00" {
        bail!("not an .npy 1.0 file");
    }
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + hlen).context("truncated header")?)?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        bail!("not a little-endian f32 C-order array: {header}");
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .context("no shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else {
        bail!("shape ({shape}) is not 2-D")
    };
    let body = &bytes[10 + hlen..];
    if body.len() != rows * cols * 4 {
        bail!("{} data bytes for shape ({rows}, {cols})", body.len());
    }
    let data = body
        .as_chunks::<4>()
        .0
        .iter()
        .map(|b| f32::from_le_bytes(*b))
        .collect();
    Ok((rows, cols, data))
}

/// Writes `rows` (each `dim` wide) as `<stem>.npy` and their ids as `<stem>.ids.json` in
/// `dir`; returns both paths.
pub fn write_embeddings(
    dir: &Path,
    stem: &str,
    dim: usize,
    rows: &[Vec<f32>],
    ids: &[String],
) -> Result<Vec<PathBuf>> {
    if rows.len() != ids.len() {
        bail!("{} embeddings for {} ids", rows.len(), ids.len());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let npy = dir.join(format!("{stem}.npy"));
    std::fs::write(&npy, npy_f32(rows.len(), dim, &flat))
        .with_context(|| format!("writing {}", npy.display()))?;
    let idp = dir.join(format!("{stem}.ids.json"));
    std::fs::write(&idp, serde_json::to_vec(ids)?)
        .with_context(|| format!("writing {}", idp.display()))?;
    Ok(vec![npy, idp])
}

/// Cosine similarity of two embeddings (unit length already: a dot product, in f64).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The `k` rows of `rows` (each `query.len()` wide) nearest to `query` by cosine similarity,
/// best first, as `(row index, cosine)`; ties keep the lower index first.
pub fn nearest(query: &[f32], rows: &[Vec<f32>], k: usize) -> Vec<(usize, f64)> {
    let mut scored: Vec<(usize, f64)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (i, cosine(query, r)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(k);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_ranks_by_cosine_best_first() {
        let rows = vec![
            vec![0.0, 1.0],
            vec![1.0, 0.0],
            vec![0.6, 0.8],
            vec![-1.0, 0.0],
            vec![1.0, 0.0],
        ];
        let got = nearest(&[1.0, 0.0], &rows, 3);
        let idx: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(
            idx,
            [1, 4, 2],
            "exact matches first (lower index on ties), then 0.6"
        );
        assert!((got[2].1 - 0.6).abs() < 1e-6);
        assert_eq!(nearest(&[1.0, 0.0], &rows, 99).len(), 5);
        assert!(nearest(&[1.0, 0.0], &[], 3).is_empty());
    }

    #[test]
    fn corpora_parse_strings_objects_and_say_what_is_wrong() {
        let c = parse_corpus("\"one\"\n\n{\"id\": \"b\", \"text\": \"two\"}\n{\"id\": 7, \"text\": \"three\"}\n{\"text\": \"four\"}\n").unwrap();
        let ids: Vec<_> = c.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["0", "b", "7", "3"]);
        assert_eq!(c[1].text, "two");
        for (bad, want) in [
            ("\"ok\"\n{\"id\": 1}\n", "line 2"),
            ("not json\n", "line 1"),
            ("\"  \"\n", "the text is empty"),
            ("\n\n", "no texts"),
            ("[1, 2]\n", "line 1"),
        ] {
            let e = parse_corpus(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn shards_are_contiguous_balanced_and_never_empty() {
        let seqs: Vec<Vec<u32>> = (0..10).map(|i| vec![0; 1 + i % 4]).collect();
        for n in 1..=12 {
            let s = shard(&seqs, n);
            assert!(s.len() <= n.min(10), "n = {n}: {s:?}");
            assert_eq!(s[0].start, 0);
            assert_eq!(s.last().unwrap().end, 10);
            for w in s.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(s.iter().all(|r| !r.is_empty()));
        }
        // equal sequences: exactly n shards of equal size
        let even = vec![vec![0u32; 8]; 12];
        assert_eq!(shard(&even, 4), vec![0..3, 3..6, 6..9, 9..12]);
        assert_eq!(shard(&even, 12).len(), 12);
        // one long sequence among short ones gets a shard of its own
        let mut skew = vec![vec![0u32; 4]; 9];
        skew.insert(4, vec![0; 500]);
        let s = shard(&skew, 3);
        assert!(s.iter().any(|r| r.len() == 1 && r.start == 4), "{s:?}");
    }

    #[test]
    fn npy_round_trips_and_is_numpy_shaped() {
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        let b = npy_f32(3, 4, &data);
        assert_eq!(&b[..6], b"\x93NUMPY");
        assert_eq!((10 + u16::from_le_bytes([b[8], b[9]]) as usize) % 64, 0);
        assert_eq!(read_npy_f32(&b).unwrap(), (3, 4, data));
        assert!(read_npy_f32(&b[..b.len() - 1]).is_err());
    }
}
