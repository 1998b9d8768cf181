//! Choosing the next token from a row of logits (docs/KERNELS.md, "generate"): greedy, or a
//! seeded draw after a repetition penalty, temperature, top-k and top-p — host f32 arithmetic
//! in one fixed order, the draw's uniform number a keyed BLAKE3 of (seed, prompt, position), so
//! any replica, and a verifier re-running one prompt alone, draws the same token.
use crate::error::{ComputeError, Result};
use crate::render::math::exp;

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0: greedy (the highest logit, the lowest id among equals); otherwise logits are
    /// divided by it before the draw.
    pub temperature: f32,
    /// Keep the `top_k` highest logits (and any equal to the k-th); 0 keeps all.
    pub top_k: u32,
    /// Keep the most likely tokens until their probability reaches `top_p`; 1 keeps all.
    pub top_p: f32,
    /// Hugging Face's repetition penalty on every token already in the sequence (1: none).
    pub repetition_penalty: f32,
    /// The draw's key.
    pub seed: u64,
}

impl Sampling {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }

    /// Refuses, by name, settings no run could use.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(ComputeError::InvalidInput(format!("sampling: {m}")));
        if !(self.temperature.is_finite() && (0.0..=100.0).contains(&self.temperature)) {
            return bad(format!("temperature {} (0 ..= 100)", self.temperature));
        }
        if self.temperature > 0.0 && self.temperature < 1e-3 {
            return bad(format!(
                "temperature {} (0 for greedy, else at least 0.001)",
                self.temperature
            ));
        }
        if !(self.top_p.is_finite() && self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("top-p {} (must be in (0, 1])", self.top_p));
        }
        if !(self.repetition_penalty.is_finite()
            && (0.01..=100.0).contains(&self.repetition_penalty))
        {
            return bad(format!(
                "repetition penalty {} (0.01 ..= 100)",
                self.repetition_penalty
            ));
        }
        Ok(())
    }
}

/// The uniform number of the draw at (`seed`, `prompt`, `position`): 24 bits of a keyed
/// BLAKE3, in `[0, 1)`, exact in f32.
pub fn uniform(seed: u64, prompt: u32, position: u32) -> f32 {
    let mut h = blake3::Hasher::new();
    h.update(b"tessera/generate/sample/v1");
    h.update(&seed.to_le_bytes());
    h.update(&prompt.to_le_bytes());
    h.update(&position.to_le_bytes());
    let b = h.finalize();
    let v = u32::from_le_bytes(b.as_bytes()[..4].try_into().expect("4 bytes")) >> 8;
    v as f32 * (1.0 / 16_777_216.0)
}

/// The highest non-NaN logit's id (the lowest among equals), if any.
pub fn argmax(l: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in l.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i as u32)
}

