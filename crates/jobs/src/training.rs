//! Training runs on the client side (issue 32): (anchor, positive) pairs from a JSONL file,
//! tokenised with the model's own tokenizer, shuffled by the run's seed and cut into the
//! batches of each link; a link's checkpoint written as a Hugging Face model directory with
//! its losses.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tessera_compute::rng::SplitMix64;
use tessera_compute::train::{self, Hyper, LinkOutput};

use crate::embedding::model_parts;

/// One training example: a text and a text that should embed near it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// The anchor (a question, a title, a caption).
    pub anchor: String,
    /// Its positive (the answer, the body, another caption of the same thing).
    pub positive: String,
}

/// Most pairs in one file.
pub const MAX_PAIRS: usize = 10_000_000;

/// Reads pairs: one `{"anchor": …, "positive": …}` object per non-empty line.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let data =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_pairs(&data).with_context(|| format!("pairs {}", path.display()))
}

/// Parses pairs from JSONL text; a malformed line is named with its number.
pub fn parse_pairs(data: &str) -> Result<Vec<Pair>> {
    let mut out = Vec::new();
    for (i, line) in data.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let p: Pair = serde_json::from_str(line).with_context(|| {
            format!(
                "line {}: expected {{\"anchor\": \"…\", \"positive\": \"…\"}}",
                i + 1
            )
        })?;
        if p.anchor.trim().is_empty() || p.positive.trim().is_empty() {
            bail!("line {}: an empty anchor or positive", i + 1);
        }
        out.push(p);
        if out.len() > MAX_PAIRS {
            bail!("more than {MAX_PAIRS} pairs");
        }
    }
    if out.len() < 2 {
        bail!(
            "{} pairs: the loss needs at least two (the other pairs of a batch are its negatives)",
            out.len()
        );
    }
    Ok(out)
}

/// Pairs tokenised with the model blob's own tokenizer, each text cut to `max_tokens`
/// (3 ..= the model's maximum; by default 128 or the model's maximum if less).
pub fn tokenize_pairs(
    model_blob: &[u8],
    pairs: &[Pair],
    max_tokens: Option<u32>,
) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    let (config, tokenizer) = model_parts(model_blob)?;
    let max = config.max_position_embeddings;
    let max_len = match max_tokens {
        None => max.min(128),
        Some(m) if (3..=max as u32).contains(&m) => m as usize,
        Some(m) => bail!("--max-tokens {m}: the model takes 3 ..= {max} tokens per text"),
    };
    let anchors: Vec<String> = pairs.iter().map(|p| p.anchor.clone()).collect();
    let positives: Vec<String> = pairs.iter().map(|p| p.positive.clone()).collect();
    let a = tokenizer.encode_all(&anchors, max_len)?;
    let p = tokenizer.encode_all(&positives, max_len)?;
    // a tokenizer that is not the model's gives ids the model has no row for
    for (i, seq) in a.iter().chain(&p).enumerate() {
        if let Some(&bad) = seq.iter().find(|&&t| t as usize >= config.vocab_size) {
            bail!(
                "the tokenizer gives id {bad} (text {i}), the model's vocabulary has {}: tokenizer.json and the model do not match",
                config.vocab_size
            );
        }
    }
    Ok(a.into_iter().zip(p).collect())
}

/// The order of the pairs in epoch `epoch` of a run seeded `seed`: a Fisher–Yates shuffle
/// driven by SplitMix64 seeded `seed ^ epoch·φ`.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut r = SplitMix64::new(seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = r.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// The batches of optimizer steps `first + 1 ..= first + n`: each epoch visits every pair once
/// in its own order, `batch` pairs a step (an epoch's last, incomplete batch is dropped, so
/// every step has `batch` pairs); a step's sequences are its anchors, then its positives.
pub fn link_steps(
    pairs: &[(Vec<u32>, Vec<u32>)],
    batch: u32,
    seed: u64,
    first: u64,
    n: u32,
) -> Result<Vec<Vec<Vec<u32>>>> {
    let b = batch as usize;
    let per_epoch = pairs.len() / b.max(1);
    if b < 2 || per_epoch == 0 {
        bail!(
            "{} pairs cannot fill a batch of {batch} (the loss needs at least 2 a batch)",
            pairs.len()
        );
    }
    let mut out = Vec::with_capacity(n as usize);
    let mut cached: Option<(u64, Vec<usize>)> = None;
    for s in first..first + n as u64 {
        let epoch = s / per_epoch as u64;
        let at = (s % per_epoch as u64) as usize * b;
        if cached.as_ref().is_none_or(|c| c.0 != epoch) {
            cached = Some((epoch, epoch_order(pairs.len(), seed, epoch)));
        }
        let order = &cached.as_ref().unwrap().1[at..at + b];
        let mut seqs: Vec<Vec<u32>> = order.iter().map(|&i| pairs[i].0.clone()).collect();
        seqs.extend(order.iter().map(|&i| pairs[i].1.clone()));
        out.push(seqs);
    }
    Ok(out)
}

/// Checks a run's hyperparameters and shape before anything is posted.
pub fn check_run(h: &Hyper, batch: u32, steps_per_link: u32, pairs: usize) -> Result<()> {
    h.check()?;
    if !(2..=train::job::MAX_BATCH).contains(&batch) {
        bail!(
            "--batch {batch}: 2 ..= {} pairs a step (the loss's negatives are the other pairs)",
            train::job::MAX_BATCH
        );
    }
    if steps_per_link == 0 || steps_per_link > train::job::MAX_LINK_STEPS {
        bail!(
            "--steps-per-job {steps_per_link}: 1 ..= {}",
            train::job::MAX_LINK_STEPS
        );
    }
    if pairs < batch as usize {
        bail!("{pairs} pairs cannot fill one batch of {batch}");
    }
    Ok(())
}

/// Writes a link's checkpoint as a Hugging Face model directory (`config.json`,
/// `tokenizer.json`, `model.safetensors`: what sentence-transformers and `tessera model put`
/// load), with Adam's moments (`optimizer.safetensors`) and the losses of its steps
/// (`losses.csv`).
pub fn write_checkpoint(dir: &Path, link: &LinkOutput) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let c = &link.checkpoint;
    let blob = c.model_blob()?;
    let (_, _, weights) = tessera_compute::embed::model::split_model(&blob)?;
    let mut files = vec![
        (dir.join("config.json"), c.config_json.clone()),
        (dir.join("model.safetensors"), weights.to_vec()),
        (dir.join("optimizer.safetensors"), c.optimizer_file()?),
    ];
    if let Some(t) = &c.tokenizer_json {
        files.push((dir.join("tokenizer.json"), t.clone()));
    }
    let mut csv = String::from("step,loss\n");
    for (i, l) in link.losses.iter().enumerate() {
        csv.push_str(&format!("{},{l}\n", link.first_step + 1 + i as u64));
    }
    files.push((dir.join("losses.csv"), csv.into_bytes()));
    for (p, data) in &files {
        std::fs::write(p, data).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(files.into_iter().map(|f| f.0).collect())
}

/// Retrieval on held-out pairs: each anchor's positive ranked among every positive by cosine
/// (the embeddings are unit rows, so the dot product); ties rank against the anchor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retrieval {
    /// Mean reciprocal rank of the right positive within the top 10 (0 beyond).
    pub mrr10: f64,
    /// Share of anchors whose nearest positive is the right one.
    pub recall1: f64,
}