/// The next token after `history` (prompt and tokens so far) from `logits`, for prompt
/// `prompt` at sequence position `position`; `None` when every logit is NaN.
pub fn next_token(
    s: &Sampling,
    logits: &[f32],
    history: &[u32],
    prompt: u32,
    position: u32,
) -> Option<u32> {
    let mut l = logits.to_vec();
    if s.repetition_penalty != 1.0 {
        let mut seen = vec![false; l.len()];
        for &t in history {
            let i = t as usize;
            if i < l.len() && !seen[i] {
                seen[i] = true;
                l[i] = if l[i] < 0.0 {
                    l[i] * s.repetition_penalty
                } else {
                    l[i] / s.repetition_penalty
                };
            }
        }
    }
    if s.temperature == 0.0 {
        return argmax(&l);
    }
    // candidates by logit, highest first (ids ascending among equals); NaN never drawn
    let mut cand: Vec<(u32, f32)> = l
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .map(|(i, &v)| (i as u32, v / s.temperature))
        .collect();
    if cand.is_empty() {
        return None;
    }
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if s.top_k > 0 && (s.top_k as usize) < cand.len() {
        let kth = cand[s.top_k as usize - 1].1;
        let keep = cand.iter().take_while(|c| c.1 >= kth).count();
        cand.truncate(keep);
    }
    let top = cand[0].1;
    let mut p: Vec<f32> = cand.iter().map(|c| exp(c.1 - top)).collect();
    let mut sum = 0.0f32;
    for v in &p {
        sum += *v;
    }
    for v in p.iter_mut() {
        *v /= sum;
    }
    if s.top_p < 1.0 {
        let mut acc = 0.0f32;
        let mut keep = p.len();
        for (i, v) in p.iter().enumerate() {
            acc += *v;
            if acc >= s.top_p {
                keep = i + 1;
                break;
            }
        }
        p.truncate(keep);
    }
    let mut total = 0.0f32;
    for v in &p {
        total += *v;
    }
    let target = uniform(s.seed, prompt, position) * total;
    let mut acc = 0.0f32;
    for (i, v) in p.iter().enumerate() {
        acc += *v;
        if target < acc {
            return Some(cand[i].0);
        }
    }
    Some(cand[p.len() - 1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_highest_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NAN]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0]), Some(1));
        assert_eq!(argmax(&[f32::NAN]), None);
        let g = Sampling::greedy();
        assert_eq!(next_token(&g, &[0.5, 0.2, 0.9], &[], 0, 0), Some(2));
        // the penalty divides the positive logit of a token already seen
        let p = Sampling {
            repetition_penalty: 2.0,
            ..g
        };
        assert_eq!(next_token(&p, &[0.5, 0.2, 0.9], &[2], 0, 0), Some(0));
    }

    #[test]
    fn draws_follow_the_distribution_and_the_key() {
        let s = Sampling {
            temperature: 1.0,
            seed: 7,
            ..Sampling::greedy()
        };
        // probabilities ∝ e^0, e^1, e^2 → 0.090, 0.245, 0.665
        let l = [0.0f32, 1.0, 2.0];
        let mut n = [0usize; 3];
        for pos in 0..20_000 {
            n[next_token(&s, &l, &[], 0, pos).unwrap() as usize] += 1;
        }
        let f: Vec<f64> = n.iter().map(|&c| c as f64 / 20_000.0).collect();
        assert!(
            (f[0] - 0.090).abs() < 0.01 && (f[2] - 0.665).abs() < 0.015,
            "{f:?}"
        );
        // the same key draws the same token; top-k 1 is greedy; top-p keeps the head
        assert_eq!(next_token(&s, &l, &[], 3, 9), next_token(&s, &l, &[], 3, 9));
        let k1 = Sampling { top_k: 1, ..s };
        assert!((0..100).all(|p| next_token(&k1, &l, &[], 0, p) == Some(2)));
        let p_small = Sampling { top_p: 0.5, ..s };
        assert!((0..100).all(|p| next_token(&p_small, &l, &[], 0, p) == Some(2)));
        assert_ne!(uniform(1, 0, 0), uniform(2, 0, 0));
        assert_ne!(uniform(1, 0, 0), uniform(1, 1, 0));
        assert_ne!(uniform(1, 0, 0), uniform(1, 0, 1));
    }

    #[test]
    fn settings_no_run_could_use_are_refused_by_name() {
        let g = Sampling::greedy();
        for (s, want) in [
            (
                Sampling {
                    temperature: f32::NAN,
                    ..g
                },
                "temperature NaN",
            ),
            (
                Sampling {
                    temperature: -1.0,
                    ..g
                },
                "temperature -1",
            ),
            (
                Sampling {
                    temperature: 1e-5,
                    ..g
                },
                "temperature 0.00001",
            ),
            (Sampling { top_p: 0.0, ..g }, "top-p 0"),
            (Sampling { top_p: 1.5, ..g }, "top-p 1.5"),
            (
                Sampling {
                    repetition_penalty: 0.0,
                    ..g
                },
                "repetition penalty 0",
            ),
            (
                Sampling {
                    repetition_penalty: f32::INFINITY,
                    ..g
                },
                "repetition penalty inf",
            ),
        ] {
            let e = s.check().unwrap_err().to_string();
            assert!(e.contains(want), "{e} (wanted {want})");
        }
        g.check().unwrap();
    }
}