/// [`Retrieval`] of `anchors[i]` against `positives` (row `i` the right one).
pub fn retrieval(anchors: &[Vec<f32>], positives: &[Vec<f32>]) -> Retrieval {
    let n = anchors.len().min(positives.len());
    let (mut mrr, mut hits) = (0.0f64, 0usize);
    for (i, a) in anchors.iter().take(n).enumerate() {
        let own = crate::embedding::cosine(a, &positives[i]);
        let rank = 1 + positives[..n]
            .iter()
            .enumerate()
            .filter(|&(j, p)| j != i && crate::embedding::cosine(a, p) >= own)
            .count();
        if rank == 1 {
            hits += 1;
        }
        if rank <= 10 {
            mrr += 1.0 / rank as f64;
        }
    }
    Retrieval {
        mrr10: mrr / n.max(1) as f64,
        recall1: hits as f64 / n.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_pairs_and_runs_are_refused_by_name() {
        let ok = "{\"anchor\": \"a b c\", \"positive\": \"d e\"}\n\n{\"anchor\": \"x\", \"positive\": \"y\"}\n";
        assert_eq!(parse_pairs(ok).unwrap().len(), 2);
        for (data, needle) in [
            ("{\"anchor\": \"a\", \"positive\": \"b\"}\nnot json\n", "line 2: expected"),
            ("{\"anchor\": \"a\"}\n{\"anchor\": \"b\", \"positive\": \"c\"}", "line 1: expected"),
            ("{\"anchor\": \"a\", \"positive\": \"  \"}\n{\"anchor\": \"b\", \"positive\": \"c\"}", "line 1: an empty anchor or positive"),
            ("{\"anchor\": \"a\", \"positive\": \"b\"}\n", "1 pairs: the loss needs at least two"),
        ] {
            let e = format!("{:#}", parse_pairs(data).unwrap_err());
            assert!(e.contains(needle), "{e} (wanted `{needle}`)");
        }
        let h = Hyper::defaults(100);
        for (hh, batch, spl, pairs, needle) in [
            (
                Hyper { lr: f32::NAN, ..h },
                16,
                10,
                100,
                "learning rate NaN",
            ),
            (
                Hyper { lr: -2e-5, ..h },
                16,
                10,
                100,
                "learning rate -0.00002",
            ),
            (h, 1, 10, 100, "--batch 1"),
            (h, 16, 0, 100, "--steps-per-job 0"),
            (h, 16, 20_000, 100, "--steps-per-job 20000"),
            (h, 16, 10, 8, "8 pairs cannot fill one batch of 16"),
            (
                Hyper {
                    total_steps: 0,
                    warmup: 0,
                    ..h
                },
                16,
                10,
                100,
                "0 total steps",
            ),
        ] {
            let e = check_run(&hh, batch, spl, pairs).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} (wanted `{needle}`)");
        }
    }

    #[test]
    fn every_epoch_visits_every_pair_once_in_its_own_order() {
        let pairs: Vec<(Vec<u32>, Vec<u32>)> =
            (0..10u32).map(|i| (vec![i], vec![100 + i])).collect();
        // 10 pairs, batches of 3: 3 steps an epoch (the 10th pair waits for the next epoch)
        let steps = link_steps(&pairs, 3, 7, 0, 6).unwrap();
        let epoch = |e: &[Vec<Vec<u32>>]| -> Vec<u32> {
            let mut v: Vec<u32> = e.iter().flat_map(|s| s[..3].iter().map(|a| a[0])).collect();
            v.sort();
            v.dedup();
            v
        };
        assert_eq!(epoch(&steps[..3]).len(), 9);
        assert_eq!(epoch(&steps[3..]).len(), 9);
        assert_ne!(steps[..3], steps[3..], "each epoch has its own order");
        // a step's positives are its anchors' pairs, in the same order
        for s in &steps {
            for i in 0..3 {
                assert_eq!(s[3 + i][0], 100 + s[i][0]);
            }
        }
        // a link starting at step 4 gets the same batches as the whole run's steps 5 and 6
        assert_eq!(link_steps(&pairs, 3, 7, 4, 2).unwrap(), steps[4..].to_vec());
        assert!(link_steps(&pairs[..1], 2, 7, 0, 1).is_err());
    }
}
